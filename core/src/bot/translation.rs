//! One translation (translate mode, `/tr`, a flag reaction): generated whole rather than
//! streamed, so that it is checked before anyone reads it.
//!
//! The model's chatter around the translation ("Here is the translation:", notes after it) is
//! stripped ([`strip_chatter`]); the language of what is left is detected with the same
//! detector translate mode plans with ([`translation_fits`]). Output in another language is
//! retried once, greedily, with a stricter instruction; when that is wrong too the user is
//! told that the model could not translate into that language, instead of being shown text
//! in the wrong one.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::context::{say, BotContext};
use super::job::{note_not_saved, pump, Hold, Origin, Streamed, Translation};
use super::replies;
use crate::conversation::conversation_id;
use crate::engine::{ChatMessage, Engine, GenerateRequest, Role};
use crate::i18n::Language;
use crate::seam::{Incoming, Outbox};
use crate::translate::{
    self, strict_translation_prompt, strip_chatter, translation_fits, translation_prompt,
    ContentKind, TextLanguage,
};
use crate::{Error, Result};

/// How one attempt ended.
enum Attempt {
    /// The model's output, chatter stripped.
    Done(String),
    /// `/cancel` stopped it.
    Cancelled,
}

/// Translate `job` and post it as a reply to the origin's message, or say why not.
pub(super) async fn translate(
    inner: Arc<BotContext>,
    origin: Origin,
    outbox: Arc<dyn Outbox>,
    job: Translation,
    token: CancellationToken,
) {
    let key = &origin.key;
    let reply_to = Some(origin.message_id.as_str());
    let lang = origin.lang;
    let epoch = match inner.channels.open(key, &inner.store).await {
        Ok(channel) => channel.conversation.epoch,
        Err(e) => {
            warn!(channel = %key, error = %e, "could not load the channel to translate");
            say(outbox.as_ref(), key, reply_to, &replies::engine_error(lang)).await;
            return;
        }
    };
    let mut translated = None;
    for strict in [false, true] {
        match inner
            .attempt(&origin, &job, strict, outbox.as_ref(), &token)
            .await
        {
            Ok(Attempt::Done(text)) if translation_fits(&text, job.to) => {
                translated = Some(text);
                break;
            }
            Ok(Attempt::Done(_)) => {
                info!(channel = %key, to = job.to.code(), strict, "translation came out in another language");
            }
            Ok(Attempt::Cancelled) => return,
            Err(e) => {
                warn!(channel = %key, error = %e, "translation failed");
                say(outbox.as_ref(), key, reply_to, &replies::engine_error(lang)).await;
                return;
            }
        }
    }
    let Some(text) = translated else {
        let refusal = replies::could_not_translate(lang, &replies::language_name(lang, job.to));
        say(outbox.as_ref(), key, reply_to, &refusal).await;
        return;
    };
    let mut saved = true;
    if job.keep {
        let streamed = Streamed {
            raw: text.clone(),
            usage: None,
            failed: false,
        };
        saved = inner
            .keep_answer(&origin, epoch, None, &streamed, false)
            .await;
    }
    say(outbox.as_ref(), key, reply_to, &text).await;
    if !saved {
        note_not_saved(outbox.as_ref(), &origin).await;
    }
}

impl BotContext {
    /// One try at the translation; `strict` is the retry: greedy, with the stricter prompt.
    async fn attempt(
        &self,
        origin: &Origin,
        job: &Translation,
        strict: bool,
        outbox: &dyn Outbox,
        token: &CancellationToken,
    ) -> Result<Attempt> {
        let engine = self.channel_engine(&origin.key).await?;
        let request = self
            .translation_request(engine.as_ref(), origin, job, strict)
            .await?;
        let _ = outbox.typing(&origin.key).await;
        let generation = engine.generate(request)?;
        let streamed = pump(generation, token, outbox, &origin.key, &mut Hold).await;
        if token.is_cancelled() {
            Ok(Attempt::Cancelled)
        } else if streamed.failed {
            Err(Error::Remote("the translation's generation failed".into()))
        } else {
            Ok(Attempt::Done(strip_chatter(&streamed.raw, &job.text)))
        }
    }

    /// The engine request translating `job` (not the conversation: the message alone).
    async fn translation_request(
        &self,
        engine: &dyn Engine,
        origin: &Origin,
        job: &Translation,
        strict: bool,
    ) -> Result<GenerateRequest> {
        let key = &origin.key;
        let mut params = self
            .channels
            .open(key, &self.store)
            .await?
            .params(&self.settings().sampling);
        // Translations should be faithful, not creative; the retry takes no chances.
        params.temperature = if strict {
            0.0
        } else {
            params.temperature.min(0.3)
        };
        // A translation is about as long as its source: a small model that keeps going after
        // it is done only adds noise.
        params.max_tokens = params
            .max_tokens
            .min(engine.count_tokens(&job.text) * 3 + 16);
        let system = if strict {
            strict_translation_prompt(job.from, job.to)
        } else {
            translation_prompt(job.from, job.to)
        };
        // The translation prompt is the bot's own text about two languages: others may share it.
        let shareable_bytes = system.len();
        Ok(GenerateRequest {
            conversation: format!("{}#translate", conversation_id(key)),
            messages: vec![
                ChatMessage::new(Role::System, system),
                ChatMessage::new(Role::User, job.text.clone()),
            ],
            params,
            shareable_bytes,
        })
    }
}

/// `/tr [call.lang]` as a reply, or a flag reaction: translate the message replied to, once,
/// into `asked`, else the chat's translate target, else the user's language, else English.
/// Returns the translation to queue like an answer (so it takes its turn and honours
/// `/cancel`), or `None` when the user was told why not; neither the request nor the
/// translation enters the conversation.
pub(super) async fn on_demand(
    inner: &BotContext,
    asked: Option<TextLanguage>,
    message: &Incoming,
    lang: Language,
    outbox: &dyn Outbox,
) -> Result<Option<Translation>> {
    let (key, reply_to) = (&message.key, Some(message.message_id.as_str()));
    let Some(source) = message
        .reply_to
        .as_ref()
        .map(|r| r.text.trim())
        .filter(|t| !t.is_empty())
    else {
        say(outbox, key, reply_to, &replies::tr_needs_reply(lang)).await;
        return Ok(None);
    };
    let chat_target = inner
        .channels
        .open(key, &inner.store)
        .await?
        .settings
        .translate
        .iter()
        .find_map(|c| TextLanguage::from_code(c));
    let users = message.language.as_deref().and_then(TextLanguage::parse);
    let to = asked
        .or(chat_target)
        .or(users)
        .or_else(|| TextLanguage::from_code("en"));
    let Some(to) = to else {
        return Ok(None);
    };
    let found = translate::detect(source);
    if found.kind != ContentKind::Text {
        say(outbox, key, reply_to, &replies::tr_nothing(lang)).await;
        return Ok(None);
    }
    if found.lang == Some(to) {
        say(
            outbox,
            key,
            reply_to,
            &replies::tr_already(lang, &replies::language_name(lang, to)),
        )
        .await;
        return Ok(None);
    }
    Ok(Some(Translation {
        text: source.to_string(),
        from: found.lang,
        to,
        keep: false,
    }))
}
