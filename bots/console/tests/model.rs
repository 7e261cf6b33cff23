//! `/model` in `parley chat`, as a user at the terminal meets it: the models of `[[models]]`
//! listed with the current one marked, a switch, and `/stats` naming the new model. On the
//! real default model (`scripts/fetch-model.sh`), under two names, one loaded at a time.

use std::io::Write;
use std::process::{Command, Stdio};

use parley_testkit::real_binary::{default_model, PINNED_DATE, SEED};

#[test]
fn model_lists_switches_and_stats_names_the_model_in_the_console() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("config.toml");
    let model = default_model().display().to_string();
    std::fs::write(
        &config,
        format!(
            "[engine]\nmax_loaded_models = 1\n\
             [sampling]\ntemperature = 0.0\nseed = {SEED}\n\
             [store]\npath = \"{}\"\n\
             [prompts]\ndir = \"{root}/prompts\"\ndate = \"{PINNED_DATE}\"\n\
             [[models]]\nname = \"smol\"\nsource = \"{model}\"\n\
             [[models]]\nname = \"tiny\"\nsource = \"{model}\"\npersona = \"concise\"\n",
            dir.path().join("parley.sqlite3").display()
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("--config")
        .arg(&config)
        .arg("chat")
        .env_remove("PARLEY_LOG")
        .env_remove("PARLEY_MODEL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run parley chat");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"/model\n/model tiny\n/model\n/stats\n")
        .expect("write");
    let out = child.wait_with_output().expect("parley chat ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lists: Vec<&str> = stdout.split("Models:").skip(1).collect();
    assert_eq!(lists.len(), 2, "{stdout}");
    assert!(lists[0].contains("smol (current)"), "{stdout}");
    assert!(
        lists[0].contains("SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{stdout}"
    );
    assert!(stdout.contains("Model is now tiny"), "{stdout}");
    assert!(lists[1].contains("tiny (current)"), "{stdout}");
    assert!(stdout.contains("Model: tiny"), "{stdout}");
}
