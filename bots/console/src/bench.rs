//! `parley bench`: load time, prefill and decode speed, cached follow-up latency, peak memory.
//!
//! Every figure is measured in one process, side by side, so ratios between them are
//! meaningful on a noisy machine. `bench/compare-llamacpp.sh` runs llama.cpp on the same file
//! with the same prompt ids (written by `--dump-prompt`) and prints the ratios.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parley_core::engine::local::model::transformer::argmax;
use parley_core::engine::local::{rate, LocalConfig, LocalEngine};
use parley_core::engine::{ChatMessage, Engine, GenerateRequest, Role, SamplingParams};
use serde::Serialize;

/// What `parley bench` reports.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Model name.
    pub model: String,
    /// Compute threads.
    pub threads: usize,
    /// Seconds to load the model.
    pub load_s: f64,
    /// Prompt tokens in the prefill measurement.
    pub prefill_tokens: usize,
    /// Prefill speed.
    pub prefill_tok_s: f64,
    /// Tokens in the decode measurement.
    pub decode_tokens: usize,
    /// Decode speed.
    pub decode_tok_s: f64,
    /// History length for the follow-up measurement, in tokens.
    pub history_tokens: usize,
    /// Follow-up length in tokens.
    pub followup_tokens: usize,
    /// Time to first token of the follow-up when the conversation's cache is warm.
    pub followup_ttft_cached_ms: f64,
    /// Same follow-up, whole prompt prefilled again.
    pub followup_ttft_uncached_ms: f64,
    /// cached / uncached.
    pub followup_ratio: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mib: f64,
}

/// Text used to build prompts of a given token length.
const FILLER: &str = "The river runs past the old mill, where the miller keeps his accounts in a \
leather book. Every morning he counts the sacks of grain, 12 on Monday and 17 on Tuesday, and \
writes the numbers down with care. Travellers stop to ask the way to the city, and he points \
them along the road that follows the water. ";

fn ids_of_len(engine: &LocalEngine, n: usize) -> Result<Vec<u32>> {
    let tok = &engine.model().tokenizer;
    let mut ids = Vec::new();
    while ids.len() < n {
        ids.extend(tok.encode_plain(FILLER)?);
    }
    ids.truncate(n);
    Ok(ids)
}

fn text_of_tokens(engine: &LocalEngine, n: usize) -> Result<String> {
    let ids = ids_of_len(engine, n)?;
    Ok(engine.model().tokenizer.decode(&ids)?)
}

/// Peak resident set size of this process, in MiB (Linux).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Prefill and decode speed on the bare transformer: the prompt ids through a fresh cache, then
/// `decode_n` greedy forwards (end-of-sequence ignored).
struct RawSpeed {
    prompt_tokens: usize,
    prefill: Duration,
    decode: Duration,
}

fn raw_speed(
    engine: &LocalEngine,
    prefill_n: usize,
    decode_n: usize,
    dump_prompt: Option<&Path>,
) -> Result<RawSpeed> {
    let tf = engine.model().transformer.clone();
    let prompt = ids_of_len(engine, prefill_n)?;
    if let Some(path) = dump_prompt {
        std::fs::write(path, serde_json::to_string(&prompt)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Warm-up: first touch of the weights and thread pool start-up are not prefill.
    let mut warm = tf.new_cache();
    tf.forward(&prompt[..16.min(prompt.len())], &mut warm)?;
    let mut cache = tf.new_cache();
    let t = Instant::now();
    let mut logits = tf.forward(&prompt, &mut cache)?;
    let prefill = t.elapsed();
    let t = Instant::now();
    for _ in 0..decode_n {
        let next = argmax(&logits)?;
        logits = tf.forward(&[next], &mut cache)?;
    }
    Ok(RawSpeed {
        prompt_tokens: prompt.len(),
        prefill,
        decode: t.elapsed(),
    })
}

/// Time to first token of a follow-up after a long history, through the engine: with the
/// conversation's cache warm, and the same prompt in a conversation that has nothing cached.
struct FollowUp {
    history_tokens: usize,
    followup_tokens: usize,
    cached: Duration,
    uncached: Duration,
}

fn follow_up(engine: &LocalEngine) -> Result<FollowUp> {
    let history_text = text_of_tokens(engine, 1000)?;
    let followup = text_of_tokens(engine, 30)?;
    let base = vec![
        ChatMessage::new(Role::System, "You are a helpful assistant."),
        ChatMessage::new(Role::User, history_text),
        ChatMessage::new(Role::Assistant, "I see. Tell me more."),
    ];
    let mut with_followup = base.clone();
    with_followup.push(ChatMessage::new(Role::User, followup));
    let history_tokens = engine.model().encode_chat(&base)?.len();
    let all_tokens = engine.model().encode_chat(&with_followup)?.len();
    first_token_time(engine, "bench-cached", base)?;
    let cached = first_token_time(engine, "bench-cached", with_followup.clone())?;
    // Otherwise the new conversation would copy the whole shared start from that cache.
    engine.forget("bench-cached");
    let uncached = first_token_time(engine, "bench-uncached", with_followup)?;
    Ok(FollowUp {
        history_tokens,
        followup_tokens: all_tokens - history_tokens,
        cached,
        uncached,
    })
}

/// Time to the first token of a one-token greedy answer to `messages`.
fn first_token_time(
    engine: &LocalEngine,
    conversation: &str,
    messages: Vec<ChatMessage>,
) -> Result<Duration> {
    let params = SamplingParams {
        max_tokens: 1,
        temperature: 0.0,
        ..SamplingParams::default()
    };
    let mut g = engine.generate(GenerateRequest {
        conversation: conversation.into(),
        messages,
        params,
    })?;
    while let Some(ev) = g.blocking_next() {
        if let parley_core::engine::GenEvent::Done(u) = ev? {
            return Ok(u.time_to_first_token);
        }
    }
    anyhow::bail!("engine ended without a result")
}

/// Run the benchmark.
pub fn run(
    model: &Path,
    config: &LocalConfig,
    prefill_n: usize,
    decode_n: usize,
    dump_prompt: Option<&Path>,
) -> Result<BenchReport> {
    let t0 = Instant::now();
    let engine = LocalEngine::load(model, config)?;
    let load_s = t0.elapsed().as_secs_f64();
    let speed = raw_speed(&engine, prefill_n, decode_n, dump_prompt)?;
    let f = follow_up(&engine)?;
    Ok(BenchReport {
        model: engine.model().name.clone(),
        threads: config.threads,
        load_s,
        prefill_tokens: speed.prompt_tokens,
        prefill_tok_s: rate(speed.prompt_tokens, speed.prefill),
        decode_tokens: decode_n,
        decode_tok_s: rate(decode_n, speed.decode),
        history_tokens: f.history_tokens,
        followup_tokens: f.followup_tokens,
        followup_ttft_cached_ms: f.cached.as_secs_f64() * 1e3,
        followup_ttft_uncached_ms: f.uncached.as_secs_f64() * 1e3,
        followup_ratio: f.cached.as_secs_f64() / f.uncached.as_secs_f64().max(1e-9),
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Human-readable report.
pub fn print(r: &BenchReport) {
    println!("model            {} ({} threads)", r.model, r.threads);
    println!("load             {:.2} s", r.load_s);
    println!(
        "prefill          {:.1} tok/s ({} tokens)",
        r.prefill_tok_s, r.prefill_tokens
    );
    println!(
        "decode           {:.1} tok/s ({} tokens)",
        r.decode_tok_s, r.decode_tokens
    );
    println!(
        "follow-up TTFT   {:.1} ms cached vs {:.1} ms re-prefilled ({} + {} tokens): {:.3}x",
        r.followup_ttft_cached_ms,
        r.followup_ttft_uncached_ms,
        r.history_tokens,
        r.followup_tokens,
        r.followup_ratio
    );
    println!("peak RSS         {:.0} MiB", r.peak_rss_mib);
}

/// What `parley bench --conversations N` reports: N distinct conversations at once against one
/// alone, in one process.
#[derive(Debug, Serialize)]
pub struct ConversationsReport {
    /// Model name.
    pub model: String,
    /// Compute threads.
    pub threads: usize,
    /// Conversations running at once.
    pub conversations: usize,
    /// The engine's `max_batch`.
    pub max_batch: usize,
    /// Prompt tokens of each conversation (chat template included).
    pub prompt_tokens: Vec<usize>,
    /// Tokens decoded per conversation in the decode measurements.
    pub decode_tokens: usize,
    /// One conversation decoding alone.
    pub single_decode_tok_s: f64,
    /// All conversations decoding together, one batched step per token: tokens of all of them.
    pub aggregate_decode_tok_s: f64,
    /// What each conversation sees while they decode together.
    pub per_conversation_decode_tok_s: f64,
    /// aggregate / single.
    pub aggregate_speedup: f64,
    /// Time to first token of one new question alone, through the engine.
    pub single_ttft_ms: f64,
    /// Median time to first token of N new questions asked at the same moment.
    pub ttft_p50_ms: f64,
    /// 95th percentile of the same.
    pub ttft_p95_ms: f64,
    /// p95 / single.
    pub ttft_p95_ratio: f64,
    /// Time to first token of one new question when another conversation already holds the
    /// shared system prompt (a server's steady state): the new one copies it.
    pub single_ttft_prefix_cached_ms: f64,
    /// 95th percentile of N new questions at once when the system prompt is already cached.
    pub ttft_p95_prefix_cached_ms: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mib: f64,
}

/// Questions of the concurrent conversations (cycled, numbered past the eighth).
const QUESTIONS: [&str; 8] = [
    "What is the capital of France?",
    "Write a line about the sea.",
    "Name three colours and say why you like them.",
    "How do you say thank you in Chinese?",
    "Tell me a short story about a lighthouse keeper.",
    "Why is the sky blue?",
    "Count from one to ten in French.",
    "Give me a recipe for pancakes.",
];

fn conversation(i: usize) -> Vec<ChatMessage> {
    let q = QUESTIONS[i % QUESTIONS.len()];
    let q = if i < QUESTIONS.len() {
        q.to_string()
    } else {
        format!("{q} ({})", i + 1)
    };
    vec![
        ChatMessage::new(Role::System, "You are a helpful assistant."),
        ChatMessage::new(Role::User, q),
    ]
}

/// Tokens per second of `steps` greedy decode steps (end-of-sequence ignored) of the
/// conversations whose prompts are `prompts`, all in one batched forward per step.
fn batched_decode_rate(engine: &LocalEngine, prompts: &[Vec<u32>], steps: usize) -> Result<f64> {
    use parley_core::engine::local::model::transformer::StepInput;
    let tf = &engine.model().transformer;
    let mut caches = Vec::with_capacity(prompts.len());
    let mut next = Vec::with_capacity(prompts.len());
    for p in prompts {
        let mut cache = tf.new_cache();
        next.push(argmax(&tf.forward(p, &mut cache)?)?);
        caches.push(cache);
    }
    let t = Instant::now();
    for _ in 0..steps {
        let mut inputs: Vec<StepInput<'_>> = caches
            .iter_mut()
            .zip(&next)
            .map(|(cache, t)| StepInput {
                tokens: std::slice::from_ref(t),
                cache,
            })
            .collect();
        let logits = tf.forward_batch(&mut inputs)?;
        next = logits.iter().map(argmax).collect::<Result<_, _>>()?;
    }
    Ok(rate(steps * prompts.len(), t.elapsed()))
}

/// Times to first token of `n` new conversations (`tag` keeps their ids apart) asked at once.
fn ttfts(engine: &LocalEngine, tag: &str, n: usize, max_tokens: usize) -> Result<Vec<f64>> {
    let params = SamplingParams {
        max_tokens,
        temperature: 0.0,
        ..SamplingParams::default()
    };
    let mut running = Vec::with_capacity(n);
    for i in 0..n {
        running.push(engine.generate(GenerateRequest {
            conversation: format!("bench-{tag}-{i}"),
            messages: conversation(i),
            params: params.clone(),
        })?);
    }
    let mut out = Vec::with_capacity(n);
    for mut g in running {
        loop {
            match g.blocking_next() {
                Some(ev) => {
                    if let parley_core::engine::GenEvent::Done(u) = ev? {
                        out.push(u.time_to_first_token.as_secs_f64() * 1e3);
                        break;
                    }
                }
                None => anyhow::bail!("engine ended without a result"),
            }
        }
    }
    Ok(out)
}

/// Drop the caches of the conversations [`ttfts`] ran under `tag`.
fn forget(engine: &LocalEngine, tag: &str, n: usize) {
    for i in 0..n {
        engine.forget(&format!("bench-{tag}-{i}"));
    }
}

/// The `q` quantile (0..=1) of `v`, nearest rank.
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len().max(1));
    s.get(rank - 1).copied().unwrap_or(0.0)
}

/// Run the concurrent-conversations benchmark.
pub fn run_conversations(
    model: &Path,
    config: &LocalConfig,
    n: usize,
    decode_n: usize,
    dump_prompts: Option<&Path>,
) -> Result<ConversationsReport> {
    anyhow::ensure!(n >= 1, "--conversations must be at least 1");
    let engine = LocalEngine::load(model, config)?;
    let prompts = (0..n)
        .map(|i| engine.model().encode_chat(&conversation(i)))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = dump_prompts {
        std::fs::write(path, serde_json::to_string(&prompts)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Warm-up: first touch of the weights and thread pool start-up.
    ttfts(&engine, "warm", 1, 2)?;
    forget(&engine, "warm", 1);
    // New questions with nothing cached (the N share their system prompt among themselves).
    let single_ttft_ms = ttfts(&engine, "single", 1, 16)?[0];
    forget(&engine, "single", 1);
    let together = ttfts(&engine, "many", n, 16)?;
    // The same with the system prompt held by one earlier conversation (about something else).
    forget(&engine, "many", n);
    let persona = vec![
        ChatMessage::new(Role::System, "You are a helpful assistant."),
        ChatMessage::new(Role::User, "Hello!"),
    ];
    first_token_time(&engine, "bench-persona", persona)?;
    let single_cached = ttfts(&engine, "single-cached", 1, 16)?[0];
    forget(&engine, "single-cached", 1);
    let together_cached = ttfts(&engine, "many-cached", n, 16)?;
    let single = batched_decode_rate(&engine, &prompts[..1], decode_n)?;
    let aggregate = batched_decode_rate(&engine, &prompts, decode_n)?;
    let p95 = quantile(&together, 0.95);
    Ok(ConversationsReport {
        model: engine.model().name.clone(),
        threads: config.threads,
        conversations: n,
        max_batch: config.max_batch,
        prompt_tokens: prompts.iter().map(Vec::len).collect(),
        decode_tokens: decode_n,
        single_decode_tok_s: single,
        aggregate_decode_tok_s: aggregate,
        per_conversation_decode_tok_s: aggregate / n as f64,
        aggregate_speedup: aggregate / single.max(1e-9),
        single_ttft_ms,
        ttft_p50_ms: quantile(&together, 0.5),
        ttft_p95_ms: p95,
        ttft_p95_ratio: p95 / single_ttft_ms.max(1e-9),
        single_ttft_prefix_cached_ms: single_cached,
        ttft_p95_prefix_cached_ms: quantile(&together_cached, 0.95),
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Human-readable report of the concurrent-conversations benchmark.
pub fn print_conversations(r: &ConversationsReport) {
    println!(
        "model            {} ({} threads, max_batch {})",
        r.model, r.threads, r.max_batch
    );
    println!(
        "conversations    {} (prompts of {:?} tokens)",
        r.conversations, r.prompt_tokens
    );
    println!(
        "decode           {:.1} tok/s together ({:.1} each) vs {:.1} alone: {:.2}x ({} tokens each)",
        r.aggregate_decode_tok_s,
        r.per_conversation_decode_tok_s,
        r.single_decode_tok_s,
        r.aggregate_speedup,
        r.decode_tokens
    );
    println!(
        "first token      p50 {:.0} ms, p95 {:.0} ms together vs {:.0} ms alone: p95 {:.2}x",
        r.ttft_p50_ms, r.ttft_p95_ms, r.single_ttft_ms, r.ttft_p95_ratio
    );
    println!(
        "  prompt cached  p95 {:.0} ms together vs {:.0} ms alone (system prompt copied)",
        r.ttft_p95_prefix_cached_ms, r.single_ttft_prefix_cached_ms
    );
    println!("peak RSS         {:.0} MiB", r.peak_rss_mib);
}
