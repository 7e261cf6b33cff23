//! One chat answer: the request on the channel's model, and its stream into the platform.
//!
//! The stream shows "typing…" until the first text, edits no more often than the platform's
//! interval (through [`StreamRenderer`]), stops on `/cancel`, stores the answer durably, and
//! only then sends the final text.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::context::{say, BotContext};
use super::job::{note_not_saved, pump, Carrier, Origin, Streamed};
use super::{replies, why};
use crate::conversation::{conversation_id, ContextWindow};
use crate::engine::{Engine, FinishReason, GenerateRequest, Role};
use crate::metrics;
use crate::render::{Action, StreamRenderer};
use crate::seam::{ChannelKey, MessageRef, Outbox};
use crate::store::AnswerRecord;
use crate::Result;

/// A request ready for the engine, with what the answer's end needs.
struct Planned {
    request: GenerateRequest,
    /// The engine of the channel's model.
    engine: Arc<dyn Engine>,
    /// The window of a chat answer (for `/stats`).
    window: Option<ContextWindow>,
    /// The conversation's epoch when the request was built: a `/reset` bumps it.
    epoch: u64,
    /// What `/why` will tell about the answer, so far.
    record: AnswerRecord,
}

impl BotContext {
    /// The engine request for a chat answer, on the channel's model.
    async fn plan(&self, origin: &Origin) -> Result<Planned> {
        let key = &origin.key;
        let engine = self.channel_engine(key).await?;
        let (window, params, epoch) = self
            .build_window(key, origin.is_direct, Some(origin), &engine)
            .await?;
        let params = params.with_seed();
        let channel = self.channels.open(key, &self.store).await?;
        let record = self.record_for(engine.as_ref(), &channel, Some(&window), &params);
        let system = window.messages.first().filter(|m| m.role == Role::System);
        let shareable_bytes = system.map_or(0, |m| {
            self.shareable_bytes(&channel.settings, Some(origin), &m.content)
        });
        drop(channel);
        let request = GenerateRequest {
            conversation: conversation_id(key),
            messages: window.messages.clone(),
            params,
            shareable_bytes,
        };
        Ok(Planned {
            request,
            engine,
            window: Some(window),
            epoch,
            record,
        })
    }
}

/// Generate one answer and stream it into the platform. Runs as a scheduler job.
pub(super) async fn answer(
    inner: Arc<BotContext>,
    origin: Origin,
    outbox: Arc<dyn Outbox>,
    token: CancellationToken,
) {
    let key = &origin.key;
    let reply_to = Some(origin.message_id.as_str());
    let lang = origin.lang;
    let started = Instant::now();
    let Planned {
        request,
        engine,
        window,
        epoch,
        record,
    } = match inner.plan(&origin).await {
        Ok(p) => p,
        Err(e) => {
            warn!(channel = %key, error = %e, "could not prepare the answer");
            say(outbox.as_ref(), key, reply_to, &replies::engine_error(lang)).await;
            return;
        }
    };
    let _ = outbox.typing(key).await;
    let generation = match engine.generate(request) {
        Ok(g) => g,
        Err(e) => {
            warn!(channel = %key, error = %e, "engine refused the request");
            metrics::error("engine");
            say(outbox.as_ref(), key, reply_to, &replies::engine_error(lang)).await;
            return;
        }
    };
    let limits = outbox.limits();
    let mut stream = Stream {
        outbox: &outbox,
        origin: &origin,
        renderer: StreamRenderer::new(limits),
        sent: Vec::new(),
        ids: Vec::new(),
    };
    let streamed = pump(generation, &token, outbox.as_ref(), key, &mut stream).await;
    let cancelled = token.is_cancelled()
        || streamed
            .usage
            .as_ref()
            .is_some_and(|u| u.finish == Some(FinishReason::Cancelled));

    // Durable before the final text is shown.
    let partial = cancelled || streamed.failed;
    let saved = inner
        .keep_answer(&origin, epoch, window.as_ref(), &streamed, partial)
        .await;

    let actions = stream.renderer.finish(Instant::now());
    stream.apply(actions).await;
    let ended = Ended {
        streamed: &streamed,
        cancelled,
        started,
    };
    keep_record_and_count(&inner, key, &stream.ids, record, &ended).await;
    if streamed.failed {
        say(outbox.as_ref(), key, reply_to, &replies::engine_error(lang)).await;
    } else if stream.sent.is_empty() && !cancelled {
        say(outbox.as_ref(), key, reply_to, &replies::empty_answer(lang)).await;
    }
    if !saved {
        note_not_saved(outbox.as_ref(), &origin).await;
    }
}

/// How an answer's stream ended, for its record and the metrics.
struct Ended<'a> {
    streamed: &'a Streamed,
    cancelled: bool,
    started: Instant,
}

/// After the stream: keep the answer's `/why` record under every message it was sent as, and
/// count it in the metrics (answered, or an engine error).
async fn keep_record_and_count(
    inner: &BotContext,
    key: &ChannelKey,
    ids: &[String],
    mut record: AnswerRecord,
    end: &Ended<'_>,
) {
    let usage = end.streamed.usage.as_ref();
    why::finish_record(&mut record, usage, end.cancelled);
    if !ids.is_empty() {
        if let Err(e) = inner.store.keep_answer_record(key, ids, &record).await {
            warn!(channel = %key, error = %e, "could not keep the answer's record");
            metrics::error("store");
        }
    }
    match usage {
        Some(u) if !end.cancelled => metrics::answered(key.platform, u, end.started.elapsed()),
        Some(_) => {}
        None => metrics::error("engine"),
    }
}

/// An answer on its way into the platform.
struct Stream<'a> {
    outbox: &'a Arc<dyn Outbox>,
    origin: &'a Origin,
    renderer: StreamRenderer,
    /// The messages sent so far, by part.
    sent: Vec<Option<MessageRef>>,
    /// The platform ids of every message the answer was sent as.
    ids: Vec<String>,
}

impl Carrier for Stream<'_> {
    async fn delta(&mut self, text: &str) {
        let actions = self.renderer.push(text, Instant::now());
        self.apply(actions).await;
    }

    fn next_due(&self) -> Option<Instant> {
        self.renderer.next_due()
    }

    async fn tick(&mut self, now: Instant) {
        let actions = self.renderer.tick(now);
        self.apply(actions).await;
    }

    fn shows_text(&self) -> bool {
        !self.sent.is_empty()
    }
}

impl Stream<'_> {
    /// Carry out the renderer's actions on the platform.
    async fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            if let Err(e) = self.carry_out(&action).await {
                warn!(channel = %self.origin.key, error = %e, "platform call failed");
                metrics::error("platform");
                self.renderer.failed(&action);
            }
        }
    }

    /// One action: the first part replies to the user's message, later parts follow it.
    async fn carry_out(&mut self, action: &Action) -> Result<()> {
        let origin = self.origin;
        match action {
            Action::Send { part, text } => {
                let reply_to = (*part == 0).then_some(origin.message_id.as_str());
                let r = self.outbox.send(&origin.key, text, reply_to).await?;
                self.ids.push(r.id.clone());
                if self.sent.len() <= *part {
                    self.sent.resize(*part + 1, None);
                }
                self.sent[*part] = Some(r);
                Ok(())
            }
            Action::Edit { part, text } => match self.sent.get(*part).cloned().flatten() {
                Some(r) => self.outbox.edit(&r, text).await,
                None => Ok(()),
            },
            Action::Append(text) => {
                let reply_to = self.sent.is_empty().then_some(origin.message_id.as_str());
                let r = self.outbox.send(&origin.key, text, reply_to).await?;
                self.ids.push(r.id.clone());
                if self.sent.is_empty() {
                    self.sent.push(Some(r));
                }
                Ok(())
            }
        }
    }
}
