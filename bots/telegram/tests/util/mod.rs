//! Helpers for the end-to-end tests: a recording test `Handler` ([`TestHandler`], answering as
//! an [`Answer`] says) and an in-process adapter started against the fake Bot API.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use parley_core::outbound::RetrySettings;
use parley_core::seam::{Incoming, Outbox};
use parley_telegram::{ShutdownHandle, TelegramSettings};
use parley_testkit::handler::{Script, ScriptedHandler};
use parley_testkit::telegram::FakeTelegram;
use tokio::task::JoinHandle;

/// Generous upper bound for anything the tests wait for; they finish as soon as it happens.
pub const WAIT: Duration = Duration::from_secs(10);

/// Settings that make failures and polls quick.
pub fn fast_settings() -> TelegramSettings {
    TelegramSettings {
        poll_timeout_secs: 1,
        edit_interval_ms: 30,
        retry: RetrySettings {
            backoff_initial_ms: 20,
            backoff_max_ms: 200,
            max_attempts: 4,
            ..RetrySettings::default()
        },
        ..TelegramSettings::default()
    }
}

/// How the test handler answers a triggered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Typing, a placeholder send, two partial edits, then the final text:
    /// `echo: TEXT | history: T1 / T2 / …` (this channel's texts so far).
    Stream,
    /// One send of `len` characters, cycling through `0123456789`.
    Long(usize),
    /// One send of `len` characters, cycling through CJK, emoji (two UTF-16 units each) and
    /// spaces: longer in Telegram's count than in characters.
    Wide(usize),
    /// A send, then `n` edits as fast as the outbox lets them through.
    RapidEdits(usize),
    /// Like `Stream`, but `handle` itself panics on the text "boom".
    PanicOnBoom,
}

/// The scripted core the tests run the adapter on: it answers the way its [`Answer`] says.
pub type TestHandler = ScriptedHandler<Answer>;

impl Script for Answer {
    fn inspect(&self, message: &Incoming) {
        if *self == Answer::PanicOnBoom && message.text == "boom" {
            panic!("test handler panics on purpose");
        }
    }

    async fn answer(self, message: Incoming, earlier: Vec<String>, outbox: Arc<dyn Outbox>) {
        let key = &message.key;
        let reply_to = Some(message.message_id.as_str());
        match self {
            Answer::Stream | Answer::PanicOnBoom => {
                let _ = outbox.typing(key).await;
                let Ok(msg) = outbox.send(key, "…", reply_to).await else {
                    return;
                };
                let mut history = earlier;
                history.push(message.text.clone());
                let full = format!("echo: {} | history: {}", message.text, history.join(" / "));
                let third = full.chars().count() / 3;
                let part1: String = full.chars().take(third.max(1)).collect();
                let part2: String = full.chars().take((2 * third).max(2)).collect();
                let _ = outbox.edit(&msg, &part1).await;
                let _ = outbox.edit(&msg, &part2).await;
                let _ = outbox.edit(&msg, &full).await;
            }
            Answer::Long(len) => {
                let _ = outbox.send(key, &long_text(len), reply_to).await;
            }
            Answer::Wide(len) => {
                let _ = outbox.send(key, &wide_text(len), reply_to).await;
            }
            Answer::RapidEdits(n) => {
                let Ok(msg) = outbox.send(key, "…", reply_to).await else {
                    return;
                };
                let mut edits = Vec::new();
                for i in 1..=n {
                    let outbox = outbox.clone();
                    let msg = msg.clone();
                    edits.push(tokio::spawn(async move {
                        outbox.edit(&msg, &format!("step {i}")).await
                    }));
                    tokio::task::yield_now().await;
                }
                for e in edits {
                    let _ = e.await;
                }
            }
        }
    }
}

/// What [`Answer::Long`] sends.
pub fn long_text(len: usize) -> String {
    "0123456789".chars().cycle().take(len).collect()
}

/// What [`Answer::Wide`] sends.
pub fn wide_text(len: usize) -> String {
    "\u{1F600}\u{4E2D}\u{6587} \u{1F44D}\u{1F3FD}"
        .chars()
        .cycle()
        .take(len)
        .collect()
}

/// An adapter running in-process against a fake.
pub struct Adapter {
    pub handler: Arc<TestHandler>,
    pub shutdown: ShutdownHandle,
    pub task: JoinHandle<parley_telegram::Result<()>>,
}

impl Adapter {
    pub fn start(
        fake: &FakeTelegram,
        settings: TelegramSettings,
        handler: Arc<TestHandler>,
    ) -> Self {
        let url = parley_telegram::parse_api_url(&fake.api_url()).unwrap();
        let (runner, shutdown) = parley_telegram::build(
            settings,
            fake.token().to_owned(),
            Some(url),
            handler.clone(),
        );
        Self {
            handler,
            shutdown,
            task: tokio::spawn(runner),
        }
    }

    /// Ask it to stop and wait until it has.
    pub async fn stop(self) -> parley_telegram::Result<()> {
        self.shutdown.shutdown();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the adapter stops in time")
            .expect("the adapter task does not panic")
    }
}

/// Wait until the adapter is polling (its first `getUpdates` arrived).
pub async fn polling(fake: &FakeTelegram) {
    assert!(
        fake.wait_for_call("getUpdates", |_| true, WAIT)
            .await
            .is_some(),
        "the adapter starts polling"
    );
}

/// A fresh fake Bot API and an adapter on it with `settings`, answering the way `answer` says;
/// returns once the adapter is polling.
pub async fn started(settings: TelegramSettings, answer: Answer) -> (FakeTelegram, Adapter) {
    let fake = FakeTelegram::start().await;
    let bot = Adapter::start(&fake, settings, TestHandler::new(answer));
    polling(&fake).await;
    (fake, bot)
}

/// Wait until the bot's message in `chat` has exactly `text`.
pub async fn answer_lands(fake: &FakeTelegram, chat: i64, text: &str) -> bool {
    fake.wait_until(WAIT, |f| f.sent_in(chat).iter().any(|m| m.text == text))
        .await
}
