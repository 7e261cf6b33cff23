//! Who may talk to the bot, and who administers it.
//!
//! Allowlists: with both `allowed_user_ids` and `allowed_chat_ids` empty everyone is allowed;
//! otherwise a message is allowed when its author or its chat is listed (so listing a group
//! admits all its members, listing a user admits them everywhere). Configured admins are always
//! allowed. Admins are the configured `admin_user_ids` plus, in groups, the group's
//! administrators (from `getChatAdministrators`, cached per chat).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use teloxide::prelude::Requester;
use teloxide::requests::Request;
use teloxide::types::ChatId;
use tracing::{debug, warn};

use parley_core::outbound::Client;
use parley_core::seam::{AccessVerdict, Allowlist, Incoming};

use crate::outbox::TelegramOutbox;
use crate::settings::TelegramSettings;

/// How long a group's admin list is trusted after a failed lookup.
const FAILED_LOOKUP_TTL: Duration = Duration::from_secs(30);
/// Longest wait for a group's administrator list: after it the author is taken as no admin,
/// and the failure is cached like any other, so a slow API costs a chat this wait only once.
const ADMIN_LOOKUP_LIMIT: Duration = Duration::from_secs(5);

/// A group's administrators, valid until the instant.
type CachedAdmins = (Instant, Arc<HashSet<i64>>);

/// The `[telegram]` keys a reload applies live (see [`Access::reload`]).
pub const LIVE_KEYS: &[&str] = &[
    "telegram.allowed_user_ids",
    "telegram.allowed_chat_ids",
    "telegram.group_admins_are_admins",
    "telegram.refuse_in_groups",
    "telegram.admin_cache_secs",
];

/// [`Access`] as a part of the core's reload: checks the `[telegram]` section, applies its
/// [`LIVE_KEYS`].
#[derive(Debug)]
pub(crate) struct LiveAccess(pub(crate) Arc<Access>);

impl parley_core::reload::Reloadable for LiveAccess {
    fn live_keys(&self) -> &[&str] {
        LIVE_KEYS
    }

    fn check(&self, settings: &parley_core::config::Settings) -> parley_core::Result<()> {
        TelegramSettings::from_settings(settings)
            .map(|_| ())
            .map_err(|e| parley_core::Error::Config {
                key: "telegram".into(),
                reason: e.to_string(),
            })
    }

    fn apply(&self, settings: &parley_core::config::Settings) {
        match TelegramSettings::from_settings(settings) {
            Ok(telegram) => self.0.reload(&telegram),
            Err(e) => warn!(error = %e, "[telegram] not reloaded"),
        }
    }
}

/// The rules of the settings: replaced whole on a reload.
#[derive(Debug)]
struct Rules {
    allowed_users: HashSet<i64>,
    allowed_chats: HashSet<i64>,
    admins: HashSet<i64>,
    group_admins_are_admins: bool,
    refuse_in_groups: bool,
    cache_ttl: Duration,
}

impl Rules {
    fn new(settings: &TelegramSettings) -> Self {
        Self {
            allowed_users: settings.allowed_user_ids.iter().copied().collect(),
            allowed_chats: settings.allowed_chat_ids.iter().copied().collect(),
            admins: settings.admin_user_ids.iter().copied().collect(),
            group_admins_are_admins: settings.group_admins_are_admins,
            refuse_in_groups: settings.refuse_in_groups,
            cache_ttl: Duration::from_secs(settings.admin_cache_secs),
        }
    }
}

/// Allowlists, admins and the group-admin cache.
#[derive(Debug)]
pub struct Access {
    rules: RwLock<Arc<Rules>>,
    group_admins: Mutex<HashMap<i64, CachedAdmins>>,
}

impl Access {
    /// Access rules from settings.
    pub fn new(settings: &TelegramSettings) -> Self {
        Self {
            rules: RwLock::new(Arc::new(Rules::new(settings))),
            group_admins: Mutex::new(HashMap::new()),
        }
    }

    /// Take the allowlists and admins of reloaded settings (`LIVE_KEYS`); the next message
    /// is judged by them.
    pub fn reload(&self, settings: &TelegramSettings) {
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Rules::new(settings));
    }

    fn rules(&self) -> Arc<Rules> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `user` in `chat` may talk to the bot; for those who may not, whether they are told.
    /// `addressed`: the message mentions or replies to the bot (groups are only refused then).
    pub fn check(&self, chat: i64, user: i64, is_direct: bool, addressed: bool) -> AccessVerdict {
        let rules = self.rules();
        let open = rules.allowed_users.is_empty() && rules.allowed_chats.is_empty();
        if open
            || rules.admins.contains(&user)
            || rules.allowed_users.contains(&user)
            || rules.allowed_chats.contains(&chat)
        {
            return AccessVerdict::Allow;
        }
        if is_direct || (rules.refuse_in_groups && addressed) {
            AccessVerdict::Refuse
        } else {
            AccessVerdict::Ignore
        }
    }

    /// Whether `user` is a configured admin.
    pub fn is_configured_admin(&self, user: i64) -> bool {
        self.rules().admins.contains(&user)
    }

    /// Whether `user` administers the bot in `chat`: configured, or (in groups, when enabled) an
    /// administrator of the group. Lookup failures count as "no" and are logged.
    pub async fn is_admin(
        &self,
        outbox: &TelegramOutbox,
        chat: i64,
        user: i64,
        is_direct: bool,
    ) -> bool {
        if self.is_configured_admin(user) {
            return true;
        }
        if is_direct || !self.rules().group_admins_are_admins {
            return false;
        }
        self.group_admins(outbox, chat).await.contains(&user)
    }

    async fn group_admins(&self, outbox: &TelegramOutbox, chat: i64) -> Arc<HashSet<i64>> {
        {
            let cache = self.group_admins.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((until, admins)) = cache.get(&chat) {
                if Instant::now() < *until {
                    return admins.clone();
                }
            }
        }
        let cache_ttl = self.rules().cache_ttl;
        let (client, judge) = (outbox.client(), outbox.client().judge());
        let lookup = outbox.retry().run("getChatAdministrators", judge, || {
            client.bot().get_chat_administrators(ChatId(chat)).send()
        });
        let (admins, ttl) = match tokio::time::timeout(ADMIN_LOOKUP_LIMIT, lookup).await {
            Err(_) => {
                warn!(chat, "the group's administrators took too long to fetch");
                (Arc::new(HashSet::new()), FAILED_LOOKUP_TTL.min(cache_ttl))
            }
            Ok(Ok(members)) => {
                let ids: HashSet<i64> = members
                    .iter()
                    .filter(|m| m.is_privileged())
                    .filter_map(|m| i64::try_from(m.user.id.0).ok())
                    .collect();
                debug!(chat, admins = ids.len(), "group administrators fetched");
                (Arc::new(ids), cache_ttl)
            }
            Ok(Err(e)) => {
                warn!(chat, error = %judge.text(&e), "could not fetch the group's administrators");
                (Arc::new(HashSet::new()), FAILED_LOOKUP_TTL.min(cache_ttl))
            }
        };
        let mut cache = self.group_admins.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            let now = Instant::now();
            cache.retain(|_, (until, _)| *until > now);
        }
        cache.insert(chat, (Instant::now() + ttl, admins.clone()));
        admins
    }
}

/// Asked again for a question a restart left unanswered: it is answered only if its author or
/// chat is still allowed (the configuration may have changed since it was asked).
#[async_trait::async_trait]
impl Allowlist for Access {
    async fn admits(&self, message: &Incoming) -> bool {
        let (Ok(chat), Ok(user)) = (
            message.key.chat.parse::<i64>(),
            message.author.id.parse::<i64>(),
        ) else {
            return false;
        };
        self.check(chat, user, message.is_direct, true) == AccessVerdict::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(users: &[i64], chats: &[i64], refuse_in_groups: bool) -> Access {
        Access::new(&TelegramSettings {
            allowed_user_ids: users.to_vec(),
            allowed_chat_ids: chats.to_vec(),
            admin_user_ids: vec![99],
            refuse_in_groups,
            ..TelegramSettings::default()
        })
    }

    #[test]
    fn empty_allowlists_allow_everyone() {
        assert_eq!(
            access(&[], &[], false).check(-5, 1, false, false),
            AccessVerdict::Allow
        );
    }

    #[test]
    fn listed_user_or_chat_is_allowed() {
        let a = access(&[1], &[-5], false);
        assert_eq!(a.check(1, 1, true, false), AccessVerdict::Allow);
        assert_eq!(a.check(-7, 1, false, true), AccessVerdict::Allow);
        assert_eq!(a.check(-5, 2, false, false), AccessVerdict::Allow);
        assert_eq!(
            a.check(-7, 99, false, false),
            AccessVerdict::Allow,
            "admins always pass"
        );
    }

    #[test]
    fn strangers_are_refused_in_private_and_ignored_in_groups() {
        let a = access(&[1], &[], false);
        assert_eq!(a.check(2, 2, true, false), AccessVerdict::Refuse);
        assert_eq!(a.check(-7, 2, false, true), AccessVerdict::Ignore);
        let loud = access(&[1], &[], true);
        assert_eq!(loud.check(-7, 2, false, true), AccessVerdict::Refuse);
        assert_eq!(loud.check(-7, 2, false, false), AccessVerdict::Ignore);
    }
}
