//! MESSAGE_CREATE → [`Incoming`]: a pure function of the message and a few facts about the bot.
//!
//! Conversations: a DM, a guild channel and a thread are each their own conversation. The
//! [`ChannelKey`]'s `chat` is the Discord channel id the message was posted in — for a thread
//! that is the thread's own id (threads are channels on Discord), so a thread never shares turns
//! with its parent; `thread` stays `None`. This keeps the key stable whether or not the adapter
//! has seen the thread's parent yet (after a restart it may not have).
//!
//! A reply carries the message it replies to ([`replied_to`]); files come as [`Attachment`]s
//! with their URL. A country-flag reaction on a message becomes a `/tr LANG` for it
//! ([`map_flag_reaction`]), answered as a reply to the message reacted to.

use parley_core::seam::{Attachment, Author, ChannelKey, Incoming, Platform, RepliedTo};
use parley_core::translate::flag_language;
use serenity::model::channel::{Message, MessageType, Reaction, ReactionType};
use serenity::model::id::{RoleId, UserId};

/// What the mapping needs to know besides the message itself.
#[derive(Debug, Clone, Default)]
pub struct MessageFacts {
    /// The bot's own user id.
    pub bot_id: UserId,
    /// Roles that stand for the bot in this guild (its managed role): mentioning them calls it.
    pub bot_role_ids: Vec<RoleId>,
    /// Whether the author administers this place (configured admin, or Manage Server).
    pub author_is_admin: bool,
    /// Channel name, when known (used in prompts).
    pub channel_title: Option<String>,
}

/// Turn a message into an [`Incoming`], or `None` when the bot must not see it: messages from
/// bots (itself included), webhooks and system messages, and messages with neither text (once
/// the bot's mentions are stripped) nor files (embeds only).
pub fn map_message(msg: &Message, facts: &MessageFacts) -> Option<Incoming> {
    if msg.author.bot || msg.author.id == facts.bot_id || msg.webhook_id.is_some() {
        return None;
    }
    if !matches!(msg.kind, MessageType::Regular | MessageType::InlineReply) {
        return None;
    }
    let (text, mentioned) = strip_bot_mentions(&msg.content, facts.bot_id, &facts.bot_role_ids);
    let attachments: Vec<Attachment> = msg
        .attachments
        .iter()
        .map(|a| Attachment {
            name: a.filename.clone(),
            mime: a.content_type.clone(),
            size: Some(u64::from(a.size)),
            locator: a.url.clone(),
        })
        .collect();
    if text.is_empty() && attachments.is_empty() {
        return None;
    }
    let reply_to = msg
        .referenced_message
        .as_deref()
        .map(|r| replied_to(r, facts.bot_id));
    let reply_to_bot = reply_to.as_ref().is_some_and(|r| r.is_bot);
    let nick = msg.member.as_ref().and_then(|m| m.nick.clone());
    Some(Incoming {
        key: ChannelKey::new(Platform::Discord, msg.channel_id.get().to_string()),
        message_id: msg.id.get().to_string(),
        author: Author {
            id: msg.author.id.get().to_string(),
            display_name: display_name(nick.as_deref(), &msg.author),
            is_platform_admin: facts.author_is_admin,
        },
        text,
        is_direct: msg.guild_id.is_none(),
        mentions_bot: mentioned,
        reply_to_bot,
        at: msg.timestamp.unix_timestamp(),
        channel_title: facts.channel_title.clone(),
        reply_to,
        attachments,
        language: None,
    })
}

/// A message as the one an incoming message replies to (or a reaction is on).
pub fn replied_to(msg: &Message, bot_id: UserId) -> RepliedTo {
    let nick = msg.member.as_ref().and_then(|m| m.nick.clone());
    RepliedTo {
        message_id: msg.id.get().to_string(),
        author_name: display_name(nick.as_deref(), &msg.author),
        text: msg.content.clone(),
        is_bot: msg.author.id == bot_id,
    }
}

/// A country-flag reaction on `reacted` as a `/tr LANG` for it, or `None` for any other
/// reaction (another emoji, a flag without a language, a bot reacting). The answer replies to
/// the message reacted to, so the [`Incoming`] carries its id.
pub fn map_flag_reaction(
    reaction: &Reaction,
    reacted: &Message,
    facts: &MessageFacts,
) -> Option<Incoming> {
    let ReactionType::Unicode(emoji) = &reaction.emoji else {
        return None;
    };
    let lang = flag_language(emoji)?;
    let user = reaction.user_id?;
    let member = reaction.member.as_ref();
    if user == facts.bot_id || member.is_some_and(|m| m.user.bot) {
        return None;
    }
    let display_name = member.map_or_else(
        || "someone".to_string(),
        |m| display_name(m.nick.as_deref(), &m.user),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let reply_to = replied_to(reacted, facts.bot_id);
    Some(Incoming {
        key: ChannelKey::new(Platform::Discord, reaction.channel_id.get().to_string()),
        message_id: reaction.message_id.get().to_string(),
        author: Author {
            id: user.get().to_string(),
            display_name,
            is_platform_admin: facts.author_is_admin,
        },
        text: format!("/tr {}", lang.code()),
        is_direct: reaction.guild_id.is_none(),
        mentions_bot: true,
        reply_to_bot: reply_to.is_bot,
        at: now,
        channel_title: facts.channel_title.clone(),
        reply_to: Some(reply_to),
        attachments: Vec::new(),
        language: None,
    })
}

/// The name people see: guild nickname, then global display name, then username.
pub fn display_name(nick: Option<&str>, user: &serenity::model::user::User) -> String {
    nick.filter(|n| !n.trim().is_empty())
        .or(user.global_name.as_deref().filter(|n| !n.trim().is_empty()))
        .unwrap_or(&user.name)
        .to_string()
}

/// Remove `<@bot>`, `<@!bot>` and `<@&bot_role>` from `content`; returns the tidied text and
/// whether any was there. Other users' mentions stay (the core neutralises them on output).
pub fn strip_bot_mentions(content: &str, bot: UserId, bot_roles: &[RoleId]) -> (String, bool) {
    let mut tokens = vec![format!("<@{bot}>"), format!("<@!{bot}>")];
    tokens.extend(bot_roles.iter().map(|r| format!("<@&{r}>")));
    let mut text = content.to_string();
    let mut found = false;
    for t in &tokens {
        if text.contains(t.as_str()) {
            found = true;
            // Take the space after the mention with it, so "<@1> hi" becomes "hi", not " hi";
            // other whitespace (code indentation) is left alone.
            text = text.replace(&format!("{t} "), "").replace(t.as_str(), "");
        }
    }
    let trimmed = if found {
        text.trim().trim_start_matches([',', ':']).trim()
    } else {
        text.trim()
    };
    (trimmed.to_string(), found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const BOT: u64 = 4242;
    const BOT_ROLE: u64 = 7777;

    fn user(id: u64, name: &str, global: Option<&str>, bot: bool) -> Value {
        json!({ "id": id.to_string(), "username": name, "discriminator": "0",
                "global_name": global, "avatar": null, "bot": bot })
    }

    /// A MESSAGE_CREATE payload as the gateway sends it (guild message with partial member).
    fn fixture(content: &str) -> Value {
        json!({
            "id": "1100", "channel_id": "200", "guild_id": "100",
            "author": user(10, "alice", Some("Alice A."), false),
            "member": { "nick": "Ally", "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
                        "deaf": false, "mute": false, "flags": 0 },
            "content": content, "timestamp": "2025-01-01T12:00:00.000000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": false, "type": 0, "flags": 0, "components": []
        })
    }

    fn parse(v: Value) -> Message {
        serde_json::from_value(v).expect("fixture deserialises into serenity's Message")
    }

    fn facts() -> MessageFacts {
        MessageFacts {
            bot_id: UserId::new(BOT),
            bot_role_ids: vec![RoleId::new(BOT_ROLE)],
            ..MessageFacts::default()
        }
    }

    #[test]
    fn guild_mention_is_stripped_and_flagged() {
        let m = map_message(&parse(fixture("<@4242> what is rust?")), &facts()).unwrap();
        assert_eq!(m.text, "what is rust?");
        assert!(m.mentions_bot);
        assert!(!m.is_direct);
        assert_eq!(m.key, ChannelKey::new(Platform::Discord, "200"));
        assert_eq!(m.message_id, "1100");
        assert_eq!(m.at, 1_735_732_800);
    }

    #[test]
    fn nickname_mention_and_role_mention_count_as_mentions() {
        let m = map_message(&parse(fixture("hey <@!4242>, help")), &facts()).unwrap();
        assert_eq!(m.text, "hey , help");
        assert!(m.mentions_bot);
        let m = map_message(&parse(fixture("<@&7777> summarise")), &facts()).unwrap();
        assert_eq!(m.text, "summarise");
        assert!(m.mentions_bot);
    }

    #[test]
    fn other_mentions_are_not_the_bot() {
        let m = map_message(&parse(fixture("<@99> and <@&5> hi")), &facts()).unwrap();
        assert!(!m.mentions_bot);
        assert_eq!(m.text, "<@99> and <@&5> hi");
    }

    #[test]
    fn display_name_prefers_nick_then_global_then_username() {
        let m = map_message(&parse(fixture("hi")), &facts()).unwrap();
        assert_eq!(m.author.display_name, "Ally");
        let mut v = fixture("hi");
        v["member"]["nick"] = Value::Null;
        assert_eq!(
            map_message(&parse(v.clone()), &facts())
                .unwrap()
                .author
                .display_name,
            "Alice A."
        );
        v["author"]["global_name"] = Value::Null;
        assert_eq!(
            map_message(&parse(v), &facts())
                .unwrap()
                .author
                .display_name,
            "alice"
        );
    }

    #[test]
    fn direct_message_has_no_guild_and_is_direct() {
        let mut v = fixture("hello");
        v.as_object_mut().unwrap().remove("guild_id");
        v.as_object_mut().unwrap().remove("member");
        let m = map_message(&parse(v), &facts()).unwrap();
        assert!(m.is_direct);
        assert!(!m.mentions_bot);
        assert_eq!(m.author.display_name, "Alice A.");
    }

    #[test]
    fn thread_message_is_keyed_by_the_thread_channel() {
        let mut v = fixture("in a thread");
        v["channel_id"] = json!("300");
        let m = map_message(&parse(v), &facts()).unwrap();
        assert_eq!(m.key, ChannelKey::new(Platform::Discord, "300"));
    }

    #[test]
    fn reply_to_the_bot_is_detected() {
        let mut v = fixture("and then?");
        v["type"] = json!(19);
        v["message_reference"] = json!({ "message_id": "1000", "channel_id": "200" });
        let mut earlier = fixture("earlier answer");
        earlier["id"] = json!("1000");
        earlier["author"] = user(BOT, "parley", None, true);
        v["referenced_message"] = earlier;
        assert!(
            map_message(&parse(v.clone()), &facts())
                .unwrap()
                .reply_to_bot
        );
        let r = map_message(&parse(v.clone()), &facts())
            .unwrap()
            .reply_to
            .unwrap();
        assert!(r.is_bot);
        assert_eq!(r.text, "earlier answer");
        v["referenced_message"]["author"] = user(11, "bob", None, false);
        let m = map_message(&parse(v), &facts()).unwrap();
        assert!(!m.reply_to_bot);
        let r = m.reply_to.unwrap();
        assert_eq!((r.author_name.as_str(), r.is_bot), ("Ally", false));
        assert_eq!(r.message_id, "1000");
    }

    fn reaction(emoji: &str, user_id: u64) -> Reaction {
        serde_json::from_value(json!({
            "user_id": user_id.to_string(), "channel_id": "200", "message_id": "1100",
            "guild_id": "100", "emoji": { "id": null, "name": emoji },
            "member": { "user": user(user_id, "carol", None, false), "nick": "Caro",
                        "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
                        "deaf": false, "mute": false, "flags": 0 },
            "burst": false, "type": 0,
        }))
        .expect("a MESSAGE_REACTION_ADD payload")
    }

    #[test]
    fn a_flag_reaction_asks_for_a_translation_of_the_message_reacted_to() {
        let reacted = parse(fixture("Where is the station?"));
        let m = map_flag_reaction(&reaction("🇩🇪", 12), &reacted, &facts()).unwrap();
        assert_eq!(m.text, "/tr de");
        assert_eq!(
            m.message_id, "1100",
            "the translation replies to the message"
        );
        assert_eq!(
            (m.author.id.as_str(), m.author.display_name.as_str()),
            ("12", "Caro")
        );
        assert!(m.mentions_bot && !m.is_direct);
        assert_eq!(m.reply_to.unwrap().text, "Where is the station?");
        assert!(map_flag_reaction(&reaction("👍", 12), &reacted, &facts()).is_none());
        assert!(map_flag_reaction(&reaction("🇩🇪", BOT), &reacted, &facts()).is_none());
    }

    #[test]
    fn bots_webhooks_and_itself_are_ignored() {
        let mut v = fixture("<@4242> hi");
        v["author"] = user(55, "otherbot", None, true);
        assert!(map_message(&parse(v), &facts()).is_none());
        let mut v = fixture("hi");
        v["author"] = user(BOT, "parley", None, true);
        assert!(map_message(&parse(v), &facts()).is_none());
        let mut v = fixture("<@4242> hi");
        v["webhook_id"] = json!("77");
        assert!(map_message(&parse(v), &facts()).is_none());
    }

    #[test]
    fn attachment_only_messages_carry_their_files_embed_only_ones_are_ignored() {
        let mut v = fixture("");
        v["attachments"] = json!([{ "id": "1", "filename": "a.log", "size": 3,
            "url": "https://cdn/a.log", "proxy_url": "https://cdn/a.log",
            "content_type": "text/plain; charset=utf-8" }]);
        let m = map_message(&parse(v), &facts()).unwrap();
        assert_eq!(m.text, "");
        let a = &m.attachments[0];
        assert_eq!((a.name.as_str(), a.size), ("a.log", Some(3)));
        assert_eq!(a.locator, "https://cdn/a.log");
        assert_eq!(a.mime.as_deref(), Some("text/plain; charset=utf-8"));
        let mut v = fixture("");
        v["embeds"] = json!([{ "type": "rich", "title": "t" }]);
        assert!(map_message(&parse(v), &facts()).is_none());
        // A bare mention with an attachment: nothing to answer either.
        assert!(map_message(&parse(fixture("<@4242>")), &facts()).is_none());
    }

    #[test]
    fn system_messages_are_ignored() {
        let mut v = fixture("pinned a message");
        v["type"] = json!(6);
        assert!(map_message(&parse(v), &facts()).is_none());
    }

    #[test]
    fn multiline_text_keeps_its_lines() {
        let m = map_message(&parse(fixture("<@4242>\nline one\n  line two")), &facts()).unwrap();
        assert_eq!(m.text, "line one\n  line two");
    }
}
