//! `/why`: what the bot remembers about how each answer was made.
//!
//! Every answer gets an [`AnswerRecord`]: which model and persona, how much of the conversation
//! the window held, how the prompt's tokens split, why the answer stopped, the sampling settings
//! with the seed actually used, and how fast it came. It is stored with the answer (under each
//! platform message id the answer was sent as), so `/why` works after a restart, as a reply to
//! an answer or for the channel's newest one. It holds numbers and names only: no message text,
//! nothing of another channel, no server address (engines describe their model without one).

use super::channels::Channel;
use super::context::{now_unix, BotContext};
use super::replies;
use crate::conversation::ContextWindow;
use crate::engine::local::rate;
use crate::engine::{Engine, FinishReason, SamplingParams, Usage};
use crate::i18n::Language;
use crate::seam::ChannelKey;
use crate::store::{AnswerRecord, PromptSource, StopCause};

impl BotContext {
    /// The record of an answer about to be generated: the engine, the prompt's make-up (for a
    /// chat answer, from its `window`) and the sampling settings, seed included.
    pub(super) fn record_for(
        &self,
        engine: &dyn Engine,
        channel: &Channel,
        window: Option<&ContextWindow>,
        params: &SamplingParams,
    ) -> AnswerRecord {
        let cs = &channel.settings;
        let mut record = AnswerRecord {
            model: engine.describe(),
            engine: engine.kind().to_string(),
            notes_total: cs.notes.len(),
            temperature: params.temperature,
            top_p: params.top_p,
            top_k: params.top_k,
            max_tokens: params.max_tokens,
            repeat_penalty: params.repeat_penalty,
            seed: params.seed,
            stop_strings: params.stop.len(),
            ..AnswerRecord::default()
        };
        let Some(window) = window else {
            record.prompt_source = Some(PromptSource::Translation);
            return record;
        };
        (record.prompt_source, record.persona) = match &cs.system {
            Some(_) => (Some(PromptSource::System), String::new()),
            None => (
                Some(PromptSource::Persona),
                cs.mode
                    .clone()
                    .unwrap_or_else(|| self.settings().prompts.default_mode.clone()),
            ),
        };
        let messages = &window.messages;
        let cost = |text: &str| engine.count_tokens(text) + engine.message_overhead();
        let system = messages.first().map_or("", |m| m.content.as_str());
        // The notes block lists each note on a line of its own.
        record.notes_used = cs
            .notes
            .iter()
            .filter(|n| system.contains(&format!("\n- {n}")))
            .count();
        record.pinned_tokens = cost(system);
        record.new_tokens = match messages.len() {
            0 | 1 => 0,
            n => cost(&messages[n - 1].content),
        };
        record.history_tokens = window
            .tokens
            .saturating_sub(record.pinned_tokens + record.new_tokens);
        record.turns_included = window.turns.saturating_sub(1);
        record.turns_dropped = window.dropped;
        record
    }
}

/// Complete `record` with how the generation went: its `usage` (`None` when it failed) and
/// whether it was `cancelled`.
pub(super) fn finish_record(record: &mut AnswerRecord, usage: Option<&Usage>, cancelled: bool) {
    record.at = now_unix();
    let Some(u) = usage else {
        record.stop = Some(StopCause::Failed);
        return;
    };
    record.prompt_tokens = u.prompt_tokens;
    record.cached_tokens = u.cached_tokens;
    record.shared_tokens = u.shared_tokens;
    record.completion_tokens = u.completion_tokens;
    record.time_to_first_token_ms = u.time_to_first_token.as_millis() as u64;
    record.tokens_per_second = rate(u.completion_tokens, u.decode);
    record.stop = Some(match u.finish {
        _ if cancelled => StopCause::Cancelled,
        Some(FinishReason::Cancelled) => StopCause::Cancelled,
        Some(FinishReason::Length) => StopCause::MaxTokens,
        Some(FinishReason::Stop) if u.stop_string => StopCause::StopString,
        Some(FinishReason::Stop) | None => StopCause::EndOfTurn,
    });
}

/// `/why`: the record of the answer `replied_to` names (a reply to one of the bot's messages),
/// else of the channel's newest answer, as the text to send.
pub(super) async fn why(
    inner: &BotContext,
    key: &ChannelKey,
    replied_to: Option<&str>,
    lang: Language,
) -> crate::Result<String> {
    let record = inner.store.answer_record(key, replied_to).await?;
    Ok(match (record, replied_to) {
        (Some(r), _) => replies::why(lang, &r),
        (None, Some(_)) => replies::no_record(lang),
        (None, None) => replies::no_answer_yet(lang),
    })
}
