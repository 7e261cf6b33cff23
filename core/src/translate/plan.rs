//! Whether and into what to translate one message in a channel with translation on.

use super::detect::{detect, ContentKind};
use super::lang::TextLanguage;

/// Why a message is not translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The channel has no target language.
    NoTarget,
    /// Nothing in it is prose (emoji, link, code, number, an interjection).
    Nothing(ContentKind),
    /// It is already in the only target language.
    AlreadyInTarget(TextLanguage),
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
        from: Option<TextLanguage>,
        /// The language to translate into.
        to: TextLanguage,
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
/// use parley_core::translate::{plan, TextLanguage, TranslatePlan};
///
/// let en = TextLanguage::parse("en").unwrap();
/// let zh = TextLanguage::parse("zh").unwrap();
/// assert_eq!(plan("你好，明天见", &[en, zh]), TranslatePlan::Translate { from: Some(zh), to: en });
/// assert!(matches!(plan("👍", &[en, zh]), TranslatePlan::Skip(_)));
/// ```
pub fn plan(text: &str, targets: &[TextLanguage]) -> TranslatePlan {
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
    let same_script: Vec<TextLanguage> = targets
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::l;

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
}
