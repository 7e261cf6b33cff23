//! Who gets the engine next.
//!
//! Rules:
//! - one answer in flight per channel (a channel's answers come in order);
//! - at most `workers` answers in flight overall (for the local engine: its `max_batch`, see
//!   [`crate::engine::Engine::concurrent_answers`]);
//! - channels with waiting work take turns round-robin: a channel that just got an answer goes
//!   to the back of the line, so a chatty channel cannot starve a quiet one;
//! - waiting work is bounded per channel and in total; beyond that [`Scheduler::submit`] says
//!   [`Rejected::Busy`] and the caller answers politely;
//! - a newer job from the same author in the same channel replaces their waiting (not started)
//!   one in its place in the line ([`Admission::Replaced`]);
//! - [`Scheduler::cancel`] stops the channel's running job at once (its [`CancellationToken`]) and
//!   drops its waiting ones.
//!
//! Jobs are async closures receiving their cancel token; the scheduler spawns them on the
//! tokio runtime it is called from.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::config::SchedulerSettings;
use crate::seam::ChannelKey;
use tokio_util::sync::CancellationToken;

/// A unit of work: generate and deliver one answer.
pub type Job = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// How a submitted job was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Queued; `ahead` jobs of this channel (running or waiting) come first.
    Queued {
        /// Jobs of the same channel before it.
        ahead: usize,
    },
    /// It replaced a waiting job of the same author, which will not run.
    Replaced,
}

/// Why a job was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The channel's or the global queue is full.
    Busy,
    /// The scheduler is shutting down.
    Closed,
}

struct Pending {
    author: String,
    job: Job,
}

#[derive(Default)]
struct Channel {
    pending: VecDeque<Pending>,
    running: Option<CancellationToken>,
    /// The author of the running job.
    running_author: String,
}

#[derive(Default)]
struct State {
    channels: HashMap<ChannelKey, Channel>,
    /// Channels with waiting work and nothing running, in the order they get the engine.
    ready: VecDeque<ChannelKey>,
    queued: usize,
    in_flight: usize,
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
    limits: SchedulerSettings,
    idle: Notify,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The fair scheduler. Cheap to clone; clones share the queues.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.lock();
        f.debug_struct("Scheduler")
            .field("queued", &s.queued)
            .field("in_flight", &s.in_flight)
            .finish()
    }
}

/// Finishes a job's bookkeeping even if the job panics.
struct Finish {
    inner: Arc<Inner>,
    key: ChannelKey,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut s = self.inner.lock();
        s.in_flight -= 1;
        let mut requeue = false;
        let mut remove = false;
        if let Some(ch) = s.channels.get_mut(&self.key) {
            ch.running = None;
            requeue = !ch.pending.is_empty();
            remove = !requeue;
        }
        if requeue {
            s.ready.push_back(self.key.clone());
        } else if remove {
            s.channels.remove(&self.key);
        }
        Scheduler::pump(&self.inner, &mut s);
        drop(s);
        self.inner.idle.notify_waiters();
    }
}

impl Scheduler {
    /// A scheduler with these limits.
    pub fn new(limits: SchedulerSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                limits,
                idle: Notify::new(),
            }),
        }
    }

    /// Queue `job` for channel `key` on behalf of `author`. Must be called inside a tokio
    /// runtime (jobs are spawned on it).
    pub fn submit(&self, key: &ChannelKey, author: &str, job: Job) -> Result<Admission, Rejected> {
        let mut s = self.inner.lock();
        if s.closed {
            return Err(Rejected::Closed);
        }
        let limits = &self.inner.limits;
        let total_full = s.queued >= limits.queue_total;
        let ch = s.channels.entry(key.clone()).or_default();
        if let Some(p) = ch.pending.iter_mut().find(|p| p.author == author) {
            p.job = job;
            return Ok(Admission::Replaced);
        }
        if ch.pending.len() >= limits.queue_per_channel || total_full {
            if ch.pending.is_empty() && ch.running.is_none() {
                s.channels.remove(key);
            }
            return Err(Rejected::Busy);
        }
        let ahead = ch.pending.len() + usize::from(ch.running.is_some());
        let becomes_ready = ch.pending.is_empty() && ch.running.is_none();
        ch.pending.push_back(Pending {
            author: author.to_string(),
            job,
        });
        s.queued += 1;
        if becomes_ready {
            s.ready.push_back(key.clone());
        }
        Self::pump(&self.inner, &mut s);
        Ok(Admission::Queued { ahead })
    }

    /// Start waiting jobs while workers are free, taking channels in turn.
    fn pump(inner: &Arc<Inner>, s: &mut State) {
        // Without a runtime (being dropped at shutdown) nothing new starts.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        while s.in_flight < inner.limits.workers {
            let Some(key) = s.ready.pop_front() else {
                break;
            };
            let Some(ch) = s.channels.get_mut(&key) else {
                continue;
            };
            let Some(p) = ch.pending.pop_front() else {
                continue;
            };
            let token = CancellationToken::new();
            ch.running = Some(token.clone());
            ch.running_author = p.author;
            s.queued -= 1;
            s.in_flight += 1;
            let finish = Finish {
                inner: inner.clone(),
                key,
            };
            let fut = (p.job)(token);
            runtime.spawn(async move {
                let _finish = finish;
                fut.await;
            });
        }
    }

    /// `/cancel`: stop the channel's running job now and drop its waiting ones. Returns whether
    /// anything was stopped or dropped.
    pub fn cancel(&self, key: &ChannelKey) -> bool {
        let mut s = self.inner.lock();
        let Some(ch) = s.channels.get_mut(key) else {
            return false;
        };
        let dropped = ch.pending.len();
        ch.pending.clear();
        let running = ch.running.as_ref().inspect(|t| t.cancel()).is_some();
        if !running {
            s.channels.remove(key);
        }
        s.queued -= dropped;
        s.ready.retain(|k| k != key);
        drop(s);
        self.inner.idle.notify_waiters();
        running || dropped > 0
    }

    /// `/forget`: stop the channel's running job if `author` asked for it, and drop their waiting
    /// one. Returns whether their running job was stopped.
    pub fn cancel_author(&self, key: &ChannelKey, author: &str) -> bool {
        let mut s = self.inner.lock();
        let Some(ch) = s.channels.get_mut(key) else {
            return false;
        };
        let before = ch.pending.len();
        ch.pending.retain(|p| p.author != author);
        let dropped = before - ch.pending.len();
        let stopped = match &ch.running {
            Some(token) if ch.running_author == author => {
                token.cancel();
                true
            }
            _ => false,
        };
        if ch.pending.is_empty() {
            if ch.running.is_none() {
                s.channels.remove(key);
            }
            s.ready.retain(|k| k != key);
        }
        s.queued -= dropped;
        drop(s);
        self.inner.idle.notify_waiters();
        stopped
    }

    /// Whether the channel has an answer running or waiting.
    pub fn is_busy(&self, key: &ChannelKey) -> bool {
        self.inner.lock().channels.contains_key(key)
    }

    /// Jobs waiting (not started) across all channels.
    pub fn queued(&self) -> usize {
        self.inner.lock().queued
    }

    /// Jobs running.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().in_flight
    }

    /// Wait until nothing is running or waiting.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let s = self.inner.lock();
                if s.queued == 0 && s.in_flight == 0 {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Take no more jobs, cancel running ones, drop waiting ones, and wait for the running
    /// ones to end.
    pub async fn shutdown(&self) {
        {
            let mut s = self.inner.lock();
            s.closed = true;
            let mut dropped = 0;
            for ch in s.channels.values_mut() {
                dropped += ch.pending.len();
                ch.pending.clear();
                if let Some(t) = &ch.running {
                    t.cancel();
                }
            }
            s.queued -= dropped;
            s.ready.clear();
            s.channels.retain(|_, ch| ch.running.is_some());
        }
        self.inner.idle.notify_waiters();
        self.idle().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::Platform;
    use std::time::Duration;
    use tokio::sync::mpsc;

    fn key(i: usize) -> ChannelKey {
        ChannelKey::new(Platform::Test, format!("c{i}"))
    }

    fn limits(workers: usize, per: usize, total: usize) -> SchedulerSettings {
        SchedulerSettings {
            queue_per_channel: per,
            queue_total: total,
            workers,
        }
    }

    fn recording(tx: &mpsc::UnboundedSender<String>, label: String, ms: u64) -> Job {
        let tx = tx.clone();
        Box::new(move |_t| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let _ = tx.send(label);
            })
        })
    }

    #[tokio::test]
    async fn channels_take_turns() {
        let s = Scheduler::new(limits(1, 10, 100));
        let (tx, mut rx) = mpsc::unbounded_channel();
        // Channel 0 floods with 5 jobs (distinct authors), then 3 quiet channels ask once.
        for j in 0..5 {
            s.submit(
                &key(0),
                &format!("a{j}"),
                recording(&tx, format!("0.{j}"), 5),
            )
            .unwrap();
        }
        for c in 1..4 {
            s.submit(&key(c), "q", recording(&tx, format!("{c}.0"), 5))
                .unwrap();
        }
        s.idle().await;
        drop(tx);
        let mut order = Vec::new();
        while let Some(l) = rx.recv().await {
            order.push(l);
        }
        assert_eq!(
            order,
            ["0.0", "1.0", "2.0", "3.0", "0.1", "0.2", "0.3", "0.4"]
        );
    }

    #[tokio::test]
    async fn same_author_replaces_waiting_job_and_queues_are_bounded() {
        let s = Scheduler::new(limits(1, 2, 3));
        let (tx, mut rx) = mpsc::unbounded_channel();
        s.submit(&key(0), "a", recording(&tx, "first".into(), 20))
            .unwrap();
        assert_eq!(
            s.submit(&key(0), "a", recording(&tx, "second".into(), 1)),
            Ok(Admission::Queued { ahead: 1 })
        );
        assert_eq!(
            s.submit(&key(0), "a", recording(&tx, "third".into(), 1)),
            Ok(Admission::Replaced)
        );
        s.submit(&key(0), "b", recording(&tx, "b".into(), 1))
            .unwrap();
        assert_eq!(
            s.submit(&key(0), "c", recording(&tx, "c".into(), 1)),
            Err(Rejected::Busy)
        );
        s.submit(&key(1), "x", recording(&tx, "x".into(), 1))
            .unwrap();
        assert_eq!(
            s.submit(&key(2), "y", recording(&tx, "y".into(), 1)),
            Err(Rejected::Busy)
        );
        s.idle().await;
        drop(tx);
        let mut order = Vec::new();
        while let Some(l) = rx.recv().await {
            order.push(l);
        }
        assert_eq!(order, ["first", "x", "third", "b"]);
    }

    #[tokio::test]
    async fn cancel_stops_running_and_drops_waiting() {
        let s = Scheduler::new(limits(1, 5, 10));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let tx2 = tx.clone();
        s.submit(
            &key(0),
            "a",
            Box::new(move |t| {
                Box::pin(async move {
                    while !t.is_cancelled() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let _ = tx2.send("cancelled".to_string());
                })
            }),
        )
        .unwrap();
        s.submit(&key(0), "b", recording(&tx, "never".into(), 1))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(s.cancel(&key(0)));
        s.idle().await;
        drop(tx);
        assert_eq!(rx.recv().await.as_deref(), Some("cancelled"));
        assert_eq!(rx.recv().await, None);
        assert!(!s.is_busy(&key(0)));
    }

    #[tokio::test]
    async fn cancel_author_touches_only_that_authors_jobs() {
        let s = Scheduler::new(limits(1, 5, 10));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (tx2, held) = (tx.clone(), gate.clone());
        s.submit(
            &key(0),
            "a",
            Box::new(move |t| {
                Box::pin(async move {
                    while !t.is_cancelled() && held.try_acquire().is_err() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let _ = tx2.send(
                        if t.is_cancelled() {
                            "a stopped"
                        } else {
                            "a ran"
                        }
                        .into(),
                    );
                })
            }),
        )
        .unwrap();
        s.submit(&key(0), "b", recording(&tx, "b ran".into(), 0))
            .unwrap();
        s.submit(&key(0), "c", recording(&tx, "c ran".into(), 0))
            .unwrap();
        // `b` has nothing running: only their waiting job goes.
        assert!(!s.cancel_author(&key(0), "b"));
        assert_eq!(s.queued(), 1);
        // `a`'s running job is stopped; `c`'s still runs.
        assert!(s.cancel_author(&key(0), "a"));
        s.idle().await;
        drop(tx);
        let mut got = Vec::new();
        while let Some(m) = rx.recv().await {
            got.push(m);
        }
        assert_eq!(got, ["a stopped", "c ran"]);
        drop(gate);
    }

    /// Counts, per channel and overall, the jobs running now and the most ever running at once.
    #[derive(Default)]
    struct Concurrency {
        now: HashMap<ChannelKey, usize>,
        most: HashMap<ChannelKey, usize>,
        total_now: usize,
        total_most: usize,
        ran: usize,
    }

    /// A job of channel `key` that counts itself as running from the moment the scheduler
    /// starts it until `gate` lets it finish.
    fn counted(
        seen: &Arc<Mutex<Concurrency>>,
        gate: &Arc<tokio::sync::Semaphore>,
        key: ChannelKey,
    ) -> Job {
        let (seen, gate) = (seen.clone(), gate.clone());
        Box::new(move |_t| {
            // Called by the scheduler as it starts the job: counted before anything can end.
            {
                let mut c = seen.lock().unwrap();
                let now = c.now.entry(key.clone()).or_default();
                *now += 1;
                let now = *now;
                let most = c.most.entry(key.clone()).or_default();
                *most = (*most).max(now);
                c.total_now += 1;
                c.total_most = c.total_most.max(c.total_now);
            }
            Box::pin(async move {
                let _permit = gate.acquire().await;
                let mut c = seen.lock().unwrap();
                *c.now.entry(key).or_default() -= 1;
                c.total_now -= 1;
                c.ran += 1;
            })
        })
    }

    #[tokio::test]
    async fn several_workers_run_channels_in_parallel_but_one_per_channel() {
        let s = Scheduler::new(limits(4, 5, 50));
        let seen = Arc::new(Mutex::new(Concurrency::default()));
        // Closed until every job is submitted: whatever can run at once is running then.
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        // Three channels with three jobs each, one channel with one: four workers could run two
        // jobs of one channel if the scheduler let them.
        for c in 0..4 {
            let jobs = if c == 3 { 1 } else { 3 };
            for j in 0..jobs {
                s.submit(&key(c), &format!("{j}"), counted(&seen, &gate, key(c)))
                    .unwrap();
            }
        }
        let (in_flight, queued) = (s.in_flight(), s.queued());
        // Opened before asserting, so a failure reports instead of leaving jobs waiting.
        gate.add_permits(100);
        assert_eq!(in_flight, 4, "one job of each of the four channels");
        assert_eq!(queued, 6);
        s.idle().await;
        {
            let c = seen.lock().unwrap();
            assert_eq!(c.ran, 10);
            assert_eq!(c.total_most, 4, "four workers in use at once");
            for ch in 0..4 {
                assert_eq!(c.most[&key(ch)], 1, "channel {ch} ran two jobs at once");
            }
        }
        s.shutdown().await;
        assert_eq!(
            s.submit(
                &key(0),
                "a",
                recording(&mpsc::unbounded_channel().0, "z".into(), 1)
            ),
            Err(Rejected::Closed)
        );
    }

    #[tokio::test]
    async fn a_channel_waits_for_its_running_job_while_a_worker_is_free() {
        // Two workers, one busy channel: the second worker must stay idle rather than start the
        // channel's next job, and a job of another channel takes it at once.
        let s = Scheduler::new(limits(2, 5, 50));
        let seen = Arc::new(Mutex::new(Concurrency::default()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        for j in 0..3 {
            s.submit(&key(0), &format!("{j}"), counted(&seen, &gate, key(0)))
                .unwrap();
        }
        let one_channel = (s.in_flight(), s.queued());
        s.submit(&key(1), "x", counted(&seen, &gate, key(1)))
            .unwrap();
        let two_channels = (s.in_flight(), s.queued());
        gate.add_permits(100);
        assert_eq!(one_channel, (1, 2));
        assert_eq!(two_channels, (2, 2));
        s.idle().await;
        let c = seen.lock().unwrap();
        assert_eq!(c.ran, 4);
        assert_eq!(c.most[&key(0)], 1, "channel 0 ran two jobs at once");
    }
}
