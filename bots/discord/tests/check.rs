//! `parley-discord --check`'s Discord items against the fake Discord, each failure injected.

use parley_core::config::Settings;
use parley_core::setup_check::{Checklist, Outcome};
use parley_discord::check::check_discord;
use parley_testkit::discord::{FakeDiscord, FakeDiscordOptions, FakeGuild, FakeRole, Fault};

const BOT: u64 = 4242;
/// View Channel, Send Messages, Read Message History, Send Messages in Threads.
const NEEDED: u64 = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 38);

fn guild(id: u64, bot_permissions: u64) -> FakeGuild {
    let mut g = FakeGuild::new(id, "Guild", 1);
    g.roles.push(FakeRole {
        id: id + 1,
        name: "parley".into(),
        permissions: bot_permissions,
        bot_id: Some(BOT),
    });
    g
}

async fn fake(guilds: Vec<FakeGuild>, application_flags: Option<u64>) -> FakeDiscord {
    let mut options = FakeDiscordOptions {
        bot_id: BOT,
        guilds,
        ..FakeDiscordOptions::default()
    };
    if let Some(flags) = application_flags {
        options.application_flags = flags;
    }
    FakeDiscord::start_with(options).await
}

async fn checked(fake: &FakeDiscord, toml: &str, token: Option<&str>) -> Checklist {
    let settings = Settings::from_toml_str(toml).expect("settings");
    let mut list = Checklist::new();
    let token = token.map(str::to_owned);
    check_discord(&mut list, &settings, token, Some(fake.api_base())).await;
    list
}

fn item<'a>(list: &'a Checklist, what: &str) -> &'a parley_core::setup_check::CheckItem {
    list.item(what)
        .unwrap_or_else(|| panic!("no item {what}: {}", list.render()))
}

#[tokio::test]
async fn everything_in_place_passes() {
    let fake = fake(vec![guild(100, NEEDED)], None).await;
    let list = checked(&fake, "[discord]\nallowed_guild_ids = [100]\n", Some("t")).await;
    assert!(list.passed(), "{}", list.render());
    assert_eq!(
        item(&list, "Message Content intent").outcome,
        Outcome::Passed
    );
    assert_eq!(item(&list, "guild 100").outcome, Outcome::Passed);
}

#[tokio::test]
async fn a_rejected_or_missing_token_fails() {
    let fake = fake(Vec::new(), None).await;
    fake.fail_next("GET", "/users/@me", 1, Fault::Status(401));
    let list = checked(&fake, "", Some("t")).await;
    let token = item(&list, "bot token");
    assert_eq!(token.outcome, Outcome::Failed);
    assert!(token.fix.as_deref().unwrap().contains("Reset Token"));
    let list = checked(&fake, "", None).await;
    assert_eq!(item(&list, "bot token").outcome, Outcome::Failed);
}

#[tokio::test]
async fn a_disabled_message_content_intent_fails_saying_where_to_switch_it_on() {
    let fake = fake(Vec::new(), Some(0)).await;
    let list = checked(&fake, "", Some("t")).await;
    let intent = item(&list, "Message Content intent");
    assert_eq!(intent.outcome, Outcome::Failed);
    assert!(intent
        .fix
        .as_deref()
        .unwrap()
        .contains("Privileged Gateway Intents"));
}

#[tokio::test]
async fn a_guild_not_joined_or_missing_permissions_fails() {
    let send = 1 << 11;
    let fake = fake(vec![guild(100, NEEDED & !send)], None).await;
    let list = checked(
        &fake,
        "[discord]\nallowed_guild_ids = [100, 200]\n",
        Some("t"),
    )
    .await;
    let missing = item(&list, "guild 100");
    assert_eq!(missing.outcome, Outcome::Failed);
    assert!(missing.found.contains("Send Messages"), "{}", missing.found);
    let absent = item(&list, "guild 200");
    assert_eq!(absent.outcome, Outcome::Failed);
    assert!(absent.fix.as_deref().unwrap().contains("URL Generator"));
}
