//! Helpers for the tests that run the real core bot behind an adapter: its [`settings`] on the
//! real default model, and a wait until its answers have [`settled`].

use std::path::Path;
use std::time::Duration;

use parley_core::config::Settings;

/// Generous upper bound for anything the real model has to do.
pub const MODEL_WAIT: Duration = Duration::from_secs(90);

/// The core's settings for a test on the real default model (`scripts/fetch-model.sh`), one
/// engine thread, short greedy answers, and its store in `dir`.
pub fn settings(dir: &Path) -> Settings {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    Settings::from_toml_str(&format!(
        "[model]\npath = \"{root}/models/SmolLM2-135M-Instruct.Q4_1.gguf\"\n\
         [engine]\nthreads = 1\n\
         [sampling]\nmax_tokens = 32\ntemperature = 0.0\n\
         [store]\npath = \"{}\"\n\
         [prompts]\ndir = \"{root}/prompts\"\n",
        dir.join("parley.sqlite3").display()
    ))
    .expect("settings")
}

/// The bot's messages that `read` returns, once there are at least `n`, none is blank, and
/// none changed for 1.5 s; `text` is a message's current text. Panics, naming `place`, when
/// that does not happen within [`MODEL_WAIT`].
pub async fn settled<T>(
    place: &str,
    n: usize,
    read: impl Fn() -> Vec<T>,
    text: impl Fn(&T) -> &str,
) -> Vec<T> {
    let mut last: Vec<String> = Vec::new();
    let mut stable = 0;
    let deadline = tokio::time::Instant::now() + MODEL_WAIT;
    while tokio::time::Instant::now() < deadline {
        let msgs = read();
        let now: Vec<String> = msgs.iter().map(|m| text(m).to_owned()).collect();
        if now.len() >= n && now == last && now.iter().all(|t| !t.trim().is_empty()) {
            stable += 1;
            if stable >= 15 {
                return msgs;
            }
        } else {
            stable = 0;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{place}: wanted {n} settled messages, have {last:?}");
}
