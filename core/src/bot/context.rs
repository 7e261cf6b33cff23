//! What every part of the bot shares ([`BotContext`]): settings, models, store, personas, the
//! loaded channels, the scheduler and the rate limits; and the two things every room uses, the
//! clock ([`now_unix`]) and [`say`], which sends a line the bot writes itself.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::warn;

use super::channels::Channels;
use super::rate_limit::{ExportTimes, RateLimits};
use crate::config::Settings;
use crate::engine::shelf::ModelShelf;
use crate::engine::Engine;
use crate::persona::Personas;
use crate::render;
use crate::scheduler::Scheduler;
use crate::seam::{ChannelKey, Outbox};
use crate::store::Store;
use crate::Result;

/// What every part of the bot shares: one per [`Bot`](super::Bot), behind an `Arc`.
pub(super) struct BotContext {
    /// The settings in force: live keys change on a reload ([`crate::reload`]).
    pub(super) settings: std::sync::RwLock<Arc<Settings>>,
    /// The models channels may use (`/model`) and their loaded engines.
    pub(super) models: Arc<ModelShelf>,
    pub(super) store: Store,
    pub(super) personas: Personas,
    pub(super) channels: Channels,
    pub(super) scheduler: Scheduler,
    pub(super) rate: RateLimits,
    /// The bot's name and `bot.trigger_names`: words that address it in a group.
    pub(super) trigger_words: Vec<String>,
    /// When each user last got an `/export`.
    pub(super) exports: ExportTimes,
}

/// Now, in seconds since the Unix epoch (0 if the clock is before it).
pub(super) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl BotContext {
    /// The settings in force (a reload swaps them; a caller keeps the ones it read).
    pub(super) fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The engine of the channel's model (`/model`, else the default), loaded on the blocking
    /// pool when it is not loaded.
    pub(super) async fn channel_engine(&self, key: &ChannelKey) -> Result<Arc<dyn Engine>> {
        let chosen = self
            .channels
            .open(key, &self.store)
            .await?
            .settings
            .model
            .clone();
        let name = self
            .models
            .choice_or_default(chosen.as_deref())
            .name
            .clone();
        if let Some(engine) = self.models.loaded(&name) {
            return Ok(engine);
        }
        let models = self.models.clone();
        match tokio::task::spawn_blocking(move || models.engine(&name)).await {
            Ok(loaded) => loaded,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Unload idle channels; see [`Bot::unload_idle`](super::Bot::unload_idle).
    pub(super) fn unload_idle(&self, idle: Duration) -> usize {
        let unloaded = self
            .channels
            .unload_idle(idle, |key| self.scheduler.is_busy(key));
        // Rate windows older than a minute say nothing any more.
        self.rate.forget_quiet();
        unloaded
    }
}

/// Send a reply made by the bot itself (split to the platform's limit, mentions neutralised).
pub(super) async fn say(outbox: &dyn Outbox, key: &ChannelKey, reply_to: Option<&str>, text: &str) {
    let limits = outbox.limits();
    let clean = render::neutralize_mentions(text, limits.markup);
    for (i, part) in render::split_message(&clean, limits.max_message_chars)
        .iter()
        .enumerate()
    {
        let to = if i == 0 { reply_to } else { None };
        if let Err(e) = outbox.send(key, part, to).await {
            warn!(channel = %key, error = %e, "could not send a reply");
            return;
        }
    }
}
