//! The `parley` binary's start-up, as a user meets it.

use std::process::Command;

#[test]
fn a_config_error_ends_in_one_line_naming_the_key_even_with_rust_backtrace_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[bot]\nmessages_per_minut = 5\n").expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("--config")
        .arg(&config)
        .args(["generate", "hi"])
        .env("RUST_BACKTRACE", "1")
        .env_remove("PARLEY_LOG")
        .output()
        .expect("run parley");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.to_lowercase().contains("backtrace"),
        "no backtrace on the user's screen:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains("messages_per_minut"),
        "names the key: {stderr}"
    );
}
