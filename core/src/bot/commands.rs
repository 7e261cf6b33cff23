//! Running commands: one function per command, each returning the line to answer with.
//!
//! The grammar (names, arguments, usage hints) is [`crate::commands`]; what is checked here is
//! what needs the bot: bounds of `/set` values from the configuration, whether a persona
//! exists, who is an admin. Commands that change a channel's settings do it under the
//! channel's lock, so two at once never lose a change.

use std::sync::Arc;

use tracing::{debug, warn};

use super::channels::OpenChannel;
use super::context::{say, BotContext};
use super::job::{prompt_for, Origin};
use super::prompt::{pinned_budget, pinned_tokens};
use super::queue::{submit, translate_on_demand};
use super::replies;
use crate::commands::{self, Command, RememberArg, Setting, TranslateArg};
use crate::config::{EngineKind, GroupSettings, ModelChoice, SamplingSettings};
use crate::conversation::conversation_id;
use crate::engine::local::sampling::MIN_TEMPERATURE;
use crate::engine::{Engine, Role};
use crate::i18n::Language;
use crate::seam::{ChannelKey, Incoming, Outbox};
use crate::store::{ChannelSettings, SamplingOverrides, SeedChoice};
use crate::translate::TextLanguage;
use crate::Result;

/// One command being run: the bot, the message that carried it, and where to answer.
struct Call<'a> {
    inner: &'a Arc<BotContext>,
    message: &'a Incoming,
    /// The language the answer is in.
    lang: Language,
    outbox: &'a Arc<dyn Outbox>,
}

impl Call<'_> {
    /// The channel, locked and loaded.
    async fn channel(&self) -> Result<OpenChannel> {
        let inner = self.inner;
        inner.channels.open(&self.message.key, &inner.store).await
    }

    /// Change the channel's settings under its lock: `change` edits a copy and returns the
    /// reply, or `Err(reply)` to leave them as they were. A changed copy is saved; with
    /// `rerender` the system prompt is rendered again for the next answer.
    async fn change_settings(
        &self,
        rerender: bool,
        change: impl FnOnce(&mut ChannelSettings) -> std::result::Result<String, String>,
    ) -> Result<String> {
        let mut channel = self.channel().await?;
        let mut settings = channel.settings.clone();
        let reply = match change(&mut settings) {
            Ok(reply) => reply,
            Err(refusal) => return Ok(refusal),
        };
        if settings != channel.settings {
            let key = &self.message.key;
            channel
                .save_settings(key, &self.inner.store, settings)
                .await?;
            if rerender {
                channel.conversation.system = None;
            }
        }
        Ok(reply)
    }
}

/// Run `cmd`, carried by `message`, and answer through `outbox`.
pub(super) async fn run(
    inner: &Arc<BotContext>,
    cmd: Command,
    message: &Incoming,
    lang: Language,
    outbox: &Arc<dyn Outbox>,
) -> Result<()> {
    debug!(command = cmd.name(), "command");
    let call = Call {
        inner,
        message,
        lang,
        outbox,
    };
    if cmd.changes_channel() && !inner.may_change_channel(message) {
        debug!("a group member may not change the chat");
        let reply_to = Some(message.message_id.as_str());
        say(
            outbox.as_ref(),
            &message.key,
            reply_to,
            &replies::group_admins_only(lang),
        )
        .await;
        return Ok(());
    }
    let reply = match cmd {
        Command::Help => {
            let group_rule =
                !message.is_direct && inner.settings().bot.group_settings == GroupSettings::Admins;
            commands::help_text(lang, inner.is_admin(message), group_rule)
        }
        Command::Reset => reset(&call).await?,
        Command::Retry => match retry(&call).await? {
            Some(reply) => reply,
            // Queued: the answer is the reply.
            None => return Ok(()),
        },
        Command::Mode(None) => list_modes(&call).await?,
        Command::Mode(Some(name)) => set_mode(&call, name).await?,
        Command::Model(None) => list_models(&call).await?,
        Command::Model(Some(name)) => set_model(&call, name).await?,
        Command::System(None) => show_system(&call).await?,
        Command::System(Some(text)) => set_system(&call, text).await?,
        Command::Remember(arg) => remember(&call, arg).await?,
        Command::Translate(arg) => translate(&call, arg).await?,
        Command::Tr(to) => return translate_on_demand(inner, to, message, lang, outbox).await,
        Command::Set(None) => show_settings(&call).await?,
        Command::Set(Some(setting)) => set(&call, setting).await?,
        Command::Stats => stats(&call).await?,
        Command::Why => {
            let replied_to = message.reply_to.as_ref().map(|r| r.message_id.as_str());
            super::why::why(inner, &message.key, replied_to, lang).await?
        }
        Command::Cancel => cancel(&call),
        Command::Forget(arg) => super::privacy::forget(inner, message, arg, lang).await?,
        Command::Export => super::privacy::export(inner, message, lang, outbox).await?,
        Command::Privacy => super::privacy::privacy(inner, lang),
    };
    let reply_to = Some(message.message_id.as_str());
    say(outbox.as_ref(), &message.key, reply_to, &reply).await;
    Ok(())
}

/// `/reset`: stop the answer being written, delete the conversation (store, memory, the
/// engines' caches of its answers and translations).
async fn reset(call: &Call<'_>) -> Result<String> {
    let (inner, key) = (call.inner, &call.message.key);
    inner.scheduler.cancel(key);
    let mut channel = call.channel().await?;
    inner.store.clear_channel(key).await?;
    channel.conversation.reset();
    let conversation = conversation_id(key);
    inner.models.forget(&conversation);
    inner.models.forget(&format!("{conversation}#translate"));
    Ok(replies::reset(call.lang))
}

/// `/retry`: drop the last answer and answer the last question again. `None` once queued.
async fn retry(call: &Call<'_>) -> Result<Option<String>> {
    let (inner, key) = (call.inner, &call.message.key);
    if inner.scheduler.is_busy(key) {
        return Ok(Some(replies::still_answering(call.lang)));
    }
    let mut channel = call.channel().await?;
    let turns = &channel.conversation.turns;
    if turns.last().is_some_and(|t| t.role == Role::Assistant) {
        inner.store.delete_last_assistant_turn(key).await?;
        channel.conversation.turns.pop();
    }
    let last_question = channel
        .conversation
        .turns
        .last()
        .filter(|t| t.role == Role::User)
        .map(|t| t.text.clone());
    let prompt = last_question.and_then(|text| prompt_for(&channel, &text));
    drop(channel);
    match prompt {
        Some(prompt) => {
            submit(
                inner,
                call.message,
                call.lang,
                call.outbox.clone(),
                prompt,
                None,
            )
            .await;
            Ok(None)
        }
        None => Ok(Some(replies::nothing_to_retry(call.lang))),
    }
}

/// `/mode`: the personas, the current one marked.
async fn list_modes(call: &Call<'_>) -> Result<String> {
    let inner = call.inner;
    let current = call
        .channel()
        .await?
        .settings
        .mode
        .clone()
        .unwrap_or_else(|| inner.settings().prompts.default_mode.clone());
    let personas = &inner.personas;
    let modes = personas
        .names()
        .into_iter()
        .map(|name| (name, personas.describe(name).unwrap_or("")));
    Ok(replies::modes(call.lang, &current, modes))
}

/// `/mode NAME`: switch persona; the next answer renders it.
async fn set_mode(call: &Call<'_>, name: String) -> Result<String> {
    let personas = &call.inner.personas;
    if !personas.contains(&name) {
        let known = personas.names().join(", ");
        return Ok(replies::unknown_mode(call.lang, &name, &known));
    }
    call.change_settings(true, |s| {
        s.mode = Some(name.clone());
        Ok(replies::mode_set(call.lang, &name))
    })
    .await
}

/// `/model`: the models, the channel's current one marked.
async fn list_models(call: &Call<'_>) -> Result<String> {
    let inner = call.inner;
    let chosen = call.channel().await?.settings.model.clone();
    let models = &inner.models;
    let current = models.choice_or_default(chosen.as_deref()).name.clone();
    let kind = inner.settings().engine.kind;
    let listed = models
        .choices()
        .iter()
        .map(|c| (c.name.as_str(), shown_source(c, kind)));
    Ok(replies::models(call.lang, &current, listed))
}

/// What `/model` shows of a model: the server's name for it, the Hub spec, or the file name
/// (never a local folder).
fn shown_source(choice: &ModelChoice, kind: EngineKind) -> String {
    if kind == EngineKind::Openai {
        return choice.server_name().to_string();
    }
    if choice.source.starts_with(crate::hub::SPEC_PREFIX) {
        return choice.source.clone();
    }
    std::path::Path::new(&choice.source)
        .file_name()
        .map_or_else(|| choice.name.clone(), |f| f.to_string_lossy().into_owned())
}

/// `/model NAME`: load it, then switch the channel to it. The engines' caches of the
/// conversation go (they hold the old model's view of it); the persona is rendered again, as
/// the model may bring its own.
async fn set_model(call: &Call<'_>, name: String) -> Result<String> {
    let inner = call.inner;
    let Some(choice) = inner.models.choice(&name) else {
        let known = inner.models.names().join(", ");
        return Ok(replies::unknown_model(call.lang, &name, &known));
    };
    let name = choice.name.clone();
    let (models, loading) = (inner.models.clone(), name.clone());
    let loaded = match tokio::task::spawn_blocking(move || models.engine(&loading)).await {
        Ok(loaded) => loaded,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    if let Err(e) = loaded {
        warn!(model = %name, error = %e, "model could not be loaded");
        return Ok(replies::model_unavailable(call.lang, &name));
    }
    let reply = call
        .change_settings(true, |s| {
            s.model = Some(name.clone());
            Ok(replies::model_set(call.lang, &name))
        })
        .await?;
    let conversation = conversation_id(&call.message.key);
    inner.models.forget(&conversation);
    inner.models.forget(&format!("{conversation}#translate"));
    Ok(reply)
}

/// `/system`: the system prompt in use.
async fn show_system(call: &Call<'_>) -> Result<String> {
    let engine = call.inner.channel_engine(&call.message.key).await?;
    let mut channel = call.channel().await?;
    let origin = Origin::of(call.message, call.lang);
    let text = call.inner.system_prompt(
        &mut channel,
        &call.message.key,
        Some(&origin),
        engine.as_ref(),
    );
    Ok(replies::system_prompt(call.lang, &text))
}

/// `/system TEXT` (admins): this chat's system prompt; `off` goes back to the persona's.
async fn set_system(call: &Call<'_>, text: String) -> Result<String> {
    if !call.inner.is_admin(call.message) {
        return Ok(replies::admins_only(call.lang));
    }
    let clear = matches!(
        text.trim().to_lowercase().as_str(),
        "off" | "reset" | "default"
    );
    let engine = call.inner.channel_engine(&call.message.key).await?;
    let engine = engine.as_ref();
    let (tokens, budget) = (pinned_tokens(engine, &text, &[]), pinned_budget(engine));
    if !clear && tokens > budget {
        return Ok(replies::system_too_long(call.lang, tokens, budget));
    }
    call.change_settings(true, |s| {
        s.system = (!clear).then_some(text);
        Ok(if clear {
            replies::system_cleared(call.lang)
        } else {
            replies::system_set(call.lang)
        })
    })
    .await
}

/// `/remember`: list, pin, unpin or clear the chat's notes (they live in the system prompt).
async fn remember(call: &Call<'_>, arg: RememberArg) -> Result<String> {
    let origin = Origin::of(call.message, call.lang);
    let engine = call.inner.channel_engine(&call.message.key).await?;
    call.change_settings(true, |s| {
        if let RememberArg::Add(text) = &arg {
            if s.notes.len() < commands::MAX_NOTES {
                let pinned = Pinned {
                    engine: engine.as_ref(),
                    key: &call.message.key,
                    origin: &origin,
                };
                note_fits(call.inner, s, text, &pinned)?;
            }
        }
        let author = &call.message.author.id;
        let notes_by = &mut s.notes_by;
        let notes = &mut s.notes;
        Ok(match arg {
            RememberArg::List if notes.is_empty() => replies::no_notes(call.lang),
            RememberArg::List => replies::notes(call.lang, notes),
            RememberArg::Add(_) if notes.len() >= commands::MAX_NOTES => {
                replies::notes_full(call.lang, commands::MAX_NOTES)
            }
            RememberArg::Add(text) => {
                notes.push(text);
                notes_by.push(author.clone());
                replies::note_added(call.lang, notes.len())
            }
            RememberArg::Delete(n) if n > notes.len() => {
                replies::no_such_note(call.lang, n, notes.len())
            }
            RememberArg::Delete(n) => {
                let text = notes.remove(n - 1);
                if n <= notes_by.len() {
                    notes_by.remove(n - 1);
                }
                replies::note_deleted(call.lang, n, &text)
            }
            RememberArg::Clear => {
                notes.clear();
                notes_by.clear();
                replies::notes_cleared(call.lang)
            }
        })
    })
    .await
}

/// Where pinned text is measured: the channel's engine, for its chat.
struct Pinned<'a> {
    engine: &'a dyn Engine,
    key: &'a ChannelKey,
    origin: &'a Origin,
}

/// Whether the note `text` fits in the chat's pinned budget next to its system prompt and
/// notes; `Err` is the refusal, saying how much room is left.
fn note_fits(
    inner: &BotContext,
    settings: &ChannelSettings,
    text: &str,
    pinned: &Pinned<'_>,
) -> std::result::Result<(), String> {
    let engine = pinned.engine;
    let base = inner.pinned_base(settings, pinned.key, Some(pinned.origin));
    let now = pinned_tokens(engine, &base, &settings.notes);
    let mut notes = settings.notes.clone();
    notes.push(text.to_string());
    let with_note = pinned_tokens(engine, &base, &notes);
    let budget = pinned_budget(engine);
    if with_note <= budget {
        return Ok(());
    }
    let room = budget.saturating_sub(now);
    Err(replies::note_too_long(
        pinned.origin.lang,
        with_note.saturating_sub(now),
        room,
    ))
}

/// `/translate`: show, stop, or translate every message into one language or between two.
async fn translate(call: &Call<'_>, arg: TranslateArg) -> Result<String> {
    // The persona's languages change with it, but the conversation keeps its system prompt.
    let lang = call.lang;
    call.change_settings(false, |s| {
        Ok(match arg {
            TranslateArg::Show => {
                let names: Vec<String> = s
                    .translate
                    .iter()
                    .filter_map(|c| TextLanguage::from_code(c))
                    .map(|l| replies::language_name(lang, l))
                    .collect();
                let joined = replies::languages(lang, &names);
                replies::translate_status(call.lang, (!names.is_empty()).then_some(&joined))
            }
            TranslateArg::Off => {
                s.translate.clear();
                replies::translate_off(call.lang)
            }
            TranslateArg::Langs(langs) => {
                s.translate = langs.iter().map(|l| l.code().to_string()).collect();
                let names: Vec<String> = langs
                    .iter()
                    .map(|&l| replies::language_name(lang, l))
                    .collect();
                replies::translate_on(lang, &replies::languages(lang, &names), langs.len() > 1)
            }
        })
    })
    .await
}

/// `/set`: the chat's generation settings.
async fn show_settings(call: &Call<'_>) -> Result<String> {
    let channel = call.channel().await?;
    let params = channel.params(&call.inner.settings().sampling);
    Ok(replies::settings(
        call.lang,
        &params,
        &channel.settings.sampling,
    ))
}

/// `/set NAME VALUE` or `/set reset`, within the configured bounds.
async fn set(call: &Call<'_>, setting: Setting) -> Result<String> {
    let bounds = &call.inner.settings().sampling;
    call.change_settings(false, |s| {
        apply_setting(call.lang, setting, bounds, &mut s.sampling)
    })
    .await
}

/// `/stats`: what the next answer would see, and how fast the last one was.
async fn stats(call: &Call<'_>) -> Result<String> {
    let (inner, message) = (call.inner, call.message);
    let key = &message.key;
    let stored = inner.store.stats(key).await?;
    let origin = Origin::of(message, call.lang);
    let engine = inner.channel_engine(key).await?;
    let (window, params, _) = inner
        .build_window(key, message.is_direct, Some(&origin), &engine)
        .await?;
    let channel = call.channel().await?;
    let last = channel.conversation.last_window;
    let name = &inner
        .models
        .choice_or_default(channel.settings.model.as_deref())
        .name;
    let model = format!("{name} — {}", engine.describe());
    Ok(replies::stats(
        call.lang,
        stored.turns,
        &window,
        &params,
        last.as_ref(),
        &model,
    ))
}

/// `/cancel`: stop the answer being written.
fn cancel(call: &Call<'_>) -> String {
    if call.inner.scheduler.cancel(&call.message.key) {
        replies::cancelled(call.lang)
    } else {
        replies::nothing_to_cancel(call.lang)
    }
}

/// Apply a `/set` to a chat's overrides, within the configured bounds: the reply to send, or
/// why the value was refused (the overrides are then unchanged).
fn apply_setting(
    lang: Language,
    setting: Setting,
    bounds: &SamplingSettings,
    o: &mut SamplingOverrides,
) -> std::result::Result<String, String> {
    Ok(match setting {
        Setting::Reset => {
            *o = SamplingOverrides::default();
            replies::set_reset(lang)
        }
        Setting::Temperature(t) => {
            if !(t.is_finite() && (0.0..=bounds.temperature_max).contains(&t)) {
                let hi = replies::number(bounds.temperature_max);
                return Err(replies::out_of_bounds(lang, "temperature", "0", &hi));
            }
            // Below the sampler's floor the choice is greedy anyway: store what is meant.
            let t = if t < MIN_TEMPERATURE { 0.0 } else { t };
            o.temperature = Some(t);
            replies::set_done(lang, "temperature", &replies::number(t))
        }
        Setting::TopP(p) => {
            if !(p.is_finite() && p > 0.0 && p <= 1.0) {
                return Err(replies::out_of_bounds(
                    lang,
                    "top_p",
                    &replies::excluded(lang, "0"),
                    "1",
                ));
            }
            o.top_p = Some(p);
            replies::set_done(lang, "top_p", &replies::number(p))
        }
        Setting::MaxTokens(m) => {
            if !(1..=bounds.max_tokens_max).contains(&m) {
                let hi = bounds.max_tokens_max.to_string();
                return Err(replies::out_of_bounds(lang, "max_tokens", "1", &hi));
            }
            o.max_tokens = Some(m);
            replies::set_done(lang, "max_tokens", &m.to_string())
        }
        Setting::Seed(seed) => {
            o.seed = Some(seed.map_or(SeedChoice::Random, SeedChoice::Fixed));
            let shown = replies::seed(lang, seed);
            replies::set_done(lang, "seed", &shown)
        }
        Setting::Stop(stop) => {
            let shown = replies::stops(lang, &stop);
            o.stop = Some(stop);
            replies::set_done(lang, "stop", &shown)
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::bot::Bot;
    use crate::config::Settings;
    use crate::engine::scripted::ScriptedEngine;
    use crate::persona::Personas;
    use crate::seam::{ChannelKey, Handler, Outbox, Platform};
    use crate::store::Store;
    use crate::testing::{dm, RecordingOutbox};

    #[tokio::test]
    async fn two_remembers_at_once_keep_both_notes() {
        let settings = Settings::from_toml_str("[bot]\nmessages_per_minute = 0\n").unwrap();
        let engine = Arc::new(ScriptedEngine::new());
        let store = Store::in_memory().unwrap();
        let bot = Bot::new(&settings, engine, store.clone(), Personas::builtin())
            .await
            .unwrap();
        let out: Arc<dyn Outbox> = Arc::new(RecordingOutbox::new());
        // Load the channel first, so both commands meet at their settings.
        bot.handle(dm("d", "u", "/remember"), out.clone()).await;
        tokio::join!(
            bot.handle(dm("d", "u", "/remember the cat is Miso"), out.clone()),
            bot.handle(dm("d", "v", "/remember the dog is Rex"), out.clone()),
        );
        let key = ChannelKey::new(Platform::Test, "d");
        let notes = store.load_settings(&key).await.unwrap().notes;
        assert_eq!(notes.len(), 2, "{notes:?}");
    }
}
