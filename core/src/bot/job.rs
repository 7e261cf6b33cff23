//! One job for the scheduler: what it answers ([`Origin`]), what answering means ([`Prompt`]:
//! the conversation, or one translation), the one pump that carries a generation's words out
//! ([`pump`]), and keeping what it wrote.
//!
//! The pump waits on three things at once in one `select!`: the engine's next words, the job's
//! [`CancellationToken`] (`/cancel`, shutdown), and the next moment something is due (an edit
//! the platform's interval held back, "typing…" to refresh). Nothing polls.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::channels::Channel;
use super::context::{now_unix, say, BotContext};
use super::replies;
use crate::conversation::{ContextWindow, Turn, WindowStats};
use crate::engine::{GenEvent, Generation, Usage};
use crate::i18n::Language;
use crate::seam::{ChannelKey, Incoming, Outbox, RepliedTo};
use crate::translate::{self, TextLanguage, TranslatePlan};

/// How long Telegram shows "typing…" after one call; refreshed a little before.
const TYPING_REFRESH: Duration = Duration::from_secs(4);

/// What one answer job produces.
pub(super) enum Prompt {
    /// Answer the conversation.
    Chat,
    /// Translate one message, without the history; `keep` stores the translation as the
    /// bot's turn (translate mode does, a translation on demand does not).
    Translate(Translation),
}

/// What to translate, and whether the translation joins the conversation.
pub(super) struct Translation {
    /// The message's text.
    pub(super) text: String,
    /// Its language, when detected.
    pub(super) from: Option<TextLanguage>,
    /// The language asked for.
    pub(super) to: TextLanguage,
    /// Store it as the bot's turn (translate mode) or not (on demand).
    pub(super) keep: bool,
}

/// What a job needs to know about the message it answers.
#[derive(Clone)]
pub(super) struct Origin {
    pub(super) key: ChannelKey,
    pub(super) message_id: String,
    /// The language the user is answered in where the bot speaks for itself.
    pub(super) lang: Language,
    pub(super) is_direct: bool,
    pub(super) channel_title: Option<String>,
    pub(super) user_name: String,
    /// The user turn this answer is for (author id, text, time): the window ends there, so an
    /// answer queued behind others in a group does not see later questions, nor answer them
    /// twice. `None` (after `/retry`): up to the newest turn.
    pub(super) upto: Option<(String, String, i64)>,
    /// The message the question replies to: shown with the question (see `prompt::with_quote`).
    pub(super) quote: Option<RepliedTo>,
}

impl Origin {
    /// The origin of an answer to `m` (in `lang`), seeing the conversation up to its newest turn.
    pub(super) fn of(m: &Incoming, lang: Language) -> Origin {
        Origin {
            key: m.key.clone(),
            message_id: m.message_id.clone(),
            lang,
            is_direct: m.is_direct,
            channel_title: m.channel_title.clone(),
            user_name: m.author.display_name.clone(),
            upto: None,
            quote: m.reply_to.clone(),
        }
    }
}

/// What answering `text` means in `channel`: the conversation, or (translate mode) a one-shot
/// translation; `None` when translate mode leaves it alone.
pub(super) fn prompt_for(channel: &Channel, text: &str) -> Option<Prompt> {
    let targets: Vec<TextLanguage> = channel
        .settings
        .translate
        .iter()
        .filter_map(|c| TextLanguage::from_code(c))
        .collect();
    if targets.is_empty() {
        return Some(Prompt::Chat);
    }
    match translate::plan(text, &targets) {
        TranslatePlan::Skip(why) => {
            debug!(?why, "not translated");
            None
        }
        TranslatePlan::Translate { from, to } => Some(Prompt::Translate(Translation {
            text: text.to_string(),
            from,
            to,
            keep: true,
        })),
    }
}

/// How the stream ended.
pub(super) struct Streamed {
    /// Everything the engine wrote.
    pub(super) raw: String,
    /// Its numbers, when it finished.
    pub(super) usage: Option<Usage>,
    /// Whether it failed.
    pub(super) failed: bool,
}

/// Where the pump carries a generation's words while it runs: the answer's stream on the
/// platform, or nowhere (a translation is shown whole, once checked).
pub(super) trait Carrier: Send {
    /// The engine wrote `text`.
    fn delta(&mut self, _text: &str) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// When the carrier next wants [`Carrier::tick`] (an edit held back); `None`: not before
    /// new text.
    fn next_due(&self) -> Option<Instant> {
        None
    }

    /// A moment [`Carrier::next_due`] named has come.
    fn tick(&mut self, _now: Instant) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Whether the user sees text already; until then the pump keeps "typing…" showing.
    fn shows_text(&self) -> bool {
        false
    }
}

/// A carrier that shows nothing until the end (translations).
pub(super) struct Hold;

impl Carrier for Hold {}

/// Carry `generation` into `carrier` until it ends, showing "typing…" in `key`'s chat until
/// the carrier shows text. A cancelled `token` stops the engine, which then ends the stream.
pub(super) async fn pump(
    mut generation: Generation,
    token: &CancellationToken,
    outbox: &dyn Outbox,
    key: &ChannelKey,
    carrier: &mut impl Carrier,
) -> Streamed {
    let stop = generation.cancel_token();
    let mut raw = String::new();
    let mut next_typing = Instant::now() + TYPING_REFRESH;
    let mut stopping = false;
    loop {
        let typing = (!carrier.shows_text()).then_some(next_typing);
        let wake = carrier.next_due().into_iter().chain(typing).min();
        tokio::select! {
            ev = generation.next() => {
                let (usage, failed) = match ev {
                    Some(Ok(GenEvent::Delta(d))) => {
                        raw.push_str(&d);
                        carrier.delta(&d).await;
                        continue;
                    }
                    Some(Ok(GenEvent::Done(u))) => (Some(u), false),
                    Some(Err(e)) => {
                        warn!(channel = %key, error = %e, "generation failed");
                        (None, true)
                    }
                    None => {
                        warn!(channel = %key, "generation ended without a result");
                        (None, true)
                    }
                };
                return Streamed { raw, usage, failed };
            },
            () = token.cancelled(), if !stopping => {
                stop.cancel();
                stopping = true;
            },
            () = sleep_until(wake) => {
                let now = Instant::now();
                if carrier.next_due().is_some_and(|d| d <= now) {
                    carrier.tick(now).await;
                }
                if !carrier.shows_text() && now >= next_typing {
                    let _ = outbox.typing(key).await;
                    next_typing = now + TYPING_REFRESH;
                }
            },
        }
    }
}

/// Sleep until `wake`; forever when there is nothing to wake for.
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl BotContext {
    /// Store a finished (or, `partial`, cut-off) answer, unless a `/reset` started a new
    /// conversation while it was written (the conversation's epoch moved), and keep the
    /// numbers `/stats` shows. `false` when the store refused it (the user is to be told).
    pub(super) async fn keep_answer(
        &self,
        origin: &Origin,
        epoch: u64,
        window: Option<&ContextWindow>,
        streamed: &Streamed,
        partial: bool,
    ) -> bool {
        let key = &origin.key;
        let mut channel = match self.channels.open(key, &self.store).await {
            Ok(c) => c,
            Err(e) => {
                warn!(channel = %key, error = %e, "could not load the channel to keep the answer");
                return false;
            }
        };
        let mut saved = true;
        if !streamed.raw.trim().is_empty() && channel.conversation.epoch == epoch {
            let turn = Turn::assistant(&streamed.raw, now_unix(), partial);
            // The question its window ended at: the one it answers (`None`: the newest turn).
            let answers = origin.upto.as_ref().map(|_| origin.message_id.as_str());
            if let Err(e) = self.store.append_answer(key, &turn, answers).await {
                warn!(channel = %key, error = %e, "could not store the answer");
                saved = false;
            }
            channel.conversation.push(turn);
        }
        if let (Some(u), Some(w)) = (&streamed.usage, window) {
            channel.conversation.last_window = Some(window_stats(w, u));
            debug!(
                prompt = u.prompt_tokens,
                cached = u.cached_tokens,
                completion = u.completion_tokens,
                "answer done"
            );
        }
        saved
    }
}

/// The numbers `/stats` shows about an answer.
fn window_stats(w: &ContextWindow, u: &Usage) -> WindowStats {
    let secs = u.decode.as_secs_f64();
    WindowStats {
        turns: w.turns,
        tokens: w.tokens,
        budget: w.budget,
        dropped: w.dropped,
        cached_tokens: u.cached_tokens,
        shared_tokens: u.shared_tokens,
        prompt_tokens: u.prompt_tokens,
        tokens_per_second: if secs > 0.0 {
            u.completion_tokens as f64 / secs
        } else {
            0.0
        },
    }
}

/// Tell the user that the answer they were shown could not be stored.
pub(super) async fn note_not_saved(outbox: &dyn Outbox, origin: &Origin) {
    let reply_to = Some(origin.message_id.as_str());
    let note = replies::not_saved_answer(origin.lang);
    say(outbox, &origin.key, reply_to, &note).await;
}
