//! `parley-telegram`: Parley as a Telegram bot. Parse args, start tracing, load settings, build,
//! run until Ctrl-C / SIGTERM. Everything else lives in the library.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use parley_core::config::Settings;
use parley_core::seam::Platform;
use parley_telegram::TelegramSettings;
use tracing::info;

/// Parley on Telegram. The bot token comes from TELOXIDE_TOKEN (ask @BotFather for one).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (its `[telegram]` section; a missing default file means defaults).
    #[arg(long, env = "PARLEY_CONFIG", default_value = "config.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    parley_core::launch::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hyper=warn,reqwest=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();

    let explicit = std::env::args_os().any(|a| a.to_string_lossy().starts_with("--config"));
    if explicit && !args.config.exists() {
        anyhow::bail!("config file {} does not exist", args.config.display());
    }
    let config = Settings::load(Some(&args.config))
        .with_context(|| format!("reading {}", args.config.display()))?;
    let settings = TelegramSettings::from_settings(&config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let token = parley_telegram::token_from_env()?;
    let api_url = parley_telegram::api_url_from_env()?;
    if let Some(url) = &api_url {
        info!(%url, "using a custom Bot API server");
    }
    parley_core::launch::run_adapter(&config, Platform::Telegram, |handler| async move {
        Ok::<_, parley_telegram::Error>(parley_telegram::build(settings, token, api_url, handler))
    })
    .await
    .with_context(|| {
        format!(
            "running the Telegram bot (config {})",
            args.config.display()
        )
    })
}
