//! `parley-discord`: Parley as a Discord bot. Thin: arguments, logging, settings, run.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

/// Parley on Discord. The token comes from DISCORD_TOKEN only.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (its `[discord]` section; PARLEY__DISCORD__* overrides).
    #[arg(long, default_value = "config.toml")]
    config: PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config = args.config.clone();
    parley_core::launch::main_on_runtime(&config, run(args))
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
    let settings = parley_discord::DiscordSettings::from_settings(&config)?;
    let token = parley_discord::token_from_env()?;
    parley_core::metrics::serve(&config.metrics, Some(parley_core::seam::Platform::Discord))
        .await?;
    let handler = parley_core::launch::handler(&config)
        .await
        .with_context(|| format!("starting the bot (config {})", args.config.display()))?;
    let (runner, shutdown) = parley_discord::start(
        settings,
        &token,
        parley_discord::api_base_from_env(),
        handler,
    )
    .await
    .context("starting the Discord client")?;
    parley_discord::run_until_signal(runner, shutdown).await?;
    Ok(())
}
