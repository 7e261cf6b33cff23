//! Numbers for the people who run the bot: Prometheus metrics and a health check.
//!
//! Parley records through the [`metrics`] facade; each event has one function here, so every
//! series' name and labels are written once (the list is [`names`]). [`serve`] installs
//! `metrics-exporter-prometheus`'s recorder and serves, on `[metrics] listen`, `/metrics` (the
//! exporter's rendering in the Prometheus text format) and `/healthz` (engine loaded, each
//! platform link connected: 200, else 503, with a small JSON body). With metrics off nothing is
//! installed and every record call is a no-op. All three binaries call [`serve`] the same way.
//!
//! What is measured where: the bot counts messages seen, answered and refused (per platform and
//! reason), answer timings and tokens; [`crate::outbound`] counts platform rate limits and
//! retries; adapters report their links ([`link`]) and gateway events; gauges that are cheaper
//! to read than to keep (queue depth, KV-cache size) are read at scrape time by the functions
//! given to [`on_scrape`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use ::metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::{info, warn};

use crate::config::MetricsSettings;
use crate::engine::local::rate;
use crate::engine::Usage;
use crate::seam::Platform;
use crate::{Error, Result};

/// The series Parley exports.
pub mod names {
    /// Counter: messages that reached the bot, by `platform`.
    pub const MESSAGES_SEEN: &str = "parley_messages_seen_total";
    /// Counter: answers delivered, by `platform`.
    pub const MESSAGES_ANSWERED: &str = "parley_messages_answered_total";
    /// Counter: messages turned away, by `platform` and `reason`.
    pub const MESSAGES_REFUSED: &str = "parley_messages_refused_total";
    /// Gauge: answers waiting for their turn.
    pub const QUEUE_DEPTH: &str = "parley_queue_depth";
    /// Gauge: answers being written.
    pub const ANSWERS_IN_FLIGHT: &str = "parley_answers_in_flight";
    /// Histogram: seconds from the request to the engine to its first token, by `platform`.
    pub const TIME_TO_FIRST_TOKEN: &str = "parley_time_to_first_token_seconds";
    /// Histogram: seconds from the answer's start to its end, by `platform`.
    pub const ANSWER_DURATION: &str = "parley_answer_duration_seconds";
    /// Histogram: decoding speed of each answer, tokens per second.
    pub const DECODE_SPEED: &str = "parley_decode_tokens_per_second";
    /// Counter: prompt tokens sent to the engine.
    pub const PROMPT_TOKENS: &str = "parley_prompt_tokens_total";
    /// Counter: prompt tokens the conversation's own KV cache already held.
    pub const CACHED_PROMPT_TOKENS: &str = "parley_cached_prompt_tokens_total";
    /// Counter: prompt tokens copied from another conversation's cache (a shared persona).
    pub const SHARED_PROMPT_TOKENS: &str = "parley_shared_prompt_tokens_total";
    /// Counter: tokens generated.
    pub const GENERATED_TOKENS: &str = "parley_generated_tokens_total";
    /// Counter: answers whose prompt reused the KV cache (`result` = `hit` | `miss`).
    pub const KV_CACHE_LOOKUPS: &str = "parley_kv_cache_lookups_total";
    /// Gauge: bytes held by the local engine's KV caches.
    pub const KV_CACHE_BYTES: &str = "parley_kv_cache_bytes";
    /// Gauge: conversations with a KV cache.
    pub const KV_CACHE_CONVERSATIONS: &str = "parley_kv_cache_conversations";
    /// Counter: KV caches evicted to stay within the memory budget.
    pub const KV_CACHE_EVICTIONS: &str = "parley_kv_cache_evictions_total";
    /// Counter: platform calls answered with a rate limit (429), by `platform` and `call`.
    pub const PLATFORM_RATE_LIMITED: &str = "parley_platform_rate_limited_total";
    /// Counter: platform calls tried again after a failure, by `platform` and `call`.
    pub const PLATFORM_RETRIES: &str = "parley_platform_retries_total";
    /// Counter: errors, by `kind`.
    pub const ERRORS: &str = "parley_errors_total";
    /// Gauge: 1 while a gateway shard is connected, by `shard`.
    pub const GATEWAY_CONNECTED: &str = "parley_gateway_connected";
    /// Counter: gateway events received, by `shard`.
    pub const GATEWAY_EVENTS: &str = "parley_gateway_events_total";
}

/// Why a message got no answer from the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The per-user rate limit.
    RateLimited,
    /// Longer than `bot.max_input_chars`.
    TooLong,
    /// The queue was full.
    Busy,
    /// The bot is shutting down.
    Closing,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::RateLimited => "rate_limited",
            Refusal::TooLong => "too_long",
            Refusal::Busy => "busy",
            Refusal::Closing => "closing",
        }
    }
}

/// A message reached the bot.
pub fn message_seen(platform: Platform) {
    counter!(names::MESSAGES_SEEN, "platform" => platform.as_str()).increment(1);
}

/// A message was turned away.
pub fn message_refused(platform: Platform, reason: Refusal) {
    counter!(names::MESSAGES_REFUSED, "platform" => platform.as_str(), "reason" => reason.as_str())
        .increment(1);
}

/// An answer was delivered, with what the engine reported and how long it took in all.
pub fn answered(platform: Platform, usage: &Usage, took: Duration) {
    let p = platform.as_str();
    counter!(names::MESSAGES_ANSWERED, "platform" => p).increment(1);
    histogram!(names::TIME_TO_FIRST_TOKEN, "platform" => p)
        .record(usage.time_to_first_token.as_secs_f64());
    histogram!(names::ANSWER_DURATION, "platform" => p).record(took.as_secs_f64());
    counter!(names::PROMPT_TOKENS).increment(usage.prompt_tokens as u64);
    counter!(names::CACHED_PROMPT_TOKENS).increment(usage.cached_tokens as u64);
    counter!(names::SHARED_PROMPT_TOKENS).increment(usage.shared_tokens as u64);
    counter!(names::GENERATED_TOKENS).increment(usage.completion_tokens as u64);
    let result = if usage.cached_tokens > 0 {
        "hit"
    } else {
        "miss"
    };
    counter!(names::KV_CACHE_LOOKUPS, "result" => result).increment(1);
    if !usage.decode.is_zero() && usage.completion_tokens > 0 {
        histogram!(names::DECODE_SPEED).record(rate(usage.completion_tokens, usage.decode));
    }
}

/// Answers waiting and being written.
pub fn queue(queued: usize, in_flight: usize) {
    gauge!(names::QUEUE_DEPTH).set(queued as f64);
    gauge!(names::ANSWERS_IN_FLIGHT).set(in_flight as f64);
}

/// The local engine's KV caches: bytes held, conversations cached, evictions since start.
pub fn kv_cache(bytes: usize, conversations: usize, evictions: u64) {
    gauge!(names::KV_CACHE_BYTES).set(bytes as f64);
    gauge!(names::KV_CACHE_CONVERSATIONS).set(conversations as f64);
    counter!(names::KV_CACHE_EVICTIONS).absolute(evictions);
}

/// An error of `kind` (`engine`, `platform`, `store`, …), logged where it happened.
pub fn error(kind: &'static str) {
    counter!(names::ERRORS, "kind" => kind).increment(1);
}

/// The platform this process talks to, for the outbound series (set by [`serve`]).
static PLATFORM: OnceLock<&'static str> = OnceLock::new();

fn platform_label() -> &'static str {
    PLATFORM.get().copied().unwrap_or("none")
}

/// A platform call (`send`, `edit`, …) was answered with a rate limit.
pub fn rate_limited(call: &str) {
    let call = call.to_string();
    counter!(names::PLATFORM_RATE_LIMITED, "platform" => platform_label(), "call" => call)
        .increment(1);
}

/// A platform call is tried again after a failure or a rate limit.
pub fn retried(call: &str) {
    let call = call.to_string();
    counter!(names::PLATFORM_RETRIES, "platform" => platform_label(), "call" => call).increment(1);
}

/// A gateway event arrived on `shard`.
pub fn gateway_event(shard: u32) {
    counter!(names::GATEWAY_EVENTS, "shard" => shard.to_string()).increment(1);
}

/// What the health check knows: the engine, and each platform link by name.
#[derive(Debug, Default)]
struct Health {
    engine_loaded: AtomicBool,
    /// A platform binary: healthy only once a link to its platform is up.
    platform_expected: AtomicBool,
    /// Link name (`telegram`, `discord shard 1/2`) → whether it is connected, and its state.
    links: Mutex<BTreeMap<String, (bool, String)>>,
}

fn health() -> &'static Health {
    static HEALTH: OnceLock<Health> = OnceLock::new();
    HEALTH.get_or_init(Health::default)
}

/// The engine is loaded (or, `false`, gone).
pub fn engine_loaded(loaded: bool) {
    health().engine_loaded.store(loaded, Ordering::Relaxed);
}

/// A platform link's state: `name` such as `telegram` or `discord shard 0/2`, whether it is
/// connected, and a word for its state (`connected`, `connecting`, `disconnected`, …).
pub fn link(name: &str, connected: bool, state: &str) {
    let mut links = health().links.lock().unwrap_or_else(|p| p.into_inner());
    links.insert(name.to_string(), (connected, state.to_string()));
}

/// A Discord gateway shard's state: the health check's link (`discord shard ID`) and the
/// `shard` gauge.
pub fn shard(id: u32, connected: bool, state: &str) {
    link(&format!("discord shard {id}"), connected, state);
    gauge!(names::GATEWAY_CONNECTED, "shard" => id.to_string()).set(if connected {
        1.0
    } else {
        0.0
    });
}

/// The health check: whether all is well, and its JSON body.
pub fn health_report() -> (bool, serde_json::Value) {
    let h = health();
    let engine = h.engine_loaded.load(Ordering::Relaxed);
    let links = h.links.lock().unwrap_or_else(|p| p.into_inner());
    let linked = !links.is_empty() || !h.platform_expected.load(Ordering::Relaxed);
    let ok = engine && linked && links.values().all(|(connected, _)| *connected);
    let platforms: serde_json::Map<String, serde_json::Value> = links
        .iter()
        .map(|(name, (_, state))| (name.clone(), state.clone().into()))
        .collect();
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "unavailable" },
        "engine_loaded": engine,
        "platforms": platforms,
    });
    (ok, body)
}

type Collector = Box<dyn Fn() + Send + Sync>;

fn collectors() -> &'static Mutex<Vec<Collector>> {
    static COLLECTORS: OnceLock<Mutex<Vec<Collector>>> = OnceLock::new();
    COLLECTORS.get_or_init(Mutex::default)
}

/// Run `collect` before each scrape, to set gauges that are cheaper to read than to keep.
pub fn on_scrape(collect: impl Fn() + Send + Sync + 'static) {
    let mut list = collectors().lock().unwrap_or_else(|p| p.into_inner());
    list.push(Box::new(collect));
}

/// The text `/metrics` serves: collectors run, then the exporter renders.
fn scrape(handle: &PrometheusHandle) -> String {
    for collect in collectors()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        collect();
    }
    handle.render()
}

/// Histogram buckets: seconds for waits, tokens per second for speed.
const SECONDS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];
const SPEED: &[f64] = &[1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0];

/// The exporter's recorder, with Parley's histogram buckets.
fn recorder_builder() -> Result<PrometheusBuilder> {
    let bad = |e: metrics_exporter_prometheus::BuildError| Error::Config {
        key: "metrics".into(),
        reason: e.to_string(),
    };
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(names::TIME_TO_FIRST_TOKEN.into()), SECONDS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(names::ANSWER_DURATION.into()), SECONDS)
        })
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(names::DECODE_SPEED.into()), SPEED))
        .map_err(bad)
}

/// The endpoint's routes: `/metrics` and `/healthz`.
fn app(handle: PrometheusHandle) -> axum::Router {
    use axum::http::{header, StatusCode};
    use axum::routing::get;
    let metrics = move || {
        let handle = handle.clone();
        async move {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                scrape(&handle),
            )
        }
    };
    let healthz = || async {
        let (ok, body) = health_report();
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, axum::Json(body))
    };
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
}

/// The running endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// Where it listens (the port chosen when `listen` asked for port 0).
    pub address: SocketAddr,
}

/// With `[metrics] listen` set: install the recorder and serve `/metrics` and `/healthz` on
/// it until the process ends, for a binary talking to `platform` (`None` for the console).
/// Off: `None`, and nothing is recorded.
pub async fn serve(
    settings: &MetricsSettings,
    platform: Option<Platform>,
) -> Result<Option<Endpoint>> {
    let Some(address) = settings.address()? else {
        return Ok(None);
    };
    if let Some(p) = platform {
        let _ = PLATFORM.set(p.as_str());
        health().platform_expected.store(true, Ordering::Relaxed);
    }
    let handle = recorder_builder()?
        .install_recorder()
        .map_err(|e| Error::Config {
            key: "metrics".into(),
            reason: format!("could not install the metrics recorder: {e}"),
        })?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Error::Config {
            key: "metrics.listen".into(),
            reason: format!("could not listen on {address}: {e}"),
        })?;
    let address = listener.local_addr()?;
    let app = app(handle);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    info!(%address, "metrics at /metrics, health at /healthz");
    Ok(Some(Endpoint { address }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_render_in_the_text_format_with_buckets() {
        let recorder = recorder_builder().unwrap().build_recorder();
        let handle = recorder.handle();
        ::metrics::with_local_recorder(&recorder, || {
            message_seen(Platform::Test);
            message_refused(Platform::Test, Refusal::Busy);
            let usage = Usage {
                prompt_tokens: 10,
                cached_tokens: 4,
                completion_tokens: 5,
                time_to_first_token: Duration::from_millis(300),
                decode: Duration::from_millis(100),
                ..Usage::default()
            };
            answered(Platform::Test, &usage, Duration::from_secs(2));
        });
        let text = handle.render();
        assert!(
            text.contains("parley_messages_seen_total{platform=\"test\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("parley_messages_refused_total{platform=\"test\",reason=\"busy\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "parley_time_to_first_token_seconds_bucket{platform=\"test\",le=\"0.5\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("parley_kv_cache_lookups_total{result=\"hit\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn health_needs_the_engine_and_every_link() {
        engine_loaded(true);
        link("unit-test", false, "connecting");
        let (ok, body) = health_report();
        assert!(!ok);
        assert_eq!(body["platforms"]["unit-test"], "connecting");
        link("unit-test", true, "connected");
        assert!(health_report().0);
    }
}
