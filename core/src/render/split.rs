//! Cutting a long text into parts that fit a platform's limit ([`split_message`]), counted
//! in UTF-16 units as the platforms count.

/// The opening of a code fence.
const FENCE: &str = "```";
/// What closes a fence we cut: a newline and the fence (4 characters).
const FENCE_CLOSE: &str = "\n```";
const FENCE_CLOSE_CHARS: usize = 4;

/// One part of a split text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    /// The part as it is sent (fence markers included).
    pub(super) text: String,
    /// Bytes of the input this part consumed (including whitespace dropped at the cut).
    pub(super) consumed: usize,
    /// The code fence open after this part (its language tag), to reopen in the next part.
    pub(super) open_after: Option<String>,
}

/// Split `text` into parts of at most `max_chars` characters, counted as UTF-16 code units:
/// what Telegram's 4096 and Discord's 2000 limits count. It is the number of characters except
/// for emoji and other characters outside the Basic Multilingual Plane, which count two, so an
/// emoji-dense answer is never refused as too long.
///
/// Cuts prefer, within the second half of the space available, a blank line, then a line
/// break, then the end of a sentence, then a space; failing those, the last space anywhere;
/// failing that, a hard cut between two characters (keeping combining marks, variation
/// selectors, skin-tone modifiers and zero-width joiners with the character before them).
/// A cut inside a ```` ``` ```` block closes the block at the end of the part and reopens it with
/// the same language tag at the start of the next, all within `max_chars`. Parts are never
/// empty, and lose the whitespace at either side of a cut (indentation of the first line after
/// a line break is kept). Leading blank lines and trailing whitespace of `text` are dropped, so
/// a blank text gives no parts. `max_chars` below 1 is treated as 1; when it is too small to hold
/// fence markers (under about a dozen characters) fences are not reopened.
///
/// ```
/// use parley_core::render::split_message;
///
/// let parts = split_message("First paragraph.\n\nSecond paragraph.", 20);
/// assert_eq!(parts, ["First paragraph.", "Second paragraph."]);
///
/// let code = format!("```py\n{}```", "print(1)\n".repeat(6));
/// for part in split_message(&code, 40) {
///     assert!(part.starts_with("```py\n") && part.ends_with("```"));
/// }
/// ```
pub fn split_message(text: &str, max_chars: usize) -> Vec<String> {
    split_pieces(text, max_chars, None)
        .into_iter()
        .map(|p| p.text)
        .collect()
}

/// [`split_message`], starting with the fence `open` (the language tag of a block that a
/// previous part left open), returning how much of `text` each part consumed.
pub(super) fn split_pieces(text: &str, max_chars: usize, open: Option<String>) -> Vec<Piece> {
    let max = max_chars.max(1);
    let mut pieces = Vec::new();
    let mut open = open;
    let text = text.trim_end();
    let mut pos = leading_blank_lines(text);
    // Where the previous piece ended: each piece consumes everything up to its own end.
    let mut last_end = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        // A fence we closed ourselves: its own closing line is no longer needed.
        if open.as_deref().is_some_and(|l| fence_fits(l, max)) {
            if let Some(len) = closing_fence_line(rest) {
                open = None;
                pos += len;
                pos += skip_after_cut(&text[pos..]);
                continue;
            }
        }
        let prefix = match &open {
            Some(lang) if fence_fits(lang, max) => format!("{FENCE}{lang}\n"),
            _ => String::new(),
        };
        let prefix_chars = units(&prefix);
        let avail = max - prefix_chars;
        if units(rest) <= avail {
            let after = fence_after(rest, open.clone());
            pieces.push(Piece {
                text: format!("{prefix}{rest}"),
                consumed: text.len() - last_end,
                open_after: after,
            });
            break;
        }
        let mut budget = avail;
        let (cut, body, after) = loop {
            let body_end = trim_cut(rest, find_cut(rest, budget, open.is_some()), open.clone());
            let body = &rest[..body_end];
            let after = fence_after(body, open.clone());
            let close = after.as_deref().is_some_and(|l| fence_fits(l, max));
            let need = prefix_chars + units(body) + if close { FENCE_CLOSE_CHARS } else { 0 };
            if need <= max || budget <= 1 {
                // The next part starts where this body ends (minus the whitespace between).
                break (body_end, body, after);
            }
            budget = avail.saturating_sub(FENCE_CLOSE_CHARS).max(1);
        };
        let close = after.as_deref().is_some_and(|l| fence_fits(l, max));
        let next = pos + cut + skip_after_cut(&rest[cut..]);
        if !body.trim().is_empty() {
            let mut part = format!("{prefix}{body}");
            if close {
                part.push_str(FENCE_CLOSE);
            }
            pieces.push(Piece {
                text: part,
                consumed: next - last_end,
                open_after: after.clone(),
            });
            last_end = next;
        }
        // (A body of only whitespace makes no part; the next piece consumes its bytes.)
        open = after;
        pos = next;
    }
    pieces
}

/// Whether a fence with `lang` can be reopened and closed within `max` with room for content.
fn fence_fits(lang: &str, max: usize) -> bool {
    FENCE.len() + units(lang) + 1 + FENCE_CLOSE_CHARS + 8 <= max
}

/// Bytes of blank lines at the start of `text` (up to the last newline of its leading
/// whitespace, so the first line keeps its indentation).
fn leading_blank_lines(text: &str) -> usize {
    let ws_end = text.len() - text.trim_start().len();
    text[..ws_end].rfind('\n').map_or(0, |i| i + 1)
}

/// Bytes to drop after a cut: the whitespace run up to its last newline (keeping the next
/// line's indentation), or the whole run when it holds no newline.
fn skip_after_cut(rest: &str) -> usize {
    let ws_end = rest.len() - rest.trim_start().len();
    match rest[..ws_end].rfind('\n') {
        Some(i) => i + 1,
        None => ws_end,
    }
}

/// If `rest` starts with a line that closes a fence, the bytes of that line (with its newline).
fn closing_fence_line(rest: &str) -> Option<usize> {
    let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
    is_closing_fence(rest[..line_end].trim()).then_some(line_end)
}

/// The fence open after `text`, given the fence `open` before it.
///
/// As in CommonMark, a line starting with ```` ``` ```` opens a block (its first word is the
/// language tag), and only a line of nothing but backticks closes it: ```` ```rust ```` inside a
/// block is content.
fn fence_after(text: &str, mut open: Option<String>) -> Option<String> {
    for line in text.lines() {
        let line = line.trim();
        if open.is_some() {
            if is_closing_fence(line) {
                open = None;
            }
        } else if let Some(tag) = line.strip_prefix(FENCE) {
            open = Some(tag.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    open
}

/// A trimmed line that closes a fence: three or more backticks and nothing else.
fn is_closing_fence(line: &str) -> bool {
    line.len() >= FENCE.len() && line.bytes().all(|b| b == b'`')
}

/// Where `rest[..cut]` ends once trailing whitespace is dropped; a cut right after a line that
/// opens a fence moves before that line, so no part ends in an empty code block.
fn trim_cut(rest: &str, cut: usize, open: Option<String>) -> usize {
    let body = rest[..cut].trim_end();
    let line_start = body.rfind('\n').map_or(0, |i| i + 1);
    let last_line = body[line_start..].trim_start();
    if line_start > 0 && last_line.starts_with(FENCE) {
        let before = &body[..line_start];
        if fence_after(before, open.clone()).is_none() && fence_after(body, open).is_some() {
            return before.trim_end().len();
        }
    }
    body.len()
}

/// The length of `s` as the platforms count it: UTF-16 code units.
pub fn units(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Byte index of the end of the longest prefix of `s` that is at most `n` UTF-16 units (at a
/// character boundary; `s.len()` when all of `s` fits).
pub fn unit_to_byte(s: &str, n: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += c.len_utf16();
        if used > n {
            return i;
        }
    }
    s.len()
}

/// Pick the cut in `rest`, which is longer than `budget` UTF-16 units: a byte index in
/// `1..=byte(budget)` at a character boundary.
fn find_cut(rest: &str, budget: usize, in_fence: bool) -> usize {
    let wend = unit_to_byte(rest, budget);
    let half = unit_to_byte(rest, budget / 2).max(1);
    let window_ok = |p: usize| p >= half && p <= wend;

    let mut para = None;
    let mut line = None;
    let mut sentence = None;
    let mut space = None;
    let mut prev: Option<char> = None;
    for (i, c) in rest.char_indices() {
        if i > wend {
            break;
        }
        if i > 0 {
            if c == '\n' {
                line = Some(i);
                if rest[i..].starts_with("\n\n") || rest[i..].starts_with("\n\r\n") {
                    para = Some(i);
                }
            }
            if c.is_whitespace() {
                space = Some(i);
                if matches!(prev, Some('.' | '!' | '?' | ':' | ';')) {
                    sentence = Some(i);
                }
            }
            if matches!(prev, Some('。' | '！' | '？' | '；' | '…')) {
                sentence = Some(i);
            }
        }
        prev = Some(c);
    }
    let order: [Option<usize>; 4] = if in_fence {
        // In code, a line break is worth more than any sentence.
        [para, line, space, None]
    } else {
        [para, line, sentence, space]
    };
    if let Some(p) = order.into_iter().flatten().find(|&p| window_ok(p)) {
        return p;
    }
    if let Some(p) = space.filter(|&p| p > 0) {
        return p;
    }
    hard_cut(rest, wend)
}

/// Move a hard cut at byte `at` back so it does not separate a character from the marks,
/// modifiers or joiners that belong to it.
fn hard_cut(rest: &str, at: usize) -> usize {
    let mut cut = at;
    while cut > 0 {
        let next = rest[cut..].chars().next();
        let before = rest[..cut].chars().next_back();
        let glued = next.is_some_and(is_extender) || before == Some('\u{200D}');
        if !glued {
            break;
        }
        cut -= before.map_or(1, char::len_utf8);
    }
    if cut == 0 {
        // One grapheme longer than the whole budget: cut it anyway, between characters.
        at.max(rest.chars().next().map_or(1, char::len_utf8))
    } else {
        cut
    }
}

/// Characters that extend the one before them into one visible symbol.
fn is_extender(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'   // combining diacritics
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{200D}'              // zero-width joiner
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{1F3FB}'..='\u{1F3FF}' // skin tones
        | '\u{E0020}'..='\u{E007F}' // tag sequences (flags of regions)
        | '\u{3099}'..='\u{309A}'   // kana voicing marks
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> usize {
        units(s)
    }

    fn assert_fits(parts: &[String], max: usize) {
        for p in parts {
            assert!(chars(p) <= max, "part of {} chars > {max}: {p:?}", chars(p));
            assert!(!p.trim().is_empty(), "empty part");
        }
    }

    /// The text with fence markers we added removed and whitespace normalised, to compare
    /// content.
    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_message("hello", 10), vec!["hello"]);
    }

    #[test]
    fn blank_text_gives_no_parts() {
        assert!(split_message("", 10).is_empty());
        assert!(split_message(" \n\n \t", 10).is_empty());
    }

    #[test]
    fn text_of_exactly_the_limit_is_one_part() {
        let t = "a".repeat(2000);
        assert_eq!(split_message(&t, 2000), vec![t.clone()]);
        let t = "é".repeat(4096);
        assert_eq!(split_message(&t, 4096).len(), 1);
    }

    #[test]
    fn one_char_over_the_limit_gives_two_parts() {
        let t = "a".repeat(2001);
        let parts = split_message(&t, 2000);
        assert_eq!(parts.len(), 2);
        assert_eq!(chars(&parts[0]), 2000);
        assert_eq!(parts[1], "a");
    }

    #[test]
    fn splits_at_paragraph_before_line() {
        let t = "first paragraph line one\nline two\n\nsecond paragraph here";
        let parts = split_message(t, 40);
        assert_eq!(
            parts,
            vec![
                "first paragraph line one\nline two",
                "second paragraph here"
            ]
        );
    }

    #[test]
    fn paragraph_exactly_at_limit_is_kept_whole() {
        let p1 = "x".repeat(30);
        let t = format!("{p1}\n\nnext");
        assert_eq!(split_message(&t, 30), vec![p1, "next".to_string()]);
    }

    #[test]
    fn splits_at_line_when_no_paragraph() {
        let t = "line one is here\nline two is here\nline three";
        let parts = split_message(t, 35);
        assert_eq!(
            parts,
            vec!["line one is here\nline two is here", "line three"]
        );
    }

    #[test]
    fn splits_at_sentence_before_word() {
        let t = "This is one sentence. This is another sentence that goes on";
        let parts = split_message(t, 40);
        assert_eq!(parts[0], "This is one sentence.");
        assert_eq!(parts[1], "This is another sentence that goes on");
    }

    #[test]
    fn splits_at_word_boundary() {
        let t = "alpha beta gamma delta epsilon zeta eta theta";
        let parts = split_message(t, 20);
        assert_fits(&parts, 20);
        assert_eq!(words(&parts.join(" ")), words(t));
        for p in &parts {
            assert!(!p.starts_with(' ') && !p.ends_with(' '));
        }
    }

    #[test]
    fn long_word_is_hard_cut() {
        let url = format!("https://example.com/{}", "a".repeat(100));
        let parts = split_message(&url, 30);
        assert_fits(&parts, 30);
        assert_eq!(parts.concat(), url);
    }

    #[test]
    fn long_url_after_text_starts_a_new_part() {
        let url = format!("https://example.com/{}", "b".repeat(20));
        let t = format!("see {url}");
        let parts = split_message(&t, 42);
        assert_eq!(parts, vec!["see".to_string(), url]);
    }

    #[test]
    fn cjk_text_is_cut_by_chars_not_bytes() {
        let t = "你好世界".repeat(30); // 120 chars, 360 bytes
        let parts = split_message(&t, 50);
        assert_fits(&parts, 50);
        assert_eq!(parts.concat(), t);
        assert_eq!(chars(&parts[0]), 50);
    }

    #[test]
    fn cjk_prefers_sentence_end() {
        let t = format!("{}。{}", "你".repeat(30), "好".repeat(30));
        let parts = split_message(&t, 40);
        assert_eq!(parts[0], format!("{}。", "你".repeat(30)));
        assert_eq!(parts[1], "好".repeat(30));
    }

    #[test]
    fn emoji_are_never_split() {
        // Each of these emoji is 2 UTF-16 units, as Telegram and Discord count them.
        let t = "😀".repeat(25);
        let parts = split_message(&t, 10);
        assert_fits(&parts, 10);
        assert_eq!(parts.concat(), t);
        assert_eq!(parts.len(), 5);
        assert!(parts.iter().all(|p| p.chars().count() == 5), "{parts:?}");
        // An odd limit cannot hold half an emoji.
        let parts = split_message(&t, 11);
        assert_fits(&parts, 11);
        assert_eq!(parts.concat(), t);
    }

    #[test]
    fn limits_count_utf16_units_like_the_platforms() {
        assert_eq!(units("abc"), 3);
        assert_eq!(units("你好"), 2);
        assert_eq!(units("😀"), 2);
        // 4096 emoji are 8192 units: Telegram would refuse them as one message.
        let t = "😀".repeat(4096);
        let parts = split_message(&t, 4096);
        assert_eq!(parts.len(), 2);
        assert_fits(&parts, 4096);
    }

    #[test]
    fn emoji_modifiers_stay_with_their_emoji() {
        // thumbs up + skin tone, repeated: 2 chars each
        let t = "👍🏽".repeat(10);
        let parts = split_message(&t, 5);
        assert_fits(&parts, 5);
        for p in &parts {
            assert!(!p.starts_with('\u{1F3FD}'), "modifier separated: {p:?}");
        }
        assert_eq!(parts.concat(), t);
    }

    #[test]
    fn zwj_sequences_are_not_cut_after_the_joiner() {
        let family = "👨\u{200D}👩\u{200D}👧"; // 8 UTF-16 units
        let t = family.repeat(6);
        let parts = split_message(&t, 9);
        for p in &parts {
            assert!(!p.ends_with('\u{200D}'));
        }
        assert_eq!(parts.concat(), t);
    }

    #[test]
    fn split_code_fence_is_closed_and_reopened_with_its_language() {
        let code: String = (0..30).map(|i| format!("let x{i} = {i};\n")).collect();
        let t = format!("Here is code:\n\n```rust\n{code}```\n\nDone.");
        let max = 120;
        let parts = split_message(&t, max);
        assert_fits(&parts, max);
        assert!(parts.len() >= 3);
        for p in &parts {
            let fences = p
                .lines()
                .filter(|l| l.trim_start().starts_with("```"))
                .count();
            assert_eq!(fences % 2, 0, "unbalanced fences in {p:?}");
        }
        for p in &parts[1..parts.len() - 1] {
            assert!(p.starts_with("```rust\n"), "not reopened: {p:?}");
            assert!(p.ends_with("\n```"), "not closed: {p:?}");
        }
        // every code line survives
        let all = parts.join("\n");
        for i in 0..30 {
            assert!(all.contains(&format!("let x{i} = {i};")));
        }
        assert!(parts.last().unwrap().ends_with("Done."));
    }

    #[test]
    fn fence_markers_count_against_the_limit_at_exact_sizes() {
        let code = "abcdefghi\n".repeat(40);
        let t = format!("```python\n{code}```");
        for max in [20, 25, 33, 40, 64, 100] {
            let parts = split_message(&t, max);
            assert_fits(&parts, max);
            let joined = parts.join("\n");
            assert_eq!(joined.matches("abcdefghi").count(), 40, "max {max}");
        }
    }

    #[test]
    fn fence_is_not_left_empty_at_the_end_of_a_part() {
        let t = format!(
            "{}\n```js\nconsole.log(1)\n```",
            "word ".repeat(8).trim_end()
        );
        let parts = split_message(&t, 50);
        assert_fits(&parts, 50);
        for p in &parts {
            assert!(!p.ends_with("```js\n```") && !p.ends_with("```js"), "{p:?}");
        }
    }

    #[test]
    fn closing_fence_right_after_a_cut_is_not_reopened_empty() {
        let t = format!("```\n{}\n```\nafter", "c".repeat(20));
        let parts = split_message(&t, 28);
        assert_fits(&parts, 28);
        for p in &parts {
            assert_ne!(p.trim(), "```\n```");
            assert!(!p.contains("```\n```"), "{p:?}");
        }
        assert!(parts.last().unwrap().ends_with("after"));
    }

    #[test]
    fn code_indentation_survives_a_cut() {
        let code = "    indented line\n".repeat(10);
        let t = format!("```\n{code}```");
        let parts = split_message(&t, 60);
        for p in &parts[1..] {
            assert!(p.starts_with("```\n    indented"), "{p:?}");
        }
    }

    #[test]
    fn trailing_whitespace_is_trimmed_from_parts() {
        let t = "one two   \n\n   three four    ";
        for p in split_message(t, 10) {
            assert_eq!(p.trim_end(), p);
        }
    }

    #[test]
    fn tiny_limits_still_make_progress() {
        let t = "```rust\nfn main() {}\n```";
        for max in 0..12 {
            let parts = split_message(t, max);
            assert_fits(&parts, max.max(1));
        }
    }

    #[test]
    fn every_limit_keeps_all_content_of_prose() {
        let t = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Sed do eiusmod tempor.\n\nUt enim ad minim veniam, quis nostrud exercitation ullamco laboris.\nNisi ut aliquip ex ea commodo consequat. 日本語のテキストも含む。Ещё немного текста.";
        for max in 5..200 {
            let parts = split_message(t, max);
            assert_fits(&parts, max);
            let joined: String = parts
                .concat()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let orig: String = t.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(joined, orig, "max {max}");
        }
    }
}
