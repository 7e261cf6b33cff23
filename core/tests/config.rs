//! Start-up configuration errors name the key and what is allowed.

use parley_core::config::Settings;

fn load(text: &str) -> Result<Settings, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    Settings::load(Some(&path)).map_err(|e| e.to_string())
}

#[test]
fn missing_file_means_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::load(Some(&dir.path().join("nope.toml"))).unwrap();
    assert_eq!(s.bot.name, "Parley");
    assert_eq!(s.store.path.to_str(), Some("data/parley.sqlite3"));
}

#[test]
fn unknown_key_names_itself_and_the_allowed_keys() {
    let e = load("[bot]\nnmae = \"x\"\n").unwrap_err();
    assert!(e.contains("bot.nmae"), "{e}");
    assert!(
        e.contains("trigger_names") && e.contains("max_input_chars"),
        "{e}"
    );
}

#[test]
fn bad_values_name_the_key_and_the_range() {
    let e = load("[sampling]\ntemperature = 5\ntemperature_max = 2\n").unwrap_err();
    assert_eq!(
        key_and_reason(&e),
        ("sampling.temperature", "must be between 0 and 2, got 5")
    );
    let e = load("[scheduler]\nworkers = 0\n").unwrap_err();
    assert_eq!(
        key_and_reason(&e),
        ("scheduler.workers", "must be between 1 and 256, got 0")
    );
    let e = load("[engine]\nkind = \"gpu\"\n").unwrap_err();
    let (key, reason) = key_and_reason(&e);
    assert_eq!(key, "engine.kind", "{e}");
    assert!(reason.contains("gpu"), "{e}");
    let e = load("[bot]\nmax_input_chars = \"lots\"\n").unwrap_err();
    let (key, reason) = key_and_reason(&e);
    assert_eq!(key, "bot.max_input_chars", "{e}");
    assert!(reason.contains("lots"), "{e}");
}

/// The key a `config: `KEY`: REASON` error names, and its reason.
fn key_and_reason(e: &str) -> (&str, &str) {
    let rest = e
        .strip_prefix("config: `")
        .unwrap_or_else(|| panic!("not a config error naming a key: {e}"));
    rest.split_once("`: ")
        .unwrap_or_else(|| panic!("no reason after the key: {e}"))
}

#[test]
fn toml_syntax_errors_are_reported() {
    let e = load("[bot\nname = 1\n").unwrap_err();
    assert!(e.starts_with("config:"), "{e}");
}

#[test]
fn repository_config_toml_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml");
    let mut s = Settings::load(Some(&path)).unwrap();
    // The adapters' sections are theirs to check (their own tests load this file too).
    assert!(s.telegram.is_object() && s.discord.is_object());
    s.telegram = Settings::default().telegram;
    s.discord = Settings::default().discord;
    assert_eq!(s, Settings::default(), "config.toml shows the defaults");
}
