//! Text shaping for Telegram: lengths in UTF-16 code units (what the Bot API counts), splitting
//! and truncating at character boundaries, and the HTML rendering of the optional parse mode.

/// Length in UTF-16 code units: an emoji outside the BMP counts two.
pub fn utf16_len(text: &str) -> usize {
    parley_core::render::units(text)
}

/// The longest prefix of `text` of at most `max` UTF-16 units, as a byte index.
fn prefix_end(text: &str, max: usize) -> usize {
    parley_core::render::unit_to_byte(text, max)
}

/// `text` cut to `max` UTF-16 units at a character boundary; `None` when it already fits.
pub fn truncate_utf16(text: &str, max: usize) -> Option<&str> {
    let end = prefix_end(text, max);
    (end < text.len()).then(|| &text[..end])
}

/// Split `text` into parts of at most `max` UTF-16 units, never inside a character; cuts after a
/// newline, else after a space, when one lies in the second half of the part. Whitespace-only
/// parts are dropped (Telegram rejects empty messages); at least one part is returned.
pub fn split_message(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(2);
    let mut parts = Vec::new();
    let mut rest = text;
    while utf16_len(rest) > max {
        let hard = prefix_end(rest, max);
        let window = &rest[..hard];
        let soft = window
            .rfind('\n')
            .or_else(|| window.rfind(' '))
            .filter(|&p| p >= hard / 2)
            .map(|p| p + 1);
        let mut cut = soft.unwrap_or(hard);
        if cut == 0 {
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts.push(rest);
    let kept: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|p| !p.trim().is_empty())
        .collect();
    if kept.is_empty() {
        vec![text]
    } else {
        kept
    }
}

/// Escape for Telegram's HTML parse mode (`&`, `<`, `>`).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Render model output (loosely Markdown) as Telegram HTML: everything escaped, ```` ``` ````
/// fences become `<pre>` (an unclosed fence runs to the end, as it does while streaming) and
/// `` `spans` `` become `<code>`.
pub fn render_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for (i, segment) in text.split("```").enumerate() {
        if i % 2 == 1 {
            // Drop a language tag on the fence line ("```rust\n").
            let body = match segment.split_once('\n') {
                Some((first, body))
                    if !first.is_empty()
                        && first
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-_#.".contains(c)) =>
                {
                    body
                }
                _ => segment.strip_prefix('\n').unwrap_or(segment),
            };
            out.push_str("<pre>");
            out.push_str(&escape_html(body));
            out.push_str("</pre>");
        } else {
            render_inline_code(segment, &mut out);
        }
    }
    out
}

fn render_inline_code(text: &str, out: &mut String) {
    let pieces: Vec<&str> = text.split('`').collect();
    // With an odd number of backticks the last one has no partner: keep it literally.
    let paired = if pieces.len().is_multiple_of(2) {
        pieces.len() - 1
    } else {
        pieces.len()
    };
    for (i, piece) in pieces.iter().enumerate() {
        if i >= paired {
            out.push('`');
            out.push_str(&escape_html(piece));
        } else if i % 2 == 1 && !piece.is_empty() {
            out.push_str("<code>");
            out.push_str(&escape_html(piece));
            out.push_str("</code>");
        } else if i % 2 == 1 {
            out.push_str("``");
        } else {
            out.push_str(&escape_html(piece));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_the_limit_and_char_boundaries() {
        let text = "é".repeat(5000);
        let parts = split_message(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| utf16_len(p) <= 4096));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn split_counts_astral_emoji_as_two_units() {
        let text = "😀".repeat(3000); // 6000 UTF-16 units
        let parts = split_message(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert_eq!(utf16_len(parts[0]), 4096);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn split_prefers_newlines_then_spaces() {
        let text = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        let parts = split_message(&text, 4096);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(3000)));
        assert_eq!(parts[1], "b".repeat(3000));
        let words = "word ".repeat(1000);
        let parts = split_message(&words, 4096);
        assert!(parts[0].ends_with(' '));
        assert_eq!(parts.concat(), words);
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_message("hi", 4096), vec!["hi"]);
        assert_eq!(split_message("", 4096), vec![""]);
    }

    #[test]
    fn truncate_cases() {
        assert_eq!(truncate_utf16("abc", 5), None);
        assert_eq!(truncate_utf16("abcdef", 3), Some("abc"));
        assert_eq!(truncate_utf16("a😀b", 2), Some("a"));
    }

    #[test]
    fn html_escapes_and_renders_code() {
        assert_eq!(
            render_html("a < b && c > d"),
            "a &lt; b &amp;&amp; c &gt; d"
        );
        assert_eq!(render_html("use `x<y`"), "use <code>x&lt;y</code>");
        assert_eq!(
            render_html("```rust\nfn main() {}\n```"),
            "<pre>fn main() {}\n</pre>"
        );
        assert_eq!(render_html("```\nopen"), "<pre>open</pre>");
        assert_eq!(render_html("odd ` tick"), "odd ` tick");
        assert_eq!(render_html("<b>bold</b>"), "&lt;b&gt;bold&lt;/b&gt;");
    }
}
