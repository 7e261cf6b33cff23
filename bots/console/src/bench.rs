//! `parley bench`: load time, prefill and decode speed, cached follow-up latency, peak memory.
//!
//! Every figure is measured in one process, side by side, so ratios between them are
//! meaningful on a noisy machine. `bench/compare-llamacpp.sh` runs llama.cpp on the same file
//! with the same prompt ids (written by `--dump-prompt`) and prints the ratios.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parley_core::engine::local::model::transformer::argmax;
use parley_core::engine::local::model::transformer::StepInput;
use parley_core::engine::local::{rate, LocalConfig, LocalEngine};
use parley_core::engine::{ChatMessage, Engine, GenerateRequest, Role, SamplingParams};
use parley_core::persona::{Personas, PromptContext, DEFAULT_PERSONA};
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
        ChatMessage::new(Role::System, SYSTEM),
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
    let shareable_bytes = shareable_bytes(&Personas::builtin(), &messages);
    let mut g = engine.generate(GenerateRequest {
        conversation: conversation.into(),
        messages,
        params,
        shareable_bytes,
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
    /// New questions under a one-line system prompt: one alone, then N at once.
    #[serde(flatten)]
    pub first_tokens: FirstTokens,
    /// Time to first token of one new question when another conversation already holds the
    /// shared system prompt (a server's steady state): the new one copies it.
    pub single_ttft_prefix_cached_ms: f64,
    /// 95th percentile of N new questions at once when the system prompt is already cached.
    pub ttft_p95_prefix_cached_ms: f64,
    /// The same for a server's channels: the default persona rendered for N group chats of
    /// different titles, each question signed with its asker's name, as the bot sends them.
    pub server: FirstTokens,
    /// Peak resident memory of the process.
    pub peak_rss_mib: f64,
}

/// Times to first token of new questions in new conversations: one alone, then N at once.
#[derive(Debug, Serialize)]
pub struct FirstTokens {
    /// Prompt tokens every conversation starts with (the system prompt, mostly).
    pub shared_prompt_tokens: usize,
    /// Time to first token of one new question alone, through the engine (median of 3).
    pub single_ttft_ms: f64,
    /// Median time to first token of N new questions asked at the same moment.
    pub ttft_p50_ms: f64,
    /// 95th percentile of the same.
    pub ttft_p95_ms: f64,
    /// p95 / single.
    pub ttft_p95_ratio: f64,
    /// The floor under `ttft_p95_ratio`: one forward over the shared start once and every
    /// conversation's own rest together, against one forward over a single prompt (bare
    /// model, no engine; best of 3 each). The last of N first tokens cannot come before all
    /// that work is done, so `ttft_p95_ratio` stays near or above it (noise aside).
    pub prefill_work_ratio: f64,
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

/// Channels of the server scenario, and who asks in each.
const CHANNELS: [(&str, &str); 8] = [
    ("general", "Alice"),
    ("random", "Bob"),
    ("art", "Chen"),
    ("languages", "Dana"),
    ("stories", "Emeka"),
    ("science", "Farah"),
    ("french-club", "Gus"),
    ("cooking", "Hana"),
];

/// Question `i` (numbered past the eighth, so every conversation is distinct).
fn question(i: usize) -> String {
    let q = QUESTIONS[i % QUESTIONS.len()];
    if i < QUESTIONS.len() {
        q.to_string()
    } else {
        format!("{q} ({})", i + 1)
    }
}

/// The bench's one-line system prompt (an operator's text, nothing from a user).
const SYSTEM: &str = "You are a helpful assistant.";

/// Conversation `i` under a one-line system prompt.
fn conversation(i: usize) -> Vec<ChatMessage> {
    vec![
        ChatMessage::new(Role::System, SYSTEM),
        ChatMessage::new(Role::User, question(i)),
    ]
}

/// Conversation `i` as the bot sends a group chat's new question: the default persona for
/// channel `i` of one server, the question signed with its asker's name.
fn server_conversation(i: usize) -> Result<Vec<ChatMessage>> {
    let (channel, asker) = CHANNELS[i % CHANNELS.len()];
    let mut ctx = server_context();
    ctx.channel_title = Some(if i < CHANNELS.len() {
        channel.to_string()
    } else {
        format!("{channel}-{}", i + 1)
    });
    let system = Personas::builtin().render(DEFAULT_PERSONA, &ctx)?;
    Ok(vec![
        ChatMessage::new(Role::System, system),
        ChatMessage::new(Role::User, format!("{asker}: {}", question(i))),
    ])
}

/// What the default persona sees in a group chat of the server scenario, its title aside.
fn server_context() -> PromptContext {
    // A fixed day (2026-12-02), so that every run renders the same prompts.
    let mut ctx = PromptContext::new("Parley", 1_796_169_600);
    ctx.is_group = true;
    ctx
}

/// The leading bytes of `messages`' system prompt that the bot lets other chats share: all
/// of the bench's one-line prompt, the default persona's start before a chat's title.
fn shareable_bytes(personas: &Personas, messages: &[ChatMessage]) -> usize {
    match messages.first() {
        Some(m) if m.role == Role::System && m.content == SYSTEM => m.content.len(),
        Some(m) if m.role == Role::System => {
            personas.user_free_start(DEFAULT_PERSONA, &server_context(), &m.content)
        }
        _ => 0,
    }
}

/// Tokens per second of `steps` greedy decode steps (end-of-sequence ignored) of the
/// conversations whose prompts are `prompts`, all in one batched forward per step.
fn batched_decode_rate(engine: &LocalEngine, prompts: &[Vec<u32>], steps: usize) -> Result<f64> {
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

/// Times to first token of the conversations `chats` (`tag` keeps their ids apart) asked at
/// once.
fn ttfts(
    engine: &LocalEngine,
    tag: &str,
    chats: &[Vec<ChatMessage>],
    max_tokens: usize,
) -> Result<Vec<f64>> {
    let params = SamplingParams {
        max_tokens,
        temperature: 0.0,
        ..SamplingParams::default()
    };
    let personas = Personas::builtin();
    let shareable: Vec<usize> = chats
        .iter()
        .map(|m| shareable_bytes(&personas, m))
        .collect();
    let mut running = Vec::with_capacity(chats.len());
    for (i, messages) in chats.iter().enumerate() {
        running.push(engine.generate(GenerateRequest {
            conversation: format!("bench-{tag}-{i}"),
            messages: messages.clone(),
            params: params.clone(),
            shareable_bytes: shareable[i],
        })?);
    }
    let mut out = Vec::with_capacity(chats.len());
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

/// The first question alone (three times), then all of `chats` at once, each in a new
/// conversation with nothing cached; every conversation is forgotten afterwards.
fn first_tokens(
    engine: &LocalEngine,
    tag: &str,
    chats: &[Vec<ChatMessage>],
) -> Result<FirstTokens> {
    let prompts = chats
        .iter()
        .map(|c| engine.model().encode_chat(c))
        .collect::<Result<Vec<_>, _>>()?;
    // The median of three: one sample alone would make the ratio as noisy as the machine.
    let mut alone = Vec::with_capacity(3);
    for run in 0..3 {
        let single_tag = format!("{tag}-single{run}");
        alone.push(ttfts(engine, &single_tag, &chats[..1], 16)?[0]);
        forget(engine, &single_tag, 1);
    }
    let single_ttft_ms = quantile(&alone, 0.5);
    let together = ttfts(engine, tag, chats, 16)?;
    forget(engine, tag, chats.len());
    let p95 = quantile(&together, 0.95);
    let shared = shared_start(&prompts);
    Ok(FirstTokens {
        shared_prompt_tokens: shared,
        single_ttft_ms,
        ttft_p50_ms: quantile(&together, 0.5),
        ttft_p95_ms: p95,
        ttft_p95_ratio: p95 / single_ttft_ms.max(1e-9),
        prefill_work_ratio: prefill_work_ratio(engine, &prompts, shared)?,
    })
}

/// Tokens all of `prompts` start with (at least one token of each is left to run).
fn shared_start(prompts: &[Vec<u32>]) -> usize {
    let shortest = prompts.iter().map(Vec::len).min().unwrap_or(1);
    let first = &prompts[0];
    (0..shortest.saturating_sub(1))
        .take_while(|&t| prompts.iter().all(|p| p[t] == first[t]))
        .count()
}

/// Best of three: one forward over the prompts' first `shared` tokens (their common start),
/// then one batched forward over every prompt's own rest, against one forward over the first
/// prompt alone.
fn prefill_work_ratio(engine: &LocalEngine, prompts: &[Vec<u32>], shared: usize) -> Result<f64> {
    let tf = &engine.model().transformer;
    let best_of_3 = |run: &mut dyn FnMut() -> Result<()>| -> Result<Duration> {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            run()?;
            best = best.min(t.elapsed());
        }
        Ok(best)
    };
    let alone = best_of_3(&mut || Ok(tf.forward(&prompts[0], &mut tf.new_cache()).map(drop)?))?;
    let together = best_of_3(&mut || {
        let mut start = tf.new_cache();
        if shared > 0 {
            tf.forward(&prompts[0][..shared], &mut start)?;
        }
        let mut caches = Vec::with_capacity(prompts.len());
        for _ in prompts {
            let mut c = tf.new_cache();
            tf.copy_prefix(&start, shared, &mut c)?;
            caches.push(c);
        }
        let mut rests: Vec<StepInput<'_>> = caches
            .iter_mut()
            .zip(prompts)
            .map(|(cache, p)| StepInput {
                tokens: &p[shared..],
                cache,
            })
            .collect();
        Ok(tf.forward_batch(&mut rests).map(drop)?)
    })?;
    Ok(together.as_secs_f64() / alone.as_secs_f64().max(1e-9))
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
    let chats: Vec<_> = (0..n).map(conversation).collect();
    let prompts = chats
        .iter()
        .map(|c| engine.model().encode_chat(c))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = dump_prompts {
        std::fs::write(path, serde_json::to_string(&prompts)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Warm-up: first touch of the weights and thread pool start-up.
    ttfts(&engine, "warm", &chats[..1], 2)?;
    forget(&engine, "warm", 1);
    // New questions with nothing cached (the N share their system prompt among themselves).
    let new = first_tokens(&engine, "new", &chats)?;
    // The same with the system prompt held by one earlier conversation (about something else).
    let persona = vec![
        ChatMessage::new(Role::System, SYSTEM),
        ChatMessage::new(Role::User, "Hello!"),
    ];
    first_token_time(&engine, "bench-persona", persona)?;
    let single_cached = ttfts(&engine, "single-cached", &chats[..1], 16)?[0];
    forget(&engine, "single-cached", 1);
    let together_cached = ttfts(&engine, "many-cached", &chats, 16)?;
    forget(&engine, "many-cached", n);
    engine.forget("bench-persona");
    let server_chats = (0..n)
        .map(server_conversation)
        .collect::<Result<Vec<_>>>()?;
    let server = first_tokens(&engine, "server", &server_chats)?;
    let single = batched_decode_rate(&engine, &prompts[..1], decode_n)?;
    let aggregate = batched_decode_rate(&engine, &prompts, decode_n)?;
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
        first_tokens: new,
        single_ttft_prefix_cached_ms: single_cached,
        ttft_p95_prefix_cached_ms: quantile(&together_cached, 0.95),
        server,
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
    print_first_tokens("first token", &r.first_tokens);
    println!(
        "  prompt cached  p95 {:.0} ms together vs {:.0} ms alone (system prompt copied)",
        r.ttft_p95_prefix_cached_ms, r.single_ttft_prefix_cached_ms
    );
    print_first_tokens("server channels", &r.server);
    println!("peak RSS         {:.0} MiB", r.peak_rss_mib);
}

fn print_first_tokens(label: &str, f: &FirstTokens) {
    println!(
        "{label:<16} p50 {:.0} ms, p95 {:.0} ms together vs {:.0} ms alone: p95 {:.2}x",
        f.ttft_p50_ms, f.ttft_p95_ms, f.single_ttft_ms, f.ttft_p95_ratio
    );
    println!(
        "  work floor     {:.2}x (all prompts' prefill against one; {} tokens shared)",
        f.prefill_work_ratio, f.shared_prompt_tokens
    );
}
