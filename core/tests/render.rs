//! Randomised checks of splitting and streaming: whatever the text and the limit, parts fit
//! (in UTF-16 code units, as Telegram and Discord count), are never empty, keep every character in order, and keep code fences balanced; a streamed
//! answer ends exactly as its split.

mod util;

use std::time::{Duration, Instant};

use parley_core::render::{split_message, Action, StreamRenderer};
use parley_core::seam::{Markup, PlatformLimits};
use util::Rng;

const PIECES: &[&str] = &[
    "word",
    "longerword",
    " ",
    " ",
    " ",
    "\n",
    "\n\n",
    ". ",
    "! ",
    "。",
    "中文",
    "é",
    "e\u{301}",
    "😀",
    "👍🏽",
    "👨\u{200D}👩\u{200D}👧",
    "\n```rust\n",
    "\n```\n",
    "\n```\n",
    "    indent",
    "https://example.com/a/b/c",
    "@everyone",
    "<@123>",
    "x",
    "`tick`",
    "\t",
];

/// The length of `s` in UTF-16 code units, counted by the standard library rather than by the
/// code under test.
fn utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// UTF-16 units of the longest piece below that is never cut: the family emoji.
const LONGEST_CLUSTER: usize = 8;

fn random_text(rng: &mut Rng) -> String {
    let len = rng.below(120);
    (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect()
}

/// The characters of `s` that are content: outside fence marker lines, not whitespace.
fn content(s: &str) -> String {
    s.lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect()
}

/// Whether a code block is still open at the end of `s` (CommonMark: only a line of nothing
/// but backticks closes one).
fn ends_in_fence(s: &str) -> bool {
    let mut open = false;
    for line in s.lines().map(str::trim) {
        if open {
            open = !(line.len() >= 3 && line.bytes().all(|b| b == b'`'));
        } else {
            open = line.starts_with("```");
        }
    }
    open
}

#[test]
fn random_texts_split_into_fitting_nonempty_parts_that_keep_everything() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for round in 0..3000 {
        let text = random_text(&mut rng);
        let max = 1 + rng.below(80);
        let parts = split_message(&text, max);
        for p in &parts {
            // A cluster is never cut (the family emoji, 8 units, is the longest): under 8 units
            // a part may be one cluster over the limit.
            assert!(
                utf16(p) <= max.max(LONGEST_CLUSTER),
                "round {round} max {max}: part too long {p:?}"
            );
            assert!(!p.trim().is_empty(), "round {round}: empty part");
            assert_eq!(p.trim_end(), p, "round {round}: trailing whitespace {p:?}");
        }
        if max < 16 {
            // Too small for fence markers: none are added, every character is kept in order.
            let raw = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            assert_eq!(raw(&parts.concat()), raw(&text), "round {round} max {max}");
        } else if max >= 21 {
            assert_eq!(
                content(&parts.join("\n")),
                content(&text),
                "round {round} max {max}\ntext {text:?}\nparts {parts:?}"
            );
        }
        if max >= 24 {
            // Every part closes the blocks it opens, except the last when the text itself
            // ends inside a block.
            let original_open = ends_in_fence(&text);
            for (i, p) in parts.iter().enumerate() {
                let last = i + 1 == parts.len();
                if !last || !original_open {
                    assert!(
                        !ends_in_fence(p),
                        "round {round} max {max}: unbalanced part {p:?}\ntext {text:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn random_streams_end_as_their_text_and_complete_parts_never_change() {
    let mut rng = Rng(0xFEED_0000_0000_0042);
    for round in 0..400 {
        let text = random_text(&mut rng);
        let max = 21 + rng.below(100);
        let limits = PlatformLimits {
            max_message_chars: max,
            edit_interval: Duration::from_millis(500),
            markup: Markup::Plain,
            supports_edit: true,
        };
        let mut r = StreamRenderer::new(limits);
        let mut shown: Vec<String> = Vec::new();
        let mut t = Instant::now();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let apply = |actions: Vec<Action>, shown: &mut Vec<String>| {
            for a in actions {
                match a {
                    Action::Send { part, text } => {
                        assert_eq!(part, shown.len());
                        shown.push(text);
                    }
                    Action::Edit { part, text } => shown[part] = text,
                    Action::Append(_) => panic!("append"),
                }
            }
        };
        while i < chars.len() {
            let n = 1 + rng.below(12);
            let delta: String = chars[i..(i + n).min(chars.len())].iter().collect();
            i += n;
            t += Duration::from_millis(rng.below(400) as u64);
            let frozen: Vec<String> = shown
                .iter()
                .take(shown.len().saturating_sub(1))
                .cloned()
                .collect();
            apply(r.push(&delta, t), &mut shown);
            assert_eq!(
                &shown[..frozen.len()],
                &frozen[..],
                "round {round}: a completed part changed"
            );
            for p in &shown {
                assert!(utf16(p) <= max, "round {round} max {max}: {p:?}");
            }
        }
        apply(r.finish(t), &mut shown);
        let want = content(&parley_core::render::neutralize_mentions(
            &text,
            Markup::Plain,
        ));
        assert_eq!(
            content(&shown.join("\n")),
            want,
            "round {round} max {max}\ntext {text:?}\nshown {shown:?}"
        );
        for p in &shown {
            assert!(utf16(p) <= max, "round {round} max {max}: {p:?}");
            assert!(!p.trim().is_empty());
        }
        // Streaming ends exactly where a one-shot split of the same text would.
        assert_eq!(
            shown,
            split_message(r.text(), max),
            "round {round} max {max}"
        );
    }
}
