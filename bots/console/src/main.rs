//! `parley`: the local console bot, one-shot generation, and the benchmark.

mod bench;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use parley_core::engine::local::{LocalConfig, LocalEngine};
use parley_core::engine::{ChatMessage, Engine, GenEvent, GenerateRequest, Role, SamplingParams};
use parley_core::model::WeightFormat;

/// Parley: a chat bot that runs its language model on this machine.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// GGUF model file.
    #[arg(
        long,
        global = true,
        env = "PARLEY_MODEL",
        default_value = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// Compute threads (0 = all cores).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// Weight handling: `kernels` (Parley's Q4_1/Q8_0 kernels), `q8` (re-quantize Q4_1/Q5_x
    /// to Q8_0 for candle), `native` (candle, as stored).
    #[arg(long, global = true, default_value = "kernels")]
    weights: WeightFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Answer one prompt, streaming to stdout.
    Generate {
        /// The question or instruction.
        prompt: String,
        /// System prompt.
        #[arg(
            long,
            default_value = "You are a helpful assistant. Answer briefly and clearly."
        )]
        system: String,
        /// Most tokens to generate.
        #[arg(long, default_value_t = 256)]
        max_tokens: usize,
        /// Sampling temperature (0 = greedy).
        #[arg(long, default_value_t = SamplingParams::default().temperature)]
        temperature: f64,
        /// Nucleus sampling mass.
        #[arg(long, default_value_t = SamplingParams::default().top_p)]
        top_p: f64,
        /// Keep the k most likely tokens (0 = off).
        #[arg(long, default_value_t = SamplingParams::default().top_k)]
        top_k: usize,
        /// Penalty on repeated tokens (1 = off).
        #[arg(long, default_value_t = SamplingParams::default().repeat_penalty)]
        repeat_penalty: f32,
        /// Seed for reproducible sampling.
        #[arg(long)]
        seed: Option<u64>,
        /// Stop at this string (repeatable).
        #[arg(long)]
        stop: Vec<String>,
    },
    /// Measure load time, prefill and decode speed, cached follow-up latency and memory.
    Bench {
        /// Prompt tokens for the prefill measurement.
        #[arg(long, default_value_t = 512)]
        prefill: usize,
        /// Tokens for the decode measurement.
        #[arg(long, default_value_t = 128)]
        decode: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Write the prefill prompt's token ids (JSON) here, for the llama.cpp comparison.
        #[arg(long)]
        dump_prompt: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PARLEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = LocalConfig {
        threads: cli.threads,
        weights: cli.weights,
        ..LocalConfig::default()
    };
    match cli.command {
        Command::Generate {
            prompt,
            system,
            max_tokens,
            temperature,
            top_p,
            top_k,
            repeat_penalty,
            seed,
            stop,
        } => {
            let engine = LocalEngine::load(&cli.model, &config)?;
            let params = SamplingParams {
                max_tokens,
                temperature,
                top_p,
                top_k,
                repeat_penalty,
                seed,
                stop,
                ..SamplingParams::default()
            };
            let mut g = engine.generate(GenerateRequest {
                conversation: "generate".into(),
                messages: vec![
                    ChatMessage::new(Role::System, system),
                    ChatMessage::new(Role::User, prompt),
                ],
                params,
            })?;
            let mut out = std::io::stdout().lock();
            while let Some(ev) = g.blocking_next() {
                match ev? {
                    GenEvent::Delta(d) => {
                        out.write_all(d.as_bytes())?;
                        out.flush()?;
                    }
                    GenEvent::Done(_) => break,
                }
            }
            writeln!(out)?;
        }
        Command::Bench {
            prefill,
            decode,
            json,
            dump_prompt,
        } => {
            let report = bench::run(&cli.model, &config, prefill, decode, dump_prompt.as_deref())?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                bench::print(&report);
            }
        }
    }
    Ok(())
}
