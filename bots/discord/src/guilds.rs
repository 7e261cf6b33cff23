//! [`GuildDirectory`]: what GUILD_CREATE and thread events said about each guild (owner, role
//! permissions, the bot's managed role, thread parents, channel names), which the gateway
//! messages themselves lack.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use serenity::model::channel::GuildChannel;
use serenity::model::guild::{Guild, Role};
use serenity::model::id::{ChannelId, GuildId, RoleId, UserId};
use serenity::model::permissions::Permissions;

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
