//! The real core bot on the real default model, behind the real adapter, against the fake Bot
//! API: what a Telegram user would see.

mod util;

use std::sync::Arc;
use std::time::Duration;

use parley_core::seam::Handler;
use parley_testkit::real_bot::settings;
use parley_testkit::telegram::{FakeChat, FakeTelegram, FakeUser};
use util::{fast_settings, polling};

async fn real_bot(dir: &std::path::Path) -> Arc<dyn Handler> {
    let settings = settings(dir);
    let engine =
        parley_core::launch::engine(&settings).expect("engine (run scripts/fetch-model.sh)");
    Arc::new(
        parley_core::launch::bot(&settings, engine)
            .await
            .expect("bot"),
    )
}

fn ada() -> FakeUser {
    FakeUser::new(1001, "Ada").last_name("Lovelace")
}

/// Wait until chat `chat` holds `n` bot messages whose text stopped changing.
async fn settled(fake: &FakeTelegram, chat: i64, n: usize) -> Vec<String> {
    parley_testkit::real_bot::settled(
        &format!("chat {chat}"),
        n,
        || fake.sent_in(chat).into_iter().map(|m| m.text).collect(),
        String::as_str,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_conversation_with_the_real_model_and_commands() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = FakeTelegram::start().await;
    let handler = real_bot(dir.path()).await;
    let url = parley_telegram::parse_api_url(&fake.api_url()).expect("url");
    let (runner, shutdown) =
        parley_telegram::build(fast_settings(), fake.token().to_owned(), Some(url), handler);
    let task = tokio::spawn(runner);
    polling(&fake).await;
    assert!(
        fake.commands().is_some(),
        "setMyCommands from the core's list"
    );

    // Turn 1 and 2: answered by send (+ edits), the second with the first in context.
    fake.push_private(&ada(), "What is the capital of France?");
    let first = settled(&fake, 1001, 1).await;
    assert!(first[0].contains("Paris"), "{first:?}");
    fake.push_private(&ada(), "And what language do people speak there?");
    let second = settled(&fake, 1001, 2).await;
    assert!(!second[1].is_empty());
    assert!(
        fake.calls_to("sendChatAction").len() >= 2,
        "typing shown while waiting"
    );

    // /mode lists the personas; /reset clears; /translate switches the channel's mode.
    fake.push_private(&ada(), "/mode");
    let texts = settled(&fake, 1001, 3).await;
    assert!(texts[2].contains("concise"), "{}", texts[2]);
    fake.push_private(&ada(), "/reset");
    let texts = settled(&fake, 1001, 4).await;
    assert!(!texts[3].is_empty());
    fake.push_private(&ada(), "/translate fr");
    let texts = settled(&fake, 1001, 5).await;
    assert!(texts[4].to_lowercase().contains("french"), "{}", texts[4]);
    fake.push_private(&ada(), "Good morning, my friend.");
    let texts = settled(&fake, 1001, 6).await;
    assert!(!texts[5].is_empty() && texts[5] != "Good morning, my friend.");

    // Another chat never sees this one: its first answer is about its own question only.
    let group = FakeChat::group(-2001, "Book club");
    fake.push_group(&group, &ada(), "hello everyone");
    fake.push_group(&group, &ada(), "@parley_test_bot what is 2+2?");
    let g = settled(&fake, -2001, 1).await;
    assert_eq!(g.len(), 1, "only the mention is answered: {g:?}");

    shutdown.shutdown();
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("clean");
}

#[test]
fn repository_config_toml_loads_for_telegram() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.toml");
    parley_telegram::TelegramSettings::load(Some(&path)).expect("[telegram] of config.toml");
}
