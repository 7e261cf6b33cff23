//! The real `parley-discord` binary against the fake Discord: connects with the token from
//! `DISCORD_TOKEN`, follows `DISCORD_API_BASE`, answers a DM, and exits cleanly on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use parley_testkit::discord::{FakeDiscord, FakeDiscordOptions, FakeGuild, FakeMessage, FakeUser};

const WAIT: Duration = Duration::from_secs(20);

/// Kills the child if the test fails half-way.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts the real bot on the real default model (scripts/fetch-model.sh) against `fake`, its
/// commands registered in guild 100 by an environment override, logging to `dir/log.txt`.
fn spawn_bot(fake: &FakeDiscord, dir: &std::path::Path) -> Child {
    let config = dir.join("config.toml");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    std::fs::write(
        &config,
        format!(
            "[discord]\nedit_interval_ms = 100\n\
             [model]\npath = \"{root}/models/SmolLM2-135M-Instruct.Q4_1.gguf\"\n\
             [engine]\nthreads = 1\n[sampling]\nmax_tokens = 24\n\
             [store]\npath = \"{}\"\n[prompts]\ndir = \"{root}/prompts\"\n",
            dir.join("parley.sqlite3").display()
        ),
    )
    .expect("write config");
    Command::new(env!("CARGO_BIN_EXE_parley-discord"))
        .arg("--config")
        .arg(&config)
        .env("DISCORD_TOKEN", "test-token")
        .env("DISCORD_API_BASE", fake.api_base())
        .env("PARLEY__DISCORD__COMMAND_GUILD_IDS", "100")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log.txt")).expect("log file"))
        .spawn()
        .expect("spawn parley-discord")
}

/// Sends SIGTERM and waits (at most `WAIT`) for the exit.
async fn terminate(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("parley-discord did not exit after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_answers_over_the_fake_and_exits_cleanly_on_sigterm() {
    let fake = FakeDiscord::start_with(FakeDiscordOptions {
        guilds: vec![FakeGuild::new(100, "g", 1).channel(200, "general")],
        ..FakeDiscordOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut guard = Guard(Some(spawn_bot(&fake, dir.path())));

    // Commands land in the guild named by the environment override.
    let log_path = dir.path().join("log.txt");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let registered = fake
        .wait_for(WAIT, |f| {
            // Stop waiting early when the binary died.
            if let Ok(Some(_)) = guard.0.as_mut().map_or(Ok(None), Child::try_wait) {
                return Some(false);
            }
            f.registered_commands().get("100").map(|_| true)
        })
        .await;
    if registered != Some(true) {
        panic!(
            "binary did not register its commands in guild 100; requests {:?}\nlog:\n{}",
            fake.requests(),
            log()
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

    let exit = terminate(guard.0.take().expect("child")).await;
    let log = log();
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
