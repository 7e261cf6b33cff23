//! # parley-core
//!
//! The platform-independent heart of Parley: it runs the language model, keeps a context window
//! per channel, decides when and how to answer, and stores history durably.
//!
//! Data flows one way: an adapter (Telegram, Discord, the console) turns a platform event into an
//! [`seam::Incoming`]; the bot decides whether to answer; the answer streams from an
//! [`engine::Engine`] back through the adapter's [`seam::Outbox`].
//!
//! Rooms:
//! - [`engine`]: the `Engine` trait, requests, streamed events, the one stop-string filter; its
//!   kinds: [`engine::local`] (GGUF model, tokenizer, kernels, sampling, KV caches), [`engine::openai`].
//! - [`seam`]: the types adapters speak.
//! - [`config`]: typed `Settings` from `config.toml` + `PARLEY__SECTION__KEY`, validated.
//! - [`conversation`]: `Turn`, `Conversation`, the token-measured `ContextWindow`.
//! - [`store`]: durable history and channel settings in SQLite.
//! - [`scheduler`]: one answer per channel, fair turns across channels, bounded queues.
//! - [`bot`]: the `Handler` adapters call: triggers, commands, streaming answers.
//! - [`outbound`]: what every adapter needs on the way out (retry, edit throttle, splitting,
//!   the empty-text placeholder), around the adapter's calls to its client.
//! - [`launch`]: start-up shared by the binaries (engine from settings, bot over it).
//! - `testing` (only with the `testing` cargo feature, which the dev-only `parley-testkit` turns
//!   on for test builds): a recording `Outbox`, message builders, and `engine::scripted`.

pub mod bot;
pub mod commands;
pub mod config;
pub mod conversation;
pub mod engine;
pub mod error;
pub mod launch;
pub mod outbound;
pub mod persona;
pub mod render;
pub mod scheduler;
pub mod seam;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod translate;

pub use error::{Error, Result};
