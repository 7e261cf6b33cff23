//! SentencePiece-style tokenizer of GGUF files with `tokenizer.ggml.model = llama` (Gemma,
//! Llama 2, TinyLlama), as llama.cpp runs it: spaces become `▁`, adjacent pieces merge while
//! their concatenation is a token (highest score first, leftmost on ties), and what is left
//! outside the vocabulary becomes byte tokens (`<0x41>`).
//!
//! User-defined tokens are split out of the text first, as llama.cpp does even when it does
//! not parse control tokens; control tokens never take part, so text stays text.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// GGUF token types this tokenizer distinguishes.
const TYPE_NORMAL: i64 = 1;
const TYPE_USER_DEFINED: i64 = 4;
const TYPE_BYTE: i64 = 6;

/// The vocabulary and rules of one SentencePiece model.
#[derive(Debug, Clone)]
pub struct SpmTokenizer {
    /// Pieces that merges may produce, with their id and score.
    pieces: HashMap<String, (u32, f32)>,
    /// Text of every id.
    texts: Vec<String>,
    /// Ids of the byte tokens `<0x00>`..`<0xFF>`.
    bytes: Vec<Option<u32>>,
    /// User-defined tokens, longest first.
    user_defined: Vec<(String, u32)>,
    /// Which ids are byte tokens.
    is_byte: Vec<bool>,
    /// Put a space before text that starts the input or follows a user-defined token.
    add_space_prefix: bool,
}

/// A candidate merge of the symbols at `left` and `right`.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// Highest score first; on equal scores the leftmost (llama.cpp's comparator).
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.left.cmp(&self.left))
    }
}

/// One symbol of the text being merged: a byte range, linked to its neighbours.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl SpmTokenizer {
    /// Build from the GGUF token list, scores and types.
    pub fn new(tokens: &[String], scores: &[f32], types: &[i64], add_space_prefix: bool) -> Self {
        let mut pieces = HashMap::with_capacity(tokens.len());
        let mut bytes = vec![None; 256];
        let mut user_defined = Vec::new();
        let mut is_byte = vec![false; tokens.len()];
        for (i, text) in tokens.iter().enumerate() {
            let Ok(id) = u32::try_from(i) else { break };
            let kind = types.get(i).copied().unwrap_or(TYPE_NORMAL);
            let score = scores.get(i).copied().unwrap_or(0.0);
            match kind {
                TYPE_BYTE => {
                    let hex = text.strip_prefix("<0x").and_then(|h| h.strip_suffix('>'));
                    if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        bytes[usize::from(b)] = Some(id);
                    }
                    is_byte[i] = true;
                }
                TYPE_USER_DEFINED => {
                    pieces.entry(text.clone()).or_insert((id, score));
                    if !text.is_empty() {
                        user_defined.push((text.clone(), id));
                    }
                }
                TYPE_NORMAL => {
                    pieces.entry(text.clone()).or_insert((id, score));
                }
                _ => {}
            }
        }
        user_defined.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        Self {
            pieces,
            texts: tokens.to_vec(),
            bytes,
            user_defined,
            is_byte,
            add_space_prefix,
        }
    }

    /// Token ids of `text`, with no BOS.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut after_special = true;
        for (piece, special) in self.split_user_defined(text) {
            if let Some(id) = special {
                ids.push(id);
                after_special = true;
                continue;
            }
            let mut escaped = String::with_capacity(piece.len() + 3);
            if self.add_space_prefix && after_special {
                escaped.push('▁');
            }
            escaped.push_str(&piece.replace(' ', "▁"));
            self.merge(&escaped, &mut ids);
            after_special = false;
        }
        ids
    }

    /// Split `text` on user-defined tokens (longest first): (text, None) or (text, Some(id)).
    fn split_user_defined<'a>(&self, text: &'a str) -> Vec<(&'a str, Option<u32>)> {
        let mut parts = vec![(text, None)];
        for (token, id) in &self.user_defined {
            let mut next = Vec::with_capacity(parts.len());
            for (part, special) in parts {
                if special.is_some() || !part.contains(token.as_str()) {
                    next.push((part, special));
                    continue;
                }
                let mut rest = part;
                while let Some(at) = rest.find(token.as_str()) {
                    if at > 0 {
                        next.push((&rest[..at], None));
                    }
                    next.push((&rest[at..at + token.len()], Some(*id)));
                    rest = &rest[at + token.len()..];
                }
                if !rest.is_empty() {
                    next.push((rest, None));
                }
            }
            parts = next;
        }
        parts
    }

    fn try_bigram(&self, text: &str, syms: &[Symbol], left: usize, queue: &mut BinaryHeap<Bigram>) {
        let Some(right) = syms[left].next else { return };
        let (start, len) = (syms[left].start, syms[left].len + syms[right].len);
        if let Some((_, score)) = self.pieces.get(&text[start..start + len]) {
            queue.push(Bigram {
                score: *score,
                left,
                right,
                len,
            });
        }
    }

    /// llama.cpp's `llm_tokenizer_spm_session::tokenize` on already escaped text.
    fn merge(&self, text: &str, ids: &mut Vec<u32>) {
        let mut syms: Vec<Symbol> = Vec::new();
        for (start, c) in text.char_indices() {
            let i = syms.len();
            syms.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                syms[i - 1].next = Some(i);
            }
        }
        let mut queue = BinaryHeap::new();
        for i in 0..syms.len() {
            self.try_bigram(text, &syms, i, &mut queue);
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (syms[b.left], syms[b.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != b.len {
                continue;
            }
            syms[b.left].len = b.len;
            syms[b.right].len = 0;
            syms[b.left].next = r.next;
            if let Some(n) = r.next {
                syms[n].prev = Some(b.left);
            }
            if let Some(p) = l.prev {
                self.try_bigram(text, &syms, p, &mut queue);
            }
            self.try_bigram(text, &syms, b.left, &mut queue);
        }
        let mut at = if syms.is_empty() { None } else { Some(0) };
        while let Some(i) = at {
            let s = syms[i];
            let piece = &text[s.start..s.start + s.len];
            match self.pieces.get(piece) {
                Some((id, _)) => ids.push(*id),
                // Only single characters can miss the vocabulary: merges make tokens.
                None => ids.extend(piece.bytes().filter_map(|b| self.bytes[usize::from(b)])),
            }
            at = s.next;
        }
    }

    /// Text of `ids`: `▁` back to spaces, byte tokens to their bytes (invalid UTF-8 becomes
    /// U+FFFD), and the space the encoder put in front removed.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out: Vec<u8> = Vec::new();
        for &id in ids {
            let i = id as usize;
            let Some(text) = self.texts.get(i) else {
                continue;
            };
            if self.is_byte[i] {
                let hex = text.strip_prefix("<0x").and_then(|h| h.strip_suffix('>'));
                if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(b);
                }
            } else {
                out.extend_from_slice(text.replace('▁', " ").as_bytes());
            }
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        match text.strip_prefix(' ') {
            Some(rest) if self.add_space_prefix => rest.to_string(),
            _ => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small vocabulary: bytes for fallback, pieces with scores that decide merge order.
    fn tiny() -> SpmTokenizer {
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
        let mut types = vec![2, 3, 3];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(TYPE_BYTE);
        }
        for p in [
            "▁", "h", "e", "l", "o", "he", "ll", "llo", "hello", "▁hello", "<tag>",
        ] {
            tokens.push(p.into());
            types.push(if p == "<tag>" {
                TYPE_USER_DEFINED
            } else {
                TYPE_NORMAL
            });
        }
        let scores: Vec<f32> = (0..tokens.len()).map(|i| -(i as f32)).collect();
        SpmTokenizer::new(&tokens, &scores, &types, false)
    }

    fn id(t: &SpmTokenizer, piece: &str) -> u32 {
        t.pieces[piece].0
    }

    #[test]
    fn pieces_merge_by_score_and_unknown_characters_fall_back_to_bytes() {
        let t = tiny();
        let ids = t.encode(" hello hé");
        let mut want = vec![id(&t, "▁hello"), id(&t, "▁"), id(&t, "h")];
        // "é" is not in the vocabulary: its two UTF-8 bytes.
        want.extend([0xC3u32, 0xA9].map(|b| 3 + b));
        assert_eq!(ids, want);
        assert_eq!(t.decode(&ids), " hello hé");
    }

    #[test]
    fn user_defined_tokens_are_split_out_and_control_tokens_are_not() {
        let t = tiny();
        let ids = t.encode("he<tag></s>");
        assert_eq!(ids[0], id(&t, "he"));
        assert_eq!(ids[1], id(&t, "<tag>"));
        // "</s>" is a control token: typed text stays bytes/pieces.
        assert!(!ids.contains(&2));
        assert_eq!(t.decode(&ids), "he<tag></s>");
    }
}
