//! Helpers for the tests that run the real core bot behind an adapter: its [`settings`] on the
//! real default model, [`two_models`] for `/model`, and a [`WatchedBot`] that says when the bot has handled every message
//! and written every answer.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use parley_core::bot::Bot;
use parley_core::config::{ModelChoice, Settings};
use parley_core::engine::scripted::ScriptedEngine;
use parley_core::engine::shelf::ModelShelf;
use parley_core::engine::{Engine, GenerateRequest};
use parley_core::i18n::Language;
use parley_core::seam::{Allowlist, CommandInfo, Handler, Incoming, Outbox, Platform};
use tokio::sync::Notify;

/// The whole prompt of a request as one string, for checking what reached the model.
pub fn prompt(r: &GenerateRequest) -> String {
    r.messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Generous upper bound for anything the real model has to do.
pub const MODEL_WAIT: Duration = Duration::from_secs(90);

/// The core's settings for a test on the real default model (`scripts/fetch-model.sh`), one
/// engine thread, short greedy answers, a pinned date, and its store in `dir`
/// ([`crate::real_binary::model_config`]).
pub fn settings(dir: &Path) -> Settings {
    Settings::from_toml_str(&crate::real_binary::model_config(dir, 32)).expect("settings")
}

/// The names of the two models [`two_models`] lists, the default first.
pub const MODEL_NAMES: [&str; 2] = ["small", "large"];

/// Two models by name for `/model` tests: `settings` gets `[[models]]` `small` (the default)
/// and `large`; each is a scripted engine answering `"<name> here"`. The shelf, and each
/// model's engine in [`MODEL_NAMES`] order.
pub fn two_models(settings: &mut Settings) -> (Arc<ModelShelf>, [Arc<ScriptedEngine>; 2]) {
    settings.models = MODEL_NAMES
        .iter()
        .map(|name| ModelChoice {
            name: name.to_string(),
            source: format!("{name}.gguf"),
            server_model: None,
            persona: None,
            template: None,
        })
        .collect();
    let engines = MODEL_NAMES.map(|name| {
        let reply = format!("{name} here");
        Arc::new(ScriptedEngine::new().with_responder(move |_| reply.clone()))
    });
    let shelf = ModelShelf::preloaded(
        settings.models.clone(),
        2,
        engines
            .iter()
            .map(|e| e.clone() as Arc<dyn Engine>)
            .collect(),
    );
    (Arc::new(shelf), engines)
}

/// The real core bot on [`two_models`] with its store in `dir` ([`settings`]), watched: the
/// bot, and each model's engine in [`MODEL_NAMES`] order.
pub async fn two_model_bot(dir: &Path) -> (Arc<WatchedBot>, [Arc<ScriptedEngine>; 2]) {
    let mut s = settings(dir);
    let (shelf, engines) = two_models(&mut s);
    let bot = parley_core::launch::bot_with_models(&s, shelf)
        .await
        .expect("bot");
    (WatchedBot::new(bot), engines)
}

/// Messages handed to the bot, and calls into it not yet returned.
#[derive(Debug, Default)]
struct Counts {
    received: usize,
    busy: usize,
}

/// The core [`Bot`] as the adapter's handler, counting what the adapter hands it, so that a
/// test can wait for the bot to be idle instead of for its messages to look finished.
#[derive(Debug)]
pub struct WatchedBot {
    bot: Bot,
    counts: Mutex<Counts>,
    changed: Notify,
}

impl WatchedBot {
    /// Watch `bot`.
    pub fn new(bot: Bot) -> Arc<Self> {
        Arc::new(Self {
            bot,
            counts: Mutex::new(Counts::default()),
            changed: Notify::new(),
        })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages the adapter has handed to the bot so far.
    pub fn received(&self) -> usize {
        self.counts().received
    }

    /// Wait until the adapter has handed the bot `messages` messages in all, the bot has taken
    /// each in (stored it, answered a command, queued an answer), and no answer is running or
    /// waiting: nothing more will be written until the next message. Panics, naming `place`,
    /// when that does not happen within [`MODEL_WAIT`], or when more than `messages` arrived.
    pub async fn idle_after(&self, place: &str, messages: usize) {
        let settle = async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                let taken_in = {
                    let c = self.counts();
                    c.received >= messages && c.busy == 0
                };
                if taken_in {
                    break;
                }
                changed.await;
            }
            self.bot.idle().await;
        };
        if tokio::time::timeout(MODEL_WAIT, settle).await.is_err() {
            panic!(
                "{place}: the bot did not get idle after {messages} messages: {:?}",
                self.counts()
            );
        }
        assert_eq!(
            self.received(),
            messages,
            "{place}: messages handed to the bot"
        );
    }

    /// Run `call` counted as busy.
    async fn busy<F: std::future::Future<Output = ()>>(&self, received: usize, call: F) {
        {
            let mut c = self.counts();
            c.received += received;
            c.busy += 1;
        }
        call.await;
        self.counts().busy -= 1;
        self.changed.notify_waiters();
    }
}

#[async_trait::async_trait]
impl Handler for WatchedBot {
    async fn handle(&self, message: Incoming, outbox: Arc<dyn Outbox>) {
        self.busy(1, self.bot.handle(message, outbox)).await;
    }

    fn commands(&self, lang: Language) -> Vec<CommandInfo> {
        self.bot.commands(lang)
    }

    fn group_member_commands(&self, lang: Language) -> Vec<CommandInfo> {
        self.bot.group_member_commands(lang)
    }

    fn language(&self) -> Language {
        self.bot.language()
    }

    fn within_rate_limit(&self, platform: Platform, user: &str) -> bool {
        self.bot.within_rate_limit(platform, user)
    }

    async fn shutdown(&self) {
        self.bot.shutdown().await;
    }

    async fn resume(
        &self,
        platform: Platform,
        outbox: Arc<dyn Outbox>,
        allowlist: Arc<dyn Allowlist>,
    ) {
        self.busy(0, self.bot.resume(platform, outbox, allowlist))
            .await;
    }
}
