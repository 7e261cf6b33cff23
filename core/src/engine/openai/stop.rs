//! Client-side stop strings: text streams through, a stop string never comes out, not even its
//! first characters.
//!
//! Servers accept only a few stop strings (OpenAI: 4) and some ignore them, so the engine enforces
//! every one itself. The filter holds back the shortest tail of the text that could still grow
//! into a stop string, and releases it once it cannot.

/// What [`StopFilter::push`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Filtered {
    /// Text safe to forward now (may be empty).
    pub(crate) emit: String,
    /// A stop string was found: the answer ends after `emit`.
    pub(crate) stopped: bool,
}

/// Streaming stop-string filter.
#[derive(Debug, Default)]
pub(crate) struct StopFilter {
    stops: Vec<String>,
    pending: String,
}

impl StopFilter {
    /// A filter for `stops`; empty strings are ignored.
    pub(crate) fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
        }
    }

    /// Add the next piece of the answer.
    pub(crate) fn push(&mut self, text: &str) -> Filtered {
        if self.stops.is_empty() {
            return Filtered {
                emit: text.to_owned(),
                stopped: false,
            };
        }
        self.pending.push_str(text);
        if let Some(at) = first_stop(&self.pending, &self.stops) {
            self.pending.truncate(at);
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

    /// The answer ended without a stop string: release what was held back.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// Byte index of the earliest stop string in `text`.
pub(crate) fn first_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
}

/// `text` cut before its first stop string.
pub(crate) fn cut_at_stop(mut text: String, stops: &[String]) -> (String, bool) {
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
    fn multibyte_text_is_never_split() {
        // The multibyte start of the stop string is held back whole, then dropped or released.
        let (out, stopped, emitted) = run(&["世界!"], &["é世", "界", "!"]);
        assert_eq!(out, "é");
        assert!(stopped);
        assert_eq!(emitted, ["é", "", ""]);
        let (out, stopped, emitted) = run(&["世界!"], &["é世", "界?"]);
        assert_eq!((out.as_str(), stopped), ("é世界?", false));
        assert_eq!(emitted, ["é", "世界?"]);
    }

    #[test]
    fn cut_at_stop_truncates_whole_text() {
        let stops = vec!["\n\n".to_string(), String::new()];
        assert_eq!(cut_at_stop("a\n\nb".into(), &stops), ("a".into(), true));
        assert_eq!(cut_at_stop("ab".into(), &stops), ("ab".into(), false));
    }
}
