//! `[telegram]` settings: config file + `PARLEY__TELEGRAM__*` environment; the token only from
//! `TELOXIDE_TOKEN`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::{Error, Result};

/// How outgoing text is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ParseMode {
    /// No parse mode: text is shown exactly as sent and can never be rejected. The default.
    #[default]
    None,
    /// HTML: the text is escaped, Markdown code spans and fences become `<code>` / `<pre>`. If
    /// Telegram still rejects the entities, the message is resent as plain text.
    Html,
}

/// The `[telegram]` section of `config.toml`. Every key has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramSettings {
    /// Long-polling timeout for `getUpdates`, seconds (Telegram allows 0..=50).
    pub poll_timeout_secs: u32,
    /// Smallest gap between two edits in one chat, milliseconds.
    pub edit_interval_ms: u64,
    /// How outgoing text is formatted.
    pub parse_mode: ParseMode,
    /// Users who may talk to the bot (empty with `allowed_chat_ids` empty: everyone).
    pub allowed_user_ids: Vec<i64>,
    /// Chats (groups, or private chats by user id) the bot answers in.
    pub allowed_chat_ids: Vec<i64>,
    /// Users who are admins of the bot everywhere (and always allowed).
    pub admin_user_ids: Vec<i64>,
    /// Whether administrators of a group are admins of the bot in that group.
    pub group_admins_are_admins: bool,
    /// How long a group's administrator list is cached, seconds.
    pub admin_cache_secs: u64,
    /// What a user who is not allowed gets told in a private chat.
    pub refusal_text: String,
    /// Whether a group that is not allowed gets the refusal too (when the bot is addressed);
    /// otherwise the bot stays silent there.
    pub refuse_in_groups: bool,
    /// Attempts per Bot API call on network errors and 5xx before giving up.
    pub max_attempts: u32,
    /// First backoff after a failed call, milliseconds; doubles up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    /// Longest backoff, milliseconds.
    pub backoff_max_ms: u64,
    /// Longest `retry_after` (seconds) that is waited for; a call asked to wait longer fails.
    pub max_retry_after_secs: u64,
    /// Register the core's commands with `setMyCommands` at start.
    pub register_commands: bool,
    /// Skip messages that arrived while the bot was not running.
    pub drop_pending_updates: bool,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            poll_timeout_secs: 25,
            edit_interval_ms: 1000,
            parse_mode: ParseMode::None,
            allowed_user_ids: Vec::new(),
            allowed_chat_ids: Vec::new(),
            admin_user_ids: Vec::new(),
            group_admins_are_admins: true,
            admin_cache_secs: 300,
            refusal_text: "Sorry, this is a private bot: I only talk to people on its list."
                .to_owned(),
            refuse_in_groups: false,
            max_attempts: 5,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            max_retry_after_secs: 300,
            register_commands: true,
            drop_pending_updates: false,
        }
    }
}

/// The keys whose environment values are comma-separated lists.
const LIST_KEYS: [&str; 3] = ["allowed_user_ids", "allowed_chat_ids", "admin_user_ids"];

impl TelegramSettings {
    /// Read `[telegram]` from `config_file` (if it exists; a missing file means all defaults)
    /// and from the process environment (`PARLEY__TELEGRAM__KEY`, lists comma-separated).
    pub fn load(config_file: Option<&Path>) -> Result<Self> {
        Self::load_from(config_file, None)
    }

    /// Like [`TelegramSettings::load`], with the environment given as a map (for tests).
    pub fn load_from(
        config_file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(path) = config_file {
            builder = builder.add_source(config::File::from(path).required(false));
        }
        let mut environment = config::Environment::with_prefix("PARLEY")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",");
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(&format!("telegram.{key}"));
        }
        let environment = environment.source(env);
        let config = builder.add_source(environment).build()?;
        if config.get_string("telegram.token").is_ok() {
            return Err(Error::Setting {
                key: "token",
                reason: "the bot token is never read from the config file or PARLEY__ variables: \
                         remove it there and set TELOXIDE_TOKEN instead"
                    .to_owned(),
            });
        }
        let settings = match config.get::<TelegramSettings>("telegram") {
            Ok(s) => s,
            Err(config::ConfigError::NotFound(_)) => TelegramSettings::default(),
            Err(e) => return Err(e.into()),
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Check values serde cannot: ranges.
    pub fn validate(&self) -> Result<()> {
        if self.poll_timeout_secs > 50 {
            return Err(Error::Setting {
                key: "poll_timeout_secs",
                reason: format!("{} is above Telegram's limit of 50", self.poll_timeout_secs),
            });
        }
        if self.max_attempts == 0 {
            return Err(Error::Setting {
                key: "max_attempts",
                reason: "must be at least 1".to_owned(),
            });
        }
        if self.backoff_max_ms < self.backoff_initial_ms {
            return Err(Error::Setting {
                key: "backoff_max_ms",
                reason: format!(
                    "{} is below backoff_initial_ms ({})",
                    self.backoff_max_ms, self.backoff_initial_ms
                ),
            });
        }
        Ok(())
    }

    /// [`TelegramSettings::edit_interval_ms`] as a duration.
    pub fn edit_interval(&self) -> Duration {
        Duration::from_millis(self.edit_interval_ms)
    }
}

/// The bot token from `TELOXIDE_TOKEN` (teloxide's convention); never from the config file.
pub fn token_from_env() -> Result<String> {
    match std::env::var("TELOXIDE_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
        _ => Err(Error::MissingToken),
    }
}

/// The Bot API base from `TELOXIDE_API_URL`, when set (tests, self-hosted Bot API servers).
pub fn api_url_from_env() -> Result<Option<reqwest::Url>> {
    match std::env::var("TELOXIDE_API_URL") {
        Ok(v) if !v.trim().is_empty() => parse_api_url(v.trim()).map(Some),
        _ => Ok(None),
    }
}

/// Parse a Bot API base URL; a trailing slash is dropped (teloxide appends `/bot<TOKEN>/...`).
pub fn parse_api_url(value: &str) -> Result<reqwest::Url> {
    reqwest::Url::parse(value.trim_end_matches('/')).map_err(|e| Error::BadApiUrl {
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn missing_file_and_section_give_defaults() {
        let s = TelegramSettings::load_from(Some(Path::new("/nonexistent/config.toml")), env(&[]))
            .unwrap();
        assert_eq!(s, TelegramSettings::default());
    }

    #[test]
    fn file_values_and_env_overrides_are_read() {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(
            f,
            "[model]\npath = \"x\"\n[telegram]\nedit_interval_ms = 1500\nallowed_user_ids = [1, 2]\nparse_mode = \"html\""
        )
        .unwrap();
        let s = TelegramSettings::load_from(
            Some(f.path()),
            env(&[
                ("PARLEY__TELEGRAM__REFUSE_IN_GROUPS", "true"),
                ("PARLEY__TELEGRAM__ADMIN_USER_IDS", "7,8"),
                ("PARLEY__TELEGRAM__POLL_TIMEOUT_SECS", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(s.edit_interval_ms, 1500);
        assert_eq!(s.allowed_user_ids, vec![1, 2]);
        assert_eq!(s.parse_mode, ParseMode::Html);
        assert!(s.refuse_in_groups);
        assert_eq!(s.admin_user_ids, vec![7, 8]);
        assert_eq!(s.poll_timeout_secs, 3);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(f, "[telegram]\nedit_intervall_ms = 1500").unwrap();
        let err = TelegramSettings::load_from(Some(f.path()), env(&[])).unwrap_err();
        assert!(err.to_string().contains("edit_intervall_ms"), "{err}");
    }

    #[test]
    fn token_in_the_config_file_is_refused_with_a_pointer_to_the_env() {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(f, "[telegram]\ntoken = \"123:abc\"").unwrap();
        let err = TelegramSettings::load_from(Some(f.path()), env(&[])).unwrap_err();
        assert!(err.to_string().contains("TELOXIDE_TOKEN"), "{err}");
    }

    #[test]
    fn out_of_range_poll_timeout_is_rejected() {
        let err = TelegramSettings::load_from(
            None,
            env(&[("PARLEY__TELEGRAM__POLL_TIMEOUT_SECS", "90")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("telegram.poll_timeout_secs"),
            "{err}"
        );
    }

    #[test]
    fn missing_token_message_points_to_botfather() {
        assert!(Error::MissingToken.to_string().contains("@BotFather"));
    }

    #[test]
    fn api_url_trailing_slash_is_dropped() {
        // A base with a path: kept with the slash, teloxide's `bot<TOKEN>/<method>` segments
        // would follow an empty one (`/tg//bot…`).
        let u = parse_api_url("http://127.0.0.1:8081/tg/").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8081/tg");
        let mut method = u.clone();
        method
            .path_segments_mut()
            .unwrap()
            .push("botT")
            .push("getMe");
        assert_eq!(method.as_str(), "http://127.0.0.1:8081/tg/botT/getMe");
        let u = parse_api_url("http://127.0.0.1:8081//").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8081/");
        assert!(parse_api_url("not a url").is_err());
    }
}
