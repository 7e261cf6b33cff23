//! Shared helpers for the core's integration tests.
#![allow(dead_code)]

pub mod tiny;

use std::sync::Arc;

use parley_core::bot::Bot;
use parley_core::config::Settings;
use parley_core::engine::scripted::ScriptedEngine;
use parley_core::engine::GenerateRequest;
use parley_core::persona::Personas;
use parley_core::seam::{Allowlist, ChannelKey, Everyone, Handler, Incoming, Outbox, Platform};
use parley_core::store::Store;
use parley_core::testing::RecordingOutbox;

/// Settings for tests: no rate limit unless a test sets one.
pub fn settings(extra: &str) -> Settings {
    let base = "[bot]\nmessages_per_minute = 0\n";
    let toml = if extra.contains("[bot]") {
        extra.to_string()
    } else {
        format!("{base}{extra}")
    };
    Settings::from_toml_str(&toml).expect("test settings")
}

/// A bot, its engine and its outbox.
pub struct Rig {
    pub bot: Bot,
    pub engine: Arc<ScriptedEngine>,
    pub out: Arc<RecordingOutbox>,
    pub store: Store,
}

impl Rig {
    pub async fn new(settings: &Settings, engine: ScriptedEngine) -> Rig {
        Self::with_store(settings, engine, Store::in_memory().unwrap()).await
    }

    pub async fn with_store(settings: &Settings, engine: ScriptedEngine, store: Store) -> Rig {
        let engine = Arc::new(engine);
        let bot = Bot::new(settings, engine.clone(), store.clone(), Personas::builtin())
            .await
            .unwrap();
        Rig {
            bot,
            engine,
            out: Arc::new(RecordingOutbox::new()),
            store,
        }
    }

    /// Hand a message to the bot (returns once it is stored and queued).
    pub async fn send(&self, m: Incoming) {
        let out: Arc<dyn Outbox> = self.out.clone();
        self.bot.handle(m, out).await;
    }

    /// Hand a message to the bot and wait for every answer to finish.
    pub async fn say(&self, m: Incoming) {
        self.send(m).await;
        self.bot.idle().await;
    }

    /// Requests the engine got for channel `chat`.
    pub fn requests_for(&self, chat: &str) -> Vec<GenerateRequest> {
        let id = key(chat).to_string();
        self.engine
            .requests()
            .into_iter()
            .filter(|r| r.conversation == id)
            .collect()
    }

    /// The whole prompt of a request as one string.
    pub fn last_prompt(&self, chat: &str) -> String {
        self.requests_for(chat)
            .last()
            .map(prompt_text)
            .unwrap_or_default()
    }
}

pub fn prompt_text(r: &GenerateRequest) -> String {
    r.messages
        .iter()
        .map(|m| format!("[{}] {}", m.role.as_str(), m.content))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The allowlist of a platform without one: resume answers everyone.
pub fn everyone() -> Arc<dyn Allowlist> {
    Arc::new(Everyone)
}

/// The time now, in Unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn key(chat: &str) -> ChannelKey {
    ChannelKey::new(Platform::Test, chat)
}

/// An engine that echoes the last user message: "echo: TEXT".
pub fn echo() -> ScriptedEngine {
    ScriptedEngine::new().with_responder(|r| {
        let last = r
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        format!("echo: {last}")
    })
}

/// A small deterministic generator (xorshift64*), so random tests reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}
