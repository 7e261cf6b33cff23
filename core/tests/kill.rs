//! A process killed with SIGKILL mid-conversation loses no acknowledged turn.
//!
//! The test re-executes its own binary with `PARLEY_KILL_CHILD=<db path>`: the child talks to
//! a bot backed by that SQLite file and prints `ACK n` after message `n` was answered (both the
//! user turn and the answer are acknowledged by then). The parent kills it with SIGKILL in the
//! middle of a later answer, reopens the file, and checks every acknowledged turn is there,
//! then starts a new bot on the file and checks the history is in its prompt.

#![cfg(unix)]

mod util;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use parley_core::engine::Role;
use parley_core::store::Store;
use parley_core::testing::dm;
use util::*;

const CHILD_ENV: &str = "PARLEY_KILL_CHILD";
const ACKS_BEFORE_KILL: usize = 12;

fn child(path: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let engine = echo().with_delay(Duration::from_millis(2));
        let rig = Rig::with_store(&settings(""), engine, Store::open(path).unwrap()).await;
        let mut stdout = std::io::stdout();
        for n in 0..10_000 {
            rig.say(dm("k", "u", &format!("message {n}"))).await;
            writeln!(stdout, "ACK {n}").unwrap();
            stdout.flush().unwrap();
        }
    });
}

#[test]
fn acknowledged_turns_survive_sigkill() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_turns_survive_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    // Kept open until the child is dead: a closed pipe would make it fail on its own.
    let mut lines = BufReader::new(stdout).lines();
    let mut last_ack = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            let n: usize = n.trim().parse().unwrap();
            last_ack = Some(n);
            if n + 1 >= ACKS_BEFORE_KILL {
                break;
            }
        }
    }
    // Let the next answer get under way, then kill without warning.
    std::thread::sleep(Duration::from_millis(3));
    assert!(
        proc.try_wait().unwrap().is_none(),
        "the child was still running when killed"
    );
    proc.kill().unwrap(); // SIGKILL on Unix
    let status = proc.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "died by SIGKILL: {status}");
    drop(lines);
    let last_ack = last_ack.expect("the child acknowledged messages");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&path).unwrap();
        let turns = store.recent_turns(&key("k"), 10_000).await.unwrap();
        for n in 0..=last_ack {
            let q = format!("message {n}");
            assert!(
                turns.iter().any(|t| t.role == Role::User && t.text == q),
                "lost user turn {n}"
            );
            assert!(
                turns
                    .iter()
                    .any(|t| t.role == Role::Assistant && t.text == format!("echo: {q}")),
                "lost answer {n}"
            );
        }
        // A new bot on the same file has the history in its prompt.
        let rig = Rig::with_store(&settings(""), echo(), store).await;
        rig.say(dm("k", "u", "still there?")).await;
        let p = rig.last_prompt("k");
        assert!(p.contains(&format!("message {last_ack}")), "{p}");
    });
}
