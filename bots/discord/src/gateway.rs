//! The serenity event handler: gateway events in, [`Incoming`]s to the core's [`Handler`] out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use parley_core::bot::replies;
use parley_core::i18n::Language;
use parley_core::metrics;
use parley_core::seam::{ChannelKey, CommandInfo, Handler, Incoming, Outbox, Platform};
use serenity::all::{
    ChannelId, Command, CommandInteraction, ConnectionStage, Context, CreateInteractionResponse,
    CreateInteractionResponseMessage, EventHandler, GuildChannel, GuildId, Interaction, Message,
    MessageId, MessageReferenceKind, Reaction, ReactionType, Ready, ResumedEvent, Role,
    ShardStageUpdateEvent, ThreadListSyncEvent, UserId,
};
use serenity::model::guild::Guild;

use crate::access::{Access, Asker, Gate, ResumeGate};
use crate::guilds::GuildDirectory;
use crate::mapping::{map_flag_reaction, map_message, replied_to, MessageFacts};
use crate::slash::{map_interaction, slash_commands};
use parley_core::outbound::{EditThrottle, RetryPolicy};
use parley_core::refusal::{Judged, Refusals, REFUSAL_GAP};
use parley_core::seam::AccessVerdict;

use crate::outbox::{channel_outbox, interaction_outbox, Serenity};
use crate::settings::DiscordSettings;

/// Receives serenity's events and hands messages and commands to the core.
pub struct Events {
    handler: Arc<dyn Handler>,
    settings: DiscordSettings,
    gate: Arc<Gate>,
    refusals: Refusals,
    directory: Arc<GuildDirectory>,
    retry: RetryPolicy,
    throttle: Arc<EditThrottle>,
    bot_id: UserId,
    registered: AtomicBool,
}

impl Events {
    /// Events for `handler` under `settings`.
    pub fn new(handler: Arc<dyn Handler>, settings: DiscordSettings, bot_id: UserId) -> Self {
        let directory = Arc::new(GuildDirectory::default());
        let refusals = Refusals::new(REFUSAL_GAP, handler.language(), None);
        Self {
            handler,
            gate: Arc::new(Gate::new(Access::new(&settings), directory.clone())),
            refusals,
            directory,
            retry: settings.retry_policy(),
            throttle: Arc::new(EditThrottle::new(settings.edit_interval())),
            settings,
            bot_id,
            registered: AtomicBool::new(false),
        }
    }

    /// The allowlists' gate (a reload replaces its rules).
    pub fn gate(&self) -> Arc<Gate> {
        Arc::clone(&self.gate)
    }

    fn outbox(&self, ctx: &Context) -> Arc<dyn Outbox> {
        Arc::new(channel_outbox(
            Arc::clone(&ctx.http),
            self.retry.clone(),
            Arc::clone(&self.throttle),
            self.settings.edit_interval(),
        ))
    }

    async fn register_commands(&self, ctx: &Context) {
        if !self.settings.register_commands || self.registered.swap(true, Ordering::SeqCst) {
            return;
        }
        let handler = &self.handler;
        let localized: Vec<(Language, Vec<CommandInfo>)> = Language::ALL
            .into_iter()
            .map(|lang| (lang, handler.commands(lang)))
            .collect();
        let commands = slash_commands(&handler.commands(handler.language()), &localized);
        let count = commands.len();
        if self.settings.command_guild_ids.is_empty() {
            let r = self
                .retry
                .run("register global commands", &Serenity, || {
                    Command::set_global_commands(&ctx.http, commands.clone())
                })
                .await;
            match r {
                Ok(_) => tracing::info!(
                    count,
                    "slash commands registered globally (may take up to an hour to appear)"
                ),
                Err(e) => tracing::error!(error = %e, "registering slash commands failed"),
            }
        } else {
            for g in &self.settings.command_guild_ids {
                let guild = GuildId::new(*g);
                let r = self
                    .retry
                    .run("register guild commands", &Serenity, || {
                        guild.set_commands(&ctx.http, commands.clone())
                    })
                    .await;
                match r {
                    Ok(_) => tracing::info!(count, guild = g, "slash commands registered in guild"),
                    Err(e) => {
                        tracing::error!(guild = g, error = %e, "registering slash commands failed")
                    }
                }
            }
        }
    }

    fn asker(
        &self,
        guild: Option<GuildId>,
        channel: serenity::all::ChannelId,
        user: UserId,
        roles: Vec<serenity::all::RoleId>,
    ) -> Asker {
        Asker {
            guild,
            channel,
            parent: self.directory.parent_of(channel),
            user,
            roles,
        }
    }

    /// The message as the core should see it, or `None` when it is ignored (bots, webhooks,
    /// outside the allowlists, nothing to read). A DM from someone not allowed is refused,
    /// politely and at most once in a while.
    async fn incoming_for(&self, ctx: &Context, msg: &Message) -> Option<Incoming> {
        if msg.author.bot || msg.webhook_id.is_some() {
            return None;
        }
        let bot_id = self.bot_id;
        let roles = msg
            .member
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let asker = self.asker(msg.guild_id, msg.channel_id, msg.author.id, roles.clone());
        match self.gate.verdict(&ctx.http, &asker).await {
            AccessVerdict::Allow => {}
            AccessVerdict::Ignore => {
                tracing::debug!(channel = %msg.channel_id, user = %msg.author.id, "message outside the allowlists ignored");
                return None;
            }
            AccessVerdict::Refuse => {
                // A message carries no locale: the line is in the bot's language.
                let judged = Judged {
                    place: msg.author.id.to_string(),
                    key: ChannelKey::new(Platform::Discord, msg.channel_id.get().to_string()),
                    message_id: msg.id.get().to_string(),
                    language: None,
                    is_direct: msg.guild_id.is_none(),
                };
                self.refusals
                    .admit(AccessVerdict::Refuse, judged, self.outbox(ctx));
                return None;
            }
        }
        let is_admin = self.gate.access().is_configured_admin(msg.author.id)
            || msg
                .guild_id
                .is_some_and(|g| self.directory.can_manage(g, msg.author.id, &roles));
        let facts = MessageFacts {
            bot_id,
            bot_role_ids: msg
                .guild_id
                .map(|g| self.directory.bot_roles(g, bot_id))
                .unwrap_or_default(),
            author_is_admin: is_admin,
            channel_title: self.directory.name_of(msg.channel_id),
        };
        map_message(msg, &facts)
    }

    /// A message by id, through REST (retried like every call); `None`, logged, when it
    /// cannot be had (deleted, no access).
    async fn fetch_message(
        &self,
        ctx: &Context,
        channel: ChannelId,
        id: MessageId,
    ) -> Option<Message> {
        let fetched = self
            .retry
            .run("fetch a message", &Serenity, || {
                ctx.http.get_message(channel, id)
            })
            .await;
        match fetched {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(channel = %channel, error = %e, "could not fetch a message");
                None
            }
        }
    }

    /// The message `msg` replies to, when Discord left it out of the event (it does for
    /// older messages): fetched, but only for messages that may be for the bot.
    async fn fill_reply(&self, ctx: &Context, msg: &Message, incoming: &mut Incoming) {
        let reference = msg
            .message_reference
            .as_ref()
            .filter(|r| r.kind == MessageReferenceKind::Default);
        let Some(id) = reference.and_then(|r| r.message_id) else {
            return;
        };
        let may_be_for_us =
            incoming.is_direct || incoming.mentions_bot || incoming.text.starts_with('/');
        if incoming.reply_to.is_some() || !may_be_for_us {
            return;
        }
        // The rate limit before the REST call (the message itself meets it in the core).
        if !self
            .handler
            .within_rate_limit(Platform::Discord, &incoming.author.id)
        {
            return;
        }
        if let Some(original) = self.fetch_message(ctx, msg.channel_id, id).await {
            let replied = replied_to(&original, self.bot_id);
            incoming.reply_to_bot = replied.is_bot;
            incoming.reply_to = Some(replied);
        }
    }

    /// A country-flag reaction: the message reacted to, translated, as a reply to it (a
    /// `/tr LANG` for the core, under the same allowlists and rate limit as messages).
    async fn flag_reaction(&self, ctx: &Context, reaction: Reaction) {
        let ReactionType::Unicode(emoji) = &reaction.emoji else {
            return;
        };
        let Some(user) = reaction.user_id else {
            return;
        };
        if parley_core::translate::flag_language(emoji).is_none() || user == self.bot_id {
            return;
        }
        let roles = reaction
            .member
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let asker = self.asker(reaction.guild_id, reaction.channel_id, user, roles.clone());
        if self.gate.verdict(&ctx.http, &asker).await != AccessVerdict::Allow {
            tracing::debug!(channel = %reaction.channel_id, user = %user, "reaction outside the allowlists ignored");
            return;
        }
        // The rate limit before the REST call: reactions must not buy unlimited fetches.
        if !self
            .handler
            .within_rate_limit(Platform::Discord, &user.get().to_string())
        {
            tracing::debug!(user = %user, "reaction over the rate limit ignored");
            return;
        }
        let Some(reacted) = self
            .fetch_message(ctx, reaction.channel_id, reaction.message_id)
            .await
        else {
            return;
        };
        let is_admin = self.gate.access().is_configured_admin(user)
            || reaction
                .guild_id
                .is_some_and(|g| self.directory.can_manage(g, user, &roles));
        let facts = MessageFacts {
            bot_id: self.bot_id,
            bot_role_ids: Vec::new(),
            author_is_admin: is_admin,
            channel_title: self.directory.name_of(reaction.channel_id),
        };
        let Some(incoming) = map_flag_reaction(&reaction, &reacted, &facts) else {
            return;
        };
        tracing::debug!(channel = %incoming.key, "flag reaction");
        self.handler.handle(incoming, self.outbox(ctx)).await;
    }

    async fn command(&self, ctx: &Context, cmd: CommandInteraction) {
        let roles = cmd
            .member
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let asker = self.asker(cmd.guild_id, cmd.channel_id, cmd.user.id, roles);
        if self.gate.verdict(&ctx.http, &asker).await != AccessVerdict::Allow {
            let reply = CreateInteractionResponse::Message(
                CreateInteractionResponseMessage::new()
                    .content(replies::not_enabled_here(Language::resolve(
                        Some(cmd.locale.as_str()),
                        self.handler.language(),
                    )))
                    .ephemeral(true),
            );
            if let Err(e) = cmd.create_response(&ctx.http, reply).await {
                tracing::warn!(error = %e, "could not answer a refused command");
            }
            return;
        }
        // Defer first: Discord wants an answer within 3 s, the model may take longer.
        let deferred = self
            .retry
            .run("defer interaction", &Serenity, || {
                cmd.create_response(
                    &ctx.http,
                    CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new()),
                )
            })
            .await;
        if let Err(e) = deferred {
            tracing::error!(error = %e, "could not defer a slash command");
            return;
        }
        let is_admin = self.gate.access().is_configured_admin(cmd.user.id);
        let incoming = map_interaction(&cmd, is_admin);
        tracing::debug!(channel = %incoming.key, command = %cmd.data.name, "slash command");
        let outbox = Arc::new(interaction_outbox(
            Arc::clone(&ctx.http),
            cmd,
            self.retry.clone(),
            Arc::clone(&self.throttle),
            self.settings.edit_interval(),
        ));
        self.handler.handle(incoming, outbox).await;
    }
}

#[async_trait]
impl EventHandler for Events {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let (shard, total) = ready.shard.map_or((0, 1), |s| (s.id.0, s.total));
        metrics::shard(shard, true, "connected");
        metrics::gateway_event(shard);
        if self.bot_id != ready.user.id {
            tracing::warn!("READY names a different bot user than the token's");
        }
        tracing::info!(bot = %ready.user.name, guilds = ready.guilds.len(), shard, total, "connected to Discord");
        self.register_commands(&ctx).await;
        // Questions a crash left unanswered (the core skips those already answered or queued,
        // so a READY after a reconnect does no harm).
        let allowlist = Arc::new(ResumeGate {
            gate: Arc::clone(&self.gate),
            http: Arc::clone(&ctx.http),
        });
        self.handler
            .resume(Platform::Discord, self.outbox(&ctx), allowlist)
            .await;
    }

    async fn resume(&self, ctx: Context, _event: ResumedEvent) {
        metrics::gateway_event(ctx.shard_id.0);
        tracing::info!(shard = ctx.shard_id.0, "gateway session resumed");
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        let connected = event.new == ConnectionStage::Connected;
        let state = format!("{:?}", event.new).to_lowercase();
        metrics::shard(event.shard_id.0, connected, &state);
    }

    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        self.directory.add_guild(&guild);
    }

    async fn guild_role_create(&self, _ctx: Context, new: Role) {
        self.directory.update_role(&new);
    }

    async fn guild_role_update(&self, _ctx: Context, _old: Option<Role>, new: Role) {
        self.directory.update_role(&new);
    }

    async fn channel_create(&self, _ctx: Context, channel: GuildChannel) {
        self.directory.add_channel(&channel);
    }

    async fn thread_create(&self, _ctx: Context, thread: GuildChannel) {
        self.directory.add_channel(&thread);
    }

    async fn thread_update(&self, _ctx: Context, _old: Option<GuildChannel>, new: GuildChannel) {
        self.directory.add_channel(&new);
    }

    async fn thread_list_sync(&self, _ctx: Context, sync: ThreadListSyncEvent) {
        for t in &sync.threads {
            self.directory.add_channel(t);
        }
    }

    async fn message(&self, ctx: Context, msg: Message) {
        metrics::gateway_event(ctx.shard_id.0);
        let Some(mut incoming) = self.incoming_for(&ctx, &msg).await else {
            return;
        };
        self.fill_reply(&ctx, &msg, &mut incoming).await;
        tracing::debug!(channel = %incoming.key, mentions_bot = incoming.mentions_bot, direct = incoming.is_direct, "message");
        self.handler.handle(incoming, self.outbox(&ctx)).await;
    }

    async fn reaction_add(&self, ctx: Context, reaction: Reaction) {
        self.flag_reaction(&ctx, reaction).await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        metrics::gateway_event(ctx.shard_id.0);
        if let Interaction::Command(cmd) = interaction {
            self.command(&ctx, cmd).await;
        }
    }
}
