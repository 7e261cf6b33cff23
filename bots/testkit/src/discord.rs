//! A fake Discord: gateway (websocket) and REST API on `127.0.0.1`, for end-to-end tests of the
//! Discord adapter without the real service.
//!
//! Point serenity at it with
//! `HttpBuilder::new(token).proxy(fake.api_base()).ratelimiter_disabled(true)`: REST calls arrive as
//! `/api/v10/...`, and `GET /api/v10/gateway` hands out `ws://127.0.0.1:PORT/ws` as the gateway.
//!
//! # Gateway
//! On connect the fake sends HELLO (op 10). IDENTIFY (op 2) opens a new session: a READY dispatch
//! (user, session id, `resume_gateway_url`, guilds, application), then one GUILD_CREATE per
//! configured [`FakeGuild`], then whatever was dispatched before the bot connected. Heartbeats
//! (op 1) are acked (op 11). RESUME (op 6) with a known session replays every dispatch after the
//! client's sequence number, then RESUMED; with an unknown session it answers INVALID_SESSION.
//! Every dispatch carries an increasing `s`. Dispatches made while the bot is disconnected are
//! kept in the session and delivered on resume, as Discord does.
//!
//! Sharding: `GET /gateway/bot` recommends [`FakeDiscordOptions::shards`] shards. Each shard is
//! a session of its own, opened by an IDENTIFY naming it (`shard: [id, total]`, `[0, 1]` when
//! absent); a dispatch goes to the shard of its guild (`(guild_id >> 22) % shards`), DMs and
//! guild-less events to shard 0, and a guild's GUILD_CREATE to its shard.
//!
//! Serenity 0.12.5 connects with `?v=10` only (no `encoding`, no `compress` query) and says
//! `compress: true` in IDENTIFY, which allows but does not require zlib-compressed binary frames;
//! the fake always answers with text frames, which serenity reads as JSON.
//!
//! # REST
//! `GET /gateway`, `GET /gateway/bot`, `GET /users/@me`, `GET /users/@me/guilds`,
//! `GET /oauth2/applications/@me` (with [`FakeDiscordOptions::application_flags`]),
//! `POST /channels/{id}/messages`, `PATCH /channels/{id}/messages/{id}`,
//! `POST /channels/{id}/typing`, `PUT|POST /applications/{app}/commands`,
//! `PUT|POST /applications/{app}/guilds/{guild}/commands`,
//! `POST /interactions/{id}/{token}/callback`, `POST /webhooks/{app}/{token}` (follow-up),
//! `PATCH /webhooks/{app}/{token}/messages/{id|@original}`, `GET /guilds/{g}/members/{u}`,
//! `GET /channels/{id}/messages/{id}` (a message a user sent through the fake, or the bot's),
//! and, outside the API, `GET /files/{name}` (attachments added with [`FakeDiscord::add_file`]).
//! Reactions: [`FakeDiscord::react`] dispatches MESSAGE_REACTION_ADD.
//! Anything else is answered 404 with a Discord-style error body (and recorded).
//!
//! # Recording and faults
//! Every REST request is recorded ([`FakeDiscord::requests`]); messages the bot sent are kept
//! with their edits ([`FakeDiscord::messages`]). [`FakeDiscord::fail_next`] makes the next N
//! matching requests answer 429 (with `retry_after` in the body and `Retry-After` /
//! `X-RateLimit-*` headers) or a 5xx. [`FakeDiscord::drop_gateway`] ends the current gateway
//! connection, with a close frame or abruptly, so the client reconnects and resumes.
//! [`FakeDiscord::set_identify_close`] answers IDENTIFY with a close code (4014: disallowed
//! intents, 4004: bad token).
//!
//! # Example
//! ```no_run
//! # async fn demo() {
//! use parley_testkit::discord::{FakeDiscord, FakeMessage, FakeUser};
//! let fake = FakeDiscord::start().await;
//! // ... start the bot with fake.api_base() ...
//! let alice = FakeUser::new(10, "alice");
//! fake.send_message(FakeMessage::direct(500, alice, "hello"));
//! let sent = fake
//!     .wait_for(std::time::Duration::from_secs(5), |f| f.messages(500).into_iter().next())
//!     .await;
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parley_core::render::units;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

/// The longest message content Discord takes, in UTF-16 code units (as Discord counts it: an
/// emoji outside the Basic Multilingual Plane is two).
pub const MAX_CONTENT_UNITS: usize = 2000;

/// The REST prefix serenity 0.12 uses.
pub const API_PREFIX: &str = "/api/v10";

/// Fixed timestamp used for every object the fake creates.
pub const TIMESTAMP: &str = "2025-01-01T12:00:00.000000+00:00";

/// A user as the fake describes it in payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    /// Snowflake id.
    pub id: u64,
    /// Unique username.
    pub username: String,
    /// Global display name, if set.
    pub global_name: Option<String>,
    /// Whether the account is a bot.
    pub bot: bool,
}

impl FakeUser {
    /// A human user with a username and no global name.
    pub fn new(id: u64, username: &str) -> Self {
        Self {
            id,
            username: username.to_string(),
            global_name: None,
            bot: false,
        }
    }

    /// A bot account.
    pub fn bot(id: u64, username: &str) -> Self {
        Self {
            bot: true,
            ..Self::new(id, username)
        }
    }

    /// The same user with a global display name.
    pub fn with_global_name(mut self, name: &str) -> Self {
        self.global_name = Some(name.to_string());
        self
    }

    /// The user object as Discord sends it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": null,
            "bot": self.bot,
            "public_flags": 0,
        })
    }
}

/// A role in a [`FakeGuild`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRole {
    /// Snowflake id.
    pub id: u64,
    /// Role name.
    pub name: String,
    /// Permission bits (e.g. `1 << 5` = Manage Server).
    pub permissions: u64,
    /// Set for the role Discord creates for a bot (`tags.bot_id`).
    pub bot_id: Option<u64>,
}

/// A guild the fake announces with GUILD_CREATE after READY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeGuild {
    /// Snowflake id (also the id of its `@everyone` role).
    pub id: u64,
    /// Guild name.
    pub name: String,
    /// Owner user id.
    pub owner_id: u64,
    /// Text channels: (id, name).
    pub channels: Vec<(u64, String)>,
    /// Active threads: (id, parent channel id, name).
    pub threads: Vec<(u64, u64, String)>,
    /// Roles besides `@everyone` (which has no permissions).
    pub roles: Vec<FakeRole>,
}

impl FakeGuild {
    /// A guild with no channels, threads or roles.
    pub fn new(id: u64, name: &str, owner_id: u64) -> Self {
        Self {
            id,
            name: name.to_string(),
            owner_id,
            channels: Vec::new(),
            threads: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// Add a text channel.
    pub fn channel(mut self, id: u64, name: &str) -> Self {
        self.channels.push((id, name.to_string()));
        self
    }

    /// Add an active public thread under `parent`.
    pub fn thread(mut self, id: u64, parent: u64, name: &str) -> Self {
        self.threads.push((id, parent, name.to_string()));
        self
    }

    /// Add a role.
    pub fn role(mut self, id: u64, name: &str, permissions: u64) -> Self {
        self.roles.push(FakeRole {
            id,
            name: name.to_string(),
            permissions,
            bot_id: None,
        });
        self
    }

    /// Add the managed role Discord gives a bot when it joins.
    pub fn bot_role(mut self, id: u64, name: &str, bot_id: u64) -> Self {
        self.roles.push(FakeRole {
            id,
            name: name.to_string(),
            permissions: 0,
            bot_id: Some(bot_id),
        });
        self
    }

    /// The GUILD_CREATE payload.
    pub fn to_json(&self) -> Value {
        let mut roles = vec![role_json(self.id, self.id, "@everyone", 0, None)];
        roles.extend(
            self.roles
                .iter()
                .map(|r| role_json(self.id, r.id, &r.name, r.permissions, r.bot_id)),
        );
        let channels: Vec<Value> = self
            .channels
            .iter()
            .enumerate()
            .map(|(i, (id, name))| {
                json!({
                    "id": id.to_string(), "type": 0, "guild_id": self.id.to_string(),
                    "name": name, "position": i, "permission_overwrites": [], "nsfw": false,
                    "topic": null, "last_message_id": null, "rate_limit_per_user": 0,
                    "parent_id": null, "flags": 0,
                })
            })
            .collect();
        let threads: Vec<Value> = self
            .threads
            .iter()
            .map(|(id, parent, name)| thread_json(self.id, *id, *parent, name, self.owner_id))
            .collect();
        // Built in parts: one json! this size exceeds the macro recursion limit.
        let mut v = json!({
            "id": self.id.to_string(), "name": self.name, "icon": null, "icon_hash": null,
            "splash": null, "discovery_splash": null, "owner_id": self.owner_id.to_string(),
            "afk_channel_id": null, "afk_timeout": 300, "widget_enabled": false,
            "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "roles": roles, "emojis": [], "features": [],
        });
        merge(
            &mut v,
            json!({
                "mfa_level": 0, "application_id": null, "system_channel_id": null,
                "system_channel_flags": 0, "rules_channel_id": null, "max_presences": null,
                "max_members": 500000, "vanity_url_code": null, "description": null, "banner": null,
                "premium_tier": 0, "premium_subscription_count": 0, "preferred_locale": "en-US",
            }),
        );
        merge(
            &mut v,
            json!({
                "public_updates_channel_id": null, "max_video_channel_users": 25, "nsfw_level": 0,
                "stickers": [], "premium_progress_bar_enabled": false,
                "safety_alerts_channel_id": null, "joined_at": TIMESTAMP, "large": false,
            }),
        );
        merge(
            &mut v,
            json!({
                "unavailable": false, "member_count": 2, "voice_states": [], "members": [],
                "channels": channels, "threads": threads, "presences": [], "stage_instances": [],
                "guild_scheduled_events": [], "lazy": true,
            }),
        );
        v
    }
}

/// Copy the fields of `extra` (an object) into `base` (an object).
fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
}

fn role_json(guild: u64, id: u64, name: &str, permissions: u64, bot_id: Option<u64>) -> Value {
    let tags = match bot_id {
        Some(b) => json!({ "bot_id": b.to_string() }),
        None => json!({}),
    };
    json!({
        "id": id.to_string(), "guild_id": guild.to_string(), "name": name, "color": 0,
        "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
        "hoist": false, "icon": null, "unicode_emoji": null, "position": 0,
        "permissions": permissions.to_string(), "managed": bot_id.is_some(),
        "mentionable": true, "tags": tags, "flags": 0,
    })
}

fn thread_json(guild: u64, id: u64, parent: u64, name: &str, owner: u64) -> Value {
    json!({
        "id": id.to_string(), "type": 11, "guild_id": guild.to_string(), "name": name,
        "parent_id": parent.to_string(), "owner_id": owner.to_string(), "last_message_id": null,
        "rate_limit_per_user": 0, "message_count": 0, "member_count": 1, "flags": 0,
        "thread_metadata": {
            "archived": false, "auto_archive_duration": 1440, "archive_timestamp": TIMESTAMP,
            "locked": false, "create_timestamp": TIMESTAMP,
        },
        "total_message_sent": 0,
    })
}

/// A message a user writes, pushed to the bot as MESSAGE_CREATE.
#[derive(Debug, Clone)]
pub struct FakeMessage {
    /// Channel (or thread) id.
    pub channel_id: u64,
    /// Guild id; `None` for a DM.
    pub guild_id: Option<u64>,
    /// The author.
    pub author: FakeUser,
    /// Guild nickname of the author.
    pub nick: Option<String>,
    /// Role ids of the author in the guild.
    pub member_roles: Vec<u64>,
    /// The text.
    pub content: String,
    /// The message this one replies to: (message id, its author).
    pub reply_to: Option<(u64, FakeUser)>,
    /// Set when a webhook posted the message.
    pub webhook_id: Option<u64>,
    /// Number of (fake) file attachments.
    pub attachments: usize,
    /// Files with a real URL ([`FakeDiscord::add_file`]): name, MIME type, size, URL.
    pub files: Vec<(String, String, u64, String)>,
    /// The text of the message replied to (default `(earlier)`).
    pub reply_text: Option<String>,
    /// Leave `referenced_message` out of the payload, as Discord does for some replies: the
    /// bot must fetch the message.
    pub omit_referenced: bool,
    /// Number of (fake) embeds.
    pub embeds: usize,
}

impl FakeMessage {
    /// A message in a guild channel or thread.
    pub fn guild(guild_id: u64, channel_id: u64, author: FakeUser, content: &str) -> Self {
        Self {
            channel_id,
            guild_id: Some(guild_id),
            author,
            nick: None,
            member_roles: Vec::new(),
            content: content.to_string(),
            reply_to: None,
            webhook_id: None,
            attachments: 0,
            files: Vec::new(),
            reply_text: None,
            omit_referenced: false,
            embeds: 0,
        }
    }

    /// A direct message.
    pub fn direct(channel_id: u64, author: FakeUser, content: &str) -> Self {
        Self {
            guild_id: None,
            ..Self::guild(0, channel_id, author, content)
        }
    }

    /// Set the author's guild nickname.
    pub fn nick(mut self, nick: &str) -> Self {
        self.nick = Some(nick.to_string());
        self
    }

    /// Give the author these guild roles.
    pub fn roles(mut self, roles: &[u64]) -> Self {
        self.member_roles = roles.to_vec();
        self
    }

    /// Make it a reply to message `id` written by `author`.
    pub fn reply_to(mut self, id: u64, author: FakeUser) -> Self {
        self.reply_to = Some((id, author));
        self
    }

    /// Make it a reply to message `id`, which `author` wrote saying `text`.
    pub fn replying_to(mut self, id: u64, author: FakeUser, text: &str) -> Self {
        self.reply_to = Some((id, author));
        self.reply_text = Some(text.to_string());
        self
    }

    /// Leave the replied-to message out of the event (see [`FakeMessage::omit_referenced`]).
    pub fn without_referenced_message(mut self) -> Self {
        self.omit_referenced = true;
        self
    }

    /// Attach a file served at `url` (from [`FakeDiscord::add_file`], or any URL), said to be
    /// `size` bytes of `mime`.
    pub fn file(mut self, name: &str, mime: &str, size: u64, url: &str) -> Self {
        self.files
            .push((name.to_string(), mime.to_string(), size, url.to_string()));
        self
    }

    /// Mark it as posted by a webhook.
    pub fn webhook(mut self, id: u64) -> Self {
        self.webhook_id = Some(id);
        self
    }

    /// Add fake attachments.
    pub fn attachments(mut self, n: usize) -> Self {
        self.attachments = n;
        self
    }

    /// Add fake embeds.
    pub fn embeds(mut self, n: usize) -> Self {
        self.embeds = n;
        self
    }

    /// The MESSAGE_CREATE payload with message id `id`.
    pub fn to_json(&self, id: u64) -> Value {
        let mut v = message_json(id, self.channel_id, &self.author, &self.content);
        let mentions: Vec<Value> = mention_ids(&self.content, "<@")
            .into_iter()
            .map(|uid| FakeUser::new(uid, &format!("user{uid}")).to_json())
            .collect();
        v["mentions"] = Value::Array(mentions);
        v["mention_roles"] = json!(mention_ids(&self.content, "<@&")
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>());
        v["mention_everyone"] = json!(self.content.contains("@everyone"));
        if let Some(g) = self.guild_id {
            v["guild_id"] = json!(g.to_string());
            v["member"] = json!({
                "nick": self.nick, "roles": self.member_roles.iter().map(u64::to_string).collect::<Vec<_>>(),
                "joined_at": TIMESTAMP, "deaf": false, "mute": false, "flags": 0, "pending": false,
                "premium_since": null, "avatar": null,
            });
        }
        if let Some((rid, rauthor)) = &self.reply_to {
            v["type"] = json!(19);
            v["message_reference"] = json!({
                "type": 0, "message_id": rid.to_string(), "channel_id": self.channel_id.to_string(),
                "guild_id": self.guild_id.map(|g| g.to_string()),
            });
            if !self.omit_referenced {
                let text = self.reply_text.as_deref().unwrap_or("(earlier)");
                v["referenced_message"] = message_json(*rid, self.channel_id, rauthor, text);
            }
        }
        if let Some(w) = self.webhook_id {
            v["webhook_id"] = json!(w.to_string());
        }
        v["attachments"] = Value::Array(
            (0..self.attachments)
                .map(|i| {
                    json!({
                        "id": (id + 1000 + i as u64).to_string(), "filename": format!("file{i}.png"),
                        "size": 1234, "url": "https://cdn.example/file.png",
                        "proxy_url": "https://cdn.example/file.png", "height": 10, "width": 10,
                        "content_type": "image/png",
                    })
                })
                .chain(self.files.iter().enumerate().map(|(i, (name, mime, size, url))| {
                    json!({
                        "id": (id + 2000 + i as u64).to_string(), "filename": name,
                        "size": size, "url": url, "proxy_url": url, "content_type": mime,
                    })
                }))
                .collect(),
        );
        v["embeds"] = Value::Array(
            (0..self.embeds)
                .map(|i| json!({ "type": "rich", "title": format!("embed {i}"), "description": "d" }))
                .collect(),
        );
        v
    }
}

/// Ids inside `<@…>`-style mentions; `prefix` is `<@` (users, also matches `<@!`) or `<@&` (roles).
fn mention_ids(text: &str, prefix: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find(prefix) {
        rest = &rest[pos + prefix.len()..];
        let body = if prefix == "<@" {
            if rest.starts_with('&') {
                continue;
            }
            rest.strip_prefix('!').unwrap_or(rest)
        } else {
            rest
        };
        if let Some(end) = body.find('>') {
            if let Ok(id) = body[..end].parse() {
                out.push(id);
            }
        }
    }
    out
}

fn message_json(id: u64, channel_id: u64, author: &FakeUser, content: &str) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel_id.to_string(), "author": author.to_json(),
        "content": content, "timestamp": TIMESTAMP, "edited_timestamp": null, "tts": false,
        "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [],
        "embeds": [], "pinned": false, "type": 0, "flags": 0, "components": [],
    })
}

/// A slash-command interaction, pushed as INTERACTION_CREATE.
#[derive(Debug, Clone)]
pub struct FakeInteraction {
    /// Command name.
    pub name: String,
    /// String options: (name, value).
    pub options: Vec<(String, String)>,
    /// Channel it was used in.
    pub channel_id: u64,
    /// Guild, `None` in DMs.
    pub guild_id: Option<u64>,
    /// Who used it.
    pub user: FakeUser,
    /// Resolved permission bits of the member (guild only).
    pub permissions: u64,
    /// The user's client locale (`en-US`, `de`, `zh-CN`).
    pub locale: String,
}

impl FakeInteraction {
    /// A command used in a guild channel, by a member without special permissions.
    pub fn guild(guild_id: u64, channel_id: u64, user: FakeUser, name: &str) -> Self {
        Self {
            name: name.to_string(),
            options: Vec::new(),
            channel_id,
            guild_id: Some(guild_id),
            user,
            permissions: 0,
            locale: "en-US".to_string(),
        }
    }

    /// A command used in a DM.
    pub fn direct(channel_id: u64, user: FakeUser, name: &str) -> Self {
        Self {
            guild_id: None,
            ..Self::guild(0, channel_id, user, name)
        }
    }

    /// Add a string option.
    pub fn option(mut self, name: &str, value: &str) -> Self {
        self.options.push((name.to_string(), value.to_string()));
        self
    }

    /// Used from a client in this locale (`de`, `zh-CN`).
    pub fn locale(mut self, locale: &str) -> Self {
        self.locale = locale.to_string();
        self
    }

    /// Give the member these resolved permissions.
    pub fn permissions(mut self, bits: u64) -> Self {
        self.permissions = bits;
        self
    }

    /// The INTERACTION_CREATE payload.
    pub fn to_json(&self, id: u64, application_id: u64, token: &str) -> Value {
        let options: Vec<Value> = self
            .options
            .iter()
            .map(|(n, v)| json!({ "name": n, "type": 3, "value": v }))
            .collect();
        let mut v = json!({
            "id": id.to_string(), "application_id": application_id.to_string(), "type": 2,
            "data": { "id": "900", "name": self.name, "type": 1, "options": options },
            "channel_id": self.channel_id.to_string(),
            "channel": { "id": self.channel_id.to_string(), "type": if self.guild_id.is_some() { 0 } else { 1 } },
            "token": token, "version": 1, "app_permissions": "0", "locale": self.locale,
            "entitlements": [], "attachment_size_limit": 10485760,
            "authorizing_integration_owners": {}, "context": if self.guild_id.is_some() { 0 } else { 1 },
        });
        match self.guild_id {
            Some(g) => {
                v["guild_id"] = json!(g.to_string());
                v["guild_locale"] = json!("en-US");
                v["member"] = json!({
                    "user": self.user.to_json(), "nick": null, "roles": [], "joined_at": TIMESTAMP,
                    "deaf": false, "mute": false, "flags": 0, "pending": false,
                    "permissions": self.permissions.to_string(), "premium_since": null, "avatar": null,
                });
            }
            None => v["user"] = self.user.to_json(),
        }
        v
    }
}

/// One REST request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path without the `/api/v10` prefix, e.g. `/channels/5/messages`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// JSON body (`Value::Null` when empty or not JSON).
    pub body: Value,
    /// The status the fake answered with.
    pub status: u16,
}

/// A message the bot created, with every edit applied.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// Id the fake assigned.
    pub id: u64,
    /// Channel id (for interaction answers: the interaction's channel).
    pub channel_id: u64,
    /// Current content.
    pub content: String,
    /// Every content it had, first (creation) to last.
    pub history: Vec<String>,
    /// The message it replies to (`message_reference.message_id`), if any.
    pub reply_to: Option<String>,
    /// For interaction answers: the interaction token.
    pub interaction_token: Option<String>,
    /// Whether it is the interaction's original (deferred) response.
    pub original: bool,
    /// The `allowed_mentions` of the creation request and of every edit (`Null` when absent).
    pub allowed_mentions: Vec<Value>,
    /// The files attached at creation: each file's name and content (the JSON it holds when
    /// it is JSON, else its text).
    pub files: Vec<(String, Value)>,
    /// Whether only the user who used the command sees it (flag 64).
    pub ephemeral: bool,
}

/// An injected REST failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// 429 Too Many Requests with this `retry_after` (seconds).
    RateLimited {
        /// Seconds the client must wait.
        retry_after: f64,
    },
    /// An error status (500, 502, 503...).
    Status(u16),
}

/// How the fake ends a gateway connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayDrop {
    /// Send a close frame with this code (4000 = unknown error, resumable).
    Close(u16),
    /// Drop the TCP connection without a close frame.
    Abrupt,
}

#[derive(Debug, Clone)]
struct Dispatch {
    seq: u64,
    t: String,
    d: Value,
}

#[derive(Debug)]
struct FaultRule {
    method: String,
    path_contains: String,
    remaining: usize,
    fault: Fault,
}

/// One shard's session: its id once identified, its dispatches, and what waits for it.
#[derive(Debug, Default)]
struct ShardSession {
    session: Option<String>,
    log: Vec<Dispatch>,
    queued: Vec<(String, Value)>,
}

#[derive(Debug)]
struct Inner {
    next_id: u64,
    /// Indexed by shard id.
    shards: Vec<ShardSession>,
    session_count: u64,
    requests: Vec<RecordedRequest>,
    gateway_frames: Vec<Value>,
    /// Close frames the client sent: their code (`None`: a close frame without one).
    client_closes: Vec<Option<u16>>,
    messages: Vec<SentMessage>,
    faults: Vec<FaultRule>,
    commands: HashMap<String, Vec<Value>>,
    /// Connections that identified or resumed and are still open.
    live: usize,
    identify_close: Option<u16>,
    interactions: HashMap<String, u64>,
    /// Guild members set with [`FakeDiscord::set_member`]: (guild, user) → role ids.
    members: HashMap<(u64, u64), Vec<u64>>,
    /// The messages users wrote ([`FakeDiscord::send_message`]), by id, for `GET` of a message.
    user_messages: HashMap<u64, Value>,
    /// Files served at `/files/NAME` ([`FakeDiscord::add_file`]).
    files: HashMap<String, Vec<u8>>,
    /// Direct-message channels the bot opened: user → channel.
    dm_channels: HashMap<u64, u64>,
}

struct Shared {
    addr: SocketAddr,
    options: FakeDiscordOptions,
    inner: Mutex<Inner>,
    new_dispatch: Notify,
    drop_tx: watch::Sender<(u64, Option<GatewayDrop>)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not hide the fake's state from the others.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How the fake presents itself.
#[derive(Debug, Clone)]
pub struct FakeDiscordOptions {
    /// The bot's user id.
    pub bot_id: u64,
    /// The bot's username.
    pub bot_name: String,
    /// The application id (READY `application.id`).
    pub application_id: u64,
    /// Heartbeat interval announced in HELLO.
    pub heartbeat_interval_ms: u64,
    /// Guilds announced after READY (and listed by `GET /users/@me/guilds`).
    pub guilds: Vec<FakeGuild>,
    /// Shards `GET /gateway/bot` recommends.
    pub shards: u32,
    /// The application's `flags` (`GET /oauth2/applications/@me`): by default
    /// [`MESSAGE_CONTENT_FLAG`], the Message Content intent switched on.
    pub application_flags: u64,
}

/// The application flag `GATEWAY_MESSAGE_CONTENT`: the Message Content intent is enabled.
pub const MESSAGE_CONTENT_FLAG: u64 = 1 << 19;

impl Default for FakeDiscordOptions {
    fn default() -> Self {
        Self {
            bot_id: 4242,
            bot_name: "parley".to_string(),
            application_id: 4242,
            heartbeat_interval_ms: 41_250,
            guilds: Vec::new(),
            shards: 1,
            application_flags: MESSAGE_CONTENT_FLAG,
        }
    }
}

/// The fake Discord server. Dropping it stops nothing by itself; the server task ends with the
/// test's runtime.
#[derive(Clone)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeDiscord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDiscord")
            .field("addr", &self.shared.addr)
            .finish()
    }
}

impl FakeDiscord {
    /// Start with default options (bot 4242 "parley", no guilds).
    pub async fn start() -> Self {
        Self::start_with(FakeDiscordOptions::default()).await
    }

    /// Start on `127.0.0.1:0` with these options.
    ///
    /// # Panics
    /// If no local port can be bound (test set-up).
    pub async fn start_with(options: FakeDiscordOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (drop_tx, _) = watch::channel((0, None));
        let shard_count = options.shards.max(1);
        let shared = Arc::new(Shared {
            addr,
            options,
            inner: Mutex::new(Inner {
                next_id: 1_300_000_000_000_000_000,
                shards: (0..shard_count).map(|_| ShardSession::default()).collect(),
                session_count: 0,
                requests: Vec::new(),
                gateway_frames: Vec::new(),
                client_closes: Vec::new(),
                messages: Vec::new(),
                faults: Vec::new(),
                commands: HashMap::new(),
                live: 0,
                identify_close: None,
                interactions: HashMap::new(),
                members: HashMap::new(),
                user_messages: HashMap::new(),
                files: HashMap::new(),
                dm_channels: HashMap::new(),
            }),
            new_dispatch: Notify::new(),
            drop_tx,
        });
        let app = Router::new()
            .route("/ws", get(ws_upgrade))
            .fallback(rest)
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("fake discord server ended: {e}");
            }
        });
        Self { shared }
    }

    /// REST base to hand to serenity's `HttpBuilder::proxy` (`http://127.0.0.1:PORT`).
    pub fn api_base(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The gateway URL `GET /gateway` returns.
    pub fn gateway_url(&self) -> String {
        format!("ws://{}/ws", self.shared.addr)
    }

    /// The bot's user id.
    pub fn bot_id(&self) -> u64 {
        self.shared.options.bot_id
    }

    /// The bot's user, as [`FakeUser`].
    pub fn bot_user(&self) -> FakeUser {
        FakeUser::bot(self.shared.options.bot_id, &self.shared.options.bot_name)
    }

    /// The application id.
    pub fn application_id(&self) -> u64 {
        self.shared.options.application_id
    }

    /// Push a dispatch (`t`, `d`). Before the first IDENTIFY it is queued and delivered after
    /// READY; while disconnected it waits in the session for RESUME. Returns nothing: sequence
    /// numbers are assigned when the dispatch enters a session.
    pub fn dispatch(&self, t: &str, d: Value) {
        let mut inner = self.shared.lock();
        let shard = &mut inner.shards[shard_of(&d, self.shared.options.shards)];
        if shard.session.is_some() {
            push_dispatch(shard, t, d);
        } else {
            shard.queued.push((t.to_string(), d));
        }
        drop(inner);
        self.shared.new_dispatch.notify_waiters();
    }

    /// Push a MESSAGE_CREATE for `msg`; returns the message id. The message can then be
    /// fetched (`GET /channels/C/messages/ID`) and reacted to ([`FakeDiscord::react`]).
    pub fn send_message(&self, msg: FakeMessage) -> u64 {
        let id = self.next_id();
        let payload = msg.to_json(id);
        self.shared.lock().user_messages.insert(id, payload.clone());
        self.dispatch("MESSAGE_CREATE", payload);
        id
    }

    /// Serve `bytes` at `/files/NAME`; returns the URL to attach ([`FakeMessage::file`]).
    pub fn add_file(&self, name: &str, bytes: &[u8]) -> String {
        self.shared
            .lock()
            .files
            .insert(name.to_string(), bytes.to_vec());
        format!("http://{}/files/{name}", self.shared.addr)
    }

    /// `user` reacts with `emoji` to message `message_id` in `channel_id` (of `guild_id`, or a
    /// DM): a MESSAGE_REACTION_ADD.
    pub fn react(
        &self,
        (guild_id, channel_id): (Option<u64>, u64),
        message_id: u64,
        user: &FakeUser,
        emoji: &str,
    ) {
        let mut d = json!({
            "user_id": user.id.to_string(), "channel_id": channel_id.to_string(),
            "message_id": message_id.to_string(), "emoji": { "id": null, "name": emoji },
            "burst": false, "type": 0,
        });
        if let Some(g) = guild_id {
            d["guild_id"] = json!(g.to_string());
            d["member"] = json!({
                "user": user.to_json(), "nick": null, "roles": [], "joined_at": TIMESTAMP,
                "deaf": false, "mute": false, "flags": 0, "pending": false,
                "premium_since": null, "avatar": null,
            });
        }
        self.dispatch("MESSAGE_REACTION_ADD", d);
    }

    /// Push an INTERACTION_CREATE for `interaction`; returns (interaction id, token).
    pub fn send_interaction(&self, interaction: FakeInteraction) -> (u64, String) {
        let id = self.next_id();
        let token = format!("itoken{id}");
        self.shared
            .lock()
            .interactions
            .insert(token.clone(), interaction.channel_id);
        self.dispatch(
            "INTERACTION_CREATE",
            interaction.to_json(id, self.application_id(), &token),
        );
        (id, token)
    }

    /// A fresh snowflake.
    pub fn next_id(&self) -> u64 {
        let mut inner = self.shared.lock();
        inner.next_id += 1;
        inner.next_id
    }

    /// Every REST request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every frame the client sent on the gateway (IDENTIFY, RESUME, heartbeats), token removed.
    pub fn gateway_frames(&self) -> Vec<Value> {
        self.shared.lock().gateway_frames.clone()
    }

    /// Frames with this opcode (2 = IDENTIFY, 6 = RESUME, 1 = heartbeat).
    pub fn gateway_frames_with_op(&self, op: u64) -> Vec<Value> {
        self.gateway_frames()
            .into_iter()
            .filter(|f| f["op"].as_u64() == Some(op))
            .collect()
    }

    /// The close frames the client sent, oldest first: each one's code, `None` for a close
    /// frame without a code. A TCP drop without a close frame adds nothing.
    pub fn client_closes(&self) -> Vec<Option<u16>> {
        self.shared.lock().client_closes.clone()
    }

    /// Whether a client is connected and has a session (identified or resumed).
    pub fn is_connected(&self) -> bool {
        let inner = self.shared.lock();
        inner.live > 0 && inner.shards.iter().any(|s| s.session.is_some())
    }

    /// How many sessions IDENTIFY has opened.
    pub fn session_count(&self) -> u64 {
        self.shared.lock().session_count
    }

    /// Messages the bot created in `channel_id` (interaction answers count under their channel),
    /// oldest first.
    pub fn messages(&self, channel_id: u64) -> Vec<SentMessage> {
        self.shared
            .lock()
            .messages
            .iter()
            .filter(|m| m.channel_id == channel_id)
            .cloned()
            .collect()
    }

    /// The direct-message channel the bot opened with `user`, if it did.
    pub fn dm_channel(&self, user: u64) -> Option<u64> {
        self.shared.lock().dm_channels.get(&user).copied()
    }

    /// Every message the bot created, oldest first.
    pub fn all_messages(&self) -> Vec<SentMessage> {
        self.shared.lock().messages.clone()
    }

    /// Commands registered so far, by scope (`"global"` or the guild id).
    pub fn registered_commands(&self) -> HashMap<String, Vec<Value>> {
        self.shared.lock().commands.clone()
    }

    /// Make the next `count` requests whose method is `method` and whose path (without
    /// `/api/v10`) contains `path_contains` fail with `fault`.
    pub fn fail_next(&self, method: &str, path_contains: &str, count: usize, fault: Fault) {
        self.shared.lock().faults.push(FaultRule {
            method: method.to_ascii_uppercase(),
            path_contains: path_contains.to_string(),
            remaining: count,
            fault,
        });
    }

    /// End the current gateway connection; the session stays resumable.
    pub fn drop_gateway(&self, how: GatewayDrop) {
        self.shared.drop_tx.send_modify(|(n, d)| {
            *n += 1;
            *d = Some(how);
        });
    }

    /// Make `user` a member of `guild` holding `roles`, for `GET /guilds/{g}/members/{u}`.
    /// Once a guild has members set, others are answered `404 Unknown Member`; in a guild
    /// without, every user is a member with no roles.
    pub fn set_member(&self, guild: u64, user: u64, roles: &[u64]) {
        self.shared
            .lock()
            .members
            .insert((guild, user), roles.to_vec());
    }

    /// Answer the next IDENTIFYs with this close code (`None`: answer READY again).
    pub fn set_identify_close(&self, code: Option<u16>) {
        self.shared.lock().identify_close = code;
    }

    /// Poll `check` every 20 ms until it returns `Some`, or give up after `timeout`.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&FakeDiscord) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = check(self) {
                return Some(v);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The shard a dispatch belongs to: its guild's, or shard 0 without a guild.
fn shard_of(d: &Value, shards: u32) -> usize {
    let guild = d["guild_id"]
        .as_str()
        .or_else(|| d["id"].as_str().filter(|_| d.get("channels").is_some()))
        .and_then(|g| g.parse::<u64>().ok());
    guild.map_or(0, |g| ((g >> 22) % u64::from(shards.max(1))) as usize)
}

fn push_dispatch(inner: &mut ShardSession, t: &str, d: Value) {
    let seq = inner.log.last().map_or(1, |l| l.seq + 1);
    inner.log.push(Dispatch {
        seq,
        t: t.to_string(),
        d,
    });
}

async fn ws_upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| gateway_session(shared, socket))
}

fn text(v: &Value) -> WsMessage {
    WsMessage::Text(v.to_string().into())
}

/// One gateway connection: HELLO, then IDENTIFY or RESUME, then dispatches until dropped.
async fn gateway_session(shared: Arc<Shared>, mut socket: WebSocket) {
    let mut drop_rx = shared.drop_tx.subscribe();
    drop_rx.borrow_and_update();
    let hello = json!({ "op": 10, "d": { "heartbeat_interval": shared.options.heartbeat_interval_ms }, "s": null, "t": null });
    if socket.send(text(&hello)).await.is_err() {
        return;
    }
    // Sequence number the client has seen on this connection; None until identified/resumed.
    let mut sent: Option<u64> = None;
    let mut pending: VecDeque<Value> = VecDeque::new();
    // Whether this connection counts in `live` (it identified or resumed).
    let mut bound = false;
    // The shard this connection serves, once it identified or resumed.
    let mut shard = 0usize;
    loop {
        // Armed before reading the log, so a dispatch pushed in between still wakes us.
        let notified = shared.new_dispatch.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        queue_new_dispatches(&shared, shard, &mut sent, &mut pending);
        while let Some(frame) = pending.pop_front() {
            if socket.send(text(&frame)).await.is_err() {
                unbind(&shared, bound);
                return;
            }
        }
        tokio::select! {
            msg = socket.recv() => {
                let Some(Ok(msg)) = msg else { break };
                match msg {
                    WsMessage::Text(t) => {
                        let Ok(frame) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                        match handle_frame(&shared, frame, &mut sent, &mut bound, &mut shard) {
                            FrameReply::Send(frames) => pending.extend(frames),
                            FrameReply::Close(code) => {
                                let _ = socket.send(WsMessage::Close(Some(CloseFrame { code, reason: "closed by fake".into() }))).await;
                                break;
                            }
                        }
                    }
                    WsMessage::Close(frame) => {
                        shared.lock().client_closes.push(frame.map(|f| f.code));
                        // Answer the client's close so its shutdown completes.
                        let _ = socket.send(WsMessage::Close(None)).await;
                        break;
                    }
                    _ => {}
                }
            }
            _ = notified => {}
            changed = drop_rx.changed() => {
                if changed.is_err() { break; }
                let how = drop_rx.borrow_and_update().1;
                match how {
                    Some(GatewayDrop::Close(code)) => {
                        let _ = socket.send(WsMessage::Close(Some(CloseFrame { code, reason: "dropped by fake".into() }))).await;
                        break;
                    }
                    Some(GatewayDrop::Abrupt) => break,
                    None => {}
                }
            }
        }
    }
    unbind(&shared, bound);
}

/// Queues whatever the shard's session holds beyond what this connection has `sent` (nothing
/// before the connection identified or resumed).
fn queue_new_dispatches(
    shared: &Shared,
    shard: usize,
    sent: &mut Option<u64>,
    pending: &mut VecDeque<Value>,
) {
    let Some(upto) = *sent else { return };
    let batch: Vec<Dispatch> = {
        let inner = shared.lock();
        inner.shards[shard]
            .log
            .iter()
            .filter(|d| d.seq > upto)
            .cloned()
            .collect()
    };
    for d in batch {
        *sent = Some(d.seq);
        pending.push_back(json!({ "op": 0, "s": d.seq, "t": d.t, "d": d.d }));
    }
}

fn unbind(shared: &Shared, bound: bool) {
    if bound {
        let mut inner = shared.lock();
        inner.live = inner.live.saturating_sub(1);
    }
}

enum FrameReply {
    Send(Vec<Value>),
    Close(u16),
}

fn handle_frame(
    shared: &Shared,
    mut frame: Value,
    sent: &mut Option<u64>,
    bound: &mut bool,
    shard: &mut usize,
) -> FrameReply {
    let op = frame["op"].as_u64().unwrap_or(u64::MAX);
    if frame["d"].get("token").is_some() {
        frame["d"]["token"] = json!("<redacted>");
    }
    let mut inner = shared.lock();
    inner.gateway_frames.push(frame.clone());
    let (reply, opened) = match op {
        1 => return FrameReply::Send(vec![json!({ "op": 11, "d": null, "s": null, "t": null })]),
        2 => identify(shared, &mut inner, &frame, sent, shard),
        6 => resume(&mut inner, &frame, sent, shard),
        _ => return FrameReply::Send(Vec::new()),
    };
    if opened && !*bound {
        *bound = true;
        inner.live += 1;
    }
    reply
}

/// IDENTIFY: a new session for the shard it names, READY, its guilds, what waited for it.
/// Also says whether a session was opened.
fn identify(
    shared: &Shared,
    inner: &mut Inner,
    frame: &Value,
    sent: &mut Option<u64>,
    shard: &mut usize,
) -> (FrameReply, bool) {
    if let Some(code) = inner.identify_close {
        return (FrameReply::Close(code), false);
    }
    let o = &shared.options;
    let total = o.shards.max(1);
    let id = frame["d"]["shard"][0].as_u64().unwrap_or(0);
    let asked_total = frame["d"]["shard"][1].as_u64().unwrap_or(1);
    if id >= u64::from(total) || asked_total != u64::from(total) {
        // Discord's "invalid shard" close.
        return (FrameReply::Close(4010), false);
    }
    *shard = id as usize;
    inner.session_count += 1;
    let session_id = format!("session{}", inner.session_count);
    let guilds: Vec<&FakeGuild> = o
        .guilds
        .iter()
        .filter(|g| shard_of(&json!({ "guild_id": g.id.to_string() }), total) == *shard)
        .collect();
    let ready = json!({
        "v": 10,
        "user": {
            "id": o.bot_id.to_string(), "username": o.bot_name, "discriminator": "0",
            "global_name": null, "avatar": null, "bot": true, "verified": true,
            "mfa_enabled": false, "flags": 0,
        },
        "guilds": guilds.iter().map(|g| json!({ "id": g.id.to_string(), "unavailable": true })).collect::<Vec<_>>(),
        "session_id": session_id,
        "resume_gateway_url": format!("ws://{}/ws", shared.addr),
        "shard": [id, total],
        "application": { "id": o.application_id.to_string(), "flags": 0 },
        "private_channels": [],
        "presences": [],
    });
    let session = &mut inner.shards[*shard];
    session.session = Some(session_id);
    session.log.clear();
    push_dispatch(session, "READY", ready);
    for g in guilds {
        push_dispatch(session, "GUILD_CREATE", g.to_json());
    }
    for (t, d) in std::mem::take(&mut session.queued) {
        push_dispatch(session, &t, d);
    }
    *sent = Some(0);
    (FrameReply::Send(Vec::new()), true)
}

/// RESUME: replay what the shard's session missed, then RESUMED; INVALID_SESSION when the
/// session is unknown. Also says whether a session was taken up.
fn resume(
    inner: &mut Inner,
    frame: &Value,
    sent: &mut Option<u64>,
    shard: &mut usize,
) -> (FrameReply, bool) {
    let asked = frame["d"]["session_id"].as_str();
    let Some(found) = inner
        .shards
        .iter()
        .position(|s| s.session.is_some() && s.session.as_deref() == asked)
    else {
        let invalid = json!({ "op": 9, "d": false, "s": null, "t": null });
        return (FrameReply::Send(vec![invalid]), false);
    };
    *shard = found;
    let session = &mut inner.shards[found];
    let seq = frame["d"]["seq"].as_u64().unwrap_or(0);
    // Replay what the client missed, then say RESUMED (after the replay, as Discord does).
    let mut frames: Vec<Value> = session
        .log
        .iter()
        .filter(|d| d.seq > seq)
        .map(|d| json!({ "op": 0, "s": d.seq, "t": d.t, "d": d.d }))
        .collect();
    push_dispatch(session, "RESUMED", json!({ "_trace": ["fake"] }));
    let last = session.log.last().map_or(seq, |l| l.seq);
    frames.push(json!({ "op": 0, "s": last, "t": "RESUMED", "d": { "_trace": ["fake"] } }));
    *sent = Some(last);
    (FrameReply::Send(frames), true)
}

fn discord_error(status: StatusCode, code: u64, message: &str) -> Response {
    (status, Json(json!({ "message": message, "code": code }))).into_response()
}

/// Every REST call lands here: record, maybe fail, then route by path.
async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full = uri.path().to_string();
    let path = full.strip_prefix(API_PREFIX).unwrap_or(&full).to_string();
    let body = rest_body(&headers, &body);
    let method = method.as_str().to_ascii_uppercase();

    let fault = {
        let mut inner = shared.lock();
        let rule = inner
            .faults
            .iter_mut()
            .find(|r| r.remaining > 0 && r.method == method && path.contains(&r.path_contains));
        rule.map(|r| {
            r.remaining -= 1;
            r.fault
        })
    };
    let response = match fault {
        Some(Fault::RateLimited { retry_after }) => {
            let mut headers = HeaderMap::new();
            let secs = format!("{retry_after}");
            for (k, v) in [
                ("retry-after", secs.as_str()),
                ("x-ratelimit-limit", "5"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset-after", secs.as_str()),
                ("x-ratelimit-scope", "user"),
            ] {
                if let Ok(v) = HeaderValue::from_str(v) {
                    headers.insert(k, v);
                }
            }
            (
                StatusCode::TOO_MANY_REQUESTS,
                headers,
                Json(json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": false })),
            )
                .into_response()
        }
        Some(Fault::Status(code)) => discord_error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            0,
            "injected failure",
        ),
        None => route(&shared, &method, &path, &body),
    };
    shared.lock().requests.push(RecordedRequest {
        method,
        path,
        query: uri.query().map(str::to_string),
        body,
        status: response.status().as_u16(),
    });
    response
}

/// A request's JSON: the body, or a multipart body's `payload_json` with its files under
/// `_files` (`[name, content]` pairs).
fn rest_body(headers: &HeaderMap, body: &[u8]) -> Value {
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = ctype
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .filter(|_| ctype.starts_with("multipart/form-data"))
    else {
        return serde_json::from_slice(body).unwrap_or(Value::Null);
    };
    let text = String::from_utf8_lossy(body);
    let mut payload = Value::Null;
    let mut files = Vec::new();
    for part in text.split(&format!("--{}", boundary.trim_matches('"'))) {
        let part = part.trim_start_matches("\r\n");
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let field = |key: &str| {
            head.split(';')
                .find_map(|p| p.trim().strip_prefix(key))
                .map(|v| v.split('"').nth(1).unwrap_or_default().to_string())
        };
        match (field("name="), field("filename=")) {
            (Some(name), None) if name == "payload_json" => {
                payload = serde_json::from_str(value).unwrap_or(Value::Null);
            }
            (Some(_), Some(file)) => {
                let content = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
                files.push(json!([file, content]));
            }
            _ => {}
        }
    }
    if !payload.is_object() {
        payload = json!({});
    }
    payload["_files"] = Value::Array(files);
    payload
}

/// `POST /users/@me/channels`: the direct-message channel with `recipient_id`, opened once.
fn open_dm(shared: &Shared, body: &Value) -> Response {
    let user: u64 = body["recipient_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| body["recipient_id"].as_u64())
        .unwrap_or(0);
    let mut inner = shared.lock();
    let channel = match inner.dm_channels.get(&user) {
        Some(c) => *c,
        None => {
            inner.next_id += 1;
            let c = inner.next_id;
            inner.dm_channels.insert(user, c);
            c
        }
    };
    Json(json!({
        "id": channel.to_string(), "type": 1, "last_message_id": null,
        "recipients": [FakeUser::new(user, "member").to_json()],
    }))
    .into_response()
}

fn route(shared: &Shared, method: &str, path: &str, body: &Value) -> Response {
    let o = &shared.options;
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let gateway = format!("ws://{}/ws", shared.addr);
    match (method, seg.as_slice()) {
        ("GET", ["gateway"]) => Json(json!({ "url": gateway })).into_response(),
        ("GET", ["gateway", "bot"]) => Json(json!({
            "url": gateway, "shards": o.shards.max(1),
            "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1 },
        }))
        .into_response(),
        ("POST", ["users", "@me", "channels"]) => open_dm(shared, body),
        ("GET", ["users", "@me"]) => {
            Json(FakeUser::bot(o.bot_id, &o.bot_name).to_json()).into_response()
        }
        ("GET", ["users", "@me", "guilds"]) => Json(own_guilds(o)).into_response(),
        ("GET", ["oauth2", "applications", "@me"]) => Json(json!({
            "id": o.application_id.to_string(), "name": o.bot_name, "icon": null, "description": "",
            "bot_public": true, "bot_require_code_grant": false, "verify_key": "00",
            "flags": o.application_flags,
            "owner": FakeUser::new(1, "owner").to_json(), "team": null,
        }))
        .into_response(),
        ("POST", ["channels", ch, "messages"]) => {
            let channel: u64 = ch.parse().unwrap_or(0);
            create_message(shared, channel, body)
        }
        ("PATCH", ["channels", _ch, "messages", mid]) => edit_message(shared, mid, body),
        ("GET", ["channels", _ch, "messages", mid]) => get_message(shared, mid),
        ("GET", ["files", name]) => match shared.lock().files.get(*name) {
            Some(bytes) => (StatusCode::OK, bytes.clone()).into_response(),
            None => discord_error(StatusCode::NOT_FOUND, 0, "404: Not Found"),
        },
        ("POST", ["channels", _ch, "typing"]) => StatusCode::NO_CONTENT.into_response(),
        ("PUT" | "POST", ["applications", _app, "commands"]) => {
            register_commands(shared, "global", body, method == "POST")
        }
        ("PUT" | "POST", ["applications", _app, "guilds", guild, "commands"]) => {
            register_commands(shared, guild, body, method == "POST")
        }
        ("POST", ["interactions", _id, token, "callback"]) => {
            interaction_callback(shared, token, body)
        }
        ("POST", ["webhooks", _app, token]) => followup_message(shared, token, body),
        ("PATCH", ["webhooks", _app, token, "messages", mid]) => {
            edit_interaction_message(shared, token, mid, body)
        }
        ("GET", ["guilds", guild, "members", user]) => member(shared, guild, user),
        _ => discord_error(StatusCode::NOT_FOUND, 0, "404: Not Found"),
    }
}

/// `POST /interactions/{id}/{token}/callback`: type 4 answers at once with a message, 5 shows
/// "thinking…" (the original response, edited later).
fn interaction_callback(shared: &Shared, token: &str, body: &Value) -> Response {
    let channel = shared.lock().interactions.get(token).copied();
    match channel {
        Some(channel) => {
            // Type 4 answers immediately with a message; 5 shows "thinking…".
            if body["type"].as_u64() == Some(4) {
                let mut data = body["data"].clone();
                data["_original"] = json!(true);
                data["_interaction"] = json!(token);
                create_message(shared, channel, &data);
            } else {
                record_original(shared, channel, token);
            }
            StatusCode::NO_CONTENT.into_response()
        }
        None => discord_error(StatusCode::NOT_FOUND, 10062, "Unknown interaction"),
    }
}

/// `POST /webhooks/{app}/{token}`: a follow-up message to an interaction.
fn followup_message(shared: &Shared, token: &str, body: &Value) -> Response {
    let channel = shared.lock().interactions.get(token).copied();
    match channel {
        Some(channel) => {
            let mut data = body.clone();
            data["_interaction"] = json!(token);
            create_message(shared, channel, &data)
        }
        None => discord_error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook"),
    }
}

/// `PATCH /webhooks/{app}/{token}/messages/{id}`: edits a follow-up, or the original response
/// (`@original`).
fn edit_interaction_message(shared: &Shared, token: &str, mid: &str, body: &Value) -> Response {
    let id = if mid == "@original" {
        let inner = shared.lock();
        inner
            .messages
            .iter()
            .find(|m| m.original && m.interaction_token.as_deref() == Some(token))
            .map(|m| m.id.to_string())
    } else {
        Some(mid.to_string())
    };
    match id {
        Some(id) => edit_message(shared, &id, body),
        None => discord_error(StatusCode::NOT_FOUND, 10008, "Unknown Message"),
    }
}

/// `GET /guilds/{g}/members/{u}`: the roles [`FakeDiscord::set_member`] gave, or 404 when the
/// guild has members set and this user is not one of them.
/// `GET /users/@me/guilds`: the guilds the bot is in, each with the bot's permissions there
/// (`@everyone`'s, which are none, plus its managed role's).
fn own_guilds(o: &FakeDiscordOptions) -> Value {
    let guilds: Vec<Value> = o
        .guilds
        .iter()
        .map(|g| {
            let permissions = g
                .roles
                .iter()
                .filter(|r| r.bot_id == Some(o.bot_id))
                .fold(0, |p, r| p | r.permissions);
            json!({
                "id": g.id.to_string(), "name": g.name, "icon": null, "owner": false,
                "permissions": permissions.to_string(), "features": [],
            })
        })
        .collect();
    json!(guilds)
}

fn member(shared: &Shared, guild: &str, user: &str) -> Response {
    let (g, u) = (guild.parse().unwrap_or(0), user.parse().unwrap_or(0));
    let roles = {
        let inner = shared.lock();
        match inner.members.get(&(g, u)) {
            Some(roles) => roles.clone(),
            None if inner.members.keys().any(|(mg, _)| *mg == g) => {
                return discord_error(StatusCode::NOT_FOUND, 10007, "Unknown Member");
            }
            None => Vec::new(),
        }
    };
    let roles: Vec<String> = roles.iter().map(u64::to_string).collect();
    Json(json!({
        "user": FakeUser::new(u, "member").to_json(),
        "nick": null, "roles": roles, "joined_at": TIMESTAMP, "deaf": false, "mute": false,
        "flags": 0, "pending": false, "guild_id": guild,
    }))
    .into_response()
}

/// A message by id: one a user wrote, or one the bot sent.
fn get_message(shared: &Shared, mid: &str) -> Response {
    let id: u64 = mid.parse().unwrap_or(0);
    let inner = shared.lock();
    if let Some(m) = inner.user_messages.get(&id) {
        return Json(m.clone()).into_response();
    }
    match inner.messages.iter().find(|m| m.id == id) {
        Some(m) => {
            let bot = FakeUser::bot(shared.options.bot_id, &shared.options.bot_name);
            Json(message_json(m.id, m.channel_id, &bot, &m.content)).into_response()
        }
        None => discord_error(StatusCode::NOT_FOUND, 10008, "Unknown Message"),
    }
}

/// The deferred "thinking…" answer of an interaction: an empty message editable as `@original`.
fn record_original(shared: &Shared, channel: u64, token: &str) {
    let mut inner = shared.lock();
    inner.next_id += 1;
    let id = inner.next_id;
    inner.messages.push(SentMessage {
        id,
        channel_id: channel,
        content: String::new(),
        history: vec![String::new()],
        reply_to: None,
        interaction_token: Some(token.to_string()),
        original: true,
        allowed_mentions: vec![Value::Null],
        files: Vec::new(),
        ephemeral: false,
    });
}

fn create_message(shared: &Shared, channel: u64, body: &Value) -> Response {
    let content = body["content"].as_str().unwrap_or_default().to_string();
    if units(&content) > MAX_CONTENT_UNITS {
        return discord_error(
            StatusCode::BAD_REQUEST,
            50035,
            "Invalid Form Body: content: Must be 2000 or fewer in length.",
        );
    }
    let reply_to = body["message_reference"]["message_id"]
        .as_str()
        .map(str::to_string);
    let mut inner = shared.lock();
    inner.next_id += 1;
    let id = inner.next_id;
    inner.messages.push(SentMessage {
        id,
        channel_id: channel,
        content: content.clone(),
        history: vec![content.clone()],
        reply_to,
        interaction_token: body["_interaction"].as_str().map(str::to_string),
        original: body["_original"].as_bool().unwrap_or(false),
        allowed_mentions: vec![body["allowed_mentions"].clone()],
        files: body["_files"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| (f[0].as_str().unwrap_or_default().to_string(), f[1].clone()))
                    .collect()
            })
            .unwrap_or_default(),
        ephemeral: body["flags"].as_u64().is_some_and(|f| f & 64 != 0),
    });
    let bot = FakeUser::bot(shared.options.bot_id, &shared.options.bot_name);
    Json(message_json(id, channel, &bot, &content)).into_response()
}

fn edit_message(shared: &Shared, mid: &str, body: &Value) -> Response {
    let Ok(id) = mid.parse::<u64>() else {
        return discord_error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    };
    let mut inner = shared.lock();
    let Some(m) = inner.messages.iter_mut().find(|m| m.id == id) else {
        return discord_error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    };
    if let Some(c) = body["content"].as_str() {
        if units(c) > MAX_CONTENT_UNITS {
            return discord_error(
                StatusCode::BAD_REQUEST,
                50035,
                "Invalid Form Body: content: Must be 2000 or fewer in length.",
            );
        }
        m.content = c.to_string();
        m.history.push(c.to_string());
    }
    m.allowed_mentions.push(body["allowed_mentions"].clone());
    let (channel, content) = (m.channel_id, m.content.clone());
    drop(inner);
    let bot = FakeUser::bot(shared.options.bot_id, &shared.options.bot_name);
    let mut v = message_json(id, channel, &bot, &content);
    v["edited_timestamp"] = json!(TIMESTAMP);
    Json(v).into_response()
}

fn register_commands(shared: &Shared, scope: &str, body: &Value, single: bool) -> Response {
    let app = shared.options.application_id.to_string();
    let list: Vec<Value> = if single {
        vec![body.clone()]
    } else {
        body.as_array().cloned().unwrap_or_default()
    };
    let mut inner = shared.lock();
    let mut out = Vec::new();
    for c in list {
        inner.next_id += 1;
        let mut cmd = json!({
            "id": inner.next_id.to_string(), "type": 1, "application_id": app,
            "name": c["name"], "description": c["description"],
            "description_localizations": c.get("description_localizations").cloned().unwrap_or(Value::Null),
            "options": c.get("options").cloned().unwrap_or(json!([])),
            "default_member_permissions": c.get("default_member_permissions").cloned().unwrap_or(Value::Null),
            "dm_permission": true, "nsfw": false, "integration_types": [0], "contexts": null,
            "version": "1",
        });
        if scope != "global" {
            cmd["guild_id"] = json!(scope);
        }
        out.push(cmd);
    }
    if single {
        inner
            .commands
            .entry(scope.to_string())
            .or_default()
            .extend(out.clone());
        drop(inner);
        return Json(out.into_iter().next().unwrap_or(Value::Null)).into_response();
    }
    inner.commands.insert(scope.to_string(), out.clone());
    Json(Value::Array(out)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mention_ids_finds_users_and_roles_separately() {
        let t = "<@1> hi <@!2> and <@&3> <@&x>";
        assert_eq!(mention_ids(t, "<@"), vec![1, 2]);
        assert_eq!(mention_ids(t, "<@&"), vec![3]);
    }
}
