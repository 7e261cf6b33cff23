//! `parley pull owner/repo[:QUANT]`: a model from the Hugging Face Hub into its local cache,
//! with a progress bar on a terminal; prints the file's path. The same code fetches a
//! `model.path = "hf:…"` when a binary starts ([`parley_core::hub`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use parley_core::hub::{self, Hub, HubModel, Progress};

/// A download bar on stderr, drawn only when stderr is a terminal.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar that shows itself only on a terminal.
    pub fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Self(bar)
    }
}

impl Progress for Bar {
    fn start(&self, file: &str, total: u64, done: u64) {
        self.0.set_message(file.to_string());
        self.0.set_length(total);
        self.0.set_position(done);
    }

    fn advance(&self, done: u64) {
        self.0.set_position(done);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Fetch `spec` (`owner/repo[:QUANT]`) and return its local path.
pub fn run(spec: &str) -> Result<PathBuf> {
    let model = HubModel::parse(spec)?;
    let hub = Hub::from_env()?;
    let rt = tokio::runtime::Runtime::new()?;
    Ok(rt.block_on(hub.fetch(&model, &Bar::new()))?)
}

/// `path` itself, or the cached (else downloaded, with a bar) file of an `hf:` path.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if HubModel::from_path(path).is_none() {
        return Ok(path.to_path_buf());
    }
    let rt = tokio::runtime::Runtime::new()?;
    Ok(rt.block_on(hub::resolve(path, &Bar::new()))?)
}
