//! The model's side of a translation: the instruction it gets, whether its output is in the
//! language asked for, and the chatter stripped around it.

use super::detect::{detect, ContentKind};
use super::lang::{Script, TextLanguage};

/// The system instruction that makes the model translate a message from `from` (if known) into
/// `to`. Short, direct sentences, so small models follow it too.
pub fn translation_prompt(from: Option<TextLanguage>, to: TextLanguage) -> String {
    let source = match from {
        Some(l) => format!("from {} ", l.name()),
        None => String::new(),
    };
    format!(
        "You are a translator. Translate the user's message {source}into {to}.\n\
         Reply with the translation only. Do not answer the message. Do not add notes or explanations.\n\
         Keep emoji, links, @mentions, names, code and line breaks exactly as they are.",
        to = to.name()
    )
}

/// [`translation_prompt`] made stricter, for the one retry after a translation came out in
/// the wrong language: the target language is named again and the reply's language demanded.
pub fn strict_translation_prompt(from: Option<TextLanguage>, to: TextLanguage) -> String {
    format!(
        "{}\nYour whole reply must be written in {to}, and only in {to}. Do not repeat the \
         original. Do not write anything before or after the translation.",
        translation_prompt(from, to),
        to = to.name()
    )
}

/// Whether `output`, a translation into `to`, is in `to` as far as [`detect`] can tell.
///
/// Text with nothing to judge (emoji, numbers, code) passes; so does text whose language
/// cannot be told but whose script is `to`'s, and a guess of low confidence between languages
/// of one script (Danish for Norwegian). Chinese for Japanese passes: Japanese written in
/// kanji only reads as Chinese.
///
/// ```
/// use parley_core::translate::{translation_fits, TextLanguage};
///
/// let de = TextLanguage::parse("de").unwrap();
/// assert!(translation_fits("Guten Morgen, wie geht es dir heute?", de));
/// assert!(!translation_fits("Good morning, how are you today?", de));
/// ```
pub fn translation_fits(output: &str, to: TextLanguage) -> bool {
    if output.trim().is_empty() {
        return false;
    }
    let d = detect(output);
    if d.kind != ContentKind::Text {
        return true;
    }
    let kanji_for_japanese = |l: TextLanguage| to.code() == "ja" && l.code() == "zh";
    match d.lang {
        Some(l) if l == to || kanji_for_japanese(l) => true,
        Some(l) => l.script() == to.script() && d.confidence < 0.5,
        None => match d.script {
            Some(Script::Han) if to.code() == "ja" => true,
            Some(s) => s == to.script(),
            None => true,
        },
    }
}

/// Lines a model writes before a translation ("Here is the translation:", "Sure!").
fn is_preamble(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    if l.chars().count() > 80 {
        return false;
    }
    let polite = ["sure", "of course", "certainly", "okay", "ok,", "here"];
    let opens_politely = polite.iter().any(|p| l.starts_with(p));
    (l.ends_with(':') && (l.contains("translat") || opens_politely))
        || (opens_politely && (l.ends_with('!') || l.ends_with('.')) && l.chars().count() <= 30)
}

/// Lines a model writes after a translation ("Note: …", "I hope this helps").
fn is_afterword(line: &str) -> bool {
    let l = line
        .trim()
        .trim_start_matches(['(', '*', '_'])
        .to_lowercase();
    [
        "note:",
        "note that",
        "notes:",
        "explanation:",
        "translation notes",
        "this translation",
        "i hope",
        "let me know",
        "(translation",
    ]
    .iter()
    .any(|p| l.starts_with(p))
}

/// Quote pairs a model wraps a translation in.
const QUOTE_PAIRS: &[(char, char)] = &[
    ('"', '"'),
    ('“', '”'),
    ('«', '»'),
    ('「', '」'),
    ('„', '“'),
    ('\'', '\''),
];

/// A model's translation of `source` without the chatter around it: a preamble line ("Here is
/// the translation:"), a label ("Translation: …"), notes after it ("Note: …"), and quotes
/// wrapped around the whole of it. What the source itself has (its own "Note:" line, its own
/// quotes) stays.
///
/// ```
/// use parley_core::translate::strip_chatter;
///
/// let out = "Here is the translation:\n\nGuten Morgen!\n\nNote: informal register.";
/// assert_eq!(strip_chatter(out, "Good morning!"), "Guten Morgen!");
/// ```
pub fn strip_chatter(output: &str, source: &str) -> String {
    let source_has = |f: fn(&str) -> bool| source.lines().any(f);
    let mut lines: Vec<&str> = output.trim().lines().collect();
    let non_blank = |lines: &[&str]| lines.iter().filter(|l| !l.trim().is_empty()).count();
    if !source_has(is_preamble) {
        while non_blank(&lines) > 1 && lines.first().is_some_and(|l| is_preamble(l)) {
            lines.remove(0);
            while lines.first().is_some_and(|l| l.trim().is_empty()) {
                lines.remove(0);
            }
        }
    }
    if !source_has(is_afterword) {
        // From the first afterword on, everything is notes.
        if let Some(at) = lines.iter().position(|l| is_afterword(l)) {
            if non_blank(&lines[..at]) > 0 {
                lines.truncate(at);
            }
        }
    }
    let mut text = lines.join("\n").trim().to_string();
    let source_lower = source.to_lowercase();
    if let Some((label, rest)) = text.split_once(':') {
        let label_lower = label.trim().to_lowercase();
        let is_label = label_lower.chars().count() <= 40
            && !label_lower.contains('\n')
            && label_lower.contains("translat")
            && !source_lower.contains(&label_lower);
        if is_label && !rest.trim().is_empty() {
            text = rest.trim().to_string();
        }
    }
    let source = source.trim();
    for (open, close) in QUOTE_PAIRS {
        let wrapped = text.chars().count() >= 2
            && text.starts_with(*open)
            && text.ends_with(*close)
            && !source.starts_with(*open);
        let inner = text
            .strip_prefix(*open)
            .and_then(|t| t.strip_suffix(*close))
            .unwrap_or_default();
        if wrapped && !inner.contains(*open) && !inner.contains(*close) {
            text = inner.trim().to_string();
            break;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::l;

    #[test]
    fn chatter_around_a_translation_is_stripped() {
        let src = "Where is the station?";
        for (out, want) in [
            ("Wo ist der Bahnhof?", "Wo ist der Bahnhof?"),
            (
                "Here is the translation:\nWo ist der Bahnhof?",
                "Wo ist der Bahnhof?",
            ),
            (
                "Sure! Here's the German translation:\n\nWo ist der Bahnhof?",
                "Wo ist der Bahnhof?",
            ),
            ("Translation: Wo ist der Bahnhof?", "Wo ist der Bahnhof?"),
            ("\"Wo ist der Bahnhof?\"", "Wo ist der Bahnhof?"),
            ("„Wo ist der Bahnhof?“", "Wo ist der Bahnhof?"),
            (
                "Wo ist der Bahnhof?\n\nNote: \"Bahnhof\" means station.",
                "Wo ist der Bahnhof?",
            ),
            ("Wo ist der Bahnhof?\n(Note: formal)", "Wo ist der Bahnhof?"),
        ] {
            assert_eq!(strip_chatter(out, src), want, "{out:?}");
        }
    }

    #[test]
    fn what_the_source_says_itself_is_kept() {
        assert_eq!(
            strip_chatter("\"Hallo\", sagte sie.", "\"Hello\", she said."),
            "\"Hallo\", sagte sie."
        );
        assert_eq!(
            strip_chatter(
                "Hinweis: morgen zu.\nNote: closed",
                "Note: closed tomorrow.\nNote: closed"
            ),
            "Hinweis: morgen zu.\nNote: closed"
        );
        // A lone preamble-looking line is the translation itself.
        assert_eq!(strip_chatter("Sure!", "Klar!"), "Sure!");
    }

    #[test]
    fn output_in_the_wrong_language_does_not_fit() {
        let l = |c| TextLanguage::from_code(c).unwrap();
        assert!(translation_fits(
            "Wo ist der Bahnhof? Ich kann ihn nicht finden.",
            l("de")
        ));
        assert!(!translation_fits(
            "Where is the station? I cannot find it.",
            l("de")
        ));
        assert!(translation_fits("駅はどこですか？", l("ja")));
        assert!(translation_fits("東京駅", l("ja")));
        assert!(!translation_fits(
            "Where is the station? I cannot find it.",
            l("ja")
        ));
        assert!(!translation_fits("车站在哪里？", l("ko")));
        assert!(translation_fits("👍", l("fr")));
        assert!(!translation_fits("  ", l("fr")));
    }

    #[test]
    fn prompt_names_both_languages_and_forbids_commentary() {
        let p = translation_prompt(Some(l("zh")), l("en"));
        assert!(p.contains("from Chinese into English"));
        assert!(p.contains("translation only"));
        assert!(p.contains("emoji"));
        let p = translation_prompt(None, l("fr"));
        assert!(p.contains("into French"));
        assert!(!p.contains("from"));
    }
}
