//! `parley-telegram --check` against the fake Bot API, each failure injected.

use std::process::Command;

use parley_core::config::Settings;
use parley_core::setup_check::{Checklist, Outcome};
use parley_telegram::{check_telegram, parse_api_url};
use parley_testkit::telegram::FakeTelegram;

async fn checked(fake: &FakeTelegram, toml: &str, token: Option<&str>) -> Checklist {
    let settings = Settings::from_toml_str(toml).expect("settings");
    let mut list = Checklist::new();
    let url = parse_api_url(&fake.api_url()).expect("url");
    check_telegram(&mut list, &settings, token.map(str::to_owned), Some(url)).await;
    list
}

fn outcome(list: &Checklist, what: &str) -> Outcome {
    list.item(what)
        .unwrap_or_else(|| panic!("no item {what}: {}", list.render()))
        .outcome
}

#[tokio::test]
async fn a_valid_token_passes_and_names_the_bot() {
    let fake = FakeTelegram::start().await;
    let list = checked(&fake, "", Some(fake.token())).await;
    assert!(list.passed(), "{}", list.render());
    let token = list.item("bot token").unwrap();
    assert!(
        token.found.contains(&fake.bot_username()),
        "{}",
        token.found
    );
    assert_eq!(outcome(&list, "privacy mode"), Outcome::Passed);
}

#[tokio::test]
async fn a_rejected_or_missing_token_fails_with_the_botfather_fix() {
    let fake = FakeTelegram::start().await;
    for token in [Some("123:wrong"), None] {
        let list = checked(&fake, "", token).await;
        let item = list.item("bot token").expect("token item");
        assert_eq!(item.outcome, Outcome::Failed, "{}", list.render());
        assert!(item.fix.as_deref().unwrap().contains("@BotFather"));
        assert!(
            !list.render().contains("wrong"),
            "the token is never printed"
        );
    }
}

#[tokio::test]
async fn privacy_mode_is_noted_when_group_context_is_wanted() {
    let fake = FakeTelegram::start().await;
    let list = checked(
        &fake,
        "[bot]\nkeep_group_context = true\n",
        Some(fake.token()),
    )
    .await;
    let item = list.item("privacy mode").unwrap();
    assert_eq!(item.outcome, Outcome::Note);
    assert!(item.fix.as_deref().unwrap().contains("/setprivacy"));
}

#[tokio::test]
async fn a_misspelt_telegram_key_fails_naming_it() {
    let fake = FakeTelegram::start().await;
    let list = checked(
        &fake,
        "[telegram]\npoll_timout_secs = 5\n",
        Some(fake.token()),
    )
    .await;
    let item = list.item("[telegram] section").unwrap();
    assert_eq!(item.outcome, Outcome::Failed);
    assert!(item.found.contains("poll_timout_secs"), "{}", item.found);
}

/// The binary prints the whole checklist and exits 1 on a failure: here a missing model and a
/// data directory under a file, besides a rejected token.
#[tokio::test]
async fn the_binary_prints_the_checklist_and_fails() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocker"), "").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[model]\npath = \"missing.gguf\"\n[store]\npath = \"blocker/parley.sqlite3\"\n",
    )
    .unwrap();
    let url = fake.api_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_parley-telegram"))
            .args(["--check", "--config"])
            .arg(&config)
            .current_dir(config.parent().unwrap())
            .env("TELOXIDE_TOKEN", "1:rejected")
            .env("TELOXIDE_API_URL", url)
            .env_remove("PARLEY_CONFIG")
            .output()
            .expect("run parley-telegram")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for line in [
        "[ok]   config:",
        "[FAIL] bot token:",
        "[FAIL] model default:",
        "[FAIL] data directory:",
        "[ok]   metrics port:",
        "3 item(s) to fix",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}
