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
//! - [`engine`]: the `Engine` trait, requests, streamed events.
//! - [`seam`]: the types adapters speak.

pub mod commands;
pub mod engine;
pub mod error;
pub mod persona;
pub mod render;
pub mod seam;
pub mod translate;

pub use error::{Error, Result};
