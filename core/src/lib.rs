//! # parley-core
//!
//! The platform-independent heart of Parley: it runs the language model, keeps a context window
//! per channel, decides when and how to answer, and stores history durably.
//!
//! Data flows one way: an adapter (Telegram, Discord, the console) turns a platform event into an
//! [`seam::Incoming`]; the bot decides whether to answer; the answer streams from an
//! [`engine::Engine`] back through the adapter's [`seam::Outbox`].
//!
//! Rooms, in the order a message flows through them:
//! - [`seam`]: the types adapters speak: `Incoming`, `ChannelKey`, `Outbox`, `Handler`.
//! - [`refusal`]: what every adapter does once its allowlists have judged a message (allowed,
//!   ignored, or refused with one polite, localized line per gap).
//! - [`bot`]: the `Handler` adapters call. `bot/mod.rs` takes a message in (addressing,
//!   admission, rate limit); `queue` queues a job and runs it as a chat answer (`prompt`
//!   builds its request, `answer` streams it) or a translation, both through `job`'s one pump;
//!   `channels` holds one `Channel` per loaded channel; `commands` runs one function per
//!   command; `replies` is every text the bot writes itself, in the user's language.
//! - [`i18n`]: the languages the bot speaks (`Language`, resolved once per message from the
//!   user's platform language, else `bot.language`) and the one Fluent catalogue
//!   (`locales/<lang>/parley.ftl`) its words come from.
//! - [`commands`]: the command grammar, `/cmd@botname` read once, the help text.
//! - [`conversation`]: `Turn`, `Conversation`, the token-measured `ContextWindow`.
//! - [`persona`], [`translate`]: system prompts from `prompts/`; language detection and
//!   translation requests.
//! - [`scheduler`]: one answer per channel, fair turns across channels, bounded queues.
//! - [`engine`]: the `Engine` trait, requests, streamed events, the one stop-string filter; its
//!   kinds: [`engine::local`] (GGUF model, tokenizer, kernels, sampling, KV caches) and
//!   [`engine::openai`] (any OpenAI-compatible server).
//! - [`render`]: the streaming edit plan, splitting at platform limits, mention neutralising.
//! - [`outbound`]: what every adapter needs on the way out (retry, edit throttle, splitting,
//!   the empty-text placeholder), around the adapter's calls to its client.
//! - [`store`]: durable history, channel settings and notes in SQLite (a turn is on disk before
//!   it is answered).
//!
//! Beside the flow: [`config`] (typed `Settings` from `config.toml` + `PARLEY__SECTION__KEY`,
//! the one loader, which hands each adapter its section), [`launch`] (start-up shared by the
//! binaries), [`setup_check`] (the first-run checklist of `--check`), [`reload`] (live settings on SIGHUP), [`hub`] (models by name from the Hugging Face Hub, into its cache), [`metrics`]
//! (Prometheus metrics and the health check for operators), [`error`] (the
//! crate's one error type), and `testing` (only with the `testing`
//! cargo feature, which dev-only crates turn on: a recording `Outbox`, message builders,
//! `engine::scripted` and the `test` platform).

pub mod bot;
pub mod commands;
pub mod config;
pub mod conversation;
pub mod engine;
pub mod error;
pub mod hub;
pub mod i18n;
pub mod launch;
pub mod metrics;
pub mod outbound;
pub mod persona;
pub mod refusal;
pub mod reload;
pub mod render;
pub mod scheduler;
pub mod seam;
pub mod setup_check;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod translate;

pub use error::{Error, Result};
