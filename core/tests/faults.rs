//! The bot when what it stands on fails: a store that is not a database, a disk that fills up
//! mid-answer, a database another process holds, a platform that refuses sends and edits.
//! The store's faults are SQLite's own (see `Store::fill_disk`); the platform's are the
//! recording outbox's (`RecordingOutbox::fail_next`, and the limits it enforces).

mod util;

use std::time::Duration;

use parley_core::bot::replies;
use parley_core::engine::scripted::ScriptedEngine;
use parley_core::engine::Role;
use parley_core::store::Store;
use parley_core::testing::{dm, Call, Method};
use util::*;

/// The bot's language in these tests (`bot.language` unset).
const EN: parley_core::i18n::Language = parley_core::i18n::Language::English;

#[test]
fn a_store_that_is_not_a_database_names_its_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
    let e = Store::open(&path).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("not a database"), "{e}");
}

#[test]
fn a_store_whose_folder_cannot_be_made_names_its_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("data");
    std::fs::write(&blocker, "a file where the folder should be").unwrap();
    let path = blocker.join("parley.sqlite3");
    let e = Store::open(&path).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
}

/// A full disk while the answer is written: the answer is shown, the user is told the
/// exchange was not saved, and every turn stored before (acknowledged) is still there after a
/// restart.
#[tokio::test]
async fn a_full_disk_mid_answer_is_told_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    let rig = Rig::with_store(&settings(""), echo(), Store::open(&path).unwrap()).await;
    rig.say(dm("d", "u", "first")).await;
    rig.engine.hold();
    // `send` returns once the question is stored (acknowledged) and queued.
    rig.send(dm("d", "u", "second")).await;
    rig.store.fill_disk().await.unwrap();
    rig.engine.release();
    rig.bot.idle().await;
    let msgs = rig.out.messages(&key("d"));
    assert_eq!(
        msgs,
        [
            "echo: first".to_string(),
            "echo: second".to_string(),
            replies::not_saved_answer(EN)
        ]
    );

    drop(rig);
    let reopened = Store::open(&path).unwrap();
    let kept: Vec<(Role, String)> = reopened
        .recent_turns(&key("d"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.role, t.text))
        .collect();
    let turn = |role, text: &str| (role, text.to_string());
    assert_eq!(
        kept,
        [
            turn(Role::User, "first"),
            turn(Role::Assistant, "echo: first"),
            turn(Role::User, "second"),
        ]
    );
}

/// A question the full store refuses is not answered (it could not be made durable), and the
/// user is told why; once the disk has room again the bot answers.
#[tokio::test]
async fn a_question_the_full_store_refuses_is_told_not_answered() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.store.fill_disk().await.unwrap();
    rig.say(dm("d", "u", "hello?")).await;
    assert_eq!(
        rig.out.messages(&key("d")),
        [replies::not_saved_question(EN)]
    );
    assert!(
        rig.engine.requests().is_empty(),
        "nothing reached the model"
    );
    rig.store.free_disk().await.unwrap();
    rig.say(dm("d", "u", "hello again")).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some("echo: hello again")
    );
}

/// A store file with another process holding its write lock, the bot on it, and that lock.
async fn held_store() -> (tempfile::TempDir, Rig, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    let rig = Rig::with_store(&settings(""), echo(), Store::open(&path).unwrap()).await;
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE;").unwrap();
    (dir, rig, other)
}

/// Another process holding the database past the busy timeout: the user is told the question
/// was not saved.
#[tokio::test]
async fn a_busy_database_is_reported() {
    let (_dir, rig, _other) = held_store().await;
    rig.store
        .set_busy_timeout(Duration::from_millis(300))
        .await
        .unwrap();
    rig.say(dm("d", "u", "anyone?")).await;
    assert_eq!(
        rig.out.messages(&key("d")),
        [replies::not_saved_question(EN)]
    );
}

/// A lock released within the busy timeout costs nothing: SQLite retries and the question
/// goes through.
#[tokio::test]
#[ignore = "fails today: the store's deferred transactions read first, and a read transaction \
            that must then write gets SQLITE_BUSY at once instead of waiting (BEGIN IMMEDIATE \
            would wait)"]
async fn a_busy_database_released_in_time_is_retried() {
    let (_dir, rig, other) = held_store().await;
    rig.store
        .set_busy_timeout(Duration::from_secs(60))
        .await
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        other.execute_batch("COMMIT;").unwrap();
    });
    rig.say(dm("d", "u", "now?")).await;
    release.join().unwrap();
    assert_eq!(rig.out.last(&key("d")).as_deref(), Some("echo: now?"));
}

/// A failed edit is not lost: a later update carries the text, and the final answer lands.
#[tokio::test]
async fn a_failed_edit_is_made_good_by_the_next() {
    let engine = echo().with_delay(Duration::from_millis(1));
    let rig = Rig::new(&settings(""), engine).await;
    rig.out.fail_next(Method::Edit, 1);
    let question = "tell me a story about seven small words";
    rig.say(dm("d", "u", question)).await;
    let refused = rig.out.refused();
    assert!(
        matches!(refused.as_slice(), [Call::Edit { .. }]),
        "one edit was refused: {refused:?}"
    );
    assert_eq!(rig.out.messages(&key("d")), [format!("echo: {question}")]);
}

/// A failed first send: the answer is sent again with the next update, not dropped.
#[tokio::test]
async fn a_failed_first_send_is_sent_again() {
    let engine = echo().with_delay(Duration::from_millis(1));
    let rig = Rig::new(&settings(""), engine).await;
    rig.out.fail_next(Method::Send, 1);
    let question = "tell me a story about seven small words";
    rig.say(dm("d", "u", question)).await;
    assert_eq!(rig.out.refused().len(), 1);
    assert_eq!(rig.out.messages(&key("d")), [format!("echo: {question}")]);
}

/// An answer several times the platform's limit, with emoji and CJK: every part the bot
/// sends fits the limit as the platform counts it (the recording outbox refuses what does
/// not), and nothing is lost.
#[tokio::test]
async fn a_long_answer_fits_the_platform_in_every_part() {
    // 900 words of 13 UTF-16 units (9 characters): three messages of at most 4096 units.
    let long =
        "\u{1F600}\u{6F22}\u{5B57}\u{1F600}\u{6F22}\u{5B57}\u{1F600}\u{6F22}\u{5B57} ".repeat(900);
    let engine = ScriptedEngine::new()
        .with_context_len(8000)
        .with_replies([long.clone()]);
    let rig = Rig::new(&settings("[sampling]\nmax_tokens = 1000\n"), engine).await;
    rig.say(dm("d", "u", "go")).await;
    assert!(
        rig.out.refused().is_empty(),
        "refused: {:?}",
        rig.out.refused()
    );
    let msgs = rig.out.messages(&key("d"));
    assert!(msgs.len() >= 3, "{} messages", msgs.len());
    let strip = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(strip(&msgs.concat()), strip(&long));
}
