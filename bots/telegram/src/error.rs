//! The one error type of parley-telegram.

/// Everything that can stop the Telegram adapter.
///
/// Messages are written for the operator reading the start-up error or the log; chat users never
/// see them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `TELOXIDE_TOKEN` is not set.
    #[error(
        "TELOXIDE_TOKEN is not set.\n  \
         Create a bot by talking to @BotFather in Telegram (send /newbot, pick a name and a \
         username ending in `bot`),\n  \
         then start Parley with the token it gives you: TELOXIDE_TOKEN=123456:ABC... parley-telegram"
    )]
    MissingToken,
    /// `TELOXIDE_API_URL` is set but is not a URL.
    #[error("TELOXIDE_API_URL `{value}` is not a valid URL: {reason}")]
    BadApiUrl {
        /// What was set.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The configuration file or environment could not be read, or a key is unknown or has
    /// the wrong type (the core's loader names it).
    #[error("{0}")]
    Config(#[from] parley_core::Error),
    /// A `[telegram]` setting has a value the adapter cannot use.
    #[error("config: `telegram.{key}`: {reason}")]
    Setting {
        /// The key inside `[telegram]`.
        key: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// Telegram refused the token.
    #[error(
        "Telegram rejected the bot token (Unauthorized).\n  \
         Check TELOXIDE_TOKEN, or ask @BotFather for the current token with /token"
    )]
    InvalidToken,
    /// A Bot API call failed for good (after retries). The text has the token redacted.
    #[error("Telegram API: {0}")]
    Api(String),
    /// A chat or message id that is not a Telegram id (the core handed back a foreign key).
    #[error("not a Telegram id: `{0}`")]
    BadId(String),
}

/// Result with the adapter's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
