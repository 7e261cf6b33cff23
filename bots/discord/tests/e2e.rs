//! The Discord adapter end to end: the real serenity client against the fake gateway + REST
//! server, with a scripted core.

mod util;

use std::time::Duration;

use parley_core::bot::replies;
use parley_core::render::units;
use parley_discord::{DiscordSettings, Shards};
use parley_testkit::discord::{
    FakeDiscord, FakeDiscordOptions, FakeGuild, FakeInteraction, FakeMessage, FakeUser, Fault,
    GatewayDrop, MAX_CONTENT_UNITS,
};
use serde_json::json;
use util::*;

/// The bot's language in these tests (`bot.language` unset).
const EN: parley_core::i18n::Language = parley_core::i18n::Language::English;

fn alice() -> FakeUser {
    FakeUser::new(10, "alice").with_global_name("Alice")
}

fn bob() -> FakeUser {
    FakeUser::new(11, "bob")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guild_mention_is_answered_as_a_reply_streamed_by_edits() {
    let bot = TestBot::start(test_settings()).await;
    let id = bot.fake.send_message(
        FakeMessage::guild(GUILD, CHANNEL_A, alice(), "<@4242> what is rust?").nick("Ally"),
    );
    let m = bot.wait_answer(CHANNEL_A, "what is rust?").await;
    assert_eq!(
        m.reply_to.as_deref(),
        Some(id.to_string().as_str()),
        "answer replies to the question"
    );
    assert!(
        m.history.len() >= 2,
        "answer was streamed by edits: {:?}",
        m.history
    );
    let posts: Vec<_> = bot
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == format!("/channels/{CHANNEL_A}/messages"))
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body["message_reference"]["message_id"],
        id.to_string()
    );
    assert_eq!(
        posts[0].body["message_reference"]["fail_if_not_exists"],
        false
    );
    let inc = &bot.handler.received()[0];
    assert!(inc.mentions_bot && !inc.is_direct);
    assert_eq!(inc.text, "what is rust?");
    assert_eq!(inc.author.display_name, "Ally");
    assert!(!inc.author.is_platform_admin);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_channel_does_not_see_the_first_channels_turns() {
    let bot = TestBot::start(test_settings()).await;
    bot.ask(CHANNEL_A, alice(), "secret-a").await;
    let same = bot.ask(CHANNEL_A, alice(), "follow-up").await;
    assert!(
        same.content.contains("secret-a"),
        "same channel keeps context: {}",
        same.content
    );
    let other = bot.ask(CHANNEL_B, bob(), "hello-b").await;
    assert_eq!(other.content, final_text("hello-b", &[]));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_is_a_conversation_of_its_own() {
    let bot = TestBot::start(test_settings()).await;
    bot.ask(CHANNEL_A, alice(), "parent-text").await;
    let t = bot.ask(THREAD, alice(), "in-thread").await;
    assert_eq!(
        t.content,
        final_text("in-thread", &[]),
        "thread does not see its parent"
    );
    let keys: Vec<_> = bot
        .handler
        .received()
        .iter()
        .map(|m| m.key.clone())
        .collect();
    assert_ne!(keys[0], keys[1]);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_message_is_answered_without_a_mention() {
    let bot = TestBot::start(test_settings()).await;
    bot.fake
        .send_message(FakeMessage::direct(900, alice(), "hi there"));
    bot.wait_answer(900, "hi there").await;
    let inc = &bot.handler.received()[0];
    assert!(inc.is_direct);
    assert_eq!(inc.author.display_name, "Alice");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_bots_webhooks_and_embeds_alone_are_ignored() {
    let bot = TestBot::start(test_settings()).await;
    bot.mention(CHANNEL_A, FakeUser::bot(55, "otherbot"), "hi");
    bot.mention(CHANNEL_A, bot.fake.bot_user(), "me");
    bot.fake
        .send_message(FakeMessage::guild(GUILD, CHANNEL_A, alice(), "<@4242> hook").webhook(66));
    bot.fake
        .send_message(FakeMessage::guild(GUILD, CHANNEL_A, alice(), "").attachments(2));
    bot.fake
        .send_message(FakeMessage::guild(GUILD, CHANNEL_A, alice(), "").embeds(1));
    // serenity handles each event in a task of its own, and a dropped message leaves no trace,
    // so "never reaches the core" is checked over a window measured in the bot's own work
    // rather than in milliseconds: two human messages, sent after the others, each answered
    // (a round trip through the adapter, the handler and the fake's REST API).
    bot.ask(CHANNEL_A, alice(), "human").await;
    bot.ask(CHANNEL_A, alice(), "human again").await;
    let received = bot.handler.received();
    let texts: Vec<_> = received
        .iter()
        .filter(|m| m.attachments.is_empty())
        .map(|m| m.text.clone())
        .collect();
    assert_eq!(texts, vec!["human", "human again"]);
    // Files alone do reach the core, which reads them or says politely what it reads.
    let files: Vec<_> = received
        .iter()
        .filter(|m| !m.attachments.is_empty())
        .collect();
    assert_eq!(files.len(), 1, "{received:?}");
    assert_eq!(
        (files[0].text.as_str(), files[0].attachments.len()),
        ("", 2)
    );
    assert_eq!(bot.fake.messages(CHANNEL_A).len(), 2);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_never_pings_anyone() {
    let bot = TestBot::start(test_settings()).await;
    bot.mention(CHANNEL_A, alice(), "pings");
    let m = bot.wait_message(CHANNEL_A, |c| c.ends_with("look")).await;
    assert!(m.content.contains("<@&123>"));
    let none = json!({ "parse": [], "users": [], "roles": [], "replied_user": false });
    for r in bot.fake.requests() {
        if r.path.starts_with("/channels/")
            && (r.method == "POST" || r.method == "PATCH")
            && !r.path.ends_with("/typing")
        {
            assert_eq!(
                r.body["allowed_mentions"], none,
                "{} {} body {}",
                r.method, r.path, r.body
            );
        }
    }
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_over_2000_characters_is_split_into_valid_messages() {
    let bot = TestBot::start(test_settings()).await;
    bot.mention(CHANNEL_A, alice(), "long");
    bot.fake
        .wait_for(WAIT, |f| {
            f.messages(CHANNEL_A)
                .iter()
                .any(|m| m.content.ends_with("end"))
                .then_some(())
        })
        .await
        .expect("the whole text arrives");
    let msgs = bot.fake.messages(CHANNEL_A);
    assert_eq!(msgs.len(), 3);
    assert!(msgs.iter().all(|m| units(&m.content) <= MAX_CONTENT_UNITS));
    let all: String = msgs.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(all, long_text());
    assert!(
        bot.fake.requests().iter().all(|r| r.status != 400),
        "Discord never refused a message"
    );
    bot.stop().await;
}

/// Discord counts UTF-16 units: 1800 characters of emoji and CJK are 2700 units, two messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emoji_and_cjk_are_split_by_utf16_units() {
    let bot = TestBot::start(test_settings()).await;
    bot.mention(CHANNEL_A, alice(), "wide");
    bot.fake
        .wait_for(WAIT, |f| (f.messages(CHANNEL_A).len() == 2).then_some(()))
        .await
        .expect("both parts arrive");
    let msgs = bot.fake.messages(CHANNEL_A);
    assert!(msgs.iter().all(|m| units(&m.content) <= MAX_CONTENT_UNITS));
    let all: String = msgs.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(all, wide_text(), "nothing lost, no emoji cut in half");
    assert!(
        bot.fake.requests().iter().all(|r| r.status != 400),
        "Discord never refused a message"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_are_registered_and_answered_through_the_core() {
    let settings = DiscordSettings {
        command_guild_ids: vec![GUILD],
        ..test_settings()
    };
    let bot = TestBot::start(settings).await;
    let cmds = bot.fake.registered_commands();
    let names: Vec<_> = cmds[&GUILD.to_string()]
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, vec!["help", "reset", "mode", "system"]);
    assert!(!cmds.contains_key("global"));

    let mod_user = FakeUser::new(12, "moderator");
    let (_, token) = bot.fake.send_interaction(
        FakeInteraction::guild(GUILD, CHANNEL_A, mod_user, "mode")
            .option("args", "translator")
            .permissions(1 << 5),
    );
    let m = bot
        .wait_message(CHANNEL_A, |c| c == "command: /mode translator")
        .await;
    assert_eq!(m.interaction_token.as_deref(), Some(token.as_str()));
    assert!(
        m.original,
        "the deferred original response carries the answer"
    );
    let callback = bot
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/callback"))
        .expect("deferred");
    assert_eq!(callback.body["type"], 5);
    let inc = &bot.handler.received()[0];
    assert_eq!(inc.text, "/mode translator");
    assert!(inc.author.is_platform_admin, "Manage Server makes an admin");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_and_failing_calls_are_retried_and_nothing_is_lost() {
    let bot = TestBot::start(test_settings()).await;
    let path = format!("/channels/{CHANNEL_A}/messages");
    bot.fake
        .fail_next("POST", &path, 1, Fault::RateLimited { retry_after: 0.1 });
    bot.fake.fail_next("PATCH", &path, 1, Fault::Status(502));
    bot.mention(CHANNEL_A, alice(), "survive");
    let m = bot
        .wait_message(CHANNEL_A, |c| c == final_text("survive", &[]))
        .await;
    assert_eq!(
        bot.fake.messages(CHANNEL_A).len(),
        1,
        "retried, not duplicated: {m:?}"
    );
    let statuses: Vec<_> = bot
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(&path))
        .map(|r| r.status)
        .collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&502),
        "{statuses:?}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_drop_mid_conversation_resumes_and_keeps_answering() {
    let bot = TestBot::start(test_settings()).await;
    bot.ask(CHANNEL_A, alice(), "before").await;

    // A close frame, a message while disconnected (replayed on RESUME), then an abrupt drop.
    bot.fake.drop_gateway(GatewayDrop::Close(4000));
    let m = bot.ask(CHANNEL_A, alice(), "during").await;
    assert!(
        m.content.contains("before"),
        "conversation continues: {}",
        m.content
    );
    bot.fake
        .wait_for(WAIT, |f| {
            (!f.gateway_frames_with_op(6).is_empty()).then_some(())
        })
        .await
        .expect("the client resumed");

    bot.fake.drop_gateway(GatewayDrop::Abrupt);
    let m = bot.ask(CHANNEL_A, alice(), "after").await;
    assert!(m.content.contains("during"), "{}", m.content);
    assert_eq!(bot.fake.session_count(), 1, "resumed, never re-identified");
    // Heartbeats go on after the resumes and are acked (an unacked one would force a new session).
    let beats = bot.fake.gateway_frames_with_op(1).len();
    bot.fake
        .wait_for(WAIT, |f| {
            (f.gateway_frames_with_op(1).len() >= beats + 2).then_some(())
        })
        .await
        .expect("heartbeats continue after resuming");
    assert_eq!(bot.fake.session_count(), 1);
    let texts: Vec<_> = bot
        .handler
        .received()
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert_eq!(
        texts,
        vec!["before", "during", "after"],
        "no turn lost or doubled"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_role_mention_triggers_and_manage_server_members_are_admins() {
    let bot = TestBot::start(test_settings()).await;
    // GUILD_CREATE is processed concurrently with the first events; wait for it to land.
    bot.guild_known(CHANNEL_A).await;
    bot.fake.send_message(
        FakeMessage::guild(GUILD, CHANNEL_B, bob(), &format!("<@&{BOT_ROLE}> via role"))
            .roles(&[MOD_ROLE]),
    );
    bot.wait_answer(CHANNEL_B, "via role").await;
    let received = bot.handler.received();
    let inc = received.last().expect("received");
    assert!(inc.text.ends_with("via role"), "{inc:?}");
    assert!(inc.mentions_bot);
    assert!(inc.author.is_platform_admin);
    assert_eq!(inc.channel_title.as_deref(), Some("random"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_outside_the_allowlists_are_ignored() {
    let settings = DiscordSettings {
        allowed_channel_ids: vec![CHANNEL_A],
        ..test_settings()
    };
    let bot = TestBot::start(settings).await;
    // The thread is allowed through its parent, which the adapter learns from GUILD_CREATE.
    bot.guild_known(CHANNEL_A).await;
    bot.mention(CHANNEL_B, alice(), "not here");
    // A flag reaction is a request like a message: outside the allowlists, nothing.
    let outside = bot.fake.send_message(FakeMessage::guild(
        GUILD,
        CHANNEL_B,
        alice(),
        "Good morning",
    ));
    bot.fake
        .react((Some(GUILD), CHANNEL_B), outside, &alice(), "🇩🇪");
    bot.ask(THREAD, alice(), "thread under allowed").await;
    assert!(bot.fake.messages(CHANNEL_B).is_empty());
    assert!(
        bot.handler.texts().iter().all(|t| !t.contains("not here")),
        "the message outside the allowlist never reached the core"
    );
    let inside = bot.fake.send_message(FakeMessage::guild(
        GUILD,
        CHANNEL_A,
        alice(),
        "Good morning",
    ));
    bot.fake
        .react((Some(GUILD), CHANNEL_A), inside, &alice(), "🇩🇪");
    bot.wait_message(CHANNEL_A, |t| t.contains("/tr de")).await;
    assert!(
        bot.handler
            .texts()
            .iter()
            .filter(|t| t.starts_with("/tr"))
            .count()
            == 1,
        "only the reaction inside the allowlist reached the core: {:?}",
        bot.handler.texts()
    );
    let fetched_outside = format!("messages/{outside}");
    assert!(!bot
        .fake
        .requests()
        .iter()
        .any(|r| r.path.ends_with(&fetched_outside)));
    bot.stop().await;
}

/// A flag reaction from a user over the rate limit costs no REST call: the limit is asked
/// before the message reacted to is fetched (before, every reaction fetched it first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_over_the_rate_limit_fetches_nothing() {
    let bot = TestBot::start(test_settings()).await;
    bot.guild_known(CHANNEL_A).await;
    bot.handler
        .rate_limited
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let reacted =
        bot.fake
            .send_message(FakeMessage::guild(GUILD, CHANNEL_A, bob(), "Good morning"));
    bot.fake
        .react((Some(GUILD), CHANNEL_A), reacted, &alice(), "🇩🇪");
    bot.ask(CHANNEL_A, alice(), "after the reaction").await;
    let fetched = format!("messages/{reacted}");
    assert!(
        !bot.fake
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with(&fetched)),
        "{:?}",
        bot.fake.requests()
    );
    assert!(bot.handler.texts().iter().all(|t| !t.starts_with("/tr")));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disallowed_intents_stop_the_bot_with_the_message_content_hint() {
    let fake = FakeDiscord::start().await;
    fake.set_identify_close(Some(4014));
    let handler = std::sync::Arc::new(EchoHandler::default());
    let (runner, _shutdown) =
        parley_discord::start(test_settings(), "t", Some(fake.api_base()), handler)
            .await
            .expect("client builds");
    let err = tokio::time::timeout(WAIT, runner.run())
        .await
        .expect("runner stops")
        .unwrap_err();
    assert!(
        matches!(err, parley_discord::Error::MessageContentIntentDisabled),
        "{err:?}"
    );
    assert!(err.to_string().contains("Message Content Intent"));
    let identify = &fake.gateway_frames_with_op(2)[0];
    let bits = identify["d"]["intents"].as_u64().unwrap_or(0);
    assert_eq!(
        bits,
        parley_discord::intents().bits(),
        "asked for the documented intents"
    );
    assert_ne!(bits & (1 << 15), 0, "MESSAGE_CONTENT requested");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_command_answer_fills_the_original_response_then_follow_ups() {
    let bot = TestBot::start(test_settings()).await;
    let (_, token) = bot
        .fake
        .send_interaction(FakeInteraction::direct(901, alice(), "help"));
    bot.fake
        .wait_for(WAIT, |f| {
            f.messages(901)
                .iter()
                .any(|m| m.content.ends_with("end"))
                .then_some(())
        })
        .await
        .expect("the whole answer arrives");
    let msgs = bot.fake.messages(901);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].original, "first part fills the deferred response");
    assert!(msgs[1..].iter().all(|m| !m.original));
    assert!(msgs
        .iter()
        .all(|m| m.interaction_token.as_deref() == Some(token.as_str())));
    assert!(msgs.iter().all(|m| units(&m.content) <= MAX_CONTENT_UNITS));
    let none = json!({ "parse": [], "users": [], "roles": [], "replied_user": false });
    for r in bot.fake.requests() {
        if r.path.starts_with("/webhooks/") {
            assert_eq!(r.body["allowed_mentions"], none, "{} {}", r.method, r.path);
        }
    }
    let inc = &bot.handler.received()[0];
    assert!(inc.is_direct);
    assert_eq!(inc.text, "/help");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_keeps_running_after_giving_up_on_a_failing_call() {
    let mut settings = test_settings();
    settings.retry.max_attempts = 3;
    let bot = TestBot::start(settings).await;
    let path = format!("/channels/{CHANNEL_A}/messages");
    bot.fake.fail_next("POST", &path, 3, Fault::Status(500));
    bot.mention(CHANNEL_A, alice(), "lost");
    bot.fake
        .wait_for(WAIT, |f| {
            (f.requests().iter().filter(|r| r.status == 500).count() == 3).then_some(())
        })
        .await
        .expect("three attempts, then it gives up");
    bot.ask(CHANNEL_A, alice(), "still there?").await;
    assert_eq!(bot.fake.messages(CHANNEL_A).len(), 1);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_token_is_reported_before_connecting() {
    let fake = FakeDiscord::start().await;
    fake.fail_next("GET", "/users/@me", 1, Fault::Status(401));
    let handler = std::sync::Arc::new(EchoHandler::default());
    let err =
        match parley_discord::start(test_settings(), "bad", Some(fake.api_base()), handler).await {
            Ok(_) => panic!("a rejected token must stop the start"),
            Err(e) => e,
        };
    assert!(
        matches!(err, parley_discord::Error::InvalidToken),
        "{err:?}"
    );
    assert!(err.to_string().contains("discord.com/developers"));
    assert!(
        fake.gateway_frames().is_empty(),
        "never reached the gateway"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_resumes_unanswered_questions_with_a_working_outbox() {
    let bot = TestBot::start(test_settings()).await;
    // READY registers the commands first, then resumes.
    for _ in 0..100 {
        if !bot.handler.resumed_platforms().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        bot.handler.resumed_platforms(),
        [parley_core::seam::Platform::Discord]
    );
    let outbox = bot.handler.resume_outbox().unwrap();
    let key = parley_core::seam::ChannelKey::new(parley_core::seam::Platform::Discord, "900");
    outbox
        .send(&key, "the answer a restart cut off", None)
        .await
        .unwrap();
    let sent = bot.fake.messages(900);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].content, "the answer a restart cut off");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_sharding_identifies_each_shard_and_answers_on_both() {
    // Guild ids chosen so that `(id >> 22) % 2` puts one guild on each shard.
    let (on_0, on_1) = (2u64 << 22, 3u64 << 22);
    let options = FakeDiscordOptions {
        guilds: vec![
            FakeGuild::new(on_0, "even", OWNER).channel(500, "general"),
            FakeGuild::new(on_1, "odd", OWNER).channel(501, "general"),
        ],
        bot_id: BOT_ID,
        heartbeat_interval_ms: 250,
        shards: 2,
        ..FakeDiscordOptions::default()
    };
    let settings = DiscordSettings {
        shards: Shards::Auto,
        ..test_settings()
    };
    let handler = EchoHandler::new(Echo);
    // serenity waits 5 s between two shards' IDENTIFYs, as Discord asks.
    let running = start_on(options, settings, handler, Duration::from_secs(20)).await;
    let fake = &running.fake;
    let identified = fake
        .wait_for(Duration::from_secs(20), |f| {
            let frames = f.gateway_frames_with_op(2);
            (frames.len() == 2).then_some(frames)
        })
        .await
        .expect("both shards identify");
    let mut pairs: Vec<_> = identified.iter().map(|f| f["d"]["shard"].clone()).collect();
    pairs.sort_by_key(|p| p[0].as_u64());
    assert_eq!(pairs, [json!([0, 2]), json!([1, 2])]);

    for (guild, channel) in [(on_0, 500), (on_1, 501)] {
        fake.send_message(FakeMessage::guild(
            guild,
            channel,
            alice(),
            &format!("<@{BOT_ID}> hello from {channel}"),
        ));
        let echo = format!("echo: hello from {channel}");
        let answered = fake
            .wait_for(WAIT, |f| {
                f.messages(channel)
                    .into_iter()
                    .find(|m| m.content.starts_with(&echo) && m.content.ends_with(']'))
            })
            .await;
        assert!(
            answered.is_some(),
            "the message on {guild}'s shard is answered"
        );
    }
    running.shutdown.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_is_refused_under_a_role_allowlist() {
    let settings = DiscordSettings {
        allowed_role_ids: vec![MOD_ROLE],
        ..test_settings()
    };
    let bot = TestBot::start(settings).await;
    bot.fake
        .send_message(FakeMessage::direct(900, alice(), "hi there"));
    let refusal = bot
        .wait_message(900, |c| c == replies::direct_message_refused(EN))
        .await;
    assert!(refusal.reply_to.is_some(), "the refusal replies to the DM");
    // Once in a while, not once per message; and nothing reaches the core. A member with the
    // role, asking in the guild afterwards, is the window the second DM is checked over.
    bot.fake
        .send_message(FakeMessage::direct(900, alice(), "hello??"));
    let moderator = FakeUser::new(12, "moderator");
    bot.fake.send_message(
        FakeMessage::guild(GUILD, CHANNEL_A, moderator, "<@4242> ping").roles(&[MOD_ROLE]),
    );
    bot.wait_answer(CHANNEL_A, "ping").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bot.fake.messages(900).len(), 1, "one refusal");
    let received = bot.handler.received();
    assert!(received.iter().all(|m| !m.is_direct), "{received:?}");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_from_a_member_holding_an_allowed_role_is_answered_when_configured() {
    let settings = DiscordSettings {
        allowed_guild_ids: vec![GUILD],
        allowed_role_ids: vec![MOD_ROLE],
        direct_messages_from_members: true,
        ..test_settings()
    };
    let bot = TestBot::start(settings).await;
    bot.fake.set_member(GUILD, alice().id, &[MOD_ROLE]);
    bot.fake.set_member(GUILD, bob().id, &[]);
    bot.fake
        .send_message(FakeMessage::direct(900, alice(), "hi there"));
    bot.wait_answer(900, "hi there").await;
    bot.fake
        .send_message(FakeMessage::direct(901, bob(), "me too"));
    bot.wait_message(901, |c| c == replies::direct_message_refused(EN))
        .await;
    let lookups = |f: &FakeDiscord| {
        f.requests()
            .iter()
            .filter(|r| r.path.starts_with(&format!("/guilds/{GUILD}/members/")))
            .count()
    };
    assert_eq!(lookups(&bot.fake), 2);
    // The membership is cached.
    bot.fake
        .send_message(FakeMessage::direct(900, alice(), "again"));
    bot.wait_answer(900, "again").await;
    assert_eq!(lookups(&bot.fake), 2, "looked up once");
    bot.stop().await;
}
