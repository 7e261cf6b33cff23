//! `parley-discord`: Parley as a Discord bot. Thin: arguments, logging, settings, run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use parley_core::seam::{CommandInfo, Handler, Incoming, Outbox};

/// Parley on Discord. The token comes from DISCORD_TOKEN only.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (its `[discord]` section; PARLEY__DISCORD__* overrides).
    #[arg(long, default_value = "config.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // serenity logs undecodable gateway payloads (message text included) at warn: keep it to
    // errors unless RUST_LOG asks for more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,serenity=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let settings = parley_discord::DiscordSettings::load(&args.config)?;
    let token = parley_discord::token_from_env()?;
    let handler = make_handler(&args.config)?;
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

/// The core's handler for this configuration.
fn make_handler(config: &Path) -> anyhow::Result<Arc<dyn Handler>> {
    // INTEGRATION: replaced by parley_core::bot::Bot (built from `config`).
    tracing::warn!(config = %config.display(), "placeholder handler: echoes messages until the core's Bot is wired in");
    Ok(Arc::new(Placeholder))
}

// INTEGRATION: replaced by parley_core::bot::Bot.
/// Stand-in for the core's bot: answers DMs, mentions and replies with an echo.
struct Placeholder;

#[async_trait::async_trait]
impl Handler for Placeholder {
    async fn handle(&self, message: Incoming, outbox: Arc<dyn Outbox>) {
        if !(message.is_direct || message.mentions_bot || message.reply_to_bot) {
            return;
        }
        let text = format!("(placeholder) you said: {}", message.text);
        if let Err(e) = outbox
            .send(&message.key, &text, Some(&message.message_id))
            .await
        {
            tracing::warn!(error = %e, "placeholder reply failed");
        }
    }

    fn commands(&self) -> Vec<CommandInfo> {
        vec![
            CommandInfo {
                name: "help",
                description: "What I can do",
                args: "",
                admin_only: false,
            },
            CommandInfo {
                name: "reset",
                description: "Forget this conversation",
                args: "",
                admin_only: false,
            },
        ]
    }

    async fn shutdown(&self) {}
}
