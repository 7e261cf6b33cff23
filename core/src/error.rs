//! The one error type of parley-core.

use std::path::PathBuf;

/// Everything that can go wrong inside the core.
///
/// Messages are written for the operator reading the log or the start-up error; users of the
/// chat never see them (the bot answers with a short, polite line instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file is not where the configuration says.
    #[error("model file not found: {path}\n  fetch the default model with: scripts/fetch-model.sh\n  or set model.path in config.toml to a GGUF file")]
    ModelMissing {
        /// The path that was looked at.
        path: PathBuf,
    },
    /// The model file exists but cannot be used.
    #[error("model file {path} is unusable: {reason}\n  re-fetch the default model with: rm {path} && scripts/fetch-model.sh")]
    ModelCorrupt {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The GGUF is valid but describes something Parley cannot run.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// Tokenizer construction or encoding failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template could not be parsed or rendered.
    #[error("chat template: {0}")]
    Template(String),
    /// A tensor operation failed (candle's message, without its backtrace: see [`From`]).
    #[error("model computation: {0}")]
    Candle(String),
    /// The request cannot be served as asked (too long, bad sampling values, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The prompt does not fit the model's context.
    #[error("prompt of {prompt} tokens does not fit the context of {context} tokens")]
    ContextOverflow {
        /// Prompt length in tokens.
        prompt: usize,
        /// Model context length in tokens.
        context: usize,
    },
    /// The engine has stopped (its thread ended) and takes no more requests.
    #[error("the engine is not running")]
    EngineStopped,
    /// A remote engine failed.
    #[error("remote engine: {0}")]
    Remote(String),
    /// A setting is missing or wrong.
    #[error("config: `{key}`: {reason}")]
    Config {
        /// The dotted key, e.g. `sampling.temperature`.
        key: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// Storage failed.
    #[error("store: {0}")]
    Store(String),
    /// A platform call failed for good (after retries).
    #[error("platform: {0}")]
    Platform(String),
    /// A persona prompt template is missing, unreadable or does not render.
    #[error("prompt `{name}`: {reason}")]
    Prompt {
        /// The persona, or the file or folder it was read from.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A model could not be had from the Hugging Face Hub.
    #[error("hub: {repo}: {reason}")]
    Hub {
        /// `owner/name`.
        repo: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The Hub repository has no file of the asked quantisation.
    #[error("hub: {repo} has no {asked} file; it has: {}", available.join(", "))]
    UnknownQuant {
        /// `owner/name`.
        repo: String,
        /// The quant asked for.
        asked: String,
        /// The quants the repository holds.
        available: Vec<String>,
    },
    /// A downloaded file's content is not what the Hub says it is; it was deleted.
    #[error("hub: {file} failed its checksum (sha256 {actual}, the Hub says {expected}); the download was deleted")]
    ChecksumMismatch {
        /// The file in the repository.
        file: String,
        /// The Hub's sha256.
        expected: String,
        /// The downloaded content's sha256.
        actual: String,
    },
    /// Input/output error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<candle_core::Error> for Error {
    /// Candle attaches a backtrace to its errors when `RUST_BACKTRACE` is set and prints it as
    /// part of the message. The message goes to warn logs and start-up errors in one line; the
    /// backtrace only to the debug log.
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(candle_message(e))
    }
}

/// Candle's error message with every attached backtrace logged at debug and left out.
fn candle_message(e: candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, backtrace } => {
            tracing::debug!(%backtrace, "model computation error backtrace");
            candle_message(*inner)
        }
        candle_core::Error::Context { inner, context } => {
            format!("{context}: {}", candle_message(*inner))
        }
        other => other.to_string(),
    }
}

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candle_errors_never_carry_their_backtrace_into_the_message() {
        let traced = candle_core::Error::WithBacktrace {
            inner: Box::new(candle_core::Error::Msg("shape mismatch".into())),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        assert!(traced.to_string().lines().count() > 1, "candle prints it");
        let message = Error::from(traced).to_string();
        assert_eq!(message, "model computation: shape mismatch");
    }
}
