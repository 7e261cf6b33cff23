//! Slash commands: registered from the core's command list, and turned back into plain
//! `/name args` text when used, so the core parses them exactly like a typed command.
//!
//! Each command gets one optional string option `args` when the core's command takes
//! arguments (its hint becomes the option's description). Admin-only commands are registered
//! like the others: the core decides who may run them, because configured admins need not
//! have Manage Server.

use parley_core::i18n::Language;
use parley_core::seam::{Author, ChannelKey, CommandInfo, Incoming, Platform};
use serenity::all::{
    CommandDataOptionValue, CommandInteraction, CommandOptionType, CreateCommand,
    CreateCommandOption, Permissions,
};

use crate::mapping::display_name;

/// Name of the single string option commands with arguments get.
pub const ARGS_OPTION: &str = "args";

fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name
            .chars()
            .all(|c| c == '-' || c == '_' || (c.is_alphanumeric() && !c.is_uppercase()))
}

fn clip(s: &str, max: usize, fallback: &str) -> String {
    let s = if s.trim().is_empty() {
        fallback
    } else {
        s.trim()
    };
    s.chars().take(max).collect()
}

/// Slash-command definitions for the core's commands (`commands`, described in the bot's
/// language), each description also in every language of `localized` (Discord shows a user the
/// one of their client's locale); names Discord would reject are skipped with a warning.
pub fn slash_commands(
    commands: &[CommandInfo],
    localized: &[(Language, Vec<CommandInfo>)],
) -> Vec<CreateCommand> {
    commands
        .iter()
        .filter(|c| {
            let ok = valid_name(c.name);
            if !ok {
                tracing::warn!(
                    command = c.name,
                    "not a valid Discord command name; not registered"
                );
            }
            ok
        })
        .map(|c| {
            let mut cmd = CreateCommand::new(c.name).description(clip(&c.description, 100, c.name));
            for (lang, list) in localized {
                if let Some(l) = list.iter().find(|l| l.name == c.name) {
                    let description = clip(&l.description, 100, c.name);
                    cmd = cmd.description_localized(lang.discord_locale(), description);
                }
            }
            if !c.args.is_empty() {
                cmd = cmd.add_option(
                    CreateCommandOption::new(
                        CommandOptionType::String,
                        ARGS_OPTION,
                        clip(c.args, 100, "arguments"),
                    )
                    .required(false),
                );
            }
            cmd
        })
        .collect()
}

/// The text a used slash command stands for: `/name` followed by its string arguments.
pub fn command_text(interaction: &CommandInteraction) -> String {
    let mut text = format!("/{}", interaction.data.name);
    for opt in &interaction.data.options {
        let v = match &opt.value {
            CommandDataOptionValue::String(s) => s.clone(),
            CommandDataOptionValue::Integer(i) => i.to_string(),
            CommandDataOptionValue::Number(n) => n.to_string(),
            CommandDataOptionValue::Boolean(b) => b.to_string(),
            _ => continue,
        };
        if !v.trim().is_empty() {
            text.push(' ');
            text.push_str(v.trim());
        }
    }
    text
}

/// A used slash command as an [`Incoming`]: addressed to the bot (`mentions_bot`), admin when
/// configured or when the member's resolved permissions include Manage Server / Administrator.
pub fn map_interaction(interaction: &CommandInteraction, configured_admin: bool) -> Incoming {
    let member = interaction.member.as_deref();
    let user = &interaction.user;
    let perms = member
        .and_then(|m| m.permissions)
        .unwrap_or(Permissions::empty());
    let manages = perms.intersects(Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR);
    Incoming {
        key: ChannelKey::new(Platform::Discord, interaction.channel_id.get().to_string()),
        message_id: interaction.id.get().to_string(),
        author: Author {
            id: user.id.get().to_string(),
            display_name: display_name(member.and_then(|m| m.nick.as_deref()), user),
            is_platform_admin: configured_admin || manages,
        },
        text: command_text(interaction),
        is_direct: interaction.guild_id.is_none(),
        mentions_bot: true,
        reply_to_bot: false,
        at: interaction.id.created_at().unix_timestamp(),
        channel_title: None,
        reply_to: None,
        attachments: Vec::new(),
        language: Some(interaction.locale.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(name: &'static str, args: &'static str) -> CommandInfo {
        CommandInfo {
            name,
            description: "does a thing".into(),
            args,
            admin_only: false,
        }
    }

    #[test]
    fn commands_with_args_get_an_optional_args_option() {
        let cmds = slash_commands(
            &[
                info("reset", ""),
                info("mode", "NAME"),
                info("Bad Name", ""),
            ],
            &[],
        );
        assert_eq!(cmds.len(), 2);
        let v = serde_json::to_value(&cmds[1]).unwrap();
        assert_eq!(v["name"], "mode");
        assert_eq!(v["options"][0]["name"], ARGS_OPTION);
        assert_eq!(v["options"][0]["required"], false);
        let v = serde_json::to_value(&cmds[0]).unwrap();
        assert!(v["options"].as_array().is_none_or(|o| o.is_empty()));
    }

    #[test]
    fn descriptions_are_localized_for_every_language_given() {
        let german = CommandInfo {
            description: "setzt etwas".into(),
            ..info("mode", "NAME")
        };
        let cmds = slash_commands(&[info("mode", "NAME")], &[(Language::German, vec![german])]);
        let v = serde_json::to_value(&cmds[0]).unwrap();
        assert_eq!(v["description"], "does a thing");
        assert_eq!(v["description_localizations"]["de"], "setzt etwas");
    }

    #[test]
    fn interaction_becomes_slash_text_with_admin_from_permissions() {
        let payload = json!({
            "id": "1300000000000000001", "application_id": "4242", "type": 2,
            "data": { "id": "900", "name": "mode", "type": 1,
                      "options": [{ "name": "args", "type": 3, "value": "translator" }] },
            "guild_id": "100", "channel_id": "200",
            "member": { "user": { "id": "10", "username": "alice", "global_name": "Alice" },
                        "nick": "Ally", "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
                        "deaf": false, "mute": false, "flags": 0, "permissions": "32" },
            "token": "tok", "version": 1, "locale": "en-US", "entitlements": [],
            "attachment_size_limit": 1000
        });
        let i: CommandInteraction = serde_json::from_value(payload).unwrap();
        let m = map_interaction(&i, false);
        assert_eq!(m.text, "/mode translator");
        assert!(m.author.is_platform_admin);
        assert_eq!(m.author.display_name, "Ally");
        assert!(m.mentions_bot && !m.is_direct);
        assert_eq!(m.key, ChannelKey::new(Platform::Discord, "200"));
    }
}
