//! Start-up shared by every binary: the engine the settings ask for, and a bot over it.
//!
//! The console, Telegram and Discord binaries all call [`models`] then [`bot_with_models`]
//! (through [`handler`]), so a setting means the same thing everywhere: `[[models]]` (or
//! `model.path`), `hf:` sources fetched from the Hub, the default model loaded at start and the
//! others when a channel first uses one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tracing::{info, warn};

use crate::bot::Bot;
use crate::config::{EngineKind, ModelChoice, Settings};
use crate::engine::local::model::{template, Model};
use crate::engine::local::{set_compute_threads, LocalConfig, LocalEngine};
use crate::engine::openai::{OpenAiConfig, OpenAiEngine};
use crate::engine::shelf::ModelShelf;
use crate::engine::Engine;
use crate::hub::{self, HubModel, LogProgress};
use crate::metrics;
use crate::persona::Personas;
use crate::seam::Handler;
use crate::store::Store;
use crate::Result;

/// How a binary ends: success, or the error's chain on one line of stderr (`error: reading
/// config.toml: config: `bot.x`: ...`) and exit code 1. Never a backtrace, whatever
/// `RUST_BACKTRACE` says: the one line that matters says what is wrong and what to do; the
/// debug log has the detail.
pub fn exit_code<E: std::fmt::Display + std::fmt::Debug>(
    result: std::result::Result<(), E>,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!(error = ?e, "start-up or run failed");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A bot binary's `main`: the local engine's compute threads from the settings at `config`
/// first, before the runtime or any other thread starts (settings that cannot be read leave the
/// default: `run` reports them), then `run` on a multi-threaded runtime, its result as the
/// exit code.
pub fn main_on_runtime<E: std::fmt::Display + std::fmt::Debug>(
    config: &Path,
    run: impl std::future::Future<Output = std::result::Result<(), E>>,
) -> std::process::ExitCode {
    if let Ok(settings) = Settings::load(Some(config)) {
        set_compute_threads(settings.engine.threads);
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => exit_code(runtime.block_on(run)),
        Err(e) => exit_code(Err(e)),
    }
}

/// Run a binary's `--check` (see [`crate::setup_check`]) on a new runtime.
pub fn check_on_runtime(
    check: impl std::future::Future<Output = std::process::ExitCode>,
) -> std::process::ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(check),
        Err(e) => exit_code(Err(e)),
    }
}

/// The local engine's settings, from `[engine]` and `[model]`.
pub fn local_config(settings: &Settings) -> LocalConfig {
    LocalConfig {
        threads: settings.engine.threads,
        kv_cache_mb: settings.engine.kv_cache_mb,
        max_batch: settings.engine.max_batch,
        context_len: settings.model.context_len.unwrap_or(0),
        ..LocalConfig::default()
    }
}

/// `[engine.openai]`, checked.
pub fn openai_config(settings: &Settings) -> Result<OpenAiConfig> {
    let config: OpenAiConfig = settings.section("engine.openai")?;
    config.validate()?;
    Ok(config)
}

/// Build the engine `[engine] kind` names, on `model.path` (a file: for `hf:` paths and
/// `[[models]]`, see [`models`]). The OpenAI engine needs a running tokio runtime.
pub fn engine(settings: &Settings) -> Result<Arc<dyn Engine>> {
    let engine: Arc<dyn Engine> = match settings.engine.kind {
        EngineKind::Local => watched(LocalEngine::load(
            &settings.model.path,
            &local_config(settings),
        )?),
        EngineKind::Openai => Arc::new(OpenAiEngine::new(openai_config(settings)?)?),
    };
    metrics::engine_loaded(true);
    info!(engine = %engine.describe(), "engine ready");
    Ok(engine)
}

/// The models the settings list (`[[models]]`, else `model.path`) on the engine `[engine]
/// kind` names: every `hf:` source fetched first (from the cache, else the Hub, so a typo in a
/// quant stops start-up), then the default model loaded; the others load when a channel first
/// uses one, at most `engine.max_loaded_models` at once.
pub async fn models(settings: &Settings) -> Result<Arc<ModelShelf>> {
    let choices = settings.model_choices();
    let max = settings.engine.max_loaded_models;
    let shelf = match settings.engine.kind {
        EngineKind::Local => {
            let mut files = HashMap::new();
            for c in &choices {
                let source = Path::new(&c.source);
                if HubModel::from_path(source).is_some() {
                    let file = hub::resolve(source, &LogProgress::default()).await?;
                    files.insert(c.name.clone(), file);
                }
            }
            let config = local_config(settings);
            let loader = move |c: &ModelChoice| load_local(c, files.get(&c.name), &config);
            ModelShelf::new(choices, max, loader)?
        }
        EngineKind::Openai => {
            let config = openai_config(settings)?;
            // Without [[models]], the one model is the server's `[engine.openai] model`.
            let by_name = !settings.models.is_empty();
            let loader = move |c: &ModelChoice| -> Result<Arc<dyn Engine>> {
                let mut config = config.clone();
                if by_name {
                    config.model = c.server_name().to_string();
                }
                Ok(Arc::new(OpenAiEngine::new(config)?))
            };
            ModelShelf::new(choices, max, loader)?
        }
    };
    let shelf = Arc::new(shelf);
    let (loading, default) = (shelf.clone(), shelf.choices()[0].name.clone());
    let engine = match tokio::task::spawn_blocking(move || loading.engine(&default)).await {
        Ok(loaded) => loaded?,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    metrics::engine_loaded(true);
    info!(engine = %engine.describe(), "engine ready");
    Ok(shelf)
}

/// Load one model of `[[models]]` on the local engine: its file (`fetched` for an `hf:`
/// source), under its own chat template when it names one.
fn load_local(
    choice: &ModelChoice,
    fetched: Option<&PathBuf>,
    config: &LocalConfig,
) -> Result<Arc<dyn Engine>> {
    let path = fetched
        .cloned()
        .unwrap_or_else(|| PathBuf::from(&choice.source));
    let Some(name) = &choice.template else {
        return Ok(watched(LocalEngine::load(&path, config)?));
    };
    let source = if name.eq_ignore_ascii_case("chatml") {
        template::CHATML.to_string()
    } else {
        std::fs::read_to_string(name).map_err(|e| crate::Error::Config {
            key: format!("models.{}.template", choice.name),
            reason: format!("cannot read {name}: {e}"),
        })?
    };
    let mut model = Model::load(&path, config.weights)?;
    model.template = Arc::new(model.template.with_source(&source)?);
    Ok(watched(LocalEngine::start(model, config)?))
}

/// The loaded local engines, whose KV caches the metrics add up at each scrape.
fn loaded_engines() -> &'static Mutex<Vec<Weak<LocalEngine>>> {
    static LOADED: OnceLock<Mutex<Vec<Weak<LocalEngine>>>> = OnceLock::new();
    LOADED.get_or_init(|| {
        metrics::on_scrape(|| {
            let mut loaded = loaded_engines().lock().unwrap_or_else(|p| p.into_inner());
            // Unloaded models (`engine.max_loaded_models`) leave the list here.
            loaded.retain(|e| e.strong_count() > 0);
            let engines: Vec<_> = loaded.iter().filter_map(Weak::upgrade).collect();
            // An engine thread that died answers nothing more: the bot is not healthy.
            if engines.iter().any(|e| !e.is_running()) {
                metrics::engine_loaded(false);
            }
            let (mut bytes, mut conversations, mut evictions) = (0, 0, 0);
            for s in engines.iter().map(|e| e.stats()) {
                bytes += s.cache_bytes;
                conversations += s.cached_conversations;
                evictions += s.evictions;
            }
            metrics::kv_cache(bytes, conversations, evictions);
        });
        Mutex::default()
    })
}

/// A local engine whose KV-cache figures count in the metrics while it is loaded.
fn watched(local: LocalEngine) -> Arc<LocalEngine> {
    let local = Arc::new(local);
    loaded_engines()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Arc::downgrade(&local));
    local
}

/// Open the store and the personas the settings name, and build the bot on one engine.
pub async fn bot(settings: &Settings, engine: Arc<dyn Engine>) -> Result<Bot> {
    let store = Store::open(&settings.store.path)?;
    Bot::new(settings, engine, store, personas(settings)).await
}

/// Open the store and the personas the settings name, and build the bot on `models`.
pub async fn bot_with_models(settings: &Settings, models: Arc<ModelShelf>) -> Result<Bot> {
    let store = Store::open(&settings.store.path)?;
    Bot::with_models(settings, models, store, personas(settings)).await
}

/// The personas of `prompts.dir`, else the built-in ones.
fn personas(settings: &Settings) -> Personas {
    match Personas::load(&settings.prompts.dir) {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "using the built-in personas");
            Personas::builtin()
        }
    }
}

/// The bot an adapter binary hands its messages to: the engine `settings` name, and a bot over
/// it. The binary loads the settings once and takes its own section from the same value.
/// It is a [`Bot`], so the binary can also hand it to a [`crate::reload::Reloader`].
pub async fn handler(settings: &Settings) -> Result<Arc<Bot>> {
    let models = models(settings).await?;
    Ok(Arc::new(bot_with_models(settings, models).await?))
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM: when a bot should shut down.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("Ctrl-C received"),
        () = term => info!("SIGTERM received"),
    }
}

/// How [`run_adapter`] stops an adapter it started: every adapter's shutdown handle.
#[async_trait::async_trait]
pub trait AdapterStop: Send + Sync {
    /// Ask the adapter to stop taking events and let the core finish; its runner then
    /// resolves. Calling it again does nothing.
    async fn stop(&self);

    /// The adapter's part of a reload (its allowlists), when it has one.
    fn reloadable(&self) -> Option<Arc<dyn crate::reload::Reloadable>> {
        None
    }
}

/// How long a stopped adapter's runner may take to resolve before it is abandoned.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The body of every adapter binary, once its settings are read: serve `/metrics`, build the
/// bot on `settings`, `start` the adapter with it (a runner that resolves when the adapter has
/// stopped, and its stop handle), and run until the runner ends (a fatal error, such as a
/// rejected token) or Ctrl-C / SIGTERM, which stops the adapter and waits for it (at most
/// `STOP_WAIT`). SIGHUP (and a changed `config`, with `bot.watch_config`) reloads the live
/// settings of the bot and the adapter ([`crate::reload`]).
pub async fn run_adapter<E, Start, Started, Run, Stop>(
    config: &Path,
    settings: &Settings,
    platform: crate::seam::Platform,
    start: Start,
) -> std::result::Result<(), E>
where
    E: From<crate::Error>,
    Start: FnOnce(Arc<dyn Handler>) -> Started,
    Started: std::future::Future<Output = std::result::Result<(Run, Stop), E>>,
    Run: std::future::Future<Output = std::result::Result<(), E>>,
    Stop: AdapterStop,
{
    metrics::serve(&settings.metrics, Some(platform)).await?;
    let bot = handler(settings).await?;
    let (runner, stop) = start(bot.clone()).await?;
    let mut parts: Vec<Arc<dyn crate::reload::Reloadable>> = vec![bot];
    parts.extend(stop.reloadable());
    crate::reload::Reloader::new(config, settings.clone(), parts).spawn();
    tokio::pin!(runner);
    let result = tokio::select! {
        r = &mut runner => r,
        () = shutdown_signal() => {
            info!("shutting down");
            // The runner keeps being polled while the adapter stops: it is what stops.
            let (_, ended) = tokio::join!(stop.stop(), tokio::time::timeout(STOP_WAIT, &mut runner));
            ended.unwrap_or_else(|_| {
                warn!("the adapter did not stop within {STOP_WAIT:?}; abandoning it");
                Ok(())
            })
        }
    };
    // After a fatal error too: the core finishes or cancels its answers and flushes its store.
    stop.stop().await;
    result
}
