//! A small server-sent-events decoder: bytes in, `data` payloads out.
//!
//! It follows the parts of the SSE format that chat-completion servers use: `data:` fields
//! (several in one event are joined with `\n`), lines ended by `\n`, `\r\n` or `\r`, comment
//! lines starting with `:`, and other fields (`event`, `id`, `retry`) ignored. Network chunks may
//! split a line, a `\r\n` pair or a multi-byte character anywhere: bytes are only decoded once a
//! whole line has arrived.

/// Largest event accepted (one line, or the `data` of all its lines together): a chat chunk is a
/// few hundred bytes, so a server sending more is broken or hostile, and is not buffered.
pub(crate) const MAX_EVENT: usize = 1 << 20;

/// Incremental SSE decoder.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    /// Bytes of the line being received.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// `data` of the event being assembled.
    data: String,
    /// At least one `data` field was seen for the current event.
    has_data: bool,
}

/// The server sent a line or an event larger than [`MAX_EVENT`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EventTooLarge;

impl SseDecoder {
    /// Feed bytes; returns the `data` of every event completed by them, in order.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, EventTooLarge> {
        let mut events = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut events),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut events);
                }
                _ => {
                    if self.line.len() + self.data.len() >= MAX_EVENT {
                        return Err(EventTooLarge);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(events)
    }

    /// The stream ended: an event still being assembled is delivered (servers sometimes omit
    /// the final blank line).
    pub(crate) fn finish(&mut self) -> Option<String> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut events);
        }
        self.end_line(&mut events);
        events.pop()
    }

    fn end_line(&mut self, events: &mut Vec<String>) {
        if self.line.is_empty() {
            if self.has_data {
                if self.data.ends_with('\n') {
                    self.data.pop();
                }
                events.push(std::mem::take(&mut self.data));
                self.has_data = false;
            }
            return;
        }
        let line = String::from_utf8_lossy(&self.line);
        let (field, value) = match line.find(':') {
            Some(0) => ("", ""), // comment
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (&line[..], ""),
        };
        if field == "data" {
            self.data.push_str(value);
            self.data.push('\n');
            self.has_data = true;
        }
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<String> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(d.push(c).unwrap());
        }
        out.extend(d.finish());
        out
    }

    #[test]
    fn events_are_split_on_blank_lines() {
        let got = all(&[b"data: {\"a\":1}\n\ndata: [DONE]\n\n"]);
        assert_eq!(got, vec!["{\"a\":1}", "[DONE]"]);
    }

    #[test]
    fn a_line_split_across_chunks_is_joined() {
        let got = all(&[b"da", b"ta: hel", b"lo\n", b"\n"]);
        assert_eq!(got, vec!["hello"]);
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        let got = all(&[b"data: x\r", b"\n\r", b"\ndata: y\r\n\r\n"]);
        assert_eq!(got, vec!["x", "y"]);
    }

    #[test]
    fn lone_cr_ends_a_line() {
        let got = all(&[b"data: x\r\rdata: y\r\r"]);
        assert_eq!(got, vec!["x", "y"]);
    }

    #[test]
    fn comments_and_other_fields_are_ignored() {
        let got = all(&[b": keep-alive\n\nevent: message\nid: 3\nretry: 10\ndata: z\n\n"]);
        assert_eq!(got, vec!["z"]);
    }

    #[test]
    fn several_data_lines_join_with_newline() {
        let got = all(&[b"data: a\ndata:b\ndata\n\n"]);
        assert_eq!(got, vec!["a\nb\n"]);
    }

    #[test]
    fn multibyte_character_split_across_chunks_survives() {
        let text = "data: héllo 世界\n\n".as_bytes();
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for b in text {
            out.extend(d.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(out, vec!["héllo 世界"]);
    }

    #[test]
    fn unterminated_last_event_is_delivered_at_finish() {
        assert_eq!(all(&[b"data: [DONE]"]), vec!["[DONE]"]);
        assert_eq!(all(&[b"data: [DONE]\n"]), vec!["[DONE]"]);
        assert!(all(&[b": only a comment"]).is_empty());
    }

    #[test]
    fn endless_line_is_refused() {
        let mut d = SseDecoder::default();
        let big = vec![b'x'; MAX_EVENT + 1];
        assert_eq!(d.push(&big), Err(EventTooLarge));
    }

    #[test]
    fn an_event_of_many_short_data_lines_is_refused_once_too_large() {
        let mut d = SseDecoder::default();
        let line = b"data: 0123456789abcdef0123456789abcdef\n";
        let mut refused = false;
        for _ in 0..(2 * MAX_EVENT / line.len()) {
            if d.push(line).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "an endless event must be refused, not buffered");
        let mut d = SseDecoder::default();
        assert_eq!(
            d.push(b"data: a\ndata: b\n\n"),
            Ok(vec!["a\nb".to_string()])
        );
    }
}
