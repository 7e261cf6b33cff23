//! Reload without restart: on SIGHUP, and whenever `config.toml` changes while
//! `[bot] watch_config = true`, the settings are read again and the live ones applied.
//!
//! Live: the keys in [`LIVE_KEYS`] (admins, rate limit, `group_settings`, language, every
//! `[sampling]` default and bound) and each [`Reloadable`] part's own (an adapter's allowlists).
//! Any other key that changed needs a restart: it is named in one log line and left as it was.
//! A file that does not load (a misspelt key, a value out of range, an adapter section its
//! adapter rejects) changes nothing; the log names the key.
//!
//! The parts (the bot, the adapter's access rules) check the new settings first and apply them
//! only when every part accepted them, so a reload is all or nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tracing::{info, warn};

use crate::config::Settings;
use crate::{Error, Result};

/// Core keys applied live (`section.key`, or a whole `section`).
pub const LIVE_KEYS: &[&str] = &[
    "bot.admins",
    "bot.group_settings",
    "bot.messages_per_minute",
    "bot.max_input_chars",
    "bot.language",
    "bot.watch_config",
    "sampling",
];

/// How often a watched `config.toml` is looked at (its modification time).
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Something that takes reloaded settings: the bot, an adapter's access rules.
pub trait Reloadable: Send + Sync {
    /// Keys of an adapter's section this part applies live (`telegram.allowed_user_ids`).
    fn live_keys(&self) -> &[&str] {
        &[]
    }

    /// Whether `settings` are acceptable (an adapter's section parses); the error names the key.
    fn check(&self, _settings: &Settings) -> Result<()> {
        Ok(())
    }

    /// Take `settings`: live keys changed, the rest as before.
    fn apply(&self, settings: &Settings);
}

/// The settings in force and the parts that follow them.
pub struct Reloader {
    path: PathBuf,
    current: Settings,
    parts: Vec<Arc<dyn Reloadable>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// Settings `current`, loaded from `path`, followed by `parts`.
    pub fn new(path: &Path, current: Settings, parts: Vec<Arc<dyn Reloadable>>) -> Self {
        Self {
            path: path.to_path_buf(),
            current,
            parts,
        }
    }

    /// The settings in force.
    pub fn current(&self) -> &Settings {
        &self.current
    }

    /// Read the file again and apply what is live. Returns the restart-only keys that changed
    /// (logged, left as they were); an error when nothing was applied.
    pub fn reload(&mut self) -> Result<Vec<String>> {
        let result = self.try_reload();
        match &result {
            Ok(left) if !left.is_empty() => {
                warn!(keys = %left.join(", "), "config reloaded; these settings need a restart and were left as they were");
            }
            Ok(_) => info!("config reloaded"),
            Err(e) => warn!(error = %e, "config not reloaded; keeping the settings in force"),
        }
        result
    }

    fn try_reload(&mut self) -> Result<Vec<String>> {
        let fresh = Settings::load(Some(&self.path))?;
        let live: Vec<&str> = LIVE_KEYS
            .iter()
            .copied()
            .chain(
                self.parts
                    .iter()
                    .flat_map(|p| p.live_keys().iter().copied()),
            )
            .collect();
        let (merged, left) = merge_live(&self.current, &fresh, &live)?;
        for part in &self.parts {
            part.check(&merged)?;
        }
        for part in &self.parts {
            part.apply(&merged);
        }
        self.current = merged;
        Ok(left)
    }

    /// Reload on SIGHUP and, while `bot.watch_config` is on, when the file's modification time
    /// changes; until the runtime ends.
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut hangup = hangups();
            let mut stamp = modified(&self.path);
            loop {
                tokio::select! {
                    Some(()) = hangup.recv() => {
                        info!("SIGHUP received: reloading the config");
                    }
                    () = tokio::time::sleep(WATCH_EVERY), if self.current.bot.watch_config => {
                        let now = modified(&self.path);
                        if now == stamp {
                            continue;
                        }
                        info!(path = %self.path.display(), "config file changed: reloading");
                    }
                }
                stamp = modified(&self.path);
                let _ = self.reload();
            }
        })
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// SIGHUPs as a stream of `()` (never any off Unix, or when the handler cannot be installed).
fn hangups() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut s) => {
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if tx.send(()).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => warn!(error = %e, "no SIGHUP handler: reload only by watch_config"),
        }
    }
    #[cfg(not(unix))]
    std::mem::forget(tx);
    rx
}

/// `current` with the `live` keys of `fresh`; and every other key (`section.key`) whose value
/// differs, left as in `current`.
pub fn merge_live(
    current: &Settings,
    fresh: &Settings,
    live: &[&str],
) -> Result<(Settings, Vec<String>)> {
    let json = |s: &Settings| {
        serde_json::to_value(s).map_err(|e| Error::Config {
            key: String::new(),
            reason: e.to_string(),
        })
    };
    let (mut merged, new) = (json(current)?, json(fresh)?);
    let mut left = Vec::new();
    let (Value::Object(sections), Value::Object(new_sections)) = (&mut merged, &new) else {
        return Ok((current.clone(), left));
    };
    for (name, new_section) in new_sections {
        let Some(section) = sections.get_mut(name) else {
            continue;
        };
        if live.contains(&name.as_str()) {
            *section = new_section.clone();
            continue;
        }
        match (section, new_section) {
            (Value::Object(keys), Value::Object(new_keys)) => {
                for (key, value) in new_keys {
                    let path = format!("{name}.{key}");
                    if keys.get(key) == Some(value) {
                        continue;
                    }
                    if live.contains(&path.as_str()) {
                        keys.insert(key.clone(), value.clone());
                    } else {
                        left.push(path);
                    }
                }
            }
            (section, new_section) if section != new_section => left.push(name.clone()),
            _ => {}
        }
    }
    let merged = serde_json::from_value(merged).map_err(|e| Error::Config {
        key: String::new(),
        reason: e.to_string(),
    })?;
    Ok((merged, left))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Settings {
        Settings::from_toml_str(toml).unwrap()
    }

    #[test]
    fn live_keys_change_and_restart_only_keys_are_named_and_kept() {
        let old = settings("[bot]\nmessages_per_minute = 5\n[engine]\nthreads = 1\n");
        let new = settings(
            "[bot]\nmessages_per_minute = 9\nlanguage = \"de\"\n[engine]\nthreads = 2\n\
             [sampling]\ntemperature_max = 1.0\ntemperature = 0.5\n\
             [telegram]\nallowed_user_ids = [7]\npoll_timeout_secs = 3\n",
        );
        let live: Vec<&str> = LIVE_KEYS
            .iter()
            .copied()
            .chain(["telegram.allowed_user_ids"])
            .collect();
        let (merged, left) = merge_live(&old, &new, &live).unwrap();
        assert_eq!(merged.bot.messages_per_minute, 9);
        assert_eq!(merged.bot.language, new.bot.language);
        assert_eq!(merged.sampling.temperature_max, 1.0);
        assert_eq!(merged.telegram["allowed_user_ids"], serde_json::json!([7]));
        assert_eq!(merged.engine.threads, 1, "a restart-only key is left");
        assert!(merged.telegram.get("poll_timeout_secs").is_none());
        assert_eq!(left, ["engine.threads", "telegram.poll_timeout_secs"]);
    }

    struct Recorder(std::sync::Mutex<Vec<u32>>);
    impl Reloadable for Recorder {
        fn apply(&self, settings: &Settings) {
            self.0
                .lock()
                .unwrap()
                .push(settings.bot.messages_per_minute);
        }
    }

    #[test]
    fn an_invalid_file_applies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[bot]\nmessages_per_minute = 5\n").unwrap();
        let recorder = Arc::new(Recorder(Default::default()));
        let initial = Settings::load(Some(&path)).unwrap();
        let mut reloader = Reloader::new(&path, initial, vec![recorder.clone()]);
        std::fs::write(&path, "[bot]\nmessages_per_minute = 7\nmesages = 1\n").unwrap();
        let err = reloader.reload().unwrap_err().to_string();
        assert!(err.contains("mesages"), "{err}");
        assert!(recorder.0.lock().unwrap().is_empty());
        assert_eq!(reloader.current().bot.messages_per_minute, 5);
        std::fs::write(&path, "[bot]\nmessages_per_minute = 7\n").unwrap();
        assert!(reloader.reload().unwrap().is_empty());
        assert_eq!(*recorder.0.lock().unwrap(), [7]);
    }
}
