//! Start-up shared by every binary: the engine the settings ask for, and a bot over it.
//!
//! The console, Telegram and Discord binaries all call [`engine`] then [`bot`], so a setting
//! means the same thing everywhere.

use std::sync::Arc;

use tracing::{info, warn};

use crate::bot::Bot;
use crate::config::{EngineKind, Settings};
use crate::engine::local::{LocalConfig, LocalEngine};
use crate::engine::openai::{OpenAiConfig, OpenAiEngine};
use crate::engine::Engine;
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

/// The local engine's settings, from `[engine]` and `[model]`.
pub fn local_config(settings: &Settings) -> LocalConfig {
    LocalConfig {
        threads: settings.engine.threads,
        kv_cache_mb: settings.engine.kv_cache_mb,
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

/// Build the engine `[engine] kind` names. The OpenAI engine needs a running tokio runtime.
pub fn engine(settings: &Settings) -> Result<Arc<dyn Engine>> {
    let engine: Arc<dyn Engine> = match settings.engine.kind {
        EngineKind::Local => {
            let local = Arc::new(LocalEngine::load(
                &settings.model.path,
                &local_config(settings),
            )?);
            let caches = Arc::downgrade(&local);
            metrics::on_scrape(move || {
                if let Some(s) = caches.upgrade().map(|e| e.stats()) {
                    metrics::kv_cache(s.cache_bytes, s.cached_conversations, s.evictions);
                }
            });
            local
        }
        EngineKind::Openai => Arc::new(OpenAiEngine::new(openai_config(settings)?)?),
    };
    metrics::engine_loaded(true);
    info!(engine = %engine.describe(), "engine ready");
    Ok(engine)
}

/// Open the store and the personas the settings name, and build the bot.
pub async fn bot(settings: &Settings, engine: Arc<dyn Engine>) -> Result<Bot> {
    let store = Store::open(&settings.store.path)?;
    let personas = match Personas::load(&settings.prompts.dir) {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "using the built-in personas");
            Personas::builtin()
        }
    };
    Bot::new(settings, engine, store, personas).await
}

/// The bot an adapter binary hands its messages to: the engine `settings` name, and a bot over
/// it. The binary loads the settings once and takes its own section from the same value.
pub async fn handler(settings: &Settings) -> Result<Arc<dyn Handler>> {
    let engine = engine(settings)?;
    Ok(Arc::new(bot(settings, engine).await?))
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
