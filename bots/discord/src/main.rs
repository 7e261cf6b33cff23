//! `parley-discord`: Parley as a Discord bot. Thin: arguments, logging, settings, run.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use parley_core::seam::Platform;

/// Parley on Discord. The token comes from DISCORD_TOKEN only.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (its `[discord]` section; PARLEY__DISCORD__* overrides; a
    /// missing default file means defaults).
    #[arg(long, env = "PARLEY_CONFIG", default_value = "config.toml")]
    config: PathBuf,
    /// Check what a first run needs (config, token, Message Content intent, guilds and
    /// permissions, model, data directory, metrics port), print a checklist with the fix for
    /// each failure, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.check {
        return parley_core::launch::check_on_runtime(check(&args));
    }
    let config = args.config.clone();
    parley_core::launch::main_on_runtime(&config, run(args))
}

/// `--check`: the core's checklist with Discord's items.
async fn check(args: &Args) -> std::process::ExitCode {
    parley_core::setup_check::run(&args.config, async |list, config| {
        let token = std::env::var(parley_discord::TOKEN_ENV).ok();
        let base = parley_discord::api_base_from_env();
        parley_discord::check::check_discord(list, config, token, base).await;
    })
    .await
}

async fn run(args: Args) -> anyhow::Result<()> {
    // serenity logs undecodable gateway payloads (message text included) at warn: keep it to
    // errors unless RUST_LOG asks for more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,serenity=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = parley_core::config::Settings::load(Some(&args.config))
        .with_context(|| format!("reading {}", args.config.display()))?;
    let settings = parley_discord::DiscordSettings::from_settings(&config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let token = parley_discord::token_from_env()?;
    let api_base = parley_discord::api_base_from_env();
    parley_core::launch::run_adapter(
        &args.config,
        &config,
        Platform::Discord,
        |handler| async move {
            let (runner, stop) = parley_discord::start(settings, &token, api_base, handler).await?;
            Ok::<_, parley_discord::Error>((runner.run(), stop))
        },
    )
    .await
    .with_context(|| format!("running the Discord bot (config {})", args.config.display()))
}
