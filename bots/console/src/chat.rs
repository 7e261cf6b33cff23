//! `parley chat`: talk to the bot in the terminal.
//!
//! A read-eval-print loop over the same [`Bot`](parley_core::bot::Bot) the Telegram and Discord adapters use, with a
//! console [`Outbox`] that prints the answer as it streams (the terminal cannot edit what it
//! printed, so `supports_edit` is false and the renderer hands out appended text). The chat is
//! one channel, `console:local`, a direct chat: every line is answered, commands work, and its
//! history is kept in the store like any channel's, so it survives a restart. The local user
//! owns the machine and counts as an admin (`/system` works).
//!
//! A file for the user (`/export`) is written into `exports/` next to the store, readable by
//! its owner only, and its path printed.
//!
//! Ctrl-C while an answer streams stops it (as `/cancel` does); Ctrl-C at the prompt, Ctrl-D or
//! the end of input quits cleanly, flushing the store.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use parley_core::config::Settings;
use parley_core::engine::shelf::ModelShelf;
use parley_core::seam::{
    Author, ChannelKey, Handler, Incoming, Markup, MessageRef, Outbox, Platform, PlatformLimits,
    PrivateFile,
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The console's one channel.
fn console_key() -> ChannelKey {
    ChannelKey::new(Platform::Console, "local")
}

/// Prints what the bot sends. A message that replies to the user's line starts on a fresh
/// line; appended text of a streaming answer continues where the last one stopped.
struct ConsoleOutbox {
    next_id: AtomicU64,
    /// Whether the cursor is at the start of a line.
    at_line_start: AtomicBool,
    /// Where files for the user are written.
    files: PathBuf,
}

impl ConsoleOutbox {
    fn new(files: PathBuf) -> Self {
        Self {
            next_id: AtomicU64::new(1),
            at_line_start: AtomicBool::new(true),
            files,
        }
    }

    fn write(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (piped into `head`) is not worth failing an answer for.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        if let Some(last) = text.chars().last() {
            self.at_line_start.store(last == '\n', Ordering::Relaxed);
        }
    }

    /// End the current line if something is printed on it.
    fn end_line(&self) {
        if !self.at_line_start.load(Ordering::Relaxed) {
            self.write("\n");
        }
    }
}

#[async_trait::async_trait]
impl Outbox for ConsoleOutbox {
    async fn send(
        &self,
        key: &ChannelKey,
        text: &str,
        reply_to: Option<&str>,
    ) -> parley_core::Result<MessageRef> {
        if reply_to.is_some() {
            self.end_line();
        }
        self.write(text);
        Ok(MessageRef {
            key: key.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed).to_string(),
        })
    }

    async fn edit(&self, _msg: &MessageRef, text: &str) -> parley_core::Result<()> {
        // Never asked for (supports_edit is false); print rather than lose the text.
        self.end_line();
        self.write(text);
        Ok(())
    }

    async fn typing(&self, _key: &ChannelKey) -> parley_core::Result<()> {
        Ok(())
    }

    fn limits(&self) -> PlatformLimits {
        PlatformLimits {
            max_message_chars: 1_000_000,
            edit_interval: Duration::ZERO,
            markup: Markup::Plain,
            supports_edit: false,
        }
    }

    /// Write the file (owner-only) and print its path.
    async fn send_file(&self, file: &PrivateFile) -> parley_core::Result<()> {
        let path = write_private(&self.files, file)?;
        self.end_line();
        self.write(&format!("{}\n{}\n", file.caption, path.display()));
        Ok(())
    }
}

/// Write `file` into `dir` (created 0700), the file itself 0600; its path.
fn write_private(dir: &Path, file: &PrivateFile) -> std::io::Result<PathBuf> {
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(dir)?;
    // The name is the core's; only its last component is used.
    let name = Path::new(&file.name)
        .file_name()
        .map_or_else(|| "export.json".into(), |n| n.to_os_string());
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&path)?.write_all(&file.bytes)?;
    Ok(path)
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// This console session's id: the time it started, in nanoseconds.
fn session_id() -> u128 {
    static START: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    })
}

fn user_name() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "you".to_string())
}

fn incoming(n: u64, text: &str, name: &str) -> Incoming {
    Incoming {
        key: console_key(),
        // Ids must never repeat across runs: the store recognises a message id it has seen as a
        // redelivery. The session's start time in nanoseconds plus the line number does that.
        message_id: format!("{}-{n}", session_id()),
        author: Author {
            id: "local".to_string(),
            display_name: name.to_string(),
            is_platform_admin: true,
        },
        text: text.to_string(),
        is_direct: true,
        mentions_bot: false,
        reply_to_bot: false,
        at: now_unix(),
        channel_title: None,
        reply_to: None,
        attachments: Vec::new(),
        language: None,
    }
}

/// Chat with the bot on stdin/stdout until end of input.
pub async fn run(settings: Settings, models: Arc<ModelShelf>) -> anyhow::Result<()> {
    let default = &models.choices()[0].name;
    let model = models
        .loaded(default)
        .map_or_else(|| default.clone(), |e| e.describe());
    let bot = parley_core::launch::bot_with_models(&settings, models)
        .await
        .with_context(|| format!("opening the history at {}", settings.store.path.display()))?;
    let data = settings.store.path.parent().unwrap_or(Path::new("."));
    let outbox = Arc::new(ConsoleOutbox::new(data.join("exports")));
    let dyn_outbox: Arc<dyn Outbox> = outbox.clone();
    let name = user_name();

    outbox.write(&format!(
        "{} ({model}). Type a message; /help lists the commands; Ctrl-D quits.\n",
        settings.bot.name
    ));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut n = 0u64;
    loop {
        outbox.write("> ");
        let line = tokio::select! {
            line = lines.next_line() => line.context("reading stdin")?,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(line) = line else {
            outbox.end_line();
            break;
        };
        // The user's Enter moved the cursor to a new line.
        outbox.at_line_start.store(true, Ordering::Relaxed);
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        n += 1;
        bot.handle(incoming(n, text, &name), dyn_outbox.clone())
            .await;
        tokio::select! {
            _ = bot.idle() => {}
            _ = tokio::signal::ctrl_c() => {
                n += 1;
                bot.handle(incoming(n, "/cancel", &name), dyn_outbox.clone()).await;
                bot.idle().await;
            }
        }
        outbox.end_line();
    }
    bot.shutdown().await;
    Ok(())
}
