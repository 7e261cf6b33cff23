//! The real core bot behind the real adapter, against the fake Bot API: on the real default
//! model, what a Telegram user would see; on the scripted engine, what the model is asked.
//! Each step waits until the bot has taken in every message and finished every answer.

mod util;

use std::sync::Arc;
use std::time::Duration;

use parley_core::config::Settings;
use parley_core::engine::scripted::{Scripted, ScriptedEngine};
use parley_core::engine::{Engine, GenerateRequest, Role};
use parley_core::i18n::Language;
use parley_testkit::real_bot::{prompt, settings, two_model_bot, WatchedBot};
use parley_testkit::telegram::{FakeChat, FakeTelegram, FakeUser, Fault};
use util::{fast_settings, polling, WAIT};

/// The real core bot on `engine` (with its store in `dir`), behind the real adapter on a fake
/// Bot API; returns once the adapter polls.
struct Running {
    fake: FakeTelegram,
    bot: Arc<WatchedBot>,
    shutdown: parley_telegram::ShutdownHandle,
    task: tokio::task::JoinHandle<parley_telegram::Result<()>>,
}

impl Running {
    async fn start(dir: &std::path::Path, engine: Option<Arc<dyn Engine>>) -> Running {
        Self::start_with(settings(dir), engine).await
    }

    /// [`Running::start`] with these core settings.
    async fn start_with(settings: Settings, engine: Option<Arc<dyn Engine>>) -> Running {
        let engine = engine.unwrap_or_else(|| {
            parley_core::launch::engine(&settings).expect("engine (run scripts/fetch-model.sh)")
        });
        let bot = WatchedBot::new(
            parley_core::launch::bot(&settings, engine)
                .await
                .expect("bot"),
        );
        Self::start_bot(bot).await
    }

    /// The real adapter on a fake Bot API in front of `bot`; returns once the adapter polls.
    async fn start_bot(bot: Arc<WatchedBot>) -> Running {
        let fake = FakeTelegram::start().await;
        let url = parley_telegram::parse_api_url(&fake.api_url()).expect("url");
        let (runner, shutdown) = parley_telegram::build(
            fast_settings(),
            fake.token().to_owned(),
            Some(url),
            bot.clone(),
        );
        let task = tokio::spawn(runner);
        polling(&fake).await;
        Running {
            fake,
            bot,
            shutdown,
            task,
        }
    }

    /// Once the bot has taken in `messages` messages in all and written every answer: the
    /// texts of its messages in `chat`.
    async fn texts_after(&self, messages: usize, chat: i64) -> Vec<String> {
        self.bot.idle_after(&format!("chat {chat}"), messages).await;
        self.fake
            .sent_in(chat)
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    /// Stop the adapter and check it stopped cleanly.
    async fn stop(self) {
        self.shutdown.shutdown();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("stops")
            .expect("no panic")
            .expect("clean");
    }
}

fn ada() -> FakeUser {
    FakeUser::new(1001, "Ada").last_name("Lovelace")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_conversation_with_the_real_model() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = Running::start(dir.path(), None).await;
    assert!(
        run.fake.commands().is_some(),
        "setMyCommands from the core's list"
    );
    // Two turns, answered by send (+ edits) once each; the model knows its capitals.
    run.fake
        .push_private(&ada(), "What is the capital of France?");
    let first = run.texts_after(1, 1001).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].contains("Paris"), "{first:?}");
    run.fake
        .push_private(&ada(), "And what language do people speak there?");
    let texts = run.texts_after(2, 1001).await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(texts[0], first[0], "the first answer stays as it was");
    assert!(!texts[1].trim().is_empty());
    assert!(
        run.fake.calls_to("sendChatAction").len() >= 2,
        "typing shown while waiting"
    );
    run.stop().await;
}

/// What the model is asked, through the real bot and adapter: context, `/reset`,
/// translation and chat isolation, on the scripted engine that records every prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_context_reset_translation_and_another_chat_reach_the_model_as_they_should() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new().with_responder(|_| "noted".into()));
    let run = Running::start(dir.path(), Some(engine.clone() as Arc<dyn Engine>)).await;
    let fake = &run.fake;

    // The second prompt carries the first question.
    fake.push_private(&ada(), "What is the capital of France?");
    run.texts_after(1, 1001).await;
    fake.push_private(&ada(), "And what language do people speak there?");
    assert_eq!(run.texts_after(2, 1001).await, ["noted", "noted"]);
    let asked = engine.requests();
    assert_eq!(asked.len(), 2);
    assert!(prompt(&asked[1]).contains("What is the capital of France?"));
    assert!(prompt(&asked[1]).contains("And what language do people speak there?"));

    // /mode lists the personas; /reset clears what the model sees.
    fake.push_private(&ada(), "/mode");
    let texts = run.texts_after(3, 1001).await;
    assert!(texts[2].contains("concise"), "{}", texts[2]);
    fake.push_private(&ada(), "/reset");
    run.texts_after(4, 1001).await;
    fake.push_private(&ada(), "What did I ask you?");
    run.texts_after(5, 1001).await;
    let after_reset = prompt(engine.requests().last().expect("asked"));
    assert!(after_reset.contains("What did I ask you?"), "{after_reset}");
    assert!(!after_reset.contains("capital of France"), "{after_reset}");
    assert!(!after_reset.contains("noted"), "{after_reset}");

    // /translate fr: the next message goes out as a translation request, without history.
    fake.push_private(&ada(), "/translate fr");
    let texts = run.texts_after(6, 1001).await;
    assert!(texts[5].to_lowercase().contains("french"), "{}", texts[5]);
    fake.push_private(&ada(), "Good morning, my friend.");
    run.texts_after(7, 1001).await;
    let t = engine.requests().pop().expect("asked");
    assert!(t.conversation.ends_with("#translate"), "{}", t.conversation);
    assert_eq!(t.messages.len(), 2, "{t:?}");
    assert_eq!(t.messages[0].role, Role::System);
    assert!(t.messages[0].content.contains("into French"), "{t:?}");
    assert_eq!(t.messages[1].content, "Good morning, my friend.");

    // Another chat never sees this one, and only its mention is answered.
    let group = FakeChat::group(-2001, "Book club");
    fake.push_group(&group, &ada(), "hello everyone");
    fake.push_group(&group, &ada(), "@parley_test_bot what is 2+2?");
    let g = run.texts_after(9, -2001).await;
    assert_eq!(g, ["noted"], "only the mention is answered");
    let in_group: Vec<GenerateRequest> = engine
        .requests()
        .into_iter()
        .filter(|r| r.conversation.contains("-2001"))
        .collect();
    assert_eq!(in_group.len(), 1, "{in_group:?}");
    let p = prompt(&in_group[0]);
    assert!(p.contains("what is 2+2?"), "{p}");
    for dm_text in ["capital of France", "What did I ask you?", "Good morning"] {
        assert!(!p.contains(dm_text), "the DM leaked into the group: {p}");
    }
    assert_eq!(run.fake.sent_in(1001).len(), 7, "nothing went to the DM");
    run.stop().await;
}

/// `/model` in a Telegram chat: registered with the other commands, lists the models with
/// the chat's marked, switches the chat, and the next answer comes from the new model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_lists_and_switches_the_chats_model() {
    let dir = tempfile::tempdir().expect("tmp");
    let (bot, [small, large]) = two_model_bot(dir.path()).await;
    let run = Running::start_bot(bot).await;
    // In direct chats the user owns the chat and may switch it (in groups: admins).
    let registered = run
        .fake
        .commands_for("all_private_chats")
        .expect("setMyCommands for private chats");
    assert!(registered.to_string().contains("\"model\""), "{registered}");
    run.fake.push_private(&ada(), "/model");
    let texts = run.texts_after(1, 1001).await;
    assert!(texts[0].contains("small (current)"), "{}", texts[0]);
    assert!(texts[0].contains("large"), "{}", texts[0]);
    run.fake.push_private(&ada(), "/model large");
    let texts = run.texts_after(2, 1001).await;
    assert!(texts[1].starts_with("Model is now large"), "{}", texts[1]);
    run.fake.push_private(&ada(), "Who are you?");
    let texts = run.texts_after(3, 1001).await;
    assert_eq!(texts[2], "large here");
    assert_eq!((small.requests().len(), large.requests().len()), (0, 1));
    run.stop().await;
}

/// One chat rate-limited for 30 s holds up only itself: another chat's question is answered
/// within seconds while the first chat's reply waits out its `retry_after`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_chat_does_not_hold_up_another_chat() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new().with_responder(|_| "hello back".into()));
    let run = Running::start(dir.path(), Some(engine as Arc<dyn Engine>)).await;
    let fake = &run.fake;
    fake.fail_in_chat("sendMessage", 1001, Some(Fault::RetryAfter(30)));
    // Ada's /help is answered in the core's handling of it: that reply waits 30 s.
    fake.push_private(&ada(), "/help");
    let throttled = fake.wait_until(WAIT, |f| {
        let sends = f.calls_to("sendMessage");
        sends.iter().any(|c| c.chat_id() == Some(1001))
    });
    assert!(throttled.await, "the reply to Ada was tried");
    let asked = std::time::Instant::now();
    fake.push_private(&FakeUser::new(1002, "Bob"), "hi there");
    let answered = fake
        .wait_until(Duration::from_secs(5), |f| {
            f.sent_in(1002).iter().any(|m| m.text == "hello back")
        })
        .await;
    assert!(answered, "Bob waited for Ada's chat: {:?}", asked.elapsed());
    assert!(
        fake.sent_in(1001).is_empty(),
        "Ada's chat is still throttled"
    );
    run.stop().await;
}

/// Telegram's command menus come from the core's one command list, by scope: group members
/// see only what they may use, private chats all but `/system`, group administrators all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_menus_offer_each_scope_only_what_it_may_use() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new());
    let run = Running::start(dir.path(), Some(engine as Arc<dyn Engine>)).await;
    let names = |scope: &str| -> Vec<String> {
        let menu = run.fake.commands_for(scope);
        let menu = menu.unwrap_or_else(|| panic!("no menu for {scope}"));
        let menu = menu.as_array().cloned().unwrap_or_default();
        menu.iter()
            .filter_map(|c| c["command"].as_str().map(str::to_owned))
            .collect()
    };
    let (members, private, admins) = (
        names("default"),
        names("all_private_chats"),
        names("all_chat_administrators"),
    );
    let all: Vec<String> = parley_core::commands::command_list(Language::English)
        .iter()
        .map(|c| c.name.to_owned())
        .collect();
    assert_eq!(admins, all, "administrators see every command");
    assert!(private.contains(&"reset".to_owned()), "{private:?}");
    assert!(!private.contains(&"system".to_owned()), "{private:?}");
    for admin_only in ["system", "reset", "mode", "set", "remember", "translate"] {
        assert!(
            !members.contains(&admin_only.to_owned()),
            "group members are offered /{admin_only}: {members:?}"
        );
    }
    assert!(members.contains(&"help".to_owned()), "{members:?}");
    run.stop().await;
}

#[test]
fn repository_config_toml_loads_for_telegram() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.toml");
    parley_telegram::TelegramSettings::load(Some(&path)).expect("[telegram] of config.toml");
}

fn grace() -> FakeUser {
    FakeUser::new(1002, "Grace")
}

/// Replies, files and `/tr` as a Telegram user uses them, through the real bot and adapter on
/// the scripted engine: what reaches the model, and what the user reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_files_and_translation_on_demand_reach_the_model_as_they_should() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new().with_responder(|_| "noted".into()));
    let run = Running::start(dir.path(), Some(engine.clone() as Arc<dyn Engine>)).await;
    let group = FakeChat::supergroup(-3001, "Travel");

    a_reply_to_another_user_shows_the_model_the_quoted_fragment(&run, &engine, &group).await;
    a_text_file_is_read_into_the_question(&run, &engine).await;
    a_large_file_and_an_image_are_refused_without_asking_the_model(&run, &engine).await;
    tr_on_a_reply_translates_that_message_once(&run, &engine, &group).await;
    a_translation_in_the_wrong_language_is_retried_then_refused(&run, &engine, &group).await;
    run.stop().await;
}

/// A reply to someone else's message: the model sees the message pointed at (only the
/// fragment quoted), above the question.
async fn a_reply_to_another_user_shows_the_model_the_quoted_fragment(
    run: &Running,
    engine: &ScriptedEngine,
    group: &FakeChat,
) {
    run.fake.push_reply_to_user(
        group,
        &ada(),
        "@parley_test_bot what does she mean?",
        (&grace(), "Ich komme morgen später, der Zug fällt aus."),
        Some("der Zug fällt aus"),
    );
    assert_eq!(run.texts_after(1, -3001).await, ["noted"]);
    let p = prompt(&engine.requests().pop().expect("asked"));
    assert!(p.contains("a message by Grace"), "{p}");
    assert!(p.contains("> der Zug fällt aus"), "{p}");
    assert!(
        !p.contains("Ich komme morgen"),
        "only the quoted fragment: {p}"
    );
    assert!(p.contains("what does she mean?"), "{p}");
}

/// A text file: downloaded (getFile, then the file) and read into the question.
async fn a_text_file_is_read_into_the_question(run: &Running, engine: &ScriptedEngine) {
    let log = "2026-12-01 ERROR disk full on /var\n2026-12-01 INFO retrying\n";
    run.fake.push_document(
        &FakeChat::private(&ada()),
        &ada(),
        Some("why does this fail?"),
        ("server.log", "text/plain", log.as_bytes()),
    );
    let t = run.texts_after(2, 1001).await;
    assert_eq!(t, ["noted"]);
    let p = prompt(&engine.requests().pop().expect("asked"));
    assert!(p.contains("why does this fail?"), "{p}");
    assert!(p.contains("File server.log:"), "{p}");
    assert!(p.contains("ERROR disk full on /var"), "{p}");
    assert_eq!(run.fake.downloads(), ["documents/file1"]);
}

/// Too large (size checked before downloading) and an image: a polite line each, naming
/// what the bot reads; the model is not asked.
async fn a_large_file_and_an_image_are_refused_without_asking_the_model(
    run: &Running,
    engine: &ScriptedEngine,
) {
    let asked = engine.requests().len();
    let big = vec![b'a'; 300 * 1024];
    run.fake.push_document(
        &FakeChat::private(&ada()),
        &ada(),
        None,
        ("dump.csv", "text/csv", &big),
    );
    let texts = run.texts_after(3, 1001).await;
    assert!(texts[1].contains("dump.csv is too large"), "{}", texts[1]);
    assert!(texts[1].contains("I can read text files"), "{}", texts[1]);
    run.fake.push_photo(
        &FakeChat::private(&ada()),
        &ada(),
        Some("what breed is this?"),
    );
    let texts = run.texts_after(4, 1001).await;
    assert!(texts[2].contains("can't open images"), "{}", texts[2]);
    assert_eq!(
        engine.requests().len(),
        asked,
        "the model is not asked blind"
    );
    assert_eq!(run.fake.downloads().len(), 1, "neither was downloaded");
    assert_eq!(run.fake.calls_to("getFile").len(), 1);
}

/// /tr as a reply: that message, translated once, outside the conversation.
async fn tr_on_a_reply_translates_that_message_once(
    run: &Running,
    engine: &ScriptedEngine,
    group: &FakeChat,
) {
    engine.push(Scripted::Reply(
        "Die Station ist geschlossen, leider.".into(),
    ));
    run.fake.push_reply_to_user(
        group,
        &ada(),
        "/tr de",
        (&grace(), "The station is closed, unfortunately."),
        None,
    );
    let texts = run.texts_after(5, -3001).await;
    assert_eq!(texts[1], "Die Station ist geschlossen, leider.");
    let t = engine.requests().pop().expect("asked");
    assert!(t.conversation.ends_with("#translate"), "{}", t.conversation);
    assert!(t.messages[0].content.contains("into German"), "{t:?}");
    assert_eq!(
        t.messages[1].content,
        "The station is closed, unfortunately."
    );
}

/// A translation the model writes in the wrong language twice is refused, not posted.
async fn a_translation_in_the_wrong_language_is_retried_then_refused(
    run: &Running,
    engine: &ScriptedEngine,
    group: &FakeChat,
) {
    let english = "The station is closed, unfortunately.";
    engine.push(Scripted::Reply(english.into()));
    engine.push(Scripted::Reply(english.into()));
    run.fake.push_reply_to_user(
        group,
        &grace(),
        "/tr ja",
        (&ada(), "The station is closed, unfortunately."),
        None,
    );
    let texts = run.texts_after(6, -3001).await;
    assert!(
        texts[2].contains("couldn't translate that into Japanese"),
        "{}",
        texts[2]
    );
    let last_two: Vec<_> = engine.requests().into_iter().rev().take(2).collect();
    assert!(
        last_two[0].messages[0].content.contains("only in Japanese"),
        "retried strictly"
    );
    assert_eq!(
        last_two[0].messages[1].content,
        last_two[1].messages[1].content
    );
}

/// The bot's own words in the user's language: `/help` for a German Telegram client is German,
/// the menus are set in every language the bot speaks (German for `language_code` "de").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_german_user_gets_german_help_and_a_german_menu() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new());
    let run = Running::start(dir.path(), Some(engine as Arc<dyn Engine>)).await;
    run.fake.push_private(&ada().language_code("de"), "/help");
    let texts = run.texts_after(1, 1001).await;
    let german = parley_core::commands::help_text(Language::German, false, false);
    assert_eq!(texts, std::slice::from_ref(&german));
    assert!(
        german.starts_with("Befehle:\n/help — Die Befehle auflisten"),
        "{german}"
    );

    let menu = run
        .fake
        .commands_for("all_private_chats@de")
        .expect("a German menu");
    let help = menu
        .as_array()
        .and_then(|m| m.iter().find(|c| c["command"] == "help"))
        .cloned()
        .expect("/help in the menu");
    assert_eq!(help["description"], "Die Befehle auflisten");
    let default = run
        .fake
        .commands_for("all_private_chats")
        .expect("the default menu");
    assert_eq!(
        default[0]["description"], "List the commands",
        "bot.language: English"
    );
    assert!(
        run.fake.commands_for("default@ja").is_some(),
        "every language gets its menus"
    );
    run.stop().await;
}

/// A user whose language the bot does not speak (or who has none) is answered in
/// `bot.language`, and the default menus are in it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_a_known_language_gets_bot_language() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = settings(dir.path());
    s.bot.language = Language::French;
    let engine = Arc::new(ScriptedEngine::new());
    let run = Running::start_with(s, Some(engine as Arc<dyn Engine>)).await;
    let french = parley_core::commands::help_text(Language::French, false, false);
    assert!(french.starts_with("Commandes :\n"), "{french}");
    run.fake
        .push_private(&ada().language_code("pt-br"), "/help");
    assert_eq!(
        run.texts_after(1, 1001).await,
        std::slice::from_ref(&french)
    );
    run.fake.push_private(&ada(), "/help");
    assert_eq!(run.texts_after(2, 1001).await, [french.clone(), french]);
    let default = run
        .fake
        .commands_for("all_private_chats")
        .expect("the default menu");
    assert_eq!(default[0]["description"], "Lister les commandes");
    run.stop().await;
}

/// Whether any file under `dir` (the store, its WAL and shared memory) holds `word`'s bytes.
fn store_holds(dir: &std::path::Path, word: &str) -> bool {
    let files = std::fs::read_dir(dir).expect("the store's folder");
    files.flatten().any(|f| {
        let bytes = std::fs::read(f.path()).unwrap_or_default();
        bytes.windows(word.len()).any(|w| w == word.as_bytes())
    })
}

/// Issue 26, end to end on a real store file: `/export` sends the user their data as a JSON
/// document in their DM; what `/forget` (a message, its answer, a translation) and `/reset`
/// delete is in no file of the store afterwards, while the bot runs and after it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgotten_and_reset_words_are_in_no_file_of_the_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(ScriptedEngine::new().with_responder(|r| {
        let last = r.messages.last().map(|m| m.content.clone());
        let last = last.unwrap_or_default();
        if r.conversation.ends_with("#translate") {
            let word = last.split_whitespace().last().unwrap_or_default();
            format!(
                "Bonjour, l'autre mot est {word} et je vous remercie beaucoup pour votre message."
            )
        } else {
            format!("You said: {last}")
        }
    }));
    let run = Running::start(dir.path(), Some(engine.clone() as Arc<dyn Engine>)).await;
    let fake = &run.fake;
    fake.push_private(&ada(), "My secret word is ZANZIBAR42");
    run.texts_after(1, 1001).await;
    fake.push_private(&ada(), "/translate fr");
    run.texts_after(2, 1001).await;
    fake.push_private(&ada(), "The other word is QUOKKA17");
    let texts = run.texts_after(3, 1001).await;
    assert!(texts[2].starts_with("Bonjour"), "translated: {texts:?}");
    for word in ["ZANZIBAR42", "QUOKKA17"] {
        assert!(store_holds(dir.path(), word), "{word} is stored first");
    }

    fake.push_private(&ada(), "/export");
    run.texts_after(4, 1001).await;
    let docs = fake.documents();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0].chat_id, 1001, "sent in the user's DM");
    let export = &docs[0].content;
    assert_eq!(export["user"], "1001", "{export}");
    let turns = export["channels"][0]["turns"].as_array().expect("turns");
    let said: Vec<&str> = turns.iter().filter_map(|t| t["text"].as_str()).collect();
    assert!(said.contains(&"My secret word is ZANZIBAR42"), "{said:?}");
    assert!(
        said.contains(&"You said: My secret word is ZANZIBAR42"),
        "{said:?}"
    );
    assert!(said.iter().any(|t| t.starts_with("Bonjour")), "{said:?}");
    fake.push_private(&ada(), "/export");
    let texts = run.texts_after(5, 1001).await;
    assert_eq!(fake.documents().len(), 1, "once an hour: {texts:?}");

    fake.push_private(&ada(), "/forget");
    let texts = run.texts_after(6, 1001).await;
    let reply = texts.last().expect("a reply");
    assert!(reply.contains("Deleted your 2 stored messages"), "{reply}");
    assert!(reply.contains("2 of my answers"), "{reply}");
    for word in ["ZANZIBAR42", "QUOKKA17"] {
        assert!(
            !store_holds(dir.path(), word),
            "{word} is gone from the store's files"
        );
    }

    fake.push_private(&ada(), "/translate off");
    fake.push_private(&ada(), "Remember TAPIOCA99 for me");
    run.texts_after(8, 1001).await;
    assert!(store_holds(dir.path(), "TAPIOCA99"));
    fake.push_private(&ada(), "/reset");
    run.texts_after(9, 1001).await;
    assert!(!store_holds(dir.path(), "TAPIOCA99"), "gone after /reset");
    run.stop().await;
    for word in ["ZANZIBAR42", "QUOKKA17", "TAPIOCA99"] {
        assert!(
            !store_holds(dir.path(), word),
            "{word}: still gone after the bot stopped"
        );
    }
}
