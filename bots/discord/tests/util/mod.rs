//! Helpers for the Discord adapter's end-to-end tests: a scripted core ([`EchoHandler`]) and a
//! bot started in-process against the fake Discord of `parley-testkit`.
#![allow(dead_code)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parley_core::outbound::RetrySettings;
use parley_core::seam::{Handler, Incoming, Outbox};
use parley_discord::{DiscordSettings, ShutdownHandle};
use parley_testkit::discord::{
    FakeDiscord, FakeDiscordOptions, FakeGuild, FakeMessage, FakeUser, SentMessage,
};
use parley_testkit::handler::{Script, ScriptedHandler};

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub const GUILD: u64 = 100;
pub const CHANNEL_A: u64 = 200;
pub const CHANNEL_B: u64 = 201;
pub const THREAD: u64 = 300;
pub const BOT_ROLE: u64 = 7777;
pub const MOD_ROLE: u64 = 5555;
pub const OWNER: u64 = 1;
/// The bot's user id on the fake.
pub const BOT_ID: u64 = 4242;

/// The scripted core's answers: like the core, it remembers every message per channel, and
/// answers DMs, mentions and replies by sending a short text and editing it twice (streaming),
/// the final text naming the channel's earlier messages so isolation can be checked. Special
/// inputs: `long` and `/help` (hand 4500 characters to `send`), `wide` (emoji and CJK), `pings` (answers with mentions
/// in the text).
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

/// The scripted core the tests run the adapter on.
pub type EchoHandler = ScriptedHandler<Echo>;

/// What `long` answers: 4500 characters, three messages.
pub fn long_text() -> String {
    "0123456789 ".repeat(409) + "end"
}

/// What `wide` answers: 1800 characters of emoji and CJK, 2700 UTF-16 units: one message in
/// characters, two in Discord's count.
pub fn wide_text() -> String {
    "\u{1F600}\u{4E2D}\u{6587} \u{1F44D}\u{1F3FD}".repeat(300)
}

pub fn final_text(text: &str, history: &[String]) -> String {
    format!("echo: {text}\nhistory: [{}]", history.join(" | "))
}

impl Script for Echo {
    async fn answer(self, m: Incoming, earlier: Vec<String>, outbox: Arc<dyn Outbox>) {
        let text = m.text.clone();
        let reply = Some(m.message_id.as_str());
        if text == "long" || text == "/help" {
            let _ = outbox.send(&m.key, &long_text(), reply).await;
            return;
        }
        if text == "wide" {
            let _ = outbox.send(&m.key, &wide_text(), reply).await;
            return;
        }
        let full = if text == "pings" {
            "hey @everyone and <@&123> and <@55>, look".to_string()
        } else if text.starts_with('/') {
            format!("command: {text}")
        } else {
            final_text(&text, &earlier)
        };
        let Ok(sent) = outbox.send(&m.key, "\u{2026}", reply).await else {
            return;
        };
        let half: String = full.chars().take(full.chars().count() / 2).collect();
        let _ = outbox.edit(&sent, &half).await;
        let _ = outbox.edit(&sent, &full).await;
    }
}

/// Settings for fast tests: short edit interval and retry waits.
pub fn test_settings() -> DiscordSettings {
    DiscordSettings {
        edit_interval_ms: 50,
        retry: RetrySettings {
            backoff_initial_ms: 20,
            backoff_max_ms: 8000,
            rate_limit_wait_ms: 100,
            ..RetrySettings::default()
        },
        ..DiscordSettings::default()
    }
}

/// The guild every test sees: two channels, a thread under the first, the bot's role and a
/// moderator role with Manage Server.
pub fn test_guild(bot_id: u64) -> FakeGuild {
    FakeGuild::new(GUILD, "Test Guild", OWNER)
        .channel(CHANNEL_A, "general")
        .channel(CHANNEL_B, "random")
        .thread(THREAD, CHANNEL_A, "a thread")
        .bot_role(BOT_ROLE, "Parley", bot_id)
        .role(MOD_ROLE, "mods", 1 << 5)
}

/// The adapter running in-process on a fake Discord.
pub struct Running {
    pub fake: FakeDiscord,
    pub shutdown: ShutdownHandle,
    pub task: tokio::task::JoinHandle<parley_discord::Result<()>>,
}

/// Start a fake Discord with `options` and the adapter with `settings` and `handler` on it;
/// returns once the bot has identified and registered its commands (within `within`).
pub async fn start_on(
    options: FakeDiscordOptions,
    settings: DiscordSettings,
    handler: Arc<dyn Handler>,
    within: Duration,
) -> Running {
    let fake = FakeDiscord::start_with(options).await;
    let (runner, shutdown) =
        parley_discord::start(settings, "test-token", Some(fake.api_base()), handler)
            .await
            .expect("adapter starts");
    let task = tokio::spawn(runner.run());
    fake.wait_for(within, |f| {
        (!f.registered_commands().is_empty()).then_some(())
    })
    .await
    .expect("bot identified and registered its commands");
    Running {
        fake,
        shutdown,
        task,
    }
}

pub struct TestBot {
    pub fake: FakeDiscord,
    pub handler: Arc<EchoHandler>,
    pub shutdown: ShutdownHandle,
    pub task: tokio::task::JoinHandle<parley_discord::Result<()>>,
}

impl TestBot {
    /// Start a fake Discord with [`test_guild`] and the adapter on it; returns once the bot has
    /// identified and registered its commands.
    pub async fn start(settings: DiscordSettings) -> Self {
        let options = FakeDiscordOptions {
            guilds: vec![test_guild(BOT_ID)],
            bot_id: BOT_ID,
            // Short, so every test also exercises heartbeats and their acks.
            heartbeat_interval_ms: 250,
            ..FakeDiscordOptions::default()
        };
        let handler = EchoHandler::new(Echo);
        let Running {
            fake,
            shutdown,
            task,
        } = start_on(options, settings, handler.clone(), WAIT).await;
        Self {
            fake,
            handler,
            shutdown,
            task,
        }
    }

    /// Wait until `channel` holds a bot message whose current text satisfies `pred`.
    pub async fn wait_message(&self, channel: u64, pred: impl Fn(&str) -> bool) -> SentMessage {
        self.fake
            .wait_for(WAIT, |f| {
                f.messages(channel).into_iter().find(|m| pred(&m.content))
            })
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no matching message in {channel}; got {:?}",
                    self.fake.messages(channel)
                )
            })
    }

    /// Post `text` in `channel` of the test guild as `author`, mentioning the bot; returns the
    /// message's id.
    pub fn mention(&self, channel: u64, author: FakeUser, text: &str) -> u64 {
        self.fake.send_message(FakeMessage::guild(
            GUILD,
            channel,
            author,
            &format!("<@{BOT_ID}> {text}"),
        ))
    }

    /// Wait until `channel` holds the bot's whole answer to `text`: the echo of `text`,
    /// streamed to its end.
    pub async fn wait_answer(&self, channel: u64, text: &str) -> SentMessage {
        let echo = format!("echo: {text}");
        self.wait_message(channel, |c| c.starts_with(&echo) && c.ends_with(']'))
            .await
    }

    /// Wait until the adapter has taken in the test guild's GUILD_CREATE, which serenity handles
    /// concurrently with the first messages: probe messages in `channel` that mention the bot
    /// only through its role reach the handler, until one arrives as a mention.
    pub async fn guild_known(&self, channel: u64) {
        for i in 0..100 {
            let text = format!("<@&{BOT_ROLE}> guild probe {i}");
            self.fake.send_message(FakeMessage::guild(
                GUILD,
                channel,
                FakeUser::new(77, "probe"),
                &text,
            ));
            let got = self
                .fake
                .wait_for(WAIT, |_| {
                    self.handler
                        .received()
                        .into_iter()
                        .find(|m| m.text.ends_with(&format!("guild probe {i}")))
                })
                .await
                .expect("the probe reaches the handler");
            if got.mentions_bot {
                self.wait_answer(channel, &format!("guild probe {i}")).await;
                return;
            }
        }
        panic!("the guild never became known to the adapter");
    }

    /// [`mention`](Self::mention) the bot with `text` and [`wait_answer`](Self::wait_answer).
    pub async fn ask(&self, channel: u64, author: FakeUser, text: &str) -> SentMessage {
        self.mention(channel, author, text);
        self.wait_answer(channel, text).await
    }

    /// Stop the bot and check it ended cleanly.
    pub async fn stop(self) {
        self.shutdown.shutdown().await;
        let r = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("runner stops after shutdown")
            .expect("runner task did not panic");
        assert!(r.is_ok(), "runner ended with {r:?}");
        assert!(
            self.handler.shut_down.load(Ordering::SeqCst),
            "handler.shutdown was called"
        );
    }
}
