//! The real core bot behind the real adapter, against the fake gateway and REST API: on the
//! real default model, and on a scripted engine where the test needs exact model output.

mod util;

use std::sync::Arc;
use std::time::Duration;

use parley_core::engine::scripted::ScriptedEngine;
use parley_core::engine::Engine;
use parley_core::seam::Handler;
use parley_testkit::discord::{
    FakeDiscord, FakeDiscordOptions, FakeMessage, FakeUser, SentMessage,
};
use parley_testkit::real_bot::{settings, MODEL_WAIT};
use util::{
    start_on, test_guild, test_settings, Running, BOT_ID, CHANNEL_A, CHANNEL_B, GUILD, THREAD,
};

async fn start(handler: Arc<dyn Handler>) -> Running {
    let options = FakeDiscordOptions {
        guilds: vec![test_guild(BOT_ID)],
        bot_id: BOT_ID,
        ..FakeDiscordOptions::default()
    };
    start_on(options, test_settings(), handler, MODEL_WAIT).await
}

/// The bot's messages in `channel` once `n` exist and none changed for 1.5 s.
async fn settled(fake: &FakeDiscord, channel: u64, n: usize) -> Vec<SentMessage> {
    parley_testkit::real_bot::settled(
        &format!("channel {channel}"),
        n,
        || fake.messages(channel),
        |m| &m.content,
    )
    .await
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
