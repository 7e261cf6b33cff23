//! The real `parley-discord` binary against the fake Discord: connects with the token from
//! `DISCORD_TOKEN`, follows `DISCORD_API_BASE`, answers a DM, and exits cleanly on SIGTERM.

use std::process::Command;
use std::time::Duration;

use parley_testkit::discord::{FakeDiscord, FakeDiscordOptions, FakeGuild, FakeMessage, FakeUser};
use parley_testkit::real_binary::{model_config, RealBinary};

const WAIT: Duration = Duration::from_secs(20);

/// Starts the real bot on the real default model (scripts/fetch-model.sh) against `fake`, its
/// commands registered in guild 100 by an environment override, logging to `dir/log.txt`.
fn spawn_bot(fake: &FakeDiscord, dir: &std::path::Path) -> RealBinary {
    let config = format!(
        "[discord]\nedit_interval_ms = 100\n{}",
        model_config(dir, 24)
    );
    RealBinary::start(
        env!("CARGO_BIN_EXE_parley-discord"),
        dir,
        &config,
        &[
            ("DISCORD_TOKEN", "test-token"),
            ("DISCORD_API_BASE", &fake.api_base()),
            ("PARLEY__DISCORD__COMMAND_GUILD_IDS", "100"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_answers_over_the_fake_and_exits_cleanly_on_sigterm() {
    let fake = FakeDiscord::start_with(FakeDiscordOptions {
        guilds: vec![FakeGuild::new(100, "g", 1).channel(200, "general")],
        ..FakeDiscordOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = spawn_bot(&fake, dir.path());

    // Commands land in the guild named by the environment override.
    let registered = fake
        .wait_for(WAIT, |f| {
            // Stop waiting early when the binary died.
            if bot.exited() {
                return Some(false);
            }
            f.registered_commands().get("100").map(|_| true)
        })
        .await;
    if registered != Some(true) {
        panic!(
            "binary did not register its commands in guild 100; requests {:?}\nlog:\n{}",
            fake.requests(),
            bot.log()
        );
    }

    fake.send_message(FakeMessage::direct(
        900,
        FakeUser::new(10, "alice"),
        "hello binary",
    ));
    let answer = fake
        .wait_for(WAIT, |f| {
            f.messages(900)
                .into_iter()
                .find(|m| !m.content.trim().is_empty())
        })
        .await
        .expect("the DM is answered");
    assert!(answer.reply_to.is_some());

    let log_path = dir.path().join("log.txt");
    let exit = bot.terminate().await;
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    assert!(exit.success(), "exit {exit:?}; log:\n{log}");
    assert!(
        !log.contains("test-token"),
        "the token never appears in the log"
    );
    // The gateway saw the client's close frame with code 1000 (normal closure), not a dropped
    // socket, on the one session it opened. The fake may read the frame just after the exit.
    assert_eq!(fake.gateway_frames_with_op(2).len(), 1, "one IDENTIFY");
    let closes = fake
        .wait_for(WAIT, |f| Some(f.client_closes()).filter(|c| !c.is_empty()))
        .await;
    assert_eq!(closes, Some(vec![Some(1000)]), "log:\n{log}");
}

#[test]
fn binary_without_token_says_where_to_get_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_parley-discord"))
        .args(["--config", "/nonexistent/config.toml"])
        .env_remove("DISCORD_TOKEN")
        .output()
        .expect("run parley-discord");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DISCORD_TOKEN") && err.contains("discord.com/developers"),
        "{err}"
    );
}
