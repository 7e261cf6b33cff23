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
use std::time::Instant;

use tracing::{debug, info, warn};

use super::answer::{note_not_saved, Origin, Streamed, CANCEL_POLL, TYPING_REFRESH};
use super::{replies, say, Inner};
use crate::conversation::conversation_id;
use crate::engine::{
    CancelToken, ChatMessage, Engine, GenEvent, GenerateRequest, Generation, Role,
};
use crate::seam::Outbox;
use crate::translate::{
    strict_translation_prompt, strip_chatter, translation_fits, translation_prompt, Lang,
};
use crate::{Error, Result};

/// What to translate, and whether the translation joins the conversation.
pub(super) struct Translation {
    /// The message's text.
    pub(super) text: String,
    /// Its language, when detected.
    pub(super) from: Option<Lang>,
    /// The language asked for.
    pub(super) to: Lang,
    /// Store it as the bot's turn (translate mode) or not (on demand).
    pub(super) keep: bool,
}

/// How one attempt ended.
enum Attempt {
    /// The model's output, chatter stripped.
    Done(String),
    /// `/cancel` stopped it.
    Cancelled,
}

/// Translate `job` and post it as a reply to the origin's message, or say why not.
pub(super) async fn translate(
    inner: Arc<Inner>,
    origin: Origin,
    outbox: Arc<dyn Outbox>,
    job: Translation,
    token: CancelToken,
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

impl Inner {
    /// One try at the translation; `strict` is the retry: greedy, with the stricter prompt.
    async fn attempt(
        &self,
        origin: &Origin,
        job: &Translation,
        strict: bool,
        outbox: &dyn Outbox,
        token: &CancelToken,
    ) -> Result<Attempt> {
        let engine = self.channel_engine(&origin.key).await?;
        let request = self
            .translation_request(engine.as_ref(), origin, job, strict)
            .await?;
        let _ = outbox.typing(&origin.key).await;
        let generation = engine.generate(request)?;
        Ok(match collect(generation, token, outbox, origin).await? {
            Some(raw) => Attempt::Done(strip_chatter(&raw, &job.text)),
            None => Attempt::Cancelled,
        })
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

/// Everything the generation writes, showing "typing…" meanwhile; `None` when `/cancel`
/// stopped it.
async fn collect(
    mut generation: Generation,
    token: &CancelToken,
    outbox: &dyn Outbox,
    origin: &Origin,
) -> Result<Option<String>> {
    let stop = generation.cancel_token();
    let mut raw = String::new();
    let mut next_typing = Instant::now() + TYPING_REFRESH;
    loop {
        if token.is_cancelled() {
            stop.cancel();
        }
        match tokio::time::timeout(CANCEL_POLL, generation.next()).await {
            Err(_) => {
                if Instant::now() >= next_typing {
                    let _ = outbox.typing(&origin.key).await;
                    next_typing = Instant::now() + TYPING_REFRESH;
                }
            }
            Ok(Some(Ok(GenEvent::Delta(d)))) => raw.push_str(&d),
            Ok(Some(Ok(GenEvent::Done(_)))) => {
                return Ok((!token.is_cancelled()).then_some(raw));
            }
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => {
                debug!("generation ended without a result");
                return Err(Error::Remote("generation ended without a result".into()));
            }
        }
    }
}
