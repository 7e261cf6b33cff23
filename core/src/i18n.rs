//! The languages the bot speaks in its own words (help, refusals, "busy", errors), and the one
//! catalogue those words come from.
//!
//! The catalogue is Mozilla's Fluent: one `locales/<lang>/parley.ftl` per [`Language`], embedded
//! in the binary at build time (`fluent-templates`). Fluent gives each language its own CLDR
//! plural rules (`forgot` reads right in Russian and Japanese alike), named arguments, and a
//! fallback to English for a message a language lacks (a test checks none does). Bidi isolation
//! marks are off: Telegram and Discord would show them as stray invisible characters.
//!
//! A message's language is resolved once, when it comes in ([`Language::resolve`]): the user's
//! own (Telegram's `language_code`, Discord's interaction `locale`) when Parley speaks it, else
//! `bot.language`. Texts meant for the model (prompts, translation instructions) stay English
//! and do not come from here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use fluent_templates::{LanguageIdentifier, Loader};

pub use fluent_templates::fluent_bundle::FluentValue as Arg;

fluent_templates::static_loader! {
    static CATALOGUE = {
        locales: "./locales",
        fallback_language: "en",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language the bot's own words are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// English, the reference and the last fallback.
    #[default]
    English,
    /// Chinese (Simplified).
    Chinese,
    /// Spanish.
    Spanish,
    /// French.
    French,
    /// German.
    German,
    /// Russian.
    Russian,
    /// Japanese.
    Japanese,
}

impl Language {
    /// Every language the catalogue has, English first.
    pub const ALL: [Language; 7] = [
        Language::English,
        Language::Chinese,
        Language::Spanish,
        Language::French,
        Language::German,
        Language::Russian,
        Language::Japanese,
    ];

    /// Its code in the catalogue and in `bot.language` (`en`, `zh`, …).
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Chinese => "zh",
            Language::Spanish => "es",
            Language::French => "fr",
            Language::German => "de",
            Language::Russian => "ru",
            Language::Japanese => "ja",
        }
    }

    /// The language of exactly this code (`de`), as `bot.language` names it.
    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The language of a platform's language tag, by its first part: `de-AT` and `de` →
    /// German, `zh-TW`, `zh-hans` and `zh-CN` → Chinese (the catalogue has one Chinese),
    /// `en-US` → English; `None` for a language the catalogue lacks (`pt-BR`).
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Language::from_code(&primary)
    }

    /// The language to answer a user in: theirs (`user`, the platform's tag) when the
    /// catalogue has it, else `fallback` (`bot.language`).
    pub fn resolve(user: Option<&str>, fallback: Language) -> Language {
        user.and_then(Language::from_tag).unwrap_or(fallback)
    }

    /// Discord's locale key for it (`de`, `es-ES`, `zh-CN`); English is Discord's default
    /// description, `en-US`.
    pub fn discord_locale(self) -> &'static str {
        match self {
            Language::English => "en-US",
            Language::Spanish => "es-ES",
            Language::Chinese => "zh-CN",
            other => other.code(),
        }
    }

    /// The codes of every language, for messages that list them (`en, zh, es, …`).
    pub fn codes() -> String {
        Language::ALL.map(Language::code).join(", ")
    }

    fn identifier(self) -> LanguageIdentifier {
        // Each code is a valid language subtag; English is the catalogue's fallback anyway.
        self.code().parse().unwrap_or_default()
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for Language {
    type Error = String;

    fn try_from(code: String) -> std::result::Result<Self, String> {
        Language::from_code(&code).ok_or_else(|| {
            format!(
                "unknown language \"{code}\"; Parley speaks {}",
                Language::codes()
            )
        })
    }
}

impl From<Language> for String {
    fn from(l: Language) -> String {
        l.code().to_string()
    }
}

impl serde::Serialize for Language {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Language {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Language::try_from(code).map_err(serde::de::Error::custom)
    }
}

/// The catalogue's message `id` in `lang`, with named `args` (`$count`, `$name`). A message
/// `lang` lacks comes in English; one no language has is a bug (tests panic on it, a running
/// bot logs it and shows the id).
pub fn text(lang: Language, id: &str, args: &[(&'static str, Arg<'_>)]) -> String {
    let found = if args.is_empty() {
        CATALOGUE.try_lookup(&lang.identifier(), id)
    } else {
        let args: HashMap<Cow<'static, str>, Arg<'_>> = args
            .iter()
            .map(|(name, value)| (Cow::Borrowed(*name), value.clone()))
            .collect();
        CATALOGUE.try_lookup_with_args(&lang.identifier(), id, &args)
    };
    match found {
        Some(text) => text,
        None => missing(lang, id),
    }
}

#[cfg(any(test, feature = "testing"))]
fn missing(lang: Language, id: &str) -> String {
    panic!("the catalogue has no message {id:?} for {lang} (or its arguments are wrong)")
}

#[cfg(not(any(test, feature = "testing")))]
fn missing(lang: Language, id: &str) -> String {
    tracing::error!(%lang, id, "a message missing from the catalogue");
    id.to_string()
}

/// A catalogue message: `t!(lang, "busy")`, `t!(lang, "forgot", count = n)`. Argument names
/// are the message's `$names`; values are numbers (plural rules apply to them) or text.
#[macro_export]
macro_rules! t {
    ($lang:expr, $id:literal) => {
        $crate::i18n::text($lang, $id, &[])
    };
    ($lang:expr, $id:literal, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::i18n::text(
            $lang,
            $id,
            &[$((stringify!($name), $crate::i18n::Arg::from($value))),+],
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_tag_picks_the_language_by_its_first_part() {
        let fallback = Language::French;
        assert_eq!(Language::resolve(Some("de-AT"), fallback), Language::German);
        assert_eq!(Language::resolve(Some("de"), fallback), Language::German);
        assert_eq!(
            Language::resolve(Some("zh-TW"), fallback),
            Language::Chinese
        );
        assert_eq!(
            Language::resolve(Some("zh-hans"), fallback),
            Language::Chinese
        );
        assert_eq!(
            Language::resolve(Some("en-US"), fallback),
            Language::English
        );
        assert_eq!(
            Language::resolve(Some("es-ES"), fallback),
            Language::Spanish
        );
        assert_eq!(Language::resolve(Some("JA"), fallback), Language::Japanese);
    }

    #[test]
    fn a_language_the_catalogue_lacks_falls_back_to_bot_language() {
        assert_eq!(
            Language::resolve(Some("pt-BR"), Language::French),
            Language::French
        );
        assert_eq!(
            Language::resolve(Some(""), Language::Russian),
            Language::Russian
        );
        assert_eq!(Language::resolve(None, Language::French), Language::French);
        assert_eq!(
            Language::resolve(None, Language::default()),
            Language::English
        );
    }

    #[test]
    fn bot_language_names_the_supported_languages_when_wrong() {
        let err = Language::try_from("pt".to_string()).unwrap_err();
        assert!(
            err.contains("\"pt\"") && err.contains("en, zh, es, fr, de, ru, ja"),
            "{err}"
        );
        assert_eq!(Language::try_from("de".to_string()), Ok(Language::German));
    }

    #[test]
    fn plurals_follow_each_languages_rules() {
        assert_eq!(
            t!(Language::English, "forgot", count = 1usize),
            "Deleted your 1 stored message in this chat."
        );
        assert_eq!(
            t!(Language::English, "forgot", count = 3usize),
            "Deleted your 3 stored messages in this chat."
        );
        let ru = |n: usize| t!(Language::Russian, "forgot", count = n);
        // Russian: 1 сообщение, 3 сообщения, 5 сообщений, 21 сообщение.
        assert!(ru(1).contains("1 ваше сохранённое сообщение"), "{}", ru(1));
        assert!(ru(3).contains("3 ваших сохранённых сообщения"), "{}", ru(3));
        assert!(ru(5).contains("5 ваших сохранённых сообщений"), "{}", ru(5));
        assert!(
            ru(21).contains("21 ваше сохранённое сообщение"),
            "{}",
            ru(21)
        );
    }

    #[test]
    fn texts_carry_no_bidi_isolation_marks() {
        for lang in Language::ALL {
            let text = t!(lang, "mode-set", name = "tutor");
            assert!(text.contains("tutor"), "{lang}: {text}");
            assert!(!text.contains(['\u{2068}', '\u{2069}']), "{lang}: {text:?}");
        }
    }
}

/// The catalogue read as files: every language has every English message, with the same
/// arguments.
#[cfg(test)]
mod completeness {
    use std::collections::{BTreeMap, BTreeSet};

    use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};

    use super::Language;

    /// Message id → the `$names` it uses.
    type Messages = BTreeMap<String, BTreeSet<String>>;

    fn read(lang: Language) -> Messages {
        let path = format!(
            "{}/locales/{}/parley.ftl",
            env!("CARGO_MANIFEST_DIR"),
            lang.code()
        );
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let resource = fluent_syntax::parser::parse(source.as_str())
            .unwrap_or_else(|(_, errors)| panic!("{path}: {errors:?}"));
        let mut messages = Messages::new();
        for entry in resource.body {
            if let Entry::Message(m) = entry {
                let mut vars = BTreeSet::new();
                if let Some(p) = &m.value {
                    pattern_vars(p, &mut vars);
                }
                let id = m.id.name.to_string();
                assert!(
                    messages.insert(id.clone(), vars).is_none(),
                    "{path}: {id} twice"
                );
            }
        }
        messages
    }

    fn pattern_vars(p: &Pattern<&str>, vars: &mut BTreeSet<String>) {
        for element in &p.elements {
            if let PatternElement::Placeable { expression } = element {
                expression_vars(expression, vars);
            }
        }
    }

    fn expression_vars(e: &Expression<&str>, vars: &mut BTreeSet<String>) {
        match e {
            Expression::Inline(i) => inline_vars(i, vars),
            Expression::Select { selector, variants } => {
                inline_vars(selector, vars);
                for v in variants {
                    pattern_vars(&v.value, vars);
                }
            }
        }
    }

    fn inline_vars(i: &InlineExpression<&str>, vars: &mut BTreeSet<String>) {
        match i {
            InlineExpression::VariableReference { id } => {
                vars.insert(id.name.to_string());
            }
            InlineExpression::Placeable { expression } => expression_vars(expression, vars),
            _ => {}
        }
    }

    #[test]
    fn every_language_has_every_message_with_the_same_arguments() {
        let english = read(Language::English);
        assert!(english.len() > 100, "{} messages", english.len());
        let mut faults = Vec::new();
        for lang in Language::ALL.into_iter().skip(1) {
            let other = read(lang);
            for (id, vars) in &english {
                match other.get(id) {
                    None => faults.push(format!("{lang}: {id} missing")),
                    Some(v) if v != vars => {
                        faults.push(format!("{lang}: {id} uses {v:?}, English {vars:?}"))
                    }
                    Some(_) => {}
                }
            }
            for id in other.keys().filter(|id| !english.contains_key(*id)) {
                faults.push(format!("{lang}: {id} is not in English"));
            }
        }
        assert!(faults.is_empty(), "{}", faults.join("\n"));
    }

    #[test]
    fn the_embedded_catalogue_loads_in_every_language() {
        // The loader parses the embedded files on first use and panics on a syntax error:
        // this makes sure that cannot happen in a running bot.
        for lang in Language::ALL {
            let english = super::text(Language::English, "help-title", &[]);
            let text = super::text(lang, "help-title", &[]);
            assert!(!text.is_empty());
            if lang != Language::English {
                assert_ne!(text, english, "{lang} falls back to English");
            }
        }
    }
}
