//! The refusal flow every adapter follows once its allowlists have spoken ([`AccessVerdict`]):
//! an allowed message goes on to the bot; an ignored one goes nowhere, silently; a refused one
//! gets one short, polite line in the asker's language (the bot's when the platform does not
//! say), at most once per [`REFUSAL_GAP`] in each place (a chat, a user), so a persistent
//! stranger cannot make the bot write, or the platform throttle it, without end. The line is
//! sent in a task of its own: a throttled refusal holds up no other chat.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::bot::replies;
use crate::i18n::Language;
use crate::outbound::RefusalGap;
use crate::seam::{AccessVerdict, ChannelKey, Outbox};

/// Gap between two refusals in one place: one line per ten minutes is enough to be understood.
pub const REFUSAL_GAP: Duration = Duration::from_secs(600);

/// A message the allowlists judged, as the refusal flow needs it.
#[derive(Debug, Clone)]
pub struct Judged {
    /// Where refusals are paced: the chat (Telegram) or the user (Discord DMs).
    pub place: String,
    /// The chat a refusal goes to.
    pub key: ChannelKey,
    /// The message a refusal answers.
    pub message_id: String,
    /// The asker's language as the platform reports it, if it does.
    pub language: Option<String>,
    /// Whether it came in a direct chat.
    pub is_direct: bool,
}

/// The refusal flow of one adapter (see the module docs).
#[derive(Debug)]
pub struct Refusals {
    gap: RefusalGap,
    bot_language: Language,
    /// The operator's own line instead of the catalogue's (Telegram's `refusal_text`).
    custom: Option<String>,
}

impl Refusals {
    /// Refusals in `bot_language` when the asker's is unknown, or always `custom` when set,
    /// at most one per `gap` in each place.
    pub fn new(gap: Duration, bot_language: Language, custom: Option<String>) -> Self {
        Self {
            gap: RefusalGap::new(gap),
            bot_language,
            custom: custom.filter(|t| !t.trim().is_empty()),
        }
    }

    /// Whether a message with `verdict` goes on to the bot. A refused one is answered with the
    /// polite line through `outbox` when one is due in its place.
    pub fn admit(&self, verdict: AccessVerdict, judged: Judged, outbox: Arc<dyn Outbox>) -> bool {
        match verdict {
            AccessVerdict::Allow => true,
            AccessVerdict::Ignore => {
                debug!(channel = %judged.key, "outside the allowlists; ignored");
                false
            }
            AccessVerdict::Refuse => {
                info!(channel = %judged.key, "from someone not allowed; refused");
                if self.gap.due(&judged.place) {
                    let text = self.line(&judged);
                    tokio::spawn(async move {
                        let sent = outbox
                            .send(&judged.key, &text, Some(&judged.message_id))
                            .await;
                        if let Err(e) = sent {
                            warn!(channel = %judged.key, error = %e, "could not send the refusal");
                        }
                    });
                }
                false
            }
        }
    }

    /// The line a refused asker reads.
    fn line(&self, judged: &Judged) -> String {
        if let Some(text) = &self.custom {
            return text.clone();
        }
        let lang = Language::resolve(judged.language.as_deref(), self.bot_language);
        if judged.is_direct {
            replies::direct_message_refused(lang)
        } else {
            replies::private_bot(lang)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::Platform;
    use crate::testing::{Call, RecordingOutbox};

    fn judged(place: &str, language: Option<&str>, is_direct: bool) -> Judged {
        Judged {
            place: place.into(),
            key: ChannelKey::new(Platform::Test, place),
            message_id: "1".into(),
            language: language.map(str::to_string),
            is_direct,
        }
    }

    /// The texts sent, once the spawned refusals (at least `n`) have run.
    async fn sent(outbox: &RecordingOutbox, n: usize) -> Vec<String> {
        let texts = || -> Vec<String> {
            outbox
                .calls()
                .into_iter()
                .filter_map(|c| match c {
                    Call::Send { text, .. } => Some(text),
                    _ => None,
                })
                .collect()
        };
        // The current-thread runtime runs the spawned sends when this task yields.
        for _ in 0..100 {
            if texts().len() >= n {
                break;
            }
            tokio::task::yield_now().await;
        }
        texts()
    }

    #[tokio::test]
    async fn a_refusal_is_localized_and_paced_per_place() {
        let outbox = Arc::new(RecordingOutbox::default());
        let refusals = Refusals::new(REFUSAL_GAP, Language::English, None);
        let refuse = AccessVerdict::Refuse;
        assert!(!refusals.admit(refuse, judged("a", Some("fr"), true), outbox.clone()));
        assert!(!refusals.admit(refuse, judged("a", Some("fr"), true), outbox.clone()));
        assert!(!refusals.admit(refuse, judged("b", None, false), outbox.clone()));
        let texts = sent(&outbox, 2).await;
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts.contains(&replies::direct_message_refused(Language::French)));
        assert!(texts.contains(&replies::private_bot(Language::English)));
    }

    #[tokio::test]
    async fn allowed_passes_and_ignored_is_silent() {
        let outbox = Arc::new(RecordingOutbox::default());
        let refusals = Refusals::new(REFUSAL_GAP, Language::English, Some("custom".into()));
        assert!(refusals.admit(
            AccessVerdict::Allow,
            judged("a", None, true),
            outbox.clone()
        ));
        assert!(!refusals.admit(
            AccessVerdict::Ignore,
            judged("a", None, true),
            outbox.clone()
        ));
        assert!(!refusals.admit(
            AccessVerdict::Refuse,
            judged("a", None, true),
            outbox.clone()
        ));
        assert_eq!(sent(&outbox, 1).await, vec!["custom".to_string()]);
    }
}
