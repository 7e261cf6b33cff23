//! [`TelegramOutbox`]: the core's [`Outbox`](parley_core::seam::Outbox) on teloxide's [`Bot`].
//!
//! The core's [`Outbound`] does what every platform needs (placeholder, splitting, retrying,
//! throttling edits per chat); this file holds only the calls to teloxide and how its errors
//! are judged: a 429 waits the `retry_after` Telegram asks for, network errors and 5xx are
//! retried with backoff, anything else fails at once. Text is sent without a parse mode by
//! default, so model output can never make a send fail; in HTML mode a "can't parse entities"
//! rejection is answered by resending the raw text plainly. "Message is not modified" is
//! success, and a group that became a supergroup is followed to its new id.

use std::sync::Arc;

use futures::StreamExt;
use parley_core::outbound::{
    read_capped, Classify, Client, EditThrottle, Failure, FileError, Outbound, Part,
};
use parley_core::seam::{Attachment, ChannelKey, Markup, MessageRef, PlatformLimits, PrivateFile};
use teloxide::net::Download;
use teloxide::payloads::{
    EditMessageTextSetters, SendChatActionSetters, SendDocumentSetters, SendMessageSetters,
};
use teloxide::prelude::Requester;
use teloxide::requests::Request;
use teloxide::types::{
    ChatAction, ChatId, FileId, InputFile, Message, MessageId, ReplyParameters, ThreadId,
};
use teloxide::{ApiError, Bot, RequestError};
use tracing::{info, warn};

use crate::settings::{ParseMode, TelegramSettings};
use crate::text::render_html;

/// Telegram's longest message, in UTF-16 code units (what the Bot API counts).
pub const MAX_MESSAGE_LEN: usize = 4096;

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

impl Classify<RequestError> for Redactor {
    fn failure(&self, err: &RequestError) -> Failure {
        match err {
            RequestError::RetryAfter(after) => Failure::RateLimited(Some(after.duration())),
            e if is_transient(e) => Failure::Transient,
            _ => Failure::Permanent,
        }
    }

    fn describe(&self, err: &RequestError) -> String {
        self.text(err)
    }
}

/// The core's outbox on Telegram.
pub type TelegramOutbox = Outbound<TelegramClient>;

/// An outbox sending through `bot` with the retry, formatting and throttling `settings` ask for.
pub fn telegram_outbox(
    bot: Bot,
    settings: &TelegramSettings,
    redactor: Redactor,
) -> TelegramOutbox {
    let limits = PlatformLimits {
        max_message_chars: MAX_MESSAGE_LEN,
        edit_interval: settings.edit_interval(),
        markup: Markup::TelegramPlain,
        supports_edit: true,
    };
    let client = TelegramClient {
        bot,
        parse_mode: settings.parse_mode,
        redactor,
    };
    let throttle = Arc::new(EditThrottle::new(settings.edit_interval()));
    Outbound::new(client, limits, settings.retry_policy(), throttle)
}

/// The Bot API calls behind [`TelegramOutbox`], one attempt each.
#[derive(Debug)]
pub struct TelegramClient {
    bot: Bot,
    parse_mode: ParseMode,
    redactor: Redactor,
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

impl TelegramClient {
    /// The bot the calls go through.
    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    /// Send one message of at most [`MAX_MESSAGE_LEN`]; formatting falls back to plain text,
    /// a migrated group to its supergroup.
    async fn send_one(&self, part: Part<'_, Self>) -> Result<Message, RequestError> {
        let (mut chat, thread) = *part.to;
        let request = |chat: ChatId, formatted: bool| {
            let mut req = if formatted {
                self.bot
                    .send_message(chat, render_html(part.text))
                    .parse_mode(teloxide::types::ParseMode::Html)
            } else {
                self.bot.send_message(chat, part.text)
            };
            if let Some(t) = thread {
                req = req.message_thread_id(t);
            }
            if let Some((_, r)) = part.reply_to {
                req = req.reply_parameters(ReplyParameters::new(*r).allow_sending_without_reply());
            }
            req
        };
        let mut formatted = self.parse_mode == ParseMode::Html;
        let mut migrated = false;
        loop {
            match request(chat, formatted).send().await {
                Err(RequestError::Api(ApiError::CantParseEntities(_))) if formatted => {
                    warn!(
                        chat = chat.0,
                        "Telegram rejected the message's entities; resending as plain text"
                    );
                    formatted = false;
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
        let mut formatted = self.parse_mode == ParseMode::Html;
        loop {
            let result = if formatted {
                self.bot
                    .edit_message_text(chat, id, render_html(text))
                    .parse_mode(teloxide::types::ParseMode::Html)
                    .send()
                    .await
            } else {
                self.bot.edit_message_text(chat, id, text).send().await
            };
            match result {
                Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => return Ok(()),
                Err(RequestError::Api(ApiError::CantParseEntities(_))) if formatted => {
                    warn!(
                        chat = chat.0,
                        "Telegram rejected the edit's entities; resending as plain text"
                    );
                    formatted = false;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait::async_trait]
impl Client for TelegramClient {
    type Error = RequestError;
    type Judge = Redactor;
    /// A chat, and the forum topic in it.
    type Target = (ChatId, Option<ThreadId>);
    type Message = (ChatId, MessageId);

    fn judge(&self) -> &Redactor {
        &self.redactor
    }

    fn target(&self, key: &ChannelKey) -> parley_core::Result<Self::Target> {
        chat_of(key)
    }

    fn message(&self, msg: &MessageRef) -> parley_core::Result<Self::Message> {
        let (chat, _) = chat_of(&msg.key)?;
        let id = msg
            .id
            .parse::<i32>()
            .map_err(|_| bad_id("message", &msg.id))?;
        Ok((chat, MessageId(id)))
    }

    async fn send(&self, part: Part<'_, Self>) -> Result<String, RequestError> {
        let message = self.send_one(part).await?;
        Ok(message.id.0.to_string())
    }

    async fn edit(&self, msg: &Self::Message, text: &str) -> Result<(), RequestError> {
        self.edit_one(msg.0, msg.1, text).await
    }

    async fn typing(&self, to: &Self::Target) -> Result<(), RequestError> {
        let (chat, thread) = *to;
        let mut req = self.bot.send_chat_action(chat, ChatAction::Typing);
        if let Some(t) = thread {
            req = req.message_thread_id(t);
        }
        req.send().await.map(drop)
    }

    /// `sendDocument` into the user's direct chat (on Telegram its id is the user's): the bot
    /// can write there once the user has started it.
    async fn send_file(&self, file: &PrivateFile) -> Result<(), FileError<RequestError>> {
        let user = file
            .user_id
            .parse::<i64>()
            .map_err(|_| FileError::Target(bad_id("user", &file.user_id)))?;
        let document = InputFile::memory(file.bytes.clone()).file_name(file.name.clone());
        self.bot
            .send_document(ChatId(user), document)
            .caption(file.caption.clone())
            .send()
            .await
            .map(drop)
            .map_err(FileError::Call)
    }

    /// `getFile` (its size checked once more), then the file, never more than `max_bytes`.
    async fn download(
        &self,
        attachment: &Attachment,
        max_bytes: u64,
    ) -> parley_core::Result<Vec<u8>> {
        let failed = |what: &str, e: &dyn std::error::Error| {
            parley_core::Error::Platform(format!("telegram {what}: {}", self.redactor.text(e)))
        };
        let file = self
            .bot
            .get_file(FileId(attachment.locator.clone()))
            .send()
            .await
            .map_err(|e| failed("getFile", &e))?;
        if u64::from(file.meta.size) > max_bytes {
            return Err(parley_core::Error::Platform(format!(
                "telegram file of {} bytes over the limit of {max_bytes}",
                file.meta.size
            )));
        }
        let redactor = self.redactor.clone();
        let chunks = self
            .bot
            .download_file_stream(&file.path)
            .map(move |chunk| chunk.map_err(|e| redactor.text(&e)));
        read_capped(chunks, max_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::outbound::RetryPolicy;
    use parley_core::seam::Outbox;
    use std::time::Duration;

    #[tokio::test]
    async fn retry_policy_gives_up_after_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(5),
            max_rate_limited: 3,
            rate_limit_wait: Duration::from_secs(1),
        };
        let judge = Redactor::new("secret");
        let mut calls = 0;
        let r: Result<(), _> = policy
            .run("x", &judge, || {
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
            .run("x", &judge, || {
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
        let outbox = telegram_outbox(Bot::new("1:x"), &settings, Redactor::new("1:x"));
        let limits = outbox.limits();
        assert_eq!(limits.max_message_chars, 4096);
        assert_eq!(limits.edit_interval, Duration::from_millis(1500));
        assert_eq!(limits.markup, Markup::TelegramPlain);
        assert!(limits.supports_edit);
    }

    #[tokio::test]
    async fn foreign_keys_are_errors_not_panics() {
        let outbox = telegram_outbox(
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
