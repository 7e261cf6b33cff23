//! Loading a GGUF model: weights, tokenizer and chat template, all from the one file.
//!
//! [`Model::load`] reads `general.architecture` (llama, qwen2, qwen3 or gemma3), builds the
//! [`Transformer`] (immutable, shared), the [`ModelTokenizer`] from `tokenizer.ggml.*`
//! (byte-level BPE or SentencePiece), and the [`ChatTemplate`] from `tokenizer.chat_template`
//! (ChatML when absent).
//! [`Model::encode_chat`] turns a message list into prompt ids with user text kept plain.

mod attention;
pub mod gguf_check;
pub mod kernels;
mod spm;
pub mod template;
pub mod tokenizer;
pub mod transformer;

/// Values for the model rooms' unit tests.
#[cfg(test)]
pub(crate) mod test_values {
    /// Deterministic pseudo-random values in [-1, 1).
    pub(crate) fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use template::{ChatTemplate, Segment};
pub use tokenizer::{ModelTokenizer, TextStream};
pub use transformer::{Arch, KvCache, ModelConfig, Transformer, WeightFormat};

use crate::engine::ChatMessage;
use crate::{Error, Result};

/// A loaded model: everything needed to turn messages into ids and ids into logits.
#[derive(Debug, Clone)]
pub struct Model {
    /// The network (shared, immutable).
    pub transformer: Arc<Transformer>,
    /// The tokenizer.
    pub tokenizer: Arc<ModelTokenizer>,
    /// The chat template.
    pub template: Arc<ChatTemplate>,
    /// `general.name`, or the file name.
    pub name: String,
    /// Where it was loaded from.
    pub path: PathBuf,
}

impl Model {
    /// Load a GGUF file. A file that would crash the loader fails this load, never the
    /// process.
    pub fn load(path: &Path, format: WeightFormat) -> Result<Self> {
        std::panic::catch_unwind(|| Self::read_file(path, format)).unwrap_or_else(|_| {
            Err(Error::ModelCorrupt {
                path: path.to_path_buf(),
                reason: "loading it crashed the loader".into(),
            })
        })
    }

    /// [`Model::load`] without the guard.
    fn read_file(path: &Path, format: WeightFormat) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        let corrupt = |reason: String| Error::ModelCorrupt {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path)?;
        let file_len = file.metadata()?.len();
        let mut reader = std::io::BufReader::new(file);
        let ct = gguf_check::read(&mut reader).map_err(corrupt)?;
        let arch_name = ct
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .ok_or_else(|| corrupt("no general.architecture".into()))?;
        let arch = Arch::from_gguf(&arch_name)?;
        let cfg = ModelConfig::from_gguf(&ct, arch)?;
        gguf_check::check(&ct, &cfg, file_len).map_err(corrupt)?;
        let tokenizer = ModelTokenizer::from_gguf(&ct)?;
        let transformer =
            Transformer::from_gguf(&ct, &mut reader, cfg, format).map_err(|e| match e {
                Error::Unsupported(m) | Error::Tokenizer(m) => corrupt(m),
                Error::Candle(c) => corrupt(c.to_string()),
                other => other,
            })?;
        let token_text = |key: &str| {
            ct.metadata
                .get(key)
                .and_then(|v| v.to_u32().ok())
                .and_then(|id| tokenizer.special_text(id).map(str::to_string))
                .unwrap_or_default()
        };
        let source = ct
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| template::CHATML.to_string());
        let template = ChatTemplate::new(
            &source,
            &token_text("tokenizer.ggml.bos_token_id"),
            &token_text("tokenizer.ggml.eos_token_id"),
        )?;
        let name = ct
            .metadata
            .get("general.name")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
        Ok(Self {
            transformer: Arc::new(transformer),
            tokenizer: Arc::new(tokenizer),
            template: Arc::new(template),
            name,
            path: path.to_path_buf(),
        })
    }

    /// Prompt ids for `messages`, ending with the assistant's turn opener. Message text is
    /// encoded as plain text: it can never produce a control token.
    pub fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        let mut ids: Vec<u32> = self.tokenizer.bos_to_add().into_iter().collect();
        for seg in self.template.render(messages, true)? {
            match seg {
                Segment::Template(t) => ids.extend(self.tokenizer.encode_template(&t)?),
                Segment::Content(c) => ids.extend(self.tokenizer.encode_plain(&c)?),
            }
        }
        // Some templates start with the BOS text themselves.
        if let (Some(bos), [a, b, ..]) = (self.tokenizer.bos_to_add(), ids.as_slice()) {
            if *a == bos && *b == bos {
                ids.remove(0);
            }
        }
        Ok(ids)
    }

    /// Tokens the template adds around one message (measured, not guessed).
    pub fn message_overhead(&self) -> usize {
        use crate::engine::Role;
        let one = [ChatMessage::new(Role::User, "x")];
        let two = [
            ChatMessage::new(Role::User, "x"),
            ChatMessage::new(Role::Assistant, "x"),
        ];
        match (self.encode_chat(&one), self.encode_chat(&two)) {
            (Ok(a), Ok(b)) => b.len().saturating_sub(a.len()).saturating_sub(1).max(1),
            _ => 8,
        }
    }
}
