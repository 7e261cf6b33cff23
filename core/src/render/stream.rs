//! [`StreamRenderer`]: a stream of text deltas → the sends and edits that show the answer
//! growing.

use std::time::{Duration, Instant};

use crate::seam::PlatformLimits;

use super::mentions::{neutralize_mentions, unfinished_mention_tail};
use super::split::{split_pieces, units, Piece};
use super::think::ThinkFilter;

/// One thing to do on the platform while an answer streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a new message: part `part` (0-based) of the answer.
    Send {
        /// Index of the part; the caller keeps the sent message's reference under it.
        part: usize,
        /// Its text.
        text: String,
    },
    /// Replace the text of an already sent part.
    Edit {
        /// Index of the part.
        part: usize,
        /// Its new text.
        text: String,
    },
    /// Print more text after what is already shown (platforms without edits: the console).
    Append(String),
}

/// Decides how a streamed answer appears on a platform.
///
/// Feed it the model's deltas with [`StreamRenderer::push`] and the current time; it answers
/// with [`Action`]s. With edits (`supports_edit`): the first visible text is sent at once; after
/// that the shown messages are brought up to date at most once per `edit_interval` (call
/// [`StreamRenderer::tick`] at [`StreamRenderer::next_due`] so a pause in the stream still
/// shows the latest text). When the text outgrows a message, that part is completed (cut by the
/// rules of [`split_message`](super::split_message)) and never changes again; the rest continues in a new message.
/// The parts end up exactly as [`split_message`](super::split_message) would cut the whole visible text.
/// [`StreamRenderer::finish`] returns whatever makes every message show its final text exactly,
/// ignoring the interval. Without edits (the console), every push returns one
/// [`Action::Append`] with the newly visible text and nothing is split.
///
/// Visible text has `<think>` blocks removed (unless [`StreamRenderer::keep_thinking`]) and
/// mentions neutralised with [`neutralize_mentions`]; a possible tag or mention at the end is
/// held back until it is complete, so what was shown never has to change.
#[derive(Debug, Clone)]
pub struct StreamRenderer {
    limits: PlatformLimits,
    strip_think: bool,
    think: ThinkFilter,
    /// Think-filtered text (not yet neutralised).
    clean: String,
    /// Neutralised text, append-only: everything shown comes from here.
    visible: String,
    /// Parts that are complete.
    frozen: Vec<String>,
    /// Bytes of `visible` the frozen parts consumed.
    frozen_upto: usize,
    /// The fence open after the frozen parts.
    frozen_fence: Option<String>,
    /// What each sent message shows now (`None`: unknown after a failed edit).
    shown: Vec<Option<String>>,
    /// Bytes of `visible` already appended (platforms without edits).
    appended: usize,
    last_update: Option<Instant>,
    not_before: Option<Instant>,
    finished: bool,
}

impl StreamRenderer {
    /// A renderer for a platform with `limits`; `<think>` blocks are stripped.
    pub fn new(limits: PlatformLimits) -> Self {
        Self {
            limits,
            strip_think: true,
            think: ThinkFilter::default(),
            clean: String::new(),
            visible: String::new(),
            frozen: Vec::new(),
            frozen_upto: 0,
            frozen_fence: None,
            shown: Vec::new(),
            appended: 0,
            last_update: None,
            not_before: None,
            finished: false,
        }
    }

    /// Show `<think>` blocks instead of stripping them.
    pub fn keep_thinking(mut self) -> Self {
        self.strip_think = false;
        self
    }

    /// The visible answer so far (thinking stripped, mentions neutralised).
    pub fn text(&self) -> &str {
        &self.visible
    }

    /// Feed one delta of the model's output at time `now`.
    pub fn push(&mut self, delta: &str, now: Instant) -> Vec<Action> {
        if self.finished {
            return Vec::new();
        }
        let new = if self.strip_think {
            self.think.push(delta)
        } else {
            delta.to_string()
        };
        self.clean.push_str(&new);
        self.refresh_visible(false);
        self.update(now, false)
    }

    /// Called when no delta arrived: sends what an earlier push had to hold back for the
    /// interval, if the interval has now passed.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        if self.finished {
            return Vec::new();
        }
        self.update(now, false)
    }

    /// The stream ended: the actions that make every message show its final text.
    ///
    /// Ignores the edit interval and any back-off (the outbox honours retry-after itself).
    /// An answer with no visible text yields no action; the caller decides what to say then.
    pub fn finish(&mut self, now: Instant) -> Vec<Action> {
        if self.finished {
            return Vec::new();
        }
        if self.strip_think {
            let rest = self.think.finish();
            self.clean.push_str(&rest);
        }
        self.refresh_visible(true);
        let actions = self.update(now, true);
        self.finished = true;
        actions
    }

    /// When a held-back update may be sent (call [`StreamRenderer::tick`] then), if one is
    /// waiting.
    pub fn next_due(&self) -> Option<Instant> {
        if self.finished || !self.limits.supports_edit || !self.has_changes() {
            return None;
        }
        let by_interval = self.last_update.map(|t| t + self.limits.edit_interval);
        match (by_interval, self.not_before) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The platform asked to wait (a 429's retry-after): no update before `until`.
    pub fn back_off(&mut self, until: Instant) {
        self.not_before = Some(self.not_before.map_or(until, |t| t.max(until)));
    }

    /// An action failed for good: forget that it happened, so a later update retries it.
    pub fn failed(&mut self, action: &Action) {
        match action {
            Action::Send { part, .. } => self.shown.truncate(*part),
            Action::Edit { part, .. } => {
                if let Some(s) = self.shown.get_mut(*part) {
                    *s = None;
                }
            }
            Action::Append(text) => self.appended = self.appended.saturating_sub(text.len()),
        }
    }

    /// Recompute the neutralised visible text from the clean text, holding back an unfinished
    /// mention unless the stream is over.
    fn refresh_visible(&mut self, last: bool) {
        let markup = self.limits.markup;
        let hold = if last {
            0
        } else {
            unfinished_mention_tail(&self.clean, markup)
        };
        let ready = &self.clean[..self.clean.len() - hold];
        let visible = neutralize_mentions(ready, markup);
        // Neutralising a prefix that ends outside any mention gives a prefix of the whole.
        debug_assert!(visible.starts_with(&self.visible));
        if visible.len() >= self.visible.len() {
            self.visible = visible;
        }
    }

    /// Split the text after the frozen parts into the pieces that are now complete (to
    /// freeze) and the parts to show after them.
    ///
    /// A piece is complete once the text runs at least two characters past its window (the
    /// look-ahead a cut needs): from then on more text cannot move its cut, so the parts
    /// streamed are exactly those [`split_message`] gives for the whole text. Until then only
    /// that piece is shown, and the next message waits.
    fn pending(&self, last: bool) -> (Vec<Piece>, Vec<String>) {
        let max = self.limits.max_message_chars.max(1);
        let mut start = self.frozen_upto;
        let pieces = split_pieces(&self.visible[start..], max, self.frozen_fence.clone());
        if last {
            return (pieces, Vec::new());
        }
        let count = pieces.len();
        let mut complete = Vec::new();
        let mut show = Vec::new();
        for (i, piece) in pieces.into_iter().enumerate() {
            let settled = i + 1 < count && units(self.visible[start..].trim_end()) >= max + 2;
            if !settled {
                show.push(piece.text);
                break;
            }
            start += piece.consumed;
            complete.push(piece);
        }
        (complete, show)
    }

    /// The parts every message should show now, freezing the ones that are complete.
    fn targets(&mut self, last: bool) -> Vec<String> {
        let (complete, show) = self.pending(last);
        for piece in complete {
            self.frozen_upto += piece.consumed;
            self.frozen_fence = piece.open_after;
            self.frozen.push(piece.text);
        }
        let mut all = self.frozen.clone();
        all.extend(show);
        all
    }

    fn has_changes(&self) -> bool {
        if !self.limits.supports_edit {
            return self.appended < self.visible.len();
        }
        let (complete, show) = self.pending(false);
        let all: Vec<&str> = self
            .frozen
            .iter()
            .map(String::as_str)
            .chain(complete.iter().map(|p| p.text.as_str()))
            .chain(show.iter().map(String::as_str))
            .collect();
        all.len() != self.shown.len()
            || all
                .iter()
                .zip(&self.shown)
                .any(|(want, shown)| shown.as_deref() != Some(*want))
    }

    fn update(&mut self, now: Instant, last: bool) -> Vec<Action> {
        if !self.limits.supports_edit {
            let new = self.visible[self.appended..].to_string();
            self.appended = self.visible.len();
            return if new.is_empty() {
                Vec::new()
            } else {
                vec![Action::Append(new)]
            };
        }
        let targets = self.targets(last);
        if !last {
            if self.not_before.is_some_and(|t| now < t) {
                return Vec::new();
            }
            let first = self.shown.is_empty();
            let interval_passed = self
                .last_update
                .is_none_or(|t| now.saturating_duration_since(t) >= self.limits.edit_interval);
            if !first && !interval_passed {
                return Vec::new();
            }
        }
        let mut actions = Vec::new();
        for (part, text) in targets.into_iter().enumerate() {
            if part >= self.shown.len() {
                self.shown.push(Some(text.clone()));
                actions.push(Action::Send { part, text });
            } else if self.shown[part].as_deref() != Some(text.as_str()) {
                self.shown[part] = Some(text.clone());
                actions.push(Action::Edit { part, text });
            }
        }
        if !actions.is_empty() {
            self.last_update = Some(now);
        }
        actions
    }
}

/// The default gap between edits when a platform does not say (Telegram allows about one edit
/// per second per chat).
pub const DEFAULT_EDIT_INTERVAL: Duration = Duration::from_millis(1000);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::split_message;
    use crate::seam::Markup;

    fn limits(max: usize, edit: bool) -> PlatformLimits {
        PlatformLimits {
            max_message_chars: max,
            edit_interval: Duration::from_millis(1000),
            markup: Markup::DiscordMarkdown,
            supports_edit: edit,
        }
    }

    /// Applies actions to a fake platform: message texts by part.
    #[derive(Default)]
    struct FakeChat {
        messages: Vec<String>,
        sends: usize,
        edits: usize,
    }

    impl FakeChat {
        fn apply(&mut self, actions: Vec<Action>) {
            for a in actions {
                match a {
                    Action::Send { part, text } => {
                        assert_eq!(part, self.messages.len(), "sends in order");
                        self.messages.push(text);
                        self.sends += 1;
                    }
                    Action::Edit { part, text } => {
                        assert_ne!(self.messages[part], text, "useless edit");
                        self.messages[part] = text;
                        self.edits += 1;
                    }
                    Action::Append(_) => panic!("append on an editing platform"),
                }
            }
        }
    }

    #[test]
    fn first_text_is_sent_immediately() {
        let t0 = Instant::now();
        let mut r = StreamRenderer::new(limits(100, true));
        let a = r.push("Hello", t0);
        assert_eq!(
            a,
            vec![Action::Send {
                part: 0,
                text: "Hello".into()
            }]
        );
    }

    #[test]
    fn whitespace_only_start_sends_nothing() {
        let t0 = Instant::now();
        let mut r = StreamRenderer::new(limits(100, true));
        assert!(r.push("\n  ", t0).is_empty());
        assert!(r.finish(t0).is_empty());
    }

    #[test]
    fn edits_wait_for_the_interval() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = StreamRenderer::new(limits(100, true));
        r.push("Hello", t0);
        assert!(r.push(" there", t0 + ms(300)).is_empty());
        assert_eq!(r.next_due(), Some(t0 + ms(1000)));
        assert!(r.tick(t0 + ms(999)).is_empty());
        assert_eq!(
            r.tick(t0 + ms(1000)),
            vec![Action::Edit {
                part: 0,
                text: "Hello there".into()
            }]
        );
        assert_eq!(r.next_due(), None);
        assert!(r.push("!", t0 + ms(1500)).is_empty());
        assert_eq!(
            r.push("!", t0 + ms(2000)),
            vec![Action::Edit {
                part: 0,
                text: "Hello there!!".into()
            }]
        );
    }

    #[test]
    fn finish_delivers_the_final_text_regardless_of_interval() {
        let t0 = Instant::now();
        let mut r = StreamRenderer::new(limits(100, true));
        r.push("Hello", t0);
        r.push(" world", t0 + Duration::from_millis(10));
        assert_eq!(
            r.finish(t0 + Duration::from_millis(20)),
            vec![Action::Edit {
                part: 0,
                text: "Hello world".into()
            }]
        );
        assert!(r.finish(t0).is_empty());
        assert!(r.push("more", t0).is_empty());
    }

    #[test]
    fn finish_with_nothing_new_yields_nothing() {
        let t0 = Instant::now();
        let mut r = StreamRenderer::new(limits(100, true));
        r.push("Done.", t0);
        assert!(r.finish(t0).is_empty());
    }

    #[test]
    fn overflowing_text_continues_in_a_new_message_and_old_parts_stay_fixed() {
        let max = 50;
        let text: String = (0..40).map(|i| format!("word{i} ")).collect::<String>()
            + "\n\n```py\n"
            + &"print(1)\n".repeat(12)
            + "```\nend.";
        let mut chat = FakeChat::default();
        let mut r = StreamRenderer::new(limits(max, true));
        let mut t = Instant::now();
        let mut completed: Vec<String> = Vec::new();
        for (i, c) in text.chars().enumerate() {
            t += Duration::from_millis(37);
            chat.apply(r.push(&c.to_string(), t));
            // every message except the last never changes once a later one exists
            if chat.messages.len() > 1 {
                for (k, m) in chat.messages[..chat.messages.len() - 1].iter().enumerate() {
                    if k < completed.len() {
                        assert_eq!(&completed[k], m, "part {k} changed at char {i}");
                    } else {
                        completed.push(m.clone());
                    }
                }
            }
        }
        chat.apply(r.finish(t));
        assert_eq!(
            chat.messages,
            split_message(&text, max),
            "final parts equal a plain split"
        );
        for m in &chat.messages {
            assert!(units(m) <= max);
        }
        // far fewer updates than characters
        assert!(chat.sends + chat.edits < text.chars().count() / 5);
    }

    /// Non-space characters outside fence marker lines.
    fn content(s: &str) -> String {
        s.lines()
            .filter(|l| !l.trim_start().starts_with("```"))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect()
    }

    #[test]
    fn final_parts_match_split_message_for_many_chunkings() {
        let text = "Short intro.\n\nA longer paragraph that will need splitting because it is quite long indeed, with ünïcödé and 中文字符 and emoji 🎉🎉.\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\nThe end.";
        for max in [30, 45, 64, 100, 500] {
            for chunk in [1, 3, 7, 50] {
                let chars_v: Vec<char> = text.chars().collect();
                let mut chat = FakeChat::default();
                let mut r = StreamRenderer::new(limits(max, true));
                let mut t = Instant::now();
                for c in chars_v.chunks(chunk) {
                    t += Duration::from_millis(200);
                    chat.apply(r.push(&c.iter().collect::<String>(), t));
                }
                chat.apply(r.finish(t));
                for m in &chat.messages {
                    assert!(units(m) <= max, "max {max} chunk {chunk}: {m:?}");
                }
                assert_eq!(
                    content(&chat.messages.join("\n")),
                    content(text),
                    "max {max} chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn think_blocks_never_reach_the_platform() {
        let t0 = Instant::now();
        let mut chat = FakeChat::default();
        let mut r = StreamRenderer::new(limits(100, true));
        for d in [
            "<thi",
            "nk>secret plan",
            "</think>",
            "\n\nThe answer",
            " is 4.",
        ] {
            chat.apply(r.push(d, t0));
            for m in &chat.messages {
                assert!(!m.contains("secret") && !m.contains("<th"), "{m:?}");
            }
        }
        chat.apply(r.finish(t0));
        assert_eq!(chat.messages, vec!["The answer is 4."]);
    }

    #[test]
    fn keep_thinking_shows_think_blocks() {
        let t0 = Instant::now();
        let mut r = StreamRenderer::new(limits(100, true)).keep_thinking();
        let a = r.push("<think>x</think>y", t0);
        assert_eq!(
            a,
            vec![Action::Send {
                part: 0,
                text: "<think>x</think>y".into()
            }]
        );
    }

    #[test]
    fn streamed_mentions_are_neutralized_even_when_split_across_deltas() {
        let t0 = Instant::now();
        let mut chat = FakeChat::default();
        let mut r = StreamRenderer::new(limits(100, true));
        let mut t = t0;
        for d in ["Hey @ever", "yone and <@", "12", "3> bye"] {
            t += Duration::from_secs(2);
            chat.apply(r.push(d, t));
            for m in &chat.messages {
                assert!(!m.contains("@everyone") && !m.contains("<@1"), "{m:?}");
            }
        }
        chat.apply(r.finish(t));
        assert_eq!(
            chat.messages,
            vec!["Hey @\u{200B}everyone and <\u{200B}@123> bye"]
        );
    }

    #[test]
    fn platforms_without_edits_get_appends_of_visible_text() {
        let t0 = Instant::now();
        let mut r = StreamRenderer::new(limits(10, false));
        let mut out = String::new();
        for d in [
            "<think>no</think>",
            "Hello",
            " @every",
            "one, this is longer than ten",
        ] {
            for a in r.push(d, t0) {
                match a {
                    Action::Append(s) => out.push_str(&s),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        for a in r.finish(t0) {
            if let Action::Append(s) = a {
                out.push_str(&s);
            }
        }
        assert_eq!(out, "Hello @\u{200B}everyone, this is longer than ten");
        assert_eq!(r.next_due(), None);
    }

    #[test]
    fn back_off_delays_updates_but_not_finish() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut r = StreamRenderer::new(limits(100, true));
        r.push("a", t0);
        r.back_off(t0 + s(10));
        assert!(r.push("b", t0 + s(2)).is_empty());
        assert_eq!(r.next_due(), Some(t0 + s(10)));
        assert_eq!(
            r.tick(t0 + s(10)),
            vec![Action::Edit {
                part: 0,
                text: "ab".into()
            }]
        );
        r.back_off(t0 + s(100));
        r.push("c", t0 + s(20));
        assert_eq!(
            r.finish(t0 + s(21)),
            vec![Action::Edit {
                part: 0,
                text: "abc".into()
            }]
        );
    }

    #[test]
    fn failed_actions_are_retried() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut r = StreamRenderer::new(limits(100, true));
        let a = r.push("hi", t0);
        r.failed(&a[0]);
        assert_eq!(
            r.tick(t0 + s(1)),
            vec![Action::Send {
                part: 0,
                text: "hi".into()
            }]
        );
        let a = r.push(" you", t0 + s(2));
        r.failed(&a[0]);
        assert_eq!(
            r.finish(t0 + s(2)),
            vec![Action::Edit {
                part: 0,
                text: "hi you".into()
            }]
        );
    }
}
