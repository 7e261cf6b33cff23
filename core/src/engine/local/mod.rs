//! The local engine: a GGUF model on candle, on its own thread, with a KV cache per
//! conversation.
//!
//! Requests arrive over a channel; the worker thread encodes the messages, finds the longest
//! prefix of the new prompt that the conversation's cache already holds, and runs only the rest.
//! Up to `max_batch` requests are answered together (continuous batching): each step is one
//! batched forward over the next token of every answer being decoded, plus prompt chunks of
//! newcomers, which join at the next step while finished or cancelled answers leave. Attention
//! stays per conversation over its own cache, and the weight kernels compute a row the same way
//! whatever rows come with it, so an answer is token for token the one it would be alone.
//! Caches live in an LRU bounded by a byte budget; an evicted conversation is simply prefilled
//! again next time. Model work never runs on the async runtime.

mod answer;
pub mod model;
pub mod sampling;
mod share;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use candle_core::Tensor;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{CancelToken, Engine, FinishReason, GenEvent, GenerateRequest, Generation};
use crate::{Error, Result};
use answer::Answer;
use model::transformer::StepInput;
use model::{KvCache, Model, WeightFormat};

/// Most prompt tokens run for one answer at one step, and for all newcomers together at one
/// step (the first chunk always runs): bounds the attention scratch memory and how long a
/// newcomer's prompt holds up the streams already running.
const PREFILL_CHUNK: usize = 128;

/// A newcomer waits for an earlier answer still running its prompt to compute a prompt start
/// they share (a persona's system prompt) and copies it, when that saves at least this many
/// tokens; a shorter shared start is cheaper to run again than to wait a step for.
const SHARE_MIN_TOKENS: usize = 8;

/// Default of [`LocalConfig::max_batch`] (`engine.max_batch`; see config.toml for the reason).
pub const DEFAULT_MAX_BATCH: usize = 8;

/// Settings of the local engine.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalConfig {
    /// Compute threads for the matrix kernels (0 = all cores).
    pub threads: usize,
    /// Memory budget for all conversations' KV caches, in MiB.
    pub kv_cache_mb: usize,
    /// How weights are held in memory.
    pub weights: WeightFormat,
    /// Override of the model's context length (0 = the model's own).
    pub context_len: usize,
    /// Most answers decoded together in one batched step; more wait their turn.
    pub max_batch: usize,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            kv_cache_mb: 512,
            weights: WeightFormat::default(),
            context_len: 0,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

/// Figures about the engine's last generation and its caches, for `/stats` and the benchmark.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineStats {
    /// Conversations with a cache.
    pub cached_conversations: usize,
    /// Bytes held by all caches.
    pub cache_bytes: usize,
    /// Caches evicted to stay within budget, since start.
    pub evictions: u64,
    /// Most answers run together in one step, since start.
    pub largest_batch: usize,
    /// Prompt tokens copied from other conversations' caches (shared system prompts), since
    /// start; a conversation's reuse of its own cache is not counted here.
    pub shared_prompt_tokens: u64,
}

struct Job {
    request: GenerateRequest,
    events: mpsc::UnboundedSender<Result<GenEvent>>,
    cancel: CancelToken,
    submitted: Instant,
}

enum Command {
    Generate(Box<Job>),
    Forget(String),
    /// A test's fault: the next step panics (`true`: the engine thread itself dies).
    #[cfg(any(test, feature = "testing"))]
    Crash(bool),
}

struct Entry {
    cache: KvCache,
    tokens: Vec<u32>,
    last_used: u64,
    /// Leading tokens that hold nothing from a user: all another conversation may copy.
    shareable: usize,
}

/// Per-conversation caches under a byte budget, least recently used evicted first.
struct CacheStore {
    entries: HashMap<String, Entry>,
    budget: usize,
    clock: u64,
    evictions: u64,
}

impl CacheStore {
    fn take(&mut self, id: &str) -> Option<Entry> {
        self.entries.remove(id)
    }

    /// Keep `entry` for conversation `id`, evicting the least recently used others until the
    /// kept caches and the `in_use` bytes of running answers fit the budget.
    fn put(&mut self, id: String, mut entry: Entry, in_use: usize) {
        self.clock += 1;
        entry.last_used = self.clock;
        self.entries.insert(id.clone(), entry);
        while self.bytes() + in_use > self.budget && self.entries.len() > 1 {
            let oldest = self
                .entries
                .iter()
                .filter(|(k, _)| **k != id)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.entries.remove(&k);
                    self.evictions += 1;
                    debug!(conversation = %k, "kv cache evicted");
                }
                None => break,
            }
        }
    }

    fn bytes(&self) -> usize {
        self.entries.values().map(|e| e.cache.bytes()).sum()
    }
}

/// The local candle engine. Cheap to share: clone the `Arc` it is usually kept in.
pub struct LocalEngine {
    model: Model,
    tx: Mutex<std_mpsc::Sender<Command>>,
    context_len: usize,
    overhead: usize,
    max_batch: usize,
    stats: Arc<Mutex<EngineStats>>,
    /// Cleared when the engine thread ends, however it ends.
    running: Arc<AtomicBool>,
}

impl std::fmt::Debug for LocalEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEngine")
            .field("model", &self.model.name)
            .field("context_len", &self.context_len)
            .finish_non_exhaustive()
    }
}

/// Set candle's compute thread count (it reads it from the environment). Call it at start-up,
/// before any other thread runs: writing the environment while another thread reads it is
/// undefined behaviour, so engines never call it themselves once the runtime runs.
pub fn set_compute_threads(threads: usize) {
    if threads == 0 {
        return;
    }
    for var in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, threads.to_string());
        }
    }
}

impl LocalEngine {
    /// Load the model at `path` and start the engine thread.
    pub fn load(path: &std::path::Path, config: &LocalConfig) -> Result<Self> {
        let started = Instant::now();
        let model = Model::load(path, config.weights)?;
        info!(
            model = %model.name,
            weights_mib = model.transformer.weight_bytes() / (1 << 20),
            ms = started.elapsed().as_millis() as u64,
            "model loaded"
        );
        Self::start(model, config)
    }

    /// Start the engine thread for an already loaded model.
    pub fn start(model: Model, config: &LocalConfig) -> Result<Self> {
        let trained = model.transformer.config().context_len;
        let context_len = if config.context_len == 0 {
            trained
        } else {
            config.context_len.min(trained)
        };
        let overhead = model.message_overhead();
        let (tx, rx) = std_mpsc::channel();
        let stats = Arc::new(Mutex::new(EngineStats::default()));
        let running = Arc::new(AtomicBool::new(true));
        let alive = Running(running.clone());
        let worker = Worker {
            model: model.clone(),
            caches: CacheStore {
                entries: HashMap::new(),
                budget: config.kv_cache_mb.saturating_mul(1 << 20),
                clock: 0,
                evictions: 0,
            },
            context_len,
            max_batch: config.max_batch.max(1),
            stats: stats.clone(),
            waiting: VecDeque::new(),
            active: Vec::new(),
            largest_batch: 0,
            shared_prompt_tokens: 0,
            #[cfg(any(test, feature = "testing"))]
            crash: false,
        };
        thread::Builder::new()
            .name("parley-engine".into())
            .spawn(move || {
                let _alive = alive;
                worker.run(rx);
            })?;
        Ok(Self {
            model,
            tx: Mutex::new(tx),
            context_len,
            overhead,
            max_batch: config.max_batch.max(1),
            stats,
            running,
        })
    }

    /// Whether the engine thread still runs (`/healthz` turns 503 when it does not).
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Make the engine's next step panic, as a fault in the model code would; with
    /// `kill_thread`, make the engine thread itself die. For tests.
    #[cfg(any(test, feature = "testing"))]
    pub fn crash_next_step(&self, kill_thread: bool) {
        let _ = self.send(Command::Crash(kill_thread));
    }

    /// The loaded model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Cache figures.
    pub fn stats(&self) -> EngineStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn send(&self, cmd: Command) -> Result<()> {
        self.tx
            .lock()
            .map_err(|_| Error::EngineStopped)?
            .send(cmd)
            .map_err(|_| Error::EngineStopped)
    }
}

impl Engine for LocalEngine {
    fn generate(&self, request: GenerateRequest) -> Result<Generation> {
        sampling::validate(&request.params)?;
        let (events, rx) = mpsc::unbounded_channel();
        let cancel = CancelToken::new();
        self.send(Command::Generate(Box::new(Job {
            request,
            events,
            cancel: cancel.clone(),
            submitted: Instant::now(),
        })))?;
        Ok(Generation::new(rx, cancel))
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.model
            .tokenizer
            .encode_plain(text)
            .map(|ids| ids.len())
            .unwrap_or_else(|_| text.len() / 2 + 1)
    }

    fn message_overhead(&self) -> usize {
        self.overhead
    }

    fn context_len(&self) -> usize {
        self.context_len
    }

    fn forget(&self, conversation: &str) {
        if self
            .send(Command::Forget(conversation.to_string()))
            .is_err()
        {
            warn!("engine stopped; nothing to forget");
        }
    }

    fn concurrent_answers(&self) -> Option<usize> {
        Some(self.max_batch)
    }

    fn kind(&self) -> &'static str {
        "local"
    }

    fn describe(&self) -> String {
        let c = self.model.transformer.config();
        format!(
            "{} ({:?}, {} layers, context {}, local)",
            self.model.name, c.arch, c.n_layer, self.context_len
        )
    }
}

struct Worker {
    model: Model,
    caches: CacheStore,
    context_len: usize,
    max_batch: usize,
    stats: Arc<Mutex<EngineStats>>,
    /// Requests waiting for a place in the batch, oldest first.
    waiting: VecDeque<Job>,
    /// Requests being answered, in the order they came.
    active: Vec<Answer>,
    /// Most answers run together in one step.
    largest_batch: usize,
    /// Prompt tokens copied from other conversations, since start.
    shared_prompt_tokens: u64,
    /// A test asked for the next step to panic.
    #[cfg(any(test, feature = "testing"))]
    crash: bool,
}

/// Clears the engine's running flag when the engine thread ends, even by a panic.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl Worker {
    /// Step every active answer together until the engine is dropped and all work is done.
    fn run(mut self, rx: std_mpsc::Receiver<Command>) {
        let mut open = true;
        while open || !self.active.is_empty() || !self.waiting.is_empty() {
            if open && self.active.is_empty() && self.waiting.is_empty() {
                match rx.recv() {
                    Ok(cmd) => self.command(cmd),
                    Err(_) => open = false,
                }
            }
            // Newcomers join at the next step.
            loop {
                match rx.try_recv() {
                    Ok(cmd) => self.command(cmd),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            // A panic in the model code fails the answers of that step, never the engine.
            let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.admit();
                self.step();
            }));
            if stepped.is_err() {
                self.fail_running();
            }
            self.publish_stats();
        }
        debug!("engine thread stopped");
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Forget(id) => {
                self.caches.take(&id);
                for a in &mut self.active {
                    if a.job.request.conversation == id {
                        a.forget = true;
                    }
                }
            }
            Command::Generate(job) => self.waiting.push_back(*job),
            #[cfg(any(test, feature = "testing"))]
            Command::Crash(kill_thread) => {
                assert!(!kill_thread, "engine thread killed by a test");
                self.crash = true;
            }
        }
    }

    /// After a panic in a step: every running answer fails (its cache may be half written, so
    /// it is dropped); the requests still waiting run as usual.
    fn fail_running(&mut self) {
        warn!(
            answers = self.active.len(),
            "a model step panicked; its answers failed"
        );
        for a in self.active.drain(..) {
            let _ = a.job.events.send(Err(Error::Candle(
                "the model computation crashed on this request".into(),
            )));
        }
    }

    /// Move waiting requests into the batch while it has room.
    fn admit(&mut self) {
        while self.active.len() < self.max_batch {
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            let events = job.events.clone();
            match self.start(job) {
                Ok(answer) => self.active.push(answer),
                Err(e) => {
                    debug!(error = %e, "generation failed");
                    let _ = events.send(Err(e));
                }
            }
        }
    }

    /// Encode the request's prompt and find what its conversation's cache already holds.
    fn start(&mut self, job: Job) -> Result<Answer> {
        let prompt = self.model.encode_chat(&job.request.messages)?;
        if prompt.len() >= self.context_len {
            return Err(Error::ContextOverflow {
                prompt: prompt.len(),
                context: self.context_len,
            });
        }
        let mut entry = self.cached_prefix(&job.request.conversation, &prompt);
        let messages = &job.request.messages;
        entry.shareable =
            share::shareable_tokens(&self.model, messages, job.request.shareable_bytes, &prompt)?;
        Answer::new(job, prompt, entry, self.context_len)
    }

    /// The conversation's cache, cut back to the longest prefix it shares with `prompt` (at
    /// least one prompt token is always left to run, for the logits).
    fn cached_prefix(&mut self, conversation: &str, prompt: &[u32]) -> Entry {
        let model = &self.model;
        let mut entry = self.caches.take(conversation).unwrap_or_else(|| Entry {
            cache: model.transformer.new_cache(),
            tokens: Vec::new(),
            last_used: 0,
            shareable: 0,
        });
        let common = common_prefix(&entry.tokens, prompt);
        entry.cache.truncate(common);
        entry.tokens.truncate(common);
        entry
    }

    /// One batched forward: the next token of every decoding answer, plus prompt chunks of
    /// newcomers (oldest first) up to [`PREFILL_CHUNK`] rows, so a long prompt joins in pieces
    /// between decode steps instead of freezing everyone's stream.
    fn step(&mut self) {
        let mut i = 0;
        while i < self.active.len() {
            if self.active[i].job.abandoned() {
                let a = self.active.remove(i);
                self.close(a, Ok(FinishReason::Cancelled));
            } else {
                i += 1;
            }
        }
        self.share_prefixes();
        let chosen = self.choose();
        if chosen.is_empty() {
            return;
        }
        #[cfg(any(test, feature = "testing"))]
        if std::mem::take(&mut self.crash) {
            panic!("model step crashed by a test");
        }
        self.largest_batch = self.largest_batch.max(chosen.len());
        let ran: Vec<usize> = chosen
            .iter()
            .map(|&i| self.active[i].pending(PREFILL_CHUNK))
            .collect();
        let outcomes = match self.forward(&chosen) {
            Ok(logits) => logits.into_iter().map(Ok).collect(),
            // Caches only grow once a forward succeeds: run each alone so that only the
            // answer at fault fails.
            Err(e) => {
                debug!(error = %e, "batched step failed; running its answers one by one");
                chosen
                    .iter()
                    .map(|&i| self.forward(&[i]).map(|mut l| l.remove(0)))
                    .collect::<Vec<_>>()
            }
        };
        let mut ended = Vec::new();
        for ((&i, rows), logits) in chosen.iter().zip(ran).zip(outcomes) {
            let end = logits.and_then(|l| self.active[i].advance(rows, &l, &self.model));
            match end {
                Ok(None) => {}
                Ok(Some(finish)) => ended.push((i, Ok(finish))),
                Err(e) => ended.push((i, Err(e))),
            }
        }
        for (i, end) in ended.into_iter().rev() {
            let a = self.active.remove(i);
            self.close(a, end);
        }
    }

    /// One forward over the pending tokens of the answers at `chosen` (ascending indices).
    fn forward(&mut self, chosen: &[usize]) -> Result<Vec<Tensor>> {
        let mut segments: Vec<StepInput<'_>> = self
            .active
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| chosen.contains(i))
            .map(|(_, a)| a.segment(PREFILL_CHUNK))
            .collect();
        self.model.transformer.forward_batch(&mut segments)
    }

    /// Let every answer still running its prompt copy the longest start of it that another
    /// conversation's cache (kept, or of a running answer) already holds, within what both
    /// prompts hold from no user ([`Entry::shareable`]).
    fn share_prefixes(&mut self) {
        for i in 0..self.active.len() {
            if !self.active[i].prefilling() {
                continue;
            }
            let mut a = self.active.remove(i);
            let best = self
                .caches
                .entries
                .values()
                .chain(self.active.iter().map(|other| &other.entry))
                .map(|e| (shared_start(e, &a.entry, a.prompt()), e))
                .max_by_key(|(n, _)| *n)
                .filter(|(n, _)| *n > a.cached());
            if let Some((n, donor)) = best {
                match a.adopt(donor, n, &self.model) {
                    Ok(()) => debug!(tokens = n, "prompt start copied from another conversation"),
                    Err(e) => debug!(error = %e, "prompt start not copied; running it"),
                }
            }
            self.active.insert(i, a);
        }
    }

    /// Whether the answer at `i` had better wait for an earlier one still running its prompt
    /// to compute the start they share ([`SHARE_MIN_TOKENS`] or more), then copy it.
    fn waits_for_shared_start(&self, i: usize) -> bool {
        let a = &self.active[i];
        self.active[..i].iter().any(|earlier| {
            earlier.prefilling()
                && common_prefix(earlier.prompt(), a.prompt())
                    .min(earlier.entry.shareable)
                    .min(a.entry.shareable)
                    >= a.cached() + SHARE_MIN_TOKENS
        })
    }

    /// Indices of the answers that run at this step.
    fn choose(&self) -> Vec<usize> {
        let mut budget = PREFILL_CHUNK;
        let mut chosen = Vec::new();
        for (i, a) in self.active.iter().enumerate() {
            if !a.prefilling() {
                chosen.push(i);
                continue;
            }
            if self.waits_for_shared_start(i) {
                continue;
            }
            let rows = a.pending(PREFILL_CHUNK);
            if rows <= budget || budget == PREFILL_CHUNK {
                budget = budget.saturating_sub(rows);
                chosen.push(i);
            }
        }
        chosen
    }

    /// Hand an ended answer its last events and put its cache back (an error drops it: it
    /// may be half written).
    fn close(&mut self, mut a: Answer, end: Result<FinishReason>) {
        // Counted and published before the answer's end goes out, so that whoever reads the
        // stats once it has their answer finds it counted.
        self.shared_prompt_tokens += a.usage.shared_tokens as u64;
        self.publish_stats();
        let done = end.and_then(|finish| a.finish(finish, &self.model));
        match done {
            Ok(()) if !a.forget => {
                let in_use = self.in_use();
                self.caches
                    .put(a.job.request.conversation.clone(), a.entry, in_use);
            }
            Ok(()) => {}
            Err(e) => {
                debug!(error = %e, "generation failed");
                let _ = a.job.events.send(Err(e));
            }
        }
    }

    /// Bytes of the caches the running answers hold.
    fn in_use(&self) -> usize {
        self.active.iter().map(|a| a.entry.cache.bytes()).sum()
    }

    fn publish_stats(&self) {
        if let Ok(mut s) = self.stats.lock() {
            s.cached_conversations = self.caches.entries.len();
            // Kept caches and those the running answers hold: the KV memory in use.
            s.cache_bytes = self.caches.bytes() + self.in_use();
            s.evictions = self.caches.evictions;
            s.largest_batch = self.largest_batch;
            s.shared_prompt_tokens = self.shared_prompt_tokens;
        }
    }
}

impl Job {
    /// The asker cancelled or stopped listening.
    fn abandoned(&self) -> bool {
        self.cancel.is_cancelled() || self.events.is_closed()
    }

    /// Send a piece of the answer (nothing for an empty one).
    fn emit(&self, text: String) {
        if !text.is_empty() {
            let _ = self.events.send(Ok(GenEvent::Delta(text)));
        }
    }
}

/// How many tokens `prompt` starts with that `cached` holds, leaving at least the prompt's last
/// token to run (its logits give the first answer token).
fn common_prefix(cached: &[u32], prompt: &[u32]) -> usize {
    cached
        .iter()
        .zip(prompt)
        .take_while(|(a, b)| a == b)
        .count()
        .min(prompt.len().saturating_sub(1))
}

/// How many tokens of `prompt` (whose cache is `own`) may come from `donor`, another
/// conversation's cache: their common start, within what both hold from no user.
fn shared_start(donor: &Entry, own: &Entry, prompt: &[u32]) -> usize {
    common_prefix(&donor.tokens, prompt)
        .min(donor.shareable)
        .min(own.shareable)
}

/// Tokens per second for `n` tokens in `d`.
pub fn rate(n: usize, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}
