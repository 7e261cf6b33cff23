//! `[telegram]` settings, handed over typed by the core's loader
//! ([`parley_core::config::Settings::platform_section`]): config file + `PARLEY__TELEGRAM__*`
//! environment, admins from `bot.admins`; the token only from `TELOXIDE_TOKEN`.

use std::path::Path;
use std::time::Duration;

use parley_core::config::{comma_list, Settings};
use parley_core::outbound::{RetryPolicy, RetrySettings};
use parley_core::seam::Platform;
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
    #[serde(deserialize_with = "comma_list")]
    pub allowed_user_ids: Vec<i64>,
    /// Chats (groups, or private chats by user id) the bot answers in.
    #[serde(deserialize_with = "comma_list")]
    pub allowed_chat_ids: Vec<i64>,
    /// Users who are admins of the bot everywhere (and always allowed): the `telegram:ID`
    /// entries of `bot.admins`, filled in by the loader (not a key of `[telegram]`).
    #[serde(deserialize_with = "comma_list")]
    pub admin_user_ids: Vec<i64>,
    /// Whether administrators of a group are admins of the bot in that group.
    pub group_admins_are_admins: bool,
    /// How long a group's administrator list is cached, seconds.
    pub admin_cache_secs: u64,
    /// What someone not allowed gets told, verbatim; empty (the default): the catalogue's
    /// polite line in their language.
    pub refusal_text: String,
    /// Whether a group that is not allowed gets the refusal too (when the bot is addressed);
    /// otherwise the bot stays silent there.
    pub refuse_in_groups: bool,
    /// How Bot API calls are retried (`[telegram.retry]`, the keys every adapter shares).
    pub retry: RetrySettings,
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
            refusal_text: String::new(),
            refuse_in_groups: false,
            retry: RetrySettings::default(),
            register_commands: true,
            drop_pending_updates: false,
        }
    }
}

impl TelegramSettings {
    /// Read `[telegram]` from `config_file` (if it exists; a missing file means all defaults)
    /// and from the process environment (`PARLEY__TELEGRAM__KEY`, lists comma-separated).
    pub fn load(config_file: Option<&Path>) -> Result<Self> {
        Self::from_settings(&Settings::load(config_file)?)
    }

    /// Like [`TelegramSettings::load`], with the environment given as a map (for tests).
    pub fn load_from(
        config_file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self> {
        let settings = match env {
            Some(vars) => Settings::load_with_env(config_file, vars.into_iter().collect())?,
            None => Settings::load(config_file)?,
        };
        Self::from_settings(&settings)
    }

    /// `[telegram]` of settings the core has loaded, checked.
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        if settings.telegram.get("token").is_some() {
            return Err(Error::Setting {
                key: "token",
                reason: "the bot token is never read from the config file or PARLEY__ variables: \
                         remove it there and set TELOXIDE_TOKEN instead"
                    .to_owned(),
            });
        }
        let settings: TelegramSettings = settings.platform_section(Platform::Telegram)?;
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
        self.retry.validate(Platform::Telegram.as_str())?;
        Ok(())
    }

    /// How Bot API calls are retried.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry.policy()
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
                ("PARLEY__BOT__ADMINS", "telegram:7,discord:5,telegram:8"),
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

    #[test]
    fn retry_keys_are_shared_and_the_old_ones_still_work() {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        writeln!(f, "[telegram]\nmax_attempts = 3\nbackoff_max_ms = 900").unwrap();
        let s = TelegramSettings::load_from(
            Some(f.path()),
            env(&[("PARLEY__TELEGRAM__RETRY__BACKOFF_INITIAL_MS", "40")]),
        )
        .unwrap();
        assert_eq!(s.retry.max_attempts, 3);
        assert_eq!(s.retry.backoff_max_ms, 900);
        assert_eq!(s.retry.backoff_initial_ms, 40);
        assert_eq!(s.retry_policy().max_attempts, 3);
    }
}
