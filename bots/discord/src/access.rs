//! Who may talk to the bot where, and who is an admin.
//!
//! [`Access`] applies the optional allowlists of `[discord]` to what a message says; [`Gate`]
//! adds what must be looked up (a DM author's guild roles, for `direct_messages_from_members`)
//! and paces refusals; [`ResumeGate`] asks it again for questions a restart left unanswered.
//! [`GuildDirectory`] remembers what
//! GUILD_CREATE and thread events said about each guild (owner, role permissions, the bot's
//! managed role, thread parents, channel names), which the gateway messages themselves lack.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use parley_core::outbound::RefusalGap;
use parley_core::seam::{Allowlist, Incoming};
use serenity::http::Http;
use serenity::model::channel::Channel;

use serenity::model::channel::GuildChannel;
use serenity::model::guild::{Guild, Role};
use serenity::model::id::{ChannelId, GuildId, RoleId, UserId};
use serenity::model::permissions::Permissions;

use crate::settings::DiscordSettings;

/// Where a message or command comes from, for the allowlists.
#[derive(Debug, Clone, Default)]
pub struct Origin {
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
    pub fn allows(&self, o: &Origin) -> bool {
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

/// What the allowlists say about a message (the core's one verdict type).
pub use parley_core::seam::AccessVerdict as Verdict;

/// How long a member's roles looked up through REST are trusted.
const MEMBER_TTL: Duration = Duration::from_secs(300);
/// How long "not a member" (or a failed lookup) is trusted.
const NOT_MEMBER_TTL: Duration = Duration::from_secs(60);
/// Gap between two refusals to one user.
const REFUSAL_GAP: Duration = Duration::from_secs(600);

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
    refused: RefusalGap,
}

impl Gate {
    /// The gate of `access`, reading guilds from `directory`.
    pub fn new(access: Access, directory: Arc<GuildDirectory>) -> Self {
        Self {
            access: RwLock::new(Arc::new(access)),
            directory,
            members: Mutex::new(HashMap::new()),
            refused: RefusalGap::new(REFUSAL_GAP),
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
    pub async fn verdict(&self, http: &Http, o: &Origin) -> Verdict {
        let a = self.access();
        if a.allows(o) {
            return Verdict::Allow;
        }
        if o.guild.is_some() {
            return Verdict::Ignore;
        }
        if a.direct && a.members_in_dms && self.holds_an_allowed_role(http, o.user).await {
            return Verdict::Allow;
        }
        Verdict::Refuse
    }

    /// Whether a refusal may be sent to `user` now (one per ten minutes).
    pub fn refusal_due(&self, user: UserId) -> bool {
        self.refused.due(&user.to_string())
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
    async fn origin(&self, m: &Incoming) -> Option<Origin> {
        let user = UserId::new(m.author.id.parse::<u64>().ok().filter(|u| *u != 0)?);
        let channel = ChannelId::new(m.key.chat.parse::<u64>().ok().filter(|c| *c != 0)?);
        let mut origin = Origin {
            guild: None,
            channel,
            parent: None,
            user,
            roles: Vec::new(),
        };
        if m.is_direct {
            return Some(origin);
        }
        let Ok(Channel::Guild(c)) = self.http.get_channel(channel).await else {
            tracing::info!(%channel, "cannot tell the guild of a resumed question's channel");
            return None;
        };
        origin.guild = Some(c.guild_id);
        origin.parent = c.thread_metadata.and(c.parent_id);
        origin.roles = self
            .gate
            .member_roles(&self.http, c.guild_id, user)
            .await
            .unwrap_or_default();
        Some(origin)
    }
}

#[async_trait::async_trait]
impl Allowlist for ResumeGate {
    async fn admits(&self, m: &Incoming) -> bool {
        if self.gate.access().is_open() {
            return true;
        }
        match self.origin(m).await {
            Some(o) => self.gate.verdict(&self.http, &o).await == Verdict::Allow,
            None => false,
        }
    }
}

/// What the adapter knows about one guild.
#[derive(Debug, Clone, Default)]
pub struct GuildFacts {
    /// Owner: always an admin.
    pub owner: UserId,
    /// Permission bits of each role (the guild id is the `@everyone` role).
    pub role_permissions: HashMap<RoleId, Permissions>,
    /// Roles managed for a bot user, by the bot's id.
    pub bot_roles: HashMap<UserId, Vec<RoleId>>,
}

impl GuildFacts {
    /// Whether a member with `roles` may manage the server (Manage Server or Administrator,
    /// from the role permissions; the owner always may).
    pub fn can_manage(&self, guild: GuildId, user: UserId, roles: &[RoleId]) -> bool {
        if user == self.owner {
            return true;
        }
        let everyone = RoleId::new(guild.get());
        let perms = roles
            .iter()
            .chain(std::iter::once(&everyone))
            .filter_map(|r| self.role_permissions.get(r))
            .fold(Permissions::empty(), |a, p| a | *p);
        perms.intersects(Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR)
    }
}

/// Facts from GUILD_CREATE and thread events, shared by all event tasks.
#[derive(Debug, Default)]
pub struct GuildDirectory {
    guilds: RwLock<HashMap<GuildId, GuildFacts>>,
    /// Thread id → parent channel id.
    parents: RwLock<HashMap<ChannelId, ChannelId>>,
    /// Channel or thread id → name.
    names: RwLock<HashMap<ChannelId, String>>,
}

fn role_entry(r: &Role) -> (RoleId, Permissions) {
    (r.id, r.permissions)
}

impl GuildDirectory {
    /// Remember a guild from GUILD_CREATE.
    pub fn add_guild(&self, g: &Guild) {
        let mut facts = GuildFacts {
            owner: g.owner_id,
            role_permissions: g.roles.values().map(role_entry).collect(),
            bot_roles: HashMap::new(),
        };
        for r in g.roles.values() {
            if let Some(bot) = r.tags.bot_id {
                facts.bot_roles.entry(bot).or_default().push(r.id);
            }
        }
        write(&self.guilds).insert(g.id, facts);
        for c in g.channels.values() {
            self.add_channel(c);
        }
        for t in &g.threads {
            self.add_channel(t);
        }
    }

    /// Remember a channel or thread (name, and parent for threads).
    pub fn add_channel(&self, c: &GuildChannel) {
        write(&self.names).insert(c.id, c.name.clone());
        if c.thread_metadata.is_some() {
            if let Some(p) = c.parent_id {
                write(&self.parents).insert(c.id, p);
            }
        }
    }

    /// Update one role (GUILD_ROLE_CREATE / UPDATE).
    pub fn update_role(&self, r: &Role) {
        if let Some(g) = write(&self.guilds).get_mut(&r.guild_id) {
            g.role_permissions.insert(r.id, r.permissions);
            if let Some(bot) = r.tags.bot_id {
                let v = g.bot_roles.entry(bot).or_default();
                if !v.contains(&r.id) {
                    v.push(r.id);
                }
            }
        }
    }

    /// The known guilds that have at least one of `roles`.
    pub fn guilds_with_any_role(&self, roles: &HashSet<u64>) -> Vec<GuildId> {
        read(&self.guilds)
            .iter()
            .filter(|(_, g)| g.role_permissions.keys().any(|r| roles.contains(&r.get())))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The thread's parent, if `channel` is a known thread.
    pub fn parent_of(&self, channel: ChannelId) -> Option<ChannelId> {
        read(&self.parents).get(&channel).copied()
    }

    /// The channel's name, if known.
    pub fn name_of(&self, channel: ChannelId) -> Option<String> {
        read(&self.names).get(&channel).cloned()
    }

    /// The managed roles of `bot` in `guild`.
    pub fn bot_roles(&self, guild: GuildId, bot: UserId) -> Vec<RoleId> {
        read(&self.guilds)
            .get(&guild)
            .and_then(|g| g.bot_roles.get(&bot).cloned())
            .unwrap_or_default()
    }

    /// Whether the member may manage the guild; `false` when the guild is unknown.
    pub fn can_manage(&self, guild: GuildId, user: UserId, roles: &[RoleId]) -> bool {
        read(&self.guilds)
            .get(&guild)
            .is_some_and(|g| g.can_manage(guild, user, roles))
    }
}

// A poisoned lock only means another task panicked mid-update of a plain map; the data is
// still usable, and refusing service would be worse.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(guild: Option<u64>, channel: u64, user: u64, roles: &[u64]) -> Origin {
        Origin {
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
        assert!(a.allows(&origin(Some(1), 2, 3, &[])));
        assert!(a.allows(&origin(None, 2, 3, &[])));
    }

    #[test]
    fn guild_and_channel_lists_apply_and_threads_pass_through_their_parent() {
        let s = DiscordSettings {
            allowed_guild_ids: vec![1],
            allowed_channel_ids: vec![20],
            ..DiscordSettings::default()
        };
        let a = Access::new(&s);
        assert!(a.allows(&origin(Some(1), 20, 3, &[])));
        assert!(!a.allows(&origin(Some(9), 20, 3, &[])));
        assert!(!a.allows(&origin(Some(1), 21, 3, &[])));
        let mut t = origin(Some(1), 30, 3, &[]);
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
        assert!(a.allows(&origin(Some(1), 2, 3, &[])));
        assert!(a.allows(&origin(Some(1), 2, 4, &[50])));
        assert!(!a.allows(&origin(Some(1), 2, 4, &[51])));
        assert!(!a.allows(&origin(None, 2, 3, &[])));
        assert!(a.allows(&origin(None, 2, 99, &[])));
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
            assert!(!a.allows(&origin(None, 2, 3, &[])), "{s:?}");
            let listed = Access::new(&DiscordSettings {
                allowed_user_ids: vec![3],
                ..s
            });
            assert!(listed.allows(&origin(None, 2, 3, &[])));
        }
    }

    #[test]
    fn manage_server_comes_from_roles_or_ownership() {
        let g = GuildId::new(1);
        let mut f = GuildFacts {
            owner: UserId::new(7),
            ..GuildFacts::default()
        };
        f.role_permissions
            .insert(RoleId::new(1), Permissions::SEND_MESSAGES);
        f.role_permissions
            .insert(RoleId::new(5), Permissions::MANAGE_GUILD);
        f.role_permissions
            .insert(RoleId::new(6), Permissions::ADMINISTRATOR);
        assert!(f.can_manage(g, UserId::new(7), &[]));
        assert!(!f.can_manage(g, UserId::new(8), &[]));
        assert!(f.can_manage(g, UserId::new(8), &[RoleId::new(5)]));
        assert!(f.can_manage(g, UserId::new(8), &[RoleId::new(6)]));
    }
}
