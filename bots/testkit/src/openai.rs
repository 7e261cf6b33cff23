//! A fake OpenAI-compatible inference server on `127.0.0.1`, for testing Parley's remote engine
//! without a model.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use parley_testkit::openai::{Fault, FakeOpenAi};
//! let server = FakeOpenAi::start().await?;
//! server.push_reply("Hello there!");              // the next answer
//! server.fail_next(Fault::Status(503), 2);         // ...after two 503s
//! let base_url = server.base_url();                // "http://127.0.0.1:PORT/v1"
//! // point the engine at base_url, run it, then:
//! let bodies = server.chat_requests();             // every request body, as JSON
//! # Ok(()) }
//! ```
//!
//! # Endpoints
//! - `POST /v1/chat/completions`: with `"stream": true`, answers `text/event-stream`: a first chunk
//!   with the assistant role, one chunk per piece of the reply (a word with its trailing
//!   whitespace, or see [`Chunking`]), a chunk with `finish_reason`, a usage chunk (`choices: []`)
//!   when the request has `stream_options.include_usage`, and `data: [DONE]`. Each event is
//!   `data: {json}\n\n`. Without `stream`, answers one `chat.completion` with `n` choices (at most
//!   [`FakeOpenAi::set_max_choices`]).
//! - `GET /v1/models`: one model, [`FakeOpenAi::MODEL`].
//!
//! # Replies
//! Each answer (each choice, with `n`) takes the next text from the queue
//! ([`FakeOpenAi::push_reply`]); when the queue is empty it comes from the responder
//! ([`FakeOpenAi::respond_with`]), else it is `You said: <last user message>`. One piece of the
//! reply counts as one token: more pieces than `max_tokens` are cut and finish with `length`.
//! Stop strings are recorded but **not** applied (the client must cut them) unless
//! [`FakeOpenAi::set_apply_stop`] is on.
//!
//! # Usage
//! `prompt_tokens` is [`FakeOpenAi::prompt_tokens`] of the request, `completion_tokens` the number
//! of pieces sent, `prompt_tokens_details.cached_tokens` what [`FakeOpenAi::set_cached_tokens`]
//! says (0 by default).
//!
//! # Faults
//! [`FakeOpenAi::fail_next`] queues a [`Fault`] for the next chat requests, one per request:
//! 429 with `Retry-After`, any status, a stream cut or ended after some chunks, or no answer at
//! all. [`FakeOpenAi::set_chunk_delay`] slows the stream down, for cancellation tests;
//! [`FakeOpenAi::streams_closed_early`] counts streams whose client went away before the end.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// Something to go wrong with one chat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `429 Too Many Requests`, with this `Retry-After` header value if any.
    RateLimited {
        /// The header value, e.g. `"1"`.
        retry_after: Option<String>,
    },
    /// Answer this HTTP status with an OpenAI-style JSON error body.
    Status(u16),
    /// Answer this HTTP status with this `error.message`.
    Error {
        /// The HTTP status, e.g. 400.
        status: u16,
        /// The message, e.g. `Unrecognized request argument supplied: n`.
        message: String,
    },
    /// Stream this many reply pieces, then break the connection (no `finish_reason`, no `[DONE]`).
    CutAfter(usize),
    /// Stream this many reply pieces, then end the response cleanly but without
    /// `finish_reason` or `[DONE]`.
    EndAfter(usize),
    /// Accept the request and never answer.
    Hang,
    /// Start a stream, then send only `: keep-alive` comments, one every 20 ms (for a minute at
    /// most): bytes keep coming, the answer never does.
    KeepAliveForever,
    /// Stream `word ` pieces without end (100,000 at most), ignoring `max_tokens`.
    IgnoreMaxTokens,
    /// Stream one event whose `data` lines add up to this many bytes, never ending it.
    HugeEvent(usize),
    /// Answer with a JSON completion whose body is this many bytes.
    HugeBody(usize),
}

/// How a reply is cut into streamed pieces (each piece is one "token").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// A word with the whitespace after it (the default).
    Words,
    /// This many characters (at least 1).
    Chars(usize),
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The `Authorization` header, if sent.
    pub authorization: Option<String>,
    /// The JSON body (`Null` when there was none or it was not JSON).
    pub body: Value,
}

type Responder = Arc<dyn Fn(&Value) -> String + Send + Sync>;

struct Script {
    replies: VecDeque<String>,
    responder: Option<Responder>,
    faults: VecDeque<Fault>,
    requests: Vec<RecordedRequest>,
    chunk_delay: Duration,
    chunking: Chunking,
    apply_stop: bool,
    max_choices: usize,
    cached_tokens: usize,
}

struct Shared {
    script: Mutex<Script>,
    closed_early: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    changed: Notify,
    next_id: AtomicUsize,
}

impl Shared {
    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake server; it stops when dropped.
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeOpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeOpenAi")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Decrements the in-flight count when a request's answer is over.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(Arc::clone(shared))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

impl FakeOpenAi {
    /// The model name `GET /v1/models` lists and answers carry.
    pub const MODEL: &'static str = "fake-model";

    /// Start on `127.0.0.1` at a free port.
    pub async fn start() -> io::Result<Self> {
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                replies: VecDeque::new(),
                responder: None,
                faults: VecDeque::new(),
                requests: Vec::new(),
                chunk_delay: Duration::ZERO,
                chunking: Chunking::Words,
                apply_stop: false,
                max_choices: usize::MAX,
                cached_tokens: 0,
            }),
            closed_early: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
            next_id: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("fake OpenAI server stopped: {e}");
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queue the text of a coming answer.
    pub fn push_reply(&self, text: impl Into<String>) {
        self.shared.script().replies.push_back(text.into());
    }

    /// Answer from `f(request body)` whenever the reply queue is empty.
    pub fn respond_with(&self, f: impl Fn(&Value) -> String + Send + Sync + 'static) {
        self.shared.script().responder = Some(Arc::new(f));
    }

    /// Make the next `times` chat requests fail with `fault` (after faults queued before).
    pub fn fail_next(&self, fault: Fault, times: usize) {
        let mut s = self.shared.script();
        for _ in 0..times {
            s.faults.push_back(fault.clone());
        }
    }

    /// Wait this long before each streamed piece.
    pub fn set_chunk_delay(&self, delay: Duration) {
        self.shared.script().chunk_delay = delay;
    }

    /// How replies are cut into pieces.
    pub fn set_chunking(&self, chunking: Chunking) {
        self.shared.script().chunking = chunking;
    }

    /// Apply the request's stop strings server-side (off by default: the client must cut).
    pub fn set_apply_stop(&self, on: bool) {
        self.shared.script().apply_stop = on;
    }

    /// Return at most this many choices for `n` (llama.cpp returns 1).
    pub fn set_max_choices(&self, max: usize) {
        self.shared.script().max_choices = max.max(1);
    }

    /// The `prompt_tokens_details.cached_tokens` to report.
    pub fn set_cached_tokens(&self, tokens: usize) {
        self.shared.script().cached_tokens = tokens;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.script().requests.clone()
    }

    /// The bodies of the chat-completion requests received so far, in order.
    pub fn chat_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .map(|r| r.body)
            .collect()
    }

    /// Streams whose client went away before the answer was complete.
    pub fn streams_closed_early(&self) -> usize {
        self.shared.closed_early.load(Ordering::SeqCst)
    }

    /// Wait until at least `count` streams were closed early by their client, or `limit` passes.
    /// Returns whether it happened.
    pub async fn wait_closed_early(&self, count: usize, limit: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.shared.changed.notified();
                if self.streams_closed_early() >= count {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }

    /// Chat requests being answered right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The most chat requests ever answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// The `prompt_tokens` this server reports for a request body: per message, its characters
    /// divided by 4 (rounded up) plus 4.
    pub fn prompt_tokens(body: &Value) -> usize {
        body.get("messages")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        let chars = m
                            .get("content")
                            .and_then(Value::as_str)
                            .map_or(0, |c| c.chars().count());
                        chars.div_ceil(4) + 4
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .with_state(shared)
}

fn record(shared: &Shared, method: &str, path: &str, headers: &HeaderMap, body: Value) {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared.script().requests.push(RecordedRequest {
        method: method.into(),
        path: path.into(),
        authorization,
        body,
    });
    shared.changed.notify_waiters();
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    record(&shared, "GET", "/v1/models", &headers, Value::Null);
    axum::Json(json!({
        "object": "list",
        "data": [{ "id": FakeOpenAi::MODEL, "object": "model", "created": 0, "owned_by": "parley-testkit" }]
    }))
    .into_response()
}

fn error_response(status: StatusCode, message: &str, kind: &str) -> Response {
    (
        status,
        axum::Json(
            json!({ "error": { "message": message, "type": kind, "code": status.as_u16() } }),
        ),
    )
        .into_response()
}

/// The last user message of a request.
fn last_user(body: &Value) -> String {
    body.get("messages")
        .and_then(Value::as_array)
        .and_then(|ms| {
            ms.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn stops_of(body: &Value) -> Vec<String> {
    match body.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn split(text: &str, chunking: Chunking) -> Vec<String> {
    match chunking {
        Chunking::Words => text
            .split_inclusive(char::is_whitespace)
            .map(str::to_owned)
            .collect(),
        Chunking::Chars(n) => {
            let chars: Vec<char> = text.chars().collect();
            chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
        }
    }
}

/// A reply, cut into pieces, with its finish reason.
struct Answer {
    pieces: Vec<String>,
    finish: &'static str,
}

fn next_answer(script: &mut Script, body: &Value) -> Answer {
    let mut text = match script.replies.pop_front() {
        Some(t) => t,
        None => match &script.responder {
            Some(f) => f(body),
            None => format!("You said: {}", last_user(body)),
        },
    };
    let mut finish = "stop";
    if script.apply_stop {
        let stops = stops_of(body);
        if let Some(at) = stops.iter().filter_map(|s| text.find(s.as_str())).min() {
            text.truncate(at);
        }
    }
    let mut pieces = split(&text, script.chunking);
    if let Some(max) = body.get("max_tokens").and_then(Value::as_u64) {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if pieces.len() > max {
            pieces.truncate(max);
            finish = "length";
        }
    }
    Answer { pieces, finish }
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    record(
        &shared,
        "POST",
        "/v1/chat/completions",
        &headers,
        parsed.as_ref().cloned().unwrap_or(Value::Null),
    );
    let body = match parsed {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "the body is not a JSON object",
                "invalid_request_error",
            )
        }
    };
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let guard = InFlight::enter(&shared);
    let fault = shared.script().faults.pop_front();
    match fault {
        Some(Fault::RateLimited { retry_after }) => {
            let mut resp = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit reached, slow down",
                "rate_limit_error",
            );
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error_response(status, "injected failure", "server_error");
        }
        Some(Fault::Error { status, message }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            return error_response(status, &message, "invalid_request_error");
        }
        Some(Fault::Hang) => {
            let _guard = guard;
            return std::future::pending::<Response>().await;
        }
        Some(Fault::HugeBody(bytes)) => return huge_body(bytes),
        Some(ref f @ (Fault::KeepAliveForever | Fault::IgnoreMaxTokens | Fault::HugeEvent(_))) => {
            return hostile_stream(shared, guard, f.clone(), id)
        }
        _ => {}
    }
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if stream {
        stream_answer(shared, guard, body, fault, id)
    } else {
        drop(guard);
        whole_answer(&shared, &body, fault, id)
    }
}

fn whole_answer(shared: &Shared, body: &Value, fault: Option<Fault>, id: usize) -> Response {
    if matches!(fault, Some(Fault::CutAfter(_)) | Some(Fault::EndAfter(_))) {
        let broken = futures::stream::once(async {
            Err::<Bytes, io::Error>(io::Error::other("injected cut"))
        });
        return (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(broken),
        )
            .into_response();
    }
    let n = body
        .get("n")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(1)
        .max(1);
    let mut script = shared.script();
    let count = n.min(script.max_choices);
    let mut completion = 0;
    let choices: Vec<Value> = (0..count)
        .map(|i| {
            let a = next_answer(&mut script, body);
            completion += a.pieces.len();
            json!({
                "index": i,
                "message": { "role": "assistant", "content": a.pieces.concat() },
                "finish_reason": a.finish,
            })
        })
        .collect();
    let prompt = FakeOpenAi::prompt_tokens(body);
    axum::Json(json!({
        "id": format!("chatcmpl-fake-{id}"),
        "object": "chat.completion",
        "created": 0,
        "model": FakeOpenAi::MODEL,
        "choices": choices,
        "usage": usage_json(prompt, completion, script.cached_tokens),
    }))
    .into_response()
}

/// A valid completion padded to `bytes`.
fn huge_body(bytes: usize) -> Response {
    let content = "x".repeat(bytes);
    let body = json!({
        "id": "chatcmpl-fake-huge",
        "object": "chat.completion",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content },
                      "finish_reason": "stop" }],
    });
    axum::Json(body).into_response()
}

/// The pieces of a stream that never finishes properly (see [`Fault`]); bounded so the fake
/// always stops by itself.
fn hostile_pieces(fault: &Fault, id: usize) -> Vec<(Bytes, Duration)> {
    let tick = Duration::from_millis(20);
    match fault {
        Fault::KeepAliveForever => {
            vec![(Bytes::from_static(b": keep-alive\n\n"), tick); 3000]
        }
        Fault::IgnoreMaxTokens => {
            vec![
                (
                    event(&chunk(id, json!({ "content": "word " }), None)),
                    Duration::ZERO
                );
                100_000
            ]
        }
        Fault::HugeEvent(bytes) => {
            let line = Bytes::from(format!("data: {}\n", "y".repeat(1000)));
            vec![(line, Duration::ZERO); bytes / 1000 + 1]
        }
        _ => Vec::new(),
    }
}

fn hostile_stream(shared: Arc<Shared>, guard: InFlight, fault: Fault, id: usize) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(1);
    tokio::spawn(async move {
        let _guard = guard;
        let first = chunk(id, json!({ "role": "assistant", "content": "" }), None);
        let pieces = hostile_pieces(&fault, id);
        for (piece, wait) in std::iter::once((event(&first), Duration::ZERO)).chain(pieces) {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if tx.send(Ok(piece)).await.is_err() {
                shared.closed_early.fetch_add(1, Ordering::SeqCst);
                shared.changed.notify_waiters();
                return;
            }
        }
    });
    event_stream(rx)
}

fn usage_json(prompt: usize, completion: usize, cached: usize) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": { "cached_tokens": cached },
    })
}

fn event(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn chunk(id: usize, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": format!("chatcmpl-fake-{id}"),
        "object": "chat.completion.chunk",
        "created": 0,
        "model": FakeOpenAi::MODEL,
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
    })
}

fn stream_answer(
    shared: Arc<Shared>,
    guard: InFlight,
    body: Value,
    fault: Option<Fault>,
    id: usize,
) -> Response {
    let (answer, delay, cached) = {
        let mut script = shared.script();
        (
            next_answer(&mut script, &body),
            script.chunk_delay,
            script.cached_tokens,
        )
    };
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let prompt = FakeOpenAi::prompt_tokens(&body);
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(1);
    tokio::spawn(async move {
        let _guard = guard;
        let closed = || {
            shared.closed_early.fetch_add(1, Ordering::SeqCst);
            shared.changed.notify_waiters();
        };
        let first = chunk(id, json!({ "role": "assistant", "content": "" }), None);
        if tx.send(Ok(event(&first))).await.is_err() {
            closed();
            return;
        }
        let total = answer.pieces.len();
        for (i, piece) in answer.pieces.iter().enumerate() {
            match fault {
                Some(Fault::CutAfter(k)) if i == k => {
                    let _ = tx.send(Err(io::Error::other("injected cut"))).await;
                    return;
                }
                Some(Fault::EndAfter(k)) if i == k => return,
                _ => {}
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let c = chunk(id, json!({ "content": piece }), None);
            if tx.send(Ok(event(&c))).await.is_err() {
                closed();
                return;
            }
        }
        match fault {
            Some(Fault::CutAfter(_)) => {
                let _ = tx.send(Err(io::Error::other("injected cut"))).await;
                return;
            }
            Some(Fault::EndAfter(_)) => return,
            _ => {}
        }
        let mut tail = vec![event(&chunk(id, json!({}), Some(answer.finish)))];
        if include_usage {
            tail.push(event(&json!({
                "id": format!("chatcmpl-fake-{id}"),
                "object": "chat.completion.chunk",
                "created": 0,
                "model": FakeOpenAi::MODEL,
                "choices": [],
                "usage": usage_json(prompt, total, cached),
            })));
        }
        tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
        for b in tail {
            if tx.send(Ok(b)).await.is_err() {
                closed();
                return;
            }
        }
    });
    event_stream(rx)
}

/// A `text/event-stream` response sending what arrives on `rx`.
fn event_stream(rx: mpsc::Receiver<Result<Bytes, io::Error>>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
