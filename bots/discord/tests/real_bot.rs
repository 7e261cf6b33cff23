//! The real core bot behind the real adapter, against the fake gateway and REST API: on the
//! real default model, and on a scripted engine where the test needs exact model output.

mod util;

use std::sync::Arc;
use std::time::Duration;

use parley_core::config::Settings;
use parley_core::engine::scripted::ScriptedEngine;
use parley_core::engine::Engine;
use parley_core::seam::Handler;
use parley_testkit::discord::{FakeDiscord, FakeDiscordOptions, FakeMessage, FakeUser};
use util::{test_guild, test_settings, CHANNEL_A, CHANNEL_B, GUILD, THREAD};

const MODEL_WAIT: Duration = Duration::from_secs(90);
const BOT_ID: u64 = 4242;

fn settings(dir: &std::path::Path) -> Settings {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    Settings::from_toml_str(&format!(
        "[model]\npath = \"{root}/models/SmolLM2-135M-Instruct.Q4_1.gguf\"\n\
         [engine]\nthreads = 1\n\
         [sampling]\nmax_tokens = 32\ntemperature = 0.0\n\
         [store]\npath = \"{}\"\n\
         [prompts]\ndir = \"{root}/prompts\"\n",
        dir.join("parley.sqlite3").display()
    ))
    .expect("settings")
}

struct Running {
    fake: FakeDiscord,
    shutdown: parley_discord::ShutdownHandle,
    task: tokio::task::JoinHandle<parley_discord::Result<()>>,
}

async fn start(handler: Arc<dyn Handler>) -> Running {
    let fake = FakeDiscord::start_with(FakeDiscordOptions {
        guilds: vec![test_guild(BOT_ID)],
        bot_id: BOT_ID,
        ..FakeDiscordOptions::default()
    })
    .await;
    let (runner, shutdown) = parley_discord::start(
        test_settings(),
        "test-token",
        Some(fake.api_base()),
        handler,
    )
    .await
    .expect("adapter starts");
    let task = tokio::spawn(runner.run());
    fake.wait_for(MODEL_WAIT, |f| {
        (!f.registered_commands().is_empty()).then_some(())
    })
    .await
    .expect("registered");
    Running {
        fake,
        shutdown,
        task,
    }
}

/// The bot's messages in `channel` once `n` exist and none changed for 1.5 s.
async fn settled(
    fake: &FakeDiscord,
    channel: u64,
    n: usize,
) -> Vec<parley_testkit::discord::SentMessage> {
    let mut last: Vec<String> = Vec::new();
    let mut stable = 0;
    let deadline = tokio::time::Instant::now() + MODEL_WAIT;
    while tokio::time::Instant::now() < deadline {
        let msgs = fake.messages(channel);
        let now: Vec<String> = msgs.iter().map(|m| m.content.clone()).collect();
        if now.len() >= n && now == last && now.iter().all(|t| !t.trim().is_empty()) {
            stable += 1;
            if stable >= 15 {
                return msgs;
            }
        } else {
            stable = 0;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("channel {channel}: wanted {n} settled messages, have {last:?}");
}

fn alice() -> FakeUser {
    FakeUser::new(10, "alice").with_global_name("Alice")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mention_answered_by_the_real_model_with_context_per_channel_and_thread() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = settings(dir.path());
    let engine = parley_core::launch::engine(&s).expect("engine (run scripts/fetch-model.sh)");
    let bot = Arc::new(parley_core::launch::bot(&s, engine).await.expect("bot"));
    let run = start(bot).await;

    let q = run.fake.send_message(FakeMessage::guild(
        GUILD,
        CHANNEL_A,
        alice(),
        "<@4242> What is the capital of France?",
    ));
    let a = settled(&run.fake, CHANNEL_A, 1).await;
    assert!(a[0].content.contains("Paris"), "{:?}", a[0].content);
    assert_eq!(a[0].reply_to.as_deref(), Some(q.to_string().as_str()));
    assert!(a[0]
        .allowed_mentions
        .iter()
        .all(|m| m["parse"] == serde_json::json!([])));

    // Unaddressed messages are not answered; a follow-up is.
    run.fake.send_message(FakeMessage::guild(
        GUILD,
        CHANNEL_A,
        alice(),
        "just chatting",
    ));
    run.fake.send_message(FakeMessage::guild(
        GUILD,
        CHANNEL_A,
        alice(),
        "<@4242> Is it a big city?",
    ));
    let a = settled(&run.fake, CHANNEL_A, 2).await;
    assert_eq!(a.len(), 2, "only mentions answered");

    // Another channel and a thread start from nothing.
    run.fake
        .send_message(FakeMessage::guild(GUILD, CHANNEL_B, alice(), "<@4242> hi"));
    settled(&run.fake, CHANNEL_B, 1).await;
    run.fake
        .send_message(FakeMessage::guild(GUILD, THREAD, alice(), "<@4242> /stats"));
    let t = settled(&run.fake, THREAD, 1).await;
    assert!(t[0].content.contains("Turns stored: 0"), "{}", t[0].content);

    run.shutdown.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(20), run.task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_output_never_pings_anyone() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = settings(dir.path());
    let engine: Arc<dyn Engine> = Arc::new(
        ScriptedEngine::new().with_replies(["Sure! @everyone @here <@&7777> <@10> look at this"]),
    );
    let bot = Arc::new(parley_core::launch::bot(&s, engine).await.expect("bot"));
    let run = start(bot).await;
    run.fake
        .send_message(FakeMessage::direct(900, alice(), "ping them all"));
    let m = settled(&run.fake, 900, 1).await;
    let body = &m[0];
    assert!(!body.content.contains("@everyone"), "{}", body.content);
    assert!(!body.content.contains("<@&7777>"), "{}", body.content);
    assert!(body.content.contains("look at this"));
    for am in &body.allowed_mentions {
        assert_eq!(am["parse"], serde_json::json!([]), "allowed_mentions {am}");
    }
    run.shutdown.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(20), run.task).await;
}

#[test]
fn repository_config_toml_loads_for_discord() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.toml");
    parley_discord::DiscordSettings::load(&path).expect("[discord] of config.toml");
}
