//! Choosing the next token.
//!
//! [`Sampler`] wraps candle's seeded `LogitsProcessor` (temperature, top-k, top-p; greedy at
//! temperature 0) with a repeat penalty over the recent tokens. Stop strings are cut by the
//! engines' shared [`crate::engine::stop::StopFilter`].

use std::time::{SystemTime, UNIX_EPOCH};

use candle_core::Tensor;
use candle_transformers::generation::{LogitsProcessor, Sampling};

use crate::engine::SamplingParams;
use crate::{Error, Result};

/// Below this temperature sampling is greedy: dividing the logits by a tinier number overflows
/// them (a temperature of 1e-320 made every answer fail), and the choice is greedy anyway.
pub const MIN_TEMPERATURE: f64 = 0.01;

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
        let sampling = if t < MIN_TEMPERATURE {
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
        match self.processor.sample(&logits) {
            Ok(token) => Ok(token),
            Err(e) => {
                // Odd logits (NaN, overflow) must not cost the user their answer.
                tracing::warn!(error = %Error::from(e), "sampling failed; taking the likeliest token");
                super::model::transformer::argmax(&logits)
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vanishing_temperature_is_greedy_not_an_error() {
        let logits = Tensor::new(&[0.5f32, 3.0, 1.0, -2.0], &candle_core::Device::Cpu).unwrap();
        for t in [1e-320, 1e-9, 0.009] {
            let p = SamplingParams {
                temperature: t,
                top_k: 0,
                top_p: 1.0,
                repeat_penalty: 1.0,
                seed: Some(7),
                ..SamplingParams::default()
            };
            let mut s = Sampler::new(&p).expect("valid");
            assert_eq!(
                s.sample(&logits, &[]).expect("a token"),
                1,
                "temperature {t}"
            );
        }
    }

    #[test]
    fn logits_sampling_cannot_use_fall_back_to_the_likeliest_token_instead_of_failing() {
        let logits = Tensor::new(&[1.0f32, f32::INFINITY, 0.5], &candle_core::Device::Cpu).unwrap();
        let p = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            repeat_penalty: 1.0,
            seed: Some(7),
            ..SamplingParams::default()
        };
        let mut bare = LogitsProcessor::from_sampling(7, Sampling::All { temperature: 1.0 });
        assert!(
            bare.sample(&logits).is_err(),
            "candle alone fails on these logits"
        );
        let mut s = Sampler::new(&p).expect("valid");
        assert_eq!(s.sample(&logits, &[]).expect("a token"), 1);
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
