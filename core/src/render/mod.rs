//! Turning model output into platform messages.
//!
//! - [`split_message`] cuts a long answer into parts that fit a platform's limit, preferring
//!   paragraph, then line, then sentence, then word boundaries, and only then a hard cut between
//!   two characters (never inside a UTF-8 character, and not between a character and the
//!   combining marks / emoji modifiers that follow it). A code fence cut in two is closed at the
//!   end of one part and reopened, with its language tag, at the start of the next; the markers
//!   count against the limit.
//! - [`neutralize_mentions`] makes `@everyone`, `@here` and Discord's `<@id>` pings inert.
//! - [`strip_thinking`] removes the `<think>…</think>` blocks of reasoning models.
//! - [`StreamRenderer`] turns a stream of text deltas into the sends and edits that show the
//!   answer growing, at most one update per edit interval, without ever changing a part that is
//!   already complete.
//!
//! Everything here is pure: no I/O, and the clock is passed in, so it is tested exactly.

use std::time::{Duration, Instant};

use crate::seam::{Markup, PlatformLimits};

/// Zero-width space: inserted into mentions so they render as text but ping no one.
pub const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// The opening of a code fence.
const FENCE: &str = "```";
/// What closes a fence we cut: a newline and the fence (4 characters).
const FENCE_CLOSE: &str = "\n```";
const FENCE_CLOSE_CHARS: usize = 4;

/// One part of a split text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    /// The part as it is sent (fence markers included).
    text: String,
    /// Bytes of the input this part consumed (including whitespace dropped at the cut).
    consumed: usize,
    /// The code fence open after this part (its language tag), to reopen in the next part.
    open_after: Option<String>,
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
fn split_pieces(text: &str, max_chars: usize, open: Option<String>) -> Vec<Piece> {
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

/// Make mass pings and user/role pings in `text` inert.
///
/// On every platform `@everyone` and `@here` (any case) get a zero-width space after the `@`
/// (`@\u{200B}everyone`): they read the same but no platform treats them as mentions. On
/// Discord, user, nickname, role and channel mentions (`<@123>`, `<@!123>`, `<@&123>`, `<#123>`)
/// get a zero-width space after the `<`, so they show as their literal text instead of a ping.
/// Telegram `@username` mentions are left alone: Telegram has no mass mention, a username
/// notifies at most that one member of the chat, and rewriting `@word` would corrupt code such
/// as Python decorators. The Discord adapter also sends `allowed_mentions` empty; this is
/// defence in depth.
pub fn neutralize_mentions(text: &str, markup: Markup) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else { break };
        out.push(c);
        i += c.len_utf8();
        let after = &text[i..];
        let ping = match c {
            '@' => mass_mention_len(after).is_some(),
            '<' => markup == Markup::DiscordMarkdown && discord_mention_len(after).is_some(),
            _ => false,
        };
        if ping {
            out.push(ZERO_WIDTH_SPACE);
        }
    }
    out
}

/// If `after` (the text after an `@`) starts with `everyone` or `here`, its length.
fn mass_mention_len(after: &str) -> Option<usize> {
    ["everyone", "here"].into_iter().find_map(|word| {
        after
            .get(..word.len())
            .filter(|head| head.eq_ignore_ascii_case(word))
            .map(|_| word.len())
    })
}

/// If `after` (the text after a `<`) is the body of a Discord mention (`@123>`, `@!123>`,
/// `@&123>`, `#123>`), its length.
fn discord_mention_len(after: &str) -> Option<usize> {
    let body = after
        .strip_prefix("@!")
        .or_else(|| after.strip_prefix("@&"))
        .or_else(|| after.strip_prefix('@'))
        .or_else(|| after.strip_prefix('#'))?;
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && body[digits..].starts_with('>')).then(|| after.len() - body.len() + digits + 1)
}

/// How many bytes at the end of `text` could still become a mention once more text arrives;
/// [`StreamRenderer`] holds them back so neutralising never changes text already shown.
fn unfinished_mention_tail(text: &str, markup: Markup) -> usize {
    let window_start = text.len().saturating_sub(32);
    let mut hold = 0;
    for (i, c) in text.char_indices().rev() {
        if i < window_start || c.is_whitespace() {
            break;
        }
        let unfinished = match c {
            '@' => {
                let after = &text[i + 1..];
                ["everyone", "here"].iter().any(|w| {
                    after.len() < w.len()
                        && w.get(..after.len())
                            .is_some_and(|h| h.eq_ignore_ascii_case(after))
                })
            }
            '<' if markup == Markup::DiscordMarkdown => {
                let after = &text[i + 1..];
                let body = after
                    .strip_prefix("@!")
                    .or_else(|| after.strip_prefix("@&"))
                    .or_else(|| after.strip_prefix('@'))
                    .or_else(|| after.strip_prefix('#'));
                let prefix_only = matches!(after, "" | "@");
                prefix_only || body.is_some_and(|b| b.bytes().all(|x| x.is_ascii_digit()))
            }
            _ => false,
        };
        if unfinished {
            // Keep looking: an earlier `<` may start a mention that contains this `@`.
            hold = text.len() - i;
        }
    }
    hold
}

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
struct ThinkFilter {
    /// Inside a think block.
    thinking: bool,
    /// Held back: a possible start of a tag.
    pending: String,
    /// Visible text was emitted already (until then leading whitespace is dropped).
    started: bool,
}

impl ThinkFilter {
    /// Feed a delta; returns the newly visible text.
    fn push(&mut self, delta: &str) -> String {
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
    fn finish(&mut self) -> String {
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
/// rules of [`split_message`]) and never changes again; the rest continues in a new message.
/// The parts end up exactly as [`split_message`] would cut the whole visible text.
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

    #[test]
    fn everyone_and_here_are_neutralized_on_every_platform() {
        for m in [
            Markup::Plain,
            Markup::DiscordMarkdown,
            Markup::TelegramPlain,
        ] {
            let out = neutralize_mentions("hi @everyone and @here, @Everyone", m);
            assert_eq!(
                out,
                "hi @\u{200B}everyone and @\u{200B}here, @\u{200B}Everyone"
            );
        }
    }

    #[test]
    fn discord_user_role_and_channel_mentions_are_neutralized() {
        let out = neutralize_mentions("<@123> <@!45> <@&678> <#9>", Markup::DiscordMarkdown);
        assert_eq!(
            out,
            "<\u{200B}@123> <\u{200B}@!45> <\u{200B}@&678> <\u{200B}#9>"
        );
    }

    #[test]
    fn lookalikes_are_left_alone() {
        let t = "a <b> c <@abc> <@> 1 < 2 email@example.com <#x>";
        assert_eq!(neutralize_mentions(t, Markup::DiscordMarkdown), t);
    }

    #[test]
    fn telegram_usernames_are_readable_and_unchanged() {
        let t = "ask @alice_bot about <@123> @property";
        assert_eq!(neutralize_mentions(t, Markup::TelegramPlain), t);
    }

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

    // ---- StreamRenderer ----

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
            assert!(chars(m) <= max);
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
                    assert!(chars(m) <= max, "max {max} chunk {chunk}: {m:?}");
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
