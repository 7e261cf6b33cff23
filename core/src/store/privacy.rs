//! What the store deletes and hands over for the user's sake: `/forget`, `/reset`, retention,
//! `/export`, and the private files of a new store.
//!
//! "Everything made from a message" is found by one rule, [`MADE_FROM_USER`]: an answer
//! belongs to the question it answers (`turns.answers`), or, when it names none (`/retry`, or
//! stored before answers named their question), to the newest question before it. A `/why`
//! record belongs to the question stored with it. Every deleting pass ends with
//! [`truncate_wal`], and the connection runs with `secure_delete`, so what is deleted is in no
//! file of the store afterwards.

use std::path::Path;

use rusqlite::{params, Connection};

use super::{key_from, role_from, settings_row, thread_of, Store, SEEN_KEEP_SECS};
use crate::engine::Role;
use crate::seam::{ChannelKey, Platform};
use crate::Result;

/// SQL: whether the answer `a` was made from a message of user `?4`: it answers one of their
/// questions (by message id), or names no question and the newest question before it is
/// theirs.
const MADE_FROM_USER: &str = "CASE WHEN a.answers IS NOT NULL THEN EXISTS (
       SELECT 1 FROM turns q
       WHERE q.platform = a.platform AND q.chat = a.chat AND q.thread = a.thread
         AND q.message_id = a.answers AND q.role = 'user' AND q.author_id = ?4)
     ELSE (SELECT q.author_id FROM turns q
       WHERE q.platform = a.platform AND q.chat = a.chat AND q.thread = a.thread
         AND q.role = 'user' AND q.id < a.id ORDER BY q.id DESC LIMIT 1) = ?4 END";

/// Most turns one `/export` carries (the retention settings bound a store long before).
const MAX_EXPORTED_TURNS: i64 = 100_000;

/// What `/forget` asks to delete in one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forgetting {
    /// The user's messages and everything made from them.
    pub messages: bool,
    /// The notes the user pinned.
    pub notes: bool,
    /// A direct chat: everything in it is the user's (every turn, every record, every note).
    pub direct: bool,
}

/// What `/forget` deleted, in counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// The user's messages.
    pub messages: usize,
    /// The bot's answers and translations made from them.
    pub answers: usize,
    /// `/why` records of those answers.
    pub records: usize,
    /// Notes the user pinned.
    pub notes: usize,
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retained {
    /// Turns deleted.
    pub turns: usize,
    /// `/why` records deleted.
    pub records: usize,
    /// The channels that lost turns (their loaded conversations and caches are stale).
    pub channels: Vec<ChannelKey>,
}

/// One turn of an `/export`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedTurn {
    /// Where it was written.
    pub channel: ChannelKey,
    /// The user's message, or the bot's answer to one.
    pub role: Role,
    /// Its text.
    pub text: String,
    /// When (Unix seconds).
    pub at: i64,
}

/// One pinned note of an `/export`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedNote {
    /// The chat it is pinned in.
    pub channel: ChannelKey,
    /// Its text.
    pub text: String,
}

/// Everything the store keeps about one user (see [`Store::export`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Export {
    /// Their messages and the answers to them, in every channel, oldest first.
    pub turns: Vec<ExportedTurn>,
    /// The notes they pinned.
    pub notes: Vec<ExportedNote>,
    /// Their direct chats' settings.
    pub direct_settings: Vec<(ChannelKey, super::ChannelSettings)>,
}

/// Create `dir` (and its parents) readable by its owner only, where the platform has modes.
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Create the store file `path`, if missing, readable and writable by its owner only (SQLite
/// gives its WAL and shared-memory files the same mode).
pub(super) fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Write the WAL back into the main file and truncate it, so no page image of deleted rows
/// stays in it.
fn truncate_wal(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
}

/// Delete the notes of one channel that `user` pinned (all of them with `everyone`).
fn forget_notes(
    c: &Connection,
    key: &ChannelKey,
    user: &str,
    everyone: bool,
) -> rusqlite::Result<usize> {
    let Some(row) = settings_row(c, key)? else {
        return Ok(0);
    };
    let settings = super::settings_from(Some(row));
    let total = settings.notes.len();
    let (mut notes, mut notes_by) = (Vec::new(), Vec::new());
    for (note, by) in settings.notes.into_iter().zip(settings.notes_by) {
        if !everyone && by != user {
            notes.push(note);
            notes_by.push(by);
        }
    }
    let deleted = total - notes.len();
    if deleted > 0 {
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        c.execute(
            "UPDATE channels SET notes = ?4, notes_by = ?5
             WHERE platform = ?1 AND chat = ?2 AND thread = ?3",
            params![
                key.platform.as_str(),
                key.chat,
                thread_of(key),
                json(&notes),
                json(&notes_by)
            ],
        )?;
    }
    Ok(deleted)
}

/// Delete one user's messages in a channel and what was made from them.
fn forget_messages(
    c: &Connection,
    key: &ChannelKey,
    user: &str,
    direct: bool,
) -> rusqlite::Result<Forgotten> {
    let p = params![key.platform.as_str(), key.chat, thread_of(key), user];
    let channel = "platform = ?1 AND chat = ?2 AND thread = ?3";
    if direct {
        let p = params![key.platform.as_str(), key.chat, thread_of(key)];
        let records = c.execute(&format!("DELETE FROM answers WHERE {channel}"), p)?;
        let messages = c.execute(
            &format!("DELETE FROM turns WHERE {channel} AND role = 'user'"),
            p,
        )?;
        let answers = c.execute(&format!("DELETE FROM turns WHERE {channel}"), p)?;
        return Ok(Forgotten {
            messages,
            answers,
            records,
            notes: 0,
        });
    }
    let records = c.execute(
        &format!(
            "DELETE FROM answers WHERE {channel} AND question IN (
               SELECT message_id FROM turns
               WHERE {channel} AND role = 'user' AND author_id = ?4 AND message_id IS NOT NULL)"
        ),
        p,
    )?;
    let answers = c.execute(
        &format!(
            "DELETE FROM turns WHERE id IN (
               SELECT a.id FROM turns a
               WHERE a.platform = ?1 AND a.chat = ?2 AND a.thread = ?3
                 AND a.role = 'assistant' AND {MADE_FROM_USER})"
        ),
        p,
    )?;
    let messages = c.execute(
        &format!("DELETE FROM turns WHERE {channel} AND role = 'user' AND author_id = ?4"),
        p,
    )?;
    Ok(Forgotten {
        messages,
        answers,
        records,
        notes: 0,
    })
}

/// The channels with turns older than `cutoff`, or with more than `keep` turns (0: no count
/// limit).
fn channels_to_retain(
    c: &Connection,
    cutoff: i64,
    keep: usize,
) -> rusqlite::Result<Vec<ChannelKey>> {
    let mut st = c.prepare(
        "SELECT platform, chat, thread FROM turns WHERE at < ?1
         UNION SELECT platform, chat, thread FROM turns
         GROUP BY platform, chat, thread HAVING ?2 > 0 AND COUNT(*) > ?2",
    )?;
    let rows = st.query_map(params![cutoff, keep as i64], |r| {
        Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
    })?;
    let mut keys = Vec::new();
    for row in rows {
        let (p, chat, thread) = row?;
        keys.extend(key_from(&p, chat, thread));
    }
    Ok(keys)
}

impl Store {
    /// `/forget` in one channel: what `what` asks, for `user_id`, in one transaction, then the
    /// WAL truncated. In a group, only that member's messages, the answers made from them and
    /// their records (and, asked, the notes they pinned).
    pub async fn forget(
        &self,
        key: &ChannelKey,
        user_id: &str,
        what: Forgetting,
    ) -> Result<Forgotten> {
        let key = key.clone();
        let user = user_id.to_string();
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let mut done = Forgotten::default();
            if what.messages {
                done = forget_messages(&tx, &key, &user, what.direct)?;
            }
            if what.notes {
                done.notes = forget_notes(&tx, &key, &user, what.direct)?;
            }
            tx.commit()?;
            truncate_wal(c)?;
            Ok(done)
        })
        .await
    }

    /// `/reset`: delete every turn of the channel and every `/why` record of its answers (its
    /// settings and notes stay), then truncate the WAL. Returns how many turns were deleted.
    pub async fn clear_channel(&self, key: &ChannelKey) -> Result<usize> {
        let key = key.clone();
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let p = params![key.platform.as_str(), key.chat, thread_of(&key)];
            let channel = "platform = ?1 AND chat = ?2 AND thread = ?3";
            let deleted = tx.execute(&format!("DELETE FROM turns WHERE {channel}"), p)?;
            tx.execute(&format!("DELETE FROM answers WHERE {channel}"), p)?;
            tx.commit()?;
            truncate_wal(c)?;
            Ok(deleted)
        })
        .await
    }

    /// Retention: delete turns and `/why` records older than `days` days before `now` (0 = no
    /// age limit), all but the newest `turns_per_channel` turns of each channel (0 = no count
    /// limit), and the ids of handled messages past [`SEEN_KEEP_SECS`]; the WAL is truncated
    /// after any deletion.
    pub async fn prune(&self, now: i64, days: u32, turns_per_channel: usize) -> Result<Retained> {
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let cutoff = if days > 0 {
                now - i64::from(days) * 86_400
            } else {
                i64::MIN
            };
            let mut done = Retained {
                channels: channels_to_retain(&tx, cutoff, turns_per_channel)?,
                ..Retained::default()
            };
            if days > 0 {
                done.turns += tx.execute("DELETE FROM turns WHERE at < ?1", [cutoff])?;
                done.records += tx.execute("DELETE FROM answers WHERE at < ?1", [cutoff])?;
            }
            tx.execute(
                "DELETE FROM seen WHERE at < ?1",
                [now.saturating_sub(SEEN_KEEP_SECS)],
            )?;
            if turns_per_channel > 0 {
                done.turns += tx.execute(
                    "DELETE FROM turns WHERE id IN (
                       SELECT id FROM (
                         SELECT id, ROW_NUMBER() OVER (
                           PARTITION BY platform, chat, thread ORDER BY id DESC) AS n
                         FROM turns)
                       WHERE n > ?1)",
                    [turns_per_channel as i64],
                )?;
            }
            tx.commit()?;
            if done.turns + done.records > 0 {
                truncate_wal(c)?;
            }
            Ok(done)
        })
        .await
    }

    /// `/export`: everything kept about `user_id` on `platform`: their messages and the
    /// answers made from them in every channel (at most `MAX_EXPORTED_TURNS`), the notes
    /// they pinned, and the settings of their direct chats (those where one of their questions
    /// came in directly, and `direct`, the chat they asked in when it is one).
    pub async fn export(
        &self,
        platform: Platform,
        user_id: &str,
        direct: Option<&ChannelKey>,
    ) -> Result<Export> {
        let user = user_id.to_string();
        let direct = direct.cloned();
        self.with_connection(move |c| {
            let mut export = Export {
                turns: exported_turns(c, platform, &user)?,
                notes: exported_notes(c, platform, &user)?,
                direct_settings: Vec::new(),
            };
            let mut dms = direct_chats(c, platform, &user)?;
            if let Some(k) = direct.filter(|k| !dms.contains(k)) {
                dms.push(k);
            }
            for key in dms {
                let row = settings_row(c, &key)?;
                export
                    .direct_settings
                    .push((key, super::settings_from(row)));
            }
            Ok(export)
        })
        .await
    }
}

fn exported_turns(
    c: &Connection,
    platform: Platform,
    user: &str,
) -> rusqlite::Result<Vec<ExportedTurn>> {
    let mut st = c.prepare(&format!(
        "SELECT a.chat, a.thread, a.role, a.text, a.at FROM turns a
         WHERE a.platform = ?1
           AND ((a.role = 'user' AND a.author_id = ?4)
                OR (a.role = 'assistant' AND {MADE_FROM_USER}))
         ORDER BY a.id LIMIT ?5"
    ))?;
    let rows = st.query_map(
        // ?2 and ?3 are unused here: [`MADE_FROM_USER`] names the user ?4.
        params![platform.as_str(), "", "", user, MAX_EXPORTED_TURNS],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        },
    )?;
    let mut turns = Vec::new();
    for row in rows {
        let (chat, thread, role, text, at) = row?;
        if let Some(channel) = key_from(platform.as_str(), chat, thread) {
            turns.push(ExportedTurn {
                channel,
                role: role_from(&role),
                text,
                at,
            });
        }
    }
    Ok(turns)
}

fn exported_notes(
    c: &Connection,
    platform: Platform,
    user: &str,
) -> rusqlite::Result<Vec<ExportedNote>> {
    let mut st = c.prepare(
        "SELECT chat, thread FROM channels WHERE platform = ?1 AND notes != '[]' ORDER BY 1, 2",
    )?;
    let keys: Vec<(String, String)> = st
        .query_map([platform.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut notes = Vec::new();
    for (chat, thread) in keys {
        let Some(channel) = key_from(platform.as_str(), chat, thread) else {
            continue;
        };
        let settings = super::settings_from(settings_row(c, &channel)?);
        for (text, by) in settings.notes.into_iter().zip(settings.notes_by) {
            if by == user {
                notes.push(ExportedNote {
                    channel: channel.clone(),
                    text,
                });
            }
        }
    }
    Ok(notes)
}

/// The direct chats in which `user`'s questions came in.
fn direct_chats(
    c: &Connection,
    platform: Platform,
    user: &str,
) -> rusqlite::Result<Vec<ChannelKey>> {
    let mut st = c.prepare(
        "SELECT DISTINCT s.chat, s.thread FROM seen s
         WHERE s.platform = ?1 AND s.direct = 1 AND EXISTS (
           SELECT 1 FROM turns t WHERE t.platform = s.platform AND t.chat = s.chat
             AND t.thread = s.thread AND t.message_id = s.message_id AND t.author_id = ?2)
         ORDER BY 1, 2",
    )?;
    let rows = st.query_map(params![platform.as_str(), user], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut keys = Vec::new();
    for row in rows {
        let (chat, thread) = row?;
        keys.extend(key_from(platform.as_str(), chat, thread));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Turn;

    fn key(chat: &str) -> ChannelKey {
        ChannelKey::new(Platform::Test, chat)
    }

    const GROUP: Forgetting = Forgetting {
        messages: true,
        notes: true,
        direct: false,
    };

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_store_is_its_owners_only_and_deletes_securely() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/parley.sqlite3");
        let s = Store::open(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        assert_eq!(mode(&path), 0o600);
        let on: i64 = s
            .with_connection(|c| c.pragma_query_value(None, "secure_delete", |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(on, 1, "PRAGMA secure_delete");
    }

    /// Alice's question, an answer naming it, Bob's question, and a `/retry` answer naming
    /// none (so Bob's, the newest question before it).
    async fn group_with_two_members(s: &Store) -> ChannelKey {
        let g = key("g");
        s.append_message(
            &g,
            &Turn::user("alice", "Alice", "A-Q", 1),
            Some("1"),
            false,
        )
        .await
        .unwrap();
        s.append_answer(&g, &Turn::assistant("A-ANSWER", 2, false), Some("1"))
            .await
            .unwrap();
        s.keep_answer_record(&g, &["r1".into()], &super::super::AnswerRecord::default())
            .await
            .unwrap();
        s.append_message(&g, &Turn::user("bob", "Bob", "B-Q", 3), Some("2"), false)
            .await
            .unwrap();
        s.append_answer(&g, &Turn::assistant("B-RETRIED", 4, false), None)
            .await
            .unwrap();
        s.keep_answer_record(&g, &["r2".into()], &super::super::AnswerRecord::default())
            .await
            .unwrap();
        g
    }

    #[tokio::test]
    async fn a_group_forget_takes_only_the_members_messages_and_what_was_made_from_them() {
        let s = Store::in_memory().unwrap();
        let g = group_with_two_members(&s).await;
        let exported = s.export(Platform::Test, "bob", None).await.unwrap();
        let texts: Vec<&str> = exported.turns.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["B-Q", "B-RETRIED"]);

        let done = s.forget(&g, "alice", GROUP).await.unwrap();
        assert_eq!(
            done,
            Forgotten {
                messages: 1,
                answers: 1,
                records: 1,
                notes: 0
            }
        );
        let left: Vec<String> = s
            .recent_turns(&g, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(left, ["B-Q", "B-RETRIED"]);
        assert!(s.answer_record(&g, Some("r1")).await.unwrap().is_none());
        assert!(s.answer_record(&g, Some("r2")).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_direct_forget_takes_the_whole_chat_and_notes_go_by_who_pinned_them() {
        let s = Store::in_memory().unwrap();
        let g = group_with_two_members(&s).await;
        let mut settings = s.load_settings(&g).await.unwrap();
        settings.notes = vec!["old".into(), "alices".into(), "bobs".into()];
        settings.notes_by = vec![String::new(), "alice".into(), "bob".into()];
        s.save_settings(&g, &settings).await.unwrap();
        let exported = s.export(Platform::Test, "alice", None).await.unwrap();
        assert_eq!(exported.notes.len(), 1);
        assert_eq!(exported.notes[0].text, "alices");

        let notes_only = Forgetting {
            messages: false,
            ..GROUP
        };
        assert_eq!(s.forget(&g, "alice", notes_only).await.unwrap().notes, 1);
        let left = s.load_settings(&g).await.unwrap();
        assert_eq!(
            (left.notes, left.notes_by),
            (
                vec!["old".to_string(), "bobs".into()],
                vec![String::new(), "bob".into()]
            )
        );

        let direct = Forgetting {
            direct: true,
            ..GROUP
        };
        let done = s.forget(&g, "bob", direct).await.unwrap();
        assert_eq!(
            (done.messages, done.answers, done.records, done.notes),
            (2, 2, 2, 2)
        );
        assert!(s.recent_turns(&g, 10).await.unwrap().is_empty());
    }
}
