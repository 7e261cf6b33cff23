//! Helpers for tests of the core and of adapters: an in-memory [`Outbox`] that records every
//! call and refuses what a platform refuses (or what a test tells it to), and builders for
//! [`Incoming`] messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::render::units;
use crate::seam::{
    Author, ChannelKey, Incoming, Markup, MessageRef, Outbox, Platform, PlatformLimits, PrivateFile,
};
use crate::{Error, Result};

/// One recorded outbox call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `send`.
    Send {
        /// Where.
        key: ChannelKey,
        /// The id given to the new message.
        id: String,
        /// Its text.
        text: String,
        /// The message it replied to.
        reply_to: Option<String>,
    },
    /// `edit`.
    Edit {
        /// Where.
        key: ChannelKey,
        /// The edited message.
        id: String,
        /// Its new text.
        text: String,
    },
    /// `typing`.
    Typing {
        /// Where.
        key: ChannelKey,
    },
    /// `send_file`.
    File(PrivateFile),
}

/// An outbox call that a test can make fail ([`RecordingOutbox::fail_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `send`.
    Send,
    /// `edit`.
    Edit,
    /// `typing`.
    Typing,
}

/// An [`Outbox`] that keeps every call in memory. Like a platform, it refuses a text that is
/// blank or longer than its limit (counted in UTF-16 units, as [`PlatformLimits`] counts) and an
/// edit of a message it never sent; and it fails the calls a test asked it to fail. Refused
/// calls are kept apart ([`RecordingOutbox::refused`]), not among [`RecordingOutbox::calls`].
#[derive(Debug)]
pub struct RecordingOutbox {
    calls: Mutex<Vec<Call>>,
    refused: Mutex<Vec<Call>>,
    failures: Mutex<HashMap<Method, usize>>,
    limits: PlatformLimits,
    next_id: AtomicU64,
}

impl Default for RecordingOutbox {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingOutbox {
    /// Limits like Telegram's, without an edit interval (tests should not wait).
    pub fn new() -> Self {
        Self::with_limits(PlatformLimits {
            max_message_chars: 4096,
            edit_interval: Duration::ZERO,
            markup: Markup::Plain,
            supports_edit: true,
        })
    }

    /// A recorder with these limits.
    pub fn with_limits(limits: PlatformLimits) -> Self {
        Self {
            calls: Mutex::new(Vec::new()),
            refused: Mutex::new(Vec::new()),
            failures: Mutex::new(HashMap::new()),
            limits,
            next_id: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Call>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fail the next `count` calls of `method` (as a platform that is down would, after the
    /// adapter's retries).
    pub fn fail_next(&self, method: Method, count: usize) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *failures.entry(method).or_default() += count;
    }

    /// Every call refused so far (asked to fail, or over the platform's limits).
    pub fn refused(&self) -> Vec<Call> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Record `call` if the platform would take it; refuse it with the platform's reason
    /// otherwise.
    fn accept(&self, method: Method, call: Call) -> Result<()> {
        let reason = self.refusal(method, &call);
        match reason {
            None => {
                self.lock().push(call);
                Ok(())
            }
            Some(reason) => {
                self.refused
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(call);
                Err(Error::Platform(reason))
            }
        }
    }

    fn refusal(&self, method: Method, call: &Call) -> Option<String> {
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(left) = failures.get_mut(&method).filter(|n| **n > 0) {
                *left -= 1;
                return Some(format!("{method:?} failed on request"));
            }
        }
        let (Call::Send { text, .. } | Call::Edit { text, .. }) = call else {
            return None;
        };
        if text.trim().is_empty() {
            return Some("message text is empty".into());
        }
        let max = self.limits.max_message_chars;
        if units(text) > max {
            return Some(format!(
                "message is {} UTF-16 units, over {max}",
                units(text)
            ));
        }
        if let Call::Edit { key, id, .. } = call {
            let sent = self
                .lock()
                .iter()
                .any(|c| matches!(c, Call::Send { key: k, id: i, .. } if k == key && i == id));
            if !sent {
                return Some(format!("message {id} not found"));
            }
        }
        None
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().clone()
    }

    /// Forget the calls so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The messages of channel `key` as they read now (edits applied), in the order sent.
    pub fn messages(&self, key: &ChannelKey) -> Vec<String> {
        let mut out: Vec<(String, String)> = Vec::new();
        for call in self.lock().iter() {
            match call {
                Call::Send {
                    key: k, id, text, ..
                } if k == key => out.push((id.clone(), text.clone())),
                Call::Edit { key: k, id, text } if k == key => {
                    if let Some(m) = out.iter_mut().find(|(i, _)| i == id) {
                        m.1 = text.clone();
                    }
                }
                _ => {}
            }
        }
        out.into_iter().map(|(_, t)| t).collect()
    }

    /// All messages of `key` joined into one string (handy for `contains`).
    pub fn transcript(&self, key: &ChannelKey) -> String {
        self.messages(key).join("\n")
    }

    /// The files sent so far, in order.
    pub fn files(&self) -> Vec<PrivateFile> {
        self.lock()
            .iter()
            .filter_map(|c| match c {
                Call::File(f) => Some(f.clone()),
                _ => None,
            })
            .collect()
    }

    /// The last message of `key`, as it reads now.
    pub fn last(&self, key: &ChannelKey) -> Option<String> {
        self.messages(key).pop()
    }
}

#[async_trait::async_trait]
impl Outbox for RecordingOutbox {
    async fn send(
        &self,
        key: &ChannelKey,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<MessageRef> {
        let id = format!("m{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let call = Call::Send {
            key: key.clone(),
            id: id.clone(),
            text: text.to_string(),
            reply_to: reply_to.map(str::to_string),
        };
        self.accept(Method::Send, call)?;
        Ok(MessageRef {
            key: key.clone(),
            id,
        })
    }

    async fn edit(&self, msg: &MessageRef, text: &str) -> Result<()> {
        let call = Call::Edit {
            key: msg.key.clone(),
            id: msg.id.clone(),
            text: text.to_string(),
        };
        self.accept(Method::Edit, call)
    }

    async fn typing(&self, key: &ChannelKey) -> Result<()> {
        self.accept(Method::Typing, Call::Typing { key: key.clone() })
    }

    fn limits(&self) -> PlatformLimits {
        self.limits
    }

    async fn send_file(&self, file: &PrivateFile) -> Result<()> {
        self.lock().push(Call::File(file.clone()));
        Ok(())
    }
}

static MESSAGE_IDS: AtomicU64 = AtomicU64::new(1);

/// A direct message from user `user` in chat `chat` on the test platform, sent now.
pub fn dm(chat: &str, user: &str, text: &str) -> Incoming {
    Incoming {
        key: ChannelKey::new(Platform::Test, chat),
        // Unique across processes too: a test may reopen a store another process wrote.
        message_id: format!(
            "in{}-{}",
            std::process::id(),
            MESSAGE_IDS.fetch_add(1, Ordering::Relaxed)
        ),
        author: Author {
            id: user.to_string(),
            display_name: user.to_string(),
            is_platform_admin: false,
        },
        text: text.to_string(),
        is_direct: true,
        mentions_bot: false,
        reply_to_bot: false,
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        channel_title: None,
        reply_to: None,
        attachments: Vec::new(),
        language: None,
    }
}

/// A group message from user `user` (display name = `user`) in chat `chat`, not addressed to
/// the bot unless its text names it; set `mentions_bot` / `reply_to_bot` on the result to
/// address it.
pub fn group(chat: &str, user: &str, text: &str) -> Incoming {
    Incoming {
        is_direct: false,
        channel_title: Some(format!("group {chat}")),
        ..dm(chat, user, text)
    }
}

/// [`group`] with `mentions_bot` set.
pub fn mention(chat: &str, user: &str, text: &str) -> Incoming {
    Incoming {
        mentions_bot: true,
        ..group(chat, user, text)
    }
}
