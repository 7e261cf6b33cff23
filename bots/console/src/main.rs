//! `parley`: the local console bot, one-shot generation, the benchmark, and `pull` (models from
//! the Hugging Face Hub).

mod bench;
mod chat;
mod pull;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use anyhow::Result;
use clap::{Parser, Subcommand};
use parley_core::config::Settings;
use parley_core::engine::local::model::WeightFormat;
use parley_core::engine::local::{LocalConfig, LocalEngine};
use parley_core::engine::{ChatMessage, Engine, GenEvent, GenerateRequest, Generation, Role};

/// Parley: a chat bot that runs its language model on this machine.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (missing file: every setting at its default).
    #[arg(
        long,
        global = true,
        env = "PARLEY_CONFIG",
        default_value = "config.toml"
    )]
    config: PathBuf,
    /// GGUF model file, or `hf:owner/repo:QUANT` (overrides model.path).
    #[arg(long, global = true, env = "PARLEY_MODEL")]
    model: Option<PathBuf>,
    /// Compute threads (overrides engine.threads; 0 = all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Weight handling: `kernels` (Parley's Q4_1/Q8_0 kernels), `q8` (re-quantize Q4_1/Q5_x
    /// to Q8_0 for candle), `native` (candle, as stored).
    #[arg(long, global = true, default_value = "kernels")]
    weights: WeightFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chat in the terminal: the same bot as on Telegram and Discord, with commands and history.
    Chat,
    /// Answer one prompt, streaming to stdout.
    Generate(GenerateArgs),
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
        /// Write the prefill prompt's token ids (JSON) here, for the llama.cpp comparison (with
        /// --conversations: a list of every conversation's prompt ids).
        #[arg(long)]
        dump_prompt: Option<PathBuf>,
        /// Run this many distinct conversations at once (continuous batching) and compare
        /// with one alone: aggregate decode speed and time to first token.
        #[arg(long)]
        conversations: Option<usize>,
    },
    /// Check what a first run needs (config, model, data directory, metrics port), print a
    /// checklist with the fix for each failure, and exit (1 when something failed).
    Check,
    /// Download a GGUF model from the Hugging Face Hub into its cache (HF_HOME, HF_ENDPOINT,
    /// HF_TOKEN apply) and print its path; use it as `model.path = "hf:REPO:QUANT"`.
    Pull {
        /// `owner/repo` or `owner/repo:QUANT` (default quant Q4_K_M), e.g.
        /// `Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M`.
        repo: String,
    },
}

/// `parley generate`: one prompt, the config's sampling settings overridden by the flags given.
#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// The question or instruction.
    prompt: String,
    /// System prompt.
    #[arg(
        long,
        default_value = "You are a helpful assistant. Answer briefly and clearly."
    )]
    system: String,
    /// Most tokens to generate (default: sampling.max_tokens).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Sampling temperature, 0 = greedy (default: sampling.temperature).
    #[arg(long)]
    temperature: Option<f64>,
    /// Nucleus sampling mass (default: sampling.top_p).
    #[arg(long)]
    top_p: Option<f64>,
    /// Keep the k most likely tokens, 0 = off (default: sampling.top_k).
    #[arg(long)]
    top_k: Option<usize>,
    /// Penalty on repeated tokens, 1 = off (default: sampling.repeat_penalty).
    #[arg(long)]
    repeat_penalty: Option<f32>,
    /// Seed for reproducible sampling.
    #[arg(long)]
    seed: Option<u64>,
    /// Stop at this string (repeatable; default: sampling.stop).
    #[arg(long)]
    stop: Vec<String>,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => parley_core::launch::exit_code(Err(e)),
    }
}

/// Logs on stderr, filtered by `PARLEY_LOG` (default: warnings).
fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PARLEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The settings of `--config`, with `--model` and `--threads` applied.
fn load_settings(cli: &Cli) -> Result<Settings> {
    let mut settings = Settings::load(Some(&cli.config))
        .with_context(|| format!("loading {}", cli.config.display()))?;
    if let Some(model) = &cli.model {
        // The one model asked for, whatever [[models]] lists.
        settings.model.path = model.clone();
        settings.models.clear();
    }
    if let Some(threads) = cli.threads {
        settings.engine.threads = threads;
    }
    Ok(settings)
}

/// `parley chat`: the console bot on the models the settings list.
fn chat(settings: Settings) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        parley_core::metrics::serve(&settings.metrics, None).await?;
        let models = parley_core::launch::models(&settings).await?;
        chat::run(settings, models).await
    })?;
    Ok(())
}

/// `parley check`: the core's setup checklist for the console bot.
fn check(cli: &Cli) -> Result<std::process::ExitCode> {
    use parley_core::setup_check as setup;
    let rt = tokio::runtime::Runtime::new()?;
    let mut list = setup::Checklist::new();
    let explicit = std::env::args_os().any(|a| a.to_string_lossy().starts_with("--config"))
        || std::env::var_os("PARLEY_CONFIG").is_some();
    if let Some(mut settings) = setup::check_config(&mut list, &cli.config, explicit) {
        if let Some(model) = &cli.model {
            settings.model.path = model.clone();
            settings.models.clear();
        }
        rt.block_on(setup::check_common(&mut list, &settings));
    }
    Ok(list.finish())
}

fn run() -> Result<std::process::ExitCode> {
    init_logging();
    let cli = Cli::parse();
    // Pulling needs no configuration.
    if let Command::Pull { repo } = &cli.command {
        let path = pull::run(repo)?;
        println!("{}", path.display());
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if let Command::Check = cli.command {
        return check(&cli);
    }
    let settings = load_settings(&cli)?;
    // Before any other thread starts (no runtime runs yet).
    parley_core::engine::local::set_compute_threads(settings.engine.threads);
    let mut local = parley_core::launch::local_config(&settings);
    local.weights = cli.weights;
    match cli.command {
        Command::Chat => chat(settings)?,
        Command::Generate(args) => generate(&settings, &local, args)?,
        Command::Pull { .. } | Command::Check => {}
        Command::Bench {
            prefill: _,
            decode,
            json,
            dump_prompt,
            conversations: Some(n),
        } => {
            let report = bench::run_conversations(
                &pull::resolve(&settings.model.path)?,
                &local,
                n,
                decode,
                dump_prompt.as_deref(),
            )?;
            show(&report, json, bench::print_conversations)?;
        }
        Command::Bench {
            prefill,
            decode,
            json,
            dump_prompt,
            conversations: None,
        } => {
            let report = bench::run(
                &pull::resolve(&settings.model.path)?,
                &local,
                prefill,
                decode,
                dump_prompt.as_deref(),
            )?;
            show(&report, json, bench::print)?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `parley generate`: answers one prompt with the default model, streaming to stdout.
fn generate(settings: &Settings, local: &LocalConfig, args: GenerateArgs) -> Result<()> {
    let engine = LocalEngine::load(&pull::resolve(&settings.model.path)?, local)?;
    let mut params = settings.sampling.params();
    params.max_tokens = args.max_tokens.unwrap_or(params.max_tokens);
    params.temperature = args.temperature.unwrap_or(params.temperature);
    params.top_p = args.top_p.unwrap_or(params.top_p);
    params.top_k = args.top_k.unwrap_or(params.top_k);
    params.repeat_penalty = args.repeat_penalty.unwrap_or(params.repeat_penalty);
    params.seed = args.seed.or(params.seed);
    if !args.stop.is_empty() {
        params.stop = args.stop;
    }
    print_answer(engine.generate(GenerateRequest {
        conversation: "generate".into(),
        messages: vec![
            ChatMessage::new(Role::System, args.system),
            ChatMessage::new(Role::User, args.prompt),
        ],
        params,
        shareable_bytes: 0,
    })?)
}

/// A benchmark report as one JSON line, or as `print` lays it out.
fn show<R: serde::Serialize>(report: &R, json: bool, print: fn(&R)) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print(report);
    }
    Ok(())
}

/// Stream an answer to stdout as it comes, then end the line.
fn print_answer(mut answer: Generation) -> Result<()> {
    let mut out = std::io::stdout().lock();
    while let Some(ev) = answer.blocking_next() {
        match ev? {
            GenEvent::Delta(d) => {
                out.write_all(d.as_bytes())?;
                out.flush()?;
            }
            GenEvent::Done(_) => break,
        }
    }
    writeln!(out)?;
    Ok(())
}
