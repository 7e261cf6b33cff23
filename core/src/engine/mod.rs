//! Engines: what turns a conversation into a streamed answer.
//!
//! [`Engine::generate`] takes a [`GenerateRequest`] (conversation id, full message list, sampling
//! settings) and returns a [`Generation`]: a stream of [`GenEvent`]s ending in
//! [`GenEvent::Done`] with the [`Usage`]. The local engine runs the model on its own thread and
//! keeps a KV cache per conversation id; the OpenAI-compatible engine forwards to a server.
//! [`shelf::ModelShelf`] holds the engines of the models a bot may use by name (`/model`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::Result;

pub mod local;
pub mod openai;
#[cfg(any(test, feature = "testing"))]
pub mod scripted;
pub mod shelf;
pub mod stop;

/// Who said a message in the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions: persona, rules.
    System,
    /// A person.
    User,
    /// The bot.
    Assistant,
}

impl Role {
    /// The role name chat templates expect.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who said it.
    pub role: Role,
    /// What was said. For user messages this is plain text: it can never contain control tokens.
    pub content: String,
}

impl ChatMessage {
    /// A message with `role` and `content`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// Sampling settings, in the vocabulary of the OpenAI API.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// 0 means greedy.
    pub temperature: f64,
    /// Nucleus sampling mass, 1.0 = off.
    pub top_p: f64,
    /// Keep only the k most likely tokens, 0 = off.
    pub top_k: usize,
    /// Penalty on recently generated tokens, 1.0 = off.
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: usize,
    /// Seed for reproducible sampling; `None` picks one at random.
    pub seed: Option<u64>,
    /// Strings that end the answer; they are never emitted, not even partly.
    pub stop: Vec<String>,
}

impl SamplingParams {
    /// These settings with a seed: the chat's own, or one drawn now. Every answer is sampled
    /// with a known seed, so `/why` can name it and `/set seed` reproduce the answer.
    pub fn with_seed(mut self) -> Self {
        self.seed = Some(self.seed.unwrap_or_else(draw_seed));
        self
    }
}

/// A fresh seed, for sampling that should not repeat itself.
pub fn draw_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5eed);
    // Two answers drawn in the same tick still differ.
    static DRAWN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = DRAWN.fetch_add(1, Ordering::Relaxed);
    (nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) & (i64::MAX as u64)
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            temperature: 0.7,
            top_p: 0.9,
            top_k: 40,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: None,
            stop: Vec::new(),
        }
    }
}

/// A request for one answer.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// Conversation id: requests with the same id share a KV cache (longest common prefix).
    pub conversation: String,
    /// The whole prompt, system message first.
    pub messages: Vec<ChatMessage>,
    /// Sampling settings.
    pub params: SamplingParams,
    /// Leading bytes of the first message (the system prompt) that hold nothing from any user:
    /// the operator's persona text before the first display name, chat title, `/system` or
    /// `/remember` text. Only the prompt tokens these bytes encode may be copied from another
    /// conversation's cache; 0 shares nothing. The conversation's own cache is not limited.
    pub shareable_bytes: usize,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End-of-sequence token or a stop string.
    Stop,
    /// `max_tokens` reached (or the context is full).
    Length,
    /// Cancelled by the caller.
    Cancelled,
}

/// What one generation cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens served from the conversation's own cache (not prefilled again).
    pub cached_tokens: usize,
    /// Prompt tokens copied from another conversation's cache: the start of a system prompt
    /// they share, never anything a user wrote (see [`GenerateRequest::shareable_bytes`]).
    pub shared_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Why it ended (`None` only while running).
    pub finish: Option<FinishReason>,
    /// Time from request to the first token.
    pub time_to_first_token: Duration,
    /// Time spent prefilling the prompt.
    pub prefill: Duration,
    /// Time spent decoding.
    pub decode: Duration,
    /// One of the request's stop strings ended the answer (`finish` is then `Stop`); `false`
    /// when the model ended its turn, or when the engine cannot tell the two apart.
    pub stop_string: bool,
}

/// One item of a generation's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum GenEvent {
    /// More text. Never splits a UTF-8 character; never contains (part of) a stop string.
    Delta(String),
    /// The end, with its cost.
    Done(Usage),
}

/// A shared flag that asks a generation to stop.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A fresh, not-cancelled token.
    pub fn new() -> Self {
        Self::default()
    }
    /// Ask the generation to stop at its next token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A running generation: a stream of events and a way to cancel it. Dropping it cancels too.
#[derive(Debug)]
pub struct Generation {
    events: mpsc::UnboundedReceiver<Result<GenEvent>>,
    cancel: CancelToken,
}

impl Generation {
    /// Wrap a receiver that an engine feeds, with the token it watches.
    pub fn new(events: mpsc::UnboundedReceiver<Result<GenEvent>>, cancel: CancelToken) -> Self {
        Self { events, cancel }
    }

    /// The token that stops this generation.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The next event; `None` after `Done` or an error.
    pub async fn next(&mut self) -> Option<Result<GenEvent>> {
        self.events.recv().await
    }

    /// Blocking variant of [`Generation::next`], for threads outside the async runtime.
    pub fn blocking_next(&mut self) -> Option<Result<GenEvent>> {
        self.events.blocking_recv()
    }

    /// Wait for the whole answer.
    pub async fn text(mut self) -> Result<(String, Usage)> {
        let mut text = String::new();
        while let Some(ev) = self.next().await {
            match ev? {
                GenEvent::Delta(d) => text.push_str(&d),
                GenEvent::Done(u) => return Ok((text, u)),
            }
        }
        Err(crate::Error::EngineStopped)
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Something that answers conversations.
pub trait Engine: Send + Sync {
    /// Start generating; events arrive on the returned [`Generation`].
    fn generate(&self, request: GenerateRequest) -> Result<Generation>;
    /// Tokens `text` takes in this engine's model (an estimate for remote engines).
    fn count_tokens(&self, text: &str) -> usize;
    /// Tokens the chat template adds around each message.
    fn message_overhead(&self) -> usize;
    /// The model's context length in tokens.
    fn context_len(&self) -> usize;
    /// Drop whatever is cached for a conversation (after `/reset`).
    fn forget(&self, conversation: &str);
    /// A short description of the model, for `/stats` and logs.
    fn describe(&self) -> String;
    /// How many answers the engine generates at once when it decides that itself (the local
    /// engine's `engine.max_batch`); the scheduler then lets that many channels in. `None`:
    /// as many as `scheduler.workers` says.
    fn concurrent_answers(&self) -> Option<usize> {
        None
    }

    /// What kind of engine this is (`local`, `openai`), for `/why` and metrics.
    fn kind(&self) -> &'static str {
        "other"
    }
}
