//! The first-run checklist: `parley-telegram --check`, `parley-discord --check` and
//! `parley check` go through what a first run needs, print each item with the fix for a
//! failure, and exit (non-zero when something failed).
//!
//! The core checks what every binary shares ([`check_config`], [`check_common`]: the config
//! file, the model or the OpenAI-compatible server, the data directory, the metrics port); each
//! adapter adds its platform's items (token, permissions) to the same [`Checklist`] through its
//! own client, so the core still knows no platform. The text is for the operator at a terminal
//! (English, like the log), never sent to a chat.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::config::{EngineKind, Settings};
use crate::engine::local::model::{Model, WeightFormat};
use crate::hub::HubModel;

/// How one item of the checklist came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Fine.
    Passed,
    /// Start-up (or the bot's work) would fail: the item says how to fix it.
    Failed,
    /// Worth knowing, not an error (Telegram's privacy mode, a model fetched at start).
    Note,
}

/// One item: what was checked, what was found, and for a failure how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckItem {
    /// What was checked ("bot token", "data directory").
    pub what: String,
    /// How it came out.
    pub outcome: Outcome,
    /// What was found.
    pub found: String,
    /// How to fix a failure (or act on a note).
    pub fix: Option<String>,
}

/// The checklist one `--check` run prints.
#[derive(Debug, Clone, Default)]
pub struct Checklist {
    items: Vec<CheckItem>,
}

impl Checklist {
    /// An empty checklist.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a passed item.
    pub fn pass(&mut self, what: &str, found: impl Into<String>) {
        self.push(what, Outcome::Passed, found.into(), None);
    }

    /// Record a failed item and its fix.
    pub fn fail(&mut self, what: &str, found: impl Into<String>, fix: impl Into<String>) {
        self.push(what, Outcome::Failed, found.into(), Some(fix.into()));
    }

    /// Record a note (not a failure) and what to do about it.
    pub fn note(&mut self, what: &str, found: impl Into<String>, fix: impl Into<String>) {
        self.push(what, Outcome::Note, found.into(), Some(fix.into()));
    }

    fn push(&mut self, what: &str, outcome: Outcome, found: String, fix: Option<String>) {
        self.items.push(CheckItem {
            what: what.to_string(),
            outcome,
            found,
            fix,
        });
    }

    /// Every item, in the order checked.
    pub fn items(&self) -> &[CheckItem] {
        &self.items
    }

    /// The item about `what`, if it was checked.
    pub fn item(&self, what: &str) -> Option<&CheckItem> {
        self.items.iter().find(|i| i.what == what)
    }

    /// Whether nothing failed.
    pub fn passed(&self) -> bool {
        self.items.iter().all(|i| i.outcome != Outcome::Failed)
    }

    /// The checklist as the terminal shows it: `[ok]`, `[FAIL]` or `[note]`, what was found, and
    /// the fix on the next line; a summary last.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for i in &self.items {
            let mark = match i.outcome {
                Outcome::Passed => "[ok]  ",
                Outcome::Failed => "[FAIL]",
                Outcome::Note => "[note]",
            };
            let _ = writeln!(out, "{mark} {}: {}", i.what, i.found);
            if let Some(fix) = &i.fix {
                let _ = writeln!(out, "       fix: {fix}");
            }
        }
        let failed = self
            .items
            .iter()
            .filter(|i| i.outcome == Outcome::Failed)
            .count();
        if failed == 0 {
            out.push_str("Everything a first run needs is in place.\n");
        } else {
            let _ = writeln!(out, "{failed} item(s) to fix before the bot can run.");
        }
        out
    }

    /// Print [`Self::render`] on stdout and turn the outcome into an exit code.
    pub fn finish(&self) -> std::process::ExitCode {
        print!("{}", self.render());
        if self.passed() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        }
    }
}

/// A binary's whole `--check`: the config at `path`, then the platform's items (`platform`,
/// given the loaded settings), then [`check_common`]; printed, and as the exit code.
pub async fn run(
    path: &Path,
    platform: impl AsyncFnOnce(&mut Checklist, &Settings),
) -> std::process::ExitCode {
    let mut list = Checklist::new();
    let explicit = std::env::args_os().any(|a| a.to_string_lossy().starts_with("--config"));
    if let Some(settings) = check_config(&mut list, path, explicit) {
        platform(&mut list, &settings).await;
        check_common(&mut list, &settings).await;
    }
    list.finish()
}

/// Load `path` as [`Settings::load`] does, into the checklist: the settings when the file
/// parses and every key is known, else a failure naming the key.
pub fn check_config(list: &mut Checklist, path: &Path, explicit: bool) -> Option<Settings> {
    const WHAT: &str = "config";
    if explicit && !path.exists() {
        list.fail(
            WHAT,
            format!("{} does not exist", path.display()),
            "pass the path of your config.toml with --config, or copy the repository's one",
        );
        return None;
    }
    match Settings::load(Some(path)) {
        Ok(settings) => {
            list.pass(WHAT, format!("{} parses, every key known", path.display()));
            Some(settings)
        }
        Err(e) => {
            list.fail(
                WHAT,
                format!("{}: {e}", path.display()),
                "correct the key named (config.toml's comments list each key and its range; \
                 PARLEY__SECTION__KEY variables count too)",
            );
            None
        }
    }
}

/// The items every binary shares: the model (or the OpenAI-compatible server), the data
/// directory, the metrics port.
pub async fn check_common(list: &mut Checklist, settings: &Settings) {
    match settings.engine.kind {
        EngineKind::Local => check_models(list, settings).await,
        EngineKind::Openai => check_openai(list, settings).await,
    }
    check_data_dir(list, &settings.store.path);
    check_metrics_port(list, settings).await;
}

/// Each local model: an `hf:` source is noted (fetched at start), a file must load.
async fn check_models(list: &mut Checklist, settings: &Settings) {
    for choice in settings.model_choices() {
        let what = format!("model {}", choice.name);
        let source = std::path::PathBuf::from(&choice.source);
        if HubModel::from_path(&source).is_some() {
            let repo = choice.source.strip_prefix("hf:").unwrap_or(&choice.source);
            list.note(
                &what,
                format!("{} is fetched from the Hub at start", choice.source),
                format!("fetch it ahead with `parley pull {repo}`"),
            );
            continue;
        }
        let path = source.clone();
        let loaded =
            tokio::task::spawn_blocking(move || Model::load(&path, WeightFormat::default())).await;
        match loaded {
            Ok(Ok(_)) => list.pass(&what, format!("{} loads", source.display())),
            Ok(Err(e)) => list.fail(
                &what,
                format!("{}: {e}", source.display()),
                "run scripts/fetch-model.sh for the default model, or point model.path \
                 ([[models]] source) at a GGUF file",
            ),
            Err(e) => list.fail(
                &what,
                format!("loading panicked: {e}"),
                "report this as a bug",
            ),
        }
    }
}

/// The OpenAI-compatible server answers `GET {base_url}/models`.
async fn check_openai(list: &mut Checklist, settings: &Settings) {
    const WHAT: &str = "OpenAI-compatible server";
    let config = match crate::launch::openai_config(settings) {
        Ok(c) => c,
        Err(e) => {
            list.fail(
                WHAT,
                e.to_string(),
                "correct [engine.openai] in config.toml",
            );
            return;
        }
    };
    let url = format!("{}/models", config.base_url.trim_end_matches('/'));
    let mut request = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs_f64(config.connect_timeout_secs + 10.0));
    if let Ok(key) = std::env::var(crate::engine::openai::API_KEY_ENV) {
        request = request.bearer_auth(key);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => list.pass(WHAT, format!("{url} answers")),
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => list.fail(
            WHAT,
            format!("{url}: {}", r.status()),
            format!(
                "set {} to a key the server accepts",
                crate::engine::openai::API_KEY_ENV
            ),
        ),
        Ok(r) => list.fail(
            WHAT,
            format!("{url}: {}", r.status()),
            "check [engine.openai] base_url: it ends with /v1",
        ),
        Err(e) => list.fail(
            WHAT,
            format!("{url}: {e}"),
            "start the server, or correct [engine.openai] base_url",
        ),
    }
}

/// The store's folder exists (or can be made) and takes a file.
fn check_data_dir(list: &mut Checklist, store: &Path) {
    const WHAT: &str = "data directory";
    let dir = match store.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let probe = dir.join(".parley-check");
    let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&probe, b"ok"));
    let _ = std::fs::remove_file(&probe);
    match written {
        Ok(()) => list.pass(WHAT, format!("{} is writable", dir.display())),
        Err(e) => list.fail(
            WHAT,
            format!("{}: {e}", dir.display()),
            "make the folder writable for the bot's user, or set store.path elsewhere \
             (in a container: mount a volume at /data)",
        ),
    }
}

/// `metrics.listen`, when set, can be bound now.
async fn check_metrics_port(list: &mut Checklist, settings: &Settings) {
    const WHAT: &str = "metrics port";
    match settings.metrics.address() {
        Ok(None) => list.pass(WHAT, "metrics off (metrics.listen is empty)"),
        Ok(Some(address)) => match tokio::net::TcpListener::bind(address).await {
            Ok(_) => list.pass(WHAT, format!("{address} is free")),
            Err(e) => list.fail(
                WHAT,
                format!("{address}: {e}"),
                "stop what listens there (another bot?) or choose another metrics.listen",
            ),
        },
        Err(e) => list.fail(WHAT, e.to_string(), "metrics.listen is ADDRESS:PORT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_fails_the_list_and_shows_its_fix() {
        let mut list = Checklist::new();
        list.pass("config", "parses");
        list.note("privacy", "on", "see the README");
        assert!(list.passed());
        list.fail("token", "rejected", "ask @BotFather");
        assert!(!list.passed());
        let text = list.render();
        assert!(text.contains("[FAIL] token: rejected\n       fix: ask @BotFather"));
        assert!(text.contains("1 item(s) to fix"));
    }

    #[test]
    fn an_unknown_key_fails_the_config_item_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[bot]\nnmae = \"x\"\n").unwrap();
        let mut list = Checklist::new();
        assert!(check_config(&mut list, &path, true).is_none());
        let item = list.item("config").unwrap();
        assert_eq!(item.outcome, Outcome::Failed);
        assert!(item.found.contains("nmae"), "{}", item.found);
    }

    #[test]
    fn an_unwritable_data_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let mut list = Checklist::new();
        // A folder cannot be made under a file, whoever runs the test (root included).
        check_data_dir(&mut list, &file.join("sub").join("parley.sqlite3"));
        assert_eq!(
            list.item("data directory").unwrap().outcome,
            Outcome::Failed
        );
        let mut list = Checklist::new();
        check_data_dir(&mut list, &dir.path().join("parley.sqlite3"));
        assert_eq!(
            list.item("data directory").unwrap().outcome,
            Outcome::Passed
        );
    }

    #[tokio::test]
    async fn a_taken_metrics_port_fails() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let settings =
            Settings::from_toml_str(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"))
                .unwrap();
        let mut list = Checklist::new();
        check_metrics_port(&mut list, &settings).await;
        assert_eq!(list.item("metrics port").unwrap().outcome, Outcome::Failed);
        drop(taken);
        let mut list = Checklist::new();
        check_metrics_port(&mut list, &settings).await;
        assert_eq!(list.item("metrics port").unwrap().outcome, Outcome::Passed);
    }

    #[tokio::test]
    async fn a_missing_model_file_fails_with_the_fetch_script() {
        let settings =
            Settings::from_toml_str("[model]\npath = \"/nonexistent/model.gguf\"\n").unwrap();
        let mut list = Checklist::new();
        check_models(&mut list, &settings).await;
        let item = list.item("model default").unwrap();
        assert_eq!(item.outcome, Outcome::Failed);
        assert!(item.fix.as_deref().unwrap().contains("fetch-model.sh"));
    }
}
