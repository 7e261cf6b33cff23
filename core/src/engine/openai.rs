//! The remote engine: any server that speaks the OpenAI chat-completions API (vLLM, llama.cpp
//! server, Ollama, TGI, OpenAI itself).
//!
//! [`OpenAiEngine`] implements [`Engine`] by POSTing the whole prompt to
//! `{base_url}/chat/completions` with `stream: true` and forwarding each server-sent-event delta
//! as a [`GenEvent::Delta`] the moment it arrives. The last event is [`GenEvent::Done`] with the
//! server's own usage (it is asked for with `stream_options.include_usage`, and asked no more once
//! a server refuses that field); a server that does not report usage gets an estimate (prompt: see below; completion: one token per streamed chunk,
//! which is how these servers stream).
//!
//! # Vocabulary
//! [`SamplingParams`](super::SamplingParams) map one to one onto the API: `max_tokens`,
//! `temperature`, `top_p`, `seed` and `stop`. The API allows at most four stop strings, so the first four go to the server and
//! *all* of them are also enforced here: a stop string is never forwarded, not even its first
//! characters, even when the server ignores it. `top_k` and `repeat_penalty` are not part of the
//! OpenAI API; [`OpenAiConfig::extended_sampling`] sends them in the names vLLM and llama.cpp
//! understand. `n` (several answers at once, for `/retry` alternatives) is used by
//! [`OpenAiEngine::alternatives`].
//!
//! # Token counting
//! The server's tokenizer is not available here, and [`Engine::count_tokens`] must not touch the
//! network (the context window calls it for every turn). So the engine **estimates**:
//! `ceil(chars × ratio)` tokens per text plus [`Engine::message_overhead`] per message, against the
//! configured [`OpenAiConfig::context_len`] (set it to the server's limit). The ratio starts at a
//! conservative 1/3 token per character (typical BPE tokenizers take about 1/4 for English) and is
//! **calibrated** from the `prompt_tokens` each answer reports: a running ratio of reported tokens
//! to prompt characters, raised by a 15 % safety margin and clamped to 0.2..=1.5, so a window
//! measured with it fits the real model with room to spare. Text in scripts that take more
//! tokens per character (CJK) raises the ratio as soon as the server has reported on some.
//!
//! # Faults
//! Every failure ends the stream with an [`Error::Remote`] whose message tells the operator what
//! happened and which setting to look at; nothing panics.
//! - connection refused / reset before an answer: retried with exponential backoff;
//! - `429 Too Many Requests`: retried after the server's `Retry-After` (seconds), unless it asks
//!   for longer than [`OpenAiConfig::max_retry_wait_secs`], then it fails at once;
//! - `5xx`: retried with exponential backoff;
//! - other `4xx`: fails at once with the server's message (bad model name, context too long, bad
//!   API key...);
//! - no answer (no response headers, or no stream data) for [`OpenAiConfig::timeout_secs`]: fails,
//!   not retried (a stuck server would only be made to wait again);
//! - the stream breaking off mid-answer: the deltas already forwarded stand (the caller keeps the
//!   partial text) and an error follows.
//!
//! Retries are bounded by [`OpenAiConfig::max_retries`] and happen only **before** any text of the
//! answer has arrived: an answer that has begun is never started over.
//!
//! # Concurrency and cancellation
//! [`Engine::generate`] does not block: it spawns the request on the tokio runtime captured when
//! the engine was built, so it may be called from any thread. At most
//! [`OpenAiConfig::max_concurrent`] requests are in flight; the others wait their turn. Cancelling
//! the [`CancelToken`] or dropping the [`Generation`] drops the HTTP response, which closes the
//! connection, and the server stops generating.

mod sse;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};

use super::stop::{cut_at_stop, StopFilter};
use super::{CancelToken, Engine, FinishReason, GenEvent, GenerateRequest, Generation, Usage};
use crate::{Error, Result};
use sse::SseDecoder;

/// The environment variable holding the API key (sent as `Authorization: Bearer …`).
pub const API_KEY_ENV: &str = "PARLEY_OPENAI_API_KEY";

/// Most stop strings the OpenAI API accepts; the rest are enforced only client-side.
pub const SERVER_STOP_LIMIT: usize = 4;

/// Most answers [`OpenAiEngine::alternatives`] asks for at once.
pub const MAX_ALTERNATIVES: usize = 16;

/// Tokens assumed around each message by the chat template (`<|im_start|>role\n … <|im_end|>\n`
/// is 5 in ChatML; Llama 3 headers take 4–5): generous on purpose.
const MESSAGE_OVERHEAD: usize = 8;
/// Overhead per message subtracted before calibrating: small, so the calibrated ratio errs high.
const CALIBRATION_OVERHEAD: usize = 4;
/// Starting tokens-per-character ratio: conservative for BPE tokenizers on Latin text.
const DEFAULT_RATIO: f64 = 1.0 / 3.0;
/// Calibration bounds and margin (see the module doc).
const MIN_RATIO: f64 = 0.2;
const MAX_RATIO: f64 = 1.5;
const SAFETY: f64 = 1.15;
/// Smallest prompt (in characters) that calibrates: in short prompts a fixed cost (a default system
/// prompt the server's template adds, the generation prompt) would dominate.
const CALIBRATION_MIN_SAMPLE_CHARS: usize = 256;
/// Characters of evidence needed before the calibrated ratio replaces the default.
const CALIBRATION_MIN_CHARS: f64 = 400.0;
/// Above this many characters of evidence, old evidence is halved so recent answers dominate.
const CALIBRATION_WINDOW_CHARS: f64 = 200_000.0;
/// How often a waiting generation looks at its [`CancelToken`].
const CANCEL_POLL: Duration = Duration::from_millis(20);
/// Longest backoff between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Bytes of an error body kept for the error message.
const ERROR_BODY_LIMIT: usize = 600;
/// Characters one token may stand for, at most, when the answer is capped client-side: real
/// tokens are far shorter, so this only stops a server that ignores `max_tokens`.
const MAX_CHARS_PER_TOKEN: usize = 32;
/// Largest non-streamed JSON answer read (a larger one is refused, not buffered).
const MAX_BODY_BYTES: usize = 8 << 20;

/// Settings of the OpenAI-compatible engine (`[engine.openai]` in `config.toml`).
///
/// The API key is not a setting: it comes from the environment ([`API_KEY_ENV`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiConfig {
    /// Where the API lives, up to and including `/v1`, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// Model name sent with each request (vLLM and Ollama need the served name; llama.cpp
    /// ignores it).
    pub model: String,
    /// Longest wait, in seconds, for the server's response to begin and between two pieces of a
    /// streamed answer; also the longest wait for a whole non-streamed answer.
    pub timeout_secs: f64,
    /// Longest wait, in seconds, for the TCP/TLS connection.
    pub connect_timeout_secs: f64,
    /// Longest time, in seconds, one whole answer may take, however steadily the server sends
    /// bytes (a server trickling keep-alive comments or tiny pieces never hits `timeout_secs`).
    pub answer_timeout_secs: f64,
    /// Most requests in flight at once; further ones wait their turn.
    pub max_concurrent: usize,
    /// The served model's context length in tokens (vLLM `--max-model-len`, llama.cpp `-c`,
    /// Ollama `num_ctx`).
    pub context_len: usize,
    /// Retries after a refused connection, a 429 or a 5xx, before any text arrived.
    pub max_retries: u32,
    /// First backoff between retries in milliseconds; doubles on each retry (8 s at most).
    pub retry_backoff_ms: u64,
    /// Longest `Retry-After` honoured, in seconds; a server asking for more fails the request.
    pub max_retry_wait_secs: f64,
    /// Also send `top_k`, `repeat_penalty` (llama.cpp) and `repetition_penalty` (vLLM), which are
    /// not OpenAI parameters: strict servers (OpenAI itself) reject them.
    pub extended_sampling: bool,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080/v1".into(),
            model: "default".into(),
            timeout_secs: 60.0,
            connect_timeout_secs: 5.0,
            answer_timeout_secs: 300.0,
            max_concurrent: 8,
            context_len: 4096,
            max_retries: 3,
            retry_backoff_ms: 500,
            max_retry_wait_secs: 30.0,
            extended_sampling: false,
        }
    }
}

impl OpenAiConfig {
    /// Check the values; errors name the key (`engine.openai.…`).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, reason: String| Error::Config {
            key: format!("engine.openai.{key}"),
            reason,
        };
        let url = self.base_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(bad(
                "base_url",
                format!(
                    "`{url}` is not an http:// or https:// URL (e.g. http://127.0.0.1:8080/v1)"
                ),
            ));
        }
        if self.model.trim().is_empty() {
            return Err(bad("model", "must not be empty".into()));
        }
        for (key, v) in [
            ("timeout_secs", self.timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("answer_timeout_secs", self.answer_timeout_secs),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
                return Err(bad(
                    key,
                    format!("{v} is not a number of seconds in (0, 86400]"),
                ));
            }
        }
        if !(self.max_retry_wait_secs.is_finite()
            && (0.0..=3600.0).contains(&self.max_retry_wait_secs))
        {
            return Err(bad(
                "max_retry_wait_secs",
                format!("{} is not in [0, 3600]", self.max_retry_wait_secs),
            ));
        }
        if self.max_concurrent == 0 {
            return Err(bad("max_concurrent", "must be at least 1".into()));
        }
        if self.context_len < 64 {
            return Err(bad("context_len", "must be at least 64 tokens".into()));
        }
        if self.max_retries > 20 {
            return Err(bad("max_retries", "must be at most 20".into()));
        }
        Ok(())
    }

    fn endpoint(&self) -> String {
        format!(
            "{}/chat/completions",
            self.base_url.trim().trim_end_matches('/')
        )
    }
}

/// An [`Engine`] backed by an OpenAI-compatible HTTP server. Share it behind an `Arc`.
///
/// ```no_run
/// # async fn demo() -> parley_core::Result<()> {
/// use parley_core::engine::openai::{OpenAiConfig, OpenAiEngine};
/// use parley_core::engine::{ChatMessage, Engine, GenerateRequest, Role, SamplingParams};
///
/// let engine = OpenAiEngine::new(OpenAiConfig {
///     base_url: "http://127.0.0.1:8080/v1".into(),
///     ..OpenAiConfig::default()
/// })?;
/// let request = GenerateRequest {
///     conversation: "demo".into(),
///     messages: vec![ChatMessage::new(Role::User, "Hello!")],
///     params: SamplingParams::default(),
///     shareable_bytes: 0,
/// };
/// let (text, usage) = engine.generate(request)?.text().await?;
/// println!("{text} ({} tokens)", usage.completion_tokens);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct OpenAiEngine {
    inner: Arc<Inner>,
    runtime: Handle,
}

#[derive(Debug)]
struct Inner {
    config: OpenAiConfig,
    endpoint: String,
    client: reqwest::Client,
    api_key: Option<ApiKey>,
    /// The endpoint as logs and error messages show it: without credentials.
    shown_endpoint: String,
    permits: Arc<Semaphore>,
    timeout: Duration,
    calibration: Mutex<Calibration>,
    /// Ask for usage in streams (`stream_options`); off once the server refused it.
    stream_usage: AtomicBool,
}

/// Evidence for the tokens-per-character ratio.
#[derive(Debug, Default)]
struct Calibration {
    tokens: f64,
    chars: f64,
}

impl OpenAiEngine {
    /// Build the engine with the API key from [`API_KEY_ENV`] (if set), on the current tokio
    /// runtime. Fails outside a runtime and on invalid settings.
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        let key = std::env::var(API_KEY_ENV)
            .ok()
            .filter(|k| !k.trim().is_empty());
        Self::with_api_key(config, key)
    }

    /// Build the engine with an explicit API key (`None`: no `Authorization` header), on the
    /// current tokio runtime.
    pub fn with_api_key(config: OpenAiConfig, api_key: Option<String>) -> Result<Self> {
        let runtime = Handle::try_current().map_err(|_| {
            Error::Remote(
                "the OpenAI engine must be created inside a tokio runtime (or use \
                 OpenAiEngine::with_runtime)"
                    .into(),
            )
        })?;
        Self::with_runtime(config, api_key, runtime)
    }

    /// Build the engine with an explicit API key, spawning its requests on `runtime`.
    pub fn with_runtime(
        config: OpenAiConfig,
        api_key: Option<String>,
        runtime: Handle,
    ) -> Result<Self> {
        config.validate()?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs_f64(config.connect_timeout_secs))
            .user_agent(concat!("parley/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Remote(format!("cannot build the HTTP client: {}", chain(&e))))?;
        tracing::info!(
            base_url = %without_credentials(&config.base_url),
            model = %config.model,
            max_concurrent = config.max_concurrent,
            context_len = config.context_len,
            api_key = api_key.is_some(),
            "OpenAI-compatible engine ready"
        );
        let inner = Inner {
            endpoint: config.endpoint(),
            shown_endpoint: without_credentials(&config.endpoint()),
            timeout: Duration::from_secs_f64(config.timeout_secs),
            permits: Arc::new(Semaphore::new(config.max_concurrent)),
            client,
            api_key: api_key.map(ApiKey),
            calibration: Mutex::new(Calibration::default()),
            stream_usage: AtomicBool::new(true),
            config,
        };
        Ok(Self {
            inner: Arc::new(inner),
            runtime,
        })
    }

    /// The settings this engine runs with.
    pub fn config(&self) -> &OpenAiConfig {
        &self.inner.config
    }

    /// The tokens-per-character ratio [`Engine::count_tokens`] uses now (see the module doc).
    pub fn token_ratio(&self) -> f64 {
        self.inner.ratio()
    }

    /// `n` different answers to `request`, for `/retry` alternatives, without streaming.
    ///
    /// Asks the server for `n` choices in one request; a server that returns fewer (llama.cpp
    /// returns one) or rejects `n` is asked again, one answer at a time (with `seed + i` when a
    /// seed is set, so the answers differ). Stop strings are cut client-side. At most
    /// [`MAX_ALTERNATIVES`]; the future may be dropped to cancel.
    pub async fn alternatives(&self, request: &GenerateRequest, n: usize) -> Result<Vec<String>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if n > MAX_ALTERNATIVES {
            return Err(Error::InvalidRequest(format!(
                "{n} alternatives asked, at most {MAX_ALTERNATIVES}"
            )));
        }
        check_request(request)?;
        let inner = &self.inner;
        let _permit = inner.permit().await?;
        let mut answers = match inner.complete(request, n, request.params.seed).await {
            Ok(answers) => answers,
            Err(f) if n > 1 && f.status == Some(StatusCode::BAD_REQUEST) => {
                tracing::debug!("server rejected n = {n}; asking one answer at a time");
                Vec::new()
            }
            Err(f) => return Err(f.error),
        };
        answers.truncate(n);
        while answers.len() < n {
            let seed = request
                .params
                .seed
                .map(|s| s.wrapping_add(answers.len() as u64));
            let more = inner
                .complete(request, 1, seed)
                .await
                .map_err(|f| f.error)?;
            match more.into_iter().next() {
                Some(a) => answers.push(a),
                None => {
                    return Err(Error::Remote(format!(
                        "{} answered without any choice",
                        inner.shown_endpoint
                    )))
                }
            }
        }
        Ok(answers)
    }
}

impl Engine for OpenAiEngine {
    fn generate(&self, request: GenerateRequest) -> Result<Generation> {
        check_request(&request)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancelToken::new();
        let inner = Arc::clone(&self.inner);
        let token = cancel.clone();
        self.runtime
            .spawn(async move { run_generation(inner, request, tx, token).await });
        Ok(Generation::new(rx, cancel))
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.inner.estimate(text)
    }

    fn message_overhead(&self) -> usize {
        MESSAGE_OVERHEAD
    }

    fn context_len(&self) -> usize {
        self.inner.config.context_len
    }

    fn forget(&self, conversation: &str) {
        // The server keeps no per-conversation state we could drop; its prefix cache (vLLM,
        // llama.cpp) ages out by itself.
        tracing::debug!(conversation, "forget: nothing cached client-side");
    }

    fn kind(&self) -> &'static str {
        "openai"
    }

    fn describe(&self) -> String {
        // Users see this in /stats: the server's address (internal host names, credentials in
        // the URL) is the operator's business, not theirs.
        format!(
            "{} via an OpenAI-compatible server",
            self.inner.config.model
        )
    }
}

fn check_request(request: &GenerateRequest) -> Result<()> {
    if request.messages.is_empty() {
        return Err(Error::InvalidRequest("no messages to answer".into()));
    }
    if request.params.max_tokens == 0 {
        return Err(Error::InvalidRequest("max_tokens is 0".into()));
    }
    Ok(())
}

/// A failed request, with the HTTP status when the server answered one.
#[derive(Debug)]
struct Failure {
    status: Option<StatusCode>,
    error: Error,
}

impl Failure {
    fn new(status: Option<StatusCode>, message: String) -> Self {
        Self {
            status,
            error: Error::Remote(message),
        }
    }
}

/// How a stream attempt went wrong.
struct StreamFailure {
    error: Error,
    /// Safe to start over (nothing of the answer arrived).
    retryable: bool,
}

impl StreamFailure {
    /// Not worth trying again (a stuck or broken server would only do it again).
    fn for_good(mut self) -> Self {
        self.retryable = false;
        self
    }
}

/// What the stream has delivered so far; kept outside the request future so a cancelled
/// generation can still report it.
#[derive(Debug, Default)]
struct Progress {
    /// Chunks that carried answer text.
    content_chunks: usize,
    /// Characters forwarded to the caller.
    forwarded_chars: usize,
    first_text: Option<Instant>,
    /// Most text chunks taken (`max_tokens`: servers stream one token per chunk).
    max_chunks: usize,
    /// Most characters forwarded (`max_tokens` × [`MAX_CHARS_PER_TOKEN`]).
    max_chars: usize,
    /// A stop string cut the answer here (the server's own stops cannot be told from an end
    /// of turn).
    stop_string: bool,
}

impl Progress {
    /// Nothing delivered yet; capped by the request's `max_tokens`, whatever the server does.
    fn capped_for(request: &GenerateRequest) -> Self {
        let max_tokens = request.params.max_tokens;
        Self {
            max_chunks: max_tokens,
            max_chars: max_tokens.saturating_mul(MAX_CHARS_PER_TOKEN),
            ..Self::default()
        }
    }

    /// Whether the answer has reached its client-side cap.
    fn full(&self) -> bool {
        self.content_chunks >= self.max_chunks || self.forwarded_chars >= self.max_chars
    }
}

/// Where the stream stands after one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Keep reading.
    More,
    /// `[DONE]`: the server finished.
    Done,
    /// A stop string was found client-side: stop reading (dropping the response closes it).
    Stopped,
}

/// Usage numbers as the server reports them.
#[derive(Debug, Default, Clone, Copy)]
struct ServerUsage {
    prompt: usize,
    completion: usize,
    cached: usize,
}

#[derive(Debug, Deserialize)]
struct UsageJson {
    #[serde(default)]
    prompt_tokens: Option<usize>,
    #[serde(default)]
    completion_tokens: Option<usize>,
    #[serde(default)]
    prompt_tokens_details: Option<DetailsJson>,
}

#[derive(Debug, Deserialize)]
struct DetailsJson {
    #[serde(default)]
    cached_tokens: Option<usize>,
}

impl UsageJson {
    fn to_usage(&self) -> ServerUsage {
        ServerUsage {
            prompt: self.prompt_tokens.unwrap_or(0),
            completion: self.completion_tokens.unwrap_or(0),
            cached: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ChunkJson {
    #[serde(default)]
    choices: Vec<ChunkChoiceJson>,
    #[serde(default)]
    usage: Option<UsageJson>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoiceJson {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    delta: Option<DeltaJson>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DeltaJson {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CompletionJson {
    #[serde(default)]
    choices: Vec<CompletionChoiceJson>,
    #[serde(default)]
    usage: Option<UsageJson>,
}

#[derive(Debug, Deserialize)]
struct CompletionChoiceJson {
    #[serde(default)]
    index: usize,
    message: Option<DeltaJson>,
    #[serde(default)]
    finish_reason: Option<String>,
}

fn map_finish(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

/// Human text for an error and its sources: `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Resolves when the caller cancelled or dropped its [`Generation`].
/// The API key: sent as a bearer token, never printed (its `Debug` is redacted).
struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// `url` without a `user:password@` part, for logs and messages.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

async fn cancelled(cancel: &CancelToken, tx: &mpsc::UnboundedSender<Result<GenEvent>>) {
    loop {
        if cancel.is_cancelled() {
            return;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(CANCEL_POLL) => {}
        }
    }
}

async fn run_generation(
    inner: Arc<Inner>,
    request: GenerateRequest,
    tx: mpsc::UnboundedSender<Result<GenEvent>>,
    cancel: CancelToken,
) {
    let started = Instant::now();
    let mut progress = Progress::capped_for(&request);
    let outcome = {
        let work = answer_within_deadline(&inner, &request, &tx, &mut progress);
        tokio::select! {
            biased;
            _ = cancelled(&cancel, &tx) => None,
            r = work => Some(r),
        }
    };
    let ended = Instant::now();
    let (finish, server) = match outcome {
        None => {
            tracing::debug!(
                chars = progress.forwarded_chars,
                "generation cancelled; connection closed"
            );
            (FinishReason::Cancelled, None)
        }
        Some(Ok(done)) => done,
        Some(Err(e)) => {
            tracing::warn!(
                forwarded_chars = progress.forwarded_chars,
                error = %e,
                "remote generation failed"
            );
            let _ = tx.send(Err(e));
            return;
        }
    };
    let prompt_chars = request
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum::<usize>();
    if let Some(u) = server {
        if u.prompt > 0 {
            inner.calibrate(prompt_chars, request.messages.len(), u.prompt);
        }
    }
    let first = progress.first_text.unwrap_or(ended);
    let ttft = first.saturating_duration_since(started);
    let usage = Usage {
        prompt_tokens: server
            .map(|u| u.prompt)
            .filter(|&p| p > 0)
            .unwrap_or_else(|| inner.estimate_prompt(&request)),
        cached_tokens: server.map(|u| u.cached).unwrap_or(0),
        // The server does not say whose cache served it.
        shared_tokens: 0,
        completion_tokens: server
            .map(|u| u.completion)
            .filter(|&c| c > 0)
            .unwrap_or(progress.content_chunks),
        finish: Some(finish),
        time_to_first_token: ttft,
        prefill: ttft,
        decode: ended.saturating_duration_since(first),
        stop_string: progress.stop_string,
    };
    tracing::debug!(
        prompt_tokens = usage.prompt_tokens,
        completion_tokens = usage.completion_tokens,
        cached_tokens = usage.cached_tokens,
        finish = ?usage.finish,
        "remote generation done"
    );
    let _ = tx.send(Ok(GenEvent::Done(usage)));
}

/// [`stream_answer`] bounded by `answer_timeout_secs`: the text forwarded so far stands, and an
/// error follows.
async fn answer_within_deadline(
    inner: &Inner,
    request: &GenerateRequest,
    tx: &mpsc::UnboundedSender<Result<GenEvent>>,
    progress: &mut Progress,
) -> Result<(FinishReason, Option<ServerUsage>)> {
    let deadline = Duration::from_secs_f64(inner.config.answer_timeout_secs);
    match tokio::time::timeout(deadline, stream_answer(inner, request, tx, progress)).await {
        Ok(done) => done,
        Err(_) => Err(Error::Remote(format!(
            "the answer from {} took longer than {} s (engine.openai.answer_timeout_secs)",
            inner.shown_endpoint, inner.config.answer_timeout_secs
        ))),
    }
}

/// Request, retry while nothing arrived, stream. Returns why it finished and the server's usage.
async fn stream_answer(
    inner: &Inner,
    request: &GenerateRequest,
    tx: &mpsc::UnboundedSender<Result<GenEvent>>,
    progress: &mut Progress,
) -> Result<(FinishReason, Option<ServerUsage>)> {
    let _permit = inner.permit().await?;
    let mut body = inner.body(request, true, 1, request.params.seed);
    let mut retries = 0;
    loop {
        let response = match inner.send(&body, &mut retries).await {
            Ok(response) => response,
            Err(f) if inner.rejects_stream_options(&f, &body) => {
                tracing::warn!(
                    "{} rejects stream_options; streaming without usage reports from now on",
                    inner.shown_endpoint
                );
                inner.stream_usage.store(false, Ordering::Relaxed);
                body = inner.body(request, true, 1, request.params.seed);
                continue;
            }
            Err(f) => return Err(f.error),
        };
        let mut stops = StopFilter::new(&request.params.stop);
        let result = if is_json(response.headers()) {
            inner
                .read_whole(response, &mut stops, tx, progress)
                .await
                .map_err(|error| StreamFailure {
                    error,
                    retryable: false,
                })
        } else {
            inner.read_stream(response, &mut stops, tx, progress).await
        };
        match result {
            Ok(done) => return Ok(done),
            Err(f)
                if f.retryable && progress.content_chunks == 0 && retries < inner.max_retries() =>
            {
                retries += 1;
                let wait = inner.backoff(retries);
                tracing::warn!(
                    retry = retries,
                    wait_ms = wait.as_millis() as u64,
                    error = %f.error,
                    "stream failed before any text; retrying"
                );
                tokio::time::sleep(wait).await;
            }
            Err(f) => return Err(f.error),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by inference servers).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// A short message out of an error body: `error.message` of the usual JSON, else the text.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"));
        if let Some(m) = msg {
            return clip(
                &m.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| m.to_string()),
            );
        }
    }
    clip(String::from_utf8_lossy(body).trim())
}

fn clip(text: &str) -> String {
    if text.len() <= ERROR_BODY_LIMIT {
        return text.to_owned();
    }
    let mut end = ERROR_BODY_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn in_stream_error(error: &Value) -> String {
    let msg = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| error.to_string());
    clip(&msg)
}

impl Inner {
    /// A 400 about `stream_options` (older or strict servers): worth resending without it.
    fn rejects_stream_options(&self, failure: &Failure, body: &Value) -> bool {
        failure.status == Some(StatusCode::BAD_REQUEST)
            && body.get("stream_options").is_some()
            && failure.error.to_string().contains("stream_options")
    }

    fn max_retries(&self) -> u32 {
        self.config.max_retries
    }

    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::EngineStopped)
    }

    /// Exponential backoff for retry number `retry` (1-based), with a little jitter so many
    /// clients do not retry in step.
    fn backoff(&self, retry: u32) -> Duration {
        let base = Duration::from_millis(self.config.retry_backoff_ms);
        let exp = base.saturating_mul(1 << retry.saturating_sub(1).min(16));
        let capped = exp.min(MAX_BACKOFF.max(base));
        capped.mul_f64(0.75 + 0.5 * jitter())
    }

    fn body(&self, request: &GenerateRequest, stream: bool, n: usize, seed: Option<u64>) -> Value {
        let p = &request.params;
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({ "role": m.role.as_str(), "content": m.content }))
            .collect();
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "stream": stream,
        });
        let obj = body.as_object_mut();
        if let Some(obj) = obj {
            if stream && self.stream_usage.load(Ordering::Relaxed) {
                obj.insert("stream_options".into(), json!({ "include_usage": true }));
            }
            if n > 1 {
                obj.insert("n".into(), json!(n));
            }
            let stops: Vec<&String> = p
                .stop
                .iter()
                .filter(|s| !s.is_empty())
                .take(SERVER_STOP_LIMIT)
                .collect();
            if !stops.is_empty() {
                obj.insert("stop".into(), json!(stops));
            }
            if let Some(seed) = seed {
                // Servers validate seeds as signed 64-bit integers.
                obj.insert("seed".into(), json!(seed & (i64::MAX as u64)));
            }
            if self.config.extended_sampling {
                if p.top_k > 0 {
                    obj.insert("top_k".into(), json!(p.top_k));
                }
                obj.insert("repeat_penalty".into(), json!(p.repeat_penalty));
                obj.insert("repetition_penalty".into(), json!(p.repeat_penalty));
            }
        }
        body
    }

    /// POST `body`, retrying refused connections, 429 and 5xx while `retries` allows. Only a
    /// successful response comes back.
    async fn send(&self, body: &Value, retries: &mut u32) -> Result<reqwest::Response, Failure> {
        let url = &self.shown_endpoint;
        loop {
            let mut req = self.client.post(&self.endpoint).json(body);
            if let Some(ApiKey(key)) = &self.api_key {
                req = req.bearer_auth(key);
            }
            tracing::debug!(url = %url, retry = *retries, "POST chat/completions");
            let result = tokio::time::timeout(self.timeout, req.send()).await;
            let (wait, why) = match result {
                Err(_) => {
                    return Err(Failure::new(
                        None,
                        format!(
                            "{url} did not answer within {} s (engine.openai.timeout_secs); \
                             the server is stuck or overloaded",
                            self.config.timeout_secs
                        ),
                    ))
                }
                Ok(Err(e)) => self.connection_failed(&e, *retries)?,
                Ok(Ok(resp)) if resp.status().is_success() => return Ok(resp),
                Ok(Ok(resp)) => self.refused(resp, *retries).await?,
            };
            *retries += 1;
            tracing::warn!(
                retry = *retries,
                of = self.max_retries(),
                wait_ms = wait.as_millis() as u64,
                "{why}; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// A request that reached no server: how long to wait before the next try, or the final
    /// failure once `retries` are spent.
    fn connection_failed(
        &self,
        e: &reqwest::Error,
        retries: u32,
    ) -> Result<(Duration, String), Failure> {
        let what = if e.is_connect() {
            "cannot connect to"
        } else {
            "request failed to"
        };
        let why = format!("{what} {}: {}", self.shown_endpoint, chain(e));
        if retries >= self.max_retries() {
            return Err(Failure::new(
                None,
                format!(
                    "{why} (after {retries} retries); is the inference server running \
                     and engine.openai.base_url right?"
                ),
            ));
        }
        Ok((self.backoff(retries + 1), why))
    }

    /// A response that is not a success: how long to wait before the next try (429 and 5xx,
    /// honouring `Retry-After`), or the final failure with a hint at the setting to check.
    async fn refused(
        &self,
        resp: reqwest::Response,
        retries: u32,
    ) -> Result<(Duration, String), Failure> {
        let status = resp.status();
        let after = retry_after(resp.headers());
        let message = self.error_body(resp).await;
        let why = format!("{} answered {status}: {message}", self.shown_endpoint);
        if !(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) {
            let hint = match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    format!(" (check {API_KEY_ENV})")
                }
                StatusCode::NOT_FOUND => " (check engine.openai.base_url, usually \
                                          ending in /v1, and engine.openai.model)"
                    .to_owned(),
                _ => String::new(),
            };
            return Err(Failure::new(Some(status), format!("{why}{hint}")));
        }
        if retries >= self.max_retries() {
            return Err(Failure::new(
                Some(status),
                format!("{why} (gave up after {retries} retries)"),
            ));
        }
        match after {
            Some(d) if d.as_secs_f64() > self.config.max_retry_wait_secs => Err(Failure::new(
                Some(status),
                format!(
                    "{why}; it asks to retry after {} s, longer than \
                     engine.openai.max_retry_wait_secs ({} s)",
                    d.as_secs_f64(),
                    self.config.max_retry_wait_secs
                ),
            )),
            Some(d) => Ok((d, why)),
            None => Ok((self.backoff(retries + 1), why)),
        }
    }

    /// The start of an error response's body, as a message.
    async fn error_body(&self, mut resp: reqwest::Response) -> String {
        let mut body = Vec::new();
        let read = async {
            while let Ok(Some(chunk)) = resp.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() > 16 * ERROR_BODY_LIMIT {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(self.timeout.min(Duration::from_secs(5)), read).await;
        let msg = error_message(&body);
        if msg.is_empty() {
            "(no message)".into()
        } else {
            msg
        }
    }

    /// Forward a streamed answer.
    async fn read_stream(
        &self,
        response: reqwest::Response,
        stops: &mut StopFilter,
        tx: &mpsc::UnboundedSender<Result<GenEvent>>,
        progress: &mut Progress,
    ) -> Result<(FinishReason, Option<ServerUsage>), StreamFailure> {
        let mut bytes = response.bytes_stream();
        let mut decoder = SseDecoder::default();
        let mut finish: Option<FinishReason> = None;
        let mut usage: Option<ServerUsage> = None;
        let fail = |progress: &Progress, detail: String| self.broken_stream(progress, detail);
        let step = loop {
            let Ok(next) = tokio::time::timeout(self.timeout, bytes.next()).await else {
                let detail = format!(
                    "no data for {} s (engine.openai.timeout_secs)",
                    self.config.timeout_secs
                );
                return Err(fail(progress, detail).for_good());
            };
            let events = match next {
                Some(Ok(chunk)) => decoder.push(&chunk).map_err(|_| {
                    let detail = format!(
                        "an event of the stream is over {} KiB",
                        sse::MAX_EVENT >> 10
                    );
                    fail(progress, detail).for_good()
                })?,
                Some(Err(e)) => {
                    if finish.is_some() {
                        // Everything arrived; only the goodbye was lost.
                        break Step::Done;
                    }
                    return Err(fail(progress, format!("connection lost ({})", chain(&e))));
                }
                None => {
                    let step = match decoder.finish() {
                        Some(data) => {
                            self.on_event(&data, stops, tx, progress, &mut finish, &mut usage)?
                        }
                        None => Step::More,
                    };
                    if step != Step::More || finish.is_some() {
                        break step;
                    }
                    return Err(fail(
                        progress,
                        "the server closed the stream without finishing the answer".into(),
                    ));
                }
            };
            let mut step = Step::More;
            for data in events {
                step = self.on_event(&data, stops, tx, progress, &mut finish, &mut usage)?;
                if step != Step::More {
                    break;
                }
            }
            if step != Step::More {
                break step;
            }
        };
        if step == Step::Stopped {
            return Ok((finish.unwrap_or(FinishReason::Stop), usage));
        }
        let rest = stops.finish();
        forward(tx, progress, rest);
        Ok((finish.unwrap_or(FinishReason::Stop), usage))
    }

    /// The stream broke off: retryable while no text of the answer has arrived.
    fn broken_stream(&self, progress: &Progress, detail: String) -> StreamFailure {
        let url = &self.shown_endpoint;
        StreamFailure {
            retryable: progress.content_chunks == 0,
            error: Error::Remote(if progress.forwarded_chars == 0 {
                format!("the answer stream from {url} broke off before any text: {detail}")
            } else {
                format!(
                    "the answer stream from {url} broke off after {} characters: {detail}",
                    progress.forwarded_chars
                )
            }),
        }
    }

    /// Handle one SSE event.
    fn on_event(
        &self,
        data: &str,
        stops: &mut StopFilter,
        tx: &mpsc::UnboundedSender<Result<GenEvent>>,
        progress: &mut Progress,
        finish: &mut Option<FinishReason>,
        usage: &mut Option<ServerUsage>,
    ) -> Result<Step, StreamFailure> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(Step::Done);
        }
        if data.is_empty() {
            return Ok(Step::More);
        }
        let chunk: ChunkJson = serde_json::from_str(data).map_err(|e| StreamFailure {
            retryable: false,
            error: Error::Remote(format!(
                "{} sent a stream chunk that is not a chat-completion chunk ({e}): {}",
                self.shown_endpoint,
                clip(data)
            )),
        })?;
        if let Some(err) = chunk.error {
            return Err(StreamFailure {
                retryable: progress.content_chunks == 0,
                error: Error::Remote(format!(
                    "{} reported an error mid-stream: {}",
                    self.shown_endpoint,
                    in_stream_error(&err)
                )),
            });
        }
        if let Some(u) = chunk.usage {
            *usage = Some(u.to_usage());
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.as_ref().and_then(|d| d.content.as_deref()) {
                if !text.is_empty() {
                    progress.content_chunks += 1;
                    let f = stops.push(text);
                    forward(tx, progress, f.emit);
                    if f.stopped {
                        progress.stop_string = true;
                        *finish = Some(FinishReason::Stop);
                        return Ok(Step::Stopped);
                    }
                    if progress.full() {
                        *finish = Some(FinishReason::Length);
                        return Ok(Step::Stopped);
                    }
                }
            }
            if let Some(reason) = &choice.finish_reason {
                *finish = Some(map_finish(Some(reason)));
            }
        }
        Ok(Step::More)
    }

    /// A server that ignored `stream: true` and sent one JSON answer: forward it as one delta.
    async fn read_whole(
        &self,
        response: reqwest::Response,
        stops: &mut StopFilter,
        tx: &mpsc::UnboundedSender<Result<GenEvent>>,
        progress: &mut Progress,
    ) -> Result<(FinishReason, Option<ServerUsage>)> {
        let parsed = self.parse_completion(response).await?;
        let choice = parsed.choices.into_iter().find(|c| c.index == 0);
        let (text, reason) = match choice {
            Some(c) => (
                c.message.and_then(|m| m.content).unwrap_or_default(),
                c.finish_reason,
            ),
            None => (String::new(), None),
        };
        let mut finish = map_finish(reason.as_deref());
        if !text.is_empty() {
            progress.content_chunks += 1;
            let f = stops.push(&text);
            forward(tx, progress, f.emit);
            if f.stopped {
                progress.stop_string = true;
                finish = FinishReason::Stop;
                let _ = stops.finish();
            } else if progress.full() {
                finish = FinishReason::Length;
                let _ = stops.finish();
            }
        }
        Ok((finish, parsed.usage.map(|u| u.to_usage())))
    }

    async fn parse_completion(&self, response: reqwest::Response) -> Result<CompletionJson> {
        let url = &self.shown_endpoint;
        let body = tokio::time::timeout(self.timeout, read_capped(response, MAX_BODY_BYTES))
            .await
            .map_err(|_| {
                Error::Remote(format!(
                    "{url} did not finish its answer within {} s (engine.openai.timeout_secs)",
                    self.config.timeout_secs
                ))
            })?
            .map_err(|e| Error::Remote(format!("reading the answer from {url}: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::Remote(format!(
                "{url} sent an answer that is not a chat completion ({e}): {}",
                error_message(&body)
            ))
        })
    }

    /// One non-streamed request for `n` answers.
    async fn complete(
        &self,
        request: &GenerateRequest,
        n: usize,
        seed: Option<u64>,
    ) -> Result<Vec<String>, Failure> {
        let body = self.body(request, false, n, seed);
        let mut retries = 0;
        let response = self.send(&body, &mut retries).await?;
        let parsed = self
            .parse_completion(response)
            .await
            .map_err(|error| Failure {
                status: None,
                error,
            })?;
        if let Some(u) = parsed.usage.as_ref().map(UsageJson::to_usage) {
            if u.prompt > 0 {
                let chars = request
                    .messages
                    .iter()
                    .map(|m| m.content.chars().count())
                    .sum();
                self.calibrate(chars, request.messages.len(), u.prompt);
            }
        }
        let mut choices = parsed.choices;
        choices.sort_by_key(|c| c.index);
        Ok(choices
            .into_iter()
            .map(|c| {
                let text = c.message.and_then(|m| m.content).unwrap_or_default();
                cut_at_stop(text, &request.params.stop).0
            })
            .collect())
    }

    fn ratio(&self) -> f64 {
        let c = self.calibration.lock().unwrap_or_else(|e| e.into_inner());
        if c.chars < CALIBRATION_MIN_CHARS {
            return DEFAULT_RATIO;
        }
        (c.tokens / c.chars * SAFETY).clamp(MIN_RATIO, MAX_RATIO)
    }

    fn estimate(&self, text: &str) -> usize {
        let chars = text.chars().count();
        if chars == 0 {
            return 0;
        }
        (chars as f64 * self.ratio()).ceil() as usize
    }

    fn estimate_prompt(&self, request: &GenerateRequest) -> usize {
        request
            .messages
            .iter()
            .map(|m| self.estimate(&m.content) + MESSAGE_OVERHEAD)
            .sum()
    }

    /// Learn from a reported prompt size.
    fn calibrate(&self, chars: usize, messages: usize, prompt_tokens: usize) {
        let content_tokens = prompt_tokens.saturating_sub((messages + 1) * CALIBRATION_OVERHEAD);
        if chars < CALIBRATION_MIN_SAMPLE_CHARS || content_tokens == 0 {
            return;
        }
        let mut c = self.calibration.lock().unwrap_or_else(|e| e.into_inner());
        c.tokens += content_tokens as f64;
        c.chars += chars as f64;
        if c.chars > CALIBRATION_WINDOW_CHARS {
            c.tokens /= 2.0;
            c.chars /= 2.0;
        }
    }
}

/// Send text to the caller (nothing for empty text).
/// The whole body of `response`, refused once it grows past `cap` bytes.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| chain(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(format!("the answer is over {} MiB", cap >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Send `text` on, cut to what the client-side cap leaves room for.
fn forward(tx: &mpsc::UnboundedSender<Result<GenEvent>>, progress: &mut Progress, text: String) {
    let room = progress.max_chars.saturating_sub(progress.forwarded_chars);
    let text = match text.char_indices().nth(room) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text,
    };
    if text.is_empty() {
        return;
    }
    progress.forwarded_chars += text.chars().count();
    progress.first_text.get_or_insert_with(Instant::now);
    // A closed channel means the caller is gone; the cancel watcher ends the request.
    let _ = tx.send(Ok(GenEvent::Delta(text)));
}

/// A number in [0, 1) that differs between calls, for backoff jitter.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ChatMessage, Role, SamplingParams};

    fn engine(config: OpenAiConfig) -> OpenAiEngine {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        OpenAiEngine::with_runtime(config, None, rt.handle().clone()).unwrap()
    }

    fn request(stop: &[&str]) -> GenerateRequest {
        GenerateRequest {
            conversation: "c".into(),
            messages: vec![
                ChatMessage::new(Role::System, "be brief"),
                ChatMessage::new(Role::User, "hi"),
            ],
            params: SamplingParams {
                stop: stop.iter().map(|s| s.to_string()).collect(),
                seed: Some(u64::MAX),
                ..SamplingParams::default()
            },
            shareable_bytes: 0,
        }
    }

    #[test]
    fn config_defaults_and_unknown_keys() {
        let c: OpenAiConfig = serde_json::from_value(json!({ "model": "m" })).unwrap();
        assert_eq!(c.model, "m");
        assert_eq!(c.base_url, OpenAiConfig::default().base_url);
        let c: OpenAiConfig = serde_json::from_value(json!({ "timeout_secs": 5 })).unwrap();
        assert_eq!(c.timeout_secs, 5.0);
        assert!(serde_json::from_value::<OpenAiConfig>(json!({ "api_key": "x" })).is_err());
    }

    #[test]
    fn validation_names_the_key() {
        let c = OpenAiConfig {
            base_url: "localhost:8080".into(),
            ..OpenAiConfig::default()
        };
        match c.validate() {
            Err(Error::Config { key, .. }) => assert_eq!(key, "engine.openai.base_url"),
            other => panic!("{other:?}"),
        }
        let c = OpenAiConfig {
            max_concurrent: 0,
            ..OpenAiConfig::default()
        };
        assert!(c.validate().is_err());
        assert!(OpenAiConfig::default().validate().is_ok());
    }

    #[test]
    fn endpoint_tolerates_trailing_slash() {
        let c = OpenAiConfig {
            base_url: "http://h:1/v1/".into(),
            ..OpenAiConfig::default()
        };
        assert_eq!(c.endpoint(), "http://h:1/v1/chat/completions");
    }

    #[test]
    fn body_uses_openai_vocabulary_and_limits_stops() {
        let e = engine(OpenAiConfig::default());
        let body = e.inner.body(
            &request(&["a", "", "b", "c", "d", "e"]),
            true,
            1,
            Some(u64::MAX),
        );
        assert_eq!(body["stop"], json!(["a", "b", "c", "d"]));
        assert_eq!(body["seed"], json!(i64::MAX));
        assert_eq!(body["stream"], json!(true));
        assert_eq!(body["stream_options"]["include_usage"], json!(true));
        assert_eq!(body["messages"][0]["role"], json!("system"));
        assert!(body.get("n").is_none());
        assert!(body.get("top_k").is_none());
        let body = e.inner.body(&request(&[]), false, 3, None);
        assert!(body.get("stop").is_none());
        assert!(body.get("seed").is_none());
        assert!(body.get("stream_options").is_none());
        assert_eq!(body["n"], json!(3));
    }

    #[test]
    fn estimate_is_conservative_then_calibrated() {
        let e = engine(OpenAiConfig::default());
        assert_eq!(e.count_tokens(""), 0);
        assert_eq!(e.count_tokens("abcd"), 2);
        assert_eq!(e.count_tokens("abc"), 1);
        // The server says 1 token per 4 characters: ratio drops, but stays above 1/4.
        e.inner.calibrate(4000, 2, 1000 + 12);
        // Short prompts teach nothing (fixed template costs dominate them).
        e.inner.calibrate(2, 1, 31);
        let r = e.token_ratio();
        assert!(r > 0.25 && r < 1.0 / 3.0, "{r}");
        // Absurd reports are clamped.
        e.inner.calibrate(1_000_000, 1, 10);
        assert!(e.token_ratio() >= MIN_RATIO);
        e.inner.calibrate(300, 1, 10_000_000);
        assert!(e.token_ratio() <= MAX_RATIO);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let e = engine(OpenAiConfig {
            retry_backoff_ms: 100,
            ..OpenAiConfig::default()
        });
        let b1 = e.inner.backoff(1);
        let b3 = e.inner.backoff(3);
        assert!(b1 >= Duration::from_millis(75) && b1 <= Duration::from_millis(125));
        assert!(b3 >= Duration::from_millis(300) && b3 <= Duration::from_millis(500));
        assert!(e.inner.backoff(30) <= MAX_BACKOFF.mul_f64(1.25));
    }

    #[test]
    fn error_messages_come_from_the_usual_json() {
        assert_eq!(
            error_message(br#"{"error":{"message":"model not found","type":"x"}}"#),
            "model not found"
        );
        assert_eq!(error_message(br#"{"detail":"nope"}"#), "nope");
        assert_eq!(error_message(b"plain text\n"), "plain text");
        let long = "é".repeat(1000);
        assert!(error_message(long.as_bytes()).len() <= ERROR_BODY_LIMIT + 3);
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
