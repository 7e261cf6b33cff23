//! Telegram update → [`Incoming`]: a pure function, no network.
//!
//! Only new messages with text, a caption or a file reach the core. Edited messages, channel
//! posts, stickers, service messages (members joining, pins, topics created) and messages from
//! bots (including this one) are dropped: the core has nothing to answer. Documents, photos,
//! audio, voice notes and videos come as [`Attachment`]s (the core reads text files and
//! politely refuses the rest); a reply carries the message replied to (only the part the user
//! quoted, when they quoted one).

use parley_core::commands::{self, Addressee};
use parley_core::seam::{Attachment, Author, ChannelKey, Incoming, Platform, RepliedTo};
use teloxide::types::{
    ChatKind, FileMeta, Message, MessageEntityKind, PublicChatKind, Update, UpdateKind, UserId,
};

/// Who the bot is on Telegram (from `getMe`); needed to spot mentions and replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot's user id.
    pub id: u64,
    /// The bot's username, without `@`.
    pub username: String,
}

impl BotIdentity {
    /// An identity from id and username (a leading `@` is dropped).
    pub fn new(id: u64, username: impl Into<String>) -> Self {
        let username = username.into();
        Self {
            id,
            username: username.trim_start_matches('@').to_owned(),
        }
    }
}

/// Map a raw Bot API update (the JSON text of one element of `getUpdates`' result).
///
/// Never panics; JSON that teloxide cannot parse gives `None`. (It takes text, not a
/// `serde_json::Value`: teloxide's `Update` only deserializes from borrowed input.)
pub fn map_update_json(update: &str, me: &BotIdentity) -> Option<Incoming> {
    let update: Update = serde_json::from_str(update).ok()?;
    map_update(&update, me)
}

/// Map an update: only new messages (`message`) can become an [`Incoming`].
pub fn map_update(update: &Update, me: &BotIdentity) -> Option<Incoming> {
    match &update.kind {
        UpdateKind::Message(message) => map_message(message, me),
        // Edits would make the core answer twice; channel posts and business messages are not
        // conversations with the bot.
        _ => None,
    }
}

/// Map one message, or `None` when there is nothing for the core to read.
pub fn map_message(msg: &Message, me: &BotIdentity) -> Option<Incoming> {
    let (is_direct, channel_title) = match &msg.chat.kind {
        ChatKind::Private(_) => (true, None),
        ChatKind::Public(public) => match public.kind {
            PublicChatKind::Channel(_) => return None,
            PublicChatKind::Group | PublicChatKind::Supergroup(_) => (false, public.title.clone()),
        },
    };
    if msg.is_automatic_forward() || msg.edit_date().is_some() {
        return None;
    }
    let author = author_of(msg)?;
    let attachments = attachments_of(msg);
    let raw = match msg.text().or_else(|| msg.caption()) {
        Some(raw) => raw,
        None if !attachments.is_empty() => "",
        None => return None,
    };

    // Text mentions (people without a username are mentioned by link) carry the user id; a bot
    // always has a username, but clients may still produce one.
    let entities = msg
        .parse_entities()
        .or_else(|| msg.parse_caption_entities())
        .unwrap_or_default();
    let mut text_mentioned = false;
    let mut ranges: Vec<std::ops::Range<usize>> = entities
        .iter()
        .filter(|e| matches!(e.kind(), MessageEntityKind::TextMention { user } if user.id == UserId(me.id)))
        .map(|e| e.range())
        .collect();
    let mut text = raw.to_owned();
    if !ranges.is_empty() {
        text_mentioned = true;
        ranges.sort_by_key(|r| std::cmp::Reverse(r.start));
        for r in ranges.drain(..) {
            if text.is_char_boundary(r.start) && text.is_char_boundary(r.end) && r.end <= text.len()
            {
                text.replace_range(r, "");
            }
        }
    }

    // Commands name the bot they are for (`/cmd@bot`): another bot's are not ours to read.
    let (addressee, text) = commands::address(&text, &me.username);
    if addressee == Addressee::AnotherBot {
        return None;
    }
    let command_addressed = addressee == Addressee::Us;
    let (text, mentioned) = strip_mention(&text, &me.username);
    let text = text.trim().to_owned();
    if text.is_empty() && !(mentioned || text_mentioned) && attachments.is_empty() {
        return None;
    }

    let reply_to = replied_to(msg, me);
    let reply_to_bot = reply_to.as_ref().is_some_and(|r| r.is_bot);

    let mut key = ChannelKey::new(Platform::Telegram, msg.chat.id.0.to_string());
    if msg.is_topic_message {
        if let Some(thread) = msg.thread_id {
            key = key.with_thread(thread.0 .0.to_string());
        }
    }

    Some(Incoming {
        key,
        message_id: msg.id.0.to_string(),
        author,
        text,
        is_direct,
        mentions_bot: mentioned || text_mentioned || command_addressed,
        reply_to_bot,
        at: msg.date.timestamp(),
        channel_title,
        reply_to,
        attachments,
        language: msg.from.as_ref().and_then(|u| u.language_code.clone()),
    })
}

/// The message `msg` replies to (in this chat; a forum topic's creation is no reply), with
/// only the fragment the user quoted when they quoted one.
fn replied_to(msg: &Message, me: &BotIdentity) -> Option<RepliedTo> {
    let r = msg
        .reply_to_message()
        .filter(|r| r.forum_topic_created().is_none())?;
    let is_bot = r.from.as_ref().is_some_and(|u| u.id == UserId(me.id));
    let author_name = if is_bot {
        me.username.clone()
    } else {
        author_of(r).map_or_else(|| "someone".to_owned(), |a| a.display_name)
    };
    let text = msg
        .quote()
        .map(|q| q.text.clone())
        .or_else(|| r.text().or_else(|| r.caption()).map(str::to_owned))
        .unwrap_or_default();
    Some(RepliedTo {
        message_id: r.id.0.to_string(),
        author_name,
        text,
        is_bot,
    })
}

/// The files of a message: a document, the largest size of a photo, audio, a voice note, a
/// video. Names are made up where Telegram gives none.
fn attachments_of(msg: &Message) -> Vec<Attachment> {
    let file =
        |name: Option<&str>, fallback: &str, mime: Option<String>, meta: &FileMeta| Attachment {
            name: name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(fallback)
                .to_owned(),
            mime,
            size: Some(u64::from(meta.size)),
            locator: meta.id.0.clone(),
        };
    let mut out = Vec::new();
    if let Some(d) = msg.document() {
        out.push(file(
            d.file_name.as_deref(),
            "file",
            d.mime_type.as_ref().map(ToString::to_string),
            &d.file,
        ));
    }
    if let Some(p) = msg
        .photo()
        .and_then(|sizes| sizes.iter().max_by_key(|p| p.width * p.height))
    {
        out.push(file(
            None,
            "photo.jpg",
            Some("image/jpeg".to_owned()),
            &p.file,
        ));
    }
    if let Some(a) = msg.audio() {
        out.push(file(
            a.file_name.as_deref(),
            "audio",
            a.mime_type.as_ref().map(ToString::to_string),
            &a.file,
        ));
    }
    if let Some(v) = msg.voice() {
        let m = v
            .mime_type
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| Some("audio/ogg".to_owned()));
        out.push(file(None, "voice.ogg", m, &v.file));
    }
    if let Some(v) = msg.video() {
        out.push(file(
            v.file_name.as_deref(),
            "video.mp4",
            v.mime_type.as_ref().map(ToString::to_string),
            &v.file,
        ));
    }
    out
}

/// The author, or `None` for bots (this one included: the bot must never answer itself).
fn author_of(msg: &Message) -> Option<Author> {
    if let Some(sender_chat) = &msg.sender_chat {
        // An anonymous group administrator writes as the group itself; a linked channel writes
        // as the channel.
        let anonymous_admin = sender_chat.id == msg.chat.id;
        let name = sender_chat
            .title()
            .or_else(|| sender_chat.username())
            .unwrap_or(if anonymous_admin {
                "Group admin"
            } else {
                "Channel"
            });
        return Some(Author {
            id: sender_chat.id.0.to_string(),
            display_name: name.to_owned(),
            is_platform_admin: anonymous_admin,
        });
    }
    let user = msg.from.as_ref()?;
    if user.is_bot {
        return None;
    }
    Some(Author {
        id: user.id.0.to_string(),
        display_name: display_name(
            &user.first_name,
            user.last_name.as_deref(),
            user.username.as_deref(),
        ),
        is_platform_admin: false,
    })
}

/// "First Last", else the username, else "someone".
pub fn display_name(first: &str, last: Option<&str>, username: Option<&str>) -> String {
    let full = match last {
        Some(last) if !last.trim().is_empty() => format!("{} {}", first.trim(), last.trim()),
        _ => first.trim().to_owned(),
    };
    let full = full.trim();
    if !full.is_empty() {
        return full.to_owned();
    }
    match username {
        Some(u) if !u.is_empty() => u.to_owned(),
        _ => "someone".to_owned(),
    }
}

fn is_username_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Remove every `@username` (any case, whole word) from `text`; says whether there was one.
///
/// A mention at the start takes a following `,` / `:` with it ("@bot, hi" → "hi"); in the middle
/// it leaves one space ("ask @bot now" → "ask now").
pub fn strip_mention(text: &str, username: &str) -> (String, bool) {
    let needle = format!("@{username}");
    let n = needle.len();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    let mut i = 0;
    while i < text.len() {
        let is_mention = bytes[i] == b'@'
            && i + n <= bytes.len()
            && bytes[i..i + n].eq_ignore_ascii_case(needle.as_bytes())
            && (i == 0 || !is_username_byte(bytes[i - 1]))
            && (i + n == bytes.len() || !is_username_byte(bytes[i + n]));
        if is_mention {
            found = true;
            i += n;
            if out.trim().is_empty() {
                out.clear();
                while i < bytes.len() && matches!(bytes[i], b',' | b':' | b';') {
                    i += 1;
                }
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
            } else if out.ends_with(' ') && i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
            continue;
        }
        // `i` is always at a char boundary: it only advances by whole chars or ASCII bytes.
        let Some(ch) = text[i..].chars().next() else {
            break;
        };
        out.push(ch);
        i += ch.len_utf8();
    }
    (out, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> BotIdentity {
        BotIdentity::new(4242, "parley_test_bot")
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn map(name: &str) -> Option<Incoming> {
        let json = fixture(name);
        // Every fixture must be an update teloxide understands, so `None` means "ignored on
        // purpose", never "failed to parse". (`Update` itself always parses: what teloxide
        // cannot read becomes `UpdateKind::Error`.)
        let update: Update = serde_json::from_str(&json).unwrap();
        if let UpdateKind::Error(_) = update.kind {
            panic!("fixture {name} does not parse: {json}");
        }
        map_update_json(&json, &me())
    }

    #[test]
    fn private_text_is_direct() {
        let m = map("private_text").unwrap();
        assert!(m.is_direct);
        assert!(!m.mentions_bot && !m.reply_to_bot);
        assert_eq!(m.key, ChannelKey::new(Platform::Telegram, "1001"));
        assert_eq!(m.text, "Hello there");
        assert_eq!(m.message_id, "11");
        assert_eq!(m.author.id, "1001");
        assert_eq!(m.author.display_name, "Ada Lovelace");
        assert!(!m.author.is_platform_admin);
        assert_eq!(m.at, 1_700_000_000);
        assert_eq!(m.channel_title, None);
    }

    #[test]
    fn group_mention_is_flagged_and_stripped() {
        let m = map("group_mention").unwrap();
        assert!(!m.is_direct);
        assert!(m.mentions_bot);
        assert_eq!(m.text, "what is the capital of France?");
        assert_eq!(m.key.chat, "-2001");
        assert_eq!(m.channel_title.as_deref(), Some("Book club"));
    }

    #[test]
    fn group_message_without_mention_is_forwarded_unflagged() {
        let m = map("group_plain").unwrap();
        assert!(!m.is_direct && !m.mentions_bot && !m.reply_to_bot);
        assert_eq!(m.text, "I think chapter 3 was the best");
    }

    #[test]
    fn reply_to_bot_is_flagged() {
        let m = map("supergroup_reply_to_bot").unwrap();
        assert!(m.reply_to_bot);
        assert!(!m.mentions_bot);
        assert_eq!(m.key.chat, "-1003000000001");
        assert_eq!(
            m.key.thread, None,
            "a reply thread in a non-forum group is not a topic"
        );
    }

    #[test]
    fn reply_to_someone_else_is_not_flagged_but_carries_their_message() {
        let m = map("supergroup_reply_to_user").unwrap();
        assert!(!m.reply_to_bot);
        let r = m.reply_to.expect("the message replied to");
        assert!(!r.is_bot);
        assert!(!r.text.is_empty(), "{r:?}");
    }

    #[test]
    fn reply_to_bot_carries_the_bots_message() {
        let r = map("supergroup_reply_to_bot").unwrap().reply_to.unwrap();
        assert!(r.is_bot);
    }

    #[test]
    fn a_quoted_fragment_is_what_the_reply_carries() {
        let mut v: serde_json::Value =
            serde_json::from_str(&fixture("supergroup_reply_to_user")).unwrap();
        v["message"]["quote"] = serde_json::json!({"text": "just this part", "position": 0});
        let m = map_update_json(&v.to_string(), &me()).unwrap();
        assert_eq!(m.reply_to.unwrap().text, "just this part");
    }

    #[test]
    fn a_document_comes_as_an_attachment_with_its_size() {
        let json = r#"{"update_id": 9, "message": {"message_id": 5, "date": 1700000000,
            "chat": {"id": 1001, "type": "private", "first_name": "Ada"},
            "from": {"id": 1001, "is_bot": false, "first_name": "Ada", "language_code": "de"},
            "document": {"file_id": "F1", "file_unique_id": "U1", "file_size": 42,
                         "file_name": "notes.md", "mime_type": "text/markdown"}}}"#;
        let m = map_update_json(json, &me()).unwrap();
        assert_eq!(m.text, "");
        assert_eq!(m.language.as_deref(), Some("de"));
        let a = &m.attachments[0];
        assert_eq!(
            (a.name.as_str(), a.size, a.locator.as_str()),
            ("notes.md", Some(42), "F1")
        );
        assert_eq!(a.mime.as_deref(), Some("text/markdown"));
    }

    #[test]
    fn forum_topic_becomes_the_thread() {
        let m = map("forum_topic").unwrap();
        assert_eq!(m.key.thread.as_deref(), Some("77"));
        assert!(
            !m.reply_to_bot,
            "the topic's creation message is not a reply to the bot"
        );
        assert!(m.mentions_bot);
        assert_eq!(m.text, "summarise this topic please");
    }

    #[test]
    fn command_addressed_to_this_bot_is_normalised() {
        let m = map("command_with_botname").unwrap();
        assert_eq!(m.text, "/mode translator");
        assert!(m.mentions_bot);
    }

    #[test]
    fn command_for_another_bot_is_ignored() {
        assert!(map("command_other_bot").is_none());
    }

    #[test]
    fn bare_command_in_group_is_forwarded() {
        let m = map("command_bare_group").unwrap();
        assert_eq!(m.text, "/help");
        assert!(!m.mentions_bot);
    }

    #[test]
    fn edited_message_is_ignored() {
        assert!(map("edited_message").is_none());
    }

    #[test]
    fn sticker_is_ignored() {
        assert!(map("sticker").is_none());
    }

    #[test]
    fn photo_without_caption_comes_as_an_image_for_the_core_to_refuse() {
        let m = map("photo_no_caption").unwrap();
        assert_eq!(m.text, "");
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].mime.as_deref(), Some("image/jpeg"));
    }

    #[test]
    fn photo_caption_is_the_text() {
        let m = map("photo_caption").unwrap();
        assert_eq!(m.text, "what breed is this dog?");
        assert!(m.is_direct);
    }

    #[test]
    fn service_message_is_ignored() {
        assert!(map("service_new_member").is_none());
    }

    #[test]
    fn channel_post_is_ignored() {
        assert!(map("channel_post").is_none());
    }

    #[test]
    fn messages_from_bots_are_ignored() {
        assert!(map("from_bot").is_none());
    }

    #[test]
    fn anonymous_admin_speaks_as_the_group_and_is_admin() {
        let m = map("anonymous_admin").unwrap();
        assert_eq!(m.author.id, "-1003000000001");
        assert_eq!(m.author.display_name, "Rust learners");
        assert!(m.author.is_platform_admin);
    }

    #[test]
    fn text_mention_after_emoji_is_stripped_by_utf16_offsets() {
        let m = map("text_mention_emoji").unwrap();
        assert!(m.mentions_bot);
        assert_eq!(m.text, "🎉🎉 thanks  for the help");
    }

    #[test]
    fn username_only_author_uses_username() {
        let m = map("private_username_only").unwrap();
        assert_eq!(m.author.display_name, "grace_h");
    }

    #[test]
    fn unknown_update_kinds_and_garbage_never_panic() {
        let junk = [
            "{}",
            r#"{"update_id": 5}"#,
            r#"{"update_id": 5, "poll": {"id": "x"}}"#,
            r#"{"update_id": 5, "message": {"message_id": 1}}"#,
            r#"{"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}, "text": 5}}"#,
            "[1, 2, 3]",
            "\"text\"",
            "not json at all",
        ];
        for j in junk {
            assert!(map_update_json(j, &me()).is_none(), "{j}");
        }
    }

    #[test]
    fn strip_mention_cases() {
        let u = "parley_test_bot";
        assert_eq!(strip_mention("@parley_test_bot hi", u), ("hi".into(), true));
        assert_eq!(strip_mention("@Parley_Test_Bot, hi", u).0, "hi");
        assert_eq!(
            strip_mention("ask @parley_test_bot now", u),
            ("ask now".into(), true)
        );
        assert_eq!(
            strip_mention("mail me@parley_test_bot.org", u),
            ("mail me@parley_test_bot.org".into(), false)
        );
        assert_eq!(
            strip_mention("@parley_test_bot2 hi", u),
            ("@parley_test_bot2 hi".into(), false)
        );
        assert_eq!(
            strip_mention("héllo @parley_test_bot", u),
            ("héllo ".into(), true)
        );
        assert_eq!(strip_mention("", u), ("".into(), false));
    }

    #[test]
    fn commands_naming_a_bot_are_read_by_the_core() {
        let u = "parley_test_bot";
        assert_eq!(
            commands::address("/reset@parley_test_bot", u),
            (Addressee::Us, "/reset".into())
        );
        assert_eq!(
            commands::address("/mode@PARLEY_TEST_BOT  a b", u),
            (Addressee::Us, "/mode  a b".into())
        );
        assert_eq!(
            commands::address("/reset@other_bot", u).0,
            Addressee::AnotherBot
        );
        assert_eq!(
            commands::address("/reset", u),
            (Addressee::Anyone, "/reset".into())
        );
        assert_eq!(
            commands::address("hi /x@y", u),
            (Addressee::Anyone, "hi /x@y".into())
        );
    }

    #[test]
    fn display_name_cases() {
        assert_eq!(display_name("Ada", Some("Lovelace"), None), "Ada Lovelace");
        assert_eq!(display_name("Ada", None, Some("ada")), "Ada");
        assert_eq!(display_name(" ", None, Some("ada")), "ada");
        assert_eq!(display_name("", None, None), "someone");
    }
}
