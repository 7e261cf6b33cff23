//! The model's tokenizer, built from the GGUF's own `tokenizer.ggml.*` metadata.
//!
//! Two rules matter:
//! - ids must equal llama.cpp's for the same file (tested against a fixture made with it);
//! - text that came from a person is always encoded as plain text: `<|im_start|>` typed by a
//!   user becomes the characters `<`, `|`, `im`, ... and never the control token. Only text the
//!   chat template itself produced goes through [`ModelTokenizer::encode_template`], which
//!   recognises control-token text.

use std::collections::HashSet;

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::spm::SpmTokenizer;
use crate::{Error, Result};

/// GGUF token type of control tokens (`<|im_start|>`, `</s>`, ...).
const TOKEN_TYPE_CONTROL: i64 = 3;

const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The text-to-ids part, by GGUF `tokenizer.ggml.model`.
#[derive(Debug, Clone)]
enum PlainTokenizer {
    /// Byte-level BPE (`gpt2`): SmolLM2, Llama 3, Qwen.
    Bpe(Box<Tokenizer>),
    /// SentencePiece (`llama`): Gemma, Llama 2.
    Spm(SpmTokenizer),
}

/// Tokenizer plus the special-token facts generation needs.
#[derive(Debug, Clone)]
pub struct ModelTokenizer {
    plain: PlainTokenizer,
    /// Control tokens as (text, id), longest text first.
    specials: Vec<(String, u32)>,
    special_ids: HashSet<u32>,
    bos: Option<u32>,
    add_bos: bool,
    eos: Vec<u32>,
}

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

fn strings(ct: &gguf_file::Content, key: &str) -> Result<Vec<String>> {
    let v = ct
        .metadata
        .get(key)
        .ok_or_else(|| Error::Tokenizer(format!("GGUF metadata `{key}` is missing")))?;
    v.to_vec()
        .map_err(tok_err)?
        .iter()
        .map(|x| x.to_string().cloned().map_err(tok_err))
        .collect()
}

fn int(v: &gguf_file::Value) -> Option<i64> {
    use gguf_file::Value::*;
    Some(match v {
        U8(x) => i64::from(*x),
        I8(x) => i64::from(*x),
        U16(x) => i64::from(*x),
        I16(x) => i64::from(*x),
        U32(x) => i64::from(*x),
        I32(x) => i64::from(*x),
        U64(x) => i64::try_from(*x).ok()?,
        I64(x) => *x,
        _ => return None,
    })
}

fn meta_u32(ct: &gguf_file::Content, key: &str) -> Option<u32> {
    ct.metadata
        .get(key)
        .and_then(int)
        .and_then(|x| u32::try_from(x).ok())
}

impl ModelTokenizer {
    /// Build the tokenizer described by the GGUF metadata.
    pub fn from_gguf(ct: &gguf_file::Content) -> Result<Self> {
        let model = ct
            .metadata
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let tokens = strings(ct, "tokenizer.ggml.tokens")?;
        let types: Vec<i64> = match ct.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(tok_err)?
                .iter()
                .map(|x| int(x).unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let plain = match model.as_str() {
            "llama" => PlainTokenizer::Spm(Self::spm(ct, &tokens, &types)?),
            other => {
                let mut bpe = match other {
                    "gpt2" => Self::bpe(ct, &tokens)?,
                    _ => {
                        use candle_core::quantized::tokenizer::TokenizerFromGguf;
                        Tokenizer::from_gguf(ct).map_err(tok_err)?
                    }
                };
                // Never match added/special tokens inside text: users' text is text.
                bpe.set_encode_special_tokens(true);
                PlainTokenizer::Bpe(Box::new(bpe))
            }
        };

        let mut specials: Vec<(String, u32)> = tokens
            .iter()
            .zip(&types)
            .enumerate()
            .filter(|(_, (_, t))| **t == TOKEN_TYPE_CONTROL)
            .filter_map(|(i, (s, _))| Some((s.clone(), u32::try_from(i).ok()?)))
            .filter(|(s, _)| !s.is_empty())
            .collect();
        specials.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        let special_ids = specials.iter().map(|(_, id)| *id).collect();
        let bos = meta_u32(ct, "tokenizer.ggml.bos_token_id");
        let add_bos = ct
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(model == "llama");
        let mut eos: Vec<u32> = meta_u32(ct, "tokenizer.ggml.eos_token_id")
            .into_iter()
            .collect();
        if let Some(eot) = meta_u32(ct, "tokenizer.ggml.eot_token_id") {
            eos.push(eot);
        }
        // Chat models end a turn with their end-of-turn marker even when the file's eos is
        // the document end token (SmolLM2: eos <|im_end|>; Qwen2: eos <|endoftext|>).
        for name in [
            "<|im_end|>",
            "<|eot_id|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
        ] {
            if let Some((_, id)) = specials.iter().find(|(s, _)| s == name) {
                if !eos.contains(id) {
                    eos.push(*id);
                }
            }
        }
        Ok(Self {
            plain,
            specials,
            special_ids,
            bos,
            add_bos,
            eos,
        })
    }

    fn spm(ct: &gguf_file::Content, tokens: &[String], types: &[i64]) -> Result<SpmTokenizer> {
        let scores: Vec<f32> = match ct.metadata.get("tokenizer.ggml.scores") {
            Some(v) => v
                .to_vec()
                .map_err(tok_err)?
                .iter()
                .map(|x| x.to_f32().unwrap_or(0.0))
                .collect(),
            None => vec![0.0; tokens.len()],
        };
        // llama.cpp's default for SentencePiece vocabularies is to add the space.
        let add_space_prefix = ct
            .metadata
            .get("tokenizer.ggml.add_space_prefix")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(true);
        Ok(SpmTokenizer::new(tokens, &scores, types, add_space_prefix))
    }

    fn bpe(ct: &gguf_file::Content, tokens: &[String]) -> Result<Tokenizer> {
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let merges = strings(ct, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| Error::Tokenizer(format!("bad merge `{m}`")))
            })
            .collect::<Result<Vec<_>>>()?;
        let pre = ct
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| "default".into());
        // Llama 3 takes a pre-tokenized word that is itself a token as is, without merging
        // (llama.cpp and the reference tokenizer both do): " Việt" is one token there.
        let llama3 = matches!(pre.as_str(), "llama3" | "llama-v3" | "llama-bpe");
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(llama3)
            .build()
            .map_err(tok_err)?;
        let split = |pattern: &str| -> Result<PreTokenizerWrapper> {
            let split = Split::new(
                SplitPattern::Regex(pattern.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(tok_err)?;
            Ok(Sequence::new(vec![
                split.into(),
                ByteLevel::new(false, false, false).into(),
            ])
            .into())
        };
        let pre_tokenizer: PreTokenizerWrapper = match pre.as_str() {
            // SmolLM: every digit on its own, then GPT-2's byte-level split.
            "smollm" => Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, false, true).into(),
            ])
            .into(),
            "qwen2" => split(QWEN2_PATTERN)?,
            "llama3" | "llama-bpe" | "llama-v3" | "smaug-bpe" => split(LLAMA3_PATTERN)?,
            _ => ByteLevel::new(false, false, true).into(),
        };
        let mut tk = Tokenizer::new(bpe);
        tk.with_pre_tokenizer(Some(pre_tokenizer));
        tk.with_decoder(Some(ByteLevelDecoder::default()));
        Ok(tk)
    }

    /// Encode text as plain text: control-token text stays text.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        Ok(match &self.plain {
            PlainTokenizer::Bpe(t) => t
                .encode_fast(text, false)
                .map_err(tok_err)?
                .get_ids()
                .to_vec(),
            PlainTokenizer::Spm(t) => t.encode(text),
        })
    }

    /// Encode text produced by the chat template: control-token text becomes control tokens,
    /// everything between is plain text.
    pub fn encode_template(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next = self
                .specials
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|at| (at, s.len(), *id)))
                .min_by_key(|(at, len, _)| (*at, std::cmp::Reverse(*len)));
            match next {
                Some((at, len, id)) => {
                    ids.extend(self.encode_plain(&rest[..at])?);
                    ids.push(id);
                    rest = &rest[at + len..];
                }
                None => {
                    ids.extend(self.encode_plain(rest)?);
                    break;
                }
            }
        }
        Ok(ids)
    }

    /// Decode ids to text, leaving control tokens out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let kept: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| !self.special_ids.contains(id))
            .collect();
        match &self.plain {
            PlainTokenizer::Bpe(t) => t.decode(&kept, false).map_err(tok_err),
            PlainTokenizer::Spm(t) => Ok(t.decode(&kept)),
        }
    }

    /// Whether `id` ends generation.
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos.contains(&id)
    }

    /// The end-of-generation ids.
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos
    }

    /// Whether `id` is a control token.
    pub fn is_special(&self, id: u32) -> bool {
        self.special_ids.contains(&id)
    }

    /// The beginning-of-sequence id to put before a prompt, when the model wants one.
    pub fn bos_to_add(&self) -> Option<u32> {
        if self.add_bos {
            self.bos
        } else {
            None
        }
    }

    /// Text of a control token id, if it is one.
    pub fn special_text(&self, id: u32) -> Option<&str> {
        self.specials
            .iter()
            .find(|(_, i)| *i == id)
            .map(|(s, _)| s.as_str())
    }

    /// Id of the control token with text `text`.
    pub fn special_id(&self, text: &str) -> Option<u32> {
        self.specials
            .iter()
            .find(|(s, _)| s == text)
            .map(|(_, id)| *id)
    }
}

/// Turns generated ids into text deltas that never split a UTF-8 character.
///
/// Byte-level tokens can end in the middle of a character (CJK, emoji); such a token decodes
/// to U+FFFD until the rest arrives, so text is held back until it decodes cleanly.
#[derive(Debug, Default)]
pub struct TextStream {
    ids: Vec<u32>,
    prev: usize,
    current: usize,
}

impl TextStream {
    /// Start a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one id; returns new text when some is complete.
    pub fn push(&mut self, tok: &ModelTokenizer, id: u32) -> Result<Option<String>> {
        if tok.is_special(id) {
            return Ok(None);
        }
        let prev_text = tok.decode(&self.ids[self.prev..self.current])?;
        self.ids.push(id);
        let text = tok.decode(&self.ids[self.prev..])?;
        if text.len() > prev_text.len() && !text.ends_with('\u{FFFD}') {
            let new = text
                .get(prev_text.len()..)
                .map(str::to_string)
                .unwrap_or_default();
            self.prev = self.current;
            self.current = self.ids.len();
            Ok(Some(new))
        } else {
            Ok(None)
        }
    }

    /// Whatever is still held back, without the incomplete character at the very end: when
    /// `max_tokens` cuts an answer inside a character, its first bytes are dropped rather than
    /// shown as U+FFFD.
    pub fn finish(&mut self, tok: &ModelTokenizer) -> Result<Option<String>> {
        let prev_text = tok.decode(&self.ids[self.prev..self.current])?;
        let text = tok.decode(&self.ids[self.prev..])?;
        self.prev = self.ids.len();
        self.current = self.ids.len();
        Ok(text
            .get(prev_text.len()..)
            .map(|s| s.trim_end_matches('\u{FFFD}'))
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }
}
