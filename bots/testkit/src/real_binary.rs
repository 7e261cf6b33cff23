//! The real default model and the real binaries in tests, written once: where the model is
//! ([`default_model`]), the configuration every real-model test shares ([`model_config`]:
//! greedy, seeded, a pinned date, so a failure reproduces on any day), and [`RealBinary`],
//! which starts `parley-telegram` or `parley-discord` on such a configuration with its log in a
//! file and stops it with SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The day the personas say in every real-model test (`prompts.date`).
pub const PINNED_DATE: &str = "2026-01-15";

/// The sampling seed of every real-model test (they also run greedy).
pub const SEED: u64 = 7;

/// How long a binary may take to exit after SIGTERM.
pub const EXIT_WAIT: Duration = Duration::from_secs(20);

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The default model, as `scripts/fetch-model.sh` leaves it.
pub fn default_model() -> PathBuf {
    repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The configuration lines every real-model test shares: the default model on one engine
/// thread, greedy and seeded answers of at most `max_tokens`, the store in `dir`, the
/// repository's personas with the date pinned to [`PINNED_DATE`]. Tests add their adapter's
/// section (and more) before it.
pub fn model_config(dir: &Path, max_tokens: usize) -> String {
    let root = repo_root();
    format!(
        "[model]\npath = \"{}\"\n\
         [engine]\nthreads = 1\n\
         [sampling]\nmax_tokens = {max_tokens}\ntemperature = 0.0\nseed = {SEED}\n\
         [store]\npath = \"{}\"\n\
         [prompts]\ndir = \"{}\"\ndate = \"{PINNED_DATE}\"\n",
        default_model().display(),
        dir.join("parley.sqlite3").display(),
        root.join("prompts").display(),
    )
}

/// A real binary running on a configuration in a folder of its own; killed when dropped (a
/// test that fails half-way leaves nothing running).
#[derive(Debug)]
pub struct RealBinary {
    child: Option<Child>,
    log: PathBuf,
}

impl RealBinary {
    /// Start `exe` with `config` written to `dir/config.toml`, its log (stderr) in
    /// `dir/log.txt`, at `RUST_LOG=info`, and the variables `env` set. `PARLEY_CONFIG` is
    /// removed so the machine's own configuration cannot leak in.
    pub fn start(exe: &str, dir: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        let path = dir.join("config.toml");
        std::fs::write(&path, config).expect("write the binary's config");
        let log = dir.join("log.txt");
        let child = Command::new(exe)
            .arg("--config")
            .arg(&path)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env_remove("PARLEY_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {exe}: {e}"));
        Self {
            child: Some(child),
            log,
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `address=` of the first log line containing `message` (for a server told to listen
    /// on port 0), waiting at most `wait` for it; `None` when it never comes or the binary
    /// exits first.
    pub async fn logged_address(&self, message: &str, wait: Duration) -> Option<SocketAddr> {
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            let log = strip_ansi(&self.log());
            let found = log.lines().filter(|l| l.contains(message)).find_map(|l| {
                l.split_once("address=")?
                    .1
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            });
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Whether it has exited already.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// Send SIGTERM and wait at most [`EXIT_WAIT`] for the exit; panics (with the log) when
    /// it does not come.
    pub async fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("send SIGTERM");
        assert!(sent.success());
        let deadline = tokio::time::Instant::now() + EXIT_WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("no exit after SIGTERM; log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `text` without terminal colour codes (`ESC [ … m`), which the log may carry.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for RealBinary {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
