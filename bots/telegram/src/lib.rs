//! # parley-telegram
//!
//! Parley on Telegram: a personal bot in private chats and a helper in groups, on the shared
//! core. This crate only translates: Telegram updates become [`Incoming`] messages for the
//! core's [`Handler`], and the core's answers go back through [`TelegramOutbox`], the
//! Telegram implementation of the core's [`Outbox`]. It holds no conversation logic.
//!
//! ## How data flows
//! ```text
//! getUpdates (long poll) ─▶ map_update ─▶ Access (allowlists) ─▶ the chat's queue ─▶ Handler::handle
//!                                                   (group admins marked) │
//! sendMessage / editMessageText / sendChatAction ◀── TelegramOutbox ◀─────┘
//! ```
//! - [`build`] returns the runner future and a [`ShutdownHandle`]; tests start and stop the
//!   adapter in-process against the fake Bot API of `parley-testkit`.
//! - The runner calls `getMe` (who am I: needed to spot mentions), `deleteWebhook`, and
//!   `setMyCommands` with the core's command list by scope (group members: what they may use;
//!   private chats: all but `/system`; group administrators and configured admins: all), asks
//!   the core to answer what a restart left unanswered (through the allowlists again), then
//!   long-polls `getUpdates`.
//! - Each chat has its own queue and task: its messages reach the core in order, and a chat
//!   whose replies wait out a 429 holds up no other chat. Idle chat tasks end. At shutdown the
//!   queues get a few seconds to drain; what is still queued is not confirmed, so Telegram
//!   delivers it again. (A crash loses messages queued behind a throttled one in their chat:
//!   the next poll has confirmed them.)
//! - Polling is a plain loop rather than teloxide's `Dispatcher`: the adapter needs exactly one
//!   handler, control of the offset (confirmed on shutdown, so a restart never sees a handled
//!   update twice) and of error handling (the loop outlives any outage of the API).
//! - [`map_update`] is pure and tested on JSON fixtures: private chats, groups, forum topics
//!   (thread = topic), replies to the bot, `@bot` mentions (stripped), `/cmd@bot` (read by `parley_core::commands::address`).
//! - [`TelegramOutbox`] is the core's `Outbound` (placeholder, splitting over 4096 UTF-16 units,
//!   retries honouring 429 `retry_after`, edits throttled per chat) on [`TelegramClient`]: plain
//!   text (no parse mode) unless configured for HTML, "message is not modified" as success.
//!
//! ## Configuration
//! [`TelegramSettings`] is the `[telegram]` section of `config.toml`, handed over typed by the
//! core's loader and overridable with `PARLEY__TELEGRAM__KEY`; its admins are the `telegram:`
//! entries of `bot.admins`. The token comes only from `TELOXIDE_TOKEN`, the API base from
//! `TELOXIDE_API_URL` when set. Logs never carry the token (errors are redacted) nor message
//! text above `debug`.

mod access;
mod chats;
mod check;
mod error;
mod mapping;
mod outbox;
mod poller;
mod settings;
mod text;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use access::Access;
pub use check::check_telegram;
pub use error::{Error, Result};
pub use mapping::{
    display_name, map_message, map_update, map_update_json, strip_mention, BotIdentity,
};
pub use outbox::{
    is_transient, telegram_outbox, Redactor, TelegramClient, TelegramOutbox, MAX_MESSAGE_LEN,
};
use parley_core::refusal::{Refusals, REFUSAL_GAP};
pub use parley_core::seam::{Handler, Incoming, Outbox};
pub use poller::bot_commands;
/// The URL type of [`build`]'s `api_url` (teloxide's, via reqwest).
pub use reqwest::Url;
pub use settings::{api_url_from_env, parse_api_url, token_from_env, ParseMode, TelegramSettings};
pub use text::render_html;

/// The running adapter: resolves when it has stopped (after [`ShutdownHandle::shutdown`], or on
/// an error retrying cannot fix, such as a rejected token).
pub type Runner = Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;

/// Stops a runner from outside: polling ends, handled updates are confirmed, and the handler's
/// `shutdown` runs before the runner resolves.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    tx: Arc<tokio::sync::watch::Sender<bool>>,
    access: Arc<Access>,
}

impl ShutdownHandle {
    /// Ask the runner to stop. Idempotent.
    pub fn shutdown(&self) {
        self.tx.send_replace(true);
    }

    /// Whether a stop was asked for.
    pub fn is_shutdown(&self) -> bool {
        *self.tx.borrow()
    }

    /// The adapter's part of a reload (its allowlists), for a [`parley_core::reload::Reloader`].
    pub fn reloadable(&self) -> Arc<dyn parley_core::reload::Reloadable> {
        Arc::new(access::LiveAccess(self.access.clone()))
    }
}

/// Build the adapter: `token` for the Bot API at `api_url` (Telegram's when `None`), answering
/// through `handler`. Nothing runs until the returned runner is awaited or spawned.
pub fn build(
    settings: TelegramSettings,
    token: String,
    api_url: Option<Url>,
    handler: Arc<dyn Handler>,
) -> (Runner, ShutdownHandle) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let access = Arc::new(Access::new(&settings));
    let handle = ShutdownHandle {
        tx: Arc::new(tx),
        access: access.clone(),
    };
    let runner = async move {
        let redactor = Redactor::new(&token);
        // The HTTP timeout must outlast the long poll, or every quiet poll would fail.
        let timeout = Duration::from_secs(u64::from(settings.poll_timeout_secs) + 15);
        let client = teloxide::net::default_reqwest_settings()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Api(redactor.text(&e)))?;
        let mut bot = teloxide::Bot::with_client(token, client);
        if let Some(url) = api_url {
            bot = bot.set_api_url(url);
        }
        let outbox = telegram_outbox(bot.clone(), &settings, redactor.clone());
        let chats = chats::Chats::new(
            handler.clone(),
            outbox.clone(),
            access.clone(),
            chats::CHAT_IDLE,
        );
        // The operator's own line when `refusal_text` is set, else the catalogue's, localized.
        let custom = Some(settings.refusal_text.clone());
        let refusals = Refusals::new(REFUSAL_GAP, handler.language(), custom);
        let poller = poller::Poller {
            access,
            refusals,
            chats,
            bot,
            settings,
            handler,
            outbox,
            redactor,
            stop: rx,
        };
        poller.run().await
    };
    (Box::pin(runner), handle)
}

#[async_trait::async_trait]
impl parley_core::launch::AdapterStop for ShutdownHandle {
    async fn stop(&self) {
        self.shutdown();
    }

    fn reloadable(&self) -> Option<Arc<dyn parley_core::reload::Reloadable>> {
        Some(ShutdownHandle::reloadable(self))
    }
}
