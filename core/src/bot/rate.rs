//! Per-user rate limits: at most `bot.messages_per_minute` addressed messages in any minute.
//!
//! The first message over the limit in a minute is answered with a short line, so the user
//! knows why the bot went quiet; later ones are dropped silently, so the limit cannot be turned
//! into a way of making the bot spam.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::seam::Incoming;

/// The span a limit counts over.
const MINUTE: Duration = Duration::from_secs(60);

/// What the limit says about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Within the limit: handle it.
    Pass,
    /// The first message over the limit this minute: drop it and tell the user.
    Warn,
    /// Over the limit and already told: drop it without a word.
    Drop,
}

/// One user's recent messages.
#[derive(Default)]
struct Window {
    times: VecDeque<Instant>,
    warned: bool,
}

/// Every user's window, keyed by platform and user id.
pub(super) struct RateLimits {
    per_minute: usize,
    windows: DashMap<String, Window>,
}

impl RateLimits {
    /// Limits of `per_minute` messages per user; 0 turns them off.
    pub(super) fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute as usize,
            windows: DashMap::new(),
        }
    }

    /// Count `message` against its author's limit.
    pub(super) fn check(&self, message: &Incoming) -> Verdict {
        if self.per_minute == 0 {
            return Verdict::Pass;
        }
        let who = format!("{}:{}", message.key.platform.as_str(), message.author.id);
        let now = Instant::now();
        let mut w = self.windows.entry(who).or_default();
        while w
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= MINUTE)
        {
            w.times.pop_front();
        }
        if w.times.is_empty() {
            w.warned = false;
        }
        if w.times.len() >= self.per_minute {
            let first = !w.warned;
            w.warned = true;
            return if first { Verdict::Warn } else { Verdict::Drop };
        }
        w.times.push_back(now);
        Verdict::Pass
    }

    /// Drop the windows that say nothing any more (no message in the last minute).
    pub(super) fn forget_quiet(&self) {
        let now = Instant::now();
        self.windows.retain(|_, w| {
            w.times
                .back()
                .is_some_and(|t| now.duration_since(*t) < MINUTE)
        });
    }
}
