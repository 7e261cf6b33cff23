//! The seam between the core and the platform adapters.
//!
//! An adapter turns a platform event into an [`Incoming`] and implements [`Outbox`] with its
//! platform client; the core decides whether and how to answer and streams the answer back
//! through the outbox. The core knows no platform; adapters hold no conversation logic.

use crate::i18n::Language;
use std::fmt;
use std::time::Duration;

use crate::Result;

/// Which platform a channel lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    /// The local terminal (`parley chat`).
    Console,
    /// Telegram.
    Telegram,
    /// Discord.
    Discord,
    /// In-process tests (only with the `testing` feature: never in a release build).
    #[cfg(any(test, feature = "testing"))]
    Test,
}

impl Platform {
    /// Stable lowercase name, used in storage and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Console => "console",
            Platform::Telegram => "telegram",
            Platform::Discord => "discord",
            #[cfg(any(test, feature = "testing"))]
            Platform::Test => "test",
        }
    }

    /// Inverse of [`Platform::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "console" => Platform::Console,
            "telegram" => Platform::Telegram,
            "discord" => Platform::Discord,
            #[cfg(any(test, feature = "testing"))]
            "test" => Platform::Test,
            _ => return None,
        })
    }
}

/// One conversation: a platform chat, optionally narrowed to a thread / forum topic.
///
/// Everything the bot remembers is keyed by this; two keys never share turns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelKey {
    /// The platform.
    pub platform: Platform,
    /// Platform chat / channel id.
    pub chat: String,
    /// Thread or forum-topic id inside the chat, if any.
    pub thread: Option<String>,
}

impl ChannelKey {
    /// A key without a thread.
    pub fn new(platform: Platform, chat: impl Into<String>) -> Self {
        Self {
            platform,
            chat: chat.into(),
            thread: None,
        }
    }

    /// The same chat narrowed to a thread.
    pub fn with_thread(mut self, thread: impl Into<String>) -> Self {
        self.thread = Some(thread.into());
        self
    }
}

impl fmt::Display for ChannelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.thread {
            Some(t) => write!(f, "{}:{}:{}", self.platform.as_str(), self.chat, t),
            None => write!(f, "{}:{}", self.platform.as_str(), self.chat),
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Platform user id.
    pub id: String,
    /// The name people see (nickname first where the platform has one).
    pub display_name: String,
    /// Whether the platform says this user administers the chat (group admin, Manage Server).
    pub is_platform_admin: bool,
}

/// A platform message, reduced to what the core needs.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The conversation it belongs to.
    pub key: ChannelKey,
    /// Platform message id (used to reply to it).
    pub message_id: String,
    /// Who wrote it.
    pub author: Author,
    /// The text, with the bot's own mention already stripped by the adapter.
    pub text: String,
    /// A direct (one-to-one) chat.
    pub is_direct: bool,
    /// The message mentions the bot (user or role mention, `@botname`).
    pub mentions_bot: bool,
    /// The message replies to one of the bot's messages.
    pub reply_to_bot: bool,
    /// Unix time in seconds.
    pub at: i64,
    /// Chat title for groups, if the platform gives one (used in prompts).
    pub channel_title: Option<String>,
    /// The message this one replies to, when it is a reply (the bot puts it into the turn).
    pub reply_to: Option<RepliedTo>,
    /// Files attached to the message, described; the bot downloads the ones it reads through
    /// [`Outbox::download`].
    pub attachments: Vec<Attachment>,
    /// The user's language as the platform tells it (Telegram's `language_code`), if it does.
    pub language: Option<String>,
}

/// The message an [`Incoming`] replies to, as far as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepliedTo {
    /// Platform message id.
    pub message_id: String,
    /// The display name of its author.
    pub author_name: String,
    /// Its text or caption; only the fragment the user quoted, when they quoted one.
    pub text: String,
    /// Whether the bot wrote it.
    pub is_bot: bool,
}

/// A file attached to an [`Incoming`]: described here, downloaded only if the bot reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file's name as the user sent it (`notes.txt`); the adapter makes one up when the
    /// platform gives none (`photo.jpg`).
    pub name: String,
    /// Its MIME type, when the platform says.
    pub mime: Option<String>,
    /// Its size in bytes, when the platform says (checked before downloading).
    pub size: Option<u64>,
    /// What the adapter needs to download it (Telegram's file id, Discord's attachment URL).
    pub locator: String,
}

/// A message the bot sent, so it can be edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    /// Where it was sent.
    pub key: ChannelKey,
    /// Platform message id.
    pub id: String,
}

/// Which markup the platform renders. The core sends plain text today; adapters use this to
/// decide how to escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// No markup: text is shown as is.
    Plain,
    /// Discord's Markdown.
    DiscordMarkdown,
    /// Telegram (text sent without parse mode, so never rejected).
    TelegramPlain,
}

/// What the platform allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformLimits {
    /// Longest message, in UTF-16 code units (what Telegram and Discord count; an emoji outside
    /// the Basic Multilingual Plane counts two).
    pub max_message_chars: usize,
    /// Smallest gap between two edits of messages in one chat.
    pub edit_interval: Duration,
    /// Markup flavour.
    pub markup: Markup,
    /// Whether streaming by edits is possible at all (the console prints deltas instead).
    pub supports_edit: bool,
}

/// A file for one user's eyes only (`/export`), handed to [`Outbox::send_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateFile {
    /// Who gets it: the user's id on the platform.
    pub user_id: String,
    /// The chat they asked in (a platform may answer there where only they see it).
    pub asked_in: ChannelKey,
    /// The file's name.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// A line sent with it.
    pub caption: String,
}

/// How the core talks back to a platform, and fetches the files users attach. Implementations
/// retry transient failures (429 with retry-after, 5xx) themselves and return an error only
/// when they give up.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Send a new message; `reply_to` names the message it answers (shown as a reply).
    ///
    /// A text over [`PlatformLimits::max_message_chars`] (the core splits before, so only by
    /// mistake) goes out as several messages, the first one replying to `reply_to`; the
    /// returned reference is the **first** part's. It is the message that shows the text's
    /// beginning, so an edit, which replaces a message's whole text from its start, lands where
    /// that text starts, and a reply pointing at it quotes the start of the answer, right under
    /// the question it answers.
    async fn send(
        &self,
        key: &ChannelKey,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<MessageRef>;
    /// Replace the text of a message the bot sent.
    async fn edit(&self, msg: &MessageRef, text: &str) -> Result<()>;
    /// Show "typing…" in the chat.
    async fn typing(&self, key: &ChannelKey) -> Result<()>;
    /// The platform's limits.
    fn limits(&self) -> PlatformLimits;
    /// Send `file` to its user privately: in their direct chat, or where only they see it.
    /// The default sends nothing: the platform has no files.
    async fn send_file(&self, file: &PrivateFile) -> Result<()> {
        Err(crate::Error::Platform(format!(
            "no files on this platform ({})",
            file.name
        )))
    }
    /// Download an attachment of an incoming message, giving up (with an error) past
    /// `max_bytes`. The default downloads nothing: the platform has no files.
    async fn download(&self, attachment: &Attachment, max_bytes: u64) -> Result<Vec<u8>> {
        let _ = max_bytes;
        Err(crate::Error::Platform(format!(
            "no downloads on this platform ({})",
            attachment.name
        )))
    }
}

/// A command the bot understands, as platforms list them (Telegram's `setMyCommands`, Discord's
/// slash commands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandInfo {
    /// Name without the slash, lowercase (`reset`).
    pub name: &'static str,
    /// One-line description, in the language the list was asked for.
    pub description: String,
    /// Argument hint (`NAME`, `LANG[,LANG]|off`), empty when it takes none.
    pub args: &'static str,
    /// Whether only admins may use it.
    pub admin_only: bool,
}

/// What adapters hand their events to. The core's `bot::Bot` is the real one; tests may use others.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    /// Handle one message: decide whether to answer, and answer through `outbox`. Returns once
    /// the message is accepted (stored and queued), not when the answer is finished.
    async fn handle(&self, message: Incoming, outbox: std::sync::Arc<dyn Outbox>);
    /// The commands to register with the platform, described in `lang`.
    fn commands(&self, lang: Language) -> Vec<CommandInfo>;
    /// The commands a group member who is no admin may use, for menus shown in groups. The
    /// default: those not [`CommandInfo::admin_only`].
    fn group_member_commands(&self, lang: Language) -> Vec<CommandInfo> {
        self.commands(lang)
            .into_iter()
            .filter(|c| !c.admin_only)
            .collect()
    }
    /// The language the bot speaks when it does not know the user's (`bot.language`): the
    /// platforms' default command menus and refusals made before a message reaches the bot.
    fn language(&self) -> Language {
        Language::default()
    }
    /// Whether `user` of `platform` is within the per-user rate limit now, counting nothing:
    /// an adapter asks before a platform call it makes for a user's event (fetching the message
    /// a reaction is on), so that the limit bounds those calls too. The default: always.
    fn within_rate_limit(&self, platform: Platform, user: &str) -> bool {
        let _ = (platform, user);
        true
    }
    /// Stop: cancel or finish answers in flight and flush storage.
    async fn shutdown(&self);
    /// Answer, through `outbox`, the recent questions of `platform` that a crash or restart
    /// left unanswered, each only if `allowlist` still admits it (the configuration may have
    /// changed since it was asked). Adapters call it once connected; it returns once they are
    /// queued. The default does nothing.
    async fn resume(
        &self,
        platform: Platform,
        outbox: std::sync::Arc<dyn Outbox>,
        allowlist: std::sync::Arc<dyn Allowlist>,
    ) {
        let _ = (platform, outbox, allowlist);
    }
}

/// What an adapter's allowlists say about a message, a command or a reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessVerdict {
    /// Hand it to the core.
    Allow,
    /// Not allowed where a reply is expected (a direct message): answer with a short refusal.
    Refuse,
    /// Not allowed where silence is right (outside the allowlists in a group): drop it.
    Ignore,
}

/// An adapter's access rules (allowlists), asked again for a message the bot takes up later
/// than it came: a question a restart left unanswered is answered only if its author may still
/// talk to the bot there.
#[async_trait::async_trait]
pub trait Allowlist: Send + Sync {
    /// Whether `message` would be let through to the bot if it came now.
    async fn admits(&self, message: &Incoming) -> bool;
}

/// The [`Allowlist`] of a platform without one (the console): everyone is admitted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Everyone;

#[async_trait::async_trait]
impl Allowlist for Everyone {
    async fn admits(&self, _message: &Incoming) -> bool {
        true
    }
}
