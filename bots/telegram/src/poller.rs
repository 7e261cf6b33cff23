//! The runner: start-up calls, the long-polling loop, shutdown.

use std::sync::Arc;
use std::time::Duration;

use parley_core::i18n::Language;
use parley_core::seam::{Allowlist, CommandInfo, Handler, Outbox, Platform};
use teloxide::payloads::{
    DeleteMyCommandsSetters, DeleteWebhookSetters, GetUpdatesSetters, SetMyCommandsSetters,
};
use teloxide::prelude::Requester;
use teloxide::requests::Request;
use teloxide::types::{
    AllowedUpdate, BotCommand, BotCommandScope, ChatId, Recipient, Update, UpdateKind,
};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::access::Access;
use crate::chats::Chats;
use crate::mapping::{map_update, BotIdentity};
use crate::outbox::{is_transient, Redactor, TelegramOutbox};
use crate::settings::TelegramSettings;
use crate::{Error, Result};
use parley_core::metrics;
use parley_core::outbound::Backoff;
use parley_core::refusal::{Judged, Refusals};

/// Everything the running adapter holds.
pub(crate) struct Poller {
    pub(crate) bot: Bot,
    pub(crate) settings: TelegramSettings,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) outbox: TelegramOutbox,
    pub(crate) access: Arc<Access>,
    pub(crate) refusals: Refusals,
    pub(crate) chats: Chats,
    pub(crate) redactor: Redactor,
    pub(crate) stop: watch::Receiver<bool>,
}

/// Longest wait at shutdown for messages still queued in their chats to reach the core.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// Resolves once shutdown is asked for; never, if the handle was dropped without asking.
async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Telegram's rules for a command name: 1–32 of `a-z`, `0-9`, `_`.
fn valid_command(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The core's commands as Telegram lists them, the admins' marked in `lang` (invalid names
/// are skipped with a warning).
pub fn bot_commands(
    commands: &[parley_core::seam::CommandInfo],
    lang: Language,
) -> Vec<BotCommand> {
    let admins = format!(" {}", parley_core::t!(lang, "help-admins"));
    commands
        .iter()
        .filter(|c| {
            let ok = valid_command(c.name);
            if !ok {
                warn!(
                    command = c.name,
                    "not a valid Telegram command name; not registered"
                );
            }
            ok
        })
        .map(|c| {
            let mut description = c.description.clone();
            if !c.args.is_empty() {
                description = format!("{description} ({})", c.args);
            }
            if c.admin_only {
                description.push_str(&admins);
            }
            let description: String = description.chars().take(256).collect();
            BotCommand::new(c.name, description)
        })
        .take(100)
        .collect()
}

impl Poller {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// The backoff between attempts to reach Telegram when it does not answer.
    fn backoff(&self) -> Backoff {
        let policy = self.outbox.retry();
        Backoff::new(policy.initial_backoff, policy.max_backoff)
    }

    /// Sleep, or return early (`false`) when shutdown is asked for.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.stopping(),
            _ = stopped(self.stop.clone()) => false,
        }
    }

    /// Run until shutdown; then stop the handler. An `Err` only for what retrying cannot fix.
    pub(crate) async fn run(mut self) -> Result<()> {
        let result = self.serve().await;
        info!("stopping: waiting for the handler to finish");
        self.handler.shutdown().await;
        info!("stopped");
        result
    }

    async fn serve(&mut self) -> Result<()> {
        let Some(me) = self.identify().await? else {
            return Ok(());
        };
        info!(bot = %me.username, id = me.id, "connected to Telegram");
        self.prepare().await;
        self.poll(&me).await
    }

    /// `getMe`, retried until it works; `None` when shutdown came first.
    async fn identify(&mut self) -> Result<Option<BotIdentity>> {
        let mut backoff = self.backoff();
        loop {
            if self.stopping() {
                return Ok(None);
            }
            let result = tokio::select! {
                r = self.bot.get_me().send() => r,
                _ = stopped(self.stop.clone()) => return Ok(None),
            };
            match result {
                Ok(me) => {
                    let Some(username) = me.user.username.clone() else {
                        return Err(Error::Api("getMe answered without a username".to_owned()));
                    };
                    return Ok(Some(BotIdentity::new(me.user.id.0, username)));
                }
                Err(RequestError::Api(ApiError::InvalidToken)) => return Err(Error::InvalidToken),
                Err(RequestError::RetryAfter(s)) => {
                    if !self.pause(s.duration()).await {
                        return Ok(None);
                    }
                }
                Err(e) if is_transient(&e) => {
                    let wait = backoff.next_wait();
                    warn!(error = %self.redactor.text(&e), backoff_ms = wait.as_millis() as u64, "cannot reach Telegram; retrying");
                    if !self.pause(wait).await {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(Error::Api(self.redactor.text(&e))),
            }
        }
    }

    /// Drop a webhook (long polling and webhooks exclude each other) and register commands.
    /// Failures are logged: the bot can run without either.
    async fn prepare(&mut self) {
        let retry = self.outbox.retry().clone();
        let drop_pending = self.settings.drop_pending_updates;
        if let Err(e) = retry
            .run("deleteWebhook", &self.redactor, || {
                self.bot
                    .delete_webhook()
                    .drop_pending_updates(drop_pending)
                    .send()
            })
            .await
        {
            warn!(error = %self.redactor.text(&e), "deleteWebhook failed");
        }
        if self.settings.register_commands {
            self.register_commands().await;
        }
        // Questions a crash left unanswered; Telegram redelivers only unconfirmed updates, and
        // an update is confirmed by the next poll, which may come before its answer is done.
        let outbox: Arc<dyn Outbox> = Arc::new(self.outbox.clone());
        let allowlist: Arc<dyn Allowlist> = self.access.clone();
        self.handler
            .resume(Platform::Telegram, outbox, allowlist)
            .await;
    }

    /// The command menus, by scope, from the core's one list: group members see only what
    /// they may use, private chats everything but the admins' commands, group administrators
    /// (when they are the bot's admins there) and configured admins everything.
    ///
    /// Each menu is set once without a language (in `bot.language`, for users whose language
    /// has no menu of its own) and once per language the bot speaks, with its `language_code`.
    async fn register_commands(&self) {
        if !self.settings.group_admins_are_admins {
            // A menu an earlier start set for group administrators would outlive the setting.
            let scope = BotCommandScope::AllChatAdministrators;
            let deleted = self
                .outbox
                .retry()
                .run("deleteMyCommands", &self.redactor, || {
                    self.bot.delete_my_commands().scope(scope.clone()).send()
                })
                .await;
            if let Err(e) = deleted {
                warn!(error = %self.redactor.text(&e), "deleteMyCommands failed");
            }
        }
        let languages = std::iter::once(None).chain(Language::ALL.into_iter().map(Some));
        for language in languages {
            let lang = language.unwrap_or_else(|| self.handler.language());
            for (scope, commands) in self.menus(lang) {
                let commands = bot_commands(&commands, lang);
                let count = commands.len();
                let registered = self
                    .outbox
                    .retry()
                    .run("setMyCommands", &self.redactor, || {
                        let mut call = self.bot.set_my_commands(commands.clone());
                        call = call.scope(scope.clone());
                        match language {
                            Some(l) => call.language_code(l.code()).send(),
                            None => call.send(),
                        }
                    })
                    .await;
                match registered {
                    Ok(_) => info!(count, ?scope, ?language, "commands registered"),
                    Err(e) => {
                        warn!(error = %self.redactor.text(&e), ?scope, "setMyCommands failed")
                    }
                }
            }
        }
    }

    /// The command menus, by scope, described in `lang`.
    fn menus(&self, lang: Language) -> Vec<(BotCommandScope, Vec<CommandInfo>)> {
        let all = self.handler.commands(lang);
        let private: Vec<CommandInfo> = all.iter().filter(|c| !c.admin_only).cloned().collect();
        let mut menus = vec![
            (
                BotCommandScope::Default,
                self.handler.group_member_commands(lang),
            ),
            (BotCommandScope::AllPrivateChats, private),
        ];
        if self.settings.group_admins_are_admins {
            menus.push((BotCommandScope::AllChatAdministrators, all.clone()));
        }
        for admin in &self.settings.admin_user_ids {
            let chat_id = Recipient::Id(ChatId(*admin));
            menus.push((BotCommandScope::Chat { chat_id }, all.clone()));
        }
        menus
    }

    async fn poll(&mut self, me: &BotIdentity) -> Result<()> {
        let mut backoff = self.backoff();
        let mut failing = false;
        // The first update id not yet handled. Asking Telegram for updates from here confirms
        // everything before it, so a restart never sees a handled update again.
        let mut offset: i32 = 0;
        let mut unconfirmed = false;
        metrics::link("telegram", false, "connecting");
        'polling: while !self.stopping() {
            let request = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(self.settings.poll_timeout_secs)
                .allowed_updates([AllowedUpdate::Message])
                .send();
            let result = tokio::select! {
                r = request => r,
                _ = stopped(self.stop.clone()) => break 'polling,
            };
            match result {
                Ok(updates) => {
                    metrics::link("telegram", true, "connected");
                    unconfirmed = false;
                    if failing {
                        info!("polling works again");
                        failing = false;
                    }
                    backoff.reset();
                    for update in updates {
                        let next = i32::try_from(update.id.0.saturating_add(1)).unwrap_or(i32::MAX);
                        if next <= offset {
                            debug!(update = update.id.0, "already handled; skipped");
                            continue;
                        }
                        offset = next;
                        unconfirmed = true;
                        self.dispatch(update, me);
                        if self.stopping() {
                            break 'polling;
                        }
                    }
                }
                Err(RequestError::RetryAfter(s)) => {
                    metrics::rate_limited("getUpdates");
                    warn!(
                        retry_after_s = s.seconds(),
                        "getUpdates rate limited; waiting"
                    );
                    if !self.pause(s.duration()).await {
                        break;
                    }
                }
                Err(RequestError::Api(ApiError::InvalidToken)) => {
                    self.confirm(offset, unconfirmed).await;
                    return Err(Error::InvalidToken);
                }
                Err(e) => {
                    metrics::link("telegram", false, "disconnected");
                    let wait = backoff.next_wait();
                    let backoff_ms = wait.as_millis() as u64;
                    if failing {
                        debug!(error = %self.redactor.text(&e), backoff_ms, "getUpdates still failing");
                    } else {
                        warn!(error = %self.redactor.text(&e), backoff_ms, "getUpdates failed; retrying");
                    }
                    failing = true;
                    if !self.pause(wait).await {
                        break;
                    }
                }
            }
        }
        self.chats.finish(SHUTDOWN_DRAIN).await;
        // Not past a message still queued: Telegram delivers it again on the next start.
        let offset = self.chats.first_pending().map_or(offset, |p| p.min(offset));
        self.confirm(offset, unconfirmed).await;
        Ok(())
    }

    /// Tell Telegram the handled updates are done (`getUpdates` with the offset, not waiting),
    /// so the next start begins after them. Best effort: a failure is logged.
    async fn confirm(&self, offset: i32, unconfirmed: bool) {
        if !unconfirmed {
            return;
        }
        let request = self
            .bot
            .get_updates()
            .offset(offset)
            .limit(1)
            .timeout(0)
            .send();
        match tokio::time::timeout(Duration::from_secs(5), request).await {
            Ok(Ok(_)) => debug!(offset, "offset confirmed"),
            Ok(Err(e)) => {
                warn!(offset, error = %self.redactor.text(&e), "could not confirm handled updates; they may be seen again")
            }
            Err(_) => warn!(
                offset,
                "confirming handled updates timed out; they may be seen again"
            ),
        }
    }

    /// One update: map, check access, queue it in its chat (which marks admins and hands it
    /// to the core).
    fn dispatch(&self, update: Update, me: &BotIdentity) {
        let update_id = update.id.0;
        if let UpdateKind::Error(_) = update.kind {
            warn!(
                update = update_id,
                "an update teloxide cannot read was skipped"
            );
            return;
        }
        let Some(incoming) = map_update(&update, me) else {
            debug!(update = update_id, "update ignored");
            return;
        };
        let (Ok(chat), Ok(user)) = (
            incoming.key.chat.parse::<i64>(),
            incoming.author.id.parse::<i64>(),
        ) else {
            return;
        };
        let addressed = incoming.mentions_bot || incoming.reply_to_bot;
        let verdict = self.access.check(chat, user, incoming.is_direct, addressed);
        let judged = Judged {
            place: chat.to_string(),
            key: incoming.key.clone(),
            message_id: incoming.message_id.clone(),
            language: incoming.language.clone(),
            is_direct: incoming.is_direct,
        };
        if !self
            .refusals
            .admit(verdict, judged, Arc::new(self.outbox.clone()))
        {
            return;
        }
        let update = i32::try_from(update_id).unwrap_or(i32::MAX);
        self.chats.push(chat, update, user, incoming);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::seam::CommandInfo;

    #[test]
    fn commands_map_to_telegram_and_invalid_names_are_skipped() {
        let commands = [
            CommandInfo {
                name: "reset",
                description: "Forget this conversation".into(),
                args: "",
                admin_only: false,
            },
            CommandInfo {
                name: "mode",
                description: "Switch mode".into(),
                args: "NAME",
                admin_only: false,
            },
            CommandInfo {
                name: "system",
                description: "Set the system prompt".into(),
                args: "TEXT",
                admin_only: true,
            },
            CommandInfo {
                name: "Bad-Name",
                description: "x".into(),
                args: "",
                admin_only: false,
            },
        ];
        let out = bot_commands(&commands, Language::English);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].command, "reset");
        assert_eq!(out[1].description, "Switch mode (NAME)");
        assert_eq!(out[2].description, "Set the system prompt (TEXT) (admins)");
        let out = bot_commands(&commands, Language::German);
        assert_eq!(out[2].description, "Set the system prompt (TEXT) (Admins)");
    }
}
