//! Typed settings: `config.toml` plus environment overrides, validated at start.
//!
//! [`Settings::load`] reads a TOML file (a missing file means "all defaults") and then the
//! environment: `PARLEY__SECTION__KEY=value` overrides `[section] key` (for example
//! `PARLEY__SAMPLING__TEMPERATURE=0.2`, `PARLEY__BOT__TRIGGER_NAMES=parley,bot`). Every key is
//! checked before anything starts: an unknown key names itself and lists the allowed ones; a
//! value of the wrong type or out of range names the key and what is allowed.
//!
//! This is the one loader: every binary calls [`Settings::load`] once, and the sections that
//! belong to an adapter or an engine are handed over typed by [`Settings::section`] (for
//! `[engine.openai]`) and [`Settings::platform_section`] (for `[telegram]` and `[discord]`). The
//! owner's struct says which keys exist (`#[serde(deny_unknown_fields)]`), so a misspelt key
//! there is an error naming it too, and `PARLEY__TELEGRAM__KEY` overrides it like any other.
//! Lists of ids may come as one string, `"1, 2"` ([`comma_list`]).
//!
//! Every setting has one place: bot admins of every platform are `bot.admins`
//! (`"telegram:42"`), handed to each adapter as its `admin_user_ids`; the smallest gap between
//! edits is each adapter's `edit_interval_ms`, which the core learns from
//! [`Outbox::limits`](crate::seam::Outbox::limits).
//!
//! Secrets (bot tokens, API keys) are never read from here: adapters take them from the
//! environment.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::engine::SamplingParams;
use crate::i18n::Language;
use crate::{Error, Result};

/// All settings, one field per `config.toml` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `[bot]`: identity, triggers, admins, limits.
    pub bot: BotSettings,
    /// `[model]`: which GGUF file to run.
    pub model: ModelSettings,
    /// `[engine]`: local or OpenAI-compatible engine.
    pub engine: EngineSettings,
    /// `[sampling]`: defaults and the bounds users may `/set` within.
    pub sampling: SamplingSettings,
    /// `[scheduler]`: queues and answers in flight.
    pub scheduler: SchedulerSettings,
    /// `[store]`: the SQLite history.
    pub store: StoreSettings,
    /// `[prompts]`: personas.
    pub prompts: PromptSettings,
    /// `[metrics]`: the Prometheus endpoint for operators.
    pub metrics: MetricsSettings,
    /// `[attachments]`: which files users send are read, and how.
    pub attachments: AttachmentSettings,
    /// `[telegram]`, read by the Telegram adapter through [`Settings::platform_section`].
    pub telegram: serde_json::Value,
    /// `[discord]`, read by the Discord adapter through [`Settings::platform_section`].
    pub discord: serde_json::Value,
    /// `[[models]]`: the models a bot may use by name (`/model`); the first is every
    /// channel's default. Empty: the one model `model.path`, named `default`.
    pub models: Vec<ModelChoice>,
}

/// An empty table: what a pass-through section holds when the file leaves it out, so an
/// adapter deserialising its own struct (with defaults) from it always sees a table.
fn empty_table() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bot: BotSettings::default(),
            model: ModelSettings::default(),
            engine: EngineSettings::default(),
            sampling: SamplingSettings::default(),
            scheduler: SchedulerSettings::default(),
            store: StoreSettings::default(),
            prompts: PromptSettings::default(),
            metrics: MetricsSettings::default(),
            attachments: AttachmentSettings::default(),
            telegram: empty_table(),
            discord: empty_table(),
            models: Vec::new(),
        }
    }
}

/// The name of the one model when `[[models]]` lists none (`model.path`).
pub const DEFAULT_MODEL_NAME: &str = "default";

/// `[[models]]`: one model a bot may use, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    /// What users call it (`/model NAME`): one word.
    pub name: String,
    /// For the local engine: a GGUF path or `hf:owner/repo:QUANT`.
    #[serde(default)]
    pub source: String,
    /// For the OpenAI engine: the server's name for it; unset = `name`.
    #[serde(default)]
    pub server_model: Option<String>,
    /// The persona of channels on it that chose none with `/mode`.
    #[serde(default)]
    pub persona: Option<String>,
    /// The local engine's chat template instead of the file's own: `chatml`, or a file.
    #[serde(default)]
    pub template: Option<String>,
}

impl ModelChoice {
    /// The name the OpenAI-compatible server knows it by.
    pub fn server_name(&self) -> &str {
        self.server_model.as_deref().unwrap_or(&self.name)
    }
}

/// `[bot]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotSettings {
    /// The bot's name, used in prompts and as a trigger word.
    pub name: String,
    /// Extra words that address the bot in a group (case-insensitive, anywhere as a word).
    pub trigger_names: Vec<String>,
    /// Keep unaddressed group messages as context (off: only what is said to the bot is kept).
    pub keep_group_context: bool,
    /// How many unaddressed group messages to keep in the window at most.
    pub group_context_turns: usize,
    /// Bot admins as `platform:user_id` (`telegram:12345`, `discord:6789`, `console:local`):
    /// the one list of configured admins; each adapter gets its platform's ids from it.
    pub admins: Vec<String>,
    /// Who may change a group's settings for everyone (`/mode`, `/set`, `/remember`, …).
    pub group_settings: GroupSettings,
    /// Longest message the bot accepts, in characters.
    pub max_input_chars: usize,
    /// Messages one user may send per minute before being asked to slow down (0 = no limit).
    pub messages_per_minute: u32,
    /// Unload a channel from memory after this many minutes without a message (0 = never);
    /// its history stays in the store and comes back with its next message.
    pub unload_idle_minutes: u32,
    /// At start, answer questions asked this many minutes ago or less that a crash or restart
    /// left unanswered (0 = never).
    pub resume_within_minutes: u32,
    /// The language of the bot's own words for users whose platform language it does not
    /// speak (or does not know): `en`, `zh`, `es`, `fr`, `de`, `ru` or `ja`.
    pub language: Language,
    /// Reload the live settings whenever the config file changes (SIGHUP reloads them anyway).
    pub watch_config: bool,
}

impl Default for BotSettings {
    fn default() -> Self {
        Self {
            name: "Parley".into(),
            trigger_names: Vec::new(),
            keep_group_context: false,
            group_context_turns: 20,
            admins: Vec::new(),
            group_settings: GroupSettings::Admins,
            max_input_chars: 4000,
            messages_per_minute: 12,
            unload_idle_minutes: 30,
            resume_within_minutes: 10,
            language: Language::English,
            watch_config: false,
        }
    }
}

/// Who may use the commands that change a group chat for everyone (`bot.group_settings`). In
/// a direct chat the user owns the chat and may always use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GroupSettings {
    /// Bot admins and the group's own admins.
    #[default]
    Admins,
    /// Every member.
    Everyone,
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Path of the GGUF file.
    pub path: PathBuf,
    /// Use fewer context tokens than the model allows (saves memory); `None` = the model's.
    pub context_len: Option<usize>,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
            context_len: None,
        }
    }
}

/// Which engine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The built-in candle engine running `model.path`.
    #[default]
    Local,
    /// An OpenAI-compatible HTTP server (`[engine.openai]`).
    Openai,
}

/// `[engine]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// `local` or `openai`.
    pub kind: EngineKind,
    /// CPU threads for the local engine (0 = all cores; default 1, see config.toml).
    pub threads: usize,
    /// Memory budget for the local engine's per-conversation KV caches, in MiB.
    pub kv_cache_mb: usize,
    /// Most answers the local engine decodes together in one batched step (see config.toml).
    pub max_batch: usize,
    /// Models of `[[models]]` held loaded at once; the least recently used is unloaded.
    pub max_loaded_models: usize,
    /// `[engine.openai]`, read by the OpenAI engine through [`Settings::section`].
    pub openai: serde_json::Value,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            kind: EngineKind::Local,
            threads: 1,
            kv_cache_mb: 512,
            max_batch: crate::engine::local::DEFAULT_MAX_BATCH,
            max_loaded_models: 2,
            openai: empty_table(),
        }
    }
}

/// `[sampling]`: the defaults of every channel, and the bounds `/set` allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingSettings {
    /// Most tokens per answer.
    pub max_tokens: usize,
    /// Randomness; 0 = greedy.
    pub temperature: f64,
    /// Nucleus sampling mass; 1 = off.
    pub top_p: f64,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: usize,
    /// Penalty on recently generated tokens; 1 = off.
    pub repeat_penalty: f32,
    /// Tokens the repeat penalty looks back over.
    pub repeat_last_n: usize,
    /// Fixed seed for reproducible answers; unset = random.
    pub seed: Option<u64>,
    /// Strings that end an answer.
    pub stop: Vec<String>,
    /// Highest temperature `/set temperature` accepts.
    pub temperature_max: f64,
    /// Highest `/set max_tokens` accepts.
    pub max_tokens_max: usize,
}

impl Default for SamplingSettings {
    fn default() -> Self {
        let p = SamplingParams::default();
        Self {
            max_tokens: p.max_tokens,
            temperature: p.temperature,
            top_p: p.top_p,
            top_k: p.top_k,
            repeat_penalty: p.repeat_penalty,
            repeat_last_n: p.repeat_last_n,
            seed: p.seed,
            stop: p.stop,
            temperature_max: 1.5,
            max_tokens_max: 1024,
        }
    }
}

impl SamplingSettings {
    /// The engine parameters these defaults describe.
    pub fn params(&self) -> SamplingParams {
        SamplingParams {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            seed: self.seed,
            stop: self.stop.clone(),
        }
    }
}

/// `[scheduler]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSettings {
    /// Answers waiting per channel before new messages get a busy reply.
    pub queue_per_channel: usize,
    /// Answers waiting across all channels before new messages get a busy reply.
    pub queue_total: usize,
    /// Answers generated at the same time by a server engine (the local engine says its own).
    pub workers: usize,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            queue_per_channel: 4,
            queue_total: 64,
            workers: 1,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// SQLite file.
    pub path: PathBuf,
    /// Delete turns, `/why` records and caches older than this many days (0 = keep forever).
    /// Read from `retention_days` too, the key's name before it.
    #[serde(alias = "retention_days")]
    pub retain_days: u32,
    /// Keep at most this many turns per channel (0 = no limit).
    pub retention_turns: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/parley.sqlite3"),
            retain_days: 0,
            retention_turns: 2000,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address serving `/metrics` (Prometheus text format) and `/healthz`, such as
    /// `127.0.0.1:9464`; empty = off.
    pub listen: String,
}

impl MetricsSettings {
    /// The address to listen on, `None` when metrics are off.
    pub fn address(&self) -> Result<Option<std::net::SocketAddr>> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        match listen.parse() {
            Ok(a) => Ok(Some(a)),
            Err(_) => setting_error(
                "metrics.listen",
                &format!("must be an address with a port such as \"127.0.0.1:9464\", or empty for off; got {listen:?}"),
            ),
        }
    }
}

/// `[prompts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptSettings {
    /// Folder of persona templates (`assistant.md`, …).
    pub dir: PathBuf,
    /// The mode a channel starts in.
    pub default_mode: String,
    /// The date the personas tell the model (`YYYY-MM-DD`) instead of today's; empty: today.
    pub date: String,
}

impl Default for PromptSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("prompts"),
            default_mode: "assistant".into(),
            date: String::new(),
        }
    }
}

impl PromptSettings {
    /// The Unix time the personas' date comes from: the pinned `date`, else `now`.
    pub fn clock(&self, now: i64) -> i64 {
        crate::persona::unix_of_date(&self.date).unwrap_or(now)
    }
}

/// `[attachments]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentSettings {
    /// Largest text file the bot downloads, in bytes (checked before downloading).
    pub max_bytes: u64,
    /// Longest a download may take, in seconds.
    pub download_timeout_secs: u64,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024,
            download_timeout_secs: 20,
        }
    }
}

impl AttachmentSettings {
    /// [`Self::download_timeout_secs`] as a duration.
    pub fn download_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.download_timeout_secs)
    }
}

/// Tables whose contents belong to someone else: their keys are checked by the owner's struct
/// when it takes its section ([`Settings::section`]).
const PASS_THROUGH: &[&str] = &["telegram", "discord", "engine.openai"];

/// Keys that moved, and where to: named in the error when an old file still has them.
const MOVED: &[(&str, &str)] = &[
    (
        "render",
        "the edit interval is set once, per platform: [telegram] / [discord] edit_interval_ms",
    ),
    (
        "admin_user_ids",
        "admins are listed once, in [bot] admins, as \"platform:user_id\"",
    ),
];

/// The adapters' retry keys from before `[telegram.retry]` / `[discord.retry]` (one
/// `RetrySettings`, the same keys on every platform): (section, old key, its key under
/// `retry`). They keep working, with a warning; a key set under `retry` wins.
const DEPRECATED_RETRY_KEYS: &[(&str, &str, &str)] = &[
    ("telegram", "max_attempts", "max_attempts"),
    ("telegram", "backoff_initial_ms", "backoff_initial_ms"),
    ("telegram", "backoff_max_ms", "backoff_max_ms"),
    ("telegram", "max_retry_after_secs", "max_retry_after_secs"),
    // Retries after the first attempt: one attempt more.
    ("discord", "max_retries", "max_attempts"),
    ("discord", "retry_backoff_ms", "backoff_initial_ms"),
    ("discord", "retry_backoff_max_ms", "backoff_max_ms"),
    ("discord", "rate_limit_wait_ms", "rate_limit_wait_ms"),
];

/// Move `section`'s deprecated retry keys under its `retry` table (see
/// [`DEPRECATED_RETRY_KEYS`]), warning about each.
fn move_deprecated_retry_keys(
    section: &str,
    map: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    for (_, old, new) in DEPRECATED_RETRY_KEYS.iter().filter(|k| k.0 == section) {
        let Some(mut value) = map.remove(*old) else {
            continue;
        };
        warn!("`{section}.{old}` is deprecated: write `{new}` under [{section}.retry] instead");
        if *old == "max_retries" {
            let retries = match &value {
                serde_json::Value::Number(n) => n.as_u64(),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            let Some(retries) = retries else {
                return setting_error(&format!("{section}.{old}"), "expected a whole number");
            };
            value = serde_json::json!(retries.saturating_add(1));
        }
        let retry = map.entry("retry").or_insert_with(|| serde_json::json!({}));
        let serde_json::Value::Object(retry) = retry else {
            return setting_error(
                &format!("{section}.retry"),
                "expected a table ([section.retry])",
            );
        };
        retry.entry(*new).or_insert(value);
    }
    Ok(())
}

/// The key of `[section]` that [`Settings::platform_section`] fills from `bot.admins`.
const ADMIN_IDS: &str = "admin_user_ids";

/// Environment keys that hold lists (comma-separated in the variable).
const LIST_KEYS: &[&str] = &["bot.trigger_names", "bot.admins", "sampling.stop"];

impl Settings {
    /// Load `path` (or `config.toml` semantics: a missing file means defaults) and apply
    /// `PARLEY__SECTION__KEY` environment overrides, then validate.
    pub fn load(path: Option<&Path>) -> Result<Settings> {
        Self::build(read_file(path)?.as_deref(), None)
    }

    /// Like [`Settings::load`], with the given `PARLEY__…` variables instead of the process
    /// environment. For tests.
    pub fn load_with_env(path: Option<&Path>, env: Vec<(String, String)>) -> Result<Settings> {
        Self::build(read_file(path)?.as_deref(), Some(env))
    }

    /// Settings from TOML text alone (no environment), validated. For tests.
    pub fn from_toml_str(toml: &str) -> Result<Settings> {
        Self::build(Some(toml), Some(Vec::new()))
    }

    /// Settings from TOML text plus the given `PARLEY__…` variables instead of the process
    /// environment, validated. For tests.
    pub fn from_toml_and_env(toml: &str, env: &[(&str, &str)]) -> Result<Settings> {
        let vars = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::build(Some(toml), Some(vars))
    }

    fn build(toml: Option<&str>, env: Option<Vec<(String, String)>>) -> Result<Settings> {
        let mut environment = config::Environment::with_prefix("PARLEY")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",");
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        if let Some(vars) = env {
            environment = environment.source(Some(vars.into_iter().collect()));
        }
        let mut builder = config::Config::builder();
        if let Some(t) = toml {
            builder = builder.add_source(config::File::from_str(t, config::FileFormat::Toml));
        }
        let cfg = builder
            .add_source(environment)
            .build()
            .map_err(config_error)?;
        let raw: serde_json::Value = cfg.clone().try_deserialize().map_err(config_error)?;
        let schema = serde_json::to_value(Settings::default()).map_err(|e| Error::Config {
            key: String::new(),
            reason: e.to_string(),
        })?;
        check_keys(&raw, &schema, "")?;
        let settings: Settings = cfg.try_deserialize().map_err(config_error)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Every model a bot may use, the default first: `[[models]]`, or `model.path` as the one
    /// model named [`DEFAULT_MODEL_NAME`].
    pub fn model_choices(&self) -> Vec<ModelChoice> {
        if !self.models.is_empty() {
            return self.models.clone();
        }
        vec![ModelChoice {
            name: DEFAULT_MODEL_NAME.into(),
            source: self.model.path.display().to_string(),
            server_model: None,
            persona: None,
            template: None,
        }]
    }

    /// `[[models]]`: one-word names, each once; a source where the local engine needs one.
    fn validate_models(&self) -> Result<()> {
        if self.engine.max_loaded_models == 0 {
            return setting_error("engine.max_loaded_models", "must be at least 1, got 0");
        }
        for (i, m) in self.models.iter().enumerate() {
            let key = format!("models[{i}]");
            if m.name.is_empty() || m.name.chars().any(char::is_whitespace) {
                return setting_error(&format!("{key}.name"), "must be one word");
            }
            if self.models[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&m.name))
            {
                return setting_error(
                    &format!("{key}.name"),
                    &format!("`{}` is listed twice", m.name),
                );
            }
            if self.engine.kind == EngineKind::Local && m.source.trim().is_empty() {
                return setting_error(
                    &format!("{key}.source"),
                    "the local engine needs a GGUF path or hf:owner/repo:QUANT",
                );
            }
        }
        Ok(())
    }

    /// Check ranges and relations between values; the error names the key.
    pub fn validate(&self) -> Result<()> {
        self.validate_models()?;
        let s = &self.sampling;
        range_f64("sampling.temperature_max", s.temperature_max, 0.0, 2.0)?;
        range_f64(
            "sampling.temperature",
            s.temperature,
            0.0,
            s.temperature_max,
        )?;
        range_f64("sampling.top_p", s.top_p, 0.0, 1.0)?;
        if s.top_p == 0.0 {
            return setting_error("sampling.top_p", "must be above 0 (1 turns it off), got 0");
        }
        range_f64(
            "sampling.repeat_penalty",
            f64::from(s.repeat_penalty),
            1.0,
            2.0,
        )?;
        range_usize("sampling.max_tokens_max", s.max_tokens_max, 1, 32768)?;
        range_usize("sampling.max_tokens", s.max_tokens, 1, s.max_tokens_max)?;
        if s.stop.iter().any(String::is_empty) {
            return setting_error("sampling.stop", "stop strings must not be empty");
        }
        let b = &self.bot;
        if b.name.trim().is_empty() {
            return setting_error("bot.name", "must not be empty");
        }
        if b.trigger_names.iter().any(|n| n.trim().is_empty()) {
            return setting_error("bot.trigger_names", "names must not be empty");
        }
        range_usize("bot.max_input_chars", b.max_input_chars, 1, 1_000_000)?;
        for a in &b.admins {
            let ok = a
                .split_once(':')
                .is_some_and(|(p, id)| crate::seam::Platform::parse(p).is_some() && !id.is_empty());
            if !ok {
                return setting_error(
                    "bot.admins",
                    &format!("each admin is \"platform:user_id\" with platform console, telegram or discord, got {a:?}"),
                );
            }
        }
        if let Some(n) = self.model.context_len {
            range_usize("model.context_len", n, 256, 1 << 20)?;
        }
        range_usize("engine.max_batch", self.engine.max_batch, 1, 64)?;
        let a = &self.attachments;
        // Telegram's Bot API hands bots files of at most 20 MB.
        range_usize("attachments.max_bytes", a.max_bytes as usize, 1, 20 << 20)?;
        range_usize(
            "attachments.download_timeout_secs",
            a.download_timeout_secs as usize,
            1,
            600,
        )?;
        let q = &self.scheduler;
        range_usize("scheduler.workers", q.workers, 1, 256)?;
        range_usize("scheduler.queue_per_channel", q.queue_per_channel, 1, 1000)?;
        range_usize("scheduler.queue_total", q.queue_total, 1, 100_000)?;
        self.metrics.address()?;
        if self.prompts.default_mode.trim().is_empty() {
            return setting_error(
                "prompts.default_mode",
                "must name a persona file in prompts.dir",
            );
        }
        let date = &self.prompts.date;
        if !date.is_empty() && crate::persona::unix_of_date(date).is_none() {
            return setting_error(
                "prompts.date",
                &format!("must be a date as YYYY-MM-DD, or empty for today; got {date:?}"),
            );
        }
        Ok(())
    }

    /// The section `name` (`telegram`, `discord`, `engine.openai`) as its owner's type `T`,
    /// environment overrides included. `T`'s `deny_unknown_fields` makes a misspelt key an
    /// error; errors name the key as `section.key`.
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let table = match name {
            "telegram" => &self.telegram,
            "discord" => &self.discord,
            "engine.openai" => &self.engine.openai,
            _ => return setting_error(name, "not a section handed to an adapter or engine"),
        };
        typed_section(name, table)
    }

    /// The section of an adapter's `platform` as its type `T`, like [`Settings::section`], with
    /// `admin_user_ids` filled from the platform's entries in `bot.admins` (the one list of
    /// admins): writing `admin_user_ids` in the section itself is an error saying so.
    pub fn platform_section<T: DeserializeOwned>(
        &self,
        platform: crate::seam::Platform,
    ) -> Result<T> {
        let name = platform.as_str();
        let mut table = match name {
            "telegram" => self.telegram.clone(),
            "discord" => self.discord.clone(),
            _ => return setting_error(name, "not a section handed to an adapter"),
        };
        let serde_json::Value::Object(map) = &mut table else {
            return setting_error(name, "expected a table ([section]), got a single value");
        };
        if map.contains_key(ADMIN_IDS) {
            return setting_error(
                &format!("{name}.{ADMIN_IDS}"),
                moved(ADMIN_IDS).unwrap_or_default(),
            );
        }
        move_deprecated_retry_keys(name, map)?;
        let ids = self.admin_ids(platform);
        map.insert(ADMIN_IDS.into(), serde_json::json!(ids));
        typed_section(name, &table).map_err(|e| match e {
            Error::Config { key, reason } if key == format!("{name}.{ADMIN_IDS}") => {
                Error::Config {
                    key: "bot.admins".into(),
                    reason: format!("{name} admin ids: {reason}"),
                }
            }
            other => other,
        })
    }

    /// The user ids `bot.admins` lists for `platform` (`"telegram:42"` gives `"42"`).
    pub fn admin_ids(&self, platform: crate::seam::Platform) -> Vec<&str> {
        self.bot
            .admins
            .iter()
            .filter_map(|a| a.split_once(':'))
            .filter(|(p, _)| *p == platform.as_str())
            .map(|(_, id)| id)
            .collect()
    }

    /// Whether `platform:user_id` is listed in `bot.admins`.
    pub fn is_admin(&self, platform: crate::seam::Platform, user_id: &str) -> bool {
        self.bot
            .admins
            .iter()
            .any(|a| a.split_once(':') == Some((platform.as_str(), user_id)))
    }
}

/// The contents of the file at `path`; `None` when there is no path or no file.
fn read_file(path: Option<&Path>) -> Result<Option<String>> {
    let Some(p) = path else {
        return Ok(None);
    };
    match std::fs::read_to_string(p) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Config {
            key: p.display().to_string(),
            reason: format!("cannot read the file: {e}"),
        }),
    }
}

/// `table` (the section `name`) as `T`. It goes through the `config` crate's deserialiser, as
/// the rest of the file does, so an error names the key inside the section.
fn typed_section<T: DeserializeOwned>(name: &str, table: &serde_json::Value) -> Result<T> {
    let within = |e: Error| match e {
        Error::Config { key, reason } => {
            let inner = key.trim_start_matches("config.toml");
            Error::Config {
                key: if inner.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}.{inner}")
                },
                reason,
            }
        }
        other => other,
    };
    config::Config::try_from(table)
        .and_then(|c| c.try_deserialize::<T>())
        .map_err(|e| within(config_error(e)))
}

/// A list written as a TOML array, as one value, or (from the environment) as one
/// comma-separated string: `PARLEY__DISCORD__ALLOWED_GUILD_IDS=1,2` or `"1, 2"`. For
/// `#[serde(deserialize_with = "parley_core::config::comma_list")]` on adapters' id lists.
pub fn comma_list<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Item {
        Number(i64),
        Big(u64),
        Text(String),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(Item),
        Many(Vec<Item>),
    }
    let items = match List::deserialize(d)? {
        List::One(i) => vec![i],
        List::Many(v) => v,
    };
    let mut out = Vec::new();
    for item in items {
        let text = match item {
            Item::Number(n) => n.to_string(),
            Item::Big(n) => n.to_string(),
            Item::Text(t) => t,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(
                part.parse()
                    .map_err(|_| serde::de::Error::custom(format!("`{part}` is not a valid id")))?,
            );
        }
    }
    Ok(out)
}

/// Where a key that moved lives now.
fn moved(key: &str) -> Option<&'static str> {
    MOVED.iter().find(|(k, _)| *k == key).map(|(_, to)| *to)
}

/// The error for setting `key` (dotted) with what is wrong and what is allowed.
fn setting_error<T>(key: &str, reason: &str) -> Result<T> {
    Err(Error::Config {
        key: key.into(),
        reason: reason.into(),
    })
}

fn range_f64(key: &str, v: f64, lo: f64, hi: f64) -> Result<()> {
    if !(lo..=hi).contains(&v) {
        return setting_error(key, &format!("must be between {lo} and {hi}, got {v}"));
    }
    Ok(())
}

fn range_usize(key: &str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if !(lo..=hi).contains(&v) {
        return setting_error(key, &format!("must be between {lo} and {hi}, got {v}"));
    }
    Ok(())
}

/// Walk what was read against the defaults: every key must exist there, and a scalar where a
/// table is expected (or the other way round) is reported with the key.
fn check_keys(raw: &serde_json::Value, schema: &serde_json::Value, prefix: &str) -> Result<()> {
    let serde_json::Value::Object(map) = raw else {
        return Ok(());
    };
    let allowed = match schema {
        serde_json::Value::Object(m) => m,
        _ => {
            return setting_error(prefix, "is a single value, not a table");
        }
    };
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let Some(expected) = allowed.get(k) else {
            if let Some(to) = moved(k) {
                return setting_error(&key, &format!("no longer a setting here: {to}"));
            }
            let names: Vec<&str> = allowed.keys().map(String::as_str).collect();
            let place = if prefix.is_empty() {
                "top-level sections".to_string()
            } else {
                format!("keys in [{prefix}]")
            };
            return setting_error(
                &key,
                &format!("unknown key; allowed {place}: {}", names.join(", ")),
            );
        };
        if PASS_THROUGH.contains(&key.as_str()) {
            continue;
        }
        match (v, expected) {
            (serde_json::Value::Object(_), serde_json::Value::Object(_)) => {
                check_keys(v, expected, &key)?
            }
            (serde_json::Value::Object(_), _) => {
                return setting_error(&key, "expected a single value, got a table");
            }
            (_, serde_json::Value::Object(_)) => {
                return setting_error(&key, "expected a table ([section]), got a single value");
            }
            _ => {}
        }
    }
    Ok(())
}

fn config_error(e: config::ConfigError) -> Error {
    match e {
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => Error::Config {
            key: key.unwrap_or_default(),
            reason: format!("expected {expected}, got {unexpected}"),
        },
        config::ConfigError::At { error, key, .. } => match config_error(*error) {
            Error::Config { key: inner, reason } => Error::Config {
                key: key.filter(|k| !k.is_empty()).unwrap_or(inner),
                reason,
            },
            other => other,
        },
        config::ConfigError::NotFound(key) => Error::Config {
            key,
            reason: "missing".into(),
        },
        other => Error::Config {
            key: "config.toml".into(),
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let s = Settings::from_toml_str("").unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.sampling.params(), SamplingParams::default());
    }

    #[test]
    fn unknown_key_is_named_with_the_allowed_ones() {
        let e = Settings::from_toml_str("[sampling]\ntemprature = 0.5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sampling.temprature"), "{e}");
        assert!(e.contains("temperature"), "{e}");
        let e = Settings::from_toml_str("[sampler]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`sampler`") && e.contains("sampling"), "{e}");
    }

    #[test]
    fn out_of_range_value_names_key_and_range() {
        let e = Settings::from_toml_str("[sampling]\ntemperature = 5\ntemperature_max = 2\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sampling.temperature") && e.contains("between 0 and 2, got 5"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = Settings::from_toml_str("[bot]\nkeep_group_context = \"maybe\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bot.keep_group_context"), "{e}");
        let e = Settings::from_toml_str("[scheduler]\nworkers = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("scheduler.workers"), "{e}");
    }

    #[test]
    fn environment_overrides_file() {
        let s = Settings::from_toml_and_env(
            "[sampling]\ntemperature = 0.5\n",
            &[
                ("PARLEY__SAMPLING__TEMPERATURE", "0.2"),
                ("PARLEY__BOT__TRIGGER_NAMES", "parley,robot"),
                ("PARLEY__SCHEDULER__QUEUE_TOTAL", "9"),
                ("PARLEY__BOT__NAME", "Polly"),
            ],
        )
        .unwrap();
        assert_eq!(s.sampling.temperature, 0.2);
        assert_eq!(s.bot.trigger_names, vec!["parley", "robot"]);
        assert_eq!(s.scheduler.queue_total, 9);
        assert_eq!(s.bot.name, "Polly");
        let e = Settings::from_toml_and_env("", &[("PARLEY__BOT__NAMME", "x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("bot.namme"), "{e}");
    }

    #[test]
    fn pass_through_tables_are_kept_for_their_owner() {
        let s = Settings::from_toml_str(
            "[telegram]\nanything = 1\n[engine.openai]\nbase_url = \"http://x\"\n",
        )
        .unwrap();
        assert_eq!(s.telegram["anything"], 1);
        assert_eq!(s.engine.openai["base_url"], "http://x");
    }

    #[test]
    fn the_edit_interval_has_one_place_the_adapters_section() {
        // Formerly also `[render.edit_interval_ms]`: now an error saying where it lives.
        let e = Settings::from_toml_str("[render.edit_interval_ms]\ntelegram = 1500\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`render`") && e.contains("edit_interval_ms"),
            "{e}"
        );
    }

    /// A section as an adapter declares one.
    #[derive(Debug, PartialEq, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Adapter {
        edit_interval_ms: u64,
        #[serde(deserialize_with = "comma_list")]
        allowed_user_ids: Vec<i64>,
        #[serde(deserialize_with = "comma_list")]
        admin_user_ids: Vec<u64>,
    }

    #[test]
    fn sections_are_typed_with_exact_key_errors_and_env_overrides() {
        let s = Settings::from_toml_and_env(
            "[telegram]\nedit_interval_ms = 1500\n",
            &[("PARLEY__TELEGRAM__ALLOWED_USER_IDS", "1, -2")],
        )
        .unwrap();
        let a: Adapter = s.platform_section(crate::seam::Platform::Telegram).unwrap();
        assert_eq!(a.edit_interval_ms, 1500);
        assert_eq!(a.allowed_user_ids, vec![1, -2]);
        let a: Adapter = s.platform_section(crate::seam::Platform::Discord).unwrap();
        assert_eq!(a, Adapter::default(), "a missing section is all defaults");

        let s = Settings::from_toml_str("[discord]\nedit_intervall_ms = 1500\n").unwrap();
        let e = s
            .platform_section::<Adapter>(crate::seam::Platform::Discord)
            .unwrap_err()
            .to_string();
        assert!(e.contains("edit_intervall_ms"), "{e}");
        let s = Settings::from_toml_str("[discord]\nedit_interval_ms = \"soon\"\n").unwrap();
        let e = s
            .platform_section::<Adapter>(crate::seam::Platform::Discord)
            .unwrap_err()
            .to_string();
        assert!(e.contains("discord.edit_interval_ms"), "{e}");
    }

    #[test]
    fn admins_have_one_place_bot_admins() {
        let s = Settings::from_toml_str(
            "[bot]\nadmins = [\"telegram:7\", \"discord:9\", \"telegram:8\", \"console:local\"]\n",
        )
        .unwrap();
        let t: Adapter = s.platform_section(crate::seam::Platform::Telegram).unwrap();
        assert_eq!(t.admin_user_ids, vec![7, 8]);
        let d: Adapter = s.platform_section(crate::seam::Platform::Discord).unwrap();
        assert_eq!(d.admin_user_ids, vec![9]);

        let s = Settings::from_toml_str("[telegram]\nadmin_user_ids = [7]\n").unwrap();
        let e = s
            .platform_section::<Adapter>(crate::seam::Platform::Telegram)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("telegram.admin_user_ids") && e.contains("bot"),
            "{e}"
        );
        let s = Settings::from_toml_str("[bot]\nadmins = [\"discord:me\"]\n").unwrap();
        let e = s
            .platform_section::<Adapter>(crate::seam::Platform::Discord)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bot.admins"), "{e}");
    }

    #[test]
    fn bad_admin_entry_is_named() {
        let e = Settings::from_toml_str("[bot]\nadmins = [\"12345\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bot.admins"), "{e}");
        let s = Settings::from_toml_str("[bot]\nadmins = [\"telegram:42\"]\n").unwrap();
        assert!(s.is_admin(crate::seam::Platform::Telegram, "42"));
        assert!(!s.is_admin(crate::seam::Platform::Discord, "42"));
    }

    #[test]
    fn root_config_toml_is_valid_and_complete() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let s = Settings::from_toml_str(&text).unwrap();
        assert_eq!(s.sampling, SamplingSettings::default());
        // Every key of the defaults is written (and commented) in the file.
        let schema = serde_json::to_value(Settings::default()).unwrap();
        for (section, keys) in schema.as_object().unwrap() {
            assert!(
                text.contains(&format!("[{section}]")),
                "missing [{section}]"
            );
            if let Some(keys) = keys.as_object() {
                for k in keys.keys() {
                    assert!(
                        text.contains(&format!("{k} ="))
                            || text.contains(&format!("{k}="))
                            || text.contains(&format!("[{section}.{k}]")),
                        "missing {section}.{k}"
                    );
                }
            }
        }
    }

    #[test]
    fn models_are_listed_by_one_word_names_each_once_with_the_path_as_the_default() {
        let s = Settings::from_toml_str("").unwrap();
        let only = s.model_choices();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].name, DEFAULT_MODEL_NAME);
        assert_eq!(only[0].source, s.model.path.display().to_string());
        let s = Settings::from_toml_str(
            "[[models]]\nname = \"a\"\nsource = \"a.gguf\"\n\
             [[models]]\nname = \"b\"\nsource = \"hf:x/y\"\nserver_model = \"y:1b\"\n",
        )
        .unwrap();
        let names: Vec<_> = s.model_choices().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(s.models[1].server_name(), "y:1b");
        for (toml, key) in [
            ("[[models]]\nname = \"a\"\nsource = \"a\"\n[[models]]\nname = \"A\"\nsource = \"b\"\n", "models[1].name"),
            ("[[models]]\nname = \"two words\"\nsource = \"a\"\n", "models[0].name"),
            ("[[models]]\nname = \"a\"\n", "models[0].source"),
            ("[engine]\nmax_loaded_models = 0\n", "engine.max_loaded_models"),
        ] {
            let e = Settings::from_toml_str(toml).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
        let e = Settings::from_toml_str("[[models]]\nname = \"a\"\nsorce = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sorce"), "{e}");
    }

    #[test]
    fn group_settings_is_admins_by_default_and_names_its_key_when_wrong() {
        let s = Settings::from_toml_str("").unwrap();
        assert_eq!(s.bot.group_settings, GroupSettings::Admins);
        let s = Settings::from_toml_str("[bot]\ngroup_settings = \"everyone\"\n").unwrap();
        assert_eq!(s.bot.group_settings, GroupSettings::Everyone);
        let e = Settings::from_toml_str("[bot]\ngroup_settings = \"members\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("group_settings"), "{e}");
    }

    #[test]
    fn bot_language_is_english_by_default_and_names_the_languages_when_wrong() {
        let s = Settings::from_toml_str("").unwrap();
        assert_eq!(s.bot.language, Language::English);
        let s = Settings::from_toml_str("[bot]\nlanguage = \"de\"\n").unwrap();
        assert_eq!(s.bot.language, Language::German);
        let e = Settings::from_toml_str("[bot]\nlanguage = \"pt\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("language"), "{e}");
        assert!(e.contains("en, zh, es, fr, de, ru, ja"), "{e}");
    }
}
