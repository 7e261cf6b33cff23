//! [`TelegramOutbox`]: the core's [`Outbox`] on teloxide's [`Bot`].
//!
//! Every call goes through [`RetryPolicy`]: a 429 waits the `retry_after` Telegram asks for,
//! network errors and 5xx are retried with exponential backoff, anything else fails at once.
//! Text is sent without a parse mode by default, so model output can never make a send fail; in
//! HTML mode a "can't parse entities" rejection is answered by resending the raw text plainly.
//! Edits are throttled per chat; an edit superseded by a newer one for the same message while it
//! waits is skipped, so the latest (final) text always lands.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_core::seam::{ChannelKey, Markup, MessageRef, Outbox, PlatformLimits};
use teloxide::payloads::{EditMessageTextSetters, SendChatActionSetters, SendMessageSetters};
use teloxide::prelude::Requester;
use teloxide::requests::Request;
use teloxide::types::{ChatAction, ChatId, Message, MessageId, ReplyParameters, ThreadId};
use teloxide::{ApiError, Bot, RequestError};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::settings::{ParseMode, TelegramSettings};
use crate::text::{render_html, split_message, truncate_utf16, utf16_len};

/// Telegram's longest message, in UTF-16 code units (what the Bot API counts).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// What is sent instead of an empty text (Telegram rejects empty messages).
const EMPTY_PLACEHOLDER: &str = "…";

/// Removes the bot token from error texts: reqwest errors carry the request URL, which holds it.
#[derive(Clone)]
pub struct Redactor {
    token: Arc<str>,
}

impl Redactor {
    /// A redactor for `token`.
    pub fn new(token: &str) -> Self {
        Self {
            token: Arc::from(token),
        }
    }

    /// `err` and its sources as one line ("a: b: c"), with the token replaced by `<token>`.
    pub fn text(&self, err: &dyn std::error::Error) -> String {
        let mut s = err.to_string();
        let mut source = err.source();
        while let Some(e) = source {
            let next = e.to_string();
            if !s.contains(&next) {
                s.push_str(": ");
                s.push_str(&next);
            }
            source = e.source();
        }
        if self.token.is_empty() {
            s
        } else {
            s.replace(&*self.token, "<token>")
        }
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(<token>)")
    }
}

/// Whether an error is worth retrying: the network, or Telegram's side (5xx, garbled answers).
pub fn is_transient(err: &RequestError) -> bool {
    match err {
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => true,
        // teloxide drops the status code; 5xx answers keep their reason phrase as description.
        RequestError::Api(ApiError::Unknown(description)) => {
            let d = description.to_ascii_lowercase();
            [
                "internal server error",
                "bad gateway",
                "service unavailable",
                "gateway timeout",
            ]
            .iter()
            .any(|p| d.contains(p))
        }
        _ => false,
    }
}

/// How Bot API calls are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts on transient errors before giving up.
    pub max_attempts: u32,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Longest `retry_after` honoured; longer asks fail the call.
    pub max_retry_after: Duration,
    /// How many 429s in a row are waited out before giving up.
    pub max_rate_limited: u32,
    /// Token remover for log lines.
    pub redactor: Redactor,
}

impl RetryPolicy {
    /// The policy from settings.
    pub fn from_settings(settings: &TelegramSettings, redactor: Redactor) -> Self {
        Self {
            max_attempts: settings.max_attempts.max(1),
            initial_backoff: Duration::from_millis(settings.backoff_initial_ms),
            max_backoff: Duration::from_millis(settings.backoff_max_ms),
            max_retry_after: Duration::from_secs(settings.max_retry_after_secs),
            max_rate_limited: 10,
            redactor,
        }
    }

    /// Run `call` until it succeeds, fails for good, or the attempts are spent.
    pub async fn run<T, F, Fut>(&self, what: &'static str, mut call: F) -> Result<T, RequestError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RequestError>>,
    {
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        let mut backoff = self.initial_backoff;
        loop {
            match call().await {
                Ok(v) => {
                    if failures > 0 || rate_limited > 0 {
                        info!(
                            call = what,
                            failures, rate_limited, "Bot API call succeeded after retrying"
                        );
                    }
                    return Ok(v);
                }
                Err(RequestError::RetryAfter(after)) => {
                    rate_limited += 1;
                    let wait = after.duration();
                    if wait > self.max_retry_after || rate_limited > self.max_rate_limited {
                        warn!(
                            call = what,
                            retry_after_s = after.seconds(),
                            "rate limited for too long; giving up"
                        );
                        return Err(RequestError::RetryAfter(after));
                    }
                    warn!(
                        call = what,
                        retry_after_s = after.seconds(),
                        "rate limited by Telegram; waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) if is_transient(&e) => {
                    failures += 1;
                    if failures >= self.max_attempts {
                        warn!(call = what, failures, error = %self.redactor.text(&e), "Bot API call failed; giving up");
                        return Err(e);
                    }
                    warn!(call = what, failures, backoff_ms = backoff.as_millis() as u64, error = %self.redactor.text(&e), "Bot API call failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// At most one edit per interval per chat; a waiting edit that a newer edit of the same message
/// supersedes is dropped.
#[derive(Debug)]
struct EditThrottle {
    interval: Duration,
    seq: AtomicU64,
    chats: Mutex<HashMap<String, ChatSlot>>,
}

#[derive(Debug)]
struct ChatSlot {
    /// When the next edit in this chat may go out.
    next_at: Instant,
    /// The newest waiting edit of each message, by sequence number.
    latest: HashMap<String, u64>,
}

impl EditThrottle {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            seq: AtomicU64::new(0),
            chats: Mutex::new(HashMap::new()),
        }
    }

    /// Wait for this chat's next edit slot. `false`: a newer edit of the message took over.
    async fn acquire(&self, chat: &str, message: &str) -> bool {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        {
            let mut chats = self.chats.lock().unwrap_or_else(|p| p.into_inner());
            if chats.len() > 10_000 {
                let now = Instant::now();
                chats.retain(|_, s| s.next_at > now || !s.latest.is_empty());
            }
            let slot = chats.entry(chat.to_owned()).or_insert_with(|| ChatSlot {
                next_at: Instant::now(),
                latest: HashMap::new(),
            });
            slot.latest.insert(message.to_owned(), seq);
        }
        loop {
            let wait_until = {
                let mut chats = self.chats.lock().unwrap_or_else(|p| p.into_inner());
                let Some(slot) = chats.get_mut(chat) else {
                    return true;
                };
                if slot.latest.get(message) != Some(&seq) {
                    return false;
                }
                let now = Instant::now();
                if now >= slot.next_at {
                    slot.next_at = now + self.interval;
                    slot.latest.remove(message);
                    return true;
                }
                slot.next_at
            };
            tokio::time::sleep_until(wait_until).await;
        }
    }
}

/// The core's outbox on Telegram.
#[derive(Debug, Clone)]
pub struct TelegramOutbox {
    inner: Arc<OutboxInner>,
}

#[derive(Debug)]
struct OutboxInner {
    bot: Bot,
    parse_mode: ParseMode,
    edit_interval: Duration,
    retry: RetryPolicy,
    throttle: EditThrottle,
}

fn platform_error(redactor: &Redactor, what: &str, e: &RequestError) -> parley_core::Error {
    parley_core::Error::Platform(format!("telegram {what}: {}", redactor.text(e)))
}

fn bad_id(what: &str, value: &str) -> parley_core::Error {
    parley_core::Error::Platform(format!("telegram: `{value}` is not a {what} id"))
}

fn chat_of(key: &ChannelKey) -> parley_core::Result<(ChatId, Option<ThreadId>)> {
    let chat = key
        .chat
        .parse::<i64>()
        .map_err(|_| bad_id("chat", &key.chat))?;
    let thread = match &key.thread {
        Some(t) => Some(ThreadId(MessageId(
            t.parse::<i32>().map_err(|_| bad_id("thread", t))?,
        ))),
        None => None,
    };
    Ok((ChatId(chat), thread))
}

impl TelegramOutbox {
    /// An outbox sending through `bot` with the retry, formatting and throttling `settings` ask for.
    pub fn new(bot: Bot, settings: &TelegramSettings, redactor: Redactor) -> Self {
        Self {
            inner: Arc::new(OutboxInner {
                bot,
                parse_mode: settings.parse_mode,
                edit_interval: settings.edit_interval(),
                retry: RetryPolicy::from_settings(settings, redactor),
                throttle: EditThrottle::new(settings.edit_interval()),
            }),
        }
    }

    /// The retry policy every call uses (the poller shares it).
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// Send one message of at most [`MAX_MESSAGE_LEN`]; formatting falls back to plain text.
    async fn send_one(
        &self,
        chat: ChatId,
        thread: Option<ThreadId>,
        text: &str,
        reply_to: Option<MessageId>,
    ) -> Result<Message, RequestError> {
        let inner = &self.inner;
        let request = |chat: ChatId, formatted: bool| {
            let mut req = if formatted {
                inner
                    .bot
                    .send_message(chat, render_html(text))
                    .parse_mode(teloxide::types::ParseMode::Html)
            } else {
                inner.bot.send_message(chat, text)
            };
            if let Some(t) = thread {
                req = req.message_thread_id(t);
            }
            if let Some(r) = reply_to {
                req = req.reply_parameters(ReplyParameters::new(r).allow_sending_without_reply());
            }
            req
        };
        let formatted = inner.parse_mode == ParseMode::Html;
        let mut chat = chat;
        let mut migrated = false;
        let mut plain_resent = false;
        let mut use_format = formatted;
        loop {
            let result = inner
                .retry
                .run("sendMessage", || request(chat, use_format).send())
                .await;
            match result {
                Err(RequestError::Api(ApiError::CantParseEntities(_))) if !plain_resent => {
                    warn!(
                        chat = chat.0,
                        "Telegram rejected the message's entities; resending as plain text"
                    );
                    plain_resent = true;
                    use_format = false;
                }
                Err(RequestError::MigrateToChatId(new_chat)) if !migrated => {
                    info!(
                        from = chat.0,
                        to = new_chat.0,
                        "group became a supergroup; sending there"
                    );
                    migrated = true;
                    chat = new_chat;
                }
                other => return other,
            }
        }
    }

    async fn edit_one(&self, chat: ChatId, id: MessageId, text: &str) -> Result<(), RequestError> {
        let inner = &self.inner;
        let mut use_format = inner.parse_mode == ParseMode::Html;
        loop {
            let result = inner
                .retry
                .run("editMessageText", || {
                    if use_format {
                        inner
                            .bot
                            .edit_message_text(chat, id, render_html(text))
                            .parse_mode(teloxide::types::ParseMode::Html)
                            .send()
                    } else {
                        inner.bot.edit_message_text(chat, id, text).send()
                    }
                })
                .await;
            match result {
                Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => return Ok(()),
                Err(RequestError::Api(ApiError::CantParseEntities(_))) if use_format => {
                    warn!(
                        chat = chat.0,
                        "Telegram rejected the edit's entities; resending as plain text"
                    );
                    use_format = false;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait::async_trait]
impl Outbox for TelegramOutbox {
    async fn send(
        &self,
        key: &ChannelKey,
        text: &str,
        reply_to: Option<&str>,
    ) -> parley_core::Result<MessageRef> {
        let (chat, thread) = chat_of(key)?;
        let reply_to = reply_to.and_then(|r| r.parse::<i32>().ok()).map(MessageId);
        let text = if text.trim().is_empty() {
            debug!(channel = %key, "empty text; sending a placeholder");
            EMPTY_PLACEHOLDER
        } else {
            text
        };
        let parts = split_message(text, MAX_MESSAGE_LEN);
        if parts.len() > 1 {
            warn!(channel = %key, len = utf16_len(text), parts = parts.len(), "text over Telegram's limit; splitting it");
        }
        let mut last = None;
        for (i, part) in parts.iter().enumerate() {
            let reply = if i == 0 { reply_to } else { None };
            let message = self
                .send_one(chat, thread, part, reply)
                .await
                .map_err(|e| platform_error(&self.inner.retry.redactor, "sendMessage", &e))?;
            last = Some(message.id);
        }
        debug!(channel = %key, parts = parts.len(), "sent");
        let id = last.map(|m| m.0.to_string()).unwrap_or_default();
        Ok(MessageRef {
            key: key.clone(),
            id,
        })
    }

    async fn edit(&self, msg: &MessageRef, text: &str) -> parley_core::Result<()> {
        let (chat, _) = chat_of(&msg.key)?;
        let id = MessageId(
            msg.id
                .parse::<i32>()
                .map_err(|_| bad_id("message", &msg.id))?,
        );
        let text = if text.trim().is_empty() {
            EMPTY_PLACEHOLDER
        } else {
            text
        };
        let text = match truncate_utf16(text, MAX_MESSAGE_LEN) {
            Some(short) => {
                warn!(channel = %msg.key, len = utf16_len(text), "edit over Telegram's limit; truncating it");
                short
            }
            None => text,
        };
        if !self.inner.throttle.acquire(&msg.key.chat, &msg.id).await {
            debug!(channel = %msg.key, "edit superseded by a newer one; skipped");
            return Ok(());
        }
        self.edit_one(chat, id, text)
            .await
            .map_err(|e| platform_error(&self.inner.retry.redactor, "editMessageText", &e))
    }

    async fn typing(&self, key: &ChannelKey) -> parley_core::Result<()> {
        let (chat, thread) = chat_of(key)?;
        let mut req = self.inner.bot.send_chat_action(chat, ChatAction::Typing);
        if let Some(t) = thread {
            req = req.message_thread_id(t);
        }
        // "Typing…" is a courtesy: one try, never waiting out a rate limit for it.
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                debug!(channel = %key, error = %self.inner.retry.redactor.text(&e), "typing action failed");
                Err(platform_error(
                    &self.inner.retry.redactor,
                    "sendChatAction",
                    &e,
                ))
            }
        }
    }

    fn limits(&self) -> PlatformLimits {
        PlatformLimits {
            max_message_chars: MAX_MESSAGE_LEN,
            edit_interval: self.inner.edit_interval,
            markup: Markup::TelegramPlain,
            supports_edit: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn throttle_spaces_edits_and_skips_superseded_ones() {
        let t = Arc::new(EditThrottle::new(Duration::from_millis(200)));
        let start = Instant::now();
        assert!(t.acquire("c", "m").await, "the first edit goes at once");
        assert!(start.elapsed() < Duration::from_millis(100));
        let t2 = t.clone();
        let waiting = tokio::spawn(async move { t2.acquire("c", "m").await });
        tokio::task::yield_now().await;
        let t3 = t.clone();
        let newer = tokio::spawn(async move { t3.acquire("c", "m").await });
        assert!(!waiting.await.unwrap(), "the older waiting edit is dropped");
        assert!(newer.await.unwrap(), "the newest edit is delivered");
        assert!(start.elapsed() >= Duration::from_millis(200));
        // Another chat is not held up.
        let before = Instant::now();
        assert!(t.acquire("other", "m").await);
        assert!(before.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn retry_policy_gives_up_after_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(5),
            max_rate_limited: 3,
            redactor: Redactor::new("secret"),
        };
        let mut calls = 0;
        let r: Result<(), _> = policy
            .run("x", || {
                calls += 1;
                async {
                    Err(RequestError::Api(ApiError::Unknown(
                        "Internal Server Error".into(),
                    )))
                }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r: Result<(), _> = policy
            .run("x", || {
                calls += 1;
                async { Err(RequestError::Api(ApiError::ChatNotFound)) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 1, "permanent errors are not retried");
    }

    #[test]
    fn limits_are_telegrams() {
        let settings = TelegramSettings {
            edit_interval_ms: 1500,
            ..TelegramSettings::default()
        };
        let outbox = TelegramOutbox::new(Bot::new("1:x"), &settings, Redactor::new("1:x"));
        let limits = outbox.limits();
        assert_eq!(limits.max_message_chars, 4096);
        assert_eq!(limits.edit_interval, Duration::from_millis(1500));
        assert_eq!(limits.markup, Markup::TelegramPlain);
        assert!(limits.supports_edit);
    }

    #[tokio::test]
    async fn foreign_keys_are_errors_not_panics() {
        let outbox = TelegramOutbox::new(
            Bot::new("1:x"),
            &TelegramSettings::default(),
            Redactor::new("1:x"),
        );
        let key = ChannelKey::new(parley_core::seam::Platform::Telegram, "not-a-number");
        assert!(outbox.send(&key, "hi", None).await.is_err());
        assert!(outbox.typing(&key).await.is_err());
        let msg = MessageRef {
            key: ChannelKey::new(parley_core::seam::Platform::Telegram, "1"),
            id: "x".into(),
        };
        assert!(outbox.edit(&msg, "hi").await.is_err());
    }

    #[test]
    fn redactor_hides_the_token() {
        let r = Redactor::new("123:ABC");
        let inner = std::io::Error::other("connect to http://x/bot123:ABC/GetMe refused");
        let outer = RequestError::Io(Arc::new(inner));
        let text = r.text(&outer);
        assert!(text.contains("http://x/bot<token>/GetMe"), "{text}");
        assert!(!text.contains("123:ABC"), "{text}");
    }
}
