//! Durable history and per-channel settings in SQLite.
//!
//! One file (WAL journal, `synchronous=FULL`): a turn is committed to disk before the call that
//! writes it returns, so the bot acknowledges (queues, answers) only what survives a crash or a
//! `kill -9`. Every call runs on tokio's blocking pool (`spawn_blocking`), never on the async
//! runtime's threads; the connection sits behind a mutex, SQLite serialises writers anyway.
//!
//! Tables: `turns` (one row per message, channel key split into platform/chat/thread, a
//! `cleared` flag no longer set (`/reset` deletes), and on answers the message id of the
//! question each answers), `channels` (mode, system override, translation languages, sampling
//! overrides as JSON, notes and who pinned each), `seen` (handled platform message ids, no
//! text), `answers` (what `/why` tells about each message the bot wrote: an [`AnswerRecord`] as
//! JSON, one row per message id of the answer, with the question it answers).
//!
//! What a user deletes is gone from the bytes: the connection runs with
//! `PRAGMA secure_delete = ON` (deleted rows are overwritten with zeros, not left in free
//! pages), and every deleting pass (`/forget`, `/reset`, retention; see `privacy`) ends with
//! `wal_checkpoint(TRUNCATE)`, so no old page image stays in the WAL. A store Parley creates
//! is readable by its owner only (file 0600, folder 0700).
//! The schema version lives in `PRAGMA user_version`; migrations
//! run in order on open.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::conversation::Turn;
use crate::engine::Role;
use crate::seam::{ChannelKey, Platform};
use crate::{Error, Result};

mod privacy;

pub use privacy::{Export, ExportedNote, ExportedTurn, Forgetting, Forgotten, Retained};
#[cfg(feature = "testing")]
mod faults;

/// Schema migrations; entry `i` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE turns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    platform    TEXT    NOT NULL,
    chat        TEXT    NOT NULL,
    thread      TEXT    NOT NULL DEFAULT '',
    role        TEXT    NOT NULL,
    author_id   TEXT    NOT NULL,
    author_name TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    message_id  TEXT,
    addressed   INTEGER NOT NULL DEFAULT 1,
    partial     INTEGER NOT NULL DEFAULT 0,
    cleared     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX turns_by_channel ON turns (platform, chat, thread, id);
CREATE INDEX turns_by_time ON turns (at);
CREATE TABLE channels (
    platform  TEXT NOT NULL,
    chat      TEXT NOT NULL,
    thread    TEXT NOT NULL DEFAULT '',
    mode      TEXT,
    system    TEXT,
    translate TEXT NOT NULL DEFAULT '',
    sampling  TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (platform, chat, thread)
);
"#,
    r#"
CREATE TABLE seen (
    platform   TEXT    NOT NULL,
    chat       TEXT    NOT NULL,
    thread     TEXT    NOT NULL DEFAULT '',
    message_id TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    direct     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (platform, chat, thread, message_id)
);
CREATE INDEX turns_by_message ON turns (platform, chat, thread, message_id);
ALTER TABLE channels ADD COLUMN notes TEXT NOT NULL DEFAULT '[]';
"#,
    // The channel's model by name (`/model`).
    "ALTER TABLE channels ADD COLUMN model TEXT;",
    r#"
CREATE TABLE answers (
    platform   TEXT    NOT NULL,
    chat       TEXT    NOT NULL,
    thread     TEXT    NOT NULL DEFAULT '',
    message_id TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    record     TEXT    NOT NULL,
    PRIMARY KEY (platform, chat, thread, message_id)
);
CREATE INDEX answers_by_time ON answers (at);
"#,
    r#"
ALTER TABLE turns ADD COLUMN answers TEXT;
"#,
    // `/forget`: the question each `/why` record's answer answers, and who pinned each note.
    r#"
ALTER TABLE answers ADD COLUMN question TEXT;
ALTER TABLE channels ADD COLUMN notes_by TEXT NOT NULL DEFAULT '[]';
"#,
];

/// How long the ids of handled messages are remembered for [`Store::delivery`], in seconds. A
/// platform replays messages after a crash within seconds or minutes (Telegram redelivers the
/// updates of the last poll that was never confirmed); two days is ample.
pub const SEEN_KEEP_SECS: i64 = 2 * 86_400;

/// SQL: whether the user turn `t` was answered: an answer came after it whose window included
/// it. An answer's window ends at the question it answers (`answers`, that question's message
/// id), so an answer to an earlier question, written while `t` waited in the queue, does not
/// count; an answer without `answers` (`/retry`, or stored before answers named their
/// question) saw every turn before it. [`Store::delivery`] and [`Store::unanswered`] share it, so
/// both mean the same by "answered".
const ANSWERED_AFTER: &str = "EXISTS (SELECT 1 FROM turns a
     WHERE a.platform = t.platform AND a.chat = t.chat AND a.thread = t.thread
       AND a.id > t.id AND a.role = 'assistant'
       AND (a.answers IS NULL OR EXISTS (SELECT 1 FROM turns q
            WHERE q.platform = a.platform AND q.chat = a.chat AND q.thread = a.thread
              AND q.message_id = a.answers AND q.role = 'user' AND q.id >= t.id)))";

/// Whether a platform message was handled before (see [`Store::delivery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Never seen: handle it.
    New,
    /// Its user turn is stored but no answer came after it (the process stopped in between):
    /// answer it without storing it again.
    Unanswered,
    /// Handled already (answered, a command that ran, kept as context, or reset/forgotten
    /// since): do nothing.
    Done,
}

/// A stored question that was never answered (see [`Store::unanswered`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Unanswered {
    /// Its channel.
    pub key: ChannelKey,
    /// Its platform message id.
    pub message_id: String,
    /// The question.
    pub turn: Turn,
    /// Whether it came in a direct chat.
    pub direct: bool,
}

/// Per-channel sampling overrides set with `/set`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingOverrides {
    /// `/set temperature`.
    pub temperature: Option<f64>,
    /// `/set top_p`.
    pub top_p: Option<f64>,
    /// `/set max_tokens`.
    pub max_tokens: Option<usize>,
    /// `/set seed`.
    pub seed: Option<SeedChoice>,
    /// `/set stop` (empty: no stop strings, whatever the config says).
    pub stop: Option<Vec<String>>,
}

/// A chat's `/set seed`: a fixed seed, or random even where the config fixes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeedChoice {
    /// Reproducible answers.
    Fixed(u64),
    /// A new seed for every answer.
    Random,
}

impl SamplingOverrides {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a channel remembers besides its turns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelSettings {
    /// Persona (`/mode`); `None` = the configured default.
    pub mode: Option<String>,
    /// System prompt override (`/system`); `None` = the persona's.
    pub system: Option<String>,
    /// Translation targets as language codes (`/translate en,zh`); empty = off.
    pub translate: Vec<String>,
    /// Sampling overrides (`/set`).
    pub sampling: SamplingOverrides,
    /// Pinned notes (`/remember`), oldest first.
    pub notes: Vec<String>,
    /// Who pinned each of `notes` (user ids, in the same order; `""` for a note pinned before
    /// Parley kept it), so `/forget notes` deletes a member's own notes only.
    pub notes_by: Vec<String>,
    /// The model by name (`/model`); `None` = the first of `[[models]]`.
    pub model: Option<String>,
}

/// Where an answer's system prompt came from, for `/why`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptSource {
    /// A persona (`/mode`, else `prompts.default_mode`) from the prompts folder.
    Persona,
    /// The chat's own `/system` text.
    System,
    /// The translation prompt (translate mode).
    Translation,
}

/// Why an answer ended, for `/why`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopCause {
    /// The model ended its turn.
    EndOfTurn,
    /// `max_tokens` (or the context) ran out.
    MaxTokens,
    /// One of the chat's stop strings.
    StopString,
    /// `/cancel` or a `/reset`.
    Cancelled,
    /// The engine failed part way.
    Failed,
}

/// What `/why` tells about one answer: how it was made, never what any chat said. Stored with
/// the answer, so it survives restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnswerRecord {
    /// The model, as the engine describes it (never a server address).
    pub model: String,
    /// The engine kind (`local`, `openai`).
    pub engine: String,
    /// The persona's name (`/mode`); empty for a `/system` text or a translation.
    pub persona: String,
    /// Where the system prompt came from.
    pub prompt_source: Option<PromptSource>,
    /// Pinned notes in the prompt, and how many the chat has.
    pub notes_used: usize,
    /// Pinned notes the chat has.
    pub notes_total: usize,
    /// Earlier turns in the window (the question excluded).
    pub turns_included: usize,
    /// Turns the window left out.
    pub turns_dropped: usize,
    /// Prompt tokens, as the engine counted them.
    pub prompt_tokens: usize,
    /// Of the window: tokens of what is pinned (system prompt, persona, notes).
    pub pinned_tokens: usize,
    /// Of the window: tokens of the earlier turns.
    pub history_tokens: usize,
    /// Of the window: tokens of the new message.
    pub new_tokens: usize,
    /// Prompt tokens the conversation's own KV cache already held.
    pub cached_tokens: usize,
    /// Prompt tokens copied from another chat's cache: the shared start of the persona.
    pub shared_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Why it ended.
    pub stop: Option<StopCause>,
    /// Sampling temperature (0 = greedy).
    pub temperature: f64,
    /// Nucleus sampling mass.
    pub top_p: f64,
    /// Top-k (0 = off).
    pub top_k: usize,
    /// Longest answer allowed, in tokens.
    pub max_tokens: usize,
    /// Repeat penalty.
    pub repeat_penalty: f32,
    /// The seed the answer was sampled with (`/set seed` reproduces it).
    pub seed: Option<u64>,
    /// Stop strings in force.
    pub stop_strings: usize,
    /// From the request to the first token, in milliseconds.
    pub time_to_first_token_ms: u64,
    /// Decoding speed, tokens per second.
    pub tokens_per_second: f64,
    /// When it was written (Unix seconds).
    pub at: i64,
}

/// Counts for `/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Turns stored and not cleared.
    pub turns: usize,
    /// Turns stored in total, including ones cleared by `/reset` and not yet pruned.
    pub turns_total: usize,
}

/// A handle on the SQLite store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn db(e: rusqlite::Error) -> Error {
    Error::Store(e.to_string())
}

fn thread_of(key: &ChannelKey) -> &str {
    key.thread.as_deref().unwrap_or("")
}

fn role_from(s: &str) -> Role {
    match s {
        "assistant" => Role::Assistant,
        "system" => Role::System,
        _ => Role::User,
    }
}

fn mark_seen(
    c: &Connection,
    key: &ChannelKey,
    message_id: &str,
    at: i64,
    direct: bool,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT OR IGNORE INTO seen (platform, chat, thread, message_id, at, direct)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            key.platform.as_str(),
            key.chat,
            thread_of(key),
            message_id,
            at,
            direct
        ],
    )?;
    Ok(())
}

/// See [`Store::delivery`].
fn delivery(c: &Connection, key: &ChannelKey, message_id: &str) -> rusqlite::Result<Delivery> {
    let thread = thread_of(key);
    let seen: bool = c.query_row(
        "SELECT EXISTS(SELECT 1 FROM seen
         WHERE platform = ?1 AND chat = ?2 AND thread = ?3 AND message_id = ?4)",
        params![key.platform.as_str(), key.chat, thread, message_id],
        |r| r.get(0),
    )?;
    if !seen {
        return Ok(Delivery::New);
    }
    let turn: Option<(bool, bool, bool)> = c
        .query_row(
            &format!(
                "SELECT t.cleared, t.addressed, {ANSWERED_AFTER} FROM turns t
                 WHERE t.platform = ?1 AND t.chat = ?2 AND t.thread = ?3
                   AND t.message_id = ?4 AND t.role = 'user'
                 ORDER BY t.id DESC LIMIT 1"
            ),
            params![key.platform.as_str(), key.chat, thread, message_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((false, true, answered)) = turn else {
        return Ok(Delivery::Done);
    };
    Ok(if answered {
        Delivery::Done
    } else {
        Delivery::Unanswered
    })
}

/// Insert a turn; a user's turn with its platform message id marks that message seen. The
/// caller commits.
fn insert_turn(
    c: &Connection,
    key: &ChannelKey,
    turn: &Turn,
    message_id: Option<&str>,
    direct: bool,
) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO turns (platform, chat, thread, role, author_id, author_name, text, at,
                            message_id, addressed, partial)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            key.platform.as_str(),
            key.chat,
            thread_of(key),
            turn.role.as_str(),
            turn.author_id,
            turn.author_name,
            turn.text,
            turn.at,
            message_id,
            turn.addressed,
            turn.partial,
        ],
    )?;
    let id = c.last_insert_rowid();
    if let (Role::User, Some(m)) = (turn.role, message_id) {
        mark_seen(c, key, m, turn.at, direct)?;
    }
    Ok(id)
}

/// The newest `limit` turns of a channel that `/reset` has not cleared, oldest first.
fn recent_turns(c: &Connection, key: &ChannelKey, limit: usize) -> rusqlite::Result<Vec<Turn>> {
    let mut st = c.prepare_cached(
        "SELECT role, author_id, author_name, text, at, addressed, partial FROM turns
         WHERE platform = ?1 AND chat = ?2 AND thread = ?3 AND cleared = 0
         ORDER BY id DESC LIMIT ?4",
    )?;
    let rows = st.query_map(
        params![
            key.platform.as_str(),
            key.chat,
            thread_of(key),
            limit.min(i64::MAX as usize) as i64
        ],
        |r| {
            Ok(Turn {
                role: role_from(&r.get::<_, String>(0)?),
                author_id: r.get(1)?,
                author_name: r.get(2)?,
                text: r.get(3)?,
                at: r.get(4)?,
                addressed: r.get(5)?,
                partial: r.get(6)?,
            })
        },
    )?;
    let mut turns = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    turns.reverse();
    Ok(turns)
}

/// A channel's settings row as stored: mode, system, translate, sampling, notes, model,
/// notes_by.
type SettingsRow = (
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    String,
);

fn settings_row(c: &Connection, key: &ChannelKey) -> rusqlite::Result<Option<SettingsRow>> {
    c.query_row(
        "SELECT mode, system, translate, sampling, notes, model, notes_by FROM channels
         WHERE platform = ?1 AND chat = ?2 AND thread = ?3",
        params![key.platform.as_str(), key.chat, thread_of(key)],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        },
    )
    .optional()
}

/// The settings a row holds; defaults without a row.
fn settings_from(row: Option<SettingsRow>) -> ChannelSettings {
    let Some((mode, system, translate, sampling, notes, model, notes_by)) = row else {
        return ChannelSettings::default();
    };
    let notes: Vec<String> = serde_json::from_str(&notes).unwrap_or_default();
    let mut notes_by: Vec<String> = serde_json::from_str(&notes_by).unwrap_or_default();
    notes_by.resize(notes.len(), String::new());
    ChannelSettings {
        mode,
        system,
        translate: translate
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        // A row written by a newer version with fields this one lacks still loads.
        sampling: serde_json::from_str(&sampling).unwrap_or_default(),
        notes,
        notes_by,
        model,
    }
}

fn key_from(platform: &str, chat: String, thread: String) -> Option<ChannelKey> {
    let mut key = ChannelKey::new(Platform::parse(platform)?, chat);
    if !thread.is_empty() {
        key = key.with_thread(thread);
    }
    Some(key)
}

impl Store {
    /// Open (or create) the store at `path`, creating its folder, and migrate it. Blocking:
    /// call at start-up.
    /// A folder or file Parley creates for it is its owner's only (0700, 0600); one that exists
    /// keeps its permissions.
    pub fn open(path: &Path) -> Result<Store> {
        let open = || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                privacy::create_private_dir(dir)?;
            }
            privacy::create_private_file(path)?;
            Self::init(Connection::open(path).map_err(db)?)
        };
        // The operator reads this at start-up: name the file.
        open().map_err(|e| Error::Store(format!("{}: {e}", path.display())))
    }

    /// A store in memory, gone when dropped. For tests.
    pub fn in_memory() -> Result<Store> {
        Self::init(Connection::open_in_memory().map_err(db)?)
    }

    fn init(mut conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db)?;
        // WAL: readers never block the writer; FULL: a commit is on disk when it returns.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        // What is deleted is overwritten, not left readable in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(db)?;
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db)?;
        if version > MIGRATIONS.len() {
            return Err(Error::Store(format!(
                "the database has schema version {version}, newer than this Parley ({}); upgrade Parley",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(db)?;
            tx.execute_batch(sql).map_err(db)?;
            tx.pragma_update(None, "user_version", i + 1).map_err(db)?;
            tx.commit().map_err(db)?;
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` with the connection on the blocking pool.
    async fn with_connection<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard).map_err(db)
        })
        .await
        .map_err(|e| Error::Store(format!("store task failed: {e}")))?
    }

    /// The journal mode in use (`wal`).
    pub async fn journal_mode(&self) -> Result<String> {
        self.with_connection(|c| c.pragma_query_value(None, "journal_mode", |r| r.get(0)))
            .await
    }

    /// Append a turn and commit it; returns its row id.
    pub async fn append_turn(
        &self,
        key: &ChannelKey,
        turn: &Turn,
        message_id: Option<&str>,
    ) -> Result<i64> {
        self.append_message(key, turn, message_id, false).await
    }

    /// Append the bot's answer to the question with platform message id `answers` (its window
    /// ended there; `None`: it saw every turn, as after `/retry`) and commit it.
    pub async fn append_answer(
        &self,
        key: &ChannelKey,
        turn: &Turn,
        answers: Option<&str>,
    ) -> Result<i64> {
        let key = key.clone();
        let turn = turn.clone();
        let answers = answers.map(str::to_string);
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let id = insert_turn(&tx, &key, &turn, None, false)?;
            tx.execute(
                "UPDATE turns SET answers = ?1 WHERE id = ?2",
                params![answers, id],
            )?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// [`Store::append_turn`] for a user's message, remembering whether it came in a direct
    /// chat (so [`Store::unanswered`] can answer it as it would have been answered).
    pub async fn append_message(
        &self,
        key: &ChannelKey,
        turn: &Turn,
        message_id: Option<&str>,
        direct: bool,
    ) -> Result<i64> {
        let key = key.clone();
        let turn = turn.clone();
        let message_id = message_id.map(str::to_string);
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let id = insert_turn(&tx, &key, &turn, message_id.as_deref(), direct)?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// Remember that the platform message `message_id` was handled without storing a turn (a
    /// command), so a redelivery of it is recognised by [`Store::delivery`].
    pub async fn mark_handled(&self, key: &ChannelKey, message_id: &str, at: i64) -> Result<()> {
        let key = key.clone();
        let message_id = message_id.to_string();
        self.with_connection(move |c| mark_seen(c, &key, &message_id, at, false))
            .await
    }

    /// Whether the platform message `message_id` of this channel was handled before: platforms
    /// redeliver after a crash (an unconfirmed Telegram poll, a Discord resume), and a
    /// redelivered message must neither be stored twice nor answered twice, while one whose
    /// answer was cut off by the crash still deserves one.
    pub async fn delivery(&self, key: &ChannelKey, message_id: &str) -> Result<Delivery> {
        let key = key.clone();
        let message_id = message_id.to_string();
        self.with_connection(move |c| delivery(c, &key, &message_id))
            .await
    }

    /// Take in a user's message: Look up its [`Store::delivery`] and, when it is new, record it in the same
    /// transaction. A question's `turn` is appended (as [`Store::append_message`] does, with
    /// `direct`); without a turn (a command) the message is only marked handled.
    pub async fn receive(
        &self,
        key: &ChannelKey,
        message_id: &str,
        at: i64,
        turn: Option<&Turn>,
        direct: bool,
    ) -> Result<Delivery> {
        let key = key.clone();
        let message_id = message_id.to_string();
        let turn = turn.cloned();
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let delivery = delivery(&tx, &key, &message_id)?;
            if delivery == Delivery::New {
                match &turn {
                    Some(t) => {
                        insert_turn(&tx, &key, t, Some(&message_id), direct)?;
                    }
                    None => mark_seen(&tx, &key, &message_id, at, false)?,
                }
            }
            tx.commit()?;
            Ok(delivery)
        })
        .await
    }

    /// The newest `limit` turns of a channel that `/reset` has not cleared, oldest first.
    pub async fn recent_turns(&self, key: &ChannelKey, limit: usize) -> Result<Vec<Turn>> {
        let key = key.clone();
        self.with_connection(move |c| recent_turns(c, &key, limit))
            .await
    }

    /// A channel as the bot loads it, read in one go: its newest `limit` turns (as
    /// [`Store::recent_turns`]) and its settings (as [`Store::load_settings`]).
    pub async fn load_channel(
        &self,
        key: &ChannelKey,
        limit: usize,
    ) -> Result<(Vec<Turn>, ChannelSettings)> {
        let key = key.clone();
        let (turns, row) = self
            .with_connection(move |c| Ok((recent_turns(c, &key, limit)?, settings_row(c, &key)?)))
            .await?;
        Ok((turns, settings_from(row)))
    }

    /// Delete the channel's newest turn if it is an answer (for `/retry`). Returns whether one
    /// was deleted.
    pub async fn delete_last_assistant_turn(&self, key: &ChannelKey) -> Result<bool> {
        let key = key.clone();
        self.with_connection(move |c| {
            let last: Option<(i64, String)> = c
                .query_row(
                    "SELECT id, role FROM turns
                     WHERE platform = ?1 AND chat = ?2 AND thread = ?3 AND cleared = 0
                     ORDER BY id DESC LIMIT 1",
                    params![key.platform.as_str(), key.chat, thread_of(&key)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match last {
                Some((id, role)) if role == "assistant" => {
                    c.execute("DELETE FROM turns WHERE id = ?1", [id])?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    /// The questions of `platform` asked at or after `since` (Unix seconds) that were stored but
    /// never answered: the process stopped while they were queued or being answered. A question
    /// counts as answered when an answer's window included it (see `ANSWERED_AFTER`): one
    /// queued behind another is still listed after the other's answer. Oldest first.
    pub async fn unanswered(&self, platform: Platform, since: i64) -> Result<Vec<Unanswered>> {
        self.with_connection(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT t.chat, t.thread, t.author_id, t.author_name, t.text, t.at,
                        t.message_id, s.direct
                 FROM turns t
                 JOIN seen s ON s.platform = t.platform AND s.chat = t.chat
                            AND s.thread = t.thread AND s.message_id = t.message_id
                 WHERE t.platform = ?1 AND t.role = 'user' AND t.addressed = 1
                   AND t.cleared = 0 AND t.at >= ?2 AND NOT {ANSWERED_AFTER}
                 ORDER BY t.id"
            ))?;
            let rows = st.query_map(params![platform.as_str(), since], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    Turn::user(
                        &r.get::<_, String>(2)?,
                        &r.get::<_, String>(3)?,
                        &r.get::<_, String>(4)?,
                        r.get(5)?,
                    ),
                    r.get::<_, String>(6)?,
                    r.get::<_, bool>(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (chat, thread, turn, message_id, direct) = row?;
                if let Some(key) = key_from(platform.as_str(), chat, thread) {
                    out.push(Unanswered {
                        key,
                        message_id,
                        turn,
                        direct,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    /// The settings of a channel (defaults if it never changed any).
    pub async fn load_settings(&self, key: &ChannelKey) -> Result<ChannelSettings> {
        let key = key.clone();
        let row = self.with_connection(move |c| settings_row(c, &key)).await?;
        Ok(settings_from(row))
    }

    /// Save a channel's settings (replacing what was there).
    pub async fn save_settings(&self, key: &ChannelKey, settings: &ChannelSettings) -> Result<()> {
        let key = key.clone();
        let s = settings.clone();
        let sampling =
            serde_json::to_string(&s.sampling).map_err(|e| Error::Store(e.to_string()))?;
        let notes = serde_json::to_string(&s.notes).map_err(|e| Error::Store(e.to_string()))?;
        let notes_by =
            serde_json::to_string(&s.notes_by).map_err(|e| Error::Store(e.to_string()))?;
        self.with_connection(move |c| {
            c.execute(
                "INSERT INTO channels (platform, chat, thread, mode, system, translate, sampling,
                                       notes, model, notes_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (platform, chat, thread) DO UPDATE SET
                   mode = excluded.mode, system = excluded.system,
                   translate = excluded.translate, sampling = excluded.sampling,
                   notes = excluded.notes, model = excluded.model,
                   notes_by = excluded.notes_by",
                params![
                    key.platform.as_str(),
                    key.chat,
                    thread_of(&key),
                    s.mode,
                    s.system,
                    s.translate.join(","),
                    sampling,
                    notes,
                    s.model,
                    notes_by
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Every channel that has visible turns or settings.
    pub async fn list_channels(&self) -> Result<Vec<ChannelKey>> {
        let rows: Vec<(String, String, String)> = self
            .with_connection(|c| {
                let mut st = c.prepare(
                    "SELECT platform, chat, thread FROM turns WHERE cleared = 0
                     UNION SELECT platform, chat, thread FROM channels
                     ORDER BY 1, 2, 3",
                )?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect()
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(p, c, t)| key_from(&p, c, t))
            .collect())
    }

    /// Keep what `/why` tells about an answer, under each platform message id it was sent as.
    /// The record is tied to the question its answer answers, so `/forget` finds it: the
    /// channel's newest stored answer's question (the answer is stored just before its record),
    /// else the newest question.
    pub async fn keep_answer_record(
        &self,
        key: &ChannelKey,
        message_ids: &[String],
        record: &AnswerRecord,
    ) -> Result<()> {
        let key = key.clone();
        let ids = message_ids.to_vec();
        let json = serde_json::to_string(record).map_err(|e| Error::Store(e.to_string()))?;
        let at = record.at;
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let question: Option<String> = tx.query_row(
                "SELECT COALESCE(
                   (SELECT a.answers FROM turns a
                    WHERE a.platform = ?1 AND a.chat = ?2 AND a.thread = ?3
                      AND a.role = 'assistant' ORDER BY a.id DESC LIMIT 1),
                   (SELECT q.message_id FROM turns q
                    WHERE q.platform = ?1 AND q.chat = ?2 AND q.thread = ?3
                      AND q.role = 'user' AND q.message_id IS NOT NULL
                    ORDER BY q.id DESC LIMIT 1))",
                params![key.platform.as_str(), key.chat, thread_of(&key)],
                |r| r.get(0),
            )?;
            for id in &ids {
                tx.execute(
                    "INSERT OR REPLACE INTO answers (platform, chat, thread, message_id, at, record,
                                                     question)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        key.platform.as_str(),
                        key.chat,
                        thread_of(&key),
                        id,
                        at,
                        json,
                        question
                    ],
                )?;
            }
            tx.commit()
        })
        .await
    }

    /// The record of the answer sent as `message_id` in this channel, or (`None`) of the
    /// channel's newest answer; `None` when the bot wrote no such answer (or it was pruned).
    pub async fn answer_record(
        &self,
        key: &ChannelKey,
        message_id: Option<&str>,
    ) -> Result<Option<AnswerRecord>> {
        let key = key.clone();
        let message_id = message_id.map(str::to_string);
        let json: Option<String> = self
            .with_connection(move |c| {
                let (platform, thread) = (key.platform.as_str(), thread_of(&key));
                match &message_id {
                    Some(id) => c.query_row(
                        "SELECT record FROM answers
                         WHERE platform = ?1 AND chat = ?2 AND thread = ?3 AND message_id = ?4",
                        params![platform, key.chat, thread, id],
                        |r| r.get(0),
                    ),
                    None => c.query_row(
                        "SELECT record FROM answers
                         WHERE platform = ?1 AND chat = ?2 AND thread = ?3
                         ORDER BY at DESC, rowid DESC LIMIT 1",
                        params![platform, key.chat, thread],
                        |r| r.get(0),
                    ),
                }
                .optional()
            })
            .await?;
        // A record a newer version wrote with fields this one lacks still reads.
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Turn counts of one channel.
    pub async fn stats(&self, key: &ChannelKey) -> Result<ChannelStats> {
        let key = key.clone();
        self.with_connection(move |c| {
            c.query_row(
                "SELECT COALESCE(SUM(cleared = 0), 0), COUNT(*) FROM turns
                 WHERE platform = ?1 AND chat = ?2 AND thread = ?3",
                params![key.platform.as_str(), key.chat, thread_of(&key)],
                |r| {
                    Ok(ChannelStats {
                        turns: r.get::<_, i64>(0)? as usize,
                        turns_total: r.get::<_, i64>(1)? as usize,
                    })
                },
            )
        })
        .await
    }

    /// Write the WAL back into the main file (on shutdown; not needed for durability).
    pub async fn checkpoint(&self) -> Result<()> {
        self.with_connection(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: Role, who: &str, text: &str, at: i64) -> Turn {
        Turn {
            role,
            author_id: who.into(),
            author_name: who.into(),
            text: text.into(),
            at,
            addressed: true,
            partial: false,
        }
    }

    fn key(chat: &str) -> ChannelKey {
        ChannelKey::new(Platform::Test, chat)
    }

    #[tokio::test]
    async fn a_file_store_commits_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("parley.sqlite3")).unwrap();
        // SQLite reports the level as a number: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. In WAL mode
        // only FULL syncs the log at every commit, which the kill test relies on.
        let level: i64 = s
            .with_connection(|c| c.pragma_query_value(None, "synchronous", |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(level, 2, "PRAGMA synchronous");
    }

    #[tokio::test]
    async fn turns_survive_reopen_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/parley.sqlite3");
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.journal_mode().await.unwrap(), "wal");
            s.append_turn(&key("a"), &turn(Role::User, "u1", "hello", 1), Some("m1"))
                .await
                .unwrap();
            s.append_turn(&key("a"), &turn(Role::Assistant, "bot", "hi", 2), None)
                .await
                .unwrap();
            let mut cs = ChannelSettings {
                mode: Some("concise".into()),
                translate: vec!["en".into(), "zh".into()],
                model: Some("qwen".into()),
                ..Default::default()
            };
            cs.sampling.temperature = Some(0.3);
            s.save_settings(&key("a"), &cs).await.unwrap();
        }
        let s = Store::open(&path).unwrap();
        let t = s.recent_turns(&key("a"), 10).await.unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].text, "hello");
        assert_eq!(t[1].role, Role::Assistant);
        let cs = s.load_settings(&key("a")).await.unwrap();
        assert_eq!(cs.mode.as_deref(), Some("concise"));
        assert_eq!(cs.translate, vec!["en", "zh"]);
        assert_eq!(cs.sampling.temperature, Some(0.3));
        assert_eq!(cs.model.as_deref(), Some("qwen"));
        assert_eq!(s.list_channels().await.unwrap(), vec![key("a")]);
    }

    #[tokio::test]
    async fn threads_are_separate_channels() {
        let s = Store::in_memory().unwrap();
        let k = key("g").with_thread("7");
        s.append_turn(&k, &turn(Role::User, "u", "in thread", 1), None)
            .await
            .unwrap();
        assert!(s.recent_turns(&key("g"), 10).await.unwrap().is_empty());
        assert_eq!(s.recent_turns(&k, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn retry_reset_and_forget() {
        let s = Store::in_memory().unwrap();
        let k = key("a");
        for (r, who, t) in [
            (Role::User, "alice", "a1"),
            (Role::User, "bob", "b1"),
            (Role::Assistant, "bot", "answer"),
        ] {
            s.append_turn(&k, &turn(r, who, t, 1), None).await.unwrap();
        }
        s.append_turn(
            &key("other"),
            &turn(Role::User, "alice", "elsewhere", 1),
            None,
        )
        .await
        .unwrap();
        assert!(s.delete_last_assistant_turn(&k).await.unwrap());
        assert!(!s.delete_last_assistant_turn(&k).await.unwrap());
        let messages = Forgetting {
            messages: true,
            notes: false,
            direct: false,
        };
        let gone = s.forget(&k, "alice", messages).await.unwrap();
        assert_eq!(gone.messages, 1);
        let left: Vec<String> = s
            .recent_turns(&k, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(left, vec!["b1"]);
        assert_eq!(s.recent_turns(&key("other"), 10).await.unwrap().len(), 1);
        assert_eq!(s.clear_channel(&k).await.unwrap(), 1);
        assert!(s.recent_turns(&k, 10).await.unwrap().is_empty());
        // `/reset` deletes: nothing is left to count.
        let st = s.stats(&k).await.unwrap();
        assert_eq!((st.turns, st.turns_total), (0, 0));
    }

    #[tokio::test]
    async fn retention_by_age_and_count() {
        let s = Store::in_memory().unwrap();
        let day = 86_400;
        for i in 0..10 {
            s.append_turn(
                &key("a"),
                &turn(Role::User, "u", &format!("t{i}"), i * day),
                None,
            )
            .await
            .unwrap();
        }
        for i in 0..3 {
            s.append_turn(&key("b"), &turn(Role::User, "u", "b", 9 * day + i), None)
                .await
                .unwrap();
        }
        // Older than 5 days before day 10: t0..t4 go.
        assert_eq!(s.prune(10 * day, 5, 0).await.unwrap().turns, 5);
        // Keep 2 per channel: t5..t7 and one of b go.
        assert_eq!(s.prune(10 * day, 0, 2).await.unwrap().turns, 4);
        let a: Vec<String> = s
            .recent_turns(&key("a"), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(a, vec!["t8", "t9"]);
        assert_eq!(s.recent_turns(&key("b"), 10).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn delivery_tells_new_unanswered_and_done_messages() {
        let s = Store::in_memory().unwrap();
        let k = key("a");
        assert_eq!(s.delivery(&k, "m1").await.unwrap(), Delivery::New);
        s.append_turn(&k, &turn(Role::User, "u", "q1", 100), Some("m1"))
            .await
            .unwrap();
        assert_eq!(s.delivery(&k, "m1").await.unwrap(), Delivery::Unanswered);
        // The same id in another channel or thread is another message.
        assert_eq!(s.delivery(&key("b"), "m1").await.unwrap(), Delivery::New);
        let t = key("a").with_thread("7");
        assert_eq!(s.delivery(&t, "m1").await.unwrap(), Delivery::New);
        s.append_turn(&k, &turn(Role::Assistant, "bot", "a1", 101), Some("r1"))
            .await
            .unwrap();
        assert_eq!(s.delivery(&k, "m1").await.unwrap(), Delivery::Done);
        // A reset question counts as handled.
        s.append_turn(&k, &turn(Role::User, "u", "q2", 102), Some("m2"))
            .await
            .unwrap();
        s.clear_channel(&k).await.unwrap();
        assert_eq!(s.delivery(&k, "m2").await.unwrap(), Delivery::Done);
        // A command leaves no turn, only its id.
        s.mark_handled(&k, "m3", 103).await.unwrap();
        assert_eq!(s.delivery(&k, "m3").await.unwrap(), Delivery::Done);
        // The ids are forgotten after SEEN_KEEP_SECS.
        s.prune(103 + SEEN_KEEP_SECS, 0, 0).await.unwrap();
        assert_eq!(s.delivery(&k, "m3").await.unwrap(), Delivery::Done);
        s.prune(104 + SEEN_KEEP_SECS, 0, 0).await.unwrap();
        assert_eq!(s.delivery(&k, "m3").await.unwrap(), Delivery::New);
    }

    #[tokio::test]
    async fn a_version_1_database_migrates_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO channels (platform, chat, thread, mode, translate, sampling)
                 VALUES ('test', 'a', '', 'coder', 'fr', '{\"temperature\":0.2}')",
                [],
            )
            .unwrap();
            c.execute(
                "INSERT INTO turns (platform, chat, role, author_id, author_name, text, at,
                                    message_id)
                 VALUES ('test', 'a', 'user', 'u', 'u', 'old question', 5, 'm1')",
                [],
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let cs = s.load_settings(&key("a")).await.unwrap();
        assert_eq!(cs.mode.as_deref(), Some("coder"));
        assert_eq!(cs.sampling.temperature, Some(0.2));
        assert!(cs.notes.is_empty());
        assert_eq!(s.recent_turns(&key("a"), 10).await.unwrap().len(), 1);
        // Turns stored before the migration were never marked seen.
        assert_eq!(s.delivery(&key("a"), "m1").await.unwrap(), Delivery::New);
        let mut cs = cs;
        cs.notes.push("kept".into());
        s.save_settings(&key("a"), &cs).await.unwrap();
        assert_eq!(s.load_settings(&key("a")).await.unwrap().notes, ["kept"]);
    }

    #[tokio::test]
    async fn unanswered_lists_the_tail_questions_of_a_platform() {
        let s = Store::in_memory().unwrap();
        let (a, b) = (key("a"), key("b"));
        s.append_message(&a, &turn(Role::User, "u", "q1", 100), Some("1"), true)
            .await
            .unwrap();
        s.append_turn(&a, &turn(Role::Assistant, "bot", "r1", 101), Some("r1"))
            .await
            .unwrap();
        s.append_message(&a, &turn(Role::User, "u", "q2", 102), Some("2"), true)
            .await
            .unwrap();
        s.append_message(&b, &turn(Role::User, "v", "q3", 103), Some("3"), false)
            .await
            .unwrap();
        s.append_message(&b, &turn(Role::User, "v", "q4", 50), Some("4"), false)
            .await
            .unwrap();
        let got = s.unanswered(Platform::Test, 100).await.unwrap();
        let summary: Vec<(String, String, bool)> = got
            .iter()
            .map(|u| (u.key.chat.clone(), u.turn.text.clone(), u.direct))
            .collect();
        assert_eq!(
            summary,
            [
                ("a".to_string(), "q2".to_string(), true),
                ("b".to_string(), "q3".to_string(), false)
            ]
        );
        assert!(s.unanswered(Platform::Discord, 0).await.unwrap().is_empty());
    }
}
