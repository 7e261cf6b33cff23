//! What every adapter needs on the way out, written once.
//!
//! An adapter implements [`Client`]: how it reads a channel key and a message id, and one
//! attempt at each platform call (send one part, edit one message, show typing). Its
//! [`Client::Judge`] ([`Classify`]) says of each error of the platform's client whether it is
//! worth retrying and how long the platform asked to wait. [`Outbound`] turns such a client into
//! the core's [`Outbox`]:
//! - a blank text becomes [`EMPTY_PLACEHOLDER`] (platforms refuse empty messages);
//! - a send over the platform's limit is split by [`split_parts`], an edit over it is cut by
//!   [`fit`], both counting UTF-16 units as [`PlatformLimits::max_message_chars`] does. The
//!   core's renderer splits first, so these are a last resort and logged as warnings;
//! - a split send answers with the first part's id (see [`Outbox::send`]);
//! - sends and edits go through [`RetryPolicy`]: a rate limit waits the `retry_after` the
//!   platform gave, network and server errors back off exponentially ([`Backoff`]), anything
//!   else fails at once; typing is a courtesy and tried once;
//! - edits go through [`EditThrottle`]: at most one per interval per lane (a chat or channel),
//!   and an edit superseded while it waits is skipped, so the newest text is the one delivered.
//!
//! On the way in, [`Client::download`] fetches a file users attached (one try; the core sets
//! the timeout), and [`read_capped`] reads a download without ever holding more than asked.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::render::{unit_to_byte, units};
use crate::seam::{Attachment, ChannelKey, MessageRef, Outbox, PlatformLimits, PrivateFile};
use crate::{Error, Result};

/// What is sent instead of a blank text: platforms refuse empty messages.
pub const EMPTY_PLACEHOLDER: &str = "\u{2026}";

/// `text`, or [`EMPTY_PLACEHOLDER`] when it is blank.
pub fn non_empty(text: &str) -> &str {
    if text.trim().is_empty() {
        EMPTY_PLACEHOLDER
    } else {
        text
    }
}

/// `text` cut to at most `max` UTF-16 units at a character boundary; `None` when it fits.
pub fn truncate(text: &str, max: usize) -> Option<&str> {
    let end = unit_to_byte(text, max);
    (end < text.len()).then(|| &text[..end])
}

/// `text` as it fits in `max` UTF-16 units: itself, or cut and ending in "…".
pub fn fit(text: &str, max: usize) -> Cow<'_, str> {
    if truncate(text, max).is_none() {
        return Cow::Borrowed(text);
    }
    let head = truncate(text, max.saturating_sub(1)).unwrap_or(text);
    Cow::Owned(format!("{head}\u{2026}"))
}

/// Split `text` into parts of at most `max` UTF-16 units without losing anything, never inside
/// a character; a cut goes after a newline, else after a space, when one lies in the second
/// half of the part. Whitespace-only parts are dropped (platforms refuse them); at least one
/// part is returned. Unlike [`crate::render::split_message`], which shapes an answer, this is
/// the adapter's last resort for a text handed over too long: the parts concatenate to it.
pub fn split_parts(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(2);
    let mut parts = Vec::new();
    let mut rest = text;
    while units(rest) > max {
        let hard = unit_to_byte(rest, max);
        let window = &rest[..hard];
        let soft = window
            .rfind('\n')
            .or_else(|| window.rfind(' '))
            .filter(|&p| p >= hard / 2)
            .map(|p| p + 1);
        let mut cut = soft.unwrap_or(hard);
        if cut == 0 {
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts.push(rest);
    let kept: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|p| !p.trim().is_empty())
        .collect();
    if kept.is_empty() {
        vec![text]
    } else {
        kept
    }
}

/// What a failed platform call calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The platform asked to slow down, for this long when it said.
    RateLimited(Option<Duration>),
    /// The network or the platform's side failed: worth another try after a backoff.
    Transient,
    /// Retrying cannot help (a bad request, a missing chat, a refused token).
    Permanent,
}

/// An adapter's judgement of its platform client's errors: the small platform-specific part of
/// retrying.
pub trait Classify<E> {
    /// Whether and how `err` is retried.
    fn failure(&self, err: &E) -> Failure;
    /// `err` as one log line, without secrets.
    fn describe(&self, err: &E) -> String;
}

/// Exponential backoff: each wait twice the last, up to a ceiling.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Waits starting at `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The wait to take now; the next one is twice as long (at most the ceiling).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }

    /// Start again from the first wait (after a success).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// How an adapter retries its platform calls: `[telegram.retry]` and `[discord.retry]`, the
/// same keys and defaults on every platform (see `config.toml` for why each default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts per call on network errors and 5xx, the first included.
    pub max_attempts: u32,
    /// First backoff after a failed call, milliseconds; doubles up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    /// Longest backoff, milliseconds.
    pub backoff_max_ms: u64,
    /// Longest `retry_after` (seconds) that is waited for; a call asked to wait longer fails.
    pub max_retry_after_secs: u64,
    /// Wait after a 429 that did not say how long, milliseconds.
    pub rate_limit_wait_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            max_retry_after_secs: 300,
            rate_limit_wait_ms: 1000,
        }
    }
}

/// Rate limits in a row waited out before a call gives up.
const MAX_RATE_LIMITED: u32 = 10;

impl RetrySettings {
    /// Check what serde cannot; `section` (`telegram`, `discord`) names the key in the error.
    pub fn validate(&self, section: &str) -> Result<()> {
        let bad = |key: &str, reason: String| {
            Err(Error::Config {
                key: format!("{section}.retry.{key}"),
                reason,
            })
        };
        if !(1..=20).contains(&self.max_attempts) {
            return bad(
                "max_attempts",
                format!("must be 1 to 20, got {}", self.max_attempts),
            );
        }
        if self.backoff_max_ms < self.backoff_initial_ms {
            return bad(
                "backoff_max_ms",
                format!(
                    "{} is below backoff_initial_ms ({})",
                    self.backoff_max_ms, self.backoff_initial_ms
                ),
            );
        }
        Ok(())
    }

    /// The policy these settings describe.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            initial_backoff: Duration::from_millis(self.backoff_initial_ms),
            max_backoff: Duration::from_millis(self.backoff_max_ms),
            max_retry_after: Duration::from_secs(self.max_retry_after_secs),
            max_rate_limited: MAX_RATE_LIMITED,
            rate_limit_wait: Duration::from_millis(self.rate_limit_wait_ms),
        }
    }
}

/// How platform calls are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts on network and server errors before giving up (at least one is made).
    pub max_attempts: u32,
    /// First backoff after such an error.
    pub initial_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Longest wait a rate limit may ask for; a longer ask fails the call.
    pub max_retry_after: Duration,
    /// How many rate limits in a row are waited out before giving up.
    pub max_rate_limited: u32,
    /// The wait after a rate limit that did not say how long.
    pub rate_limit_wait: Duration,
}

impl RetryPolicy {
    /// Run `call` until it succeeds, fails for good (as `judge` says), or the attempts are
    /// spent; the last error is returned. Retries and giving up are logged here.
    pub async fn run<T, E, J, F, Fut>(
        &self,
        what: &str,
        judge: &J,
        mut call: F,
    ) -> std::result::Result<T, E>
    where
        J: Classify<E> + ?Sized,
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        let mut backoff = Backoff::new(self.initial_backoff, self.max_backoff);
        loop {
            let err = match call().await {
                Ok(v) => {
                    if failures > 0 || rate_limited > 0 {
                        info!(
                            call = what,
                            failures, rate_limited, "call succeeded after retrying"
                        );
                    }
                    return Ok(v);
                }
                Err(e) => e,
            };
            let wait = match judge.failure(&err) {
                Failure::Permanent => return Err(err),
                Failure::RateLimited(after) => {
                    rate_limited += 1;
                    crate::metrics::rate_limited(what);
                    let wait = after.unwrap_or(self.rate_limit_wait);
                    let wait_ms = wait.as_millis() as u64;
                    if wait > self.max_retry_after || rate_limited > self.max_rate_limited {
                        warn!(
                            call = what,
                            wait_ms, rate_limited, "rate limited for too long; giving up"
                        );
                        return Err(err);
                    }
                    warn!(call = what, wait_ms, "rate limited; waiting");
                    crate::metrics::retried(what);
                    wait
                }
                Failure::Transient => {
                    failures += 1;
                    if failures >= self.max_attempts {
                        warn!(call = what, failures, error = %judge.describe(&err), "call failed; giving up");
                        return Err(err);
                    }
                    let wait = backoff.next_wait();
                    warn!(call = what, failures, backoff_ms = wait.as_millis() as u64, error = %judge.describe(&err), "call failed; retrying");
                    crate::metrics::retried(what);
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Lanes above which idle ones are forgotten.
const PRUNE_AT: usize = 1024;

#[derive(Debug)]
struct LaneState {
    /// When the next edit in this lane may go out.
    next_free: Instant,
    generation: u64,
    /// The newest waiting edit of each message, by generation.
    latest: HashMap<String, u64>,
}

#[derive(Debug)]
struct Lane {
    state: Mutex<LaneState>,
    /// Held while an edit is on its way, so edits in one lane reach the platform in order.
    sending: tokio::sync::Mutex<()>,
}

/// At most one edit per interval in each lane (a chat or channel). An edit that waits for its
/// turn is dropped when a newer edit of the same message arrives meanwhile (the newer text
/// includes it), so the last text is always the one delivered, and the call that delivers it
/// returns only after it was delivered.
#[derive(Debug)]
pub struct EditThrottle {
    interval: Duration,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
}

impl EditThrottle {
    /// A throttle with this smallest gap between two edits in a lane.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    fn lane(&self, lane: &str) -> Arc<Lane> {
        let mut map = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= PRUNE_AT && !map.contains_key(lane) {
            // Forget lanes with nothing pending whose turn is long past.
            let now = Instant::now();
            map.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot.state.lock().map_or(true, |s| {
                        !s.latest.is_empty() || s.next_free + self.interval > now
                    })
            });
        }
        Arc::clone(map.entry(lane.to_string()).or_insert_with(|| {
            Arc::new(Lane {
                state: Mutex::new(LaneState {
                    next_free: Instant::now(),
                    generation: 0,
                    latest: HashMap::new(),
                }),
                sending: tokio::sync::Mutex::new(()),
            })
        }))
    }

    /// Run `edit` of `message` when `lane`'s turn comes: `Ok(true)` once it ran and succeeded,
    /// `Ok(false)` without running it when a newer edit of the same message superseded it.
    pub async fn run<E, F, Fut>(
        &self,
        lane: &str,
        message: &str,
        edit: F,
    ) -> std::result::Result<bool, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
    {
        let slot = self.lane(lane);
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
                    return Ok(false);
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
                return Ok(false);
            }
            s.latest.remove(message);
        }
        edit().await.map(|()| true)
    }
}

/// One part of a send, as [`Client::send`] gets it: it fits the platform's limit and is not
/// blank.
pub struct Part<'a, C: Client + ?Sized> {
    /// Where it goes.
    pub to: &'a C::Target,
    /// Its text.
    pub text: &'a str,
    /// The message it answers (only the first part of a split send answers it).
    pub reply_to: Option<&'a C::Message>,
}

impl<C: Client + ?Sized> Clone for Part<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: Client + ?Sized> Copy for Part<'_, C> {}

/// What an adapter writes for its platform: reading keys and ids, and one attempt at each call.
/// Everything around the calls (placeholder, splitting, retrying, throttling) is [`Outbound`]'s.
#[async_trait]
pub trait Client: Send + Sync + 'static {
    /// The platform client's error.
    type Error: Send + Sync + 'static;
    /// Judges [`Self::Error`]s for the [`RetryPolicy`].
    type Judge: Classify<Self::Error> + Send + Sync;
    /// Where a channel's messages go, as the platform client takes it.
    type Target: Send + Sync;
    /// A message the bot sent, as the platform client takes it.
    type Message: Send + Sync;

    /// The judge of this client's errors.
    fn judge(&self) -> &Self::Judge;
    /// `key` read as a target; an error when it is not one of this platform's.
    fn target(&self, key: &ChannelKey) -> Result<Self::Target>;
    /// `msg` read as a message; an error when its ids are not this platform's.
    fn message(&self, msg: &MessageRef) -> Result<Self::Message>;
    /// One attempt at sending `part`; the new message's id.
    async fn send(&self, part: Part<'_, Self>) -> std::result::Result<String, Self::Error>;
    /// One attempt at replacing `msg`'s text (it fits the limit and is not blank).
    async fn edit(&self, msg: &Self::Message, text: &str) -> std::result::Result<(), Self::Error>;
    /// One attempt at showing "typing…" at `to`.
    async fn typing(&self, to: &Self::Target) -> std::result::Result<(), Self::Error>;
    /// Download `attachment`, giving up past `max_bytes` (see [`read_capped`]). One try; the
    /// default downloads nothing.
    async fn download(&self, attachment: &Attachment, max_bytes: u64) -> Result<Vec<u8>> {
        let _ = max_bytes;
        Err(Error::Platform(format!(
            "no downloads from this platform ({})",
            attachment.name
        )))
    }
    /// One attempt at sending `file` to its user privately. The default sends nothing.
    async fn send_file(
        &self,
        file: &PrivateFile,
    ) -> std::result::Result<(), FileError<Self::Error>> {
        Err(FileError::Unsupported(file.name.clone()))
    }
    /// The throttle lane of `key`'s edits: the chat, unless the platform limits finer.
    fn lane<'k>(&self, key: &'k ChannelKey) -> &'k str {
        &key.chat
    }
}

/// Why a [`Client::send_file`] attempt failed.
#[derive(Debug)]
pub enum FileError<E> {
    /// The platform client failed (judged for retries like any call).
    Call(E),
    /// The user or chat cannot be named on this platform (not retried).
    Target(Error),
    /// The platform takes no files (not retried).
    Unsupported(String),
}

/// The core's [`Outbox`] over an adapter's [`Client`].
#[derive(Debug)]
pub struct Outbound<C> {
    client: Arc<C>,
    limits: PlatformLimits,
    retry: RetryPolicy,
    throttle: Arc<EditThrottle>,
}

impl<C> Clone for Outbound<C> {
    fn clone(&self) -> Self {
        Self {
            client: Arc::clone(&self.client),
            limits: self.limits,
            retry: self.retry.clone(),
            throttle: Arc::clone(&self.throttle),
        }
    }
}

impl<C: Client> Outbound<C> {
    /// An outbox on `client` with these limits and retries; `throttle` may be shared with other
    /// outboxes of the same platform (its lanes are chats or channels, not outboxes).
    pub fn new(
        client: C,
        limits: PlatformLimits,
        retry: RetryPolicy,
        throttle: Arc<EditThrottle>,
    ) -> Self {
        Self {
            client: Arc::new(client),
            limits,
            retry,
            throttle,
        }
    }

    /// The client underneath.
    pub fn client(&self) -> &C {
        &self.client
    }

    /// The retry policy every call uses.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The error the core sees after `what` failed for good; the detail is logged by the
    /// caller's log line and kept in the text for the bot's own log.
    fn failed(&self, key: &ChannelKey, what: &str, err: &C::Error) -> Error {
        Error::Platform(format!(
            "{} {what}: {}",
            key.platform.as_str(),
            self.client.judge().describe(err)
        ))
    }

    async fn send_part(&self, key: &ChannelKey, part: Part<'_, C>) -> Result<String> {
        self.retry
            .run("send", self.client.judge(), || self.client.send(part))
            .await
            .map_err(|e| self.failed(key, "send", &e))
    }
}

#[async_trait]
impl<C: Client> Outbox for Outbound<C> {
    async fn send(
        &self,
        key: &ChannelKey,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<MessageRef> {
        let to = self.client.target(key)?;
        let reply = reply_to.and_then(|id| {
            let msg = MessageRef {
                key: key.clone(),
                id: id.to_owned(),
            };
            self.client.message(&msg).ok()
        });
        let text = non_empty(text);
        let parts = split_parts(text, self.limits.max_message_chars);
        if parts.len() > 1 {
            warn!(channel = %key, units = units(text), parts = parts.len(), "text over the platform's limit handed to send; splitting it");
        }
        let mut first = None;
        for (i, text) in parts.iter().copied().enumerate() {
            let reply_to = if i == 0 { reply.as_ref() } else { None };
            let part = Part {
                to: &to,
                text,
                reply_to,
            };
            let id = self.send_part(key, part).await?;
            first.get_or_insert(id);
        }
        debug!(channel = %key, parts = parts.len(), "sent");
        Ok(MessageRef {
            key: key.clone(),
            id: first.unwrap_or_default(),
        })
    }

    async fn edit(&self, msg: &MessageRef, text: &str) -> Result<()> {
        let target = self.client.message(msg)?;
        let max = self.limits.max_message_chars;
        let text = non_empty(text);
        if truncate(text, max).is_some() {
            warn!(channel = %msg.key, units = units(text), "edit over the platform's limit; cutting it");
        }
        let text = fit(text, max);
        let lane = self.client.lane(&msg.key);
        let delivered = self
            .throttle
            .run(lane, &msg.id, || {
                self.retry.run("edit", self.client.judge(), || {
                    self.client.edit(&target, &text)
                })
            })
            .await
            .map_err(|e| self.failed(&msg.key, "edit", &e))?;
        if !delivered {
            debug!(channel = %msg.key, "edit superseded by a newer one; skipped");
        }
        Ok(())
    }

    async fn typing(&self, key: &ChannelKey) -> Result<()> {
        let to = self.client.target(key)?;
        // "Typing…" is a courtesy: one try, never waiting out a rate limit for it.
        self.client.typing(&to).await.map_err(|e| {
            debug!(channel = %key, error = %self.client.judge().describe(&e), "typing failed");
            self.failed(key, "typing", &e)
        })
    }

    fn limits(&self) -> PlatformLimits {
        self.limits
    }

    async fn download(&self, attachment: &Attachment, max_bytes: u64) -> Result<Vec<u8>> {
        self.client.download(attachment, max_bytes).await
    }

    async fn send_file(&self, file: &PrivateFile) -> Result<()> {
        let judge = FileJudge(self.client.judge());
        self.retry
            .run("send_file", &judge, || self.client.send_file(file))
            .await
            .map_err(|e| match e {
                FileError::Call(e) => self.failed(&file.asked_in, "send_file", &e),
                FileError::Target(e) => e,
                FileError::Unsupported(name) => {
                    Error::Platform(format!("no files on this platform ({name})"))
                }
            })
    }
}

/// Judges [`FileError`]s: a platform call as the client's judge does, the rest permanently.
struct FileJudge<'a, J>(&'a J);

impl<E, J: Classify<E>> Classify<FileError<E>> for FileJudge<'_, J> {
    fn failure(&self, err: &FileError<E>) -> Failure {
        match err {
            FileError::Call(e) => self.0.failure(e),
            _ => Failure::Permanent,
        }
    }

    fn describe(&self, err: &FileError<E>) -> String {
        match err {
            FileError::Call(e) => self.0.describe(e),
            FileError::Target(e) => e.to_string(),
            FileError::Unsupported(name) => format!("no files on this platform ({name})"),
        }
    }
}

/// Read a download's chunks into memory, failing once more than `max_bytes` arrived: a file
/// bigger than its description said is not read to its end. Chunk errors are already
/// described (and stripped of secrets such as a token in the URL) by the adapter.
pub async fn read_capped<S, B>(mut chunks: S, max_bytes: u64) -> Result<Vec<u8>>
where
    S: futures::Stream<Item = std::result::Result<B, String>> + Unpin,
    B: AsRef<[u8]>,
{
    use futures::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| Error::Platform(format!("download: {e}")))?;
        out.extend_from_slice(chunk.as_ref());
        if out.len() as u64 > max_bytes {
            return Err(Error::Platform(format!(
                "download: more than {max_bytes} bytes"
            )));
        }
    }
    Ok(out)
}

/// At most one refusal ("this is a private bot") per place (a chat, a user) in each gap, so a
/// persistent stranger cannot make the bot write to them, or to the platform, without end.
#[derive(Debug)]
pub struct RefusalGap {
    gap: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl RefusalGap {
    /// At most one refusal per place in each `gap`.
    pub fn new(gap: Duration) -> Self {
        Self {
            gap,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a refusal may be sent to `place` now (and, if so, remember that it was).
    pub fn due(&self, place: &str) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.len() >= PRUNE_AT {
            last.retain(|_, at| now.duration_since(*at) < self.gap);
        }
        match last.get(place) {
            Some(at) if now.duration_since(*at) < self.gap => false,
            _ => {
                last.insert(place.to_string(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_download_past_its_cap_is_abandoned() {
        let chunks =
            |n: usize| futures::stream::iter((0..n).map(|_| Ok::<_, String>(vec![7u8; 10])));
        assert_eq!(read_capped(chunks(3), 30).await.unwrap().len(), 30);
        assert!(read_capped(chunks(4), 30).await.is_err());
        let failing = futures::stream::iter([Err::<Vec<u8>, String>("reset".into())]);
        assert!(read_capped(failing, 30).await.is_err());
    }

    #[test]
    fn split_respects_the_limit_and_char_boundaries() {
        let text = "é".repeat(5000);
        let parts = split_parts(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| units(p) <= 4096));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn split_counts_astral_emoji_as_two_units() {
        let text = "😀".repeat(3000); // 6000 UTF-16 units
        let parts = split_parts(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert_eq!(units(parts[0]), 4096);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn split_prefers_newlines_then_spaces() {
        let text = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        let parts = split_parts(&text, 4096);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(3000)));
        assert_eq!(parts[1], "b".repeat(3000));
        let words = "word ".repeat(1000);
        let parts = split_parts(&words, 4096);
        assert!(parts[0].ends_with(' '));
        assert_eq!(parts.concat(), words);
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_parts("hi", 4096), vec!["hi"]);
        assert_eq!(split_parts("", 4096), vec![""]);
    }

    #[test]
    fn split_never_exceeds_the_limit_and_loses_nothing() {
        let text = "ab\u{e9}\u{1F600} ".repeat(1000) + "\nend";
        let parts = split_parts(&text, 2000);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.chars().count() <= 2000));
        assert!(parts.iter().all(|p| units(p) <= 2000));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn split_prefers_line_breaks() {
        let text = format!("{}\n{}", "a".repeat(1500), "b".repeat(1000));
        let parts = split_parts(&text, 2000);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(1500)));
        assert_eq!(parts[1], "b".repeat(1000));
    }

    #[test]
    fn truncate_cases() {
        assert_eq!(truncate("abc", 5), None);
        assert_eq!(truncate("abcdef", 3), Some("abc"));
        assert_eq!(truncate("a😀b", 2), Some("a"));
    }

    #[test]
    fn fit_cuts_at_a_char_boundary_with_an_ellipsis() {
        // Counted in UTF-16 units, as the platforms count: each emoji is two.
        let long = "\u{1F600}".repeat(2500);
        let t = fit(&long, 2000);
        assert!(units(&t) <= 2000 && units(&t) >= 1999, "{}", units(&t));
        assert!(t.ends_with('\u{2026}'));
        assert_eq!(fit("short", 2000), "short");
    }

    #[test]
    fn blank_text_becomes_the_placeholder() {
        assert_eq!(non_empty(" \n"), EMPTY_PLACEHOLDER);
        assert_eq!(non_empty("hi"), "hi");
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(300));
        let waits: Vec<u64> = (0..4).map(|_| b.next_wait().as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 300, 300]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(100));
    }

    /// Errors of a pretend platform: the number is the HTTP status.
    struct Statuses;

    impl Classify<u16> for Statuses {
        fn failure(&self, err: &u16) -> Failure {
            match err {
                429 => Failure::RateLimited(Some(Duration::from_millis(10))),
                s if *s >= 500 => Failure::Transient,
                _ => Failure::Permanent,
            }
        }
        fn describe(&self, err: &u16) -> String {
            format!("status {err}")
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(5),
            max_rate_limited: 3,
            rate_limit_wait: Duration::from_millis(10),
        }
    }

    #[tokio::test]
    async fn retry_policy_gives_up_after_max_attempts() {
        let mut calls = 0;
        let r: std::result::Result<(), u16> = policy()
            .run("x", &Statuses, || {
                calls += 1;
                async { Err(502) }
            })
            .await;
        assert_eq!(r, Err(502));
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r: std::result::Result<(), u16> = policy()
            .run("x", &Statuses, || {
                calls += 1;
                async { Err(400) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 1, "permanent errors are not retried");
    }

    #[tokio::test]
    async fn rate_limits_are_waited_out_then_the_call_succeeds() {
        let mut calls = 0;
        let r = policy()
            .run("x", &Statuses, || {
                calls += 1;
                let n = calls;
                async move {
                    if n <= 3 {
                        Err(429)
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(r, Ok(4), "three rate limits are waited out");
        let mut calls = 0;
        let r: std::result::Result<(), u16> = policy()
            .run("x", &Statuses, || {
                calls += 1;
                async { Err(429) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 4, "the fourth rate limit in a row gives up");
    }

    /// Paused time: `sleep` returns when the clock is advanced to its deadline (tokio advances
    /// it as soon as every task waits), so these tests read the throttle's waits exactly.
    #[tokio::test(start_paused = true)]
    async fn throttle_spaces_edits_and_skips_superseded_ones() {
        let t = Arc::new(EditThrottle::new(Duration::from_millis(200)));
        let edit = || async { Ok::<(), ()>(()) };
        let start = Instant::now();
        assert!(t.run("c", "m", edit).await.unwrap());
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the first edit goes at once"
        );
        let t2 = t.clone();
        let waiting = tokio::spawn(async move { t2.run("c", "m", edit).await });
        tokio::task::yield_now().await;
        let t3 = t.clone();
        let newer = tokio::spawn(async move { t3.run("c", "m", edit).await });
        assert!(
            !waiting.await.unwrap().unwrap(),
            "the older waiting edit is dropped"
        );
        assert!(
            newer.await.unwrap().unwrap(),
            "the newest edit is delivered"
        );
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(200),
            "one interval later"
        );
        // Another chat is not held up by this chat's next turn.
        let t4 = t.clone();
        let next_here = tokio::spawn(async move { t4.run("c", "m", edit).await });
        tokio::task::yield_now().await;
        let before = Instant::now();
        assert!(t.run("other", "m", edit).await.unwrap());
        assert_eq!(before.elapsed(), Duration::ZERO);
        assert!(next_here.await.unwrap().unwrap());
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_merges_intermediate_edits_and_delivers_the_last() {
        let t = Arc::new(EditThrottle::new(Duration::from_millis(500)));
        let start = Instant::now();
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (t, d) = (Arc::clone(&t), Arc::clone(&delivered));
            tasks.push(tokio::spawn(async move {
                t.run("c", "m", || async move {
                    d.lock().unwrap().push((i, start.elapsed()));
                    Ok::<(), ()>(())
                })
                .await
            }));
            // Each newer edit arrives while the one before it still waits for its turn.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let ran: Vec<bool> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        assert_eq!(ran, [true, false, false, false, true]);
        let d = delivered.lock().unwrap().clone();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            d,
            [(0, ms(0)), (4, ms(500))],
            "the first at once, the last one interval on"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_spaces_edits_in_one_channel() {
        let t = EditThrottle::new(Duration::from_millis(200));
        let edit = || async { Ok::<(), ()>(()) };
        let start = Instant::now();
        t.run("c", "m1", edit).await.unwrap();
        t.run("c", "m2", edit).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        // Another channel is not held back.
        t.run("other", "m3", edit).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        t.run("c", "m1", edit).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }
}
