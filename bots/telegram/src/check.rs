//! `parley-telegram --check`: Telegram's items of the core's setup checklist (the `[telegram]`
//! section, the token and `getMe`, privacy mode). The checklist itself is the core's
//! [`parley_core::setup_check`].

use parley_core::config::Settings;
use parley_core::setup_check::Checklist;
use teloxide::prelude::Requester as _;
use teloxide::{ApiError, RequestError};

use crate::{Redactor, TelegramSettings, Url};

/// Add Telegram's items to `list`: `[telegram]` parses, the token is set and `getMe` accepts
/// it, and how privacy mode fits `bot.keep_group_context`. `token` is `TELOXIDE_TOKEN`'s value,
/// `api_url` the Bot API base (Telegram's when `None`).
pub async fn check_telegram(
    list: &mut Checklist,
    settings: &Settings,
    token: Option<String>,
    api_url: Option<Url>,
) {
    match TelegramSettings::from_settings(settings) {
        Ok(_) => list.pass("[telegram] section", "parses, every key known"),
        Err(e) => list.fail(
            "[telegram] section",
            e.to_string(),
            "correct the key named (config.toml's [telegram] comments list them)",
        ),
    }
    let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
        list.fail(
            "bot token",
            "TELOXIDE_TOKEN is not set",
            "ask @BotFather for a token (/newbot) and export TELOXIDE_TOKEN=…",
        );
        return;
    };
    let redactor = Redactor::new(&token);
    let mut bot = teloxide::Bot::new(token.trim());
    if let Some(url) = api_url {
        bot = bot.set_api_url(url);
    }
    let me = match bot.get_me().await {
        Ok(me) => me,
        Err(RequestError::Api(ApiError::InvalidToken)) => {
            list.fail(
                "bot token",
                "Telegram rejects TELOXIDE_TOKEN (getMe: 401 Unauthorized)",
                "copy the token again from @BotFather (/token; /revoke issues a new one)",
            );
            return;
        }
        Err(e) => {
            list.fail(
                "bot token",
                format!("getMe failed: {}", redactor.text(&e)),
                "check the network (or TELOXIDE_API_URL) and try again",
            );
            return;
        }
    };
    let name = me.user.username.clone().unwrap_or_default();
    list.pass("bot token", format!("valid: the bot is @{name}"));
    privacy_mode(list, me.can_read_all_group_messages, settings);
}

/// Privacy mode (README "Groups: privacy mode"): on, the bot sees only what is addressed to
/// it in groups, which is all it needs unless `bot.keep_group_context` asks for the rest.
fn privacy_mode(list: &mut Checklist, reads_all: bool, settings: &Settings) {
    const WHAT: &str = "privacy mode";
    match (reads_all, settings.bot.keep_group_context) {
        (true, _) => list.pass(WHAT, "off: the bot sees every group message"),
        (false, false) => list.pass(
            WHAT,
            "on: in groups the bot sees mentions, replies to it and commands (all it needs)",
        ),
        (false, true) => list.note(
            WHAT,
            "on, but bot.keep_group_context = true: other group messages never arrive",
            "BotFather → /setprivacy → Disable, then add the bot to the group again \
             (or make it a group administrator)",
        ),
    }
}
