//! The fake Telegram Bot API as a standalone process, for driving a `parley-telegram` that runs
//! somewhere else (in a container: `scripts/container-test.sh`). Dev-only, like the testkit:
//! `cargo build -p parley-testkit --example fake_telegram`.
//!
//! Prints `url http://127.0.0.1:PORT` and `token TOKEN` on start, then reads commands on stdin,
//! one a line, and answers each with one line on stdout:
//! - `say USER_ID TEXT`: USER_ID writes TEXT to the bot in private; answers `reply TEXT` with
//!   the bot's reply to it once it has stopped changing (newlines as `\n`), or `timeout`.
//! - `quit`: stop.

use std::io::Write;
use std::time::Duration;

use parley_testkit::telegram::{FakeTelegram, FakeUser};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Longest wait for the bot's reply to one message (a container may be loading its model).
const REPLY_WAIT: Duration = Duration::from_secs(120);
/// How long a reply must stay unchanged to count as finished (it streams through edits).
const SETTLED: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() {
    let fake = FakeTelegram::start().await;
    fake.set_poll_hold(Duration::from_secs(5));
    say(&format!("url {}", fake.api_url()));
    say(&format!("token {}", fake.token()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.trim().splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("say"), Some(id), Some(text)) => match id.parse::<i64>() {
                Ok(id) => say(&reply_to(&fake, id, text).await),
                Err(_) => say("error: USER_ID must be a number"),
            },
            (Some("quit"), _, _) => break,
            _ => say("error: expected `say USER_ID TEXT` or `quit`"),
        }
    }
}

/// Push `text` from user `id` and wait for the bot's reply to settle.
async fn reply_to(fake: &FakeTelegram, id: i64, text: &str) -> String {
    let pushed = fake.push_private(&FakeUser::new(id, "Ada"), text);
    let current = |fake: &FakeTelegram| {
        fake.sent_in(id)
            .into_iter()
            .find(|m| m.reply_to == Some(pushed.message_id) || m.message_id > pushed.message_id)
            .map(|m| m.text)
    };
    if !fake.wait_until(REPLY_WAIT, |f| current(f).is_some()).await {
        return "timeout".into();
    }
    let mut last = current(fake);
    loop {
        tokio::time::sleep(SETTLED).await;
        let now = current(fake);
        if now == last {
            break;
        }
        last = now;
    }
    format!("reply {}", last.unwrap_or_default().replace('\n', "\\n"))
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
