//! Country flags as languages, for translation on demand by flag reaction.

use super::lang::TextLanguage;

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
pub fn flag_language(emoji: &str) -> Option<TextLanguage> {
    let letters: Option<String> = emoji
        .chars()
        .map(|c| {
            let n = u32::from(c).checked_sub(0x1F1E6)?;
            (n < 26).then(|| char::from(b'A' + n as u8))
        })
        .collect();
    let country = letters.filter(|l| l.len() == 2)?;
    let (_, code) = FLAG_LANGS.iter().find(|(c, _)| *c == country)?;
    TextLanguage::from_code(code)
}

/// Every flag with a language, as (country code, language): the table the README shows.
pub fn flag_languages() -> impl Iterator<Item = (&'static str, TextLanguage)> {
    FLAG_LANGS
        .iter()
        .filter_map(|(c, l)| TextLanguage::from_code(l).map(|l| (*c, l)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_names_a_known_language() {
        assert_eq!(flag_languages().count(), FLAG_LANGS.len());
        assert_eq!(flag_language("🇩🇪").map(TextLanguage::code), Some("de"));
        assert_eq!(flag_language("🇧🇷").map(TextLanguage::code), Some("pt"));
        assert_eq!(flag_language("🇺🇸").map(TextLanguage::code), Some("en"));
        assert_eq!(flag_language("🇦"), None);
        assert_eq!(
            flag_language("🇦🇶"),
            None,
            "Antarctica speaks no language here"
        );
        assert_eq!(flag_language("DE"), None);
    }
}
