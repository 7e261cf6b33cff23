//! Stop strings, enforced once for every engine: text streams through, a stop string never comes
//! out, not even its first characters.
//!
//! The local engine has no server to stop for it, and OpenAI-compatible servers accept only a few
//! stop strings (OpenAI: 4) or ignore them, so every engine runs its answer through
//! [`StopFilter`]. The filter holds back the shortest tail of the text that could still grow into
//! a stop string, and releases it once it cannot. Held-back text always ends on a character
//! boundary, so a multibyte character is never split.

/// What [`StopFilter::push`] decided.
#[derive(Debug, PartialEq, Eq)]
pub struct Filtered {
    /// Text safe to forward now (may be empty).
    pub emit: String,
    /// A stop string was found: the answer ends after `emit`.
    pub stopped: bool,
}

/// Streaming stop-string filter.
#[derive(Debug, Default)]
pub struct StopFilter {
    stops: Vec<String>,
    pending: String,
    stopped: bool,
}

impl StopFilter {
    /// A filter for `stops`; empty strings are ignored.
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
            stopped: false,
        }
    }

    /// Whether a stop string was seen (after which nothing more is emitted).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Add the next piece of the answer.
    pub fn push(&mut self, text: &str) -> Filtered {
        if self.stopped {
            return Filtered {
                emit: String::new(),
                stopped: true,
            };
        }
        if self.stops.is_empty() {
            return Filtered {
                emit: text.to_owned(),
                stopped: false,
            };
        }
        self.pending.push_str(text);
        if let Some(at) = first_stop(&self.pending, &self.stops) {
            self.pending.truncate(at);
            self.stopped = true;
            return Filtered {
                emit: std::mem::take(&mut self.pending),
                stopped: true,
            };
        }
        let keep_from = self
            .pending
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.pending[i..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(self.pending.len());
        let rest = self.pending.split_off(keep_from);
        Filtered {
            emit: std::mem::replace(&mut self.pending, rest),
            stopped: false,
        }
    }

    /// The end of the stream: release what was held back (it was not a stop string after all).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// Byte index of the earliest stop string in `text` (empty stop strings are ignored).
fn first_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
}

/// `text` cut before its first stop string, and whether one was found.
pub fn cut_at_stop(mut text: String, stops: &[String]) -> (String, bool) {
    match first_stop(&text, stops) {
        Some(at) => {
            text.truncate(at);
            (text, true)
        }
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams `pieces` through a filter: the whole output, whether it stopped, and each emit.
    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool, Vec<String>) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut f = StopFilter::new(&stops);
        let mut out = String::new();
        let mut emitted = Vec::new();
        for p in pieces {
            let r = f.push(p);
            out.push_str(&r.emit);
            emitted.push(r.emit);
            if r.stopped {
                assert!(f.stopped());
                return (out, true, emitted);
            }
        }
        out.push_str(&f.finish());
        (out, false, emitted)
    }

    #[test]
    fn without_stops_text_passes_unchanged() {
        assert_eq!(run(&[], &["a", "b"]).0, "ab");
    }

    #[test]
    fn stop_inside_one_piece_cuts_there() {
        assert_eq!(
            run(&["User:"], &["hi User: more"]),
            ("hi ".into(), true, vec!["hi ".into()])
        );
    }

    #[test]
    fn stop_split_across_pieces_is_never_emitted_partly() {
        let (out, stopped, emitted) = run(&["\nUser:"], &["Hello", "\n", "Us", "er:", " x"]);
        assert_eq!(out, "Hello");
        assert!(stopped);
        assert!(emitted.iter().all(|e| !e.contains('\n')));
    }

    #[test]
    fn false_start_is_released() {
        let (out, stopped, _) = run(&["###"], &["a#", "#b", "c"]);
        assert_eq!(out, "a##bc");
        assert!(!stopped);
        assert_eq!(
            run(&["User:"], &["Hello Us", "ually"]),
            ("Hello Usually".into(), false, vec!["Hello ".into(), "Usually".into()])
        );
    }

    #[test]
    fn held_tail_is_released_at_finish() {
        let (out, stopped, emitted) = run(&["END"], &["the E", "N"]);
        assert_eq!(emitted, vec!["the ", ""]);
        assert_eq!(out, "the EN");
        assert!(!stopped);
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        assert_eq!(run(&["b", "a"], &["xab"]).0, "x");
    }

    #[test]
    fn nothing_comes_out_after_a_stop() {
        let stops = vec!["!".to_string()];
        let mut f = StopFilter::new(&stops);
        assert!(f.push("a!b").stopped);
        let after = f.push("more");
        assert_eq!(after.emit, "");
        assert!(after.stopped);
        assert_eq!(f.finish(), "");
    }

    #[test]
    fn multibyte_text_is_held_back_whole_characters_only() {
        // "世" could start the stop string, so it is held back whole (its three bytes), then
        // released whole once "界" shows it is not part of one.
        let (out, stopped, emitted) = run(&["世界!"], &["é世", "界", "?"]);
        assert_eq!(emitted, vec!["é", "", "世界?"]);
        assert_eq!(out, "é世界?");
        assert!(!stopped);
        let (out, stopped, emitted) = run(&["世界!"], &["é世", "界", "!"]);
        assert_eq!(emitted, vec!["é", "", ""]);
        assert_eq!(out, "é");
        assert!(stopped);
        assert_eq!(
            run(&["日本"], &["こんにちは日", "曜日"]).2,
            vec!["こんにちは", "日曜日"]
        );
    }

    #[test]
    fn cut_at_stop_truncates_whole_text() {
        let stops = vec!["\n\n".to_string(), String::new()];
        assert_eq!(cut_at_stop("a\n\nb".into(), &stops), ("a".into(), true));
        assert_eq!(cut_at_stop("ab".into(), &stops), ("ab".into(), false));
    }
}
