//! Per-user rate limits: at most `bot.messages_per_minute` addressed messages in any minute.
//!
//! The first message over the limit in a minute is answered with a short line, so the user
//! knows why the bot went quiet; later ones are dropped silently, so the limit cannot be turned
//! into a way of making the bot spam.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::seam::{Incoming, Platform};

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
    /// The limit in force (`bot.messages_per_minute`, reloaded live).
    per_minute: AtomicUsize,
    windows: DashMap<String, Window>,
    /// When quiet windows were last dropped: at most once a minute, on a message, so the map
    /// shrinks even when no maintenance unloads channels (`unload_idle_minutes = 0`).
    pruned_at: Mutex<Instant>,
}

impl RateLimits {
    /// Limits of `per_minute` messages per user; 0 turns them off.
    pub(super) fn new(per_minute: u32) -> Self {
        Self {
            per_minute: AtomicUsize::new(per_minute as usize),
            windows: DashMap::new(),
            pruned_at: Mutex::new(Instant::now()),
        }
    }

    /// A new limit (a reloaded `bot.messages_per_minute`); windows so far count against it.
    pub(super) fn set_per_minute(&self, per_minute: u32) {
        self.per_minute
            .store(per_minute as usize, Ordering::Relaxed);
    }

    /// Count `message` against its author's limit.
    pub(super) fn check(&self, message: &Incoming) -> RateCheck {
        self.check_at(message, Instant::now())
    }

    /// [`Self::check`] at `now` (tests move the clock).
    fn check_at(&self, message: &Incoming, now: Instant) -> RateCheck {
        let per_minute = self.per_minute.load(Ordering::Relaxed);
        if per_minute == 0 {
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
        if w.times.len() >= per_minute {
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

    /// Whether `user` of `platform` may send one more message now (nothing is counted).
    pub(super) fn would_pass(&self, platform: Platform, user: &str) -> bool {
        self.would_pass_at(platform, user, Instant::now())
    }

    /// [`Self::would_pass`] at `now`.
    fn would_pass_at(&self, platform: Platform, user: &str, now: Instant) -> bool {
        let per_minute = self.per_minute.load(Ordering::Relaxed);
        if per_minute == 0 {
            return true;
        }
        let who = format!("{}:{user}", platform.as_str());
        self.windows.get(&who).is_none_or(|w| {
            let recent = w.times.iter().filter(|t| now.duration_since(**t) < MINUTE);
            recent.count() < per_minute
        })
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

/// How often a user may `/export`, in seconds.
pub(super) const EXPORT_EVERY_SECS: i64 = 3600;

/// When each user last got an `/export` (platform, user id → Unix seconds).
#[derive(Default)]
pub(super) struct ExportTimes(Mutex<HashMap<(Platform, String), i64>>);

impl ExportTimes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Platform, String), i64>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seconds the user must still wait at `now` (0: they may export).
    pub(super) fn wait(&self, user: &(Platform, String), now: i64) -> i64 {
        self.lock()
            .get(user)
            .map_or(0, |last| (last + EXPORT_EVERY_SECS - now).max(0))
    }

    pub(super) fn record(&self, user: (Platform, String), now: i64) {
        let mut times = self.lock();
        // Entries older than the hour say nothing any more.
        times.retain(|_, last| now - *last < EXPORT_EVERY_SECS);
        times.insert(user, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::dm;

    #[test]
    fn asking_whether_a_user_is_within_the_limit_counts_nothing() {
        let limits = RateLimits::new(2);
        let start = Instant::now();
        let (p, user) = (Platform::Test, "u");
        for _ in 0..5 {
            assert!(limits.would_pass_at(p, user, start));
        }
        assert_eq!(limits.check_at(&dm("d", user, "a"), start), RateCheck::Pass);
        assert!(limits.would_pass_at(p, user, start));
        assert_eq!(limits.check_at(&dm("d", user, "b"), start), RateCheck::Pass);
        assert!(!limits.would_pass_at(p, user, start));
        assert!(limits.would_pass_at(p, "other", start));
        assert!(limits.would_pass_at(p, user, start + MINUTE));
    }

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
