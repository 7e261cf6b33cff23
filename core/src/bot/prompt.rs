//! Building a chat answer's prompt: the pinned text (the chat's `/system` override, or its
//! persona rendered for this chat, with the pinned notes that fit), the quote a question
//! replies to, and the context window of the conversation up to the question.

use std::sync::Arc;

use tracing::warn;

use super::channels::Channel;
use super::context::{now_unix, BotContext};
use super::job::Origin;
use super::replies;
use crate::conversation::{start_within_tokens, ContextWindow, Turn, WindowSpec};
use crate::engine::{Engine, Role, SamplingParams};
use crate::persona::PromptContext;
use crate::seam::{ChannelKey, RepliedTo};
use crate::store::ChannelSettings;
use crate::translate::TextLanguage;
use crate::Result;

impl BotContext {
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
    pub(super) fn shareable_bytes(
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
        let settings = self.settings();
        let model = self.models.choice_or_default(cs.model.as_deref());
        let mode = cs
            .mode
            .clone()
            .or_else(|| model.persona.clone())
            .unwrap_or_else(|| settings.prompts.default_mode.clone());
        let today = settings.prompts.clock(now_unix());
        let mut ctx = PromptContext::new(settings.bot.name.clone(), today);
        if let Some(o) = origin {
            ctx.is_group = !o.is_direct;
            ctx.channel_title = o.channel_title.clone();
            ctx.user_name = o.user_name.clone();
        }
        ctx.languages = cs
            .translate
            .iter()
            .filter_map(|c| TextLanguage::from_code(c))
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
}

/// Put the message a question replies to above the question (its last turn), so the model
/// sees what is pointed at. The quote gives way first: it gets at most a quarter of the
/// window and only what the system prompt and the question leave, keeping its start. Left out
/// when it is the bot's own message and still among the turns (replying to the bot's last
/// answer is how a group talks to it; the model has that answer already).
fn with_quote(
    engine: &dyn Engine,
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
