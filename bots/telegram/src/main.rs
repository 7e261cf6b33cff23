//! `parley-telegram`: Parley as a Telegram bot. Parse args, start tracing, load settings, build,
//! run until Ctrl-C / SIGTERM. Everything else lives in the library.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use parley_core::config::Settings;
use parley_core::seam::Platform;
use parley_telegram::TelegramSettings;
use tracing::info;

/// Parley on Telegram. The bot token comes from TELOXIDE_TOKEN (ask @BotFather for one).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (its `[telegram]` section; a missing default file means defaults).
    #[arg(long, env = "PARLEY_CONFIG", default_value = "config.toml")]
    config: PathBuf,
    /// Check what a first run needs (config, token, privacy mode, model, data directory,
    /// metrics port), print a checklist with the fix for each failure, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.check {
        return parley_core::launch::check_on_runtime(check(&args));
    }
    let config = args.config.clone();
    parley_core::launch::main_on_runtime(&config, run(args))
}

/// `--check`: the core's checklist with Telegram's items.
async fn check(args: &Args) -> std::process::ExitCode {
    parley_core::setup_check::run(&args.config, async |list, config| {
        let token = std::env::var("TELOXIDE_TOKEN").ok();
        match parley_telegram::api_url_from_env() {
            Ok(api_url) => parley_telegram::check_telegram(list, config, token, api_url).await,
            Err(e) => list.fail("TELOXIDE_API_URL", e.to_string(), "unset it, or give a URL"),
        }
    })
    .await
}

async fn run(args: Args) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hyper=warn,reqwest=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();

    let explicit = std::env::args_os().any(|a| a.to_string_lossy().starts_with("--config"));
    if explicit && !args.config.exists() {
        anyhow::bail!("config file {} does not exist", args.config.display());
    }
    let config = Settings::load(Some(&args.config))
        .with_context(|| format!("reading {}", args.config.display()))?;
    let settings = TelegramSettings::from_settings(&config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let token = parley_telegram::token_from_env()?;
    let api_url = parley_telegram::api_url_from_env()?;
    if let Some(url) = &api_url {
        info!(%url, "using a custom Bot API server");
    }
    parley_core::launch::run_adapter(
        &args.config,
        &config,
        Platform::Telegram,
        |handler| async move {
            Ok::<_, parley_telegram::Error>(parley_telegram::build(
                settings, token, api_url, handler,
            ))
        },
    )
    .await
    .with_context(|| {
        format!(
            "running the Telegram bot (config {})",
            args.config.display()
        )
    })
}
