//! Files attached to a question: which ones the bot reads, downloading them (size checked
//! first, then a download with a timeout), and the named, fenced block each becomes in the
//! question, trimmed to the token budget.
//!
//! A file the bot cannot read (an image, audio or video, not UTF-8 text, too large, not
//! downloaded) is never dropped silently: the user gets one short line saying what the bot
//! reads. When nothing readable is left, the question is not answered blind.

use std::sync::Arc;

use tracing::{debug, warn};

use super::context::{say, BotContext};
use super::replies;
use crate::conversation::start_within_tokens;
use crate::engine::Engine;
use crate::i18n::Language;
use crate::seam::{Attachment, Incoming, Outbox};

/// What a file is, as far as the bot reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// Text: read.
    Text,
    /// A picture, a sound, a film (named as the refusal says it): not read.
    Media(&'static str),
    /// Anything else (archives, PDFs, executables): not read.
    Other,
}

/// Extensions of text files (lowercase, without the dot), for when the MIME type says nothing.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "text",
    "md",
    "markdown",
    "rst",
    "adoc",
    "org",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "ndjson",
    "log",
    "out",
    "err",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "env",
    "properties",
    "xml",
    "html",
    "htm",
    "css",
    "scss",
    "js",
    "mjs",
    "cjs",
    "ts",
    "tsx",
    "jsx",
    "py",
    "pyi",
    "rb",
    "rs",
    "go",
    "java",
    "kt",
    "kts",
    "swift",
    "c",
    "h",
    "cc",
    "cpp",
    "hpp",
    "cs",
    "php",
    "pl",
    "lua",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "bat",
    "sql",
    "r",
    "scala",
    "hs",
    "ex",
    "exs",
    "erl",
    "clj",
    "dart",
    "vue",
    "svelte",
    "tex",
    "bib",
    "srt",
    "vtt",
    "diff",
    "patch",
    "gradle",
    "cmake",
    "mk",
    "dockerfile",
    "gitignore",
    "lock",
    "nix",
    "zig",
    "jl",
];
/// Names of text files that have no extension.
const TEXT_NAMES: &[&str] = &["makefile", "dockerfile", "readme", "license", "changelog"];
/// MIME types outside `text/` that hold text.
const TEXT_MIMES: &[&str] = &[
    "application/json",
    "application/xml",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/javascript",
    "application/x-javascript",
    "application/typescript",
    "application/x-sh",
    "application/x-shellscript",
    "application/sql",
    "application/x-python",
    "application/x-python-code",
    "application/x-ndjson",
    "application/csv",
];
/// Extensions of media files, for when the MIME type says nothing.
const MEDIA_EXTENSIONS: &[(&str, &[&str])] = &[
    (
        "images",
        &[
            "png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "heic", "svg", "ico",
        ],
    ),
    (
        "audio",
        &["mp3", "ogg", "oga", "opus", "wav", "flac", "m4a", "aac"],
    ),
    ("videos", &["mp4", "mov", "webm", "mkv", "avi", "m4v"]),
];

/// What `a` is, by its MIME type first, then its name.
fn kind_of(a: &Attachment) -> FileKind {
    let mime = a
        .mime
        .as_deref()
        .map(|m| m.split(';').next().unwrap_or(m).trim().to_ascii_lowercase())
        .unwrap_or_default();
    for (prefix, what) in [
        ("image/", "images"),
        ("audio/", "audio"),
        ("video/", "videos"),
    ] {
        if mime.starts_with(prefix) {
            return FileKind::Media(what);
        }
    }
    if mime.starts_with("text/") || TEXT_MIMES.contains(&mime.as_str()) {
        return FileKind::Text;
    }
    let name = a.name.to_ascii_lowercase();
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    if let Some((what, _)) = MEDIA_EXTENSIONS
        .iter()
        .find(|(_, exts)| exts.contains(&ext))
    {
        return FileKind::Media(what);
    }
    let stem = name.split('.').next().unwrap_or_default();
    if TEXT_EXTENSIONS.contains(&ext) || TEXT_NAMES.contains(&stem) {
        return FileKind::Text;
    }
    FileKind::Other
}

/// A file read: its name and its text.
struct FileText {
    name: String,
    text: String,
}

impl BotContext {
    /// The question `text` of `message` with its attached files read into it (`text` itself
    /// when it has none), or `None` when none could be read (the user was told why; a question
    /// about a file is not answered without it). Files that could not be read are named to the
    /// user either way.
    pub(super) async fn question_with_files(
        &self,
        message: &Incoming,
        text: &str,
        lang: Language,
        outbox: &dyn Outbox,
    ) -> Option<String> {
        if message.attachments.is_empty() {
            return Some(text.to_string());
        }
        let mut files = Vec::new();
        let mut refusals = Vec::new();
        for attachment in &message.attachments {
            match self.read_file(attachment, lang, outbox).await {
                Ok(file) => files.push(file),
                Err(refusal) => refusals.push(refusal),
            }
        }
        if !refusals.is_empty() {
            let reply_to = Some(message.message_id.as_str());
            say(outbox, &message.key, reply_to, &refusals.join("\n")).await;
        }
        if files.is_empty() {
            return None;
        }
        let engine = match self.channel_engine(&message.key).await {
            Ok(engine) => engine,
            Err(e) => {
                warn!(channel = %message.key, error = %e, "no engine to measure the files with");
                let reply_to = Some(message.message_id.as_str());
                say(outbox, &message.key, reply_to, &replies::engine_error(lang)).await;
                return None;
            }
        };
        Some(self.fit_files(engine, text, files).await)
    }

    /// Download and decode one attachment, or the line telling the user why not.
    async fn read_file(
        &self,
        a: &Attachment,
        lang: Language,
        outbox: &dyn Outbox,
    ) -> std::result::Result<FileText, String> {
        let max = self.settings().attachments.max_bytes;
        match kind_of(a) {
            FileKind::Text => {}
            FileKind::Media(what) => return Err(replies::file_is_media(lang, &a.name, what, max)),
            FileKind::Other => return Err(replies::file_not_text(lang, &a.name, max)),
        }
        if let Some(size) = a.size.filter(|&s| s > max) {
            debug!(size, max, "attachment too large; not downloaded");
            return Err(replies::file_too_large(lang, &a.name, size, max));
        }
        let limit = self.settings().attachments.download_timeout();
        let bytes = match tokio::time::timeout(limit, outbox.download(a, max)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                warn!(error = %e, "attachment download failed");
                return Err(replies::file_not_fetched(lang, &a.name));
            }
            Err(_) => {
                warn!(timeout_s = limit.as_secs(), "attachment download timed out");
                return Err(replies::file_not_fetched(lang, &a.name));
            }
        };
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => Ok(FileText {
                name: a.name.clone(),
                text: text.replace("\r\n", "\n"),
            }),
            _ => Err(replies::file_not_text(lang, &a.name, max)),
        }
    }

    /// The question with each file as a fenced block after it, the files sharing half of the
    /// window (what the answer does not reserve); a file over its share keeps its start and
    /// says so. Measured on the blocking pool: counting tokens is real tokenizer work.
    async fn fit_files(&self, engine: Arc<dyn Engine>, text: &str, files: Vec<FileText>) -> String {
        let window = engine
            .context_len()
            .saturating_sub(self.settings().sampling.max_tokens);
        let share = window / 2 / files.len().max(1);
        let text = text.to_string();
        let build = move || {
            let mut question = text;
            for f in files {
                let start = start_within_tokens(engine.as_ref(), &f.text, share);
                let trimmed = start.is_some();
                let body = start.as_deref().unwrap_or(&f.text);
                if !question.is_empty() {
                    question.push_str("\n\n");
                }
                question.push_str(&replies::file_block(&f.name, body, trimmed));
            }
            question
        };
        match tokio::task::spawn_blocking(build).await {
            Ok(q) => q,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, mime: Option<&str>) -> Attachment {
        Attachment {
            name: name.into(),
            mime: mime.map(str::to_string),
            size: Some(10),
            locator: String::new(),
        }
    }

    #[test]
    fn files_are_told_apart_by_type_then_name() {
        assert_eq!(kind_of(&file("a.py", None)), FileKind::Text);
        assert_eq!(
            kind_of(&file("a.bin", Some("text/plain; charset=utf-8"))),
            FileKind::Text
        );
        assert_eq!(
            kind_of(&file("data", Some("application/json"))),
            FileKind::Text
        );
        assert_eq!(kind_of(&file("Makefile", None)), FileKind::Text);
        assert_eq!(
            kind_of(&file("server.log", Some("application/octet-stream"))),
            FileKind::Text
        );
        assert_eq!(
            kind_of(&file("cat.txt", Some("image/png"))),
            FileKind::Media("images")
        );
        assert_eq!(kind_of(&file("cat.JPG", None)), FileKind::Media("images"));
        assert_eq!(kind_of(&file("v.ogg", None)), FileKind::Media("audio"));
        assert_eq!(kind_of(&file("a.zip", None)), FileKind::Other);
        assert_eq!(
            kind_of(&file("a.pdf", Some("application/pdf"))),
            FileKind::Other
        );
    }
}
