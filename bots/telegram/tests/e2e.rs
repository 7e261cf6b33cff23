//! End-to-end tests of the Telegram adapter against the fake Bot API of `parley-testkit`:
//! in-process (the adapter built with `parley_telegram::build`) and the real binary as a child
//! process.

mod util;

use std::time::{Duration, Instant};

use parley_core::render::units;
use parley_telegram::{Error, ParseMode, TelegramSettings};
use parley_testkit::real_binary::{model_config, RealBinary};
use parley_testkit::telegram::{FakeChat, FakeTelegram, FakeUser, Fault};
use serde_json::json;
use util::{
    answer_lands, fast_settings, long_text, polling, started, wide_text, Adapter, Answer,
    TestHandler, WAIT,
};

fn ada() -> FakeUser {
    FakeUser::new(1001, "Ada").last_name("Lovelace")
}

fn grace() -> FakeUser {
    FakeUser::new(1002, "Grace").username("grace_h")
}

#[tokio::test]
async fn dm_conversation_is_answered_by_send_and_edits_with_context_kept() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    let ada = ada();

    let first = fake.push_private(&ada, "hello");
    assert!(answer_lands(&fake, 1001, "echo: hello | history: hello").await);
    fake.push_private(&ada, "how are you?");
    assert!(
        answer_lands(
            &fake,
            1001,
            "echo: how are you? | history: hello / how are you?"
        )
        .await
    );
    fake.push_private(&ada, "bye");
    assert!(
        answer_lands(
            &fake,
            1001,
            "echo: bye | history: hello / how are you? / bye"
        )
        .await
    );

    let sends = fake.calls_to("sendMessage");
    assert_eq!(sends.len(), 3, "one message per answer");
    assert!(
        fake.calls_to("editMessageText").len() >= 3,
        "answers stream by edits"
    );
    assert!(
        !fake.calls_to("sendChatAction").is_empty(),
        "typing is shown"
    );
    assert_eq!(
        sends[0].body["reply_parameters"]["message_id"],
        json!(first.message_id)
    );
    assert!(
        sends.iter().all(|c| c.body.get("parse_mode").is_none()),
        "plain text: no parse mode"
    );
    let got = bot.handler.received();
    assert!(got
        .iter()
        .all(|m| m.is_direct && !m.mentions_bot && !m.reply_to_bot));
    assert_eq!(got[0].author.display_name, "Ada Lovelace");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn group_flags_are_set_and_everything_is_forwarded() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    let club = FakeChat::group(-2001, "Book club");
    let (ada, grace) = (ada(), grace());

    fake.push_group(&club, &grace, "chapter 3 was the best");
    fake.push_group(&club, &ada, "@parley_test_bot who wrote it?");
    assert!(
        answer_lands(
            &fake,
            -2001,
            "echo: who wrote it? | history: chapter 3 was the best / who wrote it?"
        )
        .await
    );
    let answer = fake.sent_in(-2001)[0].message_id;
    fake.push_reply(&club, &grace, "and when?", answer);
    fake.push_group(&club, &ada, "/help@parley_test_bot");
    fake.push_group(&club, &ada, "/start@someone_else_bot");
    assert!(
        fake.wait_until(WAIT, |f| f.sent_in(-2001).len() == 3).await,
        "the reply and the command are answered"
    );

    let got = bot.handler.received();
    let flags: Vec<(String, bool, bool, bool)> = got
        .iter()
        .map(|m| (m.text.clone(), m.is_direct, m.mentions_bot, m.reply_to_bot))
        .collect();
    assert_eq!(
        flags,
        vec![
            ("chapter 3 was the best".to_owned(), false, false, false),
            ("who wrote it?".to_owned(), false, true, false),
            ("and when?".to_owned(), false, false, true),
            ("/help".to_owned(), false, true, false),
        ],
        "everything but the other bot's command reaches the core, flagged"
    );
    assert!(got
        .iter()
        .all(|m| m.channel_title.as_deref() == Some("Book club")));
    assert_eq!(got[0].author.display_name, "Grace");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn forum_topic_is_its_own_channel_and_answers_go_to_the_topic() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    let forum = FakeChat::forum(-1003000000002, "Support");
    let ada = ada();

    fake.push_topic(&forum, 77, &ada, "@parley_test_bot first topic");
    fake.push_topic(&forum, 78, &ada, "@parley_test_bot second topic");
    assert!(answer_lands(&fake, forum.id, "echo: first topic | history: first topic").await);
    assert!(
        answer_lands(
            &fake,
            forum.id,
            "echo: second topic | history: second topic"
        )
        .await
    );
    let sent = fake.sent_in(forum.id);
    let topic_of = |text: &str| {
        sent.iter()
            .find(|m| m.text.contains(text))
            .unwrap()
            .thread_id
    };
    assert_eq!(topic_of("first topic"), Some(77));
    assert_eq!(topic_of("second topic"), Some(78));
    let keys: Vec<_> = bot
        .handler
        .received()
        .into_iter()
        .map(|m| m.key.thread)
        .collect();
    assert_eq!(keys, vec![Some("77".to_owned()), Some("78".to_owned())]);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn two_chats_are_isolated() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    let (ada, grace) = (ada(), grace());

    fake.push_private(&ada, "my cat is Tom");
    fake.push_private(&grace, "my dog is Rex");
    assert!(answer_lands(&fake, 1001, "echo: my cat is Tom | history: my cat is Tom").await);
    assert!(answer_lands(&fake, 1002, "echo: my dog is Rex | history: my dog is Rex").await);
    fake.push_private(&ada, "what is my pet?");
    fake.push_private(&grace, "what is my pet?");
    assert!(
        answer_lands(
            &fake,
            1001,
            "echo: what is my pet? | history: my cat is Tom / what is my pet?"
        )
        .await
    );
    assert!(
        answer_lands(
            &fake,
            1002,
            "echo: what is my pet? | history: my dog is Rex / what is my pet?"
        )
        .await
    );
    let keys: std::collections::HashSet<_> =
        bot.handler.received().into_iter().map(|m| m.key).collect();
    assert_eq!(keys.len(), 2, "two chats, two channel keys");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn long_answer_is_split_under_telegrams_limit() {
    let (fake, bot) = started(fast_settings(), Answer::Long(5000)).await;
    fake.push_private(&ada(), "tell me everything");
    assert!(fake.wait_until(WAIT, |f| f.sent_in(1001).len() == 2).await);
    let sent = fake.sent_in(1001);
    assert!(sent.iter().all(|m| units(&m.text) <= 4096));
    let whole: String = sent.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(whole, long_text(5000), "nothing lost or reordered");
    assert!(
        fake.calls_to("sendMessage")
            .iter()
            .all(|c| c.fault.is_none()),
        "no part was rejected as too long"
    );
    bot.stop().await.unwrap();
}

/// Telegram counts UTF-16 units: 3000 characters of emoji and CJK are 4500 units, two parts.
#[tokio::test]
async fn emoji_and_cjk_are_split_by_utf16_units() {
    let (fake, bot) = started(fast_settings(), Answer::Wide(3000)).await;
    fake.push_private(&ada(), "tell me in pictures");
    assert!(fake.wait_until(WAIT, |f| f.sent_in(1001).len() == 2).await);
    let sent = fake.sent_in(1001);
    assert!(
        sent.iter().all(|m| units(&m.text) <= 4096),
        "every part fits"
    );
    let whole: String = sent.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(whole, wide_text(3000), "nothing lost, no emoji cut in half");
    assert!(
        fake.calls_to("sendMessage")
            .iter()
            .all(|c| c.fault.is_none()),
        "no part was rejected as too long"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn commands_are_registered_with_set_my_commands() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    let members = json!([
        {"command": "help", "description": "What I can do"},
        {"command": "reset", "description": "Forget this conversation"},
        {"command": "mode", "description": "Switch the persona (NAME)"},
    ]);
    assert_eq!(fake.commands(), Some(members.clone()), "group members");
    assert_eq!(fake.commands_for("all_private_chats"), Some(members));
    assert_eq!(
        fake.commands_for("all_chat_administrators"),
        Some(json!([
            {"command": "help", "description": "What I can do"},
            {"command": "reset", "description": "Forget this conversation"},
            {"command": "mode", "description": "Switch the persona (NAME)"},
            {"command": "system", "description": "Set the system prompt (TEXT) (admins)"},
        ]))
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    fake.fail_next("sendMessage", 1, Fault::RetryAfter(1));
    fake.fail_next("editMessageText", 1, Fault::RetryAfter(1));
    fake.push_private(&ada(), "are you there?");
    assert!(
        fake.wait_until(WAIT, |f| f
            .calls_to("sendMessage")
            .iter()
            .any(|c| c.fault.is_some()))
            .await
    );
    let refused_at = Instant::now();
    assert!(
        answer_lands(
            &fake,
            1001,
            "echo: are you there? | history: are you there?"
        )
        .await
    );
    assert!(
        refused_at.elapsed() >= Duration::from_millis(900),
        "the retry waited for retry_after"
    );

    let sends = fake.calls_to("sendMessage");
    assert_eq!(sends.len(), 2, "one refused, one retried");
    assert_eq!(sends[0].fault, Some(Fault::RetryAfter(1)));
    assert_eq!(fake.sent_in(1001).len(), 1, "nothing lost, nothing doubled");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn rejected_entities_are_resent_as_plain_text() {
    let settings = TelegramSettings {
        parse_mode: ParseMode::Html,
        ..fast_settings()
    };
    let (fake, bot) = started(settings, Answer::Stream).await;
    fake.fail_next("sendMessage", 1, Fault::CantParseEntities);
    fake.fail_next("editMessageText", 1, Fault::CantParseEntities);
    fake.push_private(&ada(), "a <b> & `c`");
    let full = "echo: a <b> & `c` | history: a <b> & `c`";
    assert!(answer_lands(&fake, 1001, &parley_telegram::render_html(full)).await);

    let sends = fake.calls_to("sendMessage");
    assert_eq!(sends[0].body["parse_mode"], json!("HTML"));
    assert!(sends[0].fault.is_some());
    assert!(
        sends[1].body.get("parse_mode").is_none(),
        "resent without parse mode"
    );
    assert_eq!(sends[1].text(), Some("…"));
    let edits = fake.calls_to("editMessageText");
    assert!(edits[0].fault.is_some());
    assert!(
        edits[1].fault.is_none() && edits[1].body.get("parse_mode").is_none(),
        "the rejected edit was resent as plain text"
    );
    let part1: String = full.chars().take(full.chars().count() / 3).collect();
    assert_eq!(
        edits[0].text(),
        Some(parley_telegram::render_html(&part1).as_str())
    );
    assert_eq!(
        edits[1].text(),
        Some(part1.as_str()),
        "raw text, not escaped"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn html_mode_escapes_model_output() {
    let settings = TelegramSettings {
        parse_mode: ParseMode::Html,
        ..fast_settings()
    };
    let (fake, bot) = started(settings, Answer::Stream).await;
    fake.push_private(&ada(), "x < y");
    assert!(
        answer_lands(&fake, 1001, "echo: x &lt; y | history: x &lt; y").await,
        "HTML special characters are escaped"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    fake.fail_next("sendMessage", 2, Fault::Disconnect);
    fake.fail_next("getUpdates", 2, Fault::Disconnect);
    fake.push_private(&ada(), "still there?");
    assert!(answer_lands(&fake, 1001, "echo: still there? | history: still there?").await);
    assert_eq!(fake.sent_in(1001).len(), 1);
    // Both drops happened and were retried, each after a backoff (20 ms, then 40 ms: a lower
    // bound, which a slow machine only makes longer).
    let sends = fake.calls_to("sendMessage");
    let faults: Vec<_> = sends.iter().map(|c| c.fault.clone()).collect();
    assert_eq!(
        faults,
        [Some(Fault::Disconnect), Some(Fault::Disconnect), None]
    );
    assert!(sends[1].at - sends[0].at >= Duration::from_millis(20));
    assert!(sends[2].at - sends[1].at >= Duration::from_millis(40));
    let polls = fake.calls_to("getUpdates");
    let dropped: Vec<usize> = (0..polls.len())
        .filter(|&i| polls[i].fault == Some(Fault::Disconnect))
        .collect();
    assert_eq!(dropped.len(), 2, "two polls dropped");
    assert!(
        polls[dropped[1] + 1..].iter().any(|c| c.fault.is_none()),
        "polling resumed after the drops"
    );
    bot.stop().await.unwrap();
}

/// Slow by teloxide's design: it sleeps 10 s after any 5xx before returning the error.
#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let (fake, bot) = started(fast_settings(), Answer::Long(20)).await;
    fake.fail_next("sendMessage", 1, Fault::ServerError(502));
    fake.push_private(&ada(), "hi");
    assert!(
        fake.wait_until(Duration::from_secs(20), |f| f.sent_in(1001).len() == 1)
            .await
    );
    let sends = fake.calls_to("sendMessage");
    assert_eq!(sends.len(), 2);
    assert_eq!(
        sends[0].fault,
        Some(Fault::ServerError(502)),
        "the 502 was served"
    );
    assert_eq!(sends[1].fault, None);
    // teloxide's own 10 s pause plus our backoff; a lower bound, so load cannot break it.
    assert!(sends[1].at - sends[0].at >= Duration::from_millis(20));
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn retry_after_on_polling_is_honoured() {
    let fake = FakeTelegram::start().await;
    fake.fail_next("getUpdates", 1, Fault::RetryAfter(1));
    let started = Instant::now();
    let bot = Adapter::start(&fake, fast_settings(), TestHandler::new(Answer::Stream));
    fake.push_private(&ada(), "patience");
    assert!(answer_lands(&fake, 1001, "echo: patience | history: patience").await);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let polls = fake.calls_to("getUpdates");
    assert_eq!(polls[0].fault, Some(Fault::RetryAfter(1)));
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn messages_sent_while_the_bot_was_down_are_answered_after_start() {
    let fake = FakeTelegram::start().await;
    fake.push_private(&ada(), "anyone home?");
    let bot = Adapter::start(&fake, fast_settings(), TestHandler::new(Answer::Stream));
    assert!(answer_lands(&fake, 1001, "echo: anyone home? | history: anyone home?").await);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn pending_updates_can_be_dropped_at_start() {
    let fake = FakeTelegram::start().await;
    fake.push_private(&ada(), "old news");
    let settings = TelegramSettings {
        drop_pending_updates: true,
        ..fast_settings()
    };
    let bot = Adapter::start(&fake, settings, TestHandler::new(Answer::Stream));
    polling(&fake).await;
    fake.push_private(&ada(), "fresh");
    assert!(answer_lands(&fake, 1001, "echo: fresh | history: fresh").await);
    assert_eq!(bot.handler.texts(), vec!["fresh"]);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn polling_recovers_after_the_api_goes_away() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    fake.stop().await;
    // Let a few polls fail against the closed port.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = fake.calls_to("getUpdates").len();
    fake.restart().await;
    fake.push_private(&ada(), "back again?");
    assert!(answer_lands(&fake, 1001, "echo: back again? | history: back again?").await);
    assert!(
        fake.calls_to("getUpdates").len() > before,
        "polling resumed"
    );
    assert!(!bot.task.is_finished(), "the adapter kept running");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn updates_are_never_processed_twice_across_restarts() {
    let fake = FakeTelegram::start().await;
    let ada = ada();

    let first = Adapter::start(&fake, fast_settings(), TestHandler::new(Answer::Stream));
    polling(&fake).await;
    let one = fake.push_private(&ada, "one");
    assert!(
        fake.wait_until(WAIT, |_| first.handler.received().len() == 1)
            .await
    );
    let handler_one = first.handler.clone();
    first.stop().await.unwrap();
    assert!(
        fake.confirmed_offset() > one.update_id,
        "shutdown confirmed the offset"
    );

    let second = Adapter::start(&fake, fast_settings(), TestHandler::new(Answer::Stream));
    fake.push_private(&ada, "two");
    assert!(
        fake.wait_until(WAIT, |_| second.handler.received().len() == 1)
            .await
    );
    // Give a duplicate the chance to show up: one more full poll round trip.
    let polls = fake.calls_to("getUpdates").len();
    assert!(
        fake.wait_until(WAIT, |f| f.calls_to("getUpdates").len() > polls + 1)
            .await
    );
    assert_eq!(handler_one.texts(), vec!["one"]);
    assert_eq!(
        second.handler.texts(),
        vec!["two"],
        "`one` is not seen again"
    );
    second.stop().await.unwrap();
}

/// Updates the poller cannot map (malformed, or a kind it does not know) are skipped: nothing
/// reaches the core, the offset moves past them, and polling goes on to the next message.
#[tokio::test]
async fn unreadable_updates_are_skipped_with_the_offset_advanced() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    fake.push_update(json!({ "message": { "chat": "not a chat", "text": 5 } }));
    let last_bad = fake.push_update(json!({ "a_kind_from_the_future": { "id": 1 } }));
    fake.push_private(&ada(), "still there?");
    assert!(answer_lands(&fake, 1001, "echo: still there? | history: still there?").await);
    assert_eq!(bot.handler.texts(), vec!["still there?"]);
    assert!(
        fake.wait_until(WAIT, |f| f.confirmed_offset() > last_bad)
            .await,
        "the offset moved past the unreadable updates"
    );
    assert!(!bot.task.is_finished(), "polling goes on");
    bot.stop().await.unwrap();
    assert_eq!(fake.pending_updates(), 0, "nothing is delivered again");
}

#[tokio::test]
async fn a_panicking_handler_does_not_stop_the_bot() {
    let (fake, bot) = started(fast_settings(), Answer::PanicOnBoom).await;
    fake.push_private(&ada(), "boom");
    fake.push_private(&ada(), "still alive?");
    assert!(answer_lands(&fake, 1001, "echo: still alive? | history: still alive?").await);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_polling_and_shuts_the_handler_down() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    let handler = bot.handler.clone();
    bot.stop().await.unwrap();
    assert!(handler.shut_down.load(std::sync::atomic::Ordering::SeqCst));
    let polls = fake.calls_to("getUpdates").len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.calls_to("getUpdates").len(),
        polls,
        "no polling after shutdown"
    );
}

#[tokio::test]
async fn strangers_are_refused_in_private_and_ignored_in_groups() {
    let settings = TelegramSettings {
        allowed_user_ids: vec![1001],
        ..fast_settings()
    };
    let (fake, bot) = started(settings.clone(), Answer::Stream).await;
    let club = FakeChat::group(-2001, "Book club");
    let stranger = FakeUser::new(3003, "Mallory");

    fake.push_group(&club, &stranger, "@parley_test_bot hi");
    fake.push_private(&stranger, "hi");
    fake.push_private(&stranger, "hi again");
    let refusal = parley_core::bot::replies::direct_message_refused(Default::default());
    assert!(answer_lands(&fake, 3003, &refusal).await);
    fake.push_private(&ada(), "me too");
    assert!(answer_lands(&fake, 1001, "echo: me too | history: me too").await);

    assert_eq!(
        bot.handler.texts(),
        vec!["me too"],
        "strangers never reach the core"
    );
    assert_eq!(
        fake.sent_in(3003).len(),
        1,
        "one refusal, not one per message"
    );
    assert!(fake.sent_in(-2001).is_empty(), "silence in groups");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn group_administrators_and_configured_admins_are_platform_admins() {
    let settings = TelegramSettings {
        admin_user_ids: vec![1002],
        ..fast_settings()
    };
    let (fake, bot) = started(settings, Answer::Stream).await;
    let club = FakeChat::supergroup(-1003000000001, "Rust learners");
    fake.set_admins(club.id, &[1001]);
    let member = FakeUser::new(3003, "Bob");

    fake.push_group(&club, &ada(), "/reset@parley_test_bot");
    fake.push_group(&club, &member, "/reset@parley_test_bot");
    fake.push_private(&grace(), "/system be brief");
    fake.push_private(&ada(), "/system be brief");
    assert!(
        fake.wait_until(WAIT, |_| bot.handler.received().len() == 4)
            .await
    );
    // Each chat is handed over in its own order; across chats the order is free.
    let mut admin: Vec<(String, String, bool)> = bot
        .handler
        .received()
        .into_iter()
        .map(|m| (m.key.chat, m.author.id, m.author.is_platform_admin))
        .collect();
    admin.sort();
    let club_id = club.id.to_string();
    assert_eq!(
        admin,
        vec![
            (club_id.clone(), "1001".into(), true),
            (club_id, "3003".into(), false),
            ("1001".into(), "1001".into(), false),
            ("1002".into(), "1002".into(), true),
        ],
        "group admins count in their group only; configured admins everywhere"
    );
    assert_eq!(
        fake.calls_to("getChatAdministrators").len(),
        1,
        "the admin list is cached"
    );
    bot.stop().await.unwrap();
}

/// Two chats answering at once, by the fake's arrival times: in each chat consecutive edits
/// are an interval apart (less a margin for delivery), while the other chat's edits do not
/// wait for them (the two chats' first edits arrive together, not an interval apart), superseded
/// edits are skipped, and each chat's final text lands.
#[tokio::test]
async fn edits_are_throttled_per_chat_and_the_final_text_lands() {
    let interval = Duration::from_millis(500);
    // Delivery over loopback HTTP: far below this even on a loaded machine.
    let margin = Duration::from_millis(100);
    let settings = TelegramSettings {
        edit_interval_ms: interval.as_millis() as u64,
        ..fast_settings()
    };
    let (fake, bot) = started(settings, Answer::RapidEdits(20)).await;
    fake.push_private(&ada(), "go");
    fake.push_private(&grace(), "go");
    assert!(answer_lands(&fake, 1001, "step 20").await);
    assert!(answer_lands(&fake, 1002, "step 20").await);
    let edits_in = |chat: i64| -> Vec<Instant> {
        fake.calls_to("editMessageText")
            .iter()
            .filter(|c| c.chat_id() == Some(chat) && c.fault.is_none())
            .map(|c| c.at)
            .collect()
    };
    let (ada_edits, grace_edits) = (edits_in(1001), edits_in(1002));
    for edits in [&ada_edits, &grace_edits] {
        assert!(
            edits.len() < 20,
            "superseded edits are skipped ({})",
            edits.len()
        );
        for pair in edits.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap + margin >= interval, "edits {gap:?} apart in one chat");
        }
    }
    let (a, g) = (ada_edits[0], grace_edits[0]);
    let apart = if a > g { a - g } else { g - a };
    assert!(
        apart + margin < interval,
        "one chat's first edit waited {apart:?} for the other's"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_token_stops_with_a_clear_error() {
    let fake = FakeTelegram::start().await;
    let handler = TestHandler::new(Answer::Stream);
    let url = parley_telegram::parse_api_url(&fake.api_url()).unwrap();
    let (runner, _shutdown) = parley_telegram::build(
        fast_settings(),
        "1:wrong".to_owned(),
        Some(url),
        handler.clone(),
    );
    let result = tokio::time::timeout(WAIT, runner).await.unwrap();
    assert!(matches!(result, Err(Error::InvalidToken)), "{result:?}");
    assert!(result.unwrap_err().to_string().contains("@BotFather"));
    assert!(handler.shut_down.load(std::sync::atomic::Ordering::SeqCst));
}

// ----- the real binary -----

#[tokio::test]
async fn binary_answers_and_exits_cleanly_on_sigterm() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The real bot on the real default model (scripts/fetch-model.sh).
    let config = format!(
        "[telegram]\npoll_timeout_secs = 1\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\n{}",
        model_config(dir.path(), 24)
    );
    let child = RealBinary::start(
        env!("CARGO_BIN_EXE_parley-telegram"),
        dir.path(),
        &config,
        &[
            ("TELOXIDE_TOKEN", fake.token()),
            ("TELOXIDE_API_URL", &fake.api_url()),
        ],
    );

    polling(&fake).await;
    assert!(fake.commands().is_some(), "commands registered at start");
    fake.push_private(&ada(), "hi from a child");
    assert!(
        fake.wait_until(Duration::from_secs(60), |f| f
            .sent_in(1001)
            .iter()
            .any(|m| !m.text.trim().is_empty()))
            .await,
        "the model's answer lands"
    );
    // An outage makes the binary log network errors: they must not carry the token.
    fake.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.restart().await;
    let polls = fake.calls_to("getUpdates").len();
    assert!(
        fake.wait_until(WAIT, |f| f.calls_to("getUpdates").len() > polls)
            .await
    );

    let status = child.terminate().await;
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let stderr = std::fs::read_to_string(dir.path().join("log.txt")).unwrap();
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(
        !stderr.contains(fake.token()),
        "the token never reaches the log:\n{stderr}"
    );
    assert!(!stderr.contains("TEST-fake-token"), "{stderr}");
    assert!(
        !stderr.contains("hi from a child"),
        "no message text above debug"
    );
}

#[tokio::test]
async fn binary_without_token_explains_how_to_get_one() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley-telegram"))
        .arg("--config")
        .arg("/nonexistent-dir/none.toml")
        .env_remove("TELOXIDE_TOKEN")
        .output();
    let output = tokio::time::timeout(WAIT, output).await.unwrap().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley-telegram"))
        .current_dir(dir.path())
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("PARLEY_CONFIG")
        .output();
    let output = tokio::time::timeout(WAIT, output).await.unwrap().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("@BotFather"), "{stderr}");
    assert!(stderr.contains("TELOXIDE_TOKEN"), "{stderr}");
}

#[tokio::test]
async fn start_up_resumes_unanswered_questions_with_a_working_outbox() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    assert_eq!(
        bot.handler.resumed_platforms(),
        [parley_core::seam::Platform::Telegram]
    );
    // The outbox the core got at start sends like any other.
    let outbox = bot.handler.resume_outbox().unwrap();
    let key = parley_core::seam::ChannelKey::new(parley_core::seam::Platform::Telegram, "1001");
    outbox
        .send(&key, "the answer a restart cut off", None)
        .await
        .unwrap();
    assert!(answer_lands(&fake, 1001, "the answer a restart cut off").await);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_admin_lookup_is_waited_for_once_and_then_cached() {
    let (fake, bot) = started(fast_settings(), Answer::Stream).await;
    let club = FakeChat::supergroup(-1003000000002, "Slow club");
    fake.set_admins(club.id, &[1001]);
    // Telegram asks to wait 30 s: longer than the lookup is given.
    fake.fail_in_chat(
        "getChatAdministrators",
        club.id,
        Some(Fault::RetryAfter(30)),
    );
    fake.push_group(&club, &ada(), "first");
    fake.push_group(&club, &ada(), "second");
    assert!(
        fake.wait_until(Duration::from_secs(20), |_| bot.handler.received().len()
            == 2)
            .await
    );
    assert_eq!(
        fake.calls_to("getChatAdministrators").len(),
        1,
        "the lookup that timed out is cached like a failure"
    );
    let received = bot.handler.received();
    assert!(received.iter().all(|m| !m.author.is_platform_admin));
    bot.stop().await.unwrap();
}
