//! Who may talk to the bot where, and who is an admin.
//!
//! [`Access`] applies the optional allowlists of `[discord]` to what a message says; [`Gate`]
//! adds what must be looked up (a DM author's guild roles, for `direct_messages_from_members`)
//! (refusals are the core's `refusal` flow); [`ResumeGate`] asks it again for questions a restart left unanswered.
//! The guilds they read roles and owners from are [`GuildDirectory`]'s
//! ([`crate::guilds`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use parley_core::seam::{AccessVerdict, Allowlist, Incoming};
use serenity::http::Http;
use serenity::model::channel::Channel;

use serenity::model::id::{ChannelId, GuildId, RoleId, UserId};

use crate::guilds::GuildDirectory;
use crate::settings::DiscordSettings;

/// Who asks, and where: what the allowlists judge a message or command by.
#[derive(Debug, Clone, Default)]
pub struct Asker {
    /// Guild, `None` for a DM.
    pub guild: Option<GuildId>,
    /// Channel (or thread) it was posted in.
    pub channel: ChannelId,
    /// The thread's parent channel, when the channel is a thread.
    pub parent: Option<ChannelId>,
    /// The author.
    pub user: UserId,
    /// The author's roles in the guild.
    pub roles: Vec<RoleId>,
}

/// The allowlists and admin ids of `[discord]`.
#[derive(Debug, Clone, Default)]
pub struct Access {
    guilds: HashSet<u64>,
    channels: HashSet<u64>,
    roles: HashSet<u64>,
    users: HashSet<u64>,
    admins: HashSet<u64>,
    direct: bool,
    members_in_dms: bool,
}

impl Access {
    /// From the settings.
    pub fn new(s: &DiscordSettings) -> Self {
        Self {
            guilds: s.allowed_guild_ids.iter().copied().collect(),
            channels: s.allowed_channel_ids.iter().copied().collect(),
            roles: s.allowed_role_ids.iter().copied().collect(),
            users: s.allowed_user_ids.iter().copied().collect(),
            admins: s.admin_user_ids.iter().copied().collect(),
            direct: s.allow_direct_messages,
            members_in_dms: s.direct_messages_from_members,
        }
    }

    /// Whether no list restricts anyone (every message passes).
    pub fn is_open(&self) -> bool {
        self.direct
            && self.guilds.is_empty()
            && self.channels.is_empty()
            && self.roles.is_empty()
            && self.users.is_empty()
    }

    /// Whether a member holding `roles` in an allowed guild passes the role list.
    fn roles_admit(&self, roles: &[RoleId]) -> bool {
        self.roles.is_empty() || roles.iter().any(|r| self.roles.contains(&r.get()))
    }

    /// Whether `user` is a configured admin.
    pub fn is_configured_admin(&self, user: UserId) -> bool {
        self.admins.contains(&user.get())
    }

    /// Whether the bot may answer here, from what the message itself says. Configured admins
    /// pass every list. A DM (when DMs are on) passes when no user, role or guild list is set,
    /// or its author is listed; membership of an allowed guild is [`Gate`]'s to look up. In a
    /// guild the guild list, the channel list (a thread passes through its parent) and "user
    /// list or role list" must all admit.
    pub fn allows(&self, o: &Asker) -> bool {
        if self.is_configured_admin(o.user) {
            return true;
        }
        let user_ok = self.users.contains(&o.user.get());
        let Some(guild) = o.guild else {
            let unrestricted =
                self.users.is_empty() && self.roles.is_empty() && self.guilds.is_empty();
            return self.direct && (unrestricted || user_ok);
        };
        if !self.guilds.is_empty() && !self.guilds.contains(&guild.get()) {
            return false;
        }
        if !self.channels.is_empty()
            && !self.channels.contains(&o.channel.get())
            && !o.parent.is_some_and(|p| self.channels.contains(&p.get()))
        {
            return false;
        }
        if self.users.is_empty() && self.roles.is_empty() {
            return true;
        }
        user_ok || o.roles.iter().any(|r| self.roles.contains(&r.get()))
    }
}

/// How long a member's roles looked up through REST are trusted.
const MEMBER_TTL: Duration = Duration::from_secs(300);
/// How long "not a member" (or a failed lookup) is trusted.
const NOT_MEMBER_TTL: Duration = Duration::from_secs(60);

/// The `[discord]` keys a reload applies live ([`Gate::reload`]).
pub const LIVE_KEYS: &[&str] = &[
    "discord.allowed_guild_ids",
    "discord.allowed_channel_ids",
    "discord.allowed_role_ids",
    "discord.allowed_user_ids",
    "discord.allow_direct_messages",
    "discord.direct_messages_from_members",
];

/// [`Gate`] as a part of the core's reload: checks the `[discord]` section, applies its
/// [`LIVE_KEYS`].
#[derive(Debug)]
pub struct LiveGate(pub Arc<Gate>);

impl parley_core::reload::Reloadable for LiveGate {
    fn live_keys(&self) -> &[&str] {
        LIVE_KEYS
    }

    fn check(&self, settings: &parley_core::config::Settings) -> parley_core::Result<()> {
        DiscordSettings::from_settings(settings)
            .map(|_| ())
            .map_err(|e| parley_core::Error::Config {
                key: "discord".into(),
                reason: e.to_string(),
            })
    }

    fn apply(&self, settings: &parley_core::config::Settings) {
        match DiscordSettings::from_settings(settings) {
            Ok(discord) => self.0.reload(&discord),
            Err(e) => tracing::warn!(error = %e, "[discord] not reloaded"),
        }
    }
}

/// A member's roles (`None`: not a member, or unknown), valid until the instant.
type CachedMember = (Instant, Option<Vec<RoleId>>);

/// The allowlists applied to messages, commands and resumed questions, with what they need to
/// look up: guild memberships for DMs (REST, cached, failures included) and the gap between
/// refusals.
#[derive(Debug)]
pub struct Gate {
    /// The allowlists in force: replaced whole on a reload.
    access: RwLock<Arc<Access>>,
    directory: Arc<GuildDirectory>,
    members: Mutex<HashMap<(GuildId, UserId), CachedMember>>,
}

impl Gate {
    /// The gate of `access`, reading guilds from `directory`.
    pub fn new(access: Access, directory: Arc<GuildDirectory>) -> Self {
        Self {
            access: RwLock::new(Arc::new(access)),
            directory,
            members: Mutex::new(HashMap::new()),
        }
    }

    /// The allowlists in force.
    pub fn access(&self) -> Arc<Access> {
        self.access
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Take the allowlists of reloaded settings ([`LIVE_KEYS`]); the next message is judged by
    /// them.
    pub fn reload(&self, settings: &DiscordSettings) {
        *self.access.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Access::new(settings));
    }

    /// What to do with a message or command from `o`.
    pub async fn verdict(&self, http: &Http, o: &Asker) -> AccessVerdict {
        let a = self.access();
        if a.allows(o) {
            return AccessVerdict::Allow;
        }
        if o.guild.is_some() {
            return AccessVerdict::Ignore;
        }
        if a.direct && a.members_in_dms && self.holds_an_allowed_role(http, o.user).await {
            return AccessVerdict::Allow;
        }
        AccessVerdict::Refuse
    }

    /// Whether `user` is a member of an allowed guild holding an allowed role. The guilds
    /// asked: the guild list, or without one the known guilds that have an allowed role.
    async fn holds_an_allowed_role(&self, http: &Http, user: UserId) -> bool {
        let a = self.access();
        let guilds: Vec<GuildId> = if a.guilds.is_empty() {
            self.directory.guilds_with_any_role(&a.roles)
        } else {
            a.guilds.iter().map(|g| GuildId::new(*g)).collect()
        };
        for guild in guilds {
            if let Some(roles) = self.member_roles(http, guild, user).await {
                if a.roles_admit(&roles) {
                    return true;
                }
            }
        }
        false
    }

    /// `user`'s roles in `guild`, from the cache or REST; `None` when not a member (or the
    /// lookup failed: cached too, for a shorter time).
    pub async fn member_roles(
        &self,
        http: &Http,
        guild: GuildId,
        user: UserId,
    ) -> Option<Vec<RoleId>> {
        {
            let cache = self.members.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((until, roles)) = cache.get(&(guild, user)) {
                if Instant::now() < *until {
                    return roles.clone();
                }
            }
        }
        let roles = match http.get_member(guild, user).await {
            Ok(m) => Some(m.roles),
            Err(e) => {
                tracing::debug!(%guild, %user, error = %e, "no membership found");
                None
            }
        };
        let ttl = if roles.is_some() {
            MEMBER_TTL
        } else {
            NOT_MEMBER_TTL
        };
        let mut cache = self.members.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            let now = Instant::now();
            cache.retain(|_, (until, _)| *until > now);
        }
        cache.insert((guild, user), (Instant::now() + ttl, roles.clone()));
        roles
    }
}

/// The gate asked again for a question a restart left unanswered (see
/// [`parley_core::seam::Allowlist`]): a guild channel's guild and the author's roles are
/// looked up through REST, since the stored question does not carry them.
pub struct ResumeGate {
    /// The gate.
    pub gate: Arc<Gate>,
    /// REST.
    pub http: Arc<Http>,
}

impl ResumeGate {
    /// Where `m` came from, as the allowlists need it; `None` when that cannot be found out.
    async fn asker(&self, m: &Incoming) -> Option<Asker> {
        let user = UserId::new(m.author.id.parse::<u64>().ok().filter(|u| *u != 0)?);
        let channel = ChannelId::new(m.key.chat.parse::<u64>().ok().filter(|c| *c != 0)?);
        let mut asker = Asker {
            guild: None,
            channel,
            parent: None,
            user,
            roles: Vec::new(),
        };
        if m.is_direct {
            return Some(asker);
        }
        let Ok(Channel::Guild(c)) = self.http.get_channel(channel).await else {
            tracing::info!(%channel, "cannot tell the guild of a resumed question's channel");
            return None;
        };
        asker.guild = Some(c.guild_id);
        asker.parent = c.thread_metadata.and(c.parent_id);
        asker.roles = self
            .gate
            .member_roles(&self.http, c.guild_id, user)
            .await
            .unwrap_or_default();
        Some(asker)
    }
}

#[async_trait::async_trait]
impl Allowlist for ResumeGate {
    async fn admits(&self, m: &Incoming) -> bool {
        if self.gate.access().is_open() {
            return true;
        }
        match self.asker(m).await {
            Some(o) => self.gate.verdict(&self.http, &o).await == AccessVerdict::Allow,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asker(guild: Option<u64>, channel: u64, user: u64, roles: &[u64]) -> Asker {
        Asker {
            guild: guild.map(GuildId::new),
            channel: ChannelId::new(channel),
            parent: None,
            user: UserId::new(user),
            roles: roles.iter().map(|r| RoleId::new(*r)).collect(),
        }
    }

    #[test]
    fn empty_lists_admit_everyone() {
        let a = Access::new(&DiscordSettings::default());
        assert!(a.allows(&asker(Some(1), 2, 3, &[])));
        assert!(a.allows(&asker(None, 2, 3, &[])));
    }

    #[test]
    fn guild_and_channel_lists_apply_and_threads_pass_through_their_parent() {
        let s = DiscordSettings {
            allowed_guild_ids: vec![1],
            allowed_channel_ids: vec![20],
            ..DiscordSettings::default()
        };
        let a = Access::new(&s);
        assert!(a.allows(&asker(Some(1), 20, 3, &[])));
        assert!(!a.allows(&asker(Some(9), 20, 3, &[])));
        assert!(!a.allows(&asker(Some(1), 21, 3, &[])));
        let mut t = asker(Some(1), 30, 3, &[]);
        t.parent = Some(ChannelId::new(20));
        assert!(a.allows(&t));
    }

    #[test]
    fn user_or_role_list_admits_and_admins_pass_everything() {
        let s = DiscordSettings {
            allowed_user_ids: vec![3],
            allowed_role_ids: vec![50],
            admin_user_ids: vec![99],
            allow_direct_messages: false,
            ..DiscordSettings::default()
        };
        let a = Access::new(&s);
        assert!(a.allows(&asker(Some(1), 2, 3, &[])));
        assert!(a.allows(&asker(Some(1), 2, 4, &[50])));
        assert!(!a.allows(&asker(Some(1), 2, 4, &[51])));
        assert!(!a.allows(&asker(None, 2, 3, &[])));
        assert!(a.allows(&asker(None, 2, 99, &[])));
    }

    #[test]
    fn a_dm_under_a_role_or_guild_list_needs_a_listed_user() {
        for s in [
            DiscordSettings {
                allowed_role_ids: vec![50],
                ..DiscordSettings::default()
            },
            DiscordSettings {
                allowed_guild_ids: vec![1],
                ..DiscordSettings::default()
            },
        ] {
            let a = Access::new(&s);
            assert!(!a.allows(&asker(None, 2, 3, &[])), "{s:?}");
            let listed = Access::new(&DiscordSettings {
                allowed_user_ids: vec![3],
                ..s
            });
            assert!(listed.allows(&asker(None, 2, 3, &[])));
        }
    }
}
