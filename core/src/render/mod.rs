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

//!
//! Rooms: `split`, `mentions`, `think` (the think filter), `stream` (the stream plan).

mod mentions;
mod split;
mod stream;
mod think;

pub use mentions::neutralize_mentions;
pub use split::{split_message, unit_to_byte, units};
pub use stream::{Action, StreamRenderer, DEFAULT_EDIT_INTERVAL};
pub use think::strip_thinking;

/// Zero-width space: inserted into mentions so they render as text but ping no one.
pub const ZERO_WIDTH_SPACE: char = '\u{200B}';
