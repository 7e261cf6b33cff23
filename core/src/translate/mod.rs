//! The translation helper's decisions: which language a message is in, and whether and into
//! what to translate it. Pure: the model that translates is called by the bot with
//! [`translation_prompt`].
//!
//! Detection ([`detect`]) first sets aside what is not prose (code, URLs, mentions, emoji,
//! numbers), then decides by script where the script says it (Han without kana → Chinese, kana
//! → Japanese, Hangul → Korean, Greek, Hebrew, Thai, …), and asks `whatlang` only for scripts
//! shared by many languages (Latin, Cyrillic, Arabic, Devanagari), restricted to the languages
//! Parley names. Short Latin text (under eight words), where statistics have little to go on,
//! is decided first by common chat phrases and by frequent, distinctive words of each language
//! (`merci`, `danke`, `the`, `und`, …); whatlang's answer for text under three words is trusted
//! only when it is confident. Chat interjections that every language uses (`ok`, `lol`,
//! `haha`) are [`ContentKind::TooShort`].
//!
//! Planning ([`plan`]) follows the rules users of translation bots ask for: nothing to translate
//! is skipped, a message already in the single target language is not translated again, and a
//! pair works both ways (`/translate en,zh`: Chinese → English, English → Chinese, anything
//! else → the first language).

use std::fmt;

/// Writing systems that decide the language on their own or narrow it down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Script {
    /// Latin letters.
    Latin,
    /// Cyrillic.
    Cyrillic,
    /// Chinese characters (Han), also used in Japanese.
    Han,
    /// Japanese kana (hiragana, katakana).
    Kana,
    /// Korean Hangul.
    Hangul,
    /// Arabic script (Arabic, Persian, Urdu).
    Arabic,
    /// Devanagari (Hindi, Marathi, Nepali).
    Devanagari,
    /// Greek.
    Greek,
    /// Hebrew.
    Hebrew,
    /// Thai.
    Thai,
    /// Another script with one language in the table (Georgian, Armenian, Bengali, …).
    Other,
}

/// A language Parley can detect and translate to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lang {
    code: &'static str,
    name: &'static str,
}

/// code, English name, native name, script, whatlang language.
type LangRow = (
    &'static str,
    &'static str,
    &'static str,
    Script,
    whatlang::Lang,
);

const LANGS: &[LangRow] = {
    use whatlang::Lang as W;
    use Script::*;
    &[
        ("en", "English", "english", Latin, W::Eng),
        ("zh", "Chinese", "中文", Han, W::Cmn),
        ("es", "Spanish", "español", Latin, W::Spa),
        ("fr", "French", "français", Latin, W::Fra),
        ("de", "German", "deutsch", Latin, W::Deu),
        ("ja", "Japanese", "日本語", Kana, W::Jpn),
        ("ko", "Korean", "한국어", Hangul, W::Kor),
        ("ru", "Russian", "русский", Cyrillic, W::Rus),
        ("pt", "Portuguese", "português", Latin, W::Por),
        ("it", "Italian", "italiano", Latin, W::Ita),
        ("ar", "Arabic", "العربية", Arabic, W::Ara),
        ("hi", "Hindi", "हिन्दी", Devanagari, W::Hin),
        ("nl", "Dutch", "nederlands", Latin, W::Nld),
        ("pl", "Polish", "polski", Latin, W::Pol),
        ("tr", "Turkish", "türkçe", Latin, W::Tur),
        ("uk", "Ukrainian", "українська", Cyrillic, W::Ukr),
        ("vi", "Vietnamese", "tiếng việt", Latin, W::Vie),
        ("id", "Indonesian", "bahasa indonesia", Latin, W::Ind),
        ("th", "Thai", "ไทย", Thai, W::Tha),
        ("sv", "Swedish", "svenska", Latin, W::Swe),
        ("da", "Danish", "dansk", Latin, W::Dan),
        ("nb", "Norwegian", "norsk", Latin, W::Nob),
        ("fi", "Finnish", "suomi", Latin, W::Fin),
        ("cs", "Czech", "čeština", Latin, W::Ces),
        ("sk", "Slovak", "slovenčina", Latin, W::Slk),
        ("hu", "Hungarian", "magyar", Latin, W::Hun),
        ("ro", "Romanian", "română", Latin, W::Ron),
        ("el", "Greek", "ελληνικά", Greek, W::Ell),
        ("he", "Hebrew", "עברית", Hebrew, W::Heb),
        ("bg", "Bulgarian", "български", Cyrillic, W::Bul),
        ("sr", "Serbian", "српски", Cyrillic, W::Srp),
        ("hr", "Croatian", "hrvatski", Latin, W::Hrv),
        ("ca", "Catalan", "català", Latin, W::Cat),
        ("fa", "Persian", "فارسی", Arabic, W::Pes),
        ("ur", "Urdu", "اردو", Arabic, W::Urd),
        ("bn", "Bengali", "বাংলা", Other, W::Ben),
        ("ta", "Tamil", "தமிழ்", Other, W::Tam),
        ("ka", "Georgian", "ქართული", Other, W::Kat),
        ("hy", "Armenian", "հայերեն", Other, W::Hye),
        ("tl", "Tagalog", "tagalog", Latin, W::Tgl),
    ]
};

impl Lang {
    /// ISO 639-1 code (`en`, `zh`).
    pub fn code(self) -> &'static str {
        self.code
    }

    /// English name (`English`, `Chinese`).
    pub fn name(self) -> &'static str {
        self.name
    }

    /// The language with ISO 639-1 `code` (lowercase), if Parley knows it.
    pub fn from_code(code: &str) -> Option<Lang> {
        LANGS.iter().find(|r| r.0 == code).map(Self::from_row)
    }

    /// Every language Parley knows, most used first.
    pub fn all() -> impl Iterator<Item = Lang> {
        LANGS.iter().map(Self::from_row)
    }

    /// Parse what a user types: an ISO 639-1 code (`en`), one with a region (`zh-CN`,
    /// `pt_BR`), an ISO 639-3 code (`eng`, `cmn`), or a name in English or the language itself
    /// (`english`, `Chinese`, `中文`, `Deutsch`). Case-insensitive.
    pub fn parse(text: &str) -> Option<Lang> {
        let t = text.trim().to_lowercase();
        if t.is_empty() {
            return None;
        }
        if let Some(l) = Self::from_code(&t) {
            return Some(l);
        }
        if let Some(row) = LANGS
            .iter()
            .find(|r| r.1.eq_ignore_ascii_case(&t) || r.2 == t)
        {
            return Some(Self::from_row(row));
        }
        // A region or script subtag: 2–4 letters or digits (zh-cn, zh-hans, es-419).
        if let Some((base, region)) = t.split_once(['-', '_']) {
            let region_ok = (2..=4).contains(&region.len())
                && region.chars().all(|c| c.is_ascii_alphanumeric());
            if region_ok {
                return Self::from_code(base);
            }
            return None;
        }
        let alias = match t.as_str() {
            "zho" | "chi" | "mandarin" | "cantonese" | "汉语" | "中文" | "chinese (simplified)" => {
                "zh"
            }
            "fre" => "fr",
            "ger" => "de",
            "farsi" => "fa",
            "filipino" => "tl",
            "norwegian bokmål" | "no" | "nob" | "nor" => "nb",
            _ => "",
        };
        if !alias.is_empty() {
            return Self::from_code(alias);
        }
        if t.len() == 3 {
            let w = whatlang::Lang::from_code(t.as_str())?;
            return Self::from_whatlang(w);
        }
        None
    }

    fn from_row(row: &LangRow) -> Lang {
        Lang {
            code: row.0,
            name: row.1,
        }
    }

    fn row(self) -> &'static LangRow {
        LANGS.iter().find(|r| r.0 == self.code).unwrap_or(&LANGS[0])
    }

    /// The script this language is written in.
    pub fn script(self) -> Script {
        self.row().3
    }

    fn from_whatlang(w: whatlang::Lang) -> Option<Lang> {
        LANGS.iter().find(|r| r.4 == w).map(Self::from_row)
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

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
    pub lang: Option<Lang>,
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

/// Chat interjections shared by many languages: never worth translating.
const INTERJECTIONS: &[&str] = &[
    "ok", "okay", "okey", "k", "kk", "lol", "lmao", "rofl", "haha", "hahaha", "hehe", "xd", "omg",
    "wtf", "hmm", "hm", "gg", "brb", "np", "ty", "thx", "pls", "plz", "ah", "oh", "eh", "uh",
    "wow", "yay", "ha", "jaja", "jajaja", "mdr", "xoxo", "afk", "idk", "imo", "btw", "ok ok",
    "ok!",
];

/// Common short chat words that settle the language of a message of one or two words.
const SHORT_WORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "hello",
            "hi",
            "hey",
            "thanks",
            "thank you",
            "yes",
            "yeah",
            "yep",
            "nope",
            "sure",
            "please",
            "sorry",
            "bye",
            "goodbye",
            "good morning",
            "good night",
            "good",
            "great",
            "nice",
            "cool",
            "awesome",
            "what",
            "why",
            "how",
            "where",
            "when",
            "who",
            "really",
            "maybe",
            "of course",
            "no problem",
            "see you",
            "welcome",
            "agreed",
            "exactly",
        ],
    ),
    (
        "fr",
        &[
            "merci",
            "bonjour",
            "bonsoir",
            "salut",
            "oui",
            "ouais",
            "d'accord",
            "merci beaucoup",
            "bonne nuit",
            "au revoir",
            "à bientôt",
            "ça va",
            "pourquoi",
            "comment",
            "bien sûr",
            "super",
            "génial",
            "peut-être",
            "voilà",
            "désolé",
            "s'il vous plaît",
            "coucou",
        ],
    ),
    (
        "de",
        &[
            "danke",
            "hallo",
            "ja",
            "nein",
            "bitte",
            "tschüss",
            "genau",
            "danke schön",
            "guten morgen",
            "gute nacht",
            "guten tag",
            "natürlich",
            "vielleicht",
            "warum",
            "wie",
            "stimmt",
            "klar",
            "servus",
            "moin",
            "entschuldigung",
            "alles klar",
        ],
    ),
    (
        "es",
        &[
            "hola",
            "gracias",
            "sí",
            "adiós",
            "vale",
            "claro",
            "buenos días",
            "buenas noches",
            "por favor",
            "muchas gracias",
            "de nada",
            "perdón",
            "quizás",
            "por qué",
            "bueno",
            "genial",
            "vamos",
            "hasta luego",
            "qué tal",
        ],
    ),
    (
        "it",
        &[
            "ciao",
            "grazie",
            "prego",
            "buongiorno",
            "buonanotte",
            "grazie mille",
            "perché",
            "certo",
            "allora",
        ],
    ),
    (
        "pt",
        &[
            "obrigado",
            "obrigada",
            "olá",
            "sim",
            "não",
            "tchau",
            "bom dia",
            "boa noite",
            "valeu",
            "beleza",
        ],
    ),
    (
        "nl",
        &[
            "dank je",
            "dankjewel",
            "hoi",
            "doei",
            "goedemorgen",
            "bedankt",
        ],
    ),
];

/// Frequent, distinctive words per language: on short text, where statistics have too little
/// to go on, a few of these settle the language. Words shared by several of these languages
/// (`de`, `la`, `no`, `me`, `un`, `con`, `bien`, …) are left out on purpose.
const LEXICON: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "i", "you", "he", "she", "we", "they", "the", "is", "are", "was", "were", "be", "to",
            "of", "and", "on", "at", "for", "with", "this", "that", "what", "why", "how", "not",
            "don't", "i'm", "it's", "let's", "my", "your", "yes", "too", "so", "do", "does", "can",
            "will", "good", "nice", "one", "thanks", "thank", "fine", "know", "think", "idea",
            "way", "worries", "here", "anyone", "tomorrow", "today", "sounds", "see", "go",
            "perfect", "cheers", "hi", "hey", "hello", "it", "in", "me", "all", "just", "please",
            "sorry", "great", "cool", "agree", "right", "sure", "yeah", "yep",
        ],
    ),
    (
        "fr",
        &[
            "je", "tu", "il", "elle", "nous", "vous", "ils", "les", "une", "est", "et", "mais",
            "pas", "ne", "c'est", "ça", "avec", "pour", "dans", "sur", "moi", "toi", "aussi",
            "oui", "merci", "très", "bonne", "bon", "idée", "d'accord", "parti", "joué", "suis",
            "sont", "qui", "quoi", "vie", "salut", "santé", "bonjour", "bonsoir", "au", "du",
            "j'ai", "on", "peut", "fait", "tout", "rien", "beaucoup", "coucou", "voilà",
        ],
    ),
    (
        "de",
        &[
            "ich", "du", "er", "sie", "wir", "ihr", "der", "die", "das", "ist", "und", "nicht",
            "ein", "eine", "mit", "auf", "für", "sehr", "gut", "genau", "wie", "geht's", "weiß",
            "danke", "bitte", "ja", "nein", "prost", "ganz", "auch", "noch", "schon", "heute",
            "morgen", "was", "wer", "warum", "hallo", "tschüss", "mir", "mich", "dich", "kein",
            "klar", "stimmt", "moin", "servus",
        ],
    ),
    (
        "es",
        &[
            "yo", "tú", "él", "ella", "el", "los", "las", "es", "está", "estás", "estoy", "muy",
            "qué", "pasa", "dónde", "cómo", "por", "para", "pero", "sí", "gracias", "hola",
            "buenas", "buenos", "también", "salud", "vamos", "y", "del", "todo", "nada", "mucho",
            "hay", "vale", "claro", "bueno", "adiós", "mañana", "hoy", "soy", "eres",
        ],
    ),
    (
        "it",
        &[
            "io",
            "sei",
            "è",
            "che",
            "non",
            "il",
            "gli",
            "sono",
            "ciao",
            "ragazzi",
            "grazie",
            "molto",
            "bene",
            "perché",
            "anche",
            "questo",
            "cosa",
            "tutto",
            "buongiorno",
            "prego",
            "allora",
            "certo",
            "oggi",
            "domani",
        ],
    ),
    (
        "pt",
        &[
            "eu", "você", "não", "sim", "obrigado", "obrigada", "pela", "pelo", "ajuda", "tudo",
            "bem", "muito", "é", "também", "olá", "oi", "uma", "isso", "aqui", "valeu", "beleza",
            "tchau", "hoje", "amanhã",
        ],
    ),
    (
        "nl",
        &[
            "ik",
            "jij",
            "het",
            "een",
            "niet",
            "wel",
            "dank",
            "hoe",
            "gaat",
            "goed",
            "wat",
            "zijn",
            "met",
            "voor",
            "hoi",
            "doei",
            "bedankt",
            "ook",
            "maar",
            "van",
            "dankjewel",
        ],
    ),
];

/// The language whose [`LEXICON`] words (and telltale letters) the text uses most, if one
/// clearly leads: (language, hits).
fn lexicon_vote(normalized: &str, original: &str) -> Option<(Lang, usize)> {
    let mut scores: Vec<(&str, usize)> = LEXICON
        .iter()
        .map(|(code, words)| {
            let hits = normalized
                .split_whitespace()
                .filter(|w| words.contains(w))
                .count();
            (*code, hits)
        })
        .collect();
    let bump = |scores: &mut Vec<(&str, usize)>, code: &str| {
        if let Some(s) = scores.iter_mut().find(|s| s.0 == code) {
            s.1 += 1;
        }
    };
    if original.contains(['¿', '¡', 'ñ']) {
        bump(&mut scores, "es");
    }
    if original.contains('ß') {
        bump(&mut scores, "de");
    }
    if original.contains(['ã', 'õ']) {
        bump(&mut scores, "pt");
    }
    scores.sort_by_key(|s| std::cmp::Reverse(s.1));
    match scores.as_slice() {
        [(code, best), (_, second), ..] if *best > 0 && best > second => {
            Lang::from_code(code).map(|l| (l, *best))
        }
        _ => None,
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
    let text_detection = |lang: Option<Lang>, confidence: f64| Detection {
        lang,
        confidence: if lang.is_some() { confidence } else { 0.0 },
        kind: ContentKind::Text,
        script: Some(script),
    };
    let code = |c: &str| Lang::from_code(c);
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
    let text = |lang: Option<Lang>, confidence: f64, kind: ContentKind| Detection {
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
            return text(Lang::from_code(code), 0.9, ContentKind::Text);
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
fn whatlang_detect(text: &str) -> Option<(Lang, f64)> {
    let allow: Vec<whatlang::Lang> = LANGS.iter().map(|r| r.4).collect();
    let info = whatlang::Detector::with_allowlist(allow).detect(text)?;
    Lang::from_whatlang(info.lang()).map(|l| (l, info.confidence()))
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

/// Why a message is not translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The channel has no target language.
    NoTarget,
    /// Nothing in it is prose (emoji, link, code, number, an interjection).
    Nothing(ContentKind),
    /// It is already in the only target language.
    AlreadyInTarget(Lang),
    /// Its language cannot be told and it may well be in the target language already.
    Unsure,
}

/// What to do with one message in a channel with translation on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranslatePlan {
    /// Leave it alone.
    Skip(SkipReason),
    /// Translate it.
    Translate {
        /// The detected source language, if known.
        from: Option<Lang>,
        /// The language to translate into.
        to: Lang,
    },
}

/// Decide whether and how to translate `text` for a channel with `targets` (`/translate en` or
/// `/translate en,zh`).
///
/// Rules, in order:
/// 1. No targets → skip. Code, links, emoji, numbers and interjections → skip.
/// 2. Known language: with one target, translate into it unless the text is already in it;
///    with a pair, text in either language goes into the other, text in any other language
///    into the first.
/// 3. Unknown language (short or mixed Latin text): if no target is written in the text's
///    script, it cannot be in a target language, so translate into the first target. If exactly
///    one target is in that script, take the text to be in it: with a pair, translate into the
///    other language; with one target, skip. If several are, skip: a wrong translation of text
///    already in the target language is worse than none.
///
/// ```
/// use parley_core::translate::{plan, Lang, TranslatePlan};
///
/// let en = Lang::parse("en").unwrap();
/// let zh = Lang::parse("zh").unwrap();
/// assert_eq!(plan("你好，明天见", &[en, zh]), TranslatePlan::Translate { from: Some(zh), to: en });
/// assert!(matches!(plan("👍", &[en, zh]), TranslatePlan::Skip(_)));
/// ```
pub fn plan(text: &str, targets: &[Lang]) -> TranslatePlan {
    let Some(&first) = targets.first() else {
        return TranslatePlan::Skip(SkipReason::NoTarget);
    };
    let d = detect(text);
    if d.kind != ContentKind::Text {
        return TranslatePlan::Skip(SkipReason::Nothing(d.kind));
    }
    if let Some(lang) = d.lang {
        return match targets.iter().position(|&t| t == lang) {
            Some(_) if targets.len() == 1 => TranslatePlan::Skip(SkipReason::AlreadyInTarget(lang)),
            Some(0) => TranslatePlan::Translate {
                from: Some(lang),
                to: targets[1],
            },
            Some(_) => TranslatePlan::Translate {
                from: Some(lang),
                to: first,
            },
            None => TranslatePlan::Translate {
                from: Some(lang),
                to: first,
            },
        };
    }
    let same_script: Vec<Lang> = targets
        .iter()
        .copied()
        .filter(|t| Some(t.script()) == d.script)
        .collect();
    match (same_script.as_slice(), targets) {
        ([], _) => TranslatePlan::Translate {
            from: None,
            to: first,
        },
        ([assumed], [_, _, ..]) => {
            let to = targets
                .iter()
                .copied()
                .find(|t| t != assumed)
                .unwrap_or(first);
            TranslatePlan::Translate {
                from: Some(*assumed),
                to,
            }
        }
        _ => TranslatePlan::Skip(SkipReason::Unsure),
    }
}

/// The system instruction that makes the model translate a message from `from` (if known) into
/// `to`. Short, direct sentences, so small models follow it too.
pub fn translation_prompt(from: Option<Lang>, to: Lang) -> String {
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
pub fn strict_translation_prompt(from: Option<Lang>, to: Lang) -> String {
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
/// use parley_core::translate::{translation_fits, Lang};
///
/// let de = Lang::parse("de").unwrap();
/// assert!(translation_fits("Guten Morgen, wie geht es dir heute?", de));
/// assert!(!translation_fits("Good morning, how are you today?", de));
/// ```
pub fn translation_fits(output: &str, to: Lang) -> bool {
    if output.trim().is_empty() {
        return false;
    }
    let d = detect(output);
    if d.kind != ContentKind::Text {
        return true;
    }
    let kanji_for_japanese = |l: Lang| to.code() == "ja" && l.code() == "zh";
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

/// One language per country flag, for translation on demand by flag reaction (🇩🇪 → German).
/// A flag whose country speaks several languages names the one most of its people read
/// (🇨🇭 → German, 🇨🇦 → English, 🇧🇪 → Dutch); the README lists the whole table.
const FLAG_LANGS: &[(&str, &str)] = &[
    ("US", "en"),
    ("GB", "en"),
    ("AU", "en"),
    ("CA", "en"),
    ("NZ", "en"),
    ("IE", "en"),
    ("CN", "zh"),
    ("TW", "zh"),
    ("HK", "zh"),
    ("ES", "es"),
    ("MX", "es"),
    ("AR", "es"),
    ("CO", "es"),
    ("CL", "es"),
    ("PE", "es"),
    ("FR", "fr"),
    ("DE", "de"),
    ("AT", "de"),
    ("CH", "de"),
    ("JP", "ja"),
    ("KR", "ko"),
    ("RU", "ru"),
    ("PT", "pt"),
    ("BR", "pt"),
    ("IT", "it"),
    ("SA", "ar"),
    ("EG", "ar"),
    ("AE", "ar"),
    ("IN", "hi"),
    ("NL", "nl"),
    ("BE", "nl"),
    ("PL", "pl"),
    ("TR", "tr"),
    ("UA", "uk"),
    ("VN", "vi"),
    ("ID", "id"),
    ("TH", "th"),
    ("SE", "sv"),
    ("DK", "da"),
    ("NO", "nb"),
    ("FI", "fi"),
    ("CZ", "cs"),
    ("SK", "sk"),
    ("HU", "hu"),
    ("RO", "ro"),
    ("GR", "el"),
    ("IL", "he"),
    ("BG", "bg"),
    ("RS", "sr"),
    ("HR", "hr"),
    ("IR", "fa"),
    ("PK", "ur"),
    ("BD", "bn"),
    ("GE", "ka"),
    ("AM", "hy"),
    ("PH", "tl"),
];

/// The language a country-flag emoji stands for (`🇩🇪` → German), or `None` for any other
/// emoji or a flag without a language in the table.
///
/// ```
/// use parley_core::translate::flag_language;
///
/// assert_eq!(flag_language("🇯🇵").map(|l| l.code()), Some("ja"));
/// assert_eq!(flag_language("👍"), None);
/// ```
pub fn flag_language(emoji: &str) -> Option<Lang> {
    let letters: Option<String> = emoji
        .chars()
        .map(|c| {
            let n = u32::from(c).checked_sub(0x1F1E6)?;
            (n < 26).then(|| char::from(b'A' + n as u8))
        })
        .collect();
    let country = letters.filter(|l| l.len() == 2)?;
    let (_, code) = FLAG_LANGS.iter().find(|(c, _)| *c == country)?;
    Lang::from_code(code)
}

/// Every flag with a language, as (country code, language): the table the README shows.
pub fn flag_languages() -> impl Iterator<Item = (&'static str, Lang)> {
    FLAG_LANGS
        .iter()
        .filter_map(|(c, l)| Lang::from_code(l).map(|l| (*c, l)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_names_a_known_language() {
        assert_eq!(flag_languages().count(), FLAG_LANGS.len());
        assert_eq!(flag_language("🇩🇪").map(Lang::code), Some("de"));
        assert_eq!(flag_language("🇧🇷").map(Lang::code), Some("pt"));
        assert_eq!(flag_language("🇺🇸").map(Lang::code), Some("en"));
        assert_eq!(flag_language("🇦"), None);
        assert_eq!(
            flag_language("🇦🇶"),
            None,
            "Antarctica speaks no language here"
        );
        assert_eq!(flag_language("DE"), None);
    }

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
        let l = |c| Lang::from_code(c).unwrap();
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

    fn l(code: &str) -> Lang {
        Lang::from_code(code).unwrap()
    }

    #[test]
    fn codes_names_regions_and_iso3_parse() {
        assert_eq!(Lang::parse("en"), Some(l("en")));
        assert_eq!(Lang::parse("EN"), Some(l("en")));
        assert_eq!(Lang::parse("english"), Some(l("en")));
        assert_eq!(Lang::parse("Chinese"), Some(l("zh")));
        assert_eq!(Lang::parse("中文"), Some(l("zh")));
        assert_eq!(Lang::parse("zh-CN"), Some(l("zh")));
        assert_eq!(Lang::parse("zh_hans"), Some(l("zh")));
        assert_eq!(Lang::parse("pt-BR"), Some(l("pt")));
        assert_eq!(Lang::parse("es-419"), Some(l("es")));
        assert_eq!(Lang::parse("deutsch"), Some(l("de")));
        assert_eq!(Lang::parse("Français"), Some(l("fr")));
        assert_eq!(Lang::parse("eng"), Some(l("en")));
        assert_eq!(Lang::parse("cmn"), Some(l("zh")));
        assert_eq!(Lang::parse("ger"), Some(l("de")));
    }

    #[test]
    fn nonsense_languages_do_not_parse() {
        for bad in [
            "",
            "xx",
            "xx-nonsense",
            "en-nonsense",
            "klingon",
            "e",
            "zz-zz",
        ] {
            assert_eq!(Lang::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_lang_has_a_code_name_and_whatlang_mapping() {
        let mut codes = std::collections::HashSet::new();
        for lang in Lang::all() {
            assert_eq!(lang.code().len(), 2);
            assert!(codes.insert(lang.code()), "duplicate {}", lang.code());
            assert_eq!(Lang::parse(lang.name()), Some(lang));
            assert_eq!(lang.to_string(), lang.name());
        }
    }

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
            assert_eq!(detect(text).lang.map(Lang::code), Some(code), "{text}");
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

    fn tr(from: Option<&str>, to: &str) -> TranslatePlan {
        TranslatePlan::Translate {
            from: from.map(l),
            to: l(to),
        }
    }

    /// A mixed chat and what a channel with `/translate en,zh` does with each message.
    #[test]
    fn mixed_chat_with_an_en_zh_pair_translates_both_ways() {
        let pair = [l("en"), l("zh")];
        let cases: &[(&str, TranslatePlan)] = &[
            (
                "Hey everyone, the meeting moved to Thursday afternoon.",
                tr(Some("en"), "zh"),
            ),
            ("好的，我周四下午有空。", tr(Some("zh"), "en")),
            ("你好", tr(Some("zh"), "en")),
            ("谢谢！", tr(Some("zh"), "en")),
            (
                "Can someone review my pull request before Friday?",
                tr(Some("en"), "zh"),
            ),
            ("我觉得这个方案不错，但是成本有点高。", tr(Some("zh"), "en")),
            (
                "Bonjour à tous, je serai en retard aujourd'hui.",
                tr(Some("fr"), "en"),
            ),
            ("merci", tr(Some("fr"), "en")),
            (
                "Ich habe das Problem gestern Abend gelöst, danke für eure Hilfe.",
                tr(Some("de"), "en"),
            ),
            (
                "¿Alguien sabe dónde está la documentación nueva?",
                tr(Some("es"), "en"),
            ),
            ("今日はとても暑いですね。", tr(Some("ja"), "en")),
            ("Привет всем, как дела?", tr(Some("ru"), "en")),
            ("sounds good", tr(Some("en"), "zh")),
            ("thanks!", tr(Some("en"), "zh")),
            (
                "ok",
                TranslatePlan::Skip(SkipReason::Nothing(ContentKind::TooShort)),
            ),
            (
                "lol",
                TranslatePlan::Skip(SkipReason::Nothing(ContentKind::TooShort)),
            ),
            (
                "👍",
                TranslatePlan::Skip(SkipReason::Nothing(ContentKind::Emoji)),
            ),
            (
                "https://github.com/rust-lang/rust/issues/1",
                TranslatePlan::Skip(SkipReason::Nothing(ContentKind::Url)),
            ),
            (
                "```\ncargo test\n```",
                TranslatePlan::Skip(SkipReason::Nothing(ContentKind::Code)),
            ),
            (
                "42",
                TranslatePlan::Skip(SkipReason::Nothing(ContentKind::Number)),
            ),
            ("这个bug怎么fix？", tr(Some("zh"), "en")),
            (
                "I pushed the fix, 请大家再测试一下 the login flow",
                tr(Some("en"), "zh"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(plan(text, &pair), *want, "{text:?}: {:?}", detect(text));
        }
    }

    #[test]
    fn single_target_skips_text_already_in_it() {
        let en = [l("en")];
        assert_eq!(
            plan("The build is green again, nice work everyone.", &en),
            TranslatePlan::Skip(SkipReason::AlreadyInTarget(l("en")))
        );
        assert_eq!(plan("你好", &en), tr(Some("zh"), "en"));
        assert_eq!(
            plan("Das Wetter ist heute wirklich schön.", &en),
            tr(Some("de"), "en")
        );
        assert_eq!(
            plan("Hace mucho calor hoy en Madrid, ¿verdad?", &en),
            tr(Some("es"), "en")
        );
        let zh = [l("zh")];
        assert_eq!(
            plan("谢谢大家的帮助", &zh),
            TranslatePlan::Skip(SkipReason::AlreadyInTarget(l("zh")))
        );
        assert_eq!(
            plan("See you tomorrow at the station, bring an umbrella.", &zh),
            tr(Some("en"), "zh")
        );
        let fr = [l("fr")];
        assert_eq!(
            plan("merci", &fr),
            TranslatePlan::Skip(SkipReason::AlreadyInTarget(l("fr")))
        );
    }

    #[test]
    fn unknown_short_latin_text_is_not_retranslated_into_a_latin_target() {
        let en = [l("en")];
        // "xyzzy plugh": no language; could be anything in Latin script.
        assert_eq!(
            plan("xyzzy plugh", &en),
            TranslatePlan::Skip(SkipReason::Unsure)
        );
        // The same with a Chinese-only target: it is surely not Chinese, translate.
        let zh = [l("zh")];
        assert_eq!(
            plan("xyzzy plugh", &zh),
            TranslatePlan::Translate {
                from: None,
                to: l("zh")
            }
        );
    }

    #[test]
    fn no_targets_means_no_translation() {
        assert_eq!(
            plan("hello there", &[]),
            TranslatePlan::Skip(SkipReason::NoTarget)
        );
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
