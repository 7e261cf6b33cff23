//! One answer: the request (persona, pinned notes, the context window) and the streaming loop
//! that carries the engine's words into the platform.
//!
//! The loop shows "typing…" until the first text, edits no more often than the platform's
//! interval (through [`StreamRenderer`]), watches for `/cancel`, stores the answer durably, and
//! only then sends the final text.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::channels::Channel;
use super::translation::{self, Translation};
use super::{now_unix, replies, say, why, Inner};
use crate::conversation::{
    conversation_id, start_within_tokens, ContextWindow, Turn, WindowSpec, WindowStats,
};
use crate::engine::{
    CancelToken, Engine, FinishReason, GenEvent, GenerateRequest, Generation, Role, SamplingParams,
    Usage,
};
use crate::i18n::Language;
use crate::metrics;
use crate::persona::PromptContext;
use crate::render::{Action, StreamRenderer};
use crate::seam::{ChannelKey, Incoming, MessageRef, Outbox, RepliedTo};
use crate::store::{AnswerRecord, ChannelSettings};
use crate::translate::{self, Lang, TranslatePlan};
use crate::Result;

/// How long Telegram shows "typing…" after one call; refreshed a little before.
pub(super) const TYPING_REFRESH: Duration = Duration::from_secs(4);
/// How often a streaming answer checks for `/cancel` while nothing else happens.
pub(super) const CANCEL_POLL: Duration = Duration::from_millis(20);

/// What one answer job produces.
pub(super) enum Prompt {
    /// Answer the conversation.
    Chat,
    /// Translate one message, without the history; `keep` stores the translation as the
    /// bot's turn (translate mode does, a translation on demand does not).
    Translate(Translation),
}

/// What a job needs to know about the message it answers.
#[derive(Clone)]
pub(super) struct Origin {
    pub(super) key: ChannelKey,
    pub(super) message_id: String,
    /// The language the user is answered in where the bot speaks for itself.
    pub(super) lang: Language,
    is_direct: bool,
    channel_title: Option<String>,
    user_name: String,
    /// The user turn this answer is for (author id, text, time): the window ends there, so an
    /// answer queued behind others in a group does not see later questions, nor answer them
    /// twice. `None` (after `/retry`): up to the newest turn.
    pub(super) upto: Option<(String, String, i64)>,
    /// The message the question replies to: shown with the question (see [`with_quote`]).
    quote: Option<RepliedTo>,
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

/// How the stream ended.
pub(super) struct Streamed {
    /// Everything the engine wrote.
    pub(super) raw: String,
    /// Its numbers, when it finished.
    pub(super) usage: Option<Usage>,
    /// Whether it failed.
    pub(super) failed: bool,
}

/// What answering `text` means in `channel`: the conversation, or (translate mode) a one-shot
/// translation; `None` when translate mode leaves it alone.
pub(super) fn prompt_for(channel: &Channel, text: &str) -> Option<Prompt> {
    let targets: Vec<Lang> = channel
        .settings
        .translate
        .iter()
        .filter_map(|c| Lang::from_code(c))
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

impl Inner {
    /// The engine of the channel's model (`/model`, else the default), loaded on the blocking
    /// pool when it is not loaded.
    pub(super) async fn channel_engine(&self, key: &ChannelKey) -> Result<Arc<dyn Engine>> {
        let chosen = self
            .channels
            .open(key, &self.store)
            .await?
            .settings
            .model
            .clone();
        let name = self
            .models
            .choice_or_default(chosen.as_deref())
            .name
            .clone();
        if let Some(engine) = self.models.loaded(&name) {
            return Ok(engine);
        }
        let models = self.models.clone();
        match tokio::task::spawn_blocking(move || models.engine(&name)).await {
            Ok(loaded) => loaded,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// The channel's system prompt: its `/system` override verbatim, or its persona rendered
    /// once per conversation (kept until reset or a change of mode), with the pinned notes
    /// that fit `engine`'s context.
    pub(super) fn system_prompt(
        &self,
        channel: &mut Channel,
        key: &ChannelKey,
        origin: Option<&Origin>,
        engine: &dyn Engine,
    ) -> String {
        if let Some(s) = &channel.conversation.system {
            return s.clone();
        }
        let text = self.pinned_base(&channel.settings, key, origin);
        let notes = self.notes_that_fit(&text, &channel.settings.notes, engine);
        channel
            .conversation
            .system
            .get_or_insert(text + &notes)
            .clone()
    }

    /// The pinned text under the notes: the chat's `/system` override, or its persona rendered
    /// for this chat.
    pub(super) fn pinned_base(
        &self,
        settings: &ChannelSettings,
        key: &ChannelKey,
        origin: Option<&Origin>,
    ) -> String {
        match &settings.system {
            Some(s) => s.clone(),
            None => self.persona_prompt(settings, key, origin),
        }
    }

    /// The notes block for `notes` pinned under `text`: the newest notes that keep what is
    /// pinned within [`pinned_budget`].
    fn notes_that_fit(&self, text: &str, notes: &[String], engine: &dyn Engine) -> String {
        let budget = pinned_budget(engine);
        let mut from = 0;
        while from < notes.len() {
            if pinned_tokens(engine, text, &notes[from..]) <= budget {
                break;
            }
            from += 1;
        }
        if from > 0 {
            warn!(
                left_out = from,
                budget, "pinned notes over the pinned budget; the oldest are left out"
            );
        }
        if from == notes.len() {
            return String::new();
        }
        replies::notes_block(&notes[from..])
    }

    /// The channel's persona (`/mode`, else its model's, else the default), rendered for this
    /// chat.
    fn persona_prompt(
        &self,
        cs: &ChannelSettings,
        key: &ChannelKey,
        origin: Option<&Origin>,
    ) -> String {
        let (mode, ctx) = self.persona_context(cs, origin);
        match self.personas.render(&mode, &ctx) {
            Ok(t) => t,
            Err(e) => {
                warn!(channel = %key, error = %e, "persona failed; using the default");
                self.personas
                    .render(crate::persona::DEFAULT_PERSONA, &ctx)
                    .unwrap_or_else(|_| {
                        format!("You are {}, a helpful assistant.", self.settings().bot.name)
                    })
            }
        }
    }

    /// How many leading bytes of `system` (the chat's system prompt) hold nothing from any
    /// user: its persona's text before the first name or title. A `/system` text holds none.
    fn shareable_bytes(
        &self,
        cs: &ChannelSettings,
        origin: Option<&Origin>,
        system: &str,
    ) -> usize {
        if cs.system.is_some() {
            return 0;
        }
        let (mode, ctx) = self.persona_context(cs, origin);
        self.personas.user_free_start(&mode, &ctx, system)
    }

    /// The persona the chat uses and what its template sees.
    fn persona_context(
        &self,
        cs: &ChannelSettings,
        origin: Option<&Origin>,
    ) -> (String, PromptContext) {
        let model = self.models.choice_or_default(cs.model.as_deref());
        let mode = cs
            .mode
            .clone()
            .or_else(|| model.persona.clone())
            .unwrap_or_else(|| self.settings().prompts.default_mode.clone());
        let today = self.settings().prompts.clock(now_unix());
        let mut ctx = PromptContext::new(self.settings().bot.name.clone(), today);
        if let Some(o) = origin {
            ctx.is_group = !o.is_direct;
            ctx.channel_title = o.channel_title.clone();
            ctx.user_name = o.user_name.clone();
        }
        ctx.languages = cs
            .translate
            .iter()
            .filter_map(|c| Lang::from_code(c))
            .map(|l| l.name().to_string())
            .collect();
        (mode, ctx)
    }

    /// Build the channel's window, with the parameters of its answer and the conversation's
    /// epoch. The turns are copied out under the channel's lock and measured on the blocking
    /// pool without it: counting tokens is real tokenizer work, and the channel's next message
    /// must not wait for it.
    pub(super) async fn build_window(
        &self,
        key: &ChannelKey,
        is_direct: bool,
        origin: Option<&Origin>,
        engine: &Arc<dyn Engine>,
    ) -> Result<(ContextWindow, SamplingParams, u64)> {
        let mut channel = self.channels.open(key, &self.store).await?;
        let system = self.system_prompt(&mut channel, key, origin, engine.as_ref());
        let params = channel.params(&self.settings().sampling);
        let c = &channel.conversation;
        let end = origin
            .and_then(|o| o.upto.as_ref())
            .and_then(|(author, text, at)| {
                c.turns.iter().rposition(|t| {
                    t.role == Role::User && t.author_id == *author && t.text == *text && t.at == *at
                })
            })
            .map_or(c.turns.len(), |i| i + 1);
        let (mut turns, start, epoch) = (c.turns[..end].to_vec(), c.window_start, c.epoch);
        drop(channel);
        let engine = engine.clone();
        let group_context_turns = self.settings().bot.group_context_turns;
        let max_tokens = params.max_tokens;
        // The quote goes with the question it came with, never with a later window.
        let quote = origin
            .filter(|o| o.upto.is_some() && end > 0)
            .and_then(|o| o.quote.clone());
        let build = move || {
            if let Some(q) = &quote {
                with_quote(engine.as_ref(), &mut turns, q, &system, max_tokens);
            }
            let spec = WindowSpec {
                system: &system,
                group: !is_direct,
                max_tokens,
                group_context_turns,
                start,
            };
            ContextWindow::build(engine.as_ref(), &turns, spec)
        };
        let window = match tokio::task::spawn_blocking(build).await {
            Ok(w) => w,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let mut channel = self.channels.open(key, &self.store).await?;
        if channel.conversation.epoch == epoch {
            channel.conversation.window_start = window.start;
        }
        Ok((window, params, epoch))
    }

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

/// Put the message a question replies to above the question (its last turn), so the model
/// sees what is pointed at. The quote gives way first: it gets at most a quarter of the
/// window and only what the system prompt and the question leave, keeping its start. Left out
/// when it is the bot's own message and still among the turns (replying to the bot's last
/// answer is how a group talks to it; the model has that answer already).
fn with_quote(
    engine: &dyn crate::engine::Engine,
    turns: &mut [Turn],
    quote: &RepliedTo,
    system: &str,
    max_tokens: usize,
) {
    let Some((question, earlier)) = turns.split_last_mut() else {
        return;
    };
    let probe: String = quote.text.trim().chars().take(200).collect();
    let known = quote.is_bot
        && earlier
            .iter()
            .any(|t| t.role == Role::Assistant && t.text.contains(&probe));
    if known || probe.is_empty() {
        return;
    }
    let budget = engine.context_len().saturating_sub(max_tokens);
    let cost = |t: &str| engine.count_tokens(t) + engine.message_overhead();
    let room = budget.saturating_sub(cost(system) + cost(&question.text));
    let frame = engine.count_tokens(&replies::quote_block(
        &quote.author_name,
        quote.is_bot,
        "",
        true,
    ));
    let share = (budget / 4).min(room).saturating_sub(frame);
    let start = start_within_tokens(engine, quote.text.trim(), share);
    let text = start.as_deref().unwrap_or(quote.text.trim());
    let block = replies::quote_block(&quote.author_name, quote.is_bot, text, start.is_some());
    question.text = format!("{block}\n{}", question.text);
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

/// Generate one answer and stream it into the platform. Runs as a scheduler job.
pub(super) async fn answer(
    inner: Arc<Inner>,
    origin: Origin,
    outbox: Arc<dyn Outbox>,
    prompt: Prompt,
    token: CancelToken,
) {
    if let Prompt::Translate(job) = prompt {
        return translation::translate(inner, origin, outbox, job, token).await;
    }
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
    let streamed = stream.run(generation, &token).await;
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

/// Tell the user that the answer they were shown could not be stored.
pub(super) async fn note_not_saved(outbox: &dyn Outbox, origin: &Origin) {
    let reply_to = Some(origin.message_id.as_str());
    let note = replies::not_saved_answer(origin.lang);
    say(outbox, &origin.key, reply_to, &note).await;
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
    inner: &Inner,
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

impl Stream<'_> {
    /// Carry the generation into the platform until it ends; `/cancel` (the job's `token`)
    /// stops the engine, which then ends the stream.
    async fn run(&mut self, mut generation: Generation, token: &CancelToken) -> Streamed {
        let key = &self.origin.key;
        let gen_cancel = generation.cancel_token();
        let mut raw = String::new();
        let mut next_typing = Instant::now() + TYPING_REFRESH;
        loop {
            if token.is_cancelled() {
                gen_cancel.cancel();
            }
            let due = self.renderer.next_due();
            let typing = self.sent.is_empty().then_some(next_typing);
            let wake = [Some(Instant::now() + CANCEL_POLL), due, typing]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + CANCEL_POLL);
            tokio::select! {
                ev = generation.next() => {
                    let (usage, failed) = match ev {
                        Some(Ok(GenEvent::Delta(d))) => {
                            raw.push_str(&d);
                            let actions = self.renderer.push(&d, Instant::now());
                            self.apply(actions).await;
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
                _ = tokio::time::sleep_until(wake.into()) => {
                    self.tick(due, &mut next_typing).await;
                }
            }
        }
    }

    /// Nothing came from the engine for a while: send a due edit, refresh "typing…".
    async fn tick(&mut self, due: Option<Instant>, next_typing: &mut Instant) {
        let now = Instant::now();
        if due.is_some_and(|d| d <= now) {
            let actions = self.renderer.tick(now);
            self.apply(actions).await;
        }
        if self.sent.is_empty() && now >= *next_typing {
            let _ = self.outbox.typing(&self.origin.key).await;
            *next_typing = now + TYPING_REFRESH;
        }
    }

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

/// The pinned budget in tokens: what is pinned (system prompt or persona, and notes) may take
/// at most a quarter of `engine`'s context, so stored state can never crowd the window out.
pub(super) fn pinned_budget(engine: &dyn Engine) -> usize {
    engine.context_len() / 4
}

/// The tokens `text` with `notes` pinned under it takes, by `engine`'s own count.
pub(super) fn pinned_tokens(engine: &dyn Engine, text: &str, notes: &[String]) -> usize {
    let block = if notes.is_empty() {
        String::new()
    } else {
        replies::notes_block(notes)
    };
    engine.count_tokens(&format!("{text}{block}"))
}
