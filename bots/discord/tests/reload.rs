//! Reload without restart, on the real core bot (scripted engine) behind the real adapter and
//! the fake Discord: a user added to `allowed_user_ids` is answered in a DM, no restart.

use std::sync::Arc;
use std::time::Duration;

use parley_core::config::Settings;
use parley_core::engine::scripted::ScriptedEngine;
use parley_core::reload::{Reloadable, Reloader};
use parley_discord::DiscordSettings;
use parley_testkit::discord::{FakeDiscord, FakeMessage, FakeUser};

const WAIT: Duration = Duration::from_secs(20);
const DM: u64 = 500;

fn config(dir: &std::path::Path, allowed: &str) -> String {
    format!(
        "[bot]\nmessages_per_minute = 0\n[store]\npath = \"{}\"\n\
         [discord]\nedit_interval_ms = 30\nallowed_user_ids = [{allowed}]\n",
        dir.join("parley.sqlite3").display()
    )
}

#[tokio::test]
async fn a_user_added_to_the_allowlist_is_answered_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config(dir.path(), "1")).unwrap();
    let settings = Settings::load(Some(&path)).unwrap();
    let engine = Arc::new(ScriptedEngine::new().with_responder(|_| "answered".into()));
    let bot = Arc::new(parley_core::launch::bot(&settings, engine).await.unwrap());
    let fake = FakeDiscord::start().await;
    let (runner, shutdown) = parley_discord::start(
        DiscordSettings::from_settings(&settings).unwrap(),
        "test-token",
        Some(fake.api_base()),
        bot.clone(),
    )
    .await
    .unwrap();
    let task = tokio::spawn(runner.run());
    let parts: Vec<Arc<dyn Reloadable>> = vec![bot, shutdown.reloadable()];
    let mut reloader = Reloader::new(&path, settings, parts);
    let bob = FakeUser::new(2, "bob");

    fake.send_message(FakeMessage::direct(DM, bob.clone(), "hello"));
    let refusal = fake
        .wait_for(WAIT, |f| f.messages(DM).into_iter().next())
        .await
        .expect("a refusal");
    assert_ne!(refusal.content, "answered");

    std::fs::write(&path, config(dir.path(), "1, 2")).unwrap();
    assert_eq!(reloader.reload().unwrap(), Vec::<String>::new());
    fake.send_message(FakeMessage::direct(DM, bob, "hello again"));
    let answer = fake
        .wait_for(WAIT, |f| {
            f.messages(DM).into_iter().find(|m| m.content == "answered")
        })
        .await;
    assert!(answer.is_some(), "not answered: {:?}", fake.messages(DM));

    shutdown.shutdown().await;
    let _ = task.await;
}
