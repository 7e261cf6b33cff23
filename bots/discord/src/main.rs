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
        handler.clone(),
    )
    .await
    .context("starting the Discord client")?;
    // SIGHUP (and a changed file with bot.watch_config) reloads the live settings.
    let parts: Vec<std::sync::Arc<dyn parley_core::reload::Reloadable>> =
        vec![handler, shutdown.reloadable()];
    parley_core::reload::Reloader::new(&args.config, config, parts).spawn();
    parley_discord::run_until_signal(runner, shutdown).await?;
    Ok(())
}
