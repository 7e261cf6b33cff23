//! The way back to Discord: [`DiscordOutbox`] for messages, [`InteractionOutbox`] for slash
//! commands, both on serenity's `Http`.
//!
//! Every message and edit carries an empty `allowed_mentions` (`parse: []`,
//! `replied_user: false`), so nothing the model writes (`@everyone`, `<@&role>`, `<@user>`) can
//! ping anyone. Texts longer than Discord's 2000 characters are split at a character boundary
//! (sends) or cut (edits), with a warning: the core normally splits first. Edits are throttled
//! per channel by [`EditThrottle`]. Failed calls are retried by [`RetryPolicy`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use parley_core::seam::{ChannelKey, Markup, MessageRef, Outbox, PlatformLimits};
use serenity::all::{
    ChannelId, CommandInteraction, CreateAllowedMentions, CreateInteractionResponseFollowup,
    CreateMessage, EditInteractionResponse, EditMessage, Http, Message, MessageId,
    MessageReference, MessageReferenceKind,
};
use serenity::http::HttpError;
use tokio::time::Instant;

use crate::settings::DiscordSettings;

/// Discord's longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// What the bot puts in place of an empty text (Discord rejects empty messages).
const EMPTY_PLACEHOLDER: &str = "\u{2026}";

/// `allowed_mentions` that allows nothing: no `@everyone`, no roles, no users, no reply ping.
pub fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
        .empty_users()
        .empty_roles()
        .replied_user(false)
}

/// Split `text` into parts of at most `max` characters, preferring a line break, then a space,
/// in the second half of each part; never inside a character.
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let cut = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..cut];
        let half = window.char_indices().nth(max / 2).map_or(0, |(i, _)| i);
        let at = window[half..]
            .rfind('\n')
            .or_else(|| window[half..].rfind(' '))
            .map_or(cut, |i| half + i + 1);
        parts.push(rest[..at].to_string());
        rest = &rest[at..];
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

/// `text` cut to at most `max` characters, ending in "…" when cut.
pub fn truncate_message(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('\u{2026}');
    s
}

fn non_empty(text: &str) -> &str {
    if text.trim().is_empty() {
        EMPTY_PLACEHOLDER
    } else {
        text
    }
}

/// How failed REST calls are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First back-off after a 5xx or network error; doubled each time.
    pub backoff: Duration,
    /// Longest back-off.
    pub backoff_max: Duration,
    /// Wait after a 429 that reached us (serenity's own rate limiter, when enabled, already
    /// honours `Retry-After`; with `DISCORD_API_BASE` it is disabled and the body's
    /// `retry_after` is not exposed by serenity's error, so this is the wait).
    pub rate_limit_wait: Duration,
}

impl RetryPolicy {
    /// From the settings.
    pub fn new(s: &DiscordSettings) -> Self {
        Self {
            max_retries: s.max_retries,
            backoff: Duration::from_millis(s.retry_backoff_ms),
            backoff_max: Duration::from_millis(s.retry_backoff_max_ms),
            rate_limit_wait: Duration::from_millis(s.rate_limit_wait_ms),
        }
    }

    /// Run `call` until it succeeds, fails for good, or the retries are spent. Errors are
    /// logged here; the caller gets a short [`parley_core::Error::Platform`].
    pub async fn run<T, F, Fut>(&self, what: &'static str, mut call: F) -> parley_core::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = serenity::Result<T>>,
    {
        let mut attempt = 0u32;
        let mut backoff = self.backoff;
        loop {
            let err = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wait = match classify(&err) {
                Failure::RateLimited => Some(self.rate_limit_wait),
                Failure::Transient => {
                    let w = backoff;
                    backoff = (backoff * 2).min(self.backoff_max);
                    Some(w)
                }
                Failure::Permanent => None,
            };
            match wait {
                Some(w) if attempt < self.max_retries => {
                    attempt += 1;
                    tracing::warn!(call = what, attempt, wait_ms = w.as_millis() as u64, error = %err, "discord call failed, retrying");
                    tokio::time::sleep(w).await;
                }
                _ => {
                    tracing::error!(call = what, attempts = attempt + 1, error = %err, "discord call failed, giving up");
                    return Err(parley_core::Error::Platform(format!(
                        "discord {what} failed"
                    )));
                }
            }
        }
    }
}

enum Failure {
    RateLimited,
    Transient,
    Permanent,
}

fn classify(e: &serenity::Error) -> Failure {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let s = r.status_code.as_u16();
            if s == 429 {
                Failure::RateLimited
            } else if s >= 500 {
                Failure::Transient
            } else {
                Failure::Permanent
            }
        }
        serenity::Error::Http(HttpError::Request(_)) => Failure::Transient,
        _ => Failure::Permanent,
    }
}

/// Channel count above which idle throttle slots are forgotten.
const PRUNE_AT: usize = 1024;

#[derive(Debug)]
struct SlotState {
    next_free: Instant,
    generation: u64,
    latest: HashMap<String, u64>,
}

#[derive(Debug)]
struct ChannelSlot {
    state: Mutex<SlotState>,
    sending: tokio::sync::Mutex<()>,
}

/// At most one edit per interval in each channel. An edit that waits for its turn is dropped
/// when a newer edit of the same message arrives meanwhile (the newer text includes it), so the
/// last text is always the one delivered, and the call that delivers it returns only after it
/// was delivered. Edits in one channel reach Discord in order.
#[derive(Debug)]
pub struct EditThrottle {
    interval: Duration,
    channels: Mutex<HashMap<String, Arc<ChannelSlot>>>,
}

impl EditThrottle {
    /// A throttle with this smallest gap between two edits in a channel.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            channels: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, channel: &str) -> Arc<ChannelSlot> {
        let mut map = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= PRUNE_AT && !map.contains_key(channel) {
            // Forget channels with nothing pending whose turn is long past.
            let now = Instant::now();
            map.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot.state.lock().map_or(true, |s| {
                        !s.latest.is_empty() || s.next_free + self.interval > now
                    })
            });
        }
        Arc::clone(map.entry(channel.to_string()).or_insert_with(|| {
            Arc::new(ChannelSlot {
                state: Mutex::new(SlotState {
                    next_free: Instant::now(),
                    generation: 0,
                    latest: HashMap::new(),
                }),
                sending: tokio::sync::Mutex::new(()),
            })
        }))
    }

    /// Run `edit` for `message` in `channel` when the channel's turn comes; returns `Ok(())`
    /// without running it when a newer edit of the same message superseded it.
    pub async fn run<F, Fut>(
        &self,
        channel: &str,
        message: &str,
        edit: F,
    ) -> parley_core::Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = parley_core::Result<()>>,
    {
        let slot = self.slot(channel);
        let mine = {
            let mut s = slot.state.lock().unwrap_or_else(|e| e.into_inner());
            s.generation += 1;
            let g = s.generation;
            s.latest.insert(message.to_string(), g);
            g
        };
        loop {
            let wait = {
                let mut s = slot.state.lock().unwrap_or_else(|e| e.into_inner());
                if s.latest.get(message) != Some(&mine) {
                    return Ok(());
                }
                let now = Instant::now();
                if s.next_free <= now {
                    s.next_free = now + self.interval;
                    None
                } else {
                    Some(s.next_free - now)
                }
            };
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => break,
            }
        }
        let _sending = slot.sending.lock().await;
        {
            let mut s = slot.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.latest.get(message) != Some(&mine) {
                return Ok(());
            }
            s.latest.remove(message);
        }
        edit().await
    }
}

fn channel_of(key: &ChannelKey) -> parley_core::Result<ChannelId> {
    let id = key.thread.as_deref().unwrap_or(&key.chat);
    parse_id(id).map(ChannelId::new)
}

fn parse_id(s: &str) -> parley_core::Result<u64> {
    s.parse::<u64>()
        .ok()
        .filter(|v| *v != 0)
        .ok_or_else(|| parley_core::Error::Platform(format!("not a discord id: {s:?}")))
}

/// Send `text` to `key` (a placeholder when it is blank) in parts of at most
/// [`MAX_MESSAGE_CHARS`], one after the other, with a warning when it has to be split.
/// `send_part` sends one part, given its index; the first message sent stands for the whole.
async fn send_parts<F, Fut>(
    key: &ChannelKey,
    text: &str,
    mut send_part: F,
) -> parley_core::Result<MessageRef>
where
    F: FnMut(usize, String) -> Fut,
    Fut: Future<Output = parley_core::Result<Message>>,
{
    let parts = split_message(non_empty(text), MAX_MESSAGE_CHARS);
    if parts.len() > 1 {
        tracing::warn!(channel = %key, parts = parts.len(), "text over 2000 characters handed to send; split");
    }
    let mut first = None;
    for (i, part) in parts.into_iter().enumerate() {
        let msg = send_part(i, part).await?;
        first.get_or_insert(msg.id);
    }
    let id = first.ok_or_else(|| parley_core::Error::Platform("nothing sent".into()))?;
    Ok(MessageRef {
        key: key.clone(),
        id: id.get().to_string(),
    })
}

/// The platform limits the adapter reports.
pub fn limits(edit_interval: Duration) -> PlatformLimits {
    PlatformLimits {
        max_message_chars: MAX_MESSAGE_CHARS,
        edit_interval,
        markup: Markup::DiscordMarkdown,
        supports_edit: true,
    }
}

/// [`Outbox`] for channel messages: sends reply to the triggering message.
#[derive(Debug, Clone)]
pub struct DiscordOutbox {
    http: Arc<Http>,
    retry: RetryPolicy,
    throttle: Arc<EditThrottle>,
    edit_interval: Duration,
}

impl DiscordOutbox {
    /// An outbox on `http`, sharing `throttle` with the other outboxes of the bot.
    pub fn new(
        http: Arc<Http>,
        retry: RetryPolicy,
        throttle: Arc<EditThrottle>,
        edit_interval: Duration,
    ) -> Self {
        Self {
            http,
            retry,
            throttle,
            edit_interval,
        }
    }
}

#[async_trait]
impl Outbox for DiscordOutbox {
    async fn send(
        &self,
        key: &ChannelKey,
        text: &str,
        reply_to: Option<&str>,
    ) -> parley_core::Result<MessageRef> {
        let channel = channel_of(key)?;
        let reference = reply_to.and_then(|r| parse_id(r).ok()).map(|mid| {
            MessageReference::new(MessageReferenceKind::Default, channel)
                .message_id(MessageId::new(mid))
                .fail_if_not_exists(false)
        });
        send_parts(key, text, |i, part| {
            let mut builder = CreateMessage::new()
                .content(part)
                .allowed_mentions(no_mentions());
            if i == 0 {
                if let Some(r) = &reference {
                    builder = builder.reference_message(r.clone());
                }
            }
            let http = Arc::clone(&self.http);
            async move {
                self.retry
                    .run("send", || {
                        let b = builder.clone();
                        let http = Arc::clone(&http);
                        async move { channel.send_message(&http, b).await }
                    })
                    .await
            }
        })
        .await
    }

    async fn edit(&self, msg: &MessageRef, text: &str) -> parley_core::Result<()> {
        let channel = channel_of(&msg.key)?;
        let mid = MessageId::new(parse_id(&msg.id)?);
        if text.chars().count() > MAX_MESSAGE_CHARS {
            tracing::warn!(channel = %msg.key, "text over 2000 characters handed to edit; cut");
        }
        let content = truncate_message(non_empty(text), MAX_MESSAGE_CHARS);
        let builder = EditMessage::new()
            .content(content)
            .allowed_mentions(no_mentions());
        let http = Arc::clone(&self.http);
        self.throttle
            .run(&channel.to_string(), &msg.id, || async move {
                self.retry
                    .run("edit", || {
                        let b = builder.clone();
                        let http = Arc::clone(&http);
                        async move { channel.edit_message(&http, mid, b).await }
                    })
                    .await
                    .map(drop)
            })
            .await
    }

    async fn typing(&self, key: &ChannelKey) -> parley_core::Result<()> {
        let channel = channel_of(key)?;
        let once = RetryPolicy {
            max_retries: 0,
            ..self.retry
        };
        let http = Arc::clone(&self.http);
        once.run("typing", || {
            let http = Arc::clone(&http);
            async move { channel.broadcast_typing(&http).await }
        })
        .await
    }

    fn limits(&self) -> PlatformLimits {
        limits(self.edit_interval)
    }
}

/// [`Outbox`] answering one slash-command interaction, which the adapter has already deferred
/// ("thinking…"): the first send fills the original response, later sends are follow-ups.
#[derive(Debug)]
pub struct InteractionOutbox {
    http: Arc<Http>,
    interaction: CommandInteraction,
    retry: RetryPolicy,
    throttle: Arc<EditThrottle>,
    edit_interval: Duration,
    original: Mutex<Option<String>>,
}

impl InteractionOutbox {
    /// An outbox for `interaction`.
    pub fn new(
        http: Arc<Http>,
        interaction: CommandInteraction,
        retry: RetryPolicy,
        throttle: Arc<EditThrottle>,
        edit_interval: Duration,
    ) -> Self {
        Self {
            http,
            interaction,
            retry,
            throttle,
            edit_interval,
            original: Mutex::new(None),
        }
    }

    fn original_id(&self) -> Option<String> {
        self.original
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn edit_original(&self, content: &str) -> parley_core::Result<Message> {
        let builder = EditInteractionResponse::new()
            .content(content)
            .allowed_mentions(no_mentions());
        self.retry
            .run("edit interaction response", || {
                let b = builder.clone();
                async move { self.interaction.edit_response(&self.http, b).await }
            })
            .await
    }
}

#[async_trait]
impl Outbox for InteractionOutbox {
    async fn send(
        &self,
        key: &ChannelKey,
        text: &str,
        _reply_to: Option<&str>,
    ) -> parley_core::Result<MessageRef> {
        send_parts(key, text, |_, part| async move {
            if self.original_id().is_none() {
                let m = self.edit_original(&part).await?;
                *self.original.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(m.id.get().to_string());
                Ok(m)
            } else {
                let builder = CreateInteractionResponseFollowup::new()
                    .content(part)
                    .allowed_mentions(no_mentions());
                self.retry
                    .run("interaction follow-up", || {
                        let b = builder.clone();
                        async move { self.interaction.create_followup(&self.http, b).await }
                    })
                    .await
            }
        })
        .await
    }

    async fn edit(&self, msg: &MessageRef, text: &str) -> parley_core::Result<()> {
        let content = truncate_message(non_empty(text), MAX_MESSAGE_CHARS);
        let channel = self.interaction.channel_id.to_string();
        let is_original = self.original_id().as_deref() == Some(msg.id.as_str());
        let mid = MessageId::new(parse_id(&msg.id)?);
        self.throttle
            .run(&channel, &msg.id, || async move {
                if is_original {
                    self.edit_original(&content).await.map(drop)
                } else {
                    let builder = CreateInteractionResponseFollowup::new()
                        .content(content.as_str())
                        .allowed_mentions(no_mentions());
                    self.retry
                        .run("edit interaction follow-up", || {
                            let b = builder.clone();
                            async move { self.interaction.edit_followup(&self.http, mid, b).await }
                        })
                        .await
                        .map(drop)
                }
            })
            .await
    }

    async fn typing(&self, _key: &ChannelKey) -> parley_core::Result<()> {
        // The deferred response already shows "thinking…".
        Ok(())
    }

    fn limits(&self) -> PlatformLimits {
        limits(self.edit_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_never_exceeds_the_limit_and_loses_nothing() {
        let text = "ab\u{e9}\u{1F600} ".repeat(1000) + "\nend";
        let parts = split_message(&text, 2000);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.chars().count() <= 2000));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn split_prefers_line_breaks() {
        let text = format!("{}\n{}", "a".repeat(1500), "b".repeat(1000));
        let parts = split_message(&text, 2000);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(1500)));
        assert_eq!(parts[1], "b".repeat(1000));
    }

    #[test]
    fn split_of_short_or_empty_text_is_one_part() {
        assert_eq!(split_message("hi", 2000), vec!["hi"]);
        assert_eq!(split_message("", 2000), vec![""]);
    }

    #[test]
    fn truncate_cuts_at_a_char_boundary_with_an_ellipsis() {
        let t = truncate_message(&"\u{1F600}".repeat(2500), 2000);
        assert_eq!(t.chars().count(), 2000);
        assert!(t.ends_with('\u{2026}'));
        assert_eq!(truncate_message("short", 2000), "short");
    }

    #[test]
    fn allowed_mentions_allow_nothing() {
        let v = serde_json::to_value(no_mentions()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "parse": [], "users": [], "roles": [], "replied_user": false })
        );
    }

    #[tokio::test]
    async fn throttle_merges_intermediate_edits_and_delivers_the_last() {
        let t = Arc::new(EditThrottle::new(Duration::from_millis(500)));
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (t, d) = (Arc::clone(&t), Arc::clone(&delivered));
            tasks.push(tokio::spawn(async move {
                t.run("c", "m", || async move {
                    d.lock().unwrap().push(i);
                    Ok(())
                })
                .await
            }));
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let d = delivered.lock().unwrap().clone();
        assert_eq!(d.first(), Some(&0));
        assert_eq!(d.last(), Some(&4));
        assert!(d.len() <= 2, "{d:?}");
    }

    #[tokio::test]
    async fn throttle_spaces_edits_in_one_channel() {
        let t = EditThrottle::new(Duration::from_millis(200));
        let start = Instant::now();
        t.run("c", "m1", || async { Ok(()) }).await.unwrap();
        t.run("c", "m2", || async { Ok(()) }).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(200));
        // Another channel is not held back.
        let before = Instant::now();
        t.run("other", "m3", || async { Ok(()) }).await.unwrap();
        assert!(before.elapsed() < Duration::from_millis(100));
    }
}
