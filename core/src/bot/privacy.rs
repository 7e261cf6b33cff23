//! The user's control over their data: `/forget`, `/export`, `/privacy`, and the retention pass.
//!
//! `/forget` deletes a user's messages in the channel and everything made from them: the
//! bot's answers and translations (the store's rule), their `/why` records, their question
//! waiting in the queue (or being answered), and the engines' caches of the conversation,
//! which hold the words too; `/forget notes` the notes they pinned, `/forget all` both. In a
//! direct chat everything in it is the user's. `/export` hands the user a JSON file of what
//! the store keeps about them, privately ([`Outbox::send_file`]), once an hour. Retention
//! ([`retain`]) deletes what is older than `store.retain_days` and drops what loaded channels
//! and engines still hold of it.

use std::sync::Arc;

use serde_json::{json, Value};
use tracing::{debug, info, warn};

use super::context::{now_unix, BotContext};
use super::replies;
use crate::commands::ForgetArg;
use crate::config::EngineKind;
use crate::conversation::{conversation_id, Conversation};
use crate::engine::Role;
use crate::i18n::Language;
use crate::seam::{ChannelKey, Incoming, Outbox, Platform, PrivateFile};
use crate::store::{ChannelSettings, Export, Forgetting, Retained};
use crate::Result;

/// Drop what the engines cache of a channel's conversations (its answers' and its
/// translations').
fn drop_caches(inner: &BotContext, key: &ChannelKey) {
    let conversation = conversation_id(key);
    inner.models.forget(&conversation);
    inner.models.forget(&format!("{conversation}#translate"));
}

/// `/forget [notes|all]`: delete, reload what the channel holds in memory, drop the caches;
/// the reply says what was deleted.
pub(super) async fn forget(
    inner: &Arc<BotContext>,
    message: &Incoming,
    arg: ForgetArg,
    lang: Language,
) -> Result<String> {
    let (key, user) = (&message.key, message.author.id.as_str());
    let what = Forgetting {
        messages: arg != ForgetArg::Notes,
        notes: arg != ForgetArg::Messages,
        direct: message.is_direct,
    };
    let stopped = what.messages
        && if message.is_direct {
            inner.scheduler.cancel(key)
        } else {
            inner.scheduler.cancel_author(key, user)
        };
    let mut channel = inner.channels.open(key, &inner.store).await?;
    let done = inner.store.forget(key, user, what).await?;
    if what.messages {
        channel.conversation.turns = inner
            .store
            .recent_turns(key, Conversation::MAX_LIVE_TURNS)
            .await?;
        channel.conversation.window_start = 0;
        if stopped {
            // The stopped answer must not be stored when it ends.
            channel.conversation.epoch += 1;
        }
    }
    if what.notes {
        channel.settings = inner.store.load_settings(key).await?;
        // The system prompt lists the notes.
        channel.conversation.system = None;
    }
    drop_caches(inner, key);
    let kept = kept_notes(&channel.settings, user, message.is_direct);
    let kept: Vec<(usize, &str)> = kept.iter().map(|(n, t)| (*n, t.as_str())).collect();
    debug!(?done, "forgotten");
    Ok(replies::forgot(lang, &done, what, &kept))
}

/// The user's notes in a channel, numbered as `/remember` lists them (in a direct chat, all).
fn kept_notes(settings: &ChannelSettings, user: &str, direct: bool) -> Vec<(usize, String)> {
    settings
        .notes
        .iter()
        .zip(&settings.notes_by)
        .enumerate()
        .filter(|(_, (_, by))| direct || by.as_str() == user)
        .map(|(i, (text, _))| (i + 1, text.clone()))
        .collect()
}

/// `/privacy`.
pub(super) fn privacy(inner: &BotContext, lang: Language) -> String {
    let remote = inner.settings().engine.kind == EngineKind::Openai;
    replies::privacy(lang, inner.settings().store.retain_days, remote)
}

/// `/export`: the user's data as a JSON file, sent privately; the reply says whether it went.
pub(super) async fn export(
    inner: &Arc<BotContext>,
    message: &Incoming,
    lang: Language,
    outbox: &Arc<dyn Outbox>,
) -> Result<String> {
    let (key, user) = (&message.key, &message.author.id);
    let now = now_unix();
    let who = (key.platform, user.clone());
    let wait = inner.exports.wait(&who, now);
    if wait > 0 {
        let minutes = u64::try_from((wait + 59) / 60).unwrap_or(1);
        return Ok(replies::export_too_soon(lang, minutes));
    }
    let direct = message.is_direct.then_some(key);
    let data = inner.store.export(key.platform, user, direct).await?;
    let json = export_json(key.platform, user, now, &data);
    let bytes = serde_json::to_vec_pretty(&json).unwrap_or_default();
    let file = PrivateFile {
        user_id: user.clone(),
        asked_in: key.clone(),
        name: format!("parley-export-{}.json", key.platform.as_str()),
        bytes,
        caption: replies::export_caption(lang),
    };
    match outbox.send_file(&file).await {
        Ok(()) => {
            inner.exports.record(who, now);
            info!(turns = data.turns.len(), "export sent");
            Ok(replies::export_sent(lang))
        }
        Err(e) => {
            warn!(error = %e, "could not send the export");
            Ok(replies::export_failed(lang))
        }
    }
}

/// What `/export` sends: the user, then each channel's turns, the notes, the direct chats'
/// settings.
fn export_json(platform: Platform, user: &str, now: i64, data: &Export) -> Value {
    let mut channels: Vec<(String, Vec<Value>)> = Vec::new();
    for t in &data.turns {
        let channel = t.channel.to_string();
        let turn = json!({
            "role": if t.role == Role::User { "user" } else { "assistant" },
            "text": t.text,
            "at": t.at,
        });
        match channels.iter_mut().find(|(c, _)| *c == channel) {
            Some((_, turns)) => turns.push(turn),
            None => channels.push((channel, vec![turn])),
        }
    }
    let channels: Vec<Value> = channels
        .into_iter()
        .map(|(channel, turns)| json!({ "channel": channel, "turns": turns }))
        .collect();
    let notes: Vec<Value> = data
        .notes
        .iter()
        .map(|n| json!({ "channel": n.channel.to_string(), "text": n.text }))
        .collect();
    let direct: Vec<Value> = data
        .direct_settings
        .iter()
        .map(|(key, s)| {
            json!({
                "channel": key.to_string(),
                "mode": s.mode,
                "system": s.system,
                "translate": s.translate,
                "sampling": s.sampling,
                "model": s.model,
            })
        })
        .collect();
    json!({
        "format": "parley-export/1",
        "platform": platform.as_str(),
        "user": user,
        "exported_at": now,
        "channels": channels,
        "notes": notes,
        "direct_chats": direct,
    })
}

/// The retention pass as of `now`: delete what `[store]` says is too old (turns, `/why`
/// records) or too many, securely, then reload the loaded channels that lost turns and drop
/// their caches, so no copy of what was deleted feeds another answer.
pub(super) async fn retain(inner: &BotContext, now: i64) -> Result<Retained> {
    let settings = inner.settings();
    let s = &settings.store;
    let done = inner
        .store
        .prune(now, s.retain_days, s.retention_turns)
        .await?;
    for key in &done.channels {
        if let Some(mut channel) = inner.channels.open_loaded(key).await {
            channel.conversation.turns = inner
                .store
                .recent_turns(key, Conversation::MAX_LIVE_TURNS)
                .await?;
            channel.conversation.window_start = 0;
        }
        drop_caches(inner, key);
    }
    if done.turns + done.records > 0 {
        info!(
            turns = done.turns,
            records = done.records,
            "retention removed old turns"
        );
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bot::Bot;
    use crate::config::Settings;
    use crate::engine::scripted::ScriptedEngine;
    use crate::persona::Personas;
    use crate::seam::Handler;
    use crate::store::{Forgotten, Store};
    use crate::testing::{dm, mention, RecordingOutbox};

    const EN: Language = Language::English;

    fn echo() -> ScriptedEngine {
        ScriptedEngine::new().with_responder(|r| {
            let last = r.messages.last().map(|m| m.content.clone());
            format!("echo: {}", last.unwrap_or_default())
        })
    }

    struct Rig {
        bot: Bot,
        engine: Arc<ScriptedEngine>,
        out: Arc<RecordingOutbox>,
        store: Store,
    }

    impl Rig {
        async fn new(toml: &str, store: Store) -> Rig {
            let settings = Settings::from_toml_str(toml).unwrap();
            let engine = Arc::new(echo());
            let bot = Bot::new(
                &settings,
                engine.clone(),
                store.clone(),
                Personas::builtin(),
            )
            .await
            .unwrap();
            let out = Arc::new(RecordingOutbox::new());
            Rig {
                bot,
                engine,
                out,
                store,
            }
        }

        async fn send(&self, m: Incoming) {
            let out: Arc<dyn Outbox> = self.out.clone();
            self.bot.handle(m, out).await;
        }

        async fn say(&self, m: Incoming) {
            self.send(m).await;
            self.bot.idle().await;
        }

        async fn texts(&self, key: &ChannelKey) -> Vec<String> {
            let turns = self.store.recent_turns(key, 100).await.unwrap();
            turns.into_iter().map(|t| t.text).collect()
        }
    }

    fn store_files_hold(dir: &std::path::Path, word: &str) -> bool {
        std::fs::read_dir(dir).unwrap().flatten().any(|f| {
            let bytes = std::fs::read(f.path()).unwrap_or_default();
            bytes.windows(word.len()).any(|w| w == word.as_bytes())
        })
    }

    #[tokio::test]
    async fn a_members_forget_in_a_group_takes_their_messages_answers_notes_and_queued_question() {
        let toml = "[bot]\nmessages_per_minute = 0\ngroup_settings = \"everyone\"\n";
        let rig = Rig::new(toml, Store::in_memory().unwrap()).await;
        let g = ChannelKey::new(Platform::Test, "g");
        rig.say(mention("g", "alice", "alice says SECRET-A")).await;
        rig.say(mention("g", "bob", "bob says hello")).await;
        rig.say(mention("g", "alice", "/remember NOTE-A")).await;
        rig.say(mention("g", "bob", "/remember NOTE-B")).await;
        // Bob's answer runs (held); Alice's question waits behind it.
        rig.engine.hold();
        rig.send(mention("g", "bob", "bob asks again")).await;
        rig.send(mention("g", "alice", "alice QUEUED-A")).await;
        rig.send(mention("g", "alice", "/forget all")).await;
        rig.engine.release();
        rig.bot.idle().await;

        let done = Forgotten {
            messages: 2,
            answers: 1,
            records: 1,
            notes: 1,
        };
        let what = Forgetting {
            messages: true,
            notes: true,
            direct: false,
        };
        let reply = rig
            .out
            .messages(&g)
            .into_iter()
            .find(|m| m.starts_with("Deleted your"));
        assert_eq!(reply, Some(replies::forgot(EN, &done, what, &[])));
        let texts = rig.texts(&g).await.join("\n");
        for gone in ["SECRET-A", "QUEUED-A"] {
            assert!(!texts.contains(gone), "{gone} in {texts}");
        }
        assert_eq!(texts.matches("bob says hello").count(), 2, "{texts}");
        assert_eq!(texts.matches("bob asks again").count(), 2, "{texts}");
        let notes = rig.store.load_settings(&g).await.unwrap().notes;
        assert_eq!(notes, ["NOTE-B"]);
        let asked = rig.engine.requests();
        assert!(
            asked
                .iter()
                .all(|r| !format!("{:?}", r.messages).contains("QUEUED-A")),
            "the queued question was never asked"
        );
        assert!(rig
            .engine
            .forgotten()
            .contains(&"test:g#translate".to_string()));
    }

    #[tokio::test]
    async fn forget_without_notes_lists_the_users_notes_it_kept() {
        let rig = Rig::new(
            "[bot]\nmessages_per_minute = 0\n",
            Store::in_memory().unwrap(),
        )
        .await;
        let d = ChannelKey::new(Platform::Test, "d");
        rig.say(dm("d", "u", "/remember KEEP-ME")).await;
        rig.say(dm("d", "u", "hello")).await;
        rig.say(dm("d", "u", "/forget")).await;
        let reply = rig.out.last(&d).unwrap();
        assert!(
            reply.contains("1. KEEP-ME") && reply.contains("/forget notes"),
            "{reply}"
        );
        assert!(rig.texts(&d).await.is_empty());
        rig.say(dm("d", "u", "/forget notes")).await;
        assert!(rig.store.load_settings(&d).await.unwrap().notes.is_empty());
    }

    #[tokio::test]
    async fn retention_with_an_injected_clock_deletes_old_turns_records_and_caches_securely() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("parley.sqlite3")).unwrap();
        let toml = "[bot]\nmessages_per_minute = 0\n[store]\nretain_days = 1\n";
        let rig = Rig::new(toml, store).await;
        let d = ChannelKey::new(Platform::Test, "d");
        rig.say(dm("d", "u", "the word is MARMOSET3")).await;
        let now = now_unix();
        assert_eq!(rig.bot.retain(now).await.unwrap(), 0, "a day is not over");
        assert!(store_files_hold(dir.path(), "MARMOSET3"));
        assert!(rig.store.answer_record(&d, None).await.unwrap().is_some());

        assert_eq!(rig.bot.retain(now + 2 * 86_400).await.unwrap(), 2);
        assert!(rig.texts(&d).await.is_empty());
        assert!(rig.store.answer_record(&d, None).await.unwrap().is_none());
        assert!(
            !store_files_hold(dir.path(), "MARMOSET3"),
            "gone from every file"
        );
        assert!(rig.engine.forgotten().contains(&"test:d".to_string()));
        let window = rig.bot.window(&d, true).await.unwrap();
        assert!(!format!("{:?}", window.messages).contains("MARMOSET3"));
    }

    #[tokio::test]
    async fn privacy_says_where_the_text_goes_and_export_is_once_an_hour() {
        let rig = Rig::new(
            "[bot]\nmessages_per_minute = 0\n",
            Store::in_memory().unwrap(),
        )
        .await;
        let d = ChannelKey::new(Platform::Test, "d");
        rig.say(dm("d", "u", "/privacy")).await;
        assert_eq!(rig.out.last(&d), Some(replies::privacy(EN, 0, false)));
        rig.say(dm("d", "u", "/help")).await;
        assert!(rig.out.last(&d).unwrap().contains("/privacy"));
        rig.say(dm("d", "u", "hello EXPORTED")).await;
        rig.say(dm("d", "u", "/export")).await;
        rig.say(dm("d", "u", "/export")).await;
        let files = rig.out.files();
        assert_eq!(files.len(), 1, "once an hour");
        assert_eq!(files[0].user_id, "u");
        let json: Value = serde_json::from_slice(&files[0].bytes).unwrap();
        assert_eq!(json["channels"][0]["turns"][0]["text"], "hello EXPORTED");
        assert_eq!(json["direct_chats"][0]["channel"], "test:d");
        assert_eq!(rig.out.last(&d), Some(replies::export_too_soon(EN, 60)));
    }
}
