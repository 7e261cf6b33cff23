//! Properties that must hold for any input, not only the examples the unit tests pick: the
//! message splitter, the stop filter, the context window and the translation flag table.
//! `proptest` generates the inputs and shrinks a failure to a small one it prints.

use parley_core::conversation::{ContextWindow, Turn, WindowSpec};
use parley_core::engine::scripted::ScriptedEngine;
use parley_core::engine::stop::{cut_at_stop, StopFilter};
use parley_core::engine::{Engine, Role};
use parley_core::render::{split_message, units};
use parley_core::translate::{flag_language, flag_languages};
use proptest::prelude::*;

/// Pieces answers are made of: words, spaces and line breaks, emoji (two UTF-16 units, some
/// with skin-tone modifiers), CJK, combining marks, and code fences with the tag `py`. No word
/// holds a `p` or a `y`, so a reopened fence's tag is told from the text around it.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-hj-oq-xz]{1,12}".prop_map(String::from),
        3 => Just(" ".to_string()),
        2 => Just("\n".to_string()),
        1 => Just("\n\n".to_string()),
        1 => Just("\u{1F600}".to_string()),
        1 => Just("\u{1F44D}\u{1F3FD}".to_string()),
        1 => Just("\u{6F22}\u{5B57}".to_string()),
        1 => Just("e\u{301}".to_string()),
        1 => Just(". ".to_string()),
        1 => Just("\n```py\n".to_string()),
        1 => Just("\n```\n".to_string()),
    ]
}

fn answer() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..80).prop_map(|p| p.concat())
}

/// `text` without what a split may add or drop: whitespace at the cuts, the fences it closes
/// and reopens (backticks and the `py` tag).
fn content(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '`' | 'p' | 'y'))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Any answer at any limit that holds the widest character cluster (an emoji with a
    /// skin tone, 4 units): every part fits the limit in UTF-16 units and is not blank,
    /// and the parts hold the whole text in order.
    #[test]
    fn split_parts_fit_and_keep_everything(text in answer(), max in 8usize..120) {
        let parts = split_message(&text, max);
        for part in &parts {
            prop_assert!(units(part) <= max, "{} units over {max}: {part:?}", units(part));
            prop_assert!(!part.trim().is_empty(), "a blank part: {parts:?}");
        }
        prop_assert_eq!(content(&parts.concat()), content(&text));
    }

    /// However the engine chunks a stream, the filter lets out exactly the whole text cut
    /// before its first stop string.
    #[test]
    fn any_chunking_of_a_stream_equals_cutting_the_whole(
        text in "[ab<>|\u{e9}\u{1F600}]{0,40}",
        stops in prop::collection::vec("[ab<>|\u{e9}\u{1F600}]{1,4}", 0..3),
        cuts in prop::collection::vec(0usize..64, 0..10),
    ) {
        let (want, want_stopped) = cut_at_stop(text.clone(), &stops);
        let mut bounds: Vec<usize> = cuts
            .iter()
            .map(|c| c % (text.len() + 1))
            .filter(|c| text.is_char_boundary(*c))
            .collect();
        bounds.extend([0, text.len()]);
        bounds.sort_unstable();
        bounds.dedup();
        let mut filter = StopFilter::new(&stops);
        let mut got = String::new();
        let mut stopped = false;
        for pair in bounds.windows(2) {
            let out = filter.push(&text[pair[0]..pair[1]]);
            got.push_str(&out.emit);
            if out.stopped {
                stopped = true;
                break;
            }
        }
        if !stopped {
            got.push_str(&filter.finish());
        }
        prop_assert_eq!(got, want);
        prop_assert_eq!(stopped, want_stopped);
    }

    /// Any conversation, any budget: the system prompt comes first and whole, the kept turns
    /// are the newest ones (the last message is the newest turn), and the window stays within
    /// its budget whenever the system prompt and the newest turn alone fit it.
    #[test]
    fn the_window_keeps_the_newest_turns_within_budget(
        turns in prop::collection::vec(("[a-z]{1,8}( [a-z]{1,8}){0,12}", any::<bool>()), 1..40),
        system in "[a-z]{1,8}( [a-z]{1,8}){0,20}",
        context in 20usize..400,
        max_tokens in 0usize..100,
        group in any::<bool>(),
    ) {
        let engine = ScriptedEngine::new().with_context_len(context);
        let turns: Vec<Turn> = turns
            .iter()
            .enumerate()
            .map(|(i, (text, mine))| {
                if *mine {
                    Turn::assistant(text, i as i64, false)
                } else {
                    Turn::user("u", "Alice", text, i as i64)
                }
            })
            .collect();
        let spec = WindowSpec {
            system: &system,
            group,
            max_tokens,
            group_context_turns: 20,
            start: 0,
        };
        let w = ContextWindow::build(&engine, &turns, spec);
        prop_assert_eq!(w.messages[0].role, Role::System);
        prop_assert_eq!(&w.messages[0].content, &system);
        prop_assert_eq!(w.turns + w.dropped, turns.len());
        let newest = turns.last().unwrap();
        let shown = if group && newest.role == Role::User {
            format!("Alice: {}", newest.text)
        } else {
            newest.text.clone()
        };
        let cost = |t: &str| engine.count_tokens(t) + engine.message_overhead();
        if cost(&system) + cost(&shown) <= w.budget {
            prop_assert!(w.tokens <= w.budget, "{} tokens over {}", w.tokens, w.budget);
        }
        prop_assert!(w.turns >= 1, "the newest turn is always kept");
        let last = &w.messages[w.messages.len() - 1];
        prop_assert_eq!(last.role, newest.role);
        prop_assert!(last.content.ends_with(&shown), "{:?}", last);
        // The kept turns are the newest ones, in order.
        let said: String = w.messages[1..]
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let mut from = 0;
        for t in &turns[turns.len() - w.turns..] {
            let at = said[from..].find(&t.text);
            prop_assert!(at.is_some(), "kept turn {:?} missing or out of order", t);
            from += at.unwrap_or(0) + t.text.len();
        }
    }

    /// Any string: a language only for two regional-indicator letters naming a country of the
    /// table, and then that country's language.
    #[test]
    fn a_flag_names_its_table_language_and_nothing_else_does(
        letters in "[A-Z]{2}",
        other in ".{0,4}",
    ) {
        let flag: String = letters
            .chars()
            .map(|c| char::from_u32(0x1F1E6 + (c as u32 - 'A' as u32)).unwrap())
            .collect();
        let listed = flag_languages().find(|(country, _)| *country == letters).map(|(_, l)| l);
        prop_assert_eq!(flag_language(&flag), listed);
        let extended = format!("{flag}{other}");
        if !other.is_empty() {
            prop_assert_eq!(flag_language(&extended), None, "{:?}", extended);
        }
        prop_assert_eq!(flag_language(&letters), None);
    }
}
