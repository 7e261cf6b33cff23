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

//!
//! Rooms: `lang` (the language table), `words` (the word lists detection votes with),
//! `detect`, `plan`, `output` (the model's instruction and the checks on what it wrote),
//! `flags` (flag reactions).

mod detect;
mod flags;
mod lang;
mod output;
mod plan;
mod words;

pub use detect::{detect, ContentKind, Detection};
pub use flags::{flag_language, flag_languages};
pub use lang::{Script, TextLanguage};
pub use output::{strict_translation_prompt, strip_chatter, translation_fits, translation_prompt};
pub use plan::{plan, SkipReason, TranslatePlan};

/// The language of `code`, in tests.
#[cfg(test)]
fn l(code: &str) -> TextLanguage {
    TextLanguage::from_code(code).unwrap()
}
