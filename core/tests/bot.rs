//! The bot's behaviour end to end, with the scripted engine and a recording outbox.

mod util;

use std::time::Duration;

use parley_core::bot::replies;
use parley_core::engine::scripted::{Scripted, ScriptedEngine};
use parley_core::engine::Role;
use parley_core::seam::{Handler, Incoming};
use parley_core::store::{Forgetting, Forgotten, Store};
use parley_core::testing::{dm, group, mention, Call};
use util::*;

/// The bot's language in these tests (`bot.language` unset).
const EN: parley_core::i18n::Language = parley_core::i18n::Language::English;

#[tokio::test]
async fn dm_secret_never_reaches_another_channels_prompt() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(dm("alice-dm", "alice", "my secret is PINEAPPLE42"))
        .await;
    rig.say(mention("team", "bob", "what did alice tell you?"))
        .await;
    rig.say(dm("carol-dm", "carol", "any secrets?")).await;
    rig.say(dm("alice-dm", "alice", "repeat it")).await;
    for r in rig.engine.requests() {
        let text = prompt_text(&r);
        if r.conversation == key("alice-dm").to_string() {
            continue;
        }
        assert!(
            !text.contains("PINEAPPLE42"),
            "leak into {}: {text}",
            r.conversation
        );
    }
    assert!(rig.last_prompt("alice-dm").contains("PINEAPPLE42"));
    assert!(!rig.out.transcript(&key("team")).contains("PINEAPPLE42"));
}

/// The engine may let another chat's cache serve only the persona's start before the first
/// thing a user wrote: never a display name, a chat title, a `/system` or `/remember` text.
#[tokio::test]
async fn only_the_personas_user_free_start_is_offered_for_sharing() {
    let rig = Rig::new(&settings("[bot]\nadmins = [\"test:carol\"]\n"), echo()).await;
    rig.say(dm("bob-1", "Bob", "my PIN is 4417")).await;
    rig.say(mention("team", "Bob", "my PIN is 4")).await;
    rig.say(dm("own-prompt", "carol", "/system Carol's secret rules"))
        .await;
    rig.say(dm("own-prompt", "carol", "hello")).await;
    rig.say(dm("notes", "dan", "/remember my PIN is 4417"))
        .await;
    rig.say(dm("notes", "dan", "hello")).await;
    let shared_start = |chat: &str| {
        let r = rig.requests_for(chat).pop().expect("asked");
        let system = &r.messages[0];
        assert_eq!(system.role, Role::System);
        system.content[..r.shareable_bytes].to_string()
    };
    let direct = shared_start("bob-1");
    assert!(direct.ends_with("You are chatting with "), "{direct:?}");
    let channel = shared_start("team");
    assert!(channel.ends_with("group chat called \""), "{channel:?}");
    assert_eq!(shared_start("own-prompt"), "");
    assert_eq!(
        shared_start("notes"),
        direct,
        "notes come after the persona"
    );
    for start in [direct, channel] {
        assert!(!start.contains("Bob") && !start.contains("team") && !start.contains("PIN"));
    }
}

#[tokio::test]
async fn dm_always_answered_group_only_when_addressed() {
    let s = settings("[bot]\nmessages_per_minute = 0\ntrigger_names = [\"robo\"]\n");
    let rig = Rig::new(&s, echo()).await;
    rig.say(dm("d", "u", "hello")).await;
    assert_eq!(rig.out.last(&key("d")).as_deref(), Some("echo: hello"));

    rig.say(group("g", "u", "just chatting among ourselves"))
        .await;
    assert!(rig.requests_for("g").is_empty());
    assert!(rig.out.messages(&key("g")).is_empty());

    rig.say(mention("g", "u", "mentioned")).await;
    let mut reply = group("g", "u", "replying");
    reply.reply_to_bot = true;
    rig.say(reply).await;
    rig.say(group("g", "u", "hey PARLEY, you there?")).await;
    rig.say(group("g", "u", "what do you think, robo?")).await;
    rig.say(group("g", "u", "parleying is not a trigger")).await;
    assert_eq!(rig.requests_for("g").len(), 4);
    let msgs = rig.out.messages(&key("g"));
    assert_eq!(msgs.len(), 4);
    assert!(msgs[0].starts_with("echo: u: mentioned"), "{msgs:?}");
}

#[tokio::test]
async fn group_turns_carry_speaker_names() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(mention("g", "Alice", "I like tea")).await;
    rig.say(mention("g", "Bob", "I like coffee")).await;
    let r = rig.requests_for("g").pop().unwrap();
    let users: Vec<&str> = r
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(users, ["Alice: I like tea", "Bob: I like coffee"]);
    // In a direct chat there is no name prefix.
    rig.say(dm("d", "Alice", "hi")).await;
    assert_eq!(rig.requests_for("d")[0].messages[1].content, "hi");
}

#[tokio::test]
async fn unaddressed_group_messages_are_not_kept_by_default() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(group("g", "alice", "the door code is 1234")).await;
    rig.say(mention("g", "bob", "what is the door code?")).await;
    assert!(!rig.last_prompt("g").contains("1234"));
    let stored = rig.store.recent_turns(&key("g"), 100).await.unwrap();
    assert!(stored.iter().all(|t| !t.text.contains("1234")));
}

#[tokio::test]
async fn group_context_when_enabled_is_kept_and_bounded() {
    let s = settings(
        "[bot]\nmessages_per_minute = 0\nkeep_group_context = true\ngroup_context_turns = 2\n",
    );
    let rig = Rig::new(&s, echo()).await;
    rig.say(group("g", "alice", "first remark")).await;
    rig.say(group("g", "alice", "the door code is 1234")).await;
    rig.say(group("g", "carol", "nice weather")).await;
    assert!(rig.requests_for("g").is_empty(), "context is not answered");
    rig.say(mention("g", "bob", "what did alice say?")).await;
    let p = rig.last_prompt("g");
    assert!(p.contains("alice: the door code is 1234"), "{p}");
    assert!(p.contains("carol: nice weather"), "{p}");
    assert!(!p.contains("first remark"), "bounded to 2: {p}");
}

#[tokio::test]
async fn conversation_id_is_the_channel_key_and_prefix_is_stable() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(dm("d", "u", "one")).await;
    rig.say(dm("d", "u", "two")).await;
    let reqs = rig.requests_for("d");
    assert_eq!(reqs[0].conversation, "test:d");
    // The second prompt starts with the whole first prompt: the engine's cache is reused.
    assert_eq!(
        reqs[1].messages[..reqs[0].messages.len()],
        reqs[0].messages[..]
    );
    assert_eq!(reqs[1].messages[2].content, "echo: one");
}

#[tokio::test]
async fn help_lists_commands_and_unknown_gets_a_hint() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(dm("d", "u", "/help")).await;
    let help = rig.out.last(&key("d")).unwrap();
    for c in [
        "/reset",
        "/retry",
        "/mode",
        "/translate",
        "/set",
        "/stats",
        "/cancel",
        "/forget",
    ] {
        assert!(help.contains(c), "{c} missing in {help}");
    }
    rig.say(dm("d", "u", "/rset")).await;
    let hint = rig.out.last(&key("d")).unwrap();
    assert!(hint.contains("/reset") && !hint.contains('\n'), "{hint}");
    rig.say(dm("d", "u", "/set temperature hot")).await;
    assert!(rig.out.last(&key("d")).unwrap().contains("/set"));
    assert!(rig.engine.requests().is_empty());
    assert!(!rig.bot.commands(EN).is_empty());
}

#[tokio::test]
async fn reset_clears_window_and_engine_cache() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(dm("d", "u", "remember BANANA")).await;
    rig.say(dm("d", "u", "/reset")).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some(replies::reset(EN).as_str())
    );
    assert_eq!(rig.engine.forgotten(), ["test:d", "test:d#translate"]);
    rig.say(dm("d", "u", "what did I say?")).await;
    let p = rig.last_prompt("d");
    assert!(!p.contains("BANANA"), "{p}");
}

#[tokio::test]
async fn retry_regenerates_with_the_same_prompt() {
    let rig = Rig::new(
        &settings(""),
        ScriptedEngine::new().with_replies(["first answer", "second answer"]),
    )
    .await;
    rig.say(dm("d", "u", "tell me a joke")).await;
    rig.say(dm("d", "u", "/retry")).await;
    let reqs = rig.requests_for("d");
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].messages, reqs[1].messages,
        "same prefix: cache reused"
    );
    let stored = rig.store.recent_turns(&key("d"), 10).await.unwrap();
    let texts: Vec<&str> = stored.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["tell me a joke", "second answer"]);
    rig.say(dm("e", "u", "/retry")).await;
    assert_eq!(
        rig.out.last(&key("e")).as_deref(),
        Some(replies::nothing_to_retry(EN).as_str())
    );
}

#[tokio::test]
async fn mode_lists_and_switches_personas() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(dm("d", "u", "/mode")).await;
    let list = rig.out.last(&key("d")).unwrap();
    assert!(
        list.contains("assistant (current)") && list.contains("concise"),
        "{list}"
    );
    rig.say(dm("d", "u", "hi")).await;
    let before = rig.requests_for("d")[0].messages[0].content.clone();
    rig.say(dm("d", "u", "/mode concise")).await;
    assert_eq!(
        rig.out.last(&key("d")).unwrap(),
        replies::mode_set(EN, "concise")
    );
    rig.say(dm("d", "u", "hi again")).await;
    let after = rig.requests_for("d")[1].messages[0].content.clone();
    assert_ne!(before, after);
    rig.say(dm("d", "u", "/mode pirate")).await;
    assert!(rig.out.last(&key("d")).unwrap().contains("no mode pirate"));
}

/// With `prompts.date` pinned, the persona says that day whatever the clock says, so the same
/// question gives the same prompt on any day.
#[tokio::test]
async fn a_pinned_date_is_the_day_the_persona_says() {
    let rig = Rig::new(&settings("[prompts]\ndate = \"2026-01-15\"\n"), echo()).await;
    rig.say(dm("d", "u", "hi")).await;
    let system = &rig.requests_for("d")[0].messages[0].content;
    assert!(
        system.contains("Today is Thursday, 2026-01-15."),
        "{system}"
    );
}

#[tokio::test]
async fn system_is_for_admins() {
    let s = settings("[bot]\nmessages_per_minute = 0\nadmins = [\"test:boss\"]\n");
    let rig = Rig::new(&s, echo()).await;
    rig.say(dm("d", "u", "/system You are a pirate.")).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some(replies::admins_only(EN).as_str())
    );
    rig.say(dm("d", "boss", "/system You are a pirate.")).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some(replies::system_set(EN).as_str())
    );
    let mut by_group_admin = group("g", "mod", "/system Be brief.");
    by_group_admin.author.is_platform_admin = true;
    rig.say(by_group_admin).await;
    assert_eq!(
        rig.out.last(&key("g")).as_deref(),
        Some(replies::system_set(EN).as_str())
    );
    rig.say(dm("d", "u", "ahoy")).await;
    assert_eq!(
        rig.requests_for("d")[0].messages[0].content,
        "You are a pirate."
    );
    rig.say(dm("d", "u", "/system")).await;
    assert!(rig
        .out
        .last(&key("d"))
        .unwrap()
        .contains("You are a pirate."));
}

#[tokio::test]
async fn translate_mode_translates_one_shot() {
    let rig = Rig::new(
        &settings(""),
        ScriptedEngine::new().with_replies(["Good morning everyone"]),
    )
    .await;
    rig.say(dm("d", "u", "/translate en,zh")).await;
    assert!(rig
        .out
        .last(&key("d"))
        .unwrap()
        .contains("English and Chinese"));
    rig.say(dm(
        "d",
        "u",
        "Bonjour à tous, comment allez-vous ce matin ?",
    ))
    .await;
    let reqs = rig.engine.requests();
    let r = reqs.last().unwrap();
    assert_eq!(r.conversation, "test:d#translate");
    assert_eq!(r.messages.len(), 2, "no history in a translation");
    assert!(
        r.messages[0].content.contains("English"),
        "{}",
        r.messages[0].content
    );
    assert_eq!(
        r.messages[1].content,
        "Bonjour à tous, comment allez-vous ce matin ?"
    );
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some("Good morning everyone")
    );
    // Emoji alone: nothing to translate.
    let n = rig.engine.requests().len();
    rig.say(dm("d", "u", "👍")).await;
    assert_eq!(rig.engine.requests().len(), n);
    rig.say(dm("d", "u", "/translate")).await;
    assert!(rig.out.last(&key("d")).unwrap().contains("English"));
    rig.say(dm("d", "u", "/translate off")).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some(replies::translate_off(EN).as_str())
    );
    rig.say(dm("d", "u", "hello")).await;
    assert_eq!(rig.engine.requests().last().unwrap().conversation, "test:d");
}

#[tokio::test]
async fn set_changes_sampling_within_bounds() {
    let rig = Rig::new(
        &settings("[sampling]\ntemperature_max = 1.2\nmax_tokens_max = 500\n"),
        echo(),
    )
    .await;
    rig.say(dm("d", "u", "/set temperature 0.3")).await;
    rig.say(dm("d", "u", "/set max_tokens 100")).await;
    rig.say(dm("d", "u", "/set top_p 0.5")).await;
    rig.say(dm("d", "u", "hi")).await;
    let p = &rig.requests_for("d")[0].params;
    assert_eq!((p.temperature, p.max_tokens, p.top_p), (0.3, 100, 0.5));
    rig.say(dm("d", "u", "/set temperature 1.9")).await;
    assert!(rig
        .out
        .last(&key("d"))
        .unwrap()
        .contains("between 0 and 1.2"));
    rig.say(dm("d", "u", "/set max_tokens 9999")).await;
    assert!(rig.out.last(&key("d")).unwrap().contains("500"));
    rig.say(dm("d", "u", "/set reset")).await;
    rig.say(dm("d", "u", "hi")).await;
    assert_eq!(rig.requests_for("d")[1].params.max_tokens, 256);

    // seed and stop, and `/set` alone shows what is in force.
    rig.say(dm("d", "u", "/set seed 42")).await;
    rig.say(dm("d", "u", r#"/set stop "STOP" "\n\n""#)).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some(r#"stop is now "STOP", "\n\n" in this chat."#)
    );
    rig.say(dm("d", "u", "one STOP two")).await;
    let p = &rig.requests_for("d")[2].params;
    assert_eq!(p.seed, Some(42));
    assert_eq!(p.stop, ["STOP", "\n\n"]);
    assert_eq!(rig.out.last(&key("d")).as_deref(), Some("echo: one"));
    rig.say(dm("d", "u", "/set")).await;
    let shown = rig.out.last(&key("d")).unwrap();
    assert!(shown.contains("seed 42 *"), "{shown}");
    assert!(shown.contains(r#"stop "STOP", "\n\n" *"#), "{shown}");
    assert!(shown.contains("max_tokens 256\n"), "{shown}");
    // Settings are per chat and survive a restart (they are in the store).
    rig.say(dm("other", "u", "hi")).await;
    // Elsewhere the seed is drawn for each answer (and `/why` names it).
    assert!(matches!(rig.requests_for("other")[0].params.seed, Some(s) if s != 42));
    let s = rig.store.load_settings(&key("d")).await.unwrap();
    assert_eq!(
        s.sampling.stop.as_deref(),
        Some(&["STOP".to_string(), "\n\n".to_string()][..])
    );
    rig.say(dm("d", "u", "/set stop none")).await;
    rig.say(dm("d", "u", "/set seed random")).await;
    rig.say(dm("d", "u", "one STOP two")).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some("echo: one STOP two")
    );
    assert!(matches!(rig.requests_for("d")[3].params.seed, Some(s) if s != 42));
}

#[tokio::test]
async fn stats_reports_window_and_dropped_turns() {
    let engine = ScriptedEngine::new()
        .with_context_len(400)
        .with_responder(|_| "a fairly long answer with quite a few words in it to fill".into());
    let rig = Rig::new(&settings("[sampling]\nmax_tokens = 100\n"), engine).await;
    for i in 0..30 {
        rig.say(dm("d", "u", &format!("message number {i} with some words")))
            .await;
    }
    rig.say(dm("d", "u", "/stats")).await;
    let s = rig.out.last(&key("d")).unwrap();
    // Each figure by its label, so a wrong number cannot pass for another line's.
    let n = |label: &str| -> Vec<usize> { numbers_after(&s, label) };
    assert_eq!(n("Turns stored:"), [60], "{s}");
    let [turns, tokens, budget, reserved] = n("In the window:")[..] else {
        panic!("the window line has four figures: {s}");
    };
    assert_eq!(
        (budget, reserved),
        (300, 100),
        "context 400 less max_tokens 100: {s}"
    );
    assert!(turns > 0 && tokens > 0 && tokens <= budget, "{s}");
    let [dropped] = n("Dropped from the window:")[..] else {
        panic!("{s}");
    };
    assert!(dropped > 0 && turns + dropped <= 60, "{s}");
    // Own cache, prompt, shared persona tokens, then the speed `x.y` (two figures).
    let [cached, prompt, shared, _, _] = n("Last answer:")[..] else {
        panic!("the last answer's line has five figures: {s}");
    };
    assert!(prompt > 0 && cached <= prompt, "{s}");
    assert_eq!(shared, 0, "the scripted engine shares no cache: {s}");
    assert!(s.contains("from this chat's cache"), "{s}");
    assert!(s.contains("from the shared persona prompt"), "{s}");
    assert!(
        s.lines()
            .any(|l| l.starts_with("Model: ") && l.ends_with("scripted test engine")),
        "{s}"
    );
}

/// The whole numbers on the line of `text` that starts with `label`, in order.
fn numbers_after(text: &str, label: &str) -> Vec<usize> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no line {label:?} in {text}"));
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect()
}

#[tokio::test]
async fn cancel_stops_the_answer_and_keeps_the_part_written() {
    // 2000 words at 20 ms each: 40 s, which no loaded machine mistakes for a prompt stop.
    let engine = ScriptedEngine::new()
        .with_replies([&"word ".repeat(2000)])
        .with_delay(Duration::from_millis(20));
    let rig = Rig::new(&settings(""), engine).await;
    rig.send(dm("d", "u", "write a long essay")).await;
    // Cancel once part of the answer is on screen.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !rig.out.transcript(&key("d")).contains("word") {
        assert!(tokio::time::Instant::now() < deadline, "the answer starts");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // `say` returns once the bot is idle: the answer job has ended.
    tokio::time::timeout(Duration::from_secs(20), rig.say(dm("d", "u", "/cancel")))
        .await
        .expect("the answer stops long before its 40 s end");
    let msgs = rig.out.messages(&key("d"));
    assert!(msgs.contains(&replies::cancelled(EN)), "{msgs:?}");
    let stored = rig.store.recent_turns(&key("d"), 10).await.unwrap();
    let answer = stored.last().unwrap();
    assert!(answer.partial && answer.role == Role::Assistant);
    let words = answer.text.split_whitespace().count();
    assert!((1..2000).contains(&words), "{words} words kept");
    rig.say(dm("d", "u", "/cancel")).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some(replies::nothing_to_cancel(EN).as_str())
    );
}

#[tokio::test]
async fn forget_deletes_only_the_users_own_messages() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(mention("g", "alice", "alice says SECRET-A")).await;
    rig.say(mention("g", "bob", "bob says hello")).await;
    rig.say(mention("g", "alice", "/forget")).await;
    let done = Forgotten {
        messages: 1,
        answers: 1,
        records: 1,
        notes: 0,
    };
    let what = Forgetting {
        messages: true,
        notes: false,
        direct: false,
    };
    assert_eq!(
        rig.out.last(&key("g")).unwrap(),
        replies::forgot(EN, &done, what, &[])
    );
    let stored = rig.store.recent_turns(&key("g"), 100).await.unwrap();
    // The answer that quoted her is gone too.
    assert!(stored.iter().all(|t| !t.text.contains("SECRET-A")));
    assert!(stored.iter().any(|t| t.text == "bob says hello"));
    rig.say(mention("g", "bob", "what did alice say?")).await;
    let r = rig.requests_for("g").pop().unwrap();
    assert!(r
        .messages
        .iter()
        .all(|m| !(m.role == Role::User && m.content.contains("SECRET-A"))));
    assert!(rig.engine.forgotten().contains(&"test:g".to_string()));
}

#[tokio::test]
async fn history_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    {
        let rig = Rig::with_store(&settings(""), echo(), Store::open(&path).unwrap()).await;
        rig.say(dm("d", "u", "my name is Zed")).await;
        rig.say(dm("d", "u", "/mode concise")).await;
        rig.say(dm("d", "u", "/set temperature 0.2")).await;

        rig.bot.shutdown().await;
    }
    let rig = Rig::with_store(&settings(""), echo(), Store::open(&path).unwrap()).await;
    rig.say(dm("d", "u", "what is my name?")).await;
    let r = rig.requests_for("d").pop().unwrap();
    let p = prompt_text(&r);
    assert!(
        p.contains("my name is Zed") && p.contains("echo: my name is Zed"),
        "{p}"
    );
    assert_eq!(r.params.temperature, 0.2);
    assert!(
        r.messages[0].content.to_lowercase().contains("brief")
            || r.messages[0].content.to_lowercase().contains("concise")
            || r.messages[0].content.to_lowercase().contains("short"),
        "{}",
        r.messages[0].content
    );
}

#[tokio::test]
async fn rate_limit_gets_one_clear_reply() {
    let s = settings("[bot]\nmessages_per_minute = 3\n");
    let rig = Rig::new(&s, echo()).await;
    for i in 0..6 {
        rig.say(dm("d", "u", &format!("m{i}"))).await;
    }
    let msgs = rig.out.messages(&key("d"));
    assert_eq!(rig.requests_for("d").len(), 3);
    assert_eq!(
        msgs.iter()
            .filter(|m| **m == replies::rate_limited(EN))
            .count(),
        1,
        "{msgs:?}"
    );
    // Another user is not affected.
    rig.say(dm("d", "v", "hello")).await;
    assert_eq!(rig.requests_for("d").len(), 4);
}

#[tokio::test]
async fn long_input_gets_a_polite_reply() {
    let s = settings("[bot]\nmessages_per_minute = 0\nmax_input_chars = 50\n");
    let rig = Rig::new(&s, echo()).await;
    rig.say(dm("d", "u", &"x".repeat(51))).await;
    assert_eq!(
        rig.out.last(&key("d")).unwrap(),
        replies::too_long(EN, 50, 51)
    );
    assert!(rig.engine.requests().is_empty());
    assert!(rig
        .store
        .recent_turns(&key("d"), 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn engine_errors_become_a_polite_line() {
    let engine = ScriptedEngine::new();
    engine.push(Scripted::Fail("connection refused at 10.0.0.1:8080".into()));
    let rig = Rig::new(&settings(""), engine).await;
    rig.say(dm("d", "u", "hi")).await;
    let t = rig.out.transcript(&key("d"));
    assert_eq!(t, replies::engine_error(EN));
    // The user turn is kept; the next message is answered normally.
    rig.say(dm("d", "u", "hi again")).await;
    assert_eq!(rig.out.last(&key("d")).as_deref(), Some("ok"));
}

#[tokio::test]
async fn answers_stream_by_edits_and_never_ping_everyone() {
    let engine = ScriptedEngine::new()
        .with_replies(["hello @everyone and @here this is a streamed answer"])
        .with_delay(Duration::from_millis(3));
    let rig = Rig::new(&settings(""), engine).await;
    let m: Incoming = dm("d", "u", "hi");
    let id = m.message_id.clone();
    rig.say(m).await;
    let calls = rig.out.calls();
    let edits = calls
        .iter()
        .filter(|c| matches!(c, Call::Edit { .. }))
        .count();
    assert!(edits >= 1, "{calls:?}");
    let first_send = calls.iter().find_map(|c| match c {
        Call::Send { reply_to, .. } => Some(reply_to.clone()),
        _ => None,
    });
    assert_eq!(first_send, Some(Some(id)));
    assert!(calls.iter().any(|c| matches!(c, Call::Typing { .. })));
    let last = rig.out.last(&key("d")).unwrap();
    assert!(last.contains("streamed answer"));
    assert!(
        !last.contains("@everyone") && !last.contains("@here"),
        "{last}"
    );
}

#[tokio::test]
async fn newer_message_supersedes_a_waiting_one_which_stays_as_context() {
    let engine = echo();
    // "one" is held in the engine until all three are in: "two" is then surely still waiting.
    engine.hold();
    let rig = Rig::new(&settings(""), engine).await;
    rig.send(dm("d", "u", "one")).await;
    rig.send(dm("d", "u", "two")).await;
    rig.send(dm("d", "u", "three")).await;
    rig.engine.release();
    rig.bot.idle().await;
    let reqs = rig.requests_for("d");
    assert_eq!(reqs.len(), 2, "two was superseded");
    assert!(prompt_text(&reqs[0]).ends_with("one"), "{reqs:?}");
    let p = prompt_text(&reqs[1]);
    assert!(p.contains("two") && p.ends_with("three"), "{p}");
    let answers = rig.out.messages(&key("d"));
    assert_eq!(
        answers.len(),
        2,
        "two is answered only through three's answer"
    );
    assert!(answers[1].ends_with("two\nthree"), "{answers:?}");
}

#[tokio::test]
async fn fair_turns_across_eight_channels() {
    let s = settings("[scheduler]\nqueue_per_channel = 10\nworkers = 1\n");
    let engine = echo();
    // The first flood answer is held in the engine until every message is in, so the order
    // below depends on the scheduler alone, not on how fast this machine sends.
    engine.hold();
    let rig = Rig::new(&s, engine).await;
    // Channel 0 floods (distinct authors, so nothing is superseded) before the others speak.
    for i in 0..6 {
        rig.send(mention("c0", &format!("user{i}"), &format!("flood {i}")))
            .await;
    }
    for c in 1..8 {
        rig.send(dm(&format!("c{c}"), "q", "quiet question")).await;
    }
    rig.engine.release();
    rig.bot.idle().await;
    let order: Vec<String> = rig
        .engine
        .requests()
        .iter()
        .map(|r| r.conversation.trim_start_matches("test:").to_string())
        .collect();
    let expected: Vec<String> = [
        "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c0", "c0", "c0", "c0", "c0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(order, expected);
    for c in 1..8 {
        assert_eq!(rig.out.messages(&key(&format!("c{c}"))).len(), 1);
    }
    assert_eq!(rig.out.messages(&key("c0")).len(), 6);
}

#[tokio::test]
async fn several_workers_answer_channels_in_parallel_but_one_per_channel_at_a_time() {
    let s = settings("[scheduler]\nqueue_per_channel = 10\nworkers = 4\n");
    let engine = echo();
    // Every answer waits in the engine: what the scheduler starts stays running, so the first
    // four requests are the four answers it let run at once.
    engine.hold();
    let rig = Rig::new(&s, engine).await;
    for c in 0..4 {
        for i in 0..3 {
            rig.send(mention(
                &format!("c{c}"),
                &format!("user{i}"),
                &format!("q{i}"),
            ))
            .await;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rig.engine.requests().len() < 4 {
        assert!(tokio::time::Instant::now() < deadline, "four answers start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut running: Vec<String> = rig
        .engine
        .requests()
        .iter()
        .map(|r| r.conversation.clone())
        .collect();
    running.sort();
    // Released before asserting, so a failure reports instead of leaving answers held.
    rig.engine.release();
    assert_eq!(
        running,
        ["test:c0", "test:c1", "test:c2", "test:c3"],
        "four workers, one answer per channel"
    );
    rig.bot.idle().await;
    assert_eq!(rig.engine.requests().len(), 12);
    for c in 0..4 {
        let answers = rig.out.messages(&key(&format!("c{c}")));
        assert_eq!(answers.len(), 3, "{answers:?}");
        for (i, a) in answers.iter().enumerate() {
            // Each answer's prompt ends at its own question: they came in order.
            assert!(a.ends_with(&format!("user{i}: q{i}")), "{answers:?}");
        }
    }
}

/// The local engine batches `engine.max_batch` answers: the scheduler lets that many channels
/// in at once whatever `scheduler.workers` says, still one answer per channel.
#[tokio::test]
async fn a_batching_engine_gets_as_many_channels_at_once_as_it_takes() {
    let s = settings("[scheduler]\nqueue_per_channel = 10\nworkers = 1\n");
    let engine = echo().with_concurrent_answers(3);
    engine.hold();
    let rig = Rig::new(&s, engine).await;
    for c in 0..5 {
        for i in 0..2 {
            rig.send(mention(&format!("c{c}"), &format!("user{i}"), "q"))
                .await;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rig.engine.requests().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "three answers start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut running: Vec<String> = rig
        .engine
        .requests()
        .iter()
        .map(|r| r.conversation.clone())
        .collect();
    running.sort();
    rig.engine.release();
    assert_eq!(
        running,
        ["test:c0", "test:c1", "test:c2"],
        "three at once, one per channel"
    );
    rig.bot.idle().await;
    assert_eq!(rig.engine.requests().len(), 10);
}

#[tokio::test]
async fn flood_gets_busy_replies_and_no_crash() {
    let s = settings("[scheduler]\nqueue_per_channel = 2\nqueue_total = 4\nworkers = 1\n");
    let rig = Rig::new(&s, echo().with_delay(Duration::from_millis(5))).await;
    for i in 0..40 {
        let chat = format!("c{}", i % 5);
        rig.send(mention(&chat, &format!("user{i}"), &format!("msg {i}")))
            .await;
    }
    rig.bot.idle().await;
    let busy: usize = (0..5)
        .map(|c| {
            rig.out
                .messages(&key(&format!("c{c}")))
                .iter()
                .filter(|m| **m == replies::busy(EN))
                .count()
        })
        .sum();
    let answered = rig.engine.requests().len();
    assert!(busy > 0, "some got the busy reply");
    assert_eq!(
        busy + answered,
        40,
        "every message got an answer or a busy reply"
    );
    // Still works afterwards.
    rig.say(dm("after", "u", "still there?")).await;
    assert_eq!(
        rig.out.last(&key("after")).as_deref(),
        Some("echo: still there?")
    );
}

#[tokio::test]
async fn retry_in_translate_mode_translates_again() {
    let rig = Rig::new(
        &settings(""),
        ScriptedEngine::new().with_replies(["Hello", "Hi"]),
    )
    .await;
    rig.say(dm("d", "u", "/translate en")).await;
    rig.say(dm(
        "d",
        "u",
        "Bonjour à tous, comment allez-vous ce matin ?",
    ))
    .await;
    rig.say(dm("d", "u", "/retry")).await;
    let reqs = rig.engine.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.conversation == "test:d#translate"));
    assert_eq!(rig.out.last(&key("d")).as_deref(), Some("Hi"));
}

#[tokio::test]
async fn group_commands_for_other_bots_are_ignored() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(group("g", "u", "/help@otherbot")).await;
    rig.say(group("g", "u", "/weather London")).await;
    assert!(rig.out.messages(&key("g")).is_empty());
    // Our known commands work without a mention; unknown ones get a hint when addressed.
    rig.say(group("g", "u", "/stats")).await;
    assert_eq!(rig.out.messages(&key("g")).len(), 1);
    rig.say(mention("g", "u", "/weather London")).await;
    assert!(rig.out.last(&key("g")).unwrap().contains("Unknown command"));
    // In a direct chat every command is ours.
    rig.say(dm("d", "u", "/weather")).await;
    assert!(rig.out.last(&key("d")).unwrap().contains("Unknown command"));
}

#[tokio::test]
async fn queued_group_answers_see_the_chat_up_to_their_own_question() {
    let engine = echo();
    // Alice's answer is held until all three questions are in: bob's and carol's are queued.
    engine.hold();
    let rig = Rig::new(&settings(""), engine).await;
    rig.send(mention("g", "alice", "first question")).await;
    rig.send(mention("g", "bob", "bob's question")).await;
    rig.send(mention("g", "carol", "carol's question")).await;
    rig.engine.release();
    rig.bot.idle().await;
    let reqs = rig.requests_for("g");
    assert_eq!(reqs.len(), 3);
    let p1 = prompt_text(&reqs[1]);
    assert!(
        p1.contains("bob: bob's question") && !p1.contains("carol"),
        "{p1}"
    );
    assert_eq!(reqs[1].messages.last().unwrap().role, Role::User);
    assert_eq!(reqs[2].messages.last().unwrap().role, Role::User);
    assert!(reqs[2]
        .messages
        .last()
        .unwrap()
        .content
        .ends_with("carol: carol's question"));
}

#[tokio::test]
async fn a_redelivered_message_is_neither_stored_nor_answered_twice() {
    let rig = Rig::new(&settings(""), echo()).await;
    let m = dm("d", "u", "hello once");
    rig.say(m.clone()).await;
    rig.say(m.clone()).await;
    assert_eq!(rig.requests_for("d").len(), 1);
    assert_eq!(rig.out.messages(&key("d")), ["echo: hello once"]);
    let stored = rig.store.recent_turns(&key("d"), 100).await.unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");

    // Delivered again while its answer is being written: answered once.
    let engine = echo();
    engine.hold();
    let rig = Rig::new(&settings(""), engine).await;
    let m = dm("q", "u", "a slow question");
    rig.send(m.clone()).await;
    rig.send(m).await;
    rig.engine.release();
    rig.bot.idle().await;
    assert_eq!(rig.requests_for("q").len(), 1);

    // A command delivered again does not run again.
    rig.say(dm("c", "u", "note this")).await;
    let retry = dm("c", "u", "/retry");
    rig.say(retry.clone()).await;
    rig.say(retry).await;
    assert_eq!(rig.requests_for("c").len(), 2, "one answer, one retry");
}

#[tokio::test]
async fn a_question_whose_answer_a_crash_cut_off_is_answered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    let m = dm("d", "u", "are you there?");
    {
        // The process stored the question, then died before answering.
        let store = Store::open(&path).unwrap();
        let turn = parley_core::conversation::Turn::user("u", "u", &m.text, m.at);
        store
            .append_turn(&key("d"), &turn, Some(&m.message_id))
            .await
            .unwrap();
    }
    let rig = Rig::with_store(&settings(""), echo(), Store::open(&path).unwrap()).await;
    // The platform delivers it again (Telegram: the unconfirmed poll).
    rig.say(m.clone()).await;
    assert_eq!(rig.out.messages(&key("d")), ["echo: are you there?"]);
    let users = |p: &str| p.matches("are you there?").count();
    assert_eq!(
        users(&rig.last_prompt("d")),
        1,
        "the question is not stored twice"
    );
    let stored = rig.store.recent_turns(&key("d"), 100).await.unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    // And a third delivery, now answered, is left alone.
    rig.say(m).await;
    assert_eq!(rig.requests_for("d").len(), 1);
}

#[tokio::test]
async fn idle_channels_are_unloaded_and_come_back_from_the_store() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(dm("a", "u", "my favourite colour is teal")).await;
    rig.say(dm("b", "v", "/mode concise")).await;
    assert_eq!(rig.bot.loaded_channels(), 2);
    // Nothing is idle for an hour yet.
    assert_eq!(rig.bot.unload_idle(Duration::from_secs(3600)), 0);
    assert_eq!(rig.bot.unload_idle(Duration::ZERO), 2);
    assert_eq!(rig.bot.loaded_channels(), 0);

    rig.say(dm("a", "u", "what is my favourite colour?")).await;
    assert!(rig.last_prompt("a").contains("teal"), "history came back");
    rig.say(dm("b", "v", "hi")).await;
    let p = rig.last_prompt("b").to_lowercase();
    assert!(
        p.contains("brief") || p.contains("concise") || p.contains("short"),
        "settings came back: {p}"
    );
    assert_eq!(rig.bot.loaded_channels(), 2);

    // A channel with an answer under way is left loaded.
    let engine = echo();
    engine.hold();
    let rig = Rig::new(&settings(""), engine).await;
    rig.send(dm("busy", "u", "take your time")).await;
    assert_eq!(rig.bot.unload_idle(Duration::ZERO), 0);
    rig.engine.release();
    rig.bot.idle().await;
    assert_eq!(rig.out.messages(&key("busy")), ["echo: take your time"]);
    assert_eq!(rig.bot.unload_idle(Duration::ZERO), 1);
}

#[tokio::test]
async fn pinned_notes_stay_in_context_when_old_turns_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    let engine = || {
        ScriptedEngine::new()
            .with_context_len(400)
            .with_responder(|_| "a fairly long answer with quite a few words in it to fill".into())
    };
    let s = settings("[sampling]\nmax_tokens = 100\n");
    {
        let rig = Rig::with_store(&s, engine(), Store::open(&path).unwrap()).await;
        rig.say(dm("d", "u", "/remember")).await;
        assert_eq!(
            rig.out.last(&key("d")).as_deref(),
            Some(replies::no_notes(EN).as_str())
        );
        rig.say(dm("d", "u", "my cat is called Miso")).await;
        rig.say(dm("d", "u", "/remember my cat is called Miso"))
            .await;
        assert!(rig.out.last(&key("d")).unwrap().contains("note 1"));
        rig.say(dm("d", "u", "/remember @everyone likes tea")).await;
        let reply = rig.out.last(&key("d")).unwrap();
        assert!(!reply.contains("@everyone"), "never pings: {reply}");
        for i in 0..30 {
            rig.say(dm("d", "u", &format!("message number {i} with some words")))
                .await;
        }
        let p = rig.last_prompt("d");
        assert!(
            !p.contains("[user] my cat is called Miso"),
            "the turn dropped out: {p}"
        );
        assert!(
            p.contains("- my cat is called Miso"),
            "the note stayed: {p}"
        );
        // Other chats never see it.
        rig.say(dm("other", "u", "hello")).await;
        assert!(!rig.last_prompt("other").contains("Miso"));
        rig.bot.shutdown().await;
    }
    // It survives a restart and /reset.
    let rig = Rig::with_store(&s, engine(), Store::open(&path).unwrap()).await;
    rig.say(dm("d", "u", "/reset")).await;
    rig.say(dm("d", "u", "what is my cat called?")).await;
    assert!(rig.last_prompt("d").contains("- my cat is called Miso"));
    rig.say(dm("d", "u", "/remember")).await;
    let list = rig.out.last(&key("d")).unwrap();
    assert!(list.contains("1. my cat is called Miso"), "{list}");
    assert!(list.contains("2. "), "{list}");
    rig.say(dm("d", "u", "/remember delete 5")).await;
    assert!(rig.out.last(&key("d")).unwrap().contains("1 to 2"));
    rig.say(dm("d", "u", "/remember delete 1")).await;
    assert!(rig.out.last(&key("d")).unwrap().contains("Unpinned note 1"));
    rig.say(dm("d", "u", "and now?")).await;
    let p = rig.last_prompt("d");
    assert!(!p.contains("Miso") && p.contains("likes tea"), "{p}");
    rig.say(dm("d", "u", "/remember clear")).await;
    rig.say(dm("d", "u", "and now?")).await;
    assert!(!rig.last_prompt("d").contains("pinned with /remember"));
    // At most ten notes, however short (in a context with room for them).
    let rig = Rig::new(&s, echo()).await;
    for i in 0..11 {
        rig.say(dm("d", "u", &format!("/remember fact {i}"))).await;
    }
    assert!(rig.out.last(&key("d")).unwrap().contains("already has 10"));
}

#[tokio::test]
async fn start_up_answers_recent_questions_a_crash_left_unanswered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    let now = now_unix();
    {
        // Before the crash: a DM answered, then a DM question and a group question stored but
        // never answered, and a question from an hour ago.
        let rig = Rig::with_store(&settings(""), echo(), Store::open(&path).unwrap()).await;
        rig.say(dm("d", "u", "first")).await;
        let store = &rig.store;
        let ask = |chat: &str, id: &str, text: &str, at: i64, direct: bool| {
            let turn = parley_core::conversation::Turn::user("u", "Una", text, at);
            let key = key(chat);
            let id = id.to_string();
            async move {
                store
                    .append_message(&key, &turn, Some(&id), direct)
                    .await
                    .unwrap();
            }
        };
        ask("d", "q1", "second", now - 5, true).await;
        ask("g", "q2", "group question", now - 5, false).await;
        ask("old", "q3", "stale question", now - 3600, true).await;
    }
    let rig = Rig::with_store(&settings(""), echo(), Store::open(&path).unwrap()).await;
    let out: std::sync::Arc<dyn parley_core::seam::Outbox> = rig.out.clone();
    rig.bot
        .resume(parley_core::seam::Platform::Test, out.clone(), everyone())
        .await;
    rig.bot.idle().await;
    assert_eq!(rig.out.messages(&key("d")), ["echo: second"]);
    // A direct chat is answered as one (no name prefixes), a group as a group.
    assert_eq!(
        rig.requests_for("d")[0].messages.last().unwrap().content,
        "second"
    );
    assert_eq!(
        rig.requests_for("g")[0].messages.last().unwrap().content,
        "Una: group question"
    );
    assert!(
        rig.out.messages(&key("old")).is_empty(),
        "too old to answer now"
    );
    // Resuming again (a reconnect) answers nothing twice; nor does the platform redelivering.
    rig.bot
        .resume(parley_core::seam::Platform::Test, out, everyone())
        .await;
    let mut again = dm("d", "u", "second");
    again.message_id = "q1".into();
    rig.say(again).await;
    assert_eq!(rig.engine.requests().len(), 2);
    // Another platform's questions are its own adapter's business.
    let other = Rig::with_store(&settings(""), echo(), Store::open(&path).unwrap()).await;
    let out: std::sync::Arc<dyn parley_core::seam::Outbox> = other.out.clone();
    other
        .bot
        .resume(parley_core::seam::Platform::Discord, out, everyone())
        .await;
    other.bot.idle().await;
    assert!(other.engine.requests().is_empty());
}

#[tokio::test]
async fn a_tiny_temperature_is_stored_as_greedy_and_echoed_briefly() {
    let rig = Rig::new(&settings(""), echo()).await;
    rig.say(dm("d", "u", "/set temperature 1e-320")).await;
    let reply = rig.out.last(&key("d")).unwrap();
    assert_eq!(reply, replies::set_done(EN, "temperature", "0"));
    rig.say(dm("d", "u", "/set top_p 1e-300")).await;
    let reply = rig.out.last(&key("d")).unwrap();
    assert!(reply.len() < 40, "{reply}");
    rig.say(dm("d", "u", "hi")).await;
    assert_eq!(rig.out.last(&key("d")).as_deref(), Some("echo: hi"));
    let p = &rig.requests_for("d")[0].params;
    assert_eq!(p.temperature, 0.0, "greedy, not a subnormal divisor");
    rig.say(dm("d", "u", "/set")).await;
    let shown = rig.out.last(&key("d")).unwrap();
    assert!(shown.len() < 300, "{shown}");
    assert_eq!(replies::number(0.123456789), "0.1235");
    assert_eq!(replies::number(1.5), "1.5");
}

#[tokio::test]
async fn in_a_group_only_admins_change_the_chat_for_everyone() {
    let rig = Rig::new(&settings(""), echo()).await;
    let mut admin = group("g", "mod", "/mode concise");
    admin.author.is_platform_admin = true;
    for cmd in [
        "/mode concise",
        "/translate fr",
        "/set temperature 0.2",
        "/reset",
        "/remember the door code is 1234",
        "/system Be a pirate.",
    ] {
        rig.say(group("g", "member", cmd)).await;
        assert_eq!(
            rig.out.last(&key("g")).as_deref(),
            Some(replies::group_admins_only(EN).as_str()),
            "{cmd}"
        );
    }
    let stored = rig.store.load_settings(&key("g")).await.unwrap();
    assert!(stored.notes.is_empty() && stored.mode.is_none() && stored.translate.is_empty());
    // Showing is for everyone; the help hides what a member may not do.
    rig.say(group("g", "member", "/set")).await;
    assert!(rig.out.last(&key("g")).unwrap().contains("temperature"));
    rig.say(group("g", "member", "/help")).await;
    let help = rig.out.last(&key("g")).unwrap();
    assert!(
        !help.contains("/mode") && !help.contains("/system"),
        "{help}"
    );
    rig.say(admin.clone()).await;
    assert_eq!(
        rig.out.last(&key("g")).unwrap(),
        replies::mode_set(EN, "concise")
    );
    let mut admin_help = group("g", "mod", "/help");
    admin_help.author.is_platform_admin = true;
    rig.say(admin_help).await;
    assert!(rig.out.last(&key("g")).unwrap().contains("(admins)"));
    // In a direct chat the user owns the chat.
    rig.say(dm("d", "member", "/mode concise")).await;
    assert_eq!(
        rig.out.last(&key("d")).unwrap(),
        replies::mode_set(EN, "concise")
    );
    // And a group may open them to everyone.
    let open = Rig::new(
        &settings("[bot]\nmessages_per_minute = 0\ngroup_settings = \"everyone\"\n"),
        echo(),
    )
    .await;
    open.say(group("g", "member", "/mode concise")).await;
    assert_eq!(
        open.out.last(&key("g")).unwrap(),
        replies::mode_set(EN, "concise")
    );
}

#[tokio::test]
async fn stored_notes_of_cjk_and_emoji_cannot_crowd_the_window_out() {
    let rig = Rig::new(&settings(""), echo().with_context_len(1024)).await;
    let mut stored = rig.store.load_settings(&key("d")).await.unwrap();
    stored.notes = (0..10)
        .map(|i| format!("{i}{}", "猫🐱".repeat(150)))
        .collect();
    rig.store.save_settings(&key("d"), &stored).await.unwrap();
    rig.say(dm("d", "u", "hi")).await;
    assert_eq!(rig.out.last(&key("d")).as_deref(), Some("echo: hi"));
    let window = rig.bot.window(&key("d"), true).await.unwrap();
    assert!(
        window.tokens <= window.budget,
        "{} > {}",
        window.tokens,
        window.budget
    );
    let system = &window.messages[0].content;
    assert!(system.contains("9猫"), "the newest note is kept");
    assert!(!system.contains("0猫"), "the oldest is left out");
}

/// What a message replying to message `id` carries about it (the bot's, or a user's).
fn reply_to(id: &str, is_bot: bool) -> parley_core::seam::RepliedTo {
    parley_core::seam::RepliedTo {
        message_id: id.into(),
        author_name: if is_bot { "Parley" } else { "u" }.into(),
        text: "earlier text".into(),
        is_bot,
    }
}

/// The id of the newest message the bot sent in `chat`.
fn last_sent_id(rig: &Rig, chat: &str) -> String {
    rig.out
        .calls()
        .into_iter()
        .rev()
        .find_map(|c| match c {
            Call::Send { key: k, id, .. } if k == key(chat) => Some(id),
            _ => None,
        })
        .unwrap()
}

#[tokio::test]
async fn why_after_a_windowed_conversation_reports_the_dropped_turns() {
    let engine = ScriptedEngine::new()
        .with_context_len(400)
        .with_responder(|_| "a fairly long answer with quite a few words in it to fill".into());
    let rig = Rig::new(&settings("[sampling]\nmax_tokens = 100\n"), engine).await;
    rig.say(dm("d", "u", "/remember the user likes tea")).await;
    for i in 0..30 {
        rig.say(dm("d", "u", &format!("message number {i} with some words")))
            .await;
    }
    rig.say(dm("d", "u", "/why")).await;
    let why = rig.out.last(&key("d")).unwrap();
    // The last answer's prompt: system, the kept turns (one message each in a direct chat),
    // the question. 58 turns came before the question.
    let last = rig.requests_for("d").pop().unwrap();
    let included = last.messages.len() - 2;
    let dropped = 58 - included;
    assert!(dropped > 0 && included > 0, "{why}");
    assert!(
        why.contains(&format!(
            "{included} earlier turns included, {dropped} left out by the window"
        )),
        "{why}"
    );
    assert!(why.contains("persona \"assistant\""), "{why}");
    assert!(why.contains("1 of 1 pinned notes"), "{why}");
    assert!(
        why.contains("scripted test engine (scripted engine)"),
        "{why}"
    );
    assert!(
        why.contains("it stopped because the model ended its turn"),
        "{why}"
    );
    let seed = last.params.seed.unwrap();
    assert!(why.contains(&format!("/set seed {seed} gives")), "{why}");
    // Nothing of the conversation itself is in it.
    assert!(
        !why.contains("tea") && !why.contains("message number"),
        "{why}"
    );
}

#[tokio::test]
async fn why_survives_restart_and_has_no_record_of_other_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    let s = settings("[sampling]\nmax_tokens = 3\n");
    let (answer_id, question_id, seed) = {
        let rig = Rig::with_store(&s, echo(), Store::open(&path).unwrap()).await;
        rig.say(dm("d", "u", "/set seed 4242")).await;
        let question = dm("d", "u", "tell me a long story please");
        let question_id = question.message_id.clone();
        rig.say(question).await;
        let answer_id = last_sent_id(&rig, "d");
        rig.say(dm("d", "u", "/set seed random")).await;
        rig.say(dm("d", "u", "and another long one")).await;
        let seed = rig.requests_for("d").pop().unwrap().params.seed.unwrap();
        rig.bot.shutdown().await;
        (answer_id, question_id, seed)
    };
    let rig = Rig::with_store(&s, echo(), Store::open(&path).unwrap()).await;
    // The newest answer: its drawn seed, which `/set seed` reproduces.
    rig.say(dm("d", "u", "/why")).await;
    let why = rig.out.last(&key("d")).unwrap();
    assert!(why.contains(&format!("seed {seed} ")), "{why}");
    assert!(why.contains("it reached max_tokens"), "{why}");
    // As a reply to the first answer: that answer's record.
    let mut ask = dm("d", "u", "/why");
    ask.reply_to = Some(reply_to(&answer_id, true));
    rig.say(ask).await;
    let why = rig.out.last(&key("d")).unwrap();
    assert!(why.contains("seed 4242 "), "{why}");
    // As a reply to a message the bot did not write.
    let mut ask = dm("d", "u", "/why");
    ask.reply_to = Some(reply_to(&question_id, false));
    rig.say(ask).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some(replies::no_record(EN).as_str())
    );
    // A chat the bot never answered in, and a record never leaks across channels.
    rig.say(dm("other", "u", "/why")).await;
    assert_eq!(
        rig.out.last(&key("other")).as_deref(),
        Some(replies::no_answer_yet(EN).as_str())
    );
}

#[tokio::test]
async fn a_question_queued_behind_another_is_still_unanswered_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    // The first bot answers the first question and dies while writing the second's answer
    // (long and slow: it is never finished, so never stored).
    let engine = ScriptedEngine::new()
        .with_delay(Duration::from_millis(200))
        .with_responder(|r| {
            let last = r.messages.last().map(|m| m.content.clone());
            match last.unwrap_or_default() {
                q if q.contains("second") => "word ".repeat(1000),
                q => format!("echo: {q}"),
            }
        });
    engine.hold();
    let first = mention("g", "ann", "first question");
    let second = mention("g", "bob", "second question");
    let crashed = Rig::with_store(&settings(""), engine, Store::open(&path).unwrap()).await;
    crashed.send(first.clone()).await;
    crashed.send(second.clone()).await;
    crashed.engine.release();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while crashed.engine.requests().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second answer starts"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first answer (stored before the second began) did not see the second question.
    let store = Store::open(&path).unwrap();
    let pending = store
        .unanswered(parley_core::seam::Platform::Test, 0)
        .await
        .unwrap();
    let texts: Vec<&str> = pending.iter().map(|q| q.turn.text.as_str()).collect();
    assert_eq!(texts, ["second question"]);
    // Telegram delivers it again after the restart: it is answered, once.
    let rig = Rig::with_store(&settings(""), echo(), store).await;
    rig.say(second.clone()).await;
    rig.say(first).await;
    let answers = rig.out.messages(&key("g"));
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(answers[0].ends_with("bob: second question"), "{answers:?}");
    let out: std::sync::Arc<dyn parley_core::seam::Outbox> = rig.out.clone();
    rig.bot
        .resume(parley_core::seam::Platform::Test, out, everyone())
        .await;
    rig.say(second).await;
    assert_eq!(rig.engine.requests().len(), 1, "answered once");
}

/// An allowlist that has dropped one user since the bot last ran.
struct AllBut(&'static str);

#[async_trait::async_trait]
impl parley_core::seam::Allowlist for AllBut {
    async fn admits(&self, message: &Incoming) -> bool {
        message.author.id != self.0
    }
}

#[tokio::test]
async fn resume_answers_only_authors_the_allowlist_still_admits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.sqlite3");
    let now = now_unix();
    {
        let store = Store::open(&path).unwrap();
        for (chat, user, id) in [("d1", "una", "q1"), ("d2", "mallory", "q2")] {
            let turn = parley_core::conversation::Turn::user(user, user, "still there?", now - 5);
            store
                .append_message(&key(chat), &turn, Some(id), true)
                .await
                .unwrap();
        }
    }
    let rig = Rig::with_store(&settings(""), echo(), Store::open(&path).unwrap()).await;
    let out: std::sync::Arc<dyn parley_core::seam::Outbox> = rig.out.clone();
    let allowlist = std::sync::Arc::new(AllBut("mallory"));
    rig.bot
        .resume(parley_core::seam::Platform::Test, out, allowlist)
        .await;
    rig.bot.idle().await;
    assert_eq!(rig.out.messages(&key("d1")), ["echo: still there?"]);
    assert!(
        rig.out.messages(&key("d2")).is_empty(),
        "a user removed from the allowlist gets no answer"
    );
    assert!(rig.requests_for("d2").is_empty());
}

#[tokio::test]
async fn remember_and_system_refuse_text_over_the_pinned_budget() {
    // The scripted engine counts a word as a token; its context is 2048, so what is pinned may
    // take 512 tokens.
    let rig = Rig::new(&settings(""), echo()).await;
    let mut system = dm("d", "u", "/system be brief");
    system.author.is_platform_admin = true;
    rig.say(system).await;
    // Notes of about 148 tokens each: three fit, a fourth does not.
    let long_note = |tag: &str| format!("/remember {tag}{}", " w".repeat(146));
    for tag in ["one", "two", "three"] {
        rig.say(dm("d", "u", &long_note(tag))).await;
        let reply = rig.out.last(&key("d")).unwrap();
        assert!(reply.starts_with("Pinned as note"), "{reply}");
    }
    rig.say(dm("d", "u", &long_note("four"))).await;
    let refusal = rig.out.last(&key("d")).unwrap();
    assert!(refusal.starts_with("That note doesn't fit"), "{refusal}");
    let room: usize = refusal
        .split("room for ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the refusal says how much room is left");
    assert!(room > 5 && room < 100, "{refusal}");
    // What is left is room for a short note.
    rig.say(dm("d", "u", "/remember the cat is Miso")).await;
    assert!(rig.out.last(&key("d")).unwrap().contains("note 4"));
    rig.say(dm("d", "u", "hello")).await;
    let p = rig.last_prompt("d");
    assert!(p.contains("- three") && p.contains("Miso"), "{p}");
    assert!(!p.contains("- four"), "{p}");

    let mut system = dm("d", "u", &format!("/system be terse{}", " w".repeat(600)));
    system.author.is_platform_admin = true;
    rig.say(system).await;
    let refusal = rig.out.last(&key("d")).unwrap();
    assert!(refusal.contains("at most 512"), "{refusal}");
    let mut system = dm("d", "u", "/system be terse");
    system.author.is_platform_admin = true;
    rig.say(system).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some(replies::system_set(EN).as_str())
    );
}

/// A reply to `to` (written by `author`, or by the bot) carrying `text`.
fn replying(mut m: Incoming, author: &str, to: &str, is_bot: bool) -> Incoming {
    m.reply_to = Some(parley_core::seam::RepliedTo {
        message_id: "earlier".into(),
        author_name: author.into(),
        text: to.into(),
        is_bot,
    });
    m.reply_to_bot = is_bot;
    m
}

#[tokio::test]
async fn a_reply_to_someone_else_shows_the_model_the_message_pointed_at_once() {
    let rig = Rig::new(&settings(""), echo()).await;
    let asked = replying(
        mention("g", "Ada", "what does he mean?"),
        "Bob",
        "Ich komme morgen später",
        false,
    );
    rig.say(asked).await;
    let r = rig.requests_for("g").pop().unwrap();
    let last = &r.messages.last().unwrap().content;
    assert!(last.contains("a message by Bob"), "{last}");
    assert!(last.contains("> Ich komme morgen später"), "{last}");
    assert!(last.ends_with("what does he mean?"), "{last}");
    // The quote is context for that question only: not stored, not a turn of its own.
    rig.say(mention("g", "Ada", "and in English?")).await;
    let next = rig.requests_for("g").pop().unwrap();
    let users: Vec<&str> = next
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(users, ["Ada: what does he mean?", "Ada: and in English?"]);
    // Replying to the bot's answer still in the window adds nothing twice.
    let answer = rig.out.last(&key("g")).unwrap();
    rig.say(replying(
        mention("g", "Ada", "why?"),
        "parley",
        &answer,
        true,
    ))
    .await;
    let r = rig.requests_for("g").pop().unwrap();
    assert!(!r
        .messages
        .last()
        .unwrap()
        .content
        .contains("your earlier message"));
}

#[tokio::test]
async fn a_long_quote_gives_way_first_and_the_question_stays_whole() {
    let s = settings("[bot]\nmessages_per_minute = 0\n[sampling]\nmax_tokens = 50\n");
    let rig = Rig::new(&s, echo().with_context_len(400)).await;
    let quote: String = (0..1000).map(|i| format!("word{i} ")).collect();
    let question = "please summarise what he wrote in two lines";
    rig.say(replying(dm("d", "u", question), "Bob", &quote, false))
        .await;
    let r = rig.requests_for("d").pop().unwrap();
    let last = &r.messages.last().unwrap().content;
    assert!(last.ends_with(question), "{last}");
    assert!(last.contains("> word0 word1"), "the quote keeps its start");
    assert!(last.contains("shortened"), "{last}");
    assert!(!last.contains("word999"));
    use parley_core::engine::Engine;
    let e = rig.engine.as_ref();
    let tokens: usize = r
        .messages
        .iter()
        .map(|m| e.count_tokens(&m.content) + e.message_overhead())
        .sum();
    assert!(tokens <= 400 - 50, "the request fits the window: {tokens}");
}

#[tokio::test]
async fn tr_translates_the_message_replied_to_without_keeping_it() {
    let engine = ScriptedEngine::new().with_replies([
        "Here is the translation:\n\nWo ist der Bahnhof? Ich finde ihn nicht.\n\nNote: informal.",
    ]);
    let rig = Rig::new(&settings(""), engine).await;
    rig.say(dm("d", "u", "/tr de")).await;
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some(replies::tr_needs_reply(EN).as_str())
    );
    let source = "Where is the station? I cannot find it.";
    rig.say(replying(dm("d", "u", "/tr de"), "Bob", source, false))
        .await;
    let r = rig.engine.requests().pop().unwrap();
    assert_eq!(r.conversation, "test:d#translate");
    assert!(r.messages[0].content.contains("into German"));
    assert_eq!(r.messages[1].content, source);
    assert_eq!(
        rig.out.last(&key("d")).as_deref(),
        Some("Wo ist der Bahnhof? Ich finde ihn nicht.")
    );
    rig.say(dm("d", "u", "thanks")).await;
    let p = rig.last_prompt("d");
    assert!(!p.contains("Bahnhof") && !p.contains("/tr"), "{p}");
}

#[tokio::test]
async fn a_translation_in_the_wrong_language_is_retried_greedily_then_refused() {
    let english = "Where is the station? I cannot find it anywhere.";
    let engine = ScriptedEngine::new().with_replies([english, english]);
    let rig = Rig::new(&settings(""), engine).await;
    rig.say(dm("d", "u", "/translate de")).await;
    rig.say(dm(
        "d",
        "u",
        "¿Dónde está la estación? No la encuentro por ninguna parte.",
    ))
    .await;
    let reqs = rig.engine.requests();
    assert_eq!(reqs.len(), 2, "one retry: {reqs:?}");
    assert!(reqs[0].params.temperature > 0.0);
    assert_eq!(reqs[1].params.temperature, 0.0, "the retry is greedy");
    assert!(
        reqs[1].messages[0].content.contains("only in German"),
        "{}",
        reqs[1].messages[0].content
    );
    let shown = rig.out.transcript(&key("d"));
    assert!(
        !shown.contains(english),
        "the wrong text is never posted: {shown}"
    );
    assert_eq!(
        rig.out.last(&key("d")),
        Some(replies::could_not_translate(EN, "German"))
    );
}
