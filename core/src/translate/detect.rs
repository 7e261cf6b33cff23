//! Which language a message is in, and whether it is prose at all ([`detect`]).

use super::lang::{Script, TextLanguage, LANGS};
use super::words::{lexicon_vote, INTERJECTIONS, SHORT_WORDS};

/// What a message is, as far as translation cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// Prose in some language.
    Text,
    /// Only emoji (and symbols, punctuation).
    Emoji,
    /// Only links (and mentions).
    Url,
    /// Only code (fenced blocks or inline code).
    Code,
    /// Only numbers (times, prices, phone numbers).
    Number,
    /// Too little to say: a letter, an interjection every language uses (`ok`, `lol`, `haha`).
    TooShort,
}

/// The result of [`detect`].
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The language, when it can be told with enough confidence.
    pub lang: Option<TextLanguage>,
    /// 0.0 (a guess) to 1.0 (certain); 0.0 when `lang` is `None`.
    pub confidence: f64,
    /// What the message is.
    pub kind: ContentKind,
    /// The main script of its letters, if it has any.
    pub script: Option<Script>,
}

impl Detection {
    fn kind(kind: ContentKind) -> Self {
        Detection {
            lang: None,
            confidence: 0.0,
            kind,
            script: None,
        }
    }
}

/// Detect the language and kind of a chat message.
pub fn detect(text: &str) -> Detection {
    let parts = Parts::of(text);
    if parts.prose.trim().is_empty() {
        let kind = if parts.had_code {
            ContentKind::Code
        } else if parts.had_url {
            ContentKind::Url
        } else {
            ContentKind::TooShort
        };
        return Detection::kind(kind);
    }
    let prose = parts.prose.as_str();
    let letters: Vec<char> = prose.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.is_empty() {
        let kind = if prose.chars().any(is_emoji) {
            ContentKind::Emoji
        } else if prose.chars().any(|c| c.is_ascii_digit()) {
            ContentKind::Number
        } else if parts.had_code {
            ContentKind::Code
        } else if parts.had_url {
            ContentKind::Url
        } else {
            ContentKind::TooShort
        };
        return Detection::kind(kind);
    }
    let counts = ScriptCounts::of(&letters);
    let script = counts.main();
    let text_detection = |lang: Option<TextLanguage>, confidence: f64| Detection {
        lang,
        confidence: if lang.is_some() { confidence } else { 0.0 },
        kind: ContentKind::Text,
        script: Some(script),
    };
    let code = |c: &str| TextLanguage::from_code(c);
    match script {
        Script::Kana => text_detection(code("ja"), 0.99),
        Script::Han => {
            // Japanese written in kanji only is rare in chat; a single kana settles it.
            if counts.kana > 0 {
                text_detection(code("ja"), 0.95)
            } else {
                text_detection(code("zh"), if counts.han >= 2 { 0.95 } else { 0.8 })
            }
        }
        Script::Hangul => text_detection(code("ko"), 0.99),
        Script::Greek => text_detection(code("el"), 0.99),
        Script::Hebrew => text_detection(code("he"), 0.95),
        Script::Thai => text_detection(code("th"), 0.99),
        Script::Other => match whatlang_detect(prose) {
            Some((l, c)) => text_detection(Some(l), c.max(0.8)),
            None => text_detection(None, 0.0),
        },
        // Scripts that several languages share: ask whatlang, fall back to the main language.
        Script::Cyrillic | Script::Arabic | Script::Devanagari => {
            let fallback = match script {
                Script::Cyrillic => "ru",
                Script::Arabic => "ar",
                _ => "hi",
            };
            match whatlang_detect(prose) {
                Some((l, c)) if c >= 0.5 && l.script() == script => text_detection(Some(l), c),
                _ => text_detection(code(fallback), 0.6),
            }
        }
        Script::Latin => detect_latin(prose, script),
    }
}

/// Latin text: short-word lists for one or two words, whatlang otherwise.
fn detect_latin(prose: &str, script: Script) -> Detection {
    let normalized = normalize_words(prose);
    let words = normalized.split_whitespace().count();
    let text = |lang: Option<TextLanguage>, confidence: f64, kind: ContentKind| Detection {
        lang,
        confidence: if lang.is_some() { confidence } else { 0.0 },
        kind,
        script: Some(script),
    };
    if INTERJECTIONS.contains(&normalized.as_str())
        || normalized
            .split_whitespace()
            .all(|w| INTERJECTIONS.contains(&w))
    {
        return text(None, 0.0, ContentKind::TooShort);
    }
    if words <= 3 {
        if let Some((code, _)) = SHORT_WORDS
            .iter()
            .find(|(_, list)| list.contains(&normalized.as_str()))
        {
            return text(TextLanguage::from_code(code), 0.9, ContentKind::Text);
        }
    }
    let letters = prose.chars().filter(|c| c.is_alphabetic()).count();
    if letters < 2 {
        return text(None, 0.0, ContentKind::TooShort);
    }
    if words < 8 {
        if let Some((lang, hits)) = lexicon_vote(&normalized, prose) {
            let confidence = (0.6 + 0.1 * hits as f64).min(0.9);
            return text(Some(lang), confidence, ContentKind::Text);
        }
    }
    match whatlang_detect(prose) {
        Some((lang, conf)) => {
            // Short text: whatlang's guess is often wrong; require a confident one.
            let needed = if words < 3 {
                0.9
            } else if words < 6 {
                0.5
            } else {
                0.2
            };
            if conf >= needed && lang.script() == Script::Latin {
                text(Some(lang), conf, ContentKind::Text)
            } else {
                text(None, 0.0, ContentKind::Text)
            }
        }
        None => text(None, 0.0, ContentKind::Text),
    }
}

/// Lowercase words without surrounding punctuation, joined by single spaces.
fn normalize_words(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// whatlang restricted to the languages Parley knows.
fn whatlang_detect(text: &str) -> Option<(TextLanguage, f64)> {
    let allow: Vec<whatlang::Lang> = LANGS.iter().map(|r| r.4).collect();
    let info = whatlang::Detector::with_allowlist(allow).detect(text)?;
    TextLanguage::from_whatlang(info.lang()).map(|l| (l, info.confidence()))
}

/// Letters counted by script.
#[derive(Debug, Default)]
struct ScriptCounts {
    latin: usize,
    cyrillic: usize,
    han: usize,
    kana: usize,
    hangul: usize,
    arabic: usize,
    devanagari: usize,
    greek: usize,
    hebrew: usize,
    thai: usize,
    other: usize,
}

impl ScriptCounts {
    fn of(letters: &[char]) -> Self {
        let mut s = Self::default();
        for &c in letters {
            match c as u32 {
                0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF => s.latin += 1,
                0x400..=0x52F => s.cyrillic += 1,
                0x370..=0x3FF | 0x1F00..=0x1FFF => s.greek += 1,
                0x590..=0x5FF => s.hebrew += 1,
                0x600..=0x6FF | 0x750..=0x77F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => s.arabic += 1,
                0x900..=0x97F => s.devanagari += 1,
                0xE00..=0xE7F => s.thai += 1,
                0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => s.kana += 1,
                0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3130..=0x318F => s.hangul += 1,
                0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF => {
                    s.han += 1
                }
                _ => s.other += 1,
            }
        }
        s
    }

    /// The script that carries the message. CJK characters count three times: one stands for
    /// about a word, so "这个bug怎么fix" is Chinese.
    fn main(&self) -> Script {
        if self.kana > 0 && self.kana + self.han > 0 && 3 * (self.kana + self.han) >= self.latin {
            return Script::Kana;
        }
        let candidates = [
            (3 * self.han, Script::Han),
            (3 * self.hangul, Script::Hangul),
            (self.latin, Script::Latin),
            (self.cyrillic, Script::Cyrillic),
            (self.arabic, Script::Arabic),
            (self.devanagari, Script::Devanagari),
            (self.greek, Script::Greek),
            (self.hebrew, Script::Hebrew),
            (self.thai, Script::Thai),
            (self.other, Script::Other),
        ];
        candidates
            .iter()
            .max_by_key(|(n, _)| *n)
            .map_or(Script::Other, |(_, s)| *s)
    }
}

/// Pictographs, dingbats and the marks that compose emoji.
fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2300..=0x23FF | 0xFE0F | 0x200D
        | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0x2190..=0x21FF)
}

/// A message with its non-prose pieces set aside.
struct Parts {
    prose: String,
    had_code: bool,
    had_url: bool,
}

impl Parts {
    fn of(text: &str) -> Self {
        let mut had_code = false;
        let mut had_url = false;
        // Fenced blocks.
        let mut without_fences = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("```") {
            had_code = true;
            without_fences.push_str(&rest[..start]);
            without_fences.push(' ');
            match rest[start + 3..].find("```") {
                Some(end) => rest = &rest[start + 3 + end + 3..],
                None => {
                    rest = "";
                }
            }
        }
        without_fences.push_str(rest);
        // Inline code.
        let mut prose_src = String::new();
        let mut in_code = false;
        for (i, piece) in without_fences.split('`').enumerate() {
            if i > 0 {
                in_code = !in_code;
            }
            if in_code {
                had_code = true;
                prose_src.push(' ');
            } else {
                prose_src.push_str(piece);
            }
        }
        // URLs, mentions, custom emoji, channel links.
        let mut prose = String::new();
        for word in prose_src.split_whitespace() {
            let lower = word.to_ascii_lowercase();
            let is_url = lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower.starts_with("www.")
                || lower.starts_with("t.me/");
            let is_mention = (word.starts_with('@') && word.len() > 1)
                || (word.starts_with("<@")
                    || word.starts_with("<#")
                    || word.starts_with("<:")
                    || word.starts_with("<a:"))
                    && word.ends_with('>');
            let is_shortcode = word.len() > 2 && word.starts_with(':') && word.ends_with(':');
            if is_url {
                had_url = true;
            } else if !is_mention && !is_shortcode {
                prose.push_str(word);
                prose.push(' ');
            }
        }
        Parts {
            prose,
            had_code,
            had_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::l;

    #[test]
    fn han_without_kana_is_chinese_and_with_kana_japanese() {
        assert_eq!(detect("你好").lang, Some(l("zh")));
        assert_eq!(detect("日本語").lang, Some(l("zh"))); // kanji only: taken as Chinese
        assert_eq!(detect("ありがとう").lang, Some(l("ja")));
        assert_eq!(detect("今日は暑いですね").lang, Some(l("ja")));
        assert_eq!(detect("안녕하세요").lang, Some(l("ko")));
        assert_eq!(detect("这个bug怎么fix").lang, Some(l("zh")));
    }

    #[test]
    fn non_prose_kinds_are_recognized() {
        assert_eq!(detect("👍").kind, ContentKind::Emoji);
        assert_eq!(detect("😂😂😂 !!").kind, ContentKind::Emoji);
        assert_eq!(detect("https://example.com/a?b=c").kind, ContentKind::Url);
        assert_eq!(detect("<@123> https://x.y").kind, ContentKind::Url);
        assert_eq!(detect("```rust\nfn main() {}\n```").kind, ContentKind::Code);
        assert_eq!(detect("`cargo build`").kind, ContentKind::Code);
        assert_eq!(detect("```code```").kind, ContentKind::Code);
        assert_eq!(detect("12:30").kind, ContentKind::Number);
        assert_eq!(detect("+1 555 0100").kind, ContentKind::Number);
        assert_eq!(detect("   ").kind, ContentKind::TooShort);
        assert_eq!(detect("?!").kind, ContentKind::TooShort);
        assert_eq!(detect("ok").kind, ContentKind::TooShort);
        assert_eq!(detect("lol").kind, ContentKind::TooShort);
        assert_eq!(detect("haha ok").kind, ContentKind::TooShort);
        assert_eq!(detect("k").kind, ContentKind::TooShort);
    }

    #[test]
    fn common_short_words_are_known() {
        assert_eq!(detect("merci").lang, Some(l("fr")));
        assert_eq!(detect("Merci !").lang, Some(l("fr")));
        assert_eq!(detect("danke").lang, Some(l("de")));
        assert_eq!(detect("gracias").lang, Some(l("es")));
        assert_eq!(detect("thanks!").lang, Some(l("en")));
        assert_eq!(detect("Привет").lang, Some(l("ru")));
    }

    #[test]
    fn short_latin_messages_are_told_apart_by_common_words() {
        for (text, code) in [
            ("sounds good", "en"),
            ("me too", "en"),
            ("Thanks Alice!", "en"),
            ("I don't know", "en"),
            ("Moi aussi", "fr"),
            ("c'est parti", "fr"),
            ("Santé !", "fr"),
            ("Wie geht's?", "de"),
            ("Sehr gut", "de"),
            ("¿Dónde estás?", "es"),
            ("Muy bien", "es"),
            ("Ciao ragazzi, come state?", "it"),
            ("Tudo bem?", "pt"),
            ("Hoe gaat het?", "nl"),
        ] {
            assert_eq!(
                detect(text).lang.map(TextLanguage::code),
                Some(code),
                "{text}"
            );
        }
        // Shared by several languages: not guessed.
        assert_eq!(detect("no").lang, None);
    }

    #[test]
    fn prose_around_code_and_links_is_detected() {
        let d = detect("Regarde ce lien, il explique tout très bien : https://example.com/doc");
        assert_eq!(d.kind, ContentKind::Text);
        assert_eq!(d.lang, Some(l("fr")));
        let d = detect("Can you check why this fails?\n```\nlet x: u8 = 300;\n```");
        assert_eq!(d.lang, Some(l("en")));
    }
}
