//! Reload without restart, on the real core bot (scripted engine) behind the real adapter and
//! the fake Bot API: a user added to `allowed_user_ids` is answered, no restart.

use std::sync::Arc;
use std::time::Duration;

use parley_core::config::Settings;
use parley_core::engine::scripted::ScriptedEngine;
use parley_core::reload::{Reloadable, Reloader};
use parley_telegram::{parse_api_url, TelegramSettings};
use parley_testkit::telegram::{FakeTelegram, FakeUser};

const WAIT: Duration = Duration::from_secs(20);

fn config(dir: &std::path::Path, allowed: &str, extra: &str) -> String {
    format!(
        "[bot]\nmessages_per_minute = 0\n{extra}\n[store]\npath = \"{}\"\n\
         [telegram]\npoll_timeout_secs = 1\nedit_interval_ms = 30\nallowed_user_ids = [{allowed}]\n",
        dir.join("parley.sqlite3").display()
    )
}

#[tokio::test]
async fn a_user_added_to_the_allowlist_is_answered_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config(dir.path(), "1", "")).unwrap();
    let settings = Settings::load(Some(&path)).unwrap();
    let engine = Arc::new(ScriptedEngine::new().with_responder(|_| "answered".into()));
    let bot = Arc::new(parley_core::launch::bot(&settings, engine).await.unwrap());
    let fake = FakeTelegram::start().await;
    let (runner, shutdown) = parley_telegram::build(
        TelegramSettings::from_settings(&settings).unwrap(),
        fake.token().to_owned(),
        Some(parse_api_url(&fake.api_url()).unwrap()),
        bot.clone(),
    );
    let task = tokio::spawn(runner);
    let parts: Vec<Arc<dyn Reloadable>> = vec![bot, shutdown.reloadable()];
    let mut reloader = Reloader::new(&path, settings, parts);
    let bob = FakeUser::new(2, "Bob");

    fake.push_private(&bob, "hello");
    let refused = fake.wait_for_call("sendMessage", |c| c.chat_id() == Some(2), WAIT);
    // The core's localized refusal (no `refusal_text` override is set).
    let refused = refused.await.unwrap();
    let text = refused.text().unwrap_or_default();
    assert!(text.contains("private bot"), "{text}");

    // An invalid file changes nothing (and names the key).
    std::fs::write(&path, config(dir.path(), "1, 2", "nmae = \"x\"")).unwrap();
    let err = reloader.reload().unwrap_err().to_string();
    assert!(err.contains("nmae"), "{err}");

    std::fs::write(&path, config(dir.path(), "1, 2", "")).unwrap();
    assert_eq!(reloader.reload().unwrap(), Vec::<String>::new());
    fake.push_private(&bob, "hello again");
    let answered = fake
        .wait_until(WAIT, |f| f.sent_in(2).iter().any(|m| m.text == "answered"))
        .await;
    assert!(
        answered,
        "not answered after the reload: {:?}",
        fake.sent_in(2)
    );
    // Between the two: only the one refusal, so the invalid file admitted no one.
    assert_eq!(fake.sent_in(2).len(), 2, "{:?}", fake.sent_in(2));

    shutdown.shutdown();
    task.await.unwrap().unwrap();
}
