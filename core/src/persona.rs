//! Personas: the system prompts behind `/mode`, written as minijinja templates in `prompts/`.
//!
//! Each `prompts/NAME.md` is one persona. Its first line may be a comment
//! `{# description: … #}`: the one-line description `/mode` shows. The template sees the
//! variables of [`PromptContext`]: `bot_name`, `date` (YYYY-MM-DD), `weekday`, `languages`
//! (a list of language names), `source_language`, `target_language`, `channel_title` (may be
//! none), `is_group`, `user_name`. A variable that is not set renders empty; it is not an error.
//!
//! [`Personas::builtin`] holds the files of this repository's `prompts/`, compiled in, so the
//! binary works from any directory; [`Personas::load`] starts from those and lets a folder
//! replace them or add more. Only operator-written files are templates: a `/system` text from
//! a chat is used verbatim, never rendered (it would let users reach template features).

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::{Error, Result};

/// The persona used when a channel has chosen none.
pub const DEFAULT_PERSONA: &str = "assistant";

/// The personas compiled into the binary: (name, template source).
const BUILTIN: &[(&str, &str)] = &[
    ("assistant", include_str!("../../prompts/assistant.md")),
    ("concise", include_str!("../../prompts/concise.md")),
    ("coder", include_str!("../../prompts/coder.md")),
    ("tutor", include_str!("../../prompts/tutor.md")),
    ("translator", include_str!("../../prompts/translator.md")),
];

/// What a persona template can refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromptContext {
    /// The bot's name.
    pub bot_name: String,
    /// Today, `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Today's weekday in English (`Monday`).
    pub weekday: String,
    /// Language names for the tutor and translator (`["English", "Chinese"]`).
    pub languages: Vec<String>,
    /// Language to translate from, when known.
    pub source_language: Option<String>,
    /// Language to translate into, when fixed.
    pub target_language: Option<String>,
    /// The group's title, if the platform gives one.
    pub channel_title: Option<String>,
    /// A group chat rather than a direct one.
    pub is_group: bool,
    /// The display name of the person talking to the bot.
    pub user_name: String,
}

impl PromptContext {
    /// A context for `bot_name` at Unix time `unix_seconds` (sets `date` and `weekday`).
    pub fn new(bot_name: impl Into<String>, unix_seconds: i64) -> Self {
        let (date, weekday) = date_and_weekday(unix_seconds);
        PromptContext {
            bot_name: bot_name.into(),
            date,
            weekday,
            ..Default::default()
        }
    }
}

/// `YYYY-MM-DD` and the English weekday of a Unix time (UTC).
pub fn date_and_weekday(unix_seconds: i64) -> (String, String) {
    let days = unix_seconds.div_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    (
        format!("{year:04}-{month:02}-{day:02}"),
        weekday.to_string(),
    )
}

/// The Unix time (UTC midnight) of a `YYYY-MM-DD` date; `None` unless it is a real date.
pub fn unix_of_date(date: &str) -> Option<i64> {
    let mut fields = date.splitn(3, '-').map(|f| f.parse::<i64>().ok());
    let (year, month, day) = (fields.next()??, fields.next()??, fields.next()??);
    // Howard Hinnant's days_from_civil; the round trip rejects 2026-02-30 and the like.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let unix = (era * 146_097 + doe - 719_468) * 86_400;
    (date_and_weekday(unix).0 == date).then_some(unix)
}

/// The set of personas, ready to render.
#[derive(Debug)]
pub struct Personas {
    env: Environment<'static>,
    descriptions: BTreeMap<String, String>,
}

impl Personas {
    /// The personas compiled into the binary.
    pub fn builtin() -> Self {
        let mut personas = Personas::empty();
        for (name, source) in BUILTIN {
            // The compiled-in files are tested to parse; a failure here is a build defect.
            if let Err(e) = personas.add(name, source) {
                tracing::error!(persona = name, error = %e, "built-in persona does not parse");
            }
        }
        personas
    }

    /// The built-in personas, replaced or extended by every `*.md` file in `dir`.
    ///
    /// Errors name the folder when it is missing and the file when it cannot be read or is not
    /// a valid template.
    pub fn load(dir: &Path) -> Result<Self> {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::Prompt {
            name: dir.display().to_string(),
            reason: format!("cannot read the prompts folder: {e}"),
        })?;
        let mut personas = Personas::builtin();
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        files.sort();
        for path in files {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let source = std::fs::read_to_string(&path).map_err(|e| Error::Prompt {
                name: path.display().to_string(),
                reason: e.to_string(),
            })?;
            personas
                .add(&name.to_lowercase(), &source)
                .map_err(|reason| Error::Prompt {
                    name: path.display().to_string(),
                    reason,
                })?;
        }
        Ok(personas)
    }

    fn empty() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        Personas {
            env,
            descriptions: BTreeMap::new(),
        }
    }

    /// Add or replace persona `name`; the error is minijinja's description.
    fn add(&mut self, name: &str, source: &str) -> std::result::Result<(), String> {
        self.env
            .add_template_owned(name.to_string(), source.to_string())
            .map_err(|e| describe_error(&e))?;
        self.descriptions
            .insert(name.to_string(), description_of(source));
        Ok(())
    }

    /// Persona names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.descriptions.keys().map(String::as_str).collect()
    }

    /// Whether persona `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.descriptions.contains_key(name)
    }

    /// The one-line description of `name` (empty when its file has none).
    pub fn describe(&self, name: &str) -> Option<&str> {
        self.descriptions.get(name).map(String::as_str)
    }

    /// The system prompt of persona `name` for `ctx`, trimmed, with runs of blank lines
    /// collapsed.
    pub fn render(&self, name: &str, ctx: &PromptContext) -> Result<String> {
        let template = self.env.get_template(name).map_err(|_| Error::Prompt {
            name: name.to_string(),
            reason: format!("no such persona (known: {})", self.names().join(", ")),
        })?;
        let text = template.render(ctx).map_err(|e| Error::Prompt {
            name: name.to_string(),
            reason: describe_error(&e),
        })?;
        Ok(tidy(&text))
    }

    /// How many leading bytes of `text` (a system prompt) are persona `name` rendered for `ctx`
    /// before the first thing any user wrote (display name, chat title): the start another
    /// chat's cache may share. The persona is rendered again with every user-given field set to
    /// a marker no text holds; only what `text` has in common with that render up to the first
    /// marker counts, whatever the template does with the names, and whatever `text` is.
    pub fn user_free_start(&self, name: &str, ctx: &PromptContext, text: &str) -> usize {
        let probe = PromptContext {
            user_name: USER_MARK.to_string(),
            channel_title: Some(USER_MARK.to_string()),
            ..ctx.clone()
        };
        let Ok(rendered) = self.render(name, &probe) else {
            return 0;
        };
        let operator = rendered.split(USER_MARK).next().unwrap_or("");
        operator
            .char_indices()
            .zip(text.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, c), _)| i + c.len_utf8())
    }
}

/// Stands for a user-given value when finding where a persona's user-free start ends: a
/// private-use character, which no platform name is expected to hold (one that did would only
/// end the shared start earlier).
const USER_MARK: &str = "\u{F8FF}";

/// minijinja's error with its line, in one line.
fn describe_error(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("line {line}: {e}"),
        None => e.to_string(),
    }
}

/// The `{# description: … #}` of a template's first line, or "".
fn description_of(source: &str) -> String {
    let first = source.trim_start().lines().next().unwrap_or("").trim();
    first
        .strip_prefix("{#")
        .and_then(|s| s.strip_suffix("#}"))
        .map(str::trim)
        .and_then(|s| s.strip_prefix("description:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Trim lines' ends and the whole, and keep at most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PromptContext {
        PromptContext {
            bot_name: "Parley".into(),
            date: "2026-11-29".into(),
            weekday: "Sunday".into(),
            languages: vec!["English".into(), "Chinese".into()],
            user_name: "Alice".into(),
            ..Default::default()
        }
    }

    #[test]
    fn builtin_has_the_five_personas_with_descriptions() {
        let p = Personas::builtin();
        assert_eq!(
            p.names(),
            ["assistant", "coder", "concise", "translator", "tutor"]
        );
        for name in p.names() {
            let d = p.describe(name).unwrap();
            assert!(!d.is_empty() && !d.contains('\n'), "{name}: {d:?}");
        }
        assert!(p.contains(DEFAULT_PERSONA));
        assert_eq!(p.describe("nope"), None);
    }

    #[test]
    fn every_builtin_renders_short_and_without_template_syntax() {
        let p = Personas::builtin();
        for name in p.names() {
            for c in [
                ctx(),
                PromptContext::default(),
                PromptContext {
                    is_group: true,
                    ..ctx()
                },
            ] {
                let text = p.render(name, &c).unwrap();
                assert!(!text.is_empty());
                assert!(
                    !text.contains("{{") && !text.contains("{%") && !text.contains("{#"),
                    "{name}: {text}"
                );
                assert!(!text.contains("description:"));
                assert!(!text.contains("\n\n\n"));
                // small models need short prompts
                assert!(
                    text.split_whitespace().count() < 120,
                    "{name} too long: {text}"
                );
            }
        }
    }

    #[test]
    fn assistant_uses_name_date_and_chat_kind() {
        let p = Personas::builtin();
        let direct = p.render("assistant", &ctx()).unwrap();
        assert!(direct.starts_with("You are Parley"));
        assert!(direct.contains("Sunday, 2026-11-29"));
        assert!(direct.contains("Alice"));
        let group = PromptContext {
            is_group: true,
            channel_title: Some("Rustaceans".into()),
            ..ctx()
        };
        let text = p.render("assistant", &group).unwrap();
        assert!(text.contains("group chat called \"Rustaceans\""));
        assert!(!text.contains("Alice"));
    }

    #[test]
    fn the_user_free_start_ends_before_any_name_or_title() {
        let p = Personas::builtin();
        let direct = p.render("assistant", &ctx()).unwrap();
        let free = p.user_free_start("assistant", &ctx(), &direct);
        assert!(
            free > 0 && direct[..free].ends_with("chatting with "),
            "{direct:?}"
        );
        assert!(!direct[..free].contains("Alice"));
        let group = PromptContext {
            is_group: true,
            channel_title: Some("general".into()),
            ..ctx()
        };
        let text = p.render("assistant", &group).unwrap();
        let free = p.user_free_start("assistant", &group, &text);
        assert!(text[..free].ends_with("called \""), "{:?}", &text[..free]);
        // A title that starts like the rest of the persona shares nothing more.
        let tricky = PromptContext {
            channel_title: Some("\". Each message".into()),
            ..group
        };
        let text = p.render("assistant", &tricky).unwrap();
        assert!(p.user_free_start("assistant", &tricky, &text) == free);
        // A `/system` text is the user's: nothing of it matches the persona for long.
        assert_eq!(p.user_free_start("assistant", &ctx(), "Be a pirate."), 0);
    }

    #[test]
    fn tutor_and_translator_use_languages() {
        let p = Personas::builtin();
        assert!(p
            .render("tutor", &ctx())
            .unwrap()
            .contains("English and Chinese"));
        let t = p.render("translator", &ctx()).unwrap();
        assert!(
            t.contains("If a message is in English, translate it into Chinese"),
            "{t}"
        );
        let fixed = PromptContext {
            source_language: Some("French".into()),
            target_language: Some("German".into()),
            ..ctx()
        };
        assert!(p
            .render("translator", &fixed)
            .unwrap()
            .contains("from French into German"));
    }

    #[test]
    fn undefined_variables_render_empty() {
        let mut p = Personas::empty();
        p.add(
            "x",
            "a{{ nothing }}b{{ nothing.deeper }}c{% for l in missing %}{{ l }}{% endfor %}",
        )
        .unwrap();
        assert_eq!(p.render("x", &ctx()).unwrap(), "abc");
    }

    #[test]
    fn unknown_persona_is_an_error_naming_it() {
        let e = Personas::builtin()
            .render("pirate", &ctx())
            .unwrap_err()
            .to_string();
        assert!(e.contains("pirate") && e.contains("assistant"), "{e}");
    }

    #[test]
    fn folder_overrides_and_extends_builtins() {
        let dir = tempdir();
        std::fs::write(
            dir.join("pirate.md"),
            "{# description: Talks like a pirate. #}\nArr, I be {{ bot_name }}.",
        )
        .unwrap();
        std::fs::write(dir.join("concise.md"), "Be brief, {{ user_name }}.").unwrap();
        std::fs::write(dir.join("notes.txt"), "{{ broken").unwrap();
        let p = Personas::load(&dir).unwrap();
        assert!(p.contains("assistant"));
        assert_eq!(p.describe("pirate"), Some("Talks like a pirate."));
        assert_eq!(p.render("pirate", &ctx()).unwrap(), "Arr, I be Parley.");
        assert_eq!(p.render("concise", &ctx()).unwrap(), "Be brief, Alice.");
        assert_eq!(p.describe("concise"), Some(""));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_template_error_names_the_file_and_line() {
        let dir = tempdir();
        std::fs::write(dir.join("bad.md"), "line one\n{% if x %}never closed").unwrap();
        let e = Personas::load(&dir).unwrap_err().to_string();
        assert!(e.contains("bad.md"), "{e}");
        assert!(e.contains("line"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_folder_error_names_the_path() {
        let e = Personas::load(Path::new("/no/such/prompts"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/prompts"), "{e}");
    }

    #[test]
    fn repository_prompts_folder_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts");
        let p = Personas::load(&dir).unwrap();
        assert_eq!(p.names().len(), 5);
    }

    #[test]
    fn a_pinned_date_reads_back_as_itself() {
        for date in ["1970-01-01", "2000-02-29", "2026-12-31", "1969-12-31"] {
            let unix = unix_of_date(date).unwrap();
            assert_eq!(date_and_weekday(unix).0, date);
        }
        assert_eq!(unix_of_date("1970-01-02"), Some(86_400));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-1",
            "today",
            "",
            "2026-01-01x",
        ] {
            assert_eq!(unix_of_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_and_weekdays_are_computed_in_utc() {
        assert_eq!(
            date_and_weekday(0),
            ("1970-01-01".into(), "Thursday".into())
        );
        assert_eq!(
            date_and_weekday(951_782_400),
            ("2000-02-29".into(), "Tuesday".into())
        );
        assert_eq!(
            date_and_weekday(1_795_910_400),
            ("2026-11-29".into(), "Sunday".into())
        );
        assert_eq!(
            date_and_weekday(-1),
            ("1969-12-31".into(), "Wednesday".into())
        );
        let c = PromptContext::new("Parley", 1_795_910_400 + 3600);
        assert_eq!(
            (c.date.as_str(), c.weekday.as_str()),
            ("2026-11-29", "Sunday")
        );
    }

    fn tempdir() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "parley-persona-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
