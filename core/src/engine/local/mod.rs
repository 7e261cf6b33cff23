//! The local engine: a GGUF model on candle, on its own thread, with a KV cache per
//! conversation.
//!
//! Requests arrive over a channel; the worker thread encodes the messages, finds the longest
//! prefix of the new prompt that the conversation's cache already holds, prefills only the rest,
//! then samples token by token, streaming text deltas back. Caches live in an LRU bounded by a
//! byte budget; an evicted conversation is simply prefilled again next time. Model work never
//! runs on the async runtime.

pub mod model;
pub mod sampling;

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use candle_core::Tensor;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::stop::StopFilter;
use super::{CancelToken, Engine, FinishReason, GenEvent, GenerateRequest, Generation, Usage};
use crate::{Error, Result};
use model::{KvCache, Model, TextStream, WeightFormat};
use sampling::Sampler;

/// Longest chunk of prompt run through the model at once (bounds the attention scratch memory).
const PREFILL_CHUNK: usize = 512;

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
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            kv_cache_mb: 512,
            weights: WeightFormat::default(),
            context_len: 0,
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
}

struct Entry {
    cache: KvCache,
    tokens: Vec<u32>,
    last_used: u64,
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

    fn put(&mut self, id: String, mut entry: Entry) {
        self.clock += 1;
        entry.last_used = self.clock;
        self.entries.insert(id.clone(), entry);
        while self.bytes() > self.budget && self.entries.len() > 1 {
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
    stats: Arc<Mutex<EngineStats>>,
}

impl std::fmt::Debug for LocalEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEngine")
            .field("model", &self.model.name)
            .field("context_len", &self.context_len)
            .finish_non_exhaustive()
    }
}

/// Set candle's compute thread count. Takes effect only before the first model computation
/// in the process, so engines call it before loading.
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
        set_compute_threads(config.threads);
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
        let worker = Worker {
            model: model.clone(),
            caches: CacheStore {
                entries: HashMap::new(),
                budget: config.kv_cache_mb.saturating_mul(1 << 20),
                clock: 0,
                evictions: 0,
            },
            context_len,
            stats: stats.clone(),
        };
        thread::Builder::new()
            .name("parley-engine".into())
            .spawn(move || worker.run(rx))?;
        Ok(Self {
            model,
            tx: Mutex::new(tx),
            context_len,
            overhead,
            stats,
        })
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
    stats: Arc<Mutex<EngineStats>>,
}

impl Worker {
    fn run(mut self, rx: std_mpsc::Receiver<Command>) {
        while let Ok(cmd) = rx.recv() {
            match cmd {
                Command::Forget(id) => {
                    self.caches.take(&id);
                }
                Command::Generate(job) => {
                    let events = job.events.clone();
                    if let Err(e) = self.generate(*job) {
                        debug!(error = %e, "generation failed");
                        let _ = events.send(Err(e));
                    }
                }
            }
            if let Ok(mut s) = self.stats.lock() {
                s.cached_conversations = self.caches.entries.len();
                s.cache_bytes = self.caches.bytes();
                s.evictions = self.caches.evictions;
            }
        }
        debug!("engine thread stopped");
    }

    fn generate(&mut self, job: Job) -> Result<()> {
        let prompt = self.model.encode_chat(&job.request.messages)?;
        if prompt.len() >= self.context_len {
            return Err(Error::ContextOverflow {
                prompt: prompt.len(),
                context: self.context_len,
            });
        }
        let mut entry = self.cached_prefix(&job.request.conversation, &prompt);
        let mut usage = Usage {
            prompt_tokens: prompt.len(),
            cached_tokens: entry.tokens.len(),
            ..Usage::default()
        };
        let prefill_start = Instant::now();
        let logits = self.prefill(&prompt, &mut entry, &job);
        usage.prefill = prefill_start.elapsed();
        let logits = match logits {
            Ok(Some(logits)) => logits,
            Ok(None) => {
                usage.finish = Some(FinishReason::Cancelled);
                self.caches.put(job.request.conversation, entry);
                let _ = job.events.send(Ok(GenEvent::Done(usage)));
                return Ok(());
            }
            // The entry (maybe half-written) is dropped, never reused.
            Err(e) => return Err(e),
        };
        let max_new = job
            .request
            .params
            .max_tokens
            .min(self.context_len - prompt.len());
        self.decode(&job, prompt, logits, max_new, &mut entry, &mut usage)?;
        debug!(
            prompt = usage.prompt_tokens,
            cached = usage.cached_tokens,
            completion = usage.completion_tokens,
            prefill_ms = usage.prefill.as_millis() as u64,
            decode_ms = usage.decode.as_millis() as u64,
            "generation done"
        );
        self.caches.put(job.request.conversation, entry);
        let _ = job.events.send(Ok(GenEvent::Done(usage)));
        Ok(())
    }

    /// The conversation's cache, cut back to the longest prefix it shares with `prompt` (at
    /// least one prompt token is always left to run, for the logits).
    fn cached_prefix(&mut self, conversation: &str, prompt: &[u32]) -> Entry {
        let model = &self.model;
        let mut entry = self.caches.take(conversation).unwrap_or_else(|| Entry {
            cache: model.transformer.new_cache(),
            tokens: Vec::new(),
            last_used: 0,
        });
        let common = entry
            .tokens
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len() - 1);
        entry.cache.truncate(common);
        entry.tokens.truncate(common);
        entry
    }

    /// Run the prompt's uncached tail in chunks; the last position's logits, or `None` when
    /// the asker gave up first.
    fn prefill(&self, prompt: &[u32], entry: &mut Entry, job: &Job) -> Result<Option<Tensor>> {
        let mut logits = None;
        for chunk in prompt[entry.tokens.len()..].chunks(PREFILL_CHUNK) {
            if job.abandoned() {
                return Ok(None);
            }
            logits = Some(self.model.transformer.forward(chunk, &mut entry.cache)?);
            entry.tokens.extend_from_slice(chunk);
        }
        Ok(logits)
    }

    /// Sample up to `max_new` tokens from `logits` on, streaming text through the stop filter.
    fn decode(
        &self,
        job: &Job,
        mut history: Vec<u32>,
        mut logits: Tensor,
        max_new: usize,
        entry: &mut Entry,
        usage: &mut Usage,
    ) -> Result<()> {
        let model = &self.model;
        let mut sampler = Sampler::new(&job.request.params)?;
        let mut stream = TextStream::new();
        let mut stops = StopFilter::new(&job.request.params.stop);
        let decode_start = Instant::now();
        let mut finish = FinishReason::Length;
        for i in 0..max_new {
            if job.abandoned() {
                finish = FinishReason::Cancelled;
                break;
            }
            let next = sampler.sample(&logits, &history)?;
            if i == 0 {
                usage.time_to_first_token = job.submitted.elapsed();
            }
            if model.tokenizer.is_eos(next) {
                finish = FinishReason::Stop;
                break;
            }
            usage.completion_tokens += 1;
            history.push(next);
            if let Some(text) = stream.push(&model.tokenizer, next)? {
                job.emit(stops.push(&text).emit);
                if stops.stopped() {
                    finish = FinishReason::Stop;
                    break;
                }
            }
            if i + 1 == max_new {
                break;
            }
            logits = model.transformer.forward(&[next], &mut entry.cache)?;
            entry.tokens.push(next);
        }
        if !stops.stopped() && finish != FinishReason::Cancelled {
            if let Some(text) = stream.finish(&model.tokenizer)? {
                job.emit(stops.push(&text).emit);
            }
            job.emit(stops.finish());
        }
        usage.decode = decode_start.elapsed();
        usage.finish = Some(finish);
        usage.stop_string = stops.stopped();
        Ok(())
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

/// Tokens per second for `n` tokens in `d`.
pub fn rate(n: usize, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}
