//! # parley-discord
//!
//! Parley on Discord: a serenity client that turns gateway events into the core's
//! [`Incoming`](parley_core::seam::Incoming) and answers through an
//! [`Outbox`](parley_core::seam::Outbox) on serenity's REST client. The adapter holds no
//! conversation logic: whether and what to answer is the core's
//! [`Handler`]'s business.
//!
//! ## How data flows
//! ```text
//! gateway ─ MESSAGE_CREATE ─▶ gateway::Events ─ access::Access ─ mapping::map_message ─▶ Handler
//!         ─ INTERACTION_CREATE ─▶ defer ─ slash::map_interaction ("/name args") ─▶ Handler
//! Handler ─▶ outbox::channel_outbox (reply, edits, typing) ─▶ REST
//!         ─▶ outbox::interaction_outbox (original response, follow-ups) ─▶ REST
//! ```
//!
//! ## Decisions
//! - **Conversations**: a DM, a channel and a thread are each one conversation, keyed by the
//!   channel id the message was posted in (a thread is a channel on Discord). See [`mapping`].
//! - **Triggers** are the core's: the adapter reports `mentions_bot` (user mention `<@id>` /
//!   `<@!id>`, or the bot's managed role `<@&id>`) and `reply_to_bot`, and strips the mentions.
//!   Bots (itself included), webhooks, system messages and text-less messages are dropped.
//! - **Nobody gets pinged**: every message and edit carries an empty `allowed_mentions`.
//! - **Limits**: 2000 UTF-16 units; edits throttled per channel (`edit_interval_ms`); 5xx and
//!   network failures retried with bounded exponential back-off; 429s are honoured by
//!   serenity's rate limiter against the real API, and retried after `rate_limit_wait_ms`
//!   behind `DISCORD_API_BASE` (where serenity's limiter is off and hides `retry_after`). All
//!   of it is the core's `outbound` toolkit; [`outbox`] holds only serenity's calls.
//! - **Intents**: `GUILDS` (guild roles, channels and threads: admin and thread detection),
//!   `GUILD_MESSAGES`, `DIRECT_MESSAGES`, and the privileged `MESSAGE_CONTENT` (without it
//!   guild messages arrive with empty text), `GUILD_MESSAGE_REACTIONS` and
//!   `DIRECT_MESSAGE_REACTIONS` (a country-flag reaction asks for a translation of the message
//!   it is on: `mapping::map_flag_reaction`). A gateway close 4014 becomes
//!   [`Error::MessageContentIntentDisabled`], which says where to switch it on.
//! - **Commands**: the core's commands become slash commands (global, or per guild when
//!   `command_guild_ids` is set); a used command is deferred and reaches the core as the text
//!   `/name args`, so text commands and slash commands are one code path.
//! - **Access**: optional guild / channel / role / user allowlists; admins are the
//!   `discord:` entries of `bot.admins` and members with Manage Server or Administrator (or the
//!   owner).
//!
//! - **Shards**: `shards` in `[discord]` runs one shard (`"single"`), as many as Discord
//!   recommends (`"auto"`, from `GET /gateway/bot`), or a range of a total
//!   (`{ first, count, total }`) so several processes share one bot. Each shard's state goes to
//!   `/healthz` and the gateway metrics (`shard` label), through the core's `metrics`.
//!
//! ## Known limits
//! - serenity runs each event's handler on its own task, so two messages arriving within
//!   microseconds in one channel may reach the core in either order.
//! - A send retried after a 5xx may post twice if Discord had in fact stored the first one.
//! - A slash command the core never answers keeps Discord's "thinking…" until it expires.
//!
//! ## Start and stop
//! [`start`] builds the client (REST base from `DISCORD_API_BASE` when given) and returns a
//! [`Runner`] and a [`ShutdownHandle`]; the binary hands them to the core's
//! `launch::run_adapter`, which runs until Ctrl-C / SIGTERM, then closes the shards and calls
//! the handler's `shutdown` (answers finished or cancelled, store flushed).

pub mod access;
pub mod check;
pub mod error;
pub mod gateway;
pub mod guilds;
pub mod mapping;
pub mod outbox;
pub mod settings;
pub mod slash;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parley_core::seam::Handler;
use serenity::all::{Client, ClientBuilder, GatewayIntents, HttpBuilder, ShardManager};
use serenity::gateway::GatewayError;

pub use error::{Error, Result};
pub use settings::{DiscordSettings, Shards};

/// Environment variable holding the bot token.
pub const TOKEN_ENV: &str = "DISCORD_TOKEN";
/// Environment variable overriding the REST base (tests, proxies): scheme and host, such as
/// `http://127.0.0.1:8080`; serenity appends `/api/v10/...`.
pub const API_BASE_ENV: &str = "DISCORD_API_BASE";

/// The gateway intents the bot asks for (see the crate docs for why each).
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::GUILD_MESSAGE_REACTIONS
        | GatewayIntents::DIRECT_MESSAGE_REACTIONS
}

/// The token from `DISCORD_TOKEN`, or [`Error::MissingToken`] saying where to get one.
pub fn token_from_env() -> Result<String> {
    match std::env::var(TOKEN_ENV) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => Err(Error::MissingToken),
    }
}

/// The REST base from `DISCORD_API_BASE`, when set and not empty.
pub fn api_base_from_env() -> Option<String> {
    std::env::var(API_BASE_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// Runs the gateway connection until the shards stop.
pub struct Runner {
    client: Client,
    shards: Shards,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("done", &self.done.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Connect and dispatch events until [`ShutdownHandle::shutdown`] or a fatal gateway error.
    pub async fn run(mut self) -> Result<()> {
        let client = &mut self.client;
        let started = match self.shards {
            Shards::Single => {
                parley_core::metrics::shard(0, false, "connecting");
                client.start().await
            }
            Shards::Auto => match client.http.get_bot_gateway().await {
                // What serenity's autosharded start does, with the count known for /healthz.
                Ok(gateway) => {
                    tracing::info!(
                        shards = gateway.shards,
                        "Discord recommends this many shards"
                    );
                    for id in 0..gateway.shards {
                        parley_core::metrics::shard(id, false, "connecting");
                    }
                    client.start_shards(gateway.shards).await
                }
                Err(e) => Err(e),
            },
            Shards::Range {
                first,
                count,
                total,
            } => {
                for id in first..first + count {
                    parley_core::metrics::shard(id, false, "connecting");
                }
                // serenity reads the range's end as the last shard, inclusive.
                client
                    .start_shard_range(first..first + count - 1, total)
                    .await
            }
        };
        started.map_err(|e| match e {
            serenity::Error::Gateway(GatewayError::DisallowedGatewayIntents) => {
                Error::MessageContentIntentDisabled
            }
            serenity::Error::Gateway(GatewayError::InvalidAuthentication) => Error::InvalidToken,
            other => Error::Client(other.to_string()),
        })
    }
}

/// Stops a running bot: shards first (no new events), then the core.
#[derive(Clone)]
pub struct ShutdownHandle {
    shard_manager: Arc<ShardManager>,
    gate: Arc<access::Gate>,
    handler: Arc<dyn Handler>,
    done: Arc<AtomicBool>,
}

impl ShutdownHandle {
    /// The adapter's part of a reload (its allowlists), for a [`parley_core::reload::Reloader`].
    pub fn reloadable(&self) -> Arc<dyn parley_core::reload::Reloadable> {
        Arc::new(access::LiveGate(Arc::clone(&self.gate)))
    }

    /// Close every shard and let the handler finish or cancel answers and flush its store.
    /// Calling it again does nothing.
    pub async fn shutdown(&self) {
        if self.done.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!("shutting down: closing gateway shards");
        self.shard_manager.shutdown_all().await;
        self.handler.shutdown().await;
        tracing::info!("shut down");
    }
}

/// Build the client for `handler`. `api_base` (e.g. `http://127.0.0.1:PORT`) sends REST there
/// with serenity's rate limiter off, and takes the gateway URL from its `GET /api/v10/gateway`.
pub async fn start(
    settings: DiscordSettings,
    token: &str,
    api_base: Option<String>,
    handler: Arc<dyn Handler>,
) -> Result<(Runner, ShutdownHandle)> {
    let mut http = HttpBuilder::new(token).default_allowed_mentions(outbox::no_mentions());
    if let Some(base) = api_base {
        tracing::info!(base = %base, "Discord REST base overridden");
        http = http.proxy(base).ratelimiter_disabled(true);
    }
    let http = http.build();
    // Ask who we are before connecting: it checks the token with a clear error, and the bot id
    // is known before the first message arrives (serenity runs READY's handler concurrently
    // with the events that follow it).
    let me = http.get_current_user().await.map_err(|e| match &e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r))
            if r.status_code.as_u16() == 401 =>
        {
            Error::InvalidToken
        }
        _ => Error::Client(format!("asking Discord who the bot is: {e}")),
    })?;
    tracing::info!(bot = %me.name, id = %me.id, "Discord token accepted");
    let settings_shards = settings.shards;
    let events = gateway::Events::new(Arc::clone(&handler), settings, me.id);
    let gate = events.gate();
    let client = ClientBuilder::new_with_http(http, intents())
        .event_handler(events)
        .await
        .map_err(|e| Error::Client(e.to_string()))?;
    let shutdown = ShutdownHandle {
        shard_manager: Arc::clone(&client.shard_manager),
        gate,
        handler,
        done: Arc::new(AtomicBool::new(false)),
    };
    let shards = settings_shards;
    Ok((Runner { client, shards }, shutdown))
}

#[async_trait::async_trait]
impl parley_core::launch::AdapterStop for ShutdownHandle {
    async fn stop(&self) {
        self.shutdown().await;
    }

    fn reloadable(&self) -> Option<Arc<dyn parley_core::reload::Reloadable>> {
        Some(ShutdownHandle::reloadable(self))
    }
}
