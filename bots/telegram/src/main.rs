//! `parley-telegram`: Parley as a Telegram bot. Parse args, start tracing, load settings, build,
//! run until Ctrl-C / SIGTERM. Everything else lives in the library.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use parley_core::seam::{CommandInfo, Handler, Incoming, Outbox};
use parley_telegram::TelegramSettings;
use tracing::{info, warn};

/// Parley on Telegram. The bot token comes from TELOXIDE_TOKEN (ask @BotFather for one).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (its `[telegram]` section; a missing default file means defaults).
    #[arg(long, env = "PARLEY_CONFIG", default_value = "config.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
    let settings = TelegramSettings::load(Some(&args.config))
        .with_context(|| format!("reading {}", args.config.display()))?;
    let token = parley_telegram::token_from_env()?;
    let api_url = parley_telegram::api_url_from_env()?;
    if let Some(url) = &api_url {
        info!(%url, "using a custom Bot API server");
    }
    let handler = make_handler(&args.config)?;

    let (runner, shutdown) = parley_telegram::build(settings, token, api_url, handler);
    tokio::spawn(async move {
        parley_telegram::shutdown_signal().await;
        info!("signal received; shutting down");
        shutdown.shutdown();
    });
    runner.await?;
    Ok(())
}

/// The core's brain for this bot.
// INTEGRATION: replaced by parley_core::bot::Bot (built from the same config file).
fn make_handler(_config: &Path) -> anyhow::Result<Arc<dyn Handler>> {
    warn!("running with the placeholder echo handler, not the real bot");
    Ok(Arc::new(EchoHandler))
}

/// Placeholder brain: answers direct messages, mentions and replies with an echo.
// INTEGRATION: replaced by parley_core::bot::Bot
struct EchoHandler;

#[async_trait::async_trait]
impl Handler for EchoHandler {
    async fn handle(&self, message: Incoming, outbox: Arc<dyn Outbox>) {
        if !(message.is_direct || message.mentions_bot || message.reply_to_bot) {
            return;
        }
        tokio::spawn(async move {
            let reply = format!("echo: {}", message.text);
            if let Err(e) = outbox
                .send(&message.key, &reply, Some(&message.message_id))
                .await
            {
                warn!(channel = %message.key, error = %e, "echo failed");
            }
        });
    }

    fn commands(&self) -> Vec<CommandInfo> {
        vec![CommandInfo {
            name: "help",
            description: "What this bot does",
            args: "",
            admin_only: false,
        }]
    }

    async fn shutdown(&self) {}
}
