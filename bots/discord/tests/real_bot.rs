//! The real core bot behind the real adapter, against the fake gateway and REST API: on the
//! real default model, and on a scripted engine where the test needs exact model output.

mod util;

use std::sync::Arc;
use std::time::Duration;

use parley_core::engine::scripted::{Scripted, ScriptedEngine};
use parley_core::engine::{Engine, GenerateRequest};
use parley_testkit::discord::{
    FakeDiscordOptions, FakeInteraction, FakeMessage, FakeUser, SentMessage,
};
use parley_testkit::real_bot::{prompt, settings, two_model_bot, WatchedBot, MODEL_WAIT};
use util::{
    start_on, test_guild, test_settings, Running, BOT_ID, CHANNEL_A, CHANNEL_B, GUILD, THREAD,
};

/// The bot's language in these tests (`bot.language` unset).
const EN: parley_core::i18n::Language = parley_core::i18n::Language::English;

/// The real core bot on `engine` (the real default model when `None`), with its store in
/// `dir`, behind the adapter on a fresh fake Discord.
async fn start(
    dir: &std::path::Path,
    engine: Option<Arc<dyn Engine>>,
) -> (Running, Arc<WatchedBot>) {
    start_with(settings(dir), engine).await
}

/// [`start`] with these core settings.
async fn start_with(
    s: parley_core::config::Settings,
    engine: Option<Arc<dyn Engine>>,
) -> (Running, Arc<WatchedBot>) {
    let engine = engine.unwrap_or_else(|| {
        parley_core::launch::engine(&s).expect("engine (run scripts/fetch-model.sh)")
    });
    let bot = WatchedBot::new(parley_core::launch::bot(&s, engine).await.expect("bot"));
    let options = FakeDiscordOptions {
        guilds: vec![test_guild(BOT_ID)],
        bot_id: BOT_ID,
        ..FakeDiscordOptions::default()
    };
    let run = start_on(options, test_settings(), bot.clone(), MODEL_WAIT).await;
    (run, bot)
}

/// Once the bot has taken in `messages` messages in all and written every answer: its
/// messages in `channel`.
async fn after(run: &Running, bot: &WatchedBot, messages: usize, channel: u64) -> Vec<SentMessage> {
    bot.idle_after(&format!("channel {channel}"), messages)
        .await;
    run.fake.messages(channel)
}

/// Stop the adapter and check it stopped cleanly.
async fn stop(run: Running) {
    run.shutdown.shutdown().await;
    tokio::time::timeout(Duration::from_secs(20), run.task)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("clean");
}

/// The requests the engine got for `channel`.
fn asked_in(engine: &ScriptedEngine, channel: u64) -> Vec<GenerateRequest> {
    let id = format!("discord:{channel}");
    engine
        .requests()
        .into_iter()
        .filter(|r| r.conversation == id)
        .collect()
}

fn alice() -> FakeUser {
    FakeUser::new(10, "alice").with_global_name("Alice")
}

fn mention(channel: u64, text: &str) -> FakeMessage {
    FakeMessage::guild(GUILD, channel, alice(), &format!("<@{BOT_ID}> {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mention_answered_by_the_real_model() {
    let dir = tempfile::tempdir().expect("tmp");
    let (run, bot) = start(dir.path(), None).await;
    let q = run
        .fake
        .send_message(mention(CHANNEL_A, "What is the capital of France?"));
    let a = after(&run, &bot, 1, CHANNEL_A).await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].content.contains("Paris"), "{:?}", a[0].content);
    assert_eq!(a[0].reply_to.as_deref(), Some(q.to_string().as_str()));
    assert!(a[0]
        .allowed_mentions
        .iter()
        .all(|m| m["parse"] == serde_json::json!([])));
    stop(run).await;
}

/// What the model is asked per channel and thread, on the scripted engine that records every
/// prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_are_answered_with_context_per_channel_and_thread() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new().with_responder(|_| "noted".into()));
    let (run, bot) = start(dir.path(), Some(engine.clone() as Arc<dyn Engine>)).await;

    run.fake
        .send_message(mention(CHANNEL_A, "What is the capital of France?"));
    after(&run, &bot, 1, CHANNEL_A).await;
    // Unaddressed messages are not answered; a follow-up is, with the first question in its
    // prompt.
    run.fake.send_message(FakeMessage::guild(
        GUILD,
        CHANNEL_A,
        alice(),
        "just chatting",
    ));
    run.fake
        .send_message(mention(CHANNEL_A, "Is it a big city?"));
    let a = after(&run, &bot, 3, CHANNEL_A).await;
    assert_eq!(a.len(), 2, "only mentions answered: {a:?}");
    let asked = asked_in(&engine, CHANNEL_A);
    assert_eq!(asked.len(), 2, "{asked:?}");
    let follow_up = prompt(&asked[1]);
    assert!(
        follow_up.contains("What is the capital of France?"),
        "{follow_up}"
    );
    assert!(follow_up.contains("Is it a big city?"), "{follow_up}");
    assert!(!follow_up.contains("just chatting"), "{follow_up}");

    // Another channel and a thread of the first start from nothing.
    run.fake.send_message(mention(CHANNEL_B, "hi"));
    let b = after(&run, &bot, 4, CHANNEL_B).await;
    assert_eq!(b.len(), 1, "{b:?}");
    let in_b = asked_in(&engine, CHANNEL_B);
    assert_eq!(in_b.len(), 1, "{in_b:?}");
    assert!(!prompt(&in_b[0]).contains("France"), "{}", prompt(&in_b[0]));
    run.fake.send_message(mention(THREAD, "/stats"));
    let t = after(&run, &bot, 5, THREAD).await;
    assert_eq!(t.len(), 1, "{t:?}");
    assert!(t[0].content.contains("Turns stored: 0"), "{}", t[0].content);
    run.fake.send_message(mention(THREAD, "what did I ask?"));
    after(&run, &bot, 6, THREAD).await;
    let in_thread = asked_in(&engine, THREAD);
    assert_eq!(in_thread.len(), 1, "{in_thread:?}");
    assert!(
        !prompt(&in_thread[0]).contains("France"),
        "{}",
        prompt(&in_thread[0])
    );
    stop(run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_output_never_pings_anyone() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine: Arc<dyn Engine> = Arc::new(
        ScriptedEngine::new().with_replies(["Sure! @everyone @here <@&7777> <@10> look at this"]),
    );
    let (run, bot) = start(dir.path(), Some(engine)).await;
    run.fake
        .send_message(FakeMessage::direct(900, alice(), "ping them all"));
    let m = after(&run, &bot, 1, 900).await;
    assert_eq!(m.len(), 1, "{m:?}");
    let body = &m[0];
    assert!(!body.content.contains("@everyone"), "{}", body.content);
    assert!(!body.content.contains("<@&7777>"), "{}", body.content);
    assert!(body.content.contains("look at this"));
    for am in &body.allowed_mentions {
        assert_eq!(am["parse"], serde_json::json!([]), "allowed_mentions {am}");
    }
    stop(run).await;
}

/// `/model` on Discord: a slash command made from the core's list, listing for every member,
/// switching the channel only for members who manage the server, the next answer from the new
/// model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_slash_command_lists_and_switches_for_managers_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let (bot, [small, large]) = two_model_bot(dir.path()).await;
    let options = FakeDiscordOptions {
        guilds: vec![test_guild(BOT_ID)],
        bot_id: BOT_ID,
        ..FakeDiscordOptions::default()
    };
    let adapter = parley_discord::DiscordSettings {
        command_guild_ids: vec![GUILD],
        ..test_settings()
    };
    let run = start_on(options, adapter, bot.clone(), MODEL_WAIT).await;
    let registered = run.fake.registered_commands();
    let model = registered[&GUILD.to_string()]
        .iter()
        .find(|c| c["name"] == "model")
        .cloned()
        .expect("/model registered");
    assert_eq!(model["options"][0]["name"], "args", "{model}");

    let slash = |user: FakeUser, args: Option<&str>, perms: u64| {
        let mut i = FakeInteraction::guild(GUILD, CHANNEL_A, user, "model").permissions(perms);
        if let Some(a) = args {
            i = i.option("args", a);
        }
        run.fake.send_interaction(i);
    };
    slash(alice(), None, 0);
    let m = after(&run, &bot, 1, CHANNEL_A).await;
    assert!(m[0].content.contains("small (current)"), "{}", m[0].content);
    slash(alice(), Some("large"), 0);
    let m = after(&run, &bot, 2, CHANNEL_A).await;
    assert_eq!(
        m[1].content,
        parley_core::bot::replies::group_admins_only(EN)
    );
    let moderator = FakeUser::new(12, "moderator");
    slash(moderator, Some("large"), 1 << 5);
    let m = after(&run, &bot, 3, CHANNEL_A).await;
    assert!(
        m[2].content.starts_with("Model is now large"),
        "{}",
        m[2].content
    );
    run.fake.send_message(mention(CHANNEL_A, "who are you?"));
    let m = after(&run, &bot, 4, CHANNEL_A).await;
    assert_eq!(m[3].content, "large here");
    assert_eq!((small.requests().len(), large.requests().len()), (0, 1));
    stop(run).await;
}

#[test]
fn repository_config_toml_loads_for_discord() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.toml");
    parley_discord::DiscordSettings::load(&path).expect("[discord] of config.toml");
}

fn bob() -> FakeUser {
    FakeUser::new(11, "bob").with_global_name("Bob")
}

/// Replies, files and flag reactions as a Discord server uses them, through the real bot and
/// adapter on the scripted engine: what reaches the model, and what the members read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_files_and_flag_reactions_reach_the_model_as_they_should() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new().with_responder(|_| "noted".into()));
    let (run, bot) = start(dir.path(), Some(engine.clone() as Arc<dyn Engine>)).await;

    a_reply_shows_the_model_the_message_pointed_at_fetched_when_absent(&run, &bot, &engine).await;
    a_text_file_is_read_and_an_oversized_file_or_an_image_refused(&run, &bot, &engine).await;
    flag_reactions_translate_retry_or_refuse_and_other_emoji_do_nothing(&run, &bot, &engine).await;
    stop(run).await;
}

/// A reply to Bob's message: its text reaches the model above the question; when the
/// event leaves the message out, the adapter fetches it.
async fn a_reply_shows_the_model_the_message_pointed_at_fetched_when_absent(
    run: &Running,
    bot: &WatchedBot,
    engine: &ScriptedEngine,
) {
    let said = "Ich komme morgen später, der Zug fällt aus.";
    let bobs = run
        .fake
        .send_message(FakeMessage::guild(GUILD, CHANNEL_A, bob(), said));
    run.fake
        .send_message(mention(CHANNEL_A, "what does he mean?").replying_to(bobs, bob(), said));
    assert_eq!(after(run, bot, 2, CHANNEL_A).await.len(), 1);
    let p = prompt(asked_in(engine, CHANNEL_A).last().expect("asked"));
    assert!(p.contains("a message by Bob") && p.contains(said), "{p}");
    assert!(p.contains("what does he mean?"), "{p}");
    run.fake.send_message(
        mention(CHANNEL_A, "and why?")
            .replying_to(bobs, bob(), said)
            .without_referenced_message(),
    );
    after(run, bot, 3, CHANNEL_A).await;
    let p = prompt(asked_in(engine, CHANNEL_A).last().expect("asked"));
    assert!(p.contains("> Ich komme morgen"), "fetched: {p}");
    let fetched = format!("channels/{CHANNEL_A}/messages/{bobs}");
    assert!(run
        .fake
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path.contains(&fetched)));
}

/// A text file is read into the question; an oversized one and an image are refused
/// politely, neither downloaded nor put to the model.
async fn a_text_file_is_read_and_an_oversized_file_or_an_image_refused(
    run: &Running,
    bot: &WatchedBot,
    engine: &ScriptedEngine,
) {
    let code = "fn main() {\n    let x: u8 = 300;\n}\n";
    let url = run.fake.add_file("main.rs", code.as_bytes());
    run.fake.send_message(
        FakeMessage::direct(900, alice(), "why doesn't this compile?").file(
            "main.rs",
            "text/x-rust",
            code.len() as u64,
            &url,
        ),
    );
    assert_eq!(after(run, bot, 4, 900).await.len(), 1);
    let p = prompt(asked_in(engine, 900).last().expect("asked"));
    assert!(
        p.contains("File main.rs:") && p.contains("let x: u8 = 300;"),
        "{p}"
    );
    let asked = engine.requests().len();
    let big = run.fake.add_file("huge.log", b"never served");
    run.fake
        .send_message(FakeMessage::direct(900, alice(), "").file(
            "huge.log",
            "text/plain",
            5 << 20,
            &big,
        ));
    let m = after(run, bot, 5, 900).await;
    assert!(
        m[1].content.contains("huge.log is too large"),
        "{}",
        m[1].content
    );
    run.fake
        .send_message(FakeMessage::direct(900, alice(), "what is this?").attachments(1));
    let m = after(run, bot, 6, 900).await;
    assert!(
        m[2].content.contains("can't open images"),
        "{}",
        m[2].content
    );
    assert!(
        m[2].content.contains("I can read text files"),
        "{}",
        m[2].content
    );
    assert_eq!(
        engine.requests().len(),
        asked,
        "the model is not asked blind"
    );
    let files: Vec<_> = run
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("files/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        files,
        ["/files/main.rs"],
        "only the readable file was downloaded"
    );
}

/// A 🇩🇪 reaction on Bob's message: its translation, as a reply to it.
async fn flag_reactions_translate_retry_or_refuse_and_other_emoji_do_nothing(
    run: &Running,
    bot: &WatchedBot,
    engine: &ScriptedEngine,
) {
    engine.push(Scripted::Reply("Ich komme morgen später.".into()));
    let english = run.fake.send_message(FakeMessage::guild(
        GUILD,
        CHANNEL_B,
        bob(),
        "I'll come later tomorrow.",
    ));
    run.fake
        .react((Some(GUILD), CHANNEL_B), english, &alice(), "🇩🇪");
    let b = after(run, bot, 8, CHANNEL_B).await;
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0].content, "Ich komme morgen später.");
    assert_eq!(b[0].reply_to.as_deref(), Some(english.to_string().as_str()));
    let t = engine.requests().pop().expect("asked");
    assert!(t.messages[0].content.contains("into German"), "{t:?}");
    assert_eq!(t.messages[1].content, "I'll come later tomorrow.");

    // 🇯🇵, and a model that answers in English twice: retried, then refused.
    engine.push(Scripted::Reply("I'll come later tomorrow.".into()));
    engine.push(Scripted::Reply("I will come later tomorrow.".into()));
    run.fake
        .react((Some(GUILD), CHANNEL_B), english, &alice(), "🇯🇵");
    let b = after(run, bot, 9, CHANNEL_B).await;
    assert!(
        b[1].content
            .contains("couldn't translate that into Japanese"),
        "{}",
        b[1].content
    );
    let last: Vec<_> = engine.requests().into_iter().rev().take(2).collect();
    assert!(
        last[0].messages[0].content.contains("only in Japanese"),
        "{last:?}"
    );
    // Other emoji are no request.
    run.fake
        .react((Some(GUILD), CHANNEL_B), english, &alice(), "👍");
    run.fake.send_message(mention(CHANNEL_B, "/stats"));
    let b = after(run, bot, 10, CHANNEL_B).await;
    assert_eq!(b.len(), 3, "the thumbs-up got nothing: {b:?}");
}

/// The bot's own words in the user's language: `/help` from a German Discord client is German,
/// and every slash command carries its description in each language the bot speaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_german_client_gets_german_help_and_localized_slash_commands() {
    use parley_core::i18n::Language;
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new());
    let (run, bot) = start(dir.path(), Some(engine as Arc<dyn Engine>)).await;
    let registered = run.fake.registered_commands();
    let help = registered
        .values()
        .flatten()
        .find(|c| c["name"] == "help")
        .cloned()
        .expect("/help registered");
    assert_eq!(help["description"], "List the commands", "{help}");
    let localized = &help["description_localizations"];
    assert_eq!(localized["de"], "Die Befehle auflisten", "{help}");
    assert_eq!(localized["zh-CN"], "列出所有命令", "{help}");
    assert_eq!(localized["es-ES"], "Lista los comandos", "{help}");

    let slash = FakeInteraction::guild(GUILD, CHANNEL_A, alice(), "help").locale("de");
    run.fake.send_interaction(slash);
    let m = after(&run, &bot, 1, CHANNEL_A).await;
    // A member in a server: the commands that change the chat are the admins'.
    let german = parley_core::commands::help_text(Language::German, false, true);
    assert_eq!(m[0].content, german);
    assert!(m[0]
        .content
        .starts_with("Befehle:\n/help — Die Befehle auflisten"));
    stop(run).await;
}

/// A message carries no locale: under `bot.language = "fr"` the bot's words are French.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_locale_the_bot_speaks_bot_language() {
    use parley_core::i18n::Language;
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = settings(dir.path());
    s.bot.language = Language::French;
    let engine = Arc::new(ScriptedEngine::new());
    let (run, bot) = start_with(s, Some(engine as Arc<dyn Engine>)).await;
    run.fake.send_message(mention(CHANNEL_A, "/help"));
    let m = after(&run, &bot, 1, CHANNEL_A).await;
    let french = parley_core::commands::help_text(Language::French, false, true);
    assert_eq!(m[0].content, french);
    assert!(m[0].content.starts_with("Commandes :\n"));
    stop(run).await;
}

/// `/export` on Discord: typed in a server channel, the JSON file comes in a direct message;
/// as a slash command, in an ephemeral follow-up only its user sees. Each file holds that
/// user's messages and the answers to them, and nobody else's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_sends_the_users_data_privately_as_a_json_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new().with_responder(|r| {
        let last = r.messages.last().map(|m| m.content.clone());
        format!("You said: {}", last.unwrap_or_default())
    }));
    let (run, bot) = start(dir.path(), Some(engine as Arc<dyn Engine>)).await;
    run.fake
        .send_message(mention(CHANNEL_A, "my word is PELICAN5"));
    after(&run, &bot, 1, CHANNEL_A).await;
    let bobs = FakeMessage::guild(
        GUILD,
        CHANNEL_A,
        bob(),
        &format!("<@{BOT_ID}> mine is OTTER8"),
    );
    run.fake.send_message(bobs);
    after(&run, &bot, 2, CHANNEL_A).await;

    run.fake
        .send_message(FakeMessage::guild(GUILD, CHANNEL_A, alice(), "/export"));
    let m = after(&run, &bot, 3, CHANNEL_A).await;
    let said = &m.last().expect("a reply").content;
    assert_eq!(said, &parley_core::bot::replies::export_sent(EN));
    let dm = run.fake.dm_channel(10).expect("a DM with alice");
    let sent = run.fake.messages(dm);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (name, export) = &sent[0].files[0];
    assert!(name.ends_with(".json"), "{name}");
    assert_eq!(export["user"], "10", "{export}");
    let text = export.to_string();
    assert!(
        text.contains("PELICAN5") && text.contains("You said:"),
        "{text}"
    );
    assert!(!text.contains("OTTER8"), "only alice's data: {text}");

    let slash = FakeInteraction::guild(GUILD, CHANNEL_A, bob(), "export");
    run.fake.send_interaction(slash);
    let m = after(&run, &bot, 4, CHANNEL_A).await;
    let file = m
        .iter()
        .find(|m| !m.files.is_empty())
        .expect("the file, answering the command");
    assert!(file.ephemeral, "only bob sees it");
    let text = file.files[0].1.to_string();
    assert!(
        text.contains("OTTER8") && !text.contains("PELICAN5"),
        "{text}"
    );
    stop(run).await;
}
