//! A deterministic engine for tests and demos.
//!
//! [`ScriptedEngine`] answers from a queue of scripted replies, or from a closure over the
//! request, and records every [`GenerateRequest`] it receives so tests can assert on the exact
//! prompt. Replies stream word by word (optionally with a delay per word) on a thread of their
//! own, honour the [`CancelToken`], `max_tokens` (one word = one token) and stop strings.
//!
//! Token counting is an estimate that is easy to reason about in tests:
//! `count_tokens(text) = max(whitespace-separated words, ceil(chars / 4))`, so both English
//! sentences and unspaced scripts (Chinese) grow with their length.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;

use super::stop::cut_at_stop;
use super::{
    CancelToken, ChatMessage, Engine, FinishReason, GenEvent, GenerateRequest, Generation, Usage,
};
use crate::{Error, Result};

/// One scripted outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scripted {
    /// Stream this text.
    Reply(String),
    /// Fail the generation with [`Error::Remote`] carrying this detail.
    Fail(String),
}

type Responder = dyn Fn(&GenerateRequest) -> String + Send + Sync;

/// A deterministic [`Engine`]: scripted replies, recorded requests. See the module docs.
pub struct ScriptedEngine {
    script: Mutex<VecDeque<Scripted>>,
    responder: Option<Box<Responder>>,
    requests: Mutex<Vec<GenerateRequest>>,
    forgotten: Mutex<Vec<String>>,
    /// The last prompt per conversation, to report cache hits as the local engine would.
    caches: Mutex<HashMap<String, Vec<ChatMessage>>>,
    delay: Duration,
    context_len: usize,
    overhead: usize,
    /// While `true`, streams wait before their first word (see [`ScriptedEngine::hold`]).
    held: Arc<(Mutex<bool>, Condvar)>,
    /// What [`Engine::concurrent_answers`] reports.
    concurrent: Option<usize>,
}

impl Default for ScriptedEngine {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ScriptedEngine {
    /// An engine that answers `"ok"` to everything, with a 2048-token context and an overhead
    /// of 4 tokens per message.
    pub fn new() -> Self {
        Self {
            script: Mutex::new(VecDeque::new()),
            responder: None,
            requests: Mutex::new(Vec::new()),
            forgotten: Mutex::new(Vec::new()),
            caches: Mutex::new(HashMap::new()),
            delay: Duration::ZERO,
            context_len: 2048,
            overhead: 4,
            held: Arc::default(),
            concurrent: None,
        }
    }

    /// Report that it answers `n` requests at once, as a batching engine does.
    pub fn with_concurrent_answers(mut self, n: usize) -> Self {
        self.concurrent = Some(n);
        self
    }

    /// Answer with `f(request)` whenever the queue is empty.
    pub fn with_responder(
        mut self,
        f: impl Fn(&GenerateRequest) -> String + Send + Sync + 'static,
    ) -> Self {
        self.responder = Some(Box::new(f));
        self
    }

    /// Queue replies, used in order before the responder.
    pub fn with_replies<S: Into<String>>(self, replies: impl IntoIterator<Item = S>) -> Self {
        for r in replies {
            self.push(Scripted::Reply(r.into()));
        }
        self
    }

    /// Wait this long before each streamed word.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Report this context length.
    pub fn with_context_len(mut self, tokens: usize) -> Self {
        self.context_len = tokens;
        self
    }

    /// Queue one more outcome.
    pub fn push(&self, outcome: Scripted) {
        lock(&self.script).push_back(outcome);
    }

    /// Hold every stream, new or started, before its first word until [`Self::release`]:
    /// lets a test pile work up behind a running answer without counting on timing.
    pub fn hold(&self) {
        *lock(&self.held.0) = true;
    }

    /// Let held streams go on (see [`Self::hold`]).
    pub fn release(&self) {
        *lock(&self.held.0) = false;
        self.held.1.notify_all();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<GenerateRequest> {
        lock(&self.requests).clone()
    }

    /// Conversation ids passed to [`Engine::forget`], in order.
    pub fn forgotten(&self) -> Vec<String> {
        lock(&self.forgotten).clone()
    }

    fn tokens_of(&self, messages: &[ChatMessage]) -> usize {
        messages
            .iter()
            .map(|m| self.count_tokens(&m.content) + self.overhead)
            .sum()
    }
}

/// Block the streaming thread while the engine is held.
fn wait_while_held(held: &(Mutex<bool>, Condvar)) {
    let mut on_hold = lock(&held.0);
    while *on_hold {
        on_hold = held.1.wait(on_hold).unwrap_or_else(|p| p.into_inner());
    }
}

impl Engine for ScriptedEngine {
    fn concurrent_answers(&self) -> Option<usize> {
        self.concurrent
    }

    fn generate(&self, request: GenerateRequest) -> Result<Generation> {
        lock(&self.requests).push(request.clone());
        let outcome = lock(&self.script).pop_front().unwrap_or_else(|| {
            Scripted::Reply(match &self.responder {
                Some(f) => f(&request),
                None => "ok".to_string(),
            })
        });
        let prompt_tokens = self.tokens_of(&request.messages);
        let cached_tokens = {
            let mut caches = lock(&self.caches);
            let common = caches.get(&request.conversation).map_or(0, |prev| {
                prev.iter()
                    .zip(&request.messages)
                    .take_while(|(a, b)| a == b)
                    .count()
            });
            caches.insert(request.conversation.clone(), request.messages.clone());
            self.tokens_of(&request.messages[..common])
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancelToken::new();
        let token = cancel.clone();
        let delay = self.delay;
        let max_tokens = request.params.max_tokens;
        let stop = request.params.stop.clone();
        let held = self.held.clone();
        std::thread::spawn(move || {
            wait_while_held(&held);
            let text = match outcome {
                Scripted::Fail(detail) => {
                    let _ = tx.send(Err(Error::Remote(detail)));
                    return;
                }
                Scripted::Reply(t) => t,
            };
            let (text, stop_string) = cut_at_stop(text, &stop);
            let mut usage = Usage {
                prompt_tokens,
                cached_tokens,
                stop_string,
                ..Usage::default()
            };
            let started = std::time::Instant::now();
            let mut finish = FinishReason::Stop;
            for (i, word) in text.split_inclusive(char::is_whitespace).enumerate() {
                if i >= max_tokens {
                    finish = FinishReason::Length;
                    break;
                }
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                if token.is_cancelled() {
                    finish = FinishReason::Cancelled;
                    break;
                }
                if i == 0 {
                    usage.time_to_first_token = started.elapsed();
                }
                usage.completion_tokens += 1;
                if tx.send(Ok(GenEvent::Delta(word.to_string()))).is_err() {
                    return;
                }
            }
            if token.is_cancelled() {
                finish = FinishReason::Cancelled;
            }
            usage.decode = started.elapsed();
            usage.finish = Some(finish);
            let _ = tx.send(Ok(GenEvent::Done(usage)));
        });
        Ok(Generation::new(rx, cancel))
    }

    fn count_tokens(&self, text: &str) -> usize {
        let words = text.split_whitespace().count();
        words.max(text.chars().count().div_ceil(4))
    }

    fn message_overhead(&self) -> usize {
        self.overhead
    }

    fn context_len(&self) -> usize {
        self.context_len
    }

    fn forget(&self, conversation: &str) {
        lock(&self.forgotten).push(conversation.to_string());
        lock(&self.caches).remove(conversation);
    }

    fn kind(&self) -> &'static str {
        "scripted"
    }

    fn describe(&self) -> String {
        "scripted test engine".to_string()
    }
}

impl std::fmt::Debug for ScriptedEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedEngine")
            .field("requests", &lock(&self.requests).len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Role, SamplingParams};

    fn req(conv: &str, text: &str, max_tokens: usize, stop: &[&str]) -> GenerateRequest {
        GenerateRequest {
            conversation: conv.into(),
            messages: vec![ChatMessage::new(Role::User, text)],
            params: SamplingParams {
                max_tokens,
                stop: stop.iter().map(|s| s.to_string()).collect(),
                ..SamplingParams::default()
            },
            shareable_bytes: 0,
        }
    }

    /// Run one request to the end: its text and usage.
    async fn answer(e: &ScriptedEngine, request: GenerateRequest) -> (String, Usage) {
        e.generate(request).unwrap().text().await.unwrap()
    }

    #[tokio::test]
    async fn streams_scripted_reply_and_records_request() {
        let e = ScriptedEngine::new().with_replies(["hello there world"]);
        let (text, usage) = answer(&e, req("c", "hi", 100, &[])).await;
        assert_eq!(text, "hello there world");
        assert_eq!(usage.completion_tokens, 3);
        assert_eq!(e.requests()[0].messages[0].content, "hi");
        let (text, _) = answer(&e, req("c", "hi", 100, &[])).await;
        assert_eq!(text, "ok");
    }

    #[tokio::test]
    async fn honours_max_tokens_and_stop() {
        let e = ScriptedEngine::new().with_replies(["one two three four", "a b STOP c"]);
        let (t, u) = answer(&e, req("c", "x", 2, &[])).await;
        assert_eq!(t, "one two ");
        assert_eq!(u.finish, Some(FinishReason::Length));
        let (t, _) = answer(&e, req("c", "x", 9, &["STOP"])).await;
        assert_eq!(t, "a b ");
    }

    #[tokio::test]
    async fn cancel_stops_stream() {
        let e = ScriptedEngine::new()
            .with_replies([&"w ".repeat(100)])
            .with_delay(Duration::from_millis(5));
        let mut g = e.generate(req("c", "x", 1000, &[])).unwrap();
        let _ = g.next().await;
        g.cancel_token().cancel();
        let (t, u) = g.text().await.unwrap();
        assert!(t.len() < 20, "{t}");
        assert_eq!(u.finish, Some(FinishReason::Cancelled));
    }

    #[tokio::test]
    async fn reports_cache_hits_by_common_prefix() {
        let e = ScriptedEngine::new();
        answer(&e, req("c", "x", 5, &[])).await;
        let (_, u) = answer(&e, req("c", "x", 5, &[])).await;
        assert_eq!(u.cached_tokens, u.prompt_tokens);
        e.forget("c");
        let (_, u) = answer(&e, req("c", "x", 5, &[])).await;
        assert_eq!(u.cached_tokens, 0);
    }
}
