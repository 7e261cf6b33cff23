//! One request inside the local engine while it is being answered: its prompt fed in chunks,
//! then one sampled token per step, streamed through its own stop filter.
//!
//! Everything that makes a request's answer its own lives here (sampler and seed, stop
//! strings, `max_tokens`, the text stream, the usage figures), so the engine can step any
//! number of answers together and each one comes out exactly as it would alone.

use std::time::Instant;

use candle_core::Tensor;

use super::model::transformer::StepInput;
use super::model::{Model, TextStream};
use super::sampling::Sampler;
use super::{Entry, Job};
use crate::engine::stop::StopFilter;
use crate::engine::{FinishReason, GenEvent, Usage};
use crate::Result;

/// A request being answered: first its prompt, then its answer, token by token.
pub(super) struct Answer {
    pub(super) job: Job,
    /// The conversation's cache, taken out of the store while the answer runs.
    pub(super) entry: Entry,
    /// Prompt and answer so far (the repeat penalty looks at it).
    history: Vec<u32>,
    prompt_len: usize,
    /// The token sampled last, to run at the next step.
    next: Option<u32>,
    max_new: usize,
    sampler: Sampler,
    stream: TextStream,
    stops: StopFilter,
    pub(super) usage: Usage,
    admitted: Instant,
    decode_start: Option<Instant>,
    /// `/reset` came while it ran: its cache is dropped, not kept.
    pub(super) forget: bool,
}

impl Answer {
    /// Start answering `job` whose prompt is `prompt`, with `entry` holding the cached prefix.
    pub(super) fn new(
        job: Job,
        prompt: Vec<u32>,
        entry: Entry,
        context_len: usize,
    ) -> Result<Self> {
        let sampler = Sampler::new(&job.request.params)?;
        let stops = StopFilter::new(&job.request.params.stop);
        let max_new = job
            .request
            .params
            .max_tokens
            .min(context_len.saturating_sub(prompt.len()));
        let usage = Usage {
            prompt_tokens: prompt.len(),
            cached_tokens: entry.tokens.len(),
            ..Usage::default()
        };
        Ok(Self {
            job,
            entry,
            prompt_len: prompt.len(),
            history: prompt,
            next: None,
            max_new,
            sampler,
            stream: TextStream::new(),
            stops,
            usage,
            admitted: Instant::now(),
            decode_start: None,
            forget: false,
        })
    }

    /// The prompt's tokens.
    pub(super) fn prompt(&self) -> &[u32] {
        &self.history[..self.prompt_len]
    }

    /// Prompt tokens whose keys and values its cache holds.
    pub(super) fn cached(&self) -> usize {
        self.entry.tokens.len()
    }

    /// Take the keys and values of the first `len` tokens of `donor`, a cache of another
    /// conversation whose tokens start like this prompt, instead of running them (copied: each
    /// conversation's cache holds its own rows and counts in the KV budget).
    pub(super) fn adopt(&mut self, donor: &Entry, len: usize, model: &Model) -> Result<()> {
        model
            .transformer
            .copy_prefix(&donor.cache, len, &mut self.entry.cache)?;
        self.entry.tokens.clear();
        self.entry.tokens.extend_from_slice(&donor.tokens[..len]);
        // Only a start shorter than `len` of its own cache was there: the rest came shared.
        self.usage.shared_tokens = len.saturating_sub(self.usage.cached_tokens);
        Ok(())
    }

    /// Whether it is still running its prompt.
    pub(super) fn prefilling(&self) -> bool {
        self.next.is_none()
    }

    /// How many tokens run at the next step: the next chunk of at most `chunk` prompt tokens
    /// (chunks always start where the cache ends, so they fall the same way whatever else
    /// runs), or the one token sampled last.
    pub(super) fn pending(&self, chunk: usize) -> usize {
        match &self.next {
            Some(_) => 1,
            None => chunk.min(self.prompt_len - self.entry.tokens.len()),
        }
    }

    /// [`Answer::pending`] with the cache they run after, for a batched forward.
    pub(super) fn segment(&mut self, chunk: usize) -> StepInput<'_> {
        let tokens = match &self.next {
            Some(t) => std::slice::from_ref(t),
            None => {
                let from = self.entry.tokens.len();
                &self.history[from..self.prompt_len.min(from + chunk)]
            }
        };
        StepInput {
            tokens,
            cache: &mut self.entry.cache,
        }
    }

    /// The pending tokens went through the model and `logits` came out: note them, and once
    /// the prompt is done pick the next token. The reason the answer ends, if it does.
    pub(super) fn advance(
        &mut self,
        ran: usize,
        logits: &Tensor,
        model: &Model,
    ) -> Result<Option<FinishReason>> {
        match self.next.take() {
            Some(t) => self.entry.tokens.push(t),
            None => {
                let from = self.entry.tokens.len();
                self.entry
                    .tokens
                    .extend_from_slice(&self.history[from..from + ran]);
                if self.entry.tokens.len() < self.prompt_len {
                    return Ok(None);
                }
                self.usage.prefill = self.admitted.elapsed();
                self.decode_start = Some(Instant::now());
            }
        }
        self.sample(logits, model)
    }

    /// Sample, stream and check the ends of one token.
    fn sample(&mut self, logits: &Tensor, model: &Model) -> Result<Option<FinishReason>> {
        let next = self.sampler.sample(logits, &self.history)?;
        if self.usage.completion_tokens == 0 {
            self.usage.time_to_first_token = self.job.submitted.elapsed();
        }
        if model.tokenizer.is_eos(next) {
            return Ok(Some(FinishReason::Stop));
        }
        self.usage.completion_tokens += 1;
        self.history.push(next);
        if let Some(text) = self.stream.push(&model.tokenizer, next)? {
            self.job.emit(self.stops.push(&text).emit);
            if self.stops.stopped() {
                return Ok(Some(FinishReason::Stop));
            }
        }
        if self.usage.completion_tokens >= self.max_new {
            return Ok(Some(FinishReason::Length));
        }
        self.next = Some(next);
        Ok(None)
    }

    /// End the answer for `finish`: the text held back goes out (unless it was cancelled or a
    /// stop string cut it), then the usage.
    pub(super) fn finish(&mut self, finish: FinishReason, model: &Model) -> Result<()> {
        if !self.stops.stopped() && finish != FinishReason::Cancelled {
            if let Some(text) = self.stream.finish(&model.tokenizer)? {
                self.job.emit(self.stops.push(&text).emit);
            }
            self.job.emit(self.stops.finish());
        }
        if let Some(start) = self.decode_start {
            self.usage.decode = start.elapsed();
        } else {
            self.usage.prefill = self.admitted.elapsed();
        }
        self.usage.finish = Some(finish);
        self.usage.stop_string = self.stops.stopped();
        tracing::debug!(
            prompt = self.usage.prompt_tokens,
            cached = self.usage.cached_tokens,
            shared = self.usage.shared_tokens,
            completion = self.usage.completion_tokens,
            prefill_ms = self.usage.prefill.as_millis() as u64,
            decode_ms = self.usage.decode.as_millis() as u64,
            "generation done"
        );
        let _ = self.job.events.send(Ok(GenEvent::Done(self.usage.clone())));
        Ok(())
    }
}
