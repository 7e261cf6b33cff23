//! Per-user rate limits: at most `bot.messages_per_minute` addressed messages in any minute.
//!
//! The first message over the limit in a minute is answered with a short line, so the user
//! knows why the bot went quiet; later ones are dropped silently, so the limit cannot be turned
//! into a way of making the bot spam.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::seam::Incoming;

/// The span a limit counts over.
const MINUTE: Duration = Duration::from_secs(60);

/// What the limit says about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RateCheck {
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
    /// When quiet windows were last dropped: at most once a minute, on a message, so the map
    /// shrinks even when no maintenance unloads channels (`unload_idle_minutes = 0`).
    pruned_at: Mutex<Instant>,
}

impl RateLimits {
    /// Limits of `per_minute` messages per user; 0 turns them off.
    pub(super) fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute as usize,
            windows: DashMap::new(),
            pruned_at: Mutex::new(Instant::now()),
        }
    }

    /// Count `message` against its author's limit.
    pub(super) fn check(&self, message: &Incoming) -> RateCheck {
        self.check_at(message, Instant::now())
    }

    /// [`Self::check`] at `now` (tests move the clock).
    fn check_at(&self, message: &Incoming, now: Instant) -> RateCheck {
        if self.per_minute == 0 {
            return RateCheck::Pass;
        }
        self.prune_due(now);
        let who = format!("{}:{}", message.key.platform.as_str(), message.author.id);
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
            return if first {
                RateCheck::Warn
            } else {
                RateCheck::Drop
            };
        }
        w.times.push_back(now);
        RateCheck::Pass
    }

    /// Drop the windows that say nothing any more (no message in the last minute).
    pub(super) fn forget_quiet(&self) {
        self.forget_quiet_at(Instant::now());
    }

    /// Drop the quiet windows when the last pruning is a minute old (before any entry is held:
    /// pruning locks the whole map).
    fn prune_due(&self, now: Instant) {
        let due = match self.pruned_at.lock() {
            Ok(mut at) if now.saturating_duration_since(*at) >= MINUTE => {
                *at = now;
                true
            }
            _ => false,
        };
        if due {
            self.forget_quiet_at(now);
        }
    }

    /// [`Self::forget_quiet`] at `now`.
    fn forget_quiet_at(&self, now: Instant) {
        self.windows.retain(|_, w| {
            w.times
                .back()
                .is_some_and(|t| now.duration_since(*t) < MINUTE)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::dm;

    #[test]
    fn quiet_users_are_forgotten_without_any_maintenance() {
        let limits = RateLimits::new(5);
        let start = Instant::now();
        for i in 0..100 {
            let user = format!("u{i}");
            assert_eq!(
                limits.check_at(&dm("d", &user, "hi"), start),
                RateCheck::Pass
            );
        }
        assert_eq!(limits.windows.len(), 100);
        let later = start + MINUTE + Duration::from_secs(1);
        assert_eq!(
            limits.check_at(&dm("d", "new", "hi"), later),
            RateCheck::Pass
        );
        assert_eq!(
            limits.windows.len(),
            1,
            "only the user who spoke this minute"
        );
    }
}
