//! The HTML rendering of Telegram's optional parse mode. (Lengths, splitting and cutting are the
//! core's, in [`parley_core::outbound`].)

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
