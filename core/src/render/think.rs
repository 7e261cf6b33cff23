//! Hiding the `<think>…</think>` blocks of reasoning models, whole ([`strip_thinking`]) or
//! as they stream.

const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";

/// Remove `<think>…</think>` blocks (the reasoning of models such as DeepSeek-R1 and Qwen3).
///
/// An unclosed `<think>` hides everything after it (the model is still thinking while it
/// streams). A `</think>` with no opening tag hides everything before it (templates that open
/// the block inside the prompt). Whitespace left at the start is dropped. Tags match exactly
/// (lowercase), as the models emit them.
pub fn strip_thinking(text: &str) -> String {
    let text = match (text.find(THINK_CLOSE), text.find(THINK_OPEN)) {
        (Some(close), open) if open.is_none_or(|o| o > close) => &text[close + THINK_CLOSE.len()..],
        _ => text,
    };
    let mut filter = ThinkFilter::default();
    let mut out = filter.push(text);
    out.push_str(&filter.finish());
    out
}

/// Streaming `<think>` remover: fed deltas, returns only text that will stay visible.
#[derive(Debug, Default, Clone)]
pub(super) struct ThinkFilter {
    /// Inside a think block.
    thinking: bool,
    /// Held back: a possible start of a tag.
    pending: String,
    /// Visible text was emitted already (until then leading whitespace is dropped).
    started: bool,
}

impl ThinkFilter {
    /// Feed a delta; returns the newly visible text.
    pub(super) fn push(&mut self, delta: &str) -> String {
        let mut buf = std::mem::take(&mut self.pending);
        buf.push_str(delta);
        let mut out = String::new();
        let mut rest = buf.as_str();
        loop {
            let tag = if self.thinking {
                THINK_CLOSE
            } else {
                THINK_OPEN
            };
            if let Some(at) = rest.find(tag) {
                if !self.thinking {
                    out.push_str(&rest[..at]);
                }
                self.thinking = !self.thinking;
                rest = &rest[at + tag.len()..];
                continue;
            }
            // Hold back a suffix that may be the start of the tag.
            let keep = (1..tag.len())
                .rev()
                .find(|&n| {
                    rest.len() >= n
                        && rest.is_char_boundary(rest.len() - n)
                        && tag.starts_with(&rest[rest.len() - n..])
                })
                .unwrap_or(0);
            if !self.thinking {
                out.push_str(&rest[..rest.len() - keep]);
            }
            self.pending = rest[rest.len() - keep..].to_string();
            break;
        }
        self.visible(out)
    }

    /// End of stream: a held-back partial tag that never completed is text after all.
    pub(super) fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        if self.thinking {
            String::new()
        } else {
            self.visible(rest)
        }
    }

    fn visible(&mut self, out: String) -> String {
        if self.started {
            return out;
        }
        let trimmed = out.trim_start();
        if trimmed.is_empty() {
            return String::new();
        }
        self.started = true;
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn think_blocks_are_removed() {
        assert_eq!(
            strip_thinking("<think>hmm, let me see</think>\n\nThe answer is 4."),
            "The answer is 4."
        );
        assert_eq!(strip_thinking("a<think>x</think>b<think>y</think>c"), "abc");
    }

    #[test]
    fn unclosed_think_hides_the_rest() {
        assert_eq!(strip_thinking("Sure. <think>still going"), "Sure. ");
        assert_eq!(strip_thinking("<think>only thoughts"), "");
    }

    #[test]
    fn orphan_close_tag_hides_what_came_before() {
        assert_eq!(strip_thinking("reasoning here</think>Answer"), "Answer");
    }

    #[test]
    fn text_without_think_is_unchanged() {
        assert_eq!(
            strip_thinking("a < b and <thinking> is a word"),
            "a < b and <thinking> is a word"
        );
    }

    #[test]
    fn think_filter_handles_tags_split_across_deltas() {
        let mut f = ThinkFilter::default();
        let mut out = String::new();
        for d in ["Hi <th", "ink>sec", "ret</th", "ink> there <", "b"] {
            out.push_str(&f.push(d));
        }
        out.push_str(&f.finish());
        assert_eq!(out, "Hi  there <b");
    }
}
