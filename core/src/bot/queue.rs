//! Queueing a job with the scheduler, and running it when its turn comes: a chat answer
//! ([`answer`](super::answer)) or a translation ([`translation`](super::translation)).

use std::sync::Arc;

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::answer::answer;
use super::channels::AnswerInFlight;
use super::context::{say, BotContext};
use super::job::{Origin, Prompt};
use super::{replies, translation};
use crate::i18n::Language;
use crate::metrics::{self, Refusal};
use crate::scheduler::{Admission, Job, Rejected};
use crate::seam::{Incoming, Outbox};
use crate::translate::TextLanguage;
use crate::Result;

/// Run one job: answer the conversation, or translate.
async fn run(
    ctx: Arc<BotContext>,
    origin: Origin,
    outbox: Arc<dyn Outbox>,
    prompt: Prompt,
    token: CancellationToken,
) {
    match prompt {
        Prompt::Chat => answer(ctx, origin, outbox, token).await,
        Prompt::Translate(job) => translation::translate(ctx, origin, outbox, job, token).await,
    }
}

/// `/tr` or a flag reaction: queue the translation of the message it replies to, or say why
/// there is none (see [`translation::on_demand`]).
pub(super) async fn translate_on_demand(
    ctx: &Arc<BotContext>,
    to: Option<TextLanguage>,
    message: &Incoming,
    lang: Language,
    outbox: &Arc<dyn Outbox>,
) -> Result<()> {
    if let Some(job) = translation::on_demand(ctx, to, message, lang, outbox.as_ref()).await? {
        let prompt = Prompt::Translate(job);
        submit(ctx, message, lang, outbox.clone(), prompt, None).await;
    }
    Ok(())
}

/// Queue an answer for `message`; tell the user if the queue is full. `in_flight` marks the
/// user turn it answers (the window ends there); `None` (`/retry`) answers the newest turn.
pub(super) async fn submit(
    inner: &Arc<BotContext>,
    message: &Incoming,
    lang: Language,
    outbox: Arc<dyn Outbox>,
    prompt: Prompt,
    in_flight: Option<AnswerInFlight>,
) {
    let mut origin = Origin::of(message, lang);
    if in_flight.is_some() {
        origin.upto = Some((
            message.author.id.clone(),
            message.text.trim().to_string(),
            message.at,
        ));
    }
    let (job_inner, job_outbox, job_origin) = (inner.clone(), outbox.clone(), origin.clone());
    let job: Job = Box::new(move |token| {
        async move {
            run(job_inner, job_origin, job_outbox, prompt, token).await;
            drop(in_flight);
        }
        .boxed()
    });
    let reply_to = Some(origin.message_id.as_str());
    match inner.scheduler.submit(&origin.key, &message.author.id, job) {
        Ok(Admission::Queued { ahead }) => {
            debug!(ahead, "answer queued");
            if ahead > 0 {
                let _ = outbox.typing(&origin.key).await;
            }
        }
        Ok(Admission::Replaced) => debug!("replaced a waiting message of the same author"),
        Err(Rejected::Busy) => {
            info!("queue full; busy reply");
            metrics::message_refused(origin.key.platform, Refusal::Busy);
            say(outbox.as_ref(), &origin.key, reply_to, &replies::busy(lang)).await;
        }
        Err(Rejected::Closed) => {
            metrics::message_refused(origin.key.platform, Refusal::Closing);
            say(
                outbox.as_ref(),
                &origin.key,
                reply_to,
                &replies::closing(lang),
            )
            .await;
        }
    }
}
