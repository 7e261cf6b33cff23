//! Choosing the next token, and cutting the text at stop strings.
//!
//! [`Sampler`] wraps candle's seeded `LogitsProcessor` (temperature, top-k, top-p; greedy at
//! temperature 0) with a repeat penalty over the recent tokens. [`StopFilter`] holds back text
//! that might be the start of a stop string, so a stop string is never emitted, not even partly.

use std::time::{SystemTime, UNIX_EPOCH};

use candle_core::Tensor;
use candle_transformers::generation::{LogitsProcessor, Sampling};

use crate::engine::SamplingParams;
use crate::{Error, Result};

/// Picks tokens according to [`SamplingParams`].
pub struct Sampler {
    processor: LogitsProcessor,
    repeat_penalty: f32,
    repeat_last_n: usize,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("repeat_penalty", &self.repeat_penalty)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// Check `params` and build a sampler.
    pub fn new(params: &SamplingParams) -> Result<Self> {
        validate(params)?;
        let t = params.temperature;
        let sampling = if t <= 0.0 {
            Sampling::ArgMax
        } else {
            match (params.top_k, params.top_p < 1.0) {
                (0, false) => Sampling::All { temperature: t },
                (0, true) => Sampling::TopP {
                    p: params.top_p,
                    temperature: t,
                },
                (k, false) => Sampling::TopK { k, temperature: t },
                (k, true) => Sampling::TopKThenTopP {
                    k,
                    p: params.top_p,
                    temperature: t,
                },
            }
        };
        let seed = params.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x5eed)
        });
        Ok(Self {
            processor: LogitsProcessor::from_sampling(seed, sampling),
            repeat_penalty: params.repeat_penalty,
            repeat_last_n: params.repeat_last_n,
        })
    }

    /// Next token given `logits` and the ids so far (prompt and answer).
    pub fn sample(&mut self, logits: &Tensor, history: &[u32]) -> Result<u32> {
        let logits = if self.repeat_penalty != 1.0 && self.repeat_last_n > 0 {
            let from = history.len().saturating_sub(self.repeat_last_n);
            candle_transformers::utils::apply_repeat_penalty(
                logits,
                self.repeat_penalty,
                &history[from..],
            )?
        } else {
            logits.clone()
        };
        Ok(self.processor.sample(&logits)?)
    }
}

/// Reject values no model can use, with a message that names the setting.
pub fn validate(p: &SamplingParams) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidRequest(m));
    if !(0.0..=5.0).contains(&p.temperature) || p.temperature.is_nan() {
        return bad(format!(
            "temperature must be between 0 and 5, got {}",
            p.temperature
        ));
    }
    if !(p.top_p > 0.0 && p.top_p <= 1.0) {
        return bad(format!("top_p must be in (0, 1], got {}", p.top_p));
    }
    if !(p.repeat_penalty > 0.0 && p.repeat_penalty <= 5.0) {
        return bad(format!(
            "repeat_penalty must be in (0, 5], got {}",
            p.repeat_penalty
        ));
    }
    if p.max_tokens == 0 {
        return bad("max_tokens must be at least 1".into());
    }
    if p.stop.iter().any(String::is_empty) {
        return bad("stop strings must not be empty".into());
    }
    Ok(())
}

/// Cuts streamed text at the first stop string without ever emitting any part of it.
#[derive(Debug, Default)]
pub struct StopFilter {
    stops: Vec<String>,
    pending: String,
    stopped: bool,
}

impl StopFilter {
    /// A filter for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
            stopped: false,
        }
    }

    /// Whether a stop string was seen.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Feed more text; returns what can safely be shown now.
    pub fn push(&mut self, text: &str) -> String {
        if self.stopped {
            return String::new();
        }
        self.pending.push_str(text);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            self.stopped = true;
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return out;
        }
        // Hold back the longest suffix that is a proper prefix of some stop string.
        let mut keep_from = self.pending.len();
        for (i, _) in self.pending.char_indices().rev() {
            let tail = &self.pending[i..];
            if self.stops.iter().any(|s| s.starts_with(tail)) {
                keep_from = i;
            }
            if self.pending.len() - i >= self.longest_stop() {
                break;
            }
        }
        let out = self.pending[..keep_from].to_string();
        self.pending.drain(..keep_from);
        out
    }

    /// The end of the stream: release text held back (it was not a stop string after all).
    pub fn finish(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        std::mem::take(&mut self.pending)
    }

    fn longest_stop(&self) -> usize {
        self.stops.iter().map(String::len).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], parts: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut f = StopFilter::new(&stops);
        let mut out = String::new();
        for p in parts {
            out.push_str(&f.push(p));
        }
        out.push_str(&f.finish());
        (out, f.stopped())
    }

    #[test]
    fn stop_string_split_across_deltas_is_never_emitted() {
        assert_eq!(
            run(&["User:"], &["Hello ", "Us", "er", ": hi"]),
            ("Hello ".into(), true)
        );
    }

    #[test]
    fn held_back_text_is_released_when_it_is_not_a_stop() {
        assert_eq!(
            run(&["User:"], &["Hello Us", "ually"]),
            ("Hello Usually".into(), false)
        );
    }

    #[test]
    fn earliest_stop_wins() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".into(), true));
    }

    #[test]
    fn multibyte_text_is_held_on_char_boundaries() {
        assert_eq!(
            run(&["日本"], &["こんにちは日", "曜日"]),
            ("こんにちは日曜日".into(), false)
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        let p = SamplingParams {
            top_p: 0.0,
            ..SamplingParams::default()
        };
        let e = Sampler::new(&p).expect_err("top_p 0");
        assert!(e.to_string().contains("top_p"));
    }
}
