//! The `[discord]` section of `config.toml`.
//!
//! Handed over typed by the core's loader
//! ([`parley_core::config::Settings::platform_section`]): the config file, overridden by
//! environment variables `PARLEY__DISCORD__KEY` (for example
//! `PARLEY__DISCORD__EDIT_INTERVAL_MS=1500`, `PARLEY__DISCORD__ALLOWED_GUILD_IDS=1,2`), with
//! the admins from `bot.admins`. The bot token is never read from here: only from
//! `DISCORD_TOKEN`.

use std::path::Path;
use std::time::Duration;

use parley_core::config::{comma_list, Settings};
use parley_core::outbound::{RetryPolicy, RetrySettings};
use parley_core::seam::Platform;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Settings of the Discord adapter. Every key has a default; unknown keys are rejected so a typo
/// does not silently do nothing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordSettings {
    /// Register slash commands in these guilds only (instant, for development); empty: globally.
    #[serde(deserialize_with = "comma_list")]
    pub command_guild_ids: Vec<u64>,
    /// Register slash commands at start.
    pub register_commands: bool,
    /// Only answer in these guilds (empty: every guild the bot is in).
    #[serde(deserialize_with = "comma_list")]
    pub allowed_guild_ids: Vec<u64>,
    /// Only answer in these channels or threads under them (empty: every channel).
    #[serde(deserialize_with = "comma_list")]
    pub allowed_channel_ids: Vec<u64>,
    /// Only answer members with one of these roles (empty: no role needed).
    #[serde(deserialize_with = "comma_list")]
    pub allowed_role_ids: Vec<u64>,
    /// Only answer these users (empty: everyone). With `allowed_role_ids`, either one admits.
    #[serde(deserialize_with = "comma_list")]
    pub allowed_user_ids: Vec<u64>,
    /// Answer direct messages. With a user, role or guild list set, only from listed users
    /// (and admins), unless `direct_messages_from_members` also admits members.
    pub allow_direct_messages: bool,
    /// With a role or guild list set, also answer direct messages from members of an allowed
    /// guild who hold an allowed role (looked up through the REST API, cached for a while).
    pub direct_messages_from_members: bool,
    /// Users who may run admin commands everywhere (besides members with Manage Server): the
    /// `discord:ID` entries of `bot.admins`, filled in by the loader (not a key of `[discord]`).
    #[serde(deserialize_with = "comma_list")]
    pub admin_user_ids: Vec<u64>,
    /// Smallest gap between two edits in one channel, in milliseconds.
    pub edit_interval_ms: u64,
    /// How failed REST calls are retried (`[discord.retry]`, the keys every adapter shares).
    pub retry: RetrySettings,
    /// Gateway shards this process runs.
    pub shards: Shards,
}

/// Which gateway shards a process runs (`[discord] shards`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ShardsSetting")]
pub enum Shards {
    /// One shard, `[0, 1]`: enough below 2,500 guilds (`"single"`).
    #[default]
    Single,
    /// As many as Discord recommends for the bot (`GET /gateway/bot`), all in this process
    /// (`"auto"`).
    Auto,
    /// Shards `first .. first + count` of `total`, so several processes share one big bot
    /// (`{ first = 0, count = 2, total = 4 }`).
    Range {
        /// The first shard this process runs.
        first: u32,
        /// How many shards it runs.
        count: u32,
        /// Shards of the bot in all processes.
        total: u32,
    },
}

/// `shards` as written: a word or a table.
#[derive(Deserialize)]
#[serde(untagged)]
enum ShardsSetting {
    Word(String),
    Range { first: u32, count: u32, total: u32 },
}

impl TryFrom<ShardsSetting> for Shards {
    type Error = String;

    fn try_from(s: ShardsSetting) -> std::result::Result<Self, String> {
        match s {
            ShardsSetting::Word(w) => match w.trim().to_ascii_lowercase().as_str() {
                "single" | "one" | "" => Ok(Shards::Single),
                "auto" => Ok(Shards::Auto),
                other => Err(format!(
                    "\"single\", \"auto\" or {{ first, count, total }}, got {other:?}"
                )),
            },
            ShardsSetting::Range {
                first,
                count,
                total,
            } => {
                if count == 0 || first.checked_add(count).is_none_or(|end| end > total) {
                    return Err(format!(
                        "shards {first}..{} do not fit in a total of {total} (count at least 1)",
                        u64::from(first) + u64::from(count)
                    ));
                }
                Ok(Shards::Range {
                    first,
                    count,
                    total,
                })
            }
        }
    }
}

impl Default for DiscordSettings {
    fn default() -> Self {
        Self {
            command_guild_ids: Vec::new(),
            register_commands: true,
            allowed_guild_ids: Vec::new(),
            allowed_channel_ids: Vec::new(),
            allowed_role_ids: Vec::new(),
            allowed_user_ids: Vec::new(),
            allow_direct_messages: true,
            direct_messages_from_members: false,
            admin_user_ids: Vec::new(),
            edit_interval_ms: 1000,
            retry: RetrySettings::default(),
            shards: Shards::Single,
        }
    }
}

impl DiscordSettings {
    /// Load `[discord]` from `path` (a missing file means all defaults) and the environment.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_settings(&Settings::load(Some(path))?)
    }

    /// `[discord]` of settings the core has loaded, checked.
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        let section: Self = settings.platform_section(Platform::Discord)?;
        section.validate()?;
        Ok(section)
    }

    /// Check values serde cannot: ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.edit_interval_ms > 60_000 {
            return Err(Error::Setting {
                key: "edit_interval_ms",
                reason: format!("at most 60000, got {}", self.edit_interval_ms),
            });
        }
        self.retry.validate(Platform::Discord.as_str())?;
        Ok(())
    }

    /// How failed REST calls are retried: network errors and 5xx with backoff, 429s after
    /// their `retry_after` (or `retry.rate_limit_wait_ms` when serenity hides it).
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry.policy()
    }

    /// [`Self::edit_interval_ms`] as a duration.
    pub fn edit_interval(&self) -> Duration {
        Duration::from_millis(self.edit_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_single_auto_or_a_range_that_fits() {
        let read = |v: serde_json::Value| {
            serde_json::from_value::<DiscordSettings>(serde_json::json!({ "shards": v }))
                .map(|s| s.shards)
                .map_err(|e| e.to_string())
        };
        assert_eq!(read(serde_json::json!("auto")), Ok(Shards::Auto));
        assert_eq!(read(serde_json::json!("single")), Ok(Shards::Single));
        assert_eq!(
            read(serde_json::json!({ "first": 2, "count": 2, "total": 4 })),
            Ok(Shards::Range {
                first: 2,
                count: 2,
                total: 4
            })
        );
        assert!(read(serde_json::json!({ "first": 3, "count": 2, "total": 4 })).is_err());
        assert!(read(serde_json::json!({ "first": 0, "count": 0, "total": 4 })).is_err());
        assert!(read(serde_json::json!("many")).is_err());
    }

    #[test]
    fn missing_section_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[model]\npath = \"x.gguf\"\n").unwrap();
        assert_eq!(
            DiscordSettings::load(&path).unwrap(),
            DiscordSettings::default()
        );
    }

    #[test]
    fn id_lists_accept_one_number_or_a_comma_separated_string() {
        let one: DiscordSettings =
            serde_json::from_value(serde_json::json!({ "allowed_guild_ids": 5 })).unwrap();
        assert_eq!(one.allowed_guild_ids, vec![5]);
        let text: DiscordSettings =
            serde_json::from_value(serde_json::json!({ "admin_user_ids": "1, 2" })).unwrap();
        assert_eq!(text.admin_user_ids, vec![1, 2]);
        assert!(serde_json::from_value::<DiscordSettings>(
            serde_json::json!({ "admin_user_ids": "x" })
        )
        .is_err());
    }

    #[test]
    fn section_is_read_and_unknown_keys_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[discord]\nedit_interval_ms = 1500\ncommand_guild_ids = [123456789012345678]\n",
        )
        .unwrap();
        let s = DiscordSettings::load(&path).unwrap();
        assert_eq!(s.edit_interval_ms, 1500);
        assert_eq!(s.command_guild_ids, vec![123_456_789_012_345_678]);

        std::fs::write(&path, "[discord]\ntoken = \"secret\"\n").unwrap();
        let err = DiscordSettings::load(&path).unwrap_err().to_string();
        assert!(err.contains("token"), "{err}");
    }

    #[test]
    fn retry_keys_are_shared_and_the_old_ones_still_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[discord]\nmax_retries = 2\nretry_backoff_ms = 20\nrate_limit_wait_ms = 50\n\
             [discord.retry]\nbackoff_initial_ms = 30\n",
        )
        .unwrap();
        let s = DiscordSettings::load(&path).unwrap();
        // Two retries after the first attempt: three attempts.
        assert_eq!(s.retry.max_attempts, 3);
        // A key under [discord.retry] wins over its old name.
        assert_eq!(s.retry.backoff_initial_ms, 30);
        assert_eq!(s.retry.rate_limit_wait_ms, 50);

        std::fs::write(&path, "[discord.retry]\nmax_attempts = 0\n").unwrap();
        let err = DiscordSettings::load(&path).unwrap_err().to_string();
        assert!(err.contains("discord.retry.max_attempts"), "{err}");
    }
}
