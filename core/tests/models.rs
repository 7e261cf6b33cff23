//! Models by name through the real bot: `/model` lists them with the channel's marked,
//! `/model NAME` switches one channel (persisted, its caches dropped, admins only in groups),
//! `/stats` names the model, and a model that cannot be loaded leaves the channel where it was.

mod util;

use std::sync::Arc;

use parley_core::bot::{replies, Bot};
use parley_core::persona::Personas;
use parley_core::seam::{Handler, Outbox};
use parley_core::store::Store;
use parley_core::testing::{dm, group, RecordingOutbox};
use parley_testkit::real_bot::two_models;
use util::{key, settings};

/// The bot's language in these tests (`bot.language` unset).
const EN: parley_core::i18n::Language = parley_core::i18n::Language::English;

async fn ask(bot: &Bot, out: &Arc<RecordingOutbox>, m: parley_core::seam::Incoming) -> String {
    let chat = m.key.chat.clone();
    let o: Arc<dyn Outbox> = out.clone();
    bot.handle(m, o).await;
    bot.idle().await;
    out.last(&key(&chat)).unwrap_or_default()
}

#[tokio::test]
async fn model_switches_one_channel_keeps_its_conversation_drops_its_caches_and_persists() {
    let mut s = settings("");
    let (shelf, [small, large]) = two_models(&mut s);
    let store = Store::in_memory().unwrap();
    let bot = Bot::with_models(&s, shelf.clone(), store.clone(), Personas::builtin())
        .await
        .unwrap();
    let out = Arc::new(RecordingOutbox::new());

    let listed = ask(&bot, &out, dm("d", "u", "/model")).await;
    assert!(listed.contains("small (current)"), "{listed}");
    assert!(
        listed.contains("large") && !listed.contains("large (current)"),
        "{listed}"
    );
    assert_eq!(
        ask(&bot, &out, dm("d", "u", "hello there")).await,
        "small here"
    );

    let switched = ask(&bot, &out, dm("d", "u", "/model LARGE")).await;
    assert_eq!(switched, replies::model_set(EN, "large"));
    for engine in [&small, &large] {
        assert!(
            engine.forgotten().contains(&"test:d".to_string()),
            "the caches of the channel go: {:?}",
            engine.forgotten()
        );
    }
    assert_eq!(
        ask(&bot, &out, dm("d", "u", "and now?")).await,
        "large here"
    );
    let asked = large.requests();
    assert_eq!(asked.len(), 1);
    let prompt = util::prompt_text(&asked[0]);
    assert!(
        prompt.contains("hello there"),
        "the conversation goes on: {prompt}"
    );
    let stats = ask(&bot, &out, dm("d", "u", "/stats")).await;
    assert!(stats.contains("Model: large"), "{stats}");

    // Another channel stays on the default.
    assert_eq!(ask(&bot, &out, dm("e", "v", "hi")).await, "small here");
    let stats = ask(&bot, &out, dm("e", "v", "/stats")).await;
    assert!(stats.contains("Model: small"), "{stats}");

    // The choice is in the store: a restarted bot keeps it.
    drop(bot);
    let bot = Bot::with_models(&s, shelf, store, Personas::builtin())
        .await
        .unwrap();
    let listed = ask(&bot, &out, dm("d", "u", "/model")).await;
    assert!(listed.contains("large (current)"), "{listed}");
}

#[tokio::test]
async fn in_a_group_only_admins_switch_the_model_and_unknown_names_are_listed() {
    let mut s = settings("[bot]\nmessages_per_minute = 0\nadmins = [\"test:boss\"]\n");
    let (shelf, _) = two_models(&mut s);
    let bot = Bot::with_models(&s, shelf, Store::in_memory().unwrap(), Personas::builtin())
        .await
        .unwrap();
    let out = Arc::new(RecordingOutbox::new());
    let refused = ask(&bot, &out, group("g", "member", "/model large")).await;
    assert_eq!(refused, replies::group_admins_only(EN));
    let listed = ask(&bot, &out, group("g", "member", "/model")).await;
    assert!(
        listed.contains("small (current)"),
        "listing is for everyone: {listed}"
    );
    let done = ask(&bot, &out, group("g", "boss", "/model large")).await;
    assert_eq!(done, replies::model_set(EN, "large"));
    let unknown = ask(&bot, &out, group("g", "boss", "/model huge")).await;
    assert_eq!(unknown, replies::unknown_model(EN, "huge", "small, large"));
}

#[tokio::test]
async fn a_model_that_cannot_be_loaded_leaves_the_channel_on_its_model() {
    let mut s = settings("");
    let (_, [small, _]) = two_models(&mut s);
    // Bot::new has only the default's engine: "large" is listed but cannot load.
    let bot = Bot::new(&s, small, Store::in_memory().unwrap(), Personas::builtin())
        .await
        .unwrap();
    let out = Arc::new(RecordingOutbox::new());
    let reply = ask(&bot, &out, dm("d", "u", "/model large")).await;
    assert_eq!(reply, replies::model_unavailable(EN, "large"));
    assert_eq!(ask(&bot, &out, dm("d", "u", "hi")).await, "small here");
}
