//! Conversations and their context windows.
//!
//! A [`Conversation`] holds the live turns of one [`ChannelKey`] (the bot keeps one per loaded
//! channel). [`ContextWindow::build`] turns the system prompt and the turns into the message
//! list the engine sees:
//!
//! - the system prompt is always kept; the newest turns are kept; the budget is
//!   `context_len - max_tokens`, measured in the engine's tokens (`count_tokens` plus
//!   `message_overhead` per message);
//! - in groups each user turn carries its speaker's name (`Alice: …`), and consecutive turns of
//!   one role are merged into one message (templates expect user and assistant to alternate);
//! - when turns must go, the window drops the oldest ones down to three quarters of the budget
//!   and then keeps that start for the following turns: the message list stays the same from one
//!   turn to the next, so the engine's per-conversation KV cache (keyed by the channel key's
//!   text) is reused instead of being recomputed after every shift.

use crate::engine::{ChatMessage, Engine, Role};
use crate::seam::ChannelKey;

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// User or assistant.
    pub role: Role,
    /// Platform user id of the speaker (the bot's own answers use `"bot"`).
    pub author_id: String,
    /// Display name of the speaker.
    pub author_name: String,
    /// What was said.
    pub text: String,
    /// Unix time in seconds.
    pub at: i64,
    /// Whether it was said to the bot (false: group context kept with `bot.keep_group_context`).
    pub addressed: bool,
    /// An answer cut short by `/cancel` or an error.
    pub partial: bool,
}

impl Turn {
    /// A user turn addressed to the bot.
    pub fn user(author_id: &str, author_name: &str, text: &str, at: i64) -> Self {
        Self {
            role: Role::User,
            author_id: author_id.into(),
            author_name: author_name.into(),
            text: text.into(),
            at,
            addressed: true,
            partial: false,
        }
    }

    /// An answer of the bot.
    pub fn assistant(text: &str, at: i64, partial: bool) -> Self {
        Self {
            role: Role::Assistant,
            author_id: "bot".into(),
            author_name: String::new(),
            text: text.into(),
            at,
            addressed: true,
            partial,
        }
    }
}

/// The prompt for one answer, and what it cost to build.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextWindow {
    /// System prompt first, then the kept turns as messages.
    pub messages: Vec<ChatMessage>,
    /// Tokens the messages take, overhead included.
    pub tokens: usize,
    /// Tokens available for the prompt: `context_len - max_tokens`.
    pub budget: usize,
    /// Turns in the window.
    pub turns: usize,
    /// Turns of the conversation left out (too old for the budget, or group context beyond
    /// `group_context_turns`).
    pub dropped: usize,
    /// Index of the first turn considered (to keep the start stable next time).
    pub start: usize,
}

/// How to build a window.
#[derive(Debug, Clone, Copy)]
pub struct WindowSpec<'a> {
    /// The system prompt.
    pub system: &'a str,
    /// Group chat: prefix user turns with the speaker's name.
    pub group: bool,
    /// Tokens reserved for the answer.
    pub max_tokens: usize,
    /// Most unaddressed group turns to include.
    pub group_context_turns: usize,
    /// Start at this turn index at the earliest (the previous window's start).
    pub start: usize,
}

fn render_turn(turn: &Turn, group: bool) -> String {
    if group && turn.role == Role::User && !turn.author_name.is_empty() {
        format!("{}: {}", turn.author_name, turn.text)
    } else {
        turn.text.clone()
    }
}

/// Turns grouped into messages: consecutive turns of one role become one message.
fn merge(turns: &[(usize, &Turn)], group: bool) -> Vec<(Role, String, usize)> {
    let mut out: Vec<(Role, String, usize)> = Vec::new();
    for (_, t) in turns {
        let text = render_turn(t, group);
        match out.last_mut() {
            Some((role, content, n)) if *role == t.role => {
                content.push_str(if t.role == Role::User { "\n" } else { "\n\n" });
                content.push_str(&text);
                *n += 1;
            }
            _ => out.push((t.role, text, 1)),
        }
    }
    out
}

impl ContextWindow {
    /// Build the window for `turns` (oldest first) by `spec`, measured with `engine`.
    pub fn build(engine: &dyn Engine, turns: &[Turn], spec: WindowSpec<'_>) -> ContextWindow {
        let budget = engine.context_len().saturating_sub(spec.max_tokens);
        let overhead = engine.message_overhead();
        let cost = |text: &str| engine.count_tokens(text) + overhead;
        let system_tokens = cost(spec.system);

        // Unaddressed group turns beyond the newest `group_context_turns` never count.
        let mut unaddressed_left = spec.group_context_turns;
        let mut eligible: Vec<(usize, &Turn)> = Vec::with_capacity(turns.len());
        for (i, t) in turns.iter().enumerate().rev() {
            if !t.addressed {
                if unaddressed_left == 0 {
                    continue;
                }
                unaddressed_left -= 1;
            }
            eligible.push((i, t));
        }
        eligible.reverse();

        let measure = |from: usize| -> (Vec<(Role, String, usize)>, usize) {
            let slice: Vec<(usize, &Turn)> = eligible
                .iter()
                .copied()
                .filter(|(i, _)| *i >= from)
                .collect();
            let msgs = merge(&slice, spec.group);
            let tokens = system_tokens + msgs.iter().map(|(_, c, _)| cost(c)).sum::<usize>();
            (msgs, tokens)
        };

        let mut start = spec.start.min(turns.len());
        let (mut msgs, mut tokens) = measure(start);
        if tokens > budget {
            // Drop to three quarters of the budget so the next turns keep this start.
            let target = budget - budget / 4;
            let starts: Vec<usize> = eligible
                .iter()
                .map(|(i, _)| *i)
                .filter(|i| *i > start)
                .collect();
            for s in starts {
                start = s;
                (msgs, tokens) = measure(start);
                if tokens <= target {
                    break;
                }
            }
        }
        // Templates expect the first message after the system prompt to be the user's.
        while msgs.len() > 1 && msgs[0].0 == Role::Assistant {
            let (_, c, n) = msgs.remove(0);
            tokens -= cost(&c);
            start = eligible
                .iter()
                .map(|(i, _)| *i)
                .filter(|i| *i >= start)
                .nth(n)
                .unwrap_or(start);
        }
        let in_window: usize = msgs.iter().map(|(_, _, n)| n).sum();
        let mut messages = Vec::with_capacity(msgs.len() + 1);
        messages.push(ChatMessage::new(Role::System, spec.system));
        messages.extend(msgs.into_iter().map(|(r, c, _)| ChatMessage::new(r, c)));
        ContextWindow {
            messages,
            tokens,
            budget,
            turns: in_window,
            dropped: turns.len() - in_window,
            start,
        }
    }
}

/// The live state of one channel.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// Turns since the last `/reset`, oldest first (bounded by what was loaded plus new ones).
    pub turns: Vec<Turn>,
    /// The system prompt, rendered once when the conversation starts or resets (so the date in
    /// it does not change mid-conversation and the engine's cache stays valid).
    pub system: Option<String>,
    /// First turn index of the previous window.
    pub window_start: usize,
    /// The last window's numbers, for `/stats`.
    pub last_window: Option<WindowStats>,
    /// Bumped by every reset, so an answer that was running across a reset is not stored
    /// into the new conversation.
    pub epoch: u64,
}

/// Numbers about the last answer of a channel, for `/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowStats {
    /// Turns in the window.
    pub turns: usize,
    /// Tokens in the window.
    pub tokens: usize,
    /// The window's budget.
    pub budget: usize,
    /// Turns left out.
    pub dropped: usize,
    /// Prompt tokens served from the conversation's own cache.
    pub cached_tokens: usize,
    /// Prompt tokens copied from another chat's cache (the shared persona start).
    pub shared_tokens: usize,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Decoding speed in tokens per second.
    pub tokens_per_second: f64,
}

impl Conversation {
    /// Forget the turns and the rendered system prompt (after `/reset`).
    pub fn reset(&mut self) {
        let epoch = self.epoch + 1;
        *self = Conversation {
            epoch,
            ..Conversation::default()
        };
    }

    /// Turns to keep in memory at most; older ones are left to the store.
    pub const MAX_LIVE_TURNS: usize = 400;

    /// Append a turn, bounding memory.
    pub fn push(&mut self, turn: Turn) {
        self.turns.push(turn);
        if self.turns.len() > Self::MAX_LIVE_TURNS {
            let excess = self.turns.len() - Self::MAX_LIVE_TURNS;
            self.turns.drain(..excess);
            self.window_start = self.window_start.saturating_sub(excess);
        }
    }
}

/// The longest start of `text` that takes at most `max_tokens` of `engine`'s tokens, cut at
/// a line end (else a word end) when one is near; `None` when the whole text fits. For the
/// parts of a turn that give way when space is short: a quoted message, an attached file.
pub fn start_within_tokens(engine: &dyn Engine, text: &str, max_tokens: usize) -> Option<String> {
    if engine.count_tokens(text) <= max_tokens {
        return None;
    }
    // The longest fitting prefix, by binary search over char boundaries.
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    // `k` chars fit when `text[..bounds[k]]` does; the whole text (every char) does not.
    let (mut lo, mut hi) = (0usize, bounds.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if engine.count_tokens(&text[..bounds[mid]]) <= max_tokens {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let cut = &text[..bounds.get(lo).copied().unwrap_or(0)];
    // Prefer a clean end within the last fifth of what fits.
    let near = cut.len() - cut.len() / 5;
    let end = cut
        .rfind('\n')
        .filter(|&i| i >= near)
        .or_else(|| cut.rfind(char::is_whitespace).filter(|&i| i >= near))
        .unwrap_or(cut.len());
    Some(cut[..end].trim_end().to_string())
}

/// The conversation id the engine sees for a channel: its key's text (`telegram:42:7`).
pub fn conversation_id(key: &ChannelKey) -> String {
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scripted::ScriptedEngine;

    fn spec(system: &str, group: bool, max_tokens: usize) -> WindowSpec<'_> {
        WindowSpec {
            system,
            group,
            max_tokens,
            group_context_turns: 20,
            start: 0,
        }
    }

    fn chat(n: usize) -> Vec<Turn> {
        (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    Turn::user(
                        "u",
                        "Alice",
                        &format!("question {i} with some words"),
                        i as i64,
                    )
                } else {
                    Turn::assistant(&format!("answer {i} with some words"), i as i64, false)
                }
            })
            .collect()
    }

    #[test]
    fn a_long_text_keeps_the_start_that_fits_the_tokens() {
        let e = ScriptedEngine::new();
        assert_eq!(start_within_tokens(&e, "short text", 10), None);
        let text: String = (0..100)
            .map(|i| format!("line {i} of the file\n"))
            .collect();
        let start = start_within_tokens(&e, &text, 50).unwrap();
        assert!(e.count_tokens(&start) <= 50);
        assert!(e.count_tokens(&start) >= 40, "{start}");
        assert!(text.starts_with(&start));
        assert!(
            start.ends_with("of the file"),
            "cut at a line end: {start:?}"
        );
        let cjk = "漢字".repeat(200);
        let start = start_within_tokens(&e, &cjk, 10).unwrap();
        assert!(e.count_tokens(&start) <= 10 && !start.is_empty());
        assert_eq!(start_within_tokens(&e, "word", 0), Some(String::new()));
    }

    #[test]
    fn small_chat_fits_whole() {
        let e = ScriptedEngine::new();
        let w = ContextWindow::build(&e, &chat(4), spec("be nice", false, 100));
        assert_eq!(w.messages.len(), 5);
        assert_eq!(w.messages[0].role, Role::System);
        assert_eq!(w.messages[1].content, "question 0 with some words");
        assert_eq!(w.dropped, 0);
        assert_eq!(w.budget, 2048 - 100);
    }

    #[test]
    fn group_turns_carry_names_and_merge() {
        let e = ScriptedEngine::new();
        let mut turns = vec![
            Turn::user("1", "Alice", "hi", 0),
            Turn::user("2", "Bob", "yo", 1),
        ];
        turns[0].addressed = false;
        let w = ContextWindow::build(&e, &turns, spec("s", true, 100));
        assert_eq!(w.messages[1].content, "Alice: hi\nBob: yo");
        assert_eq!(w.turns, 2);
        let w = ContextWindow::build(
            &e,
            &turns,
            WindowSpec {
                group_context_turns: 0,
                ..spec("s", true, 100)
            },
        );
        assert_eq!(w.messages[1].content, "Bob: yo");
        assert_eq!(w.dropped, 1);
    }

    #[test]
    fn budget_drops_oldest_keeps_system_and_newest_and_stays_stable() {
        let e = ScriptedEngine::new().with_context_len(200);
        let turns = chat(40);
        let w = ContextWindow::build(&e, &turns, spec("system prompt", false, 50));
        assert!(w.tokens <= w.budget, "{} > {}", w.tokens, w.budget);
        assert!(w.dropped > 0);
        assert_eq!(w.messages[0].content, "system prompt");
        assert_eq!(w.messages[1].role, Role::User);
        assert_eq!(
            w.messages.last().unwrap().content,
            "answer 39 with some words"
        );
        // Next turn from the same start: the earlier messages are unchanged (cache reuse).
        let mut more = turns.clone();
        more.push(Turn::user("u", "Alice", "next", 40));
        let w2 = ContextWindow::build(
            &e,
            &more,
            WindowSpec {
                start: w.start,
                ..spec("system prompt", false, 50)
            },
        );
        assert_eq!(w2.messages[..w.messages.len()], w.messages[..]);
    }
}
