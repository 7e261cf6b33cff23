//! The languages Parley names: codes, names, scripts, and their `whatlang` counterparts.

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

/// A language a text is written in, as translation sees it: one Parley can detect and
/// translate to (not [`crate::i18n::Language`], the few the bot speaks its own lines in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextLanguage {
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

pub(super) const LANGS: &[LangRow] = {
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

impl TextLanguage {
    /// ISO 639-1 code (`en`, `zh`).
    pub fn code(self) -> &'static str {
        self.code
    }

    /// English name (`English`, `Chinese`).
    pub fn name(self) -> &'static str {
        self.name
    }

    /// The language with ISO 639-1 `code` (lowercase), if Parley knows it.
    pub fn from_code(code: &str) -> Option<TextLanguage> {
        LANGS.iter().find(|r| r.0 == code).map(Self::from_row)
    }

    /// Every language Parley knows, most used first.
    pub fn all() -> impl Iterator<Item = TextLanguage> {
        LANGS.iter().map(Self::from_row)
    }

    /// Parse what a user types: an ISO 639-1 code (`en`), one with a region (`zh-CN`,
    /// `pt_BR`), an ISO 639-3 code (`eng`, `cmn`), or a name in English or the language itself
    /// (`english`, `Chinese`, `中文`, `Deutsch`). Case-insensitive.
    pub fn parse(text: &str) -> Option<TextLanguage> {
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

    fn from_row(row: &LangRow) -> TextLanguage {
        TextLanguage {
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

    pub(super) fn from_whatlang(w: whatlang::Lang) -> Option<TextLanguage> {
        LANGS.iter().find(|r| r.4 == w).map(Self::from_row)
    }
}

impl fmt::Display for TextLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::l;

    #[test]
    fn codes_names_regions_and_iso3_parse() {
        assert_eq!(TextLanguage::parse("en"), Some(l("en")));
        assert_eq!(TextLanguage::parse("EN"), Some(l("en")));
        assert_eq!(TextLanguage::parse("english"), Some(l("en")));
        assert_eq!(TextLanguage::parse("Chinese"), Some(l("zh")));
        assert_eq!(TextLanguage::parse("中文"), Some(l("zh")));
        assert_eq!(TextLanguage::parse("zh-CN"), Some(l("zh")));
        assert_eq!(TextLanguage::parse("zh_hans"), Some(l("zh")));
        assert_eq!(TextLanguage::parse("pt-BR"), Some(l("pt")));
        assert_eq!(TextLanguage::parse("es-419"), Some(l("es")));
        assert_eq!(TextLanguage::parse("deutsch"), Some(l("de")));
        assert_eq!(TextLanguage::parse("Français"), Some(l("fr")));
        assert_eq!(TextLanguage::parse("eng"), Some(l("en")));
        assert_eq!(TextLanguage::parse("cmn"), Some(l("zh")));
        assert_eq!(TextLanguage::parse("ger"), Some(l("de")));
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
            assert_eq!(TextLanguage::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_lang_has_a_code_name_and_whatlang_mapping() {
        let mut codes = std::collections::HashSet::new();
        for lang in TextLanguage::all() {
            assert_eq!(lang.code().len(), 2);
            assert!(codes.insert(lang.code()), "duplicate {}", lang.code());
            assert_eq!(TextLanguage::parse(lang.name()), Some(lang));
            assert_eq!(lang.to_string(), lang.name());
        }
    }
}
