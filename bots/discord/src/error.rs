//! The one error type of parley-discord.

/// What can stop the Discord adapter. Messages are written for the operator: each says what to
/// do, most of them in the Discord developer portal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `DISCORD_TOKEN` is not set.
    #[error(
        "DISCORD_TOKEN is not set.\n  Create a bot at https://discord.com/developers/applications \
         (your application → Bot → Reset Token),\n  then run: DISCORD_TOKEN=... parley-discord"
    )]
    MissingToken,
    /// Discord refused the token (gateway close 4004 or REST 401).
    #[error(
        "Discord rejected the bot token.\n  Copy a fresh one from https://discord.com/developers/applications \
         (your application → Bot → Reset Token) into DISCORD_TOKEN"
    )]
    InvalidToken,
    /// The gateway closed with 4014: a privileged intent is not enabled for the application.
    #[error(
        "Discord refused the gateway intents (close code 4014).\n  Enable \"Message Content Intent\" at \
         https://discord.com/developers/applications → your application → Bot → Privileged Gateway Intents,\n  \
         then start parley-discord again"
    )]
    MessageContentIntentDisabled,
    /// The configuration file or environment could not be read, or a key is unknown or has
    /// the wrong type (the core's loader names it).
    #[error("{0}")]
    Config(#[from] parley_core::Error),
    /// A `[discord]` setting has a value the adapter cannot use.
    #[error("config: `discord.{key}`: {reason}")]
    Setting {
        /// The key inside `[discord]`.
        key: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The gateway or the client failed in another way.
    #[error("discord client: {0}")]
    Client(String),
}

/// Result with the adapter's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
