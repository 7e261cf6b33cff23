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
    let tf = engine.model().transformer.clone();

    // Prefill: prompt ids through a fresh cache.
    let prompt = ids_of_len(&engine, prefill_n)?;
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

    // Decode: greedy, EOS ignored, exactly decode_n forwards.
    let t = Instant::now();
    for _ in 0..decode_n {
        let next = argmax(&logits)?;
        logits = tf.forward(&[next], &mut cache)?;
    }
    let decode = t.elapsed();

    // Follow-up after a long history: warm cache vs whole prompt again.
    let history_text = text_of_tokens(&engine, 1000)?;
    let followup = text_of_tokens(&engine, 30)?;
    let params = SamplingParams {
        max_tokens: 1,
        temperature: 0.0,
        ..SamplingParams::default()
    };
    let base = vec![
        ChatMessage::new(Role::System, "You are a helpful assistant."),
        ChatMessage::new(Role::User, history_text.clone()),
        ChatMessage::new(Role::Assistant, "I see. Tell me more."),
    ];
    let mut with_followup = base.clone();
    with_followup.push(ChatMessage::new(Role::User, followup));
    let history_tokens = engine.model().encode_chat(&base)?.len();
    let all_tokens = engine.model().encode_chat(&with_followup)?.len();
    let ttft = |conversation: &str, messages: Vec<ChatMessage>| -> Result<Duration> {
        let mut g = engine.generate(GenerateRequest {
            conversation: conversation.into(),
            messages,
            params: params.clone(),
        })?;
        while let Some(ev) = g.blocking_next() {
            if let parley_core::engine::GenEvent::Done(u) = ev? {
                return Ok(u.time_to_first_token);
            }
        }
        anyhow::bail!("engine ended without a result")
    };
    ttft("bench-cached", base)?;
    let cached = ttft("bench-cached", with_followup.clone())?;
    let uncached = ttft("bench-uncached", with_followup)?;

    Ok(BenchReport {
        model: engine.model().name.clone(),
        threads: config.threads,
        load_s,
        prefill_tokens: prompt.len(),
        prefill_tok_s: rate(prompt.len(), prefill),
        decode_tokens: decode_n,
        decode_tok_s: rate(decode_n, decode),
        history_tokens,
        followup_tokens: all_tokens - history_tokens,
        followup_ttft_cached_ms: cached.as_secs_f64() * 1e3,
        followup_ttft_uncached_ms: uncached.as_secs_f64() * 1e3,
        followup_ratio: cached.as_secs_f64() / uncached.as_secs_f64().max(1e-9),
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
