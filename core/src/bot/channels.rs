//! Loaded channels: one [`Channel`] value per channel, behind one lock per channel.
//!
//! A channel is loaded from the store on its first message after start (or after it was
//! unloaded), changed in memory, and written back through the store calls that make each
//! change durable. Holding a channel's lock orders its writes: two `/remember`s in one chat
//! cannot lose each other's note, and an answer cannot be stored into a conversation that a
//! `/reset` is clearing. No lock spans two channels.
//!
//! Channels idle for `bot.unload_idle_minutes` are unloaded by the maintenance task (in
//! `context`; their turns and settings stay in the store), so a bot in thousands of chats
//! holds only the active ones.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::{Mutex as ChannelLock, OwnedMappedMutexGuard, OwnedMutexGuard};
use tracing::debug;

use crate::config::SamplingSettings;
use crate::conversation::Conversation;
use crate::engine::SamplingParams;
use crate::seam::ChannelKey;
use crate::store::{ChannelSettings, SeedChoice, Store};
use crate::Result;

/// Everything the bot holds in memory about one channel.
pub(super) struct Channel {
    /// Its live turns, rendered system prompt and window position.
    pub(super) conversation: Conversation,
    /// Its `/mode`, `/system`, `/translate`, `/set` and `/remember` choices.
    pub(super) settings: ChannelSettings,
    /// When it was last used (for unloading idle channels).
    last_active: Instant,
    /// User messages (platform ids) whose answer is queued or running.
    in_flight: InFlight,
}

/// A loaded channel, locked for the holder.
pub(super) type OpenChannel = OwnedMappedMutexGuard<Option<Channel>, Channel>;

/// One channel's place in the map: `None` while it is not loaded.
type Slot = Arc<ChannelLock<Option<Channel>>>;

impl Channel {
    fn new(conversation: Conversation, settings: ChannelSettings) -> Self {
        Self {
            conversation,
            settings,
            last_active: Instant::now(),
            in_flight: InFlight::default(),
        }
    }

    /// Read the channel from the store.
    async fn load(key: &ChannelKey, store: &Store) -> Result<Self> {
        let (turns, settings) = store
            .load_channel(key, Conversation::MAX_LIVE_TURNS)
            .await?;
        debug!(channel = %key, turns = turns.len(), "channel loaded");
        let conversation = Conversation {
            turns,
            ..Conversation::default()
        };
        Ok(Self::new(conversation, settings))
    }

    /// Make `settings` the channel's settings: durable first, then in memory (a failed save
    /// leaves the channel as it was).
    pub(super) async fn save_settings(
        &mut self,
        key: &ChannelKey,
        store: &Store,
        settings: ChannelSettings,
    ) -> Result<()> {
        store.save_settings(key, &settings).await?;
        self.settings = settings;
        Ok(())
    }

    /// The sampling parameters of the channel's answers: the configured ones, with what
    /// `/set` changed here.
    pub(super) fn params(&self, defaults: &SamplingSettings) -> SamplingParams {
        let mut p = defaults.params();
        let o = &self.settings.sampling;
        if let Some(t) = o.temperature {
            p.temperature = t;
        }
        if let Some(t) = o.top_p {
            p.top_p = t;
        }
        if let Some(m) = o.max_tokens {
            p.max_tokens = m;
        }
        match o.seed {
            Some(SeedChoice::Fixed(seed)) => p.seed = Some(seed),
            Some(SeedChoice::Random) => p.seed = None,
            None => {}
        }
        if let Some(stop) = &o.stop {
            p.stop = stop.clone();
        }
        p
    }

    /// Whether the answer to the user message `message_id` is queued or running.
    pub(super) fn is_answering(&self, message_id: &str) -> bool {
        self.in_flight.ids().contains(message_id)
    }

    /// Mark the answer to `message_id` as queued; it stays marked until the returned value is
    /// dropped (when the answer job ends, or is dropped unrun).
    pub(super) fn begin_answer(&self, message_id: &str) -> AnswerInFlight {
        self.in_flight.ids().insert(message_id.to_string());
        AnswerInFlight {
            in_flight: self.in_flight.clone(),
            message_id: message_id.to_string(),
        }
    }
}

/// The ids of a channel's user messages whose answer is queued or running. Shared with the
/// answer jobs, which release their id when they end without taking the channel's lock.
#[derive(Clone, Default)]
struct InFlight(Arc<Mutex<HashSet<String>>>);

impl InFlight {
    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One answer queued or running; dropping it releases its message.
pub(super) struct AnswerInFlight {
    in_flight: InFlight,
    message_id: String,
}

impl Drop for AnswerInFlight {
    fn drop(&mut self) {
        self.in_flight.ids().remove(&self.message_id);
    }
}

/// Every loaded channel.
#[derive(Default)]
pub(super) struct Channels {
    slots: DashMap<ChannelKey, Slot>,
}

impl Channels {
    /// Lock the channel, loading it from the store first if it is not in memory, and mark it
    /// active. Hold the result only as long as the change takes: the channel's next message
    /// waits for it.
    pub(super) async fn open(&self, key: &ChannelKey, store: &Store) -> Result<OpenChannel> {
        let slot = self.slots.entry(key.clone()).or_default().clone();
        let mut guard = slot.lock_owned().await;
        if guard.is_none() {
            *guard = Some(Channel::load(key, store).await?);
        }
        let mut channel = OwnedMutexGuard::map(guard, |slot| {
            // Loaded just above; the default is never used.
            slot.get_or_insert_with(|| Channel::new(Conversation::default(), Default::default()))
        });
        channel.last_active = Instant::now();
        Ok(channel)
    }

    /// Lock the channel if it is loaded (`None`: it is not, and is left so).
    pub(super) async fn open_loaded(&self, key: &ChannelKey) -> Option<OpenChannel> {
        let slot = self.slots.get(key)?.value().clone();
        let guard = slot.lock_owned().await;
        OwnedMutexGuard::try_map(guard, Option::as_mut).ok()
    }

    /// How many channels are in memory (one being loaded or changed right now counts).
    pub(super) fn loaded(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.value().try_lock().map_or(true, |c| c.is_some()))
            .count()
    }

    /// Unload every channel unused for `idle` for which `busy` is false and no answer is in
    /// flight; returns how many were unloaded. A channel someone holds or waits for is left.
    pub(super) fn unload_idle(&self, idle: Duration, busy: impl Fn(&ChannelKey) -> bool) -> usize {
        let now = Instant::now();
        let slots: Vec<(ChannelKey, Slot)> = self
            .slots
            .iter()
            .map(|s| (s.key().clone(), s.value().clone()))
            .collect();
        let mut unloaded = 0;
        for (key, slot) in slots {
            if busy(&key) {
                continue;
            }
            let Ok(mut channel) = slot.try_lock() else {
                continue;
            };
            if let Some(c) = channel.as_ref() {
                if now.duration_since(c.last_active) < idle || !c.in_flight.ids().is_empty() {
                    continue;
                }
                unloaded += 1;
            }
            // Whoever takes the lock next loads the channel from the store again.
            *channel = None;
            // Drop the slot itself when nobody else has a handle on it (the map's and ours);
            // `remove_if` holds the shard, so no handle can be taken while it checks.
            self.slots.remove_if(&key, |_, s| {
                Arc::ptr_eq(s, &slot) && Arc::strong_count(s) == 2
            });
        }
        unloaded
    }
}
