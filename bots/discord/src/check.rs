//! `parley-discord --check`: Discord's items of the core's setup checklist (the `[discord]`
//! section, the token, the Message Content intent, the configured guilds and the bot's
//! permissions there). The checklist itself is the core's [`parley_core::setup_check`].

use parley_core::config::Settings;
use parley_core::setup_check::Checklist;
use serenity::all::{ApplicationFlags, GuildInfo, Http, HttpBuilder, Permissions};

use crate::DiscordSettings;

/// What the bot needs in a guild's channels: read them and their history (replies quote the
/// message answered), write in them and in their threads.
fn needed_permissions() -> Permissions {
    Permissions::VIEW_CHANNEL
        | Permissions::SEND_MESSAGES
        | Permissions::SEND_MESSAGES_IN_THREADS
        | Permissions::READ_MESSAGE_HISTORY
}

/// Add Discord's items to `list`. `token` is `DISCORD_TOKEN`'s value, `api_base` the REST base
/// (`DISCORD_API_BASE`; Discord's when `None`).
pub async fn check_discord(
    list: &mut Checklist,
    settings: &Settings,
    token: Option<String>,
    api_base: Option<String>,
) {
    let discord = match DiscordSettings::from_settings(settings) {
        Ok(d) => {
            list.pass("[discord] section", "parses, every key known");
            d
        }
        Err(e) => {
            list.fail(
                "[discord] section",
                e.to_string(),
                "correct the key named (config.toml's [discord] comments list them)",
            );
            return;
        }
    };
    let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
        list.fail(
            "bot token",
            "DISCORD_TOKEN is not set",
            "Developer Portal → your application → Bot → Reset Token; export DISCORD_TOKEN=…",
        );
        return;
    };
    let mut http = HttpBuilder::new(token.trim());
    if let Some(base) = api_base {
        http = http.proxy(base).ratelimiter_disabled(true);
    }
    let http = http.build();
    match http.get_current_user().await {
        Ok(me) => list.pass("bot token", format!("valid: the bot is {}", me.name)),
        Err(e) => {
            let rejected = matches!(&e, serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) if r.status_code.as_u16() == 401);
            let (found, fix) = if rejected {
                (
                    "Discord rejects DISCORD_TOKEN (GET /users/@me: 401)".to_string(),
                    "Developer Portal → Bot → Reset Token, and use the new one",
                )
            } else {
                (
                    format!("GET /users/@me failed: {e}"),
                    "check the network (or DISCORD_API_BASE) and try again",
                )
            };
            list.fail("bot token", found, fix);
            return;
        }
    }
    message_content_intent(list, &http).await;
    guilds(list, &http, &discord).await;
}

/// The privileged Message Content intent is switched on (the application's flags).
async fn message_content_intent(list: &mut Checklist, http: &Http) {
    const WHAT: &str = "Message Content intent";
    let flags = match http.get_current_application_info().await {
        Ok(app) => app.flags.unwrap_or_else(ApplicationFlags::empty),
        Err(e) => {
            list.fail(
                WHAT,
                format!("GET /oauth2/applications/@me failed: {e}"),
                "try again",
            );
            return;
        }
    };
    if flags.intersects(
        ApplicationFlags::GATEWAY_MESSAGE_CONTENT
            | ApplicationFlags::GATEWAY_MESSAGE_CONTENT_LIMITED,
    ) {
        list.pass(WHAT, "enabled");
    } else {
        list.fail(
            WHAT,
            "disabled: guild messages would arrive without their text",
            "Developer Portal → your application → Bot → Privileged Gateway Intents → \
             Message Content Intent: on",
        );
    }
}

/// The bot is in each configured guild (`allowed_guild_ids`, `command_guild_ids`; every guild
/// it is in when none is configured) with the permissions it needs.
async fn guilds(list: &mut Checklist, http: &Http, discord: &DiscordSettings) {
    let joined: Vec<GuildInfo> = match http.get_guilds(None, None).await {
        Ok(g) => g,
        Err(e) => {
            list.fail(
                "guilds",
                format!("GET /users/@me/guilds failed: {e}"),
                "try again",
            );
            return;
        }
    };
    let invite = "invite it: Developer Portal → OAuth2 → URL Generator, scopes bot and \
                  applications.commands, permissions View Channels, Send Messages, Send \
                  Messages in Threads, Read Message History";
    let mut configured: Vec<u64> = discord.allowed_guild_ids.clone();
    configured.extend(&discord.command_guild_ids);
    configured.sort_unstable();
    configured.dedup();
    if configured.is_empty() {
        if joined.is_empty() {
            list.note("guilds", "the bot is in no guild yet (DMs only)", invite);
        }
        configured = joined.iter().map(|g| g.id.get()).collect();
    }
    for id in configured {
        let what = format!("guild {id}");
        let Some(guild) = joined.iter().find(|g| g.id.get() == id) else {
            list.fail(&what, "configured, but the bot is not a member", invite);
            continue;
        };
        let missing = if guild.permissions.administrator() {
            Permissions::empty()
        } else {
            needed_permissions() - guild.permissions
        };
        if missing.is_empty() {
            list.pass(
                &what,
                format!("{}: member, permissions complete", guild.name),
            );
        } else {
            list.fail(
                &what,
                format!("{}: missing permissions: {}", guild.name, missing.get_permission_names().join(", ")),
                "Server Settings → Roles → the bot's role: grant them (or in the channels' overrides)",
            );
        }
    }
}
