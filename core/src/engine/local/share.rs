//! Which start of a prompt may be copied between conversations: only what no user wrote.
//!
//! The engine copies keys and values from another conversation's cache when their prompts
//! start alike (a persona's system prompt, a big speed-up for a server's channels). Copied
//! tokens show in the usage and in time to first token, so a prompt start shared with a stranger
//! must hold nothing from any user: otherwise guessing someone's message one token at a time and
//! watching `/why` reads it out. The bot says how many leading bytes of the system prompt are
//! the operator's own ([`GenerateRequest::shareable_bytes`](crate::engine::GenerateRequest));
//! [`shareable_tokens`] turns that into prompt tokens.

use super::model::{Model, Segment};
use crate::engine::{ChatMessage, Role};
use crate::Result;

/// How many leading tokens of `prompt` (the encoding of `messages`) come only from the chat
/// template and the first `shareable_bytes` of the system prompt: the most another
/// conversation's cache may give it.
///
/// The template's text before the system prompt, then the shareable bytes alone, are encoded
/// as [`Model::encode_chat`] would; only the tokens that `prompt` starts with count, so a token
/// that the bytes after the boundary would merge differently is never counted.
pub(super) fn shareable_tokens(
    model: &Model,
    messages: &[ChatMessage],
    shareable_bytes: usize,
    prompt: &[u32],
) -> Result<usize> {
    let Some(system) = messages.first().filter(|m| m.role == Role::System) else {
        return Ok(0);
    };
    if shareable_bytes == 0 {
        return Ok(0);
    }
    let mut end = shareable_bytes.min(system.content.len());
    while !system.content.is_char_boundary(end) {
        end -= 1;
    }
    let segments = model.template.render(messages, true)?;
    let mut ids: Vec<u32> = model.tokenizer.bos_to_add().into_iter().collect();
    let mut reached = false;
    for seg in segments {
        match seg {
            Segment::Template(t) => ids.extend(model.tokenizer.encode_template(&t)?),
            // The template may put the system prompt anywhere (Gemma puts it in the first user
            // turn): only when it is the first content does its start follow the template head.
            Segment::Content(c) => {
                reached = c == system.content;
                break;
            }
        }
    }
    if reached {
        ids.extend(model.tokenizer.encode_plain(&system.content[..end])?);
    }
    // As `encode_chat`: some templates start with the BOS text themselves.
    if let (Some(bos), [a, b, ..]) = (model.tokenizer.bos_to_add(), ids.as_slice()) {
        if *a == bos && *b == bos {
            ids.remove(0);
        }
    }
    Ok(ids.iter().zip(prompt).take_while(|(a, b)| a == b).count())
}
