//! One queue per chat between the poller and the core.
//!
//! The core's `handle` returns once a message is taken in, but taking it in may mean a reply
//! (a command's answer, "busy", "slow down"), and a reply to a throttled chat waits out
//! Telegram's `retry_after` (up to minutes). Awaited in the polling loop, that wait held up
//! every chat. So each chat gets its own queue and task: its messages reach the core in the
//! order they came, one after another, while other chats go on. A chat's task ends after
//! [`CHAT_IDLE`] without messages, so only active chats hold one.
//!
//! The poller confirms updates to Telegram as it fetches them; the queues remember which
//! update ids are not yet handed to the core ([`Chats::first_pending`]), so that at shutdown
//! nothing still queued is confirmed: Telegram delivers it again on the next start.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use parley_core::seam::{Handler, Incoming, Outbox};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, error, info, warn};

use crate::access::Access;
use crate::outbox::TelegramOutbox;

/// How long a chat's task waits for its next message before it ends.
pub(crate) const CHAT_IDLE: Duration = Duration::from_secs(60);
/// Messages one chat may have waiting; more are dropped with a warning (a chat this far behind
/// is flooding, or stuck behind a long rate limit).
const CHAT_BACKLOG: usize = 100;

/// One message waiting for its chat's turn.
struct Queued {
    update: i32,
    user: i64,
    incoming: Incoming,
}

/// The open queues and the updates not yet handed to the core.
#[derive(Default)]
struct State {
    queues: HashMap<i64, mpsc::Sender<Queued>>,
    pending: BTreeSet<i32>,
    closed: bool,
}

/// What every chat task needs.
struct Shared {
    handler: Arc<dyn Handler>,
    outbox: TelegramOutbox,
    access: Arc<Access>,
    idle: Duration,
    state: Mutex<State>,
    /// Woken whenever an update was handed to the core.
    handed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The per-chat queues (see the module docs).
pub(crate) struct Chats {
    shared: Arc<Shared>,
}

impl Chats {
    /// Queues handing messages to `handler`, answering through `outbox`; `access` marks group
    /// administrators.
    pub(crate) fn new(
        handler: Arc<dyn Handler>,
        outbox: TelegramOutbox,
        access: Arc<Access>,
        idle: Duration,
    ) -> Self {
        let shared = Arc::new(Shared {
            handler,
            outbox,
            access,
            idle,
            state: Mutex::new(State::default()),
            handed: Notify::new(),
        });
        Self { shared }
    }

    /// Queue `incoming` (from update `update`, by `user`) behind its chat's earlier messages.
    pub(crate) fn push(&self, chat: i64, update: i32, user: i64, incoming: Incoming) {
        let mut state = self.shared.lock();
        if state.closed {
            return;
        }
        let mut queued = Queued {
            update,
            user,
            incoming,
        };
        if let Some(tx) = state.queues.get(&chat) {
            match tx.try_send(queued) {
                Ok(()) => {
                    state.pending.insert(update);
                    return;
                }
                Err(mpsc::error::TrySendError::Full(q)) => {
                    warn!(channel = %q.incoming.key, update, "too many messages waiting in this chat; one dropped");
                    return;
                }
                // Its task has ended: start another.
                Err(mpsc::error::TrySendError::Closed(q)) => queued = q,
            }
        }
        let (tx, rx) = mpsc::channel(CHAT_BACKLOG);
        if tx.try_send(queued).is_ok() {
            state.pending.insert(update);
        }
        state.queues.insert(chat, tx);
        tokio::spawn(run_chat(self.shared.clone(), chat, rx));
    }

    /// The lowest update id queued and not yet handed to the core.
    pub(crate) fn first_pending(&self) -> Option<i32> {
        self.shared.lock().pending.first().copied()
    }

    /// How many chats have a task now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.shared.lock().queues.len()
    }

    /// Wait until every queued message is handed to the core, at most `limit`; then take no
    /// more. Messages still queued after that are never handed over (and, being pending, not
    /// confirmed: Telegram delivers them again on the next start).
    pub(crate) async fn finish(&self, limit: Duration) {
        let drained = async {
            loop {
                let handed = self.shared.handed.notified();
                tokio::pin!(handed);
                handed.as_mut().enable();
                if self.shared.lock().pending.is_empty() {
                    return;
                }
                handed.await;
            }
        };
        if tokio::time::timeout(limit, drained).await.is_err() {
            warn!(
                waiting = self.shared.lock().pending.len(),
                "messages still queued at shutdown are left for Telegram to deliver again"
            );
        }
        self.shared.lock().closed = true;
    }
}

/// One chat's task: hand its messages to the core in order; end when idle.
async fn run_chat(shared: Arc<Shared>, chat: i64, mut rx: mpsc::Receiver<Queued>) {
    loop {
        let next = match tokio::time::timeout(shared.idle, rx.recv()).await {
            Ok(Some(q)) => q,
            Ok(None) => return,
            Err(_) => {
                // Under the lock, so that nothing is pushed between the look and the removal.
                let mut state = shared.lock();
                match rx.try_recv() {
                    Ok(q) => q,
                    Err(_) => {
                        state.queues.remove(&chat);
                        debug!(chat, "chat idle; its queue closed");
                        return;
                    }
                }
            }
        };
        if shared.lock().closed {
            return;
        }
        let update = next.update;
        hand_over(&shared, chat, next).await;
        shared.lock().pending.remove(&update);
        shared.handed.notify_waiters();
    }
}

/// Mark a group administrator, then hand the message to the core.
async fn hand_over(shared: &Shared, chat: i64, queued: Queued) {
    let Queued {
        update,
        user,
        mut incoming,
    } = queued;
    if !incoming.author.is_platform_admin {
        incoming.author.is_platform_admin = shared
            .access
            .is_admin(&shared.outbox, chat, user, incoming.is_direct)
            .await;
    }
    info!(channel = %incoming.key, update, direct = incoming.is_direct, mention = incoming.mentions_bot, reply = incoming.reply_to_bot, "message");
    debug!(channel = %incoming.key, text = %incoming.text, "message text");
    let outbox: Arc<dyn Outbox> = Arc::new(shared.outbox.clone());
    let handler = shared.handler.clone();
    let key = incoming.key.clone();
    // In a task of its own so that a panic in the handler is logged instead of ending the
    // chat's queue.
    if let Err(e) = tokio::spawn(async move { handler.handle(incoming, outbox).await }).await {
        error!(channel = %key, error = %e, "the handler failed on a message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{telegram_outbox, Redactor};
    use crate::settings::TelegramSettings;
    use parley_core::seam::CommandInfo;

    /// Records the texts it is handed, in order.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl Handler for Recorder {
        async fn handle(&self, message: Incoming, _outbox: Arc<dyn Outbox>) {
            self.0.lock().unwrap().push(message.text);
        }
        fn commands(&self, _lang: parley_core::i18n::Language) -> Vec<CommandInfo> {
            Vec::new()
        }
        async fn shutdown(&self) {}
    }

    /// Paused time: the idle timers fire when the clock is advanced past them, not after a
    /// wall-clock wait that a loaded machine may overrun.
    #[tokio::test(start_paused = true)]
    async fn a_chat_keeps_its_order_and_an_idle_chat_closes_its_queue() {
        let settings = TelegramSettings::default();
        let outbox = telegram_outbox(teloxide::Bot::new("1:x"), &settings, Redactor::new("1:x"));
        let recorder = Arc::new(Recorder::default());
        let access = Arc::new(Access::new(&settings));
        let idle = Duration::from_millis(50);
        let chats = Chats::new(recorder.clone(), outbox, access, idle);
        for i in 0..5 {
            chats.push(
                1,
                i,
                1,
                parley_core::testing::dm("1", "1", &format!("a{i}")),
            );
        }
        chats.push(2, 5, 2, parley_core::testing::dm("2", "2", "b"));
        assert_eq!(chats.open(), 2);
        chats.finish(Duration::from_secs(5)).await;
        assert_eq!(chats.first_pending(), None);
        let texts = recorder.0.lock().unwrap().clone();
        let a: Vec<&String> = texts.iter().filter(|t| t.starts_with('a')).collect();
        assert_eq!(a, ["a0", "a1", "a2", "a3", "a4"]);
        assert_eq!(texts.len(), 6);
        assert_eq!(chats.open(), 2, "a queue stays open until it has been idle");
        // Paused, these sleeps end exactly at their deadlines: just before and just after the
        // chats' idle timers.
        tokio::time::sleep(idle - Duration::from_millis(1)).await;
        assert_eq!(chats.open(), 2, "not idle long enough yet");
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(chats.open(), 0, "idle chats end their tasks");
    }
}
