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
    assert!(
        e.contains("sampling.temperature") && e.contains("between 0 and 2, got 5"),
        "{e}"
    );
    let e = load("[scheduler]\nworkers = 0\n").unwrap_err();
    assert!(
        e.contains("scheduler.workers") && e.contains("between 1"),
        "{e}"
    );
    let e = load("[engine]\nkind = \"gpu\"\n").unwrap_err();
    assert!(e.contains("engine.kind") || e.contains("local"), "{e}");
    let e = load("[bot]\nmax_input_chars = \"lots\"\n").unwrap_err();
    assert!(e.contains("bot.max_input_chars"), "{e}");
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
