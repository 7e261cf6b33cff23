//! # parley-testkit
//!
//! Fake platform servers on 127.0.0.1 for Parley's end-to-end tests: Discord and Telegram cannot
//! be reached from the test machines, and a remote inference server should not be needed. Each
//! fake records every call and can inject faults (429, 5xx, dropped connections). Besides the
//! fakes: a fake Hugging Face Hub ([`hub`]), a scripted stand-in for the core ([`handler`]), helpers for tests of the real core
//! bot ([`real_bot`]), and the default model and the real binaries, started once ([`real_binary`]).

pub mod discord;
pub mod handler;
pub mod hub;
pub mod openai;
pub mod real_binary;
pub mod real_bot;
pub mod telegram;
