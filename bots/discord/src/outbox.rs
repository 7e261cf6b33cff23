//! The way back to Discord: one [`DiscordClient`] under the core's [`Outbound`], answering in a
//! channel ([`channel_outbox`]) or to a slash command ([`interaction_outbox`]), on serenity's
//! `Http`.
//!
//! Every message and edit carries an empty `allowed_mentions` (`parse: []`,
//! `replied_user: false`), so nothing the model writes (`@everyone`, `<@&role>`, `<@user>`) can
//! ping anyone. The core's [`Outbound`] does the rest: the placeholder for blank texts, splitting
//! (sends) or cutting (edits) texts over 2000 UTF-16 units, retrying as [`Serenity`] judges
//! errors, and throttling edits per channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use parley_core::outbound::{
    read_capped, Classify, Client, EditThrottle, Failure, FileError, Outbound, Part, RetryPolicy,
};
use parley_core::seam::{Attachment, ChannelKey, Markup, MessageRef, PlatformLimits, PrivateFile};
use serenity::all::{
    ChannelId, CommandInteraction, CreateAllowedMentions, CreateAttachment,
    CreateInteractionResponseFollowup, CreateMessage, EditInteractionResponse, EditMessage, Http,
    MessageId, MessageReference, MessageReferenceKind, UserId,
};
use serenity::http::HttpError;

/// Discord's longest message, in UTF-16 code units (2000; counting as the core does).
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// `allowed_mentions` that allows nothing: no `@everyone`, no roles, no users, no reply ping.
pub fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
        .empty_users()
        .empty_roles()
        .replied_user(false)
}

/// Judges serenity's errors: a 429 is a rate limit (its `retry_after` is not exposed by
/// serenity's error: serenity's own rate limiter honours it against the real API, and behind
/// `DISCORD_API_BASE` the policy's `rate_limit_wait` applies), 5xx and network errors are
/// transient, the rest permanent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serenity;

impl Classify<serenity::Error> for Serenity {
    fn failure(&self, err: &serenity::Error) -> Failure {
        match err {
            serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
                match r.status_code.as_u16() {
                    429 => Failure::RateLimited(None),
                    s if s >= 500 => Failure::Transient,
                    _ => Failure::Permanent,
                }
            }
            serenity::Error::Http(HttpError::Request(_)) => Failure::Transient,
            _ => Failure::Permanent,
        }
    }

    fn describe(&self, err: &serenity::Error) -> String {
        err.to_string()
    }
}

/// The platform limits the adapter reports.
pub fn limits(edit_interval: Duration) -> PlatformLimits {
    PlatformLimits {
        max_message_chars: MAX_MESSAGE_CHARS,
        edit_interval,
        markup: Markup::DiscordMarkdown,
        supports_edit: true,
    }
}

/// The core's outbox on Discord.
pub type DiscordOutbox = Outbound<DiscordClient>;

/// How a [`DiscordClient`] answers.
#[derive(Debug)]
enum Answering {
    /// With channel messages; the first part replies to the triggering message.
    InChannel,
    /// To one slash command the adapter has already deferred ("thinking…"): the first send
    /// fills the original response, later sends are follow-ups.
    ToCommand {
        interaction: Box<CommandInteraction>,
        original: Mutex<Option<MessageId>>,
    },
}

/// The REST calls behind a [`DiscordOutbox`], one attempt each.
#[derive(Debug)]
pub struct DiscordClient {
    http: Arc<Http>,
    answering: Answering,
}

/// An outbox answering in channels. `throttle` is shared by all outboxes of the bot.
pub fn channel_outbox(
    http: Arc<Http>,
    retry: RetryPolicy,
    throttle: Arc<EditThrottle>,
    edit_interval: Duration,
) -> DiscordOutbox {
    let client = DiscordClient {
        http,
        answering: Answering::InChannel,
    };
    Outbound::new(client, limits(edit_interval), retry, throttle)
}

/// An outbox answering `interaction`, which the adapter has already deferred.
pub fn interaction_outbox(
    http: Arc<Http>,
    interaction: CommandInteraction,
    retry: RetryPolicy,
    throttle: Arc<EditThrottle>,
    edit_interval: Duration,
) -> DiscordOutbox {
    let answering = Answering::ToCommand {
        interaction: Box::new(interaction),
        original: Mutex::new(None),
    };
    let client = DiscordClient { http, answering };
    Outbound::new(client, limits(edit_interval), retry, throttle)
}

fn channel_of(key: &ChannelKey) -> parley_core::Result<ChannelId> {
    let id = key.thread.as_deref().unwrap_or(&key.chat);
    parse_id(id).map(ChannelId::new)
}

fn parse_id(s: &str) -> parley_core::Result<u64> {
    s.parse::<u64>()
        .ok()
        .filter(|v| *v != 0)
        .ok_or_else(|| parley_core::Error::Platform(format!("not a discord id: {s:?}")))
}

impl DiscordClient {
    async fn send_in_channel(&self, part: Part<'_, Self>) -> serenity::Result<MessageId> {
        let channel = *part.to;
        let mut builder = CreateMessage::new()
            .content(part.text)
            .allowed_mentions(no_mentions());
        if let Some((_, mid)) = part.reply_to {
            let reference = MessageReference::new(MessageReferenceKind::Default, channel)
                .message_id(*mid)
                .fail_if_not_exists(false);
            builder = builder.reference_message(reference);
        }
        Ok(channel.send_message(&self.http, builder).await?.id)
    }

    async fn send_to_command(
        &self,
        interaction: &CommandInteraction,
        original: &Mutex<Option<MessageId>>,
        text: &str,
    ) -> serenity::Result<MessageId> {
        let first = original.lock().unwrap_or_else(|e| e.into_inner()).is_none();
        if first {
            let builder = EditInteractionResponse::new()
                .content(text)
                .allowed_mentions(no_mentions());
            let id = interaction.edit_response(&self.http, builder).await?.id;
            *original.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
            return Ok(id);
        }
        let builder = CreateInteractionResponseFollowup::new()
            .content(text)
            .allowed_mentions(no_mentions());
        Ok(interaction.create_followup(&self.http, builder).await?.id)
    }
}

#[async_trait]
impl Client for DiscordClient {
    type Error = serenity::Error;
    type Judge = Serenity;
    type Target = ChannelId;
    type Message = (ChannelId, MessageId);

    fn judge(&self) -> &Serenity {
        &Serenity
    }

    fn target(&self, key: &ChannelKey) -> parley_core::Result<ChannelId> {
        channel_of(key)
    }

    fn message(&self, msg: &MessageRef) -> parley_core::Result<Self::Message> {
        Ok((channel_of(&msg.key)?, MessageId::new(parse_id(&msg.id)?)))
    }

    async fn send(&self, part: Part<'_, Self>) -> serenity::Result<String> {
        let id = match &self.answering {
            Answering::InChannel => self.send_in_channel(part).await?,
            Answering::ToCommand {
                interaction,
                original,
            } => {
                self.send_to_command(interaction, original, part.text)
                    .await?
            }
        };
        Ok(id.get().to_string())
    }

    async fn edit(&self, msg: &Self::Message, text: &str) -> serenity::Result<()> {
        let (channel, mid) = *msg;
        match &self.answering {
            Answering::InChannel => {
                let builder = EditMessage::new()
                    .content(text)
                    .allowed_mentions(no_mentions());
                channel.edit_message(&self.http, mid, builder).await?;
            }
            Answering::ToCommand {
                interaction,
                original,
            } => {
                let is_original = *original.lock().unwrap_or_else(|e| e.into_inner()) == Some(mid);
                if is_original {
                    let builder = EditInteractionResponse::new()
                        .content(text)
                        .allowed_mentions(no_mentions());
                    interaction.edit_response(&self.http, builder).await?;
                } else {
                    let builder = CreateInteractionResponseFollowup::new()
                        .content(text)
                        .allowed_mentions(no_mentions());
                    interaction.edit_followup(&self.http, mid, builder).await?;
                }
            }
        }
        Ok(())
    }

    async fn typing(&self, to: &ChannelId) -> serenity::Result<()> {
        match self.answering {
            Answering::InChannel => to.broadcast_typing(&self.http).await,
            // The deferred response already shows "thinking…".
            Answering::ToCommand { .. } => Ok(()),
        }
    }

    /// Discord limits each channel, and a thread is a channel of its own.
    fn lane<'k>(&self, key: &'k ChannelKey) -> &'k str {
        key.thread.as_deref().unwrap_or(&key.chat)
    }

    /// To a slash command: an ephemeral follow-up only its user sees; otherwise a direct
    /// message to the user.
    async fn send_file(&self, file: &PrivateFile) -> Result<(), FileError<serenity::Error>> {
        let attachment = CreateAttachment::bytes(file.bytes.clone(), file.name.clone());
        match &self.answering {
            Answering::ToCommand { interaction, .. } => {
                let builder = CreateInteractionResponseFollowup::new()
                    .ephemeral(true)
                    .content(&file.caption)
                    .add_file(attachment)
                    .allowed_mentions(no_mentions());
                interaction
                    .create_followup(&self.http, builder)
                    .await
                    .map(drop)
                    .map_err(FileError::Call)
            }
            Answering::InChannel => {
                let user = UserId::new(parse_id(&file.user_id).map_err(FileError::Target)?);
                let dm = user
                    .create_dm_channel(&self.http)
                    .await
                    .map_err(FileError::Call)?;
                let builder = CreateMessage::new()
                    .content(&file.caption)
                    .add_file(attachment)
                    .allowed_mentions(no_mentions());
                dm.id
                    .send_message(&self.http, builder)
                    .await
                    .map(drop)
                    .map_err(FileError::Call)
            }
        }
    }

    /// The attachment's URL, never more than `max_bytes` (a `Content-Length` over it is
    /// refused before the body is read).
    async fn download(
        &self,
        attachment: &Attachment,
        max_bytes: u64,
    ) -> parley_core::Result<Vec<u8>> {
        // The URL's query is a signature: no need for it in the log.
        let failed = |e: reqwest::Error| {
            parley_core::Error::Platform(format!("discord download: {}", e.without_url()))
        };
        let response = reqwest::get(&attachment.locator)
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(failed)?;
        if let Some(n) = response.content_length().filter(|&n| n > max_bytes) {
            return Err(parley_core::Error::Platform(format!(
                "discord attachment of {n} bytes over the limit of {max_bytes}"
            )));
        }
        let chunks = response
            .bytes_stream()
            .map(|c| c.map_err(|e| e.without_url().to_string()));
        read_capped(Box::pin(chunks), max_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_mentions_allow_nothing() {
        let v = serde_json::to_value(no_mentions()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "parse": [], "users": [], "roles": [], "replied_user": false })
        );
    }
}
