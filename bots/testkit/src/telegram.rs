//! A fake Telegram Bot API server on 127.0.0.1, for driving `parley-telegram` (or any teloxide
//! bot) without Telegram.
//!
//! Point the bot at [`FakeTelegram::api_url`] (teloxide's `Bot::set_api_url`, or the
//! `TELOXIDE_API_URL` environment variable) with [`FakeTelegram::token`]. Requests arrive as
//! `POST /bot<TOKEN>/<Method>`; method names are matched case-insensitively (teloxide sends
//! `SendMessage`, the documentation says `sendMessage`). Bodies may be JSON, form-encoded or
//! multipart (text fields only). Every answer is wrapped like Telegram's:
//! `{"ok":true,"result":…}` or `{"ok":false,"error_code":…,"description":…}`.
//!
//! ## What it answers
//! `getMe`, `getWebhookInfo`, `deleteWebhook`, `setWebhook` (accepted, ignored), `getUpdates`
//! (updates below `offset` are forgotten for good, as on Telegram; when none are queued the call
//! is held for up to `timeout` seconds, at most [`FakeTelegram::set_poll_hold`], 500 ms by
//! default), `sendMessage`, `editMessageText`, `sendChatAction`, `setMyCommands`,
//! `getMyCommands`, `deleteMyCommands`, `getChatMember`, `getChatAdministrators`, `close`,
//! `logOut`, `getFile` (for files pushed with [`FakeTelegram::push_document`], whose bytes it
//! then serves at `GET /file/bot<TOKEN>/<file_path>`). Other methods get
//! `404 Not Found: method not found` (and are recorded).
//!
//! Like Telegram it rejects empty texts (`message text is empty`), texts over 4096 UTF-16 code
//! units (`message is too long` / `MESSAGE_TOO_LONG`), edits to unknown messages (`message to
//! edit not found`) and edits that change nothing (`message is not modified`). A wrong token gets
//! `401 Unauthorized`.
//!
//! ## Test API
//! - Push updates: [`FakeTelegram::push_private`], [`FakeTelegram::push_group`],
//!   [`FakeTelegram::push_topic`], [`FakeTelegram::push_reply`], or any JSON with
//!   [`FakeTelegram::push_message`] / [`FakeTelegram::push_update`].
//! - Inspect: [`FakeTelegram::calls`] (every request, method + body, faults included),
//!   [`FakeTelegram::sent`] (the bot's messages with their current text after edits),
//!   [`FakeTelegram::commands`] / [`FakeTelegram::commands_for`] (per scope),
//!   [`FakeTelegram::confirmed_offset`].
//! - Wait without sleeping: [`FakeTelegram::wait_for_call`], [`FakeTelegram::wait_until`].
//! - Faults: [`FakeTelegram::fail_next`] with a [`Fault`] (429 with `retry_after`, 5xx,
//!   "can't parse entities", a dropped connection, any API error), or
//!   [`FakeTelegram::fail_in_chat`] for every call of a method to one chat; [`FakeTelegram::stop`] and
//!   [`FakeTelegram::restart`] (same port, state kept) to simulate an outage.
//!
//! ```no_run
//! # async fn demo() {
//! use parley_testkit::telegram::{FakeTelegram, FakeUser};
//! let fake = FakeTelegram::start().await;
//! // … start the bot with fake.token() and fake.api_url() …
//! let ada = FakeUser::new(1001, "Ada");
//! fake.push_private(&ada, "hello");
//! let reply = fake
//!     .wait_for_call("sendMessage", |c| c.chat_id() == Some(1001), std::time::Duration::from_secs(5))
//!     .await
//!     .expect("the bot answers");
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use parley_core::render::units;
use serde_json::{json, Map, Value};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// Telegram's longest message text, in UTF-16 code units.
pub const MAX_TEXT_LEN: usize = 4096;

/// A user who writes to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    /// User id (positive).
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name, if any.
    pub last_name: Option<String>,
    /// Username without `@`, if any.
    pub username: Option<String>,
    /// The user's client language (`language_code`: `de`, `pt-br`), if known.
    pub language_code: Option<String>,
}

impl FakeUser {
    /// A user with an id and a first name.
    pub fn new(id: i64, first_name: &str) -> Self {
        Self {
            id,
            first_name: first_name.to_owned(),
            last_name: None,
            username: None,
            language_code: None,
        }
    }

    /// The same user with a last name.
    pub fn last_name(mut self, last: &str) -> Self {
        self.last_name = Some(last.to_owned());
        self
    }

    /// The same user with a client language (`de`, `pt-br`).
    pub fn language_code(mut self, code: &str) -> Self {
        self.language_code = Some(code.to_owned());
        self
    }

    /// The same user with a username.
    pub fn username(mut self, username: &str) -> Self {
        self.username = Some(username.to_owned());
        self
    }

    /// The Bot API `User` object.
    pub fn to_json(&self) -> Value {
        let mut u = json!({"id": self.id, "is_bot": false, "first_name": self.first_name});
        if let Some(l) = &self.last_name {
            u["last_name"] = json!(l);
        }
        if let Some(n) = &self.username {
            u["username"] = json!(n);
        }
        if let Some(l) = &self.language_code {
            u["language_code"] = json!(l);
        }
        u
    }
}

/// A chat the bot is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeChat {
    /// Chat id (users' ids for private chats, negative for groups).
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    pub kind: &'static str,
    /// Title for groups.
    pub title: Option<String>,
    /// Whether the supergroup has forum topics.
    pub is_forum: bool,
}

impl FakeChat {
    /// The private chat with `user`.
    pub fn private(user: &FakeUser) -> Self {
        Self {
            id: user.id,
            kind: "private",
            title: None,
            is_forum: false,
        }
    }

    /// A basic group.
    pub fn group(id: i64, title: &str) -> Self {
        Self {
            id,
            kind: "group",
            title: Some(title.to_owned()),
            is_forum: false,
        }
    }

    /// A supergroup.
    pub fn supergroup(id: i64, title: &str) -> Self {
        Self {
            id,
            kind: "supergroup",
            title: Some(title.to_owned()),
            is_forum: false,
        }
    }

    /// A supergroup with forum topics.
    pub fn forum(id: i64, title: &str) -> Self {
        Self {
            is_forum: true,
            ..Self::supergroup(id, title)
        }
    }

    /// The Bot API `Chat` object.
    pub fn to_json(&self) -> Value {
        let mut c = json!({"id": self.id, "type": self.kind});
        if let Some(t) = &self.title {
            c["title"] = json!(t);
        }
        if self.kind == "private" {
            c["first_name"] = json!("User");
        }
        if self.is_forum {
            c["is_forum"] = json!(true);
        }
        c
    }
}

/// A fault the fake answers with instead of doing the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `429 Too Many Requests` with `parameters.retry_after` seconds.
    RetryAfter(u32),
    /// A 5xx status with Telegram's JSON error body. Note: teloxide itself sleeps 10 s after
    /// any 5xx before it returns the error.
    ServerError(u16),
    /// `400 Bad Request: can't parse entities: …`.
    CantParseEntities,
    /// The connection breaks mid-answer (headers sent, body fails): a network error for the
    /// client, without teloxide's 5xx delay.
    Disconnect,
    /// Any API error.
    Api {
        /// HTTP status and `error_code`.
        status: u16,
        /// Telegram's `description`.
        description: String,
    },
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Method name as sent (`SendMessage`); compare with [`Call::is`].
    pub method: String,
    /// The parameters (JSON body, or form/multipart fields as strings).
    pub body: Value,
    /// The fault it was answered with, if any.
    pub fault: Option<Fault>,
    /// When it arrived (to check that a retry waited).
    pub at: std::time::Instant,
}

impl Call {
    /// Whether this is a call of `method` (case-insensitive).
    pub fn is(&self, method: &str) -> bool {
        self.method.eq_ignore_ascii_case(method)
    }

    /// The `text` parameter.
    pub fn text(&self) -> Option<&str> {
        self.body.get("text").and_then(Value::as_str)
    }

    /// The `chat_id` parameter as a number.
    pub fn chat_id(&self) -> Option<i64> {
        as_i64(self.body.get("chat_id")?)
    }

    /// The `message_thread_id` parameter.
    pub fn thread_id(&self) -> Option<i64> {
        as_i64(self.body.get("message_thread_id")?)
    }
}

/// A message the bot sent, as it stands now (after edits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Chat it went to.
    pub chat_id: i64,
    /// Its id.
    pub message_id: i64,
    /// Forum topic / thread.
    pub thread_id: Option<i64>,
    /// The message it replies to.
    pub reply_to: Option<i64>,
    /// Current text.
    pub text: String,
    /// `parse_mode` it was sent or last edited with.
    pub parse_mode: Option<String>,
    /// Successful edits so far.
    pub edits: usize,
}

/// A file the bot sent with `sendDocument`.
#[derive(Debug, Clone, PartialEq)]
pub struct SentDocument {
    /// Chat it went to.
    pub chat_id: i64,
    /// Its caption.
    pub caption: Option<String>,
    /// Its content: the JSON it holds when it is JSON, else its text.
    pub content: Value,
}

/// What a push returned: ids to refer to the message later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The update's id.
    pub update_id: i64,
    /// The message's id.
    pub message_id: i64,
}

#[derive(Debug, Default)]
struct FakeState {
    next_update_id: i64,
    next_message_id: i64,
    updates: VecDeque<Value>,
    confirmed_offset: i64,
    calls: Vec<Call>,
    sent: Vec<SentMessage>,
    chats: HashMap<i64, Value>,
    users: HashMap<i64, Value>,
    faults: HashMap<String, VecDeque<Fault>>,
    /// Faults answering every call of a method (lowercase) to one chat, until cleared.
    chat_faults: HashMap<(String, i64), Fault>,
    admins: HashMap<i64, Vec<i64>>,
    /// The commands of each scope ([`scope_name`]).
    commands: HashMap<String, Value>,
    poll_hold: Duration,
    stopping: bool,
    /// Files users sent, by file id.
    files: HashMap<String, Vec<u8>>,
    /// File paths the bot downloaded, in order.
    downloads: Vec<String>,
    /// Files the bot sent.
    documents: Vec<SentDocument>,
}

#[derive(Debug)]
struct Shared {
    token: String,
    bot: Value,
    state: Mutex<FakeState>,
    /// Woken on every change (a call, a push, a stop).
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The fake Bot API server. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeTelegram {
    shared: Arc<Shared>,
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
}

/// The token [`FakeTelegram::start`] expects.
pub const TOKEN: &str = "4242:TEST-fake-token";
/// The bot's user id in [`FakeTelegram::start`].
pub const BOT_ID: i64 = 4242;
/// The bot's username in [`FakeTelegram::start`].
pub const BOT_USERNAME: &str = "parley_test_bot";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl FakeTelegram {
    /// Start on a free port with the default bot ([`BOT_ID`], [`BOT_USERNAME`]) and [`TOKEN`].
    pub async fn start() -> Self {
        Self::start_with(TOKEN, BOT_ID, BOT_USERNAME).await
    }

    /// Start on a free port for a bot with this token, id and username.
    pub async fn start_with(token: &str, bot_id: i64, bot_username: &str) -> Self {
        let bot = json!({
            "id": bot_id, "is_bot": true, "first_name": "Parley", "username": bot_username,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false,
        });
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            bot,
            state: Mutex::new(FakeState {
                next_update_id: 1,
                next_message_id: 1000,
                poll_hold: Duration::from_millis(500),
                ..FakeState::default()
            }),
            changed: Notify::new(),
        });
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let running = serve(listener, shared.clone());
        Self {
            shared,
            addr,
            running: Mutex::new(Some(running)),
        }
    }

    /// The API base to give the bot (`http://127.0.0.1:PORT`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token it accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The bot's user id.
    pub fn bot_id(&self) -> i64 {
        self.shared.bot["id"].as_i64().unwrap_or_default()
    }

    /// The bot's username.
    pub fn bot_username(&self) -> String {
        self.shared.bot["username"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// How long an empty `getUpdates` is held at most (default 500 ms).
    pub fn set_poll_hold(&self, hold: Duration) {
        self.shared.lock().poll_hold = hold;
    }

    // ----- pushing updates -----

    /// Queue a raw update; an `update_id` is assigned when missing. Returns the update id.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let id = {
            let mut st = self.shared.lock();
            let id = match update.get("update_id").and_then(as_i64) {
                Some(id) => {
                    st.next_update_id = st.next_update_id.max(id + 1);
                    id
                }
                None => {
                    let id = st.next_update_id;
                    st.next_update_id += 1;
                    update["update_id"] = json!(id);
                    id
                }
            };
            if let Some(msg) = update.get("message") {
                if let Some(chat) = msg.get("chat") {
                    if let Some(cid) = chat.get("id").and_then(as_i64) {
                        st.chats.insert(cid, chat.clone());
                    }
                }
                if let Some(from) = msg.get("from") {
                    if let Some(uid) = from.get("id").and_then(as_i64) {
                        st.users.insert(uid, from.clone());
                    }
                }
            }
            st.updates.push_back(update);
            id
        };
        self.shared.changed.notify_waiters();
        id
    }

    /// Queue a `message` update; `message_id` and `date` are filled in when missing.
    pub fn push_message(&self, mut message: Value) -> Pushed {
        let message_id = match message.get("message_id").and_then(as_i64) {
            Some(id) => id,
            None => {
                let id = self.next_message_id();
                message["message_id"] = json!(id);
                id
            }
        };
        if message.get("date").is_none() {
            message["date"] = json!(now());
        }
        let update_id = self.push_update(json!({ "message": message }));
        Pushed {
            update_id,
            message_id,
        }
    }

    fn next_message_id(&self) -> i64 {
        let mut st = self.shared.lock();
        let id = st.next_message_id;
        st.next_message_id += 1;
        id
    }

    /// A message object from `user` in `chat` (not queued): tweak it, then [`Self::push_message`].
    pub fn message(&self, chat: &FakeChat, user: &FakeUser, text: &str) -> Value {
        json!({
            "message_id": self.next_message_id(),
            "date": now(),
            "chat": chat.to_json(),
            "from": user.to_json(),
            "text": text,
        })
    }

    /// `user` writes `text` to the bot in private.
    pub fn push_private(&self, user: &FakeUser, text: &str) -> Pushed {
        self.push_message(self.message(&FakeChat::private(user), user, text))
    }

    /// `user` writes `text` in a group. An `@username` of the bot in it gets its `mention`
    /// entity, as Telegram adds one.
    pub fn push_group(&self, chat: &FakeChat, user: &FakeUser, text: &str) -> Pushed {
        let mut m = self.message(chat, user, text);
        add_entities(&mut m, text);
        self.push_message(m)
    }

    /// `user` writes `text` in forum topic `thread_id` of `chat`.
    pub fn push_topic(
        &self,
        chat: &FakeChat,
        thread_id: i64,
        user: &FakeUser,
        text: &str,
    ) -> Pushed {
        let mut m = self.message(chat, user, text);
        add_entities(&mut m, text);
        m["message_thread_id"] = json!(thread_id);
        m["is_topic_message"] = json!(true);
        self.push_message(m)
    }

    /// `user` replies with `text` to the bot's message `to` in `chat`.
    pub fn push_reply(&self, chat: &FakeChat, user: &FakeUser, text: &str, to: i64) -> Pushed {
        let mut m = self.message(chat, user, text);
        add_entities(&mut m, text);
        let original = {
            let st = self.shared.lock();
            st.sent
                .iter()
                .find(|s| s.chat_id == chat.id && s.message_id == to)
                .map(|s| s.text.clone())
        };
        let from = self.bot_user();
        m["reply_to_message"] = json!({
            "message_id": to, "date": now(), "chat": chat.to_json(), "from": from,
            "text": original.unwrap_or_else(|| "…".to_owned()),
        });
        self.push_message(m)
    }

    /// `user` replies with `text` in `chat` to a message `original_text` that `author` wrote,
    /// quoting only `quote` of it when given (Telegram's `quote`).
    pub fn push_reply_to_user(
        &self,
        chat: &FakeChat,
        user: &FakeUser,
        text: &str,
        (author, original_text): (&FakeUser, &str),
        quote: Option<&str>,
    ) -> Pushed {
        let mut m = self.message(chat, user, text);
        add_entities(&mut m, text);
        m["reply_to_message"] = self.message(chat, author, original_text);
        if let Some(q) = quote {
            m["quote"] = json!({"text": q, "position": 0, "is_manual": true});
        }
        self.push_message(m)
    }

    /// `user` sends a file `name` of type `mime` holding `bytes` to `chat`, with `caption`
    /// (an `@username` of the bot in it gets its entity). `getFile` and the download serve
    /// the bytes.
    pub fn push_document(
        &self,
        chat: &FakeChat,
        user: &FakeUser,
        caption: Option<&str>,
        (name, mime, bytes): (&str, &str, &[u8]),
    ) -> Pushed {
        let file_id = self.add_file(bytes);
        let mut m = self.message(chat, user, "");
        if let Some(obj) = m.as_object_mut() {
            obj.remove("text");
        }
        m["document"] = json!({
            "file_id": file_id, "file_unique_id": format!("u{file_id}"),
            "file_size": bytes.len(), "file_name": name, "mime_type": mime,
        });
        if let Some(c) = caption {
            m["caption"] = json!(c);
            add_entities(&mut m, c);
            if let Some(e) = m.as_object_mut().and_then(|o| o.remove("entities")) {
                m["caption_entities"] = e;
            }
        }
        self.push_message(m)
    }

    /// `user` sends a photo (a small JPEG's worth of bytes) to `chat`, with `caption`.
    pub fn push_photo(&self, chat: &FakeChat, user: &FakeUser, caption: Option<&str>) -> Pushed {
        let file_id = self.add_file(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]);
        let mut m = self.message(chat, user, "");
        if let Some(obj) = m.as_object_mut() {
            obj.remove("text");
        }
        m["photo"] = json!([{
            "file_id": file_id, "file_unique_id": format!("u{file_id}"),
            "file_size": 6, "width": 90, "height": 90,
        }]);
        if let Some(c) = caption {
            m["caption"] = json!(c);
        }
        self.push_message(m)
    }

    fn add_file(&self, bytes: &[u8]) -> String {
        let mut st = self.shared.lock();
        let id = format!("file{}", st.files.len() + 1);
        st.files.insert(id.clone(), bytes.to_vec());
        id
    }

    /// File paths the bot downloaded (after `getFile`), in order.
    pub fn downloads(&self) -> Vec<String> {
        self.shared.lock().downloads.clone()
    }

    fn bot_user(&self) -> Value {
        let b = &self.shared.bot;
        json!({"id": b["id"], "is_bot": true, "first_name": b["first_name"], "username": b["username"]})
    }

    // ----- configuring answers -----

    /// Answer the next `times` calls of `method` (case-insensitive) with `fault`.
    pub fn fail_next(&self, method: &str, times: usize, fault: Fault) {
        let mut st = self.shared.lock();
        let queue = st.faults.entry(method.to_ascii_lowercase()).or_default();
        for _ in 0..times {
            queue.push_back(fault.clone());
        }
    }

    /// Answer every call of `method` to chat `chat` with `fault` (`None`: answer normally
    /// again): one chat throttled or broken while others work.
    pub fn fail_in_chat(&self, method: &str, chat: i64, fault: Option<Fault>) {
        let mut st = self.shared.lock();
        let key = (method.to_ascii_lowercase(), chat);
        match fault {
            Some(f) => st.chat_faults.insert(key, f),
            None => st.chat_faults.remove(&key),
        };
    }

    /// Make `admins` the administrators of group `chat` (for `getChatAdministrators` and
    /// `getChatMember`).
    pub fn set_admins(&self, chat: i64, admins: &[i64]) {
        self.shared.lock().admins.insert(chat, admins.to_vec());
    }

    // ----- inspecting -----

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// The calls of `method` (case-insensitive).
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.is(method))
            .cloned()
            .collect()
    }

    /// Every file sent with `sendDocument` so far.
    pub fn documents(&self) -> Vec<SentDocument> {
        self.shared.lock().documents.clone()
    }

    /// The bot's messages, with their current text.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// The bot's messages in one chat.
    pub fn sent_in(&self, chat: i64) -> Vec<SentMessage> {
        self.shared
            .lock()
            .sent
            .iter()
            .filter(|s| s.chat_id == chat)
            .cloned()
            .collect()
    }

    /// The `commands` set for the default scope (what everyone sees unless a narrower scope
    /// says otherwise).
    pub fn commands(&self) -> Option<Value> {
        self.commands_for("default")
    }

    /// The `commands` set for a scope: its `type` (`default`, `all_private_chats`,
    /// `all_group_chats`, `all_chat_administrators`), or `chat:ID` for one chat; with
    /// `@LANG` after it (`default@de`), the menu set for users of that `language_code`.
    pub fn commands_for(&self, scope: &str) -> Option<Value> {
        self.shared.lock().commands.get(scope).cloned()
    }

    /// The highest `offset` a `getUpdates` confirmed (updates below it are gone).
    pub fn confirmed_offset(&self) -> i64 {
        self.shared.lock().confirmed_offset
    }

    /// Updates queued and not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().updates.len()
    }

    /// Wait until a call of `method` matching `pred` has arrived (also one already recorded).
    pub async fn wait_for_call(
        &self,
        method: &str,
        pred: impl Fn(&Call) -> bool,
        timeout: Duration,
    ) -> Option<Call> {
        let mut found = None;
        self.wait_until(timeout, |fake| {
            found = fake
                .calls()
                .into_iter()
                .find(|c| c.is(method) && c.fault.is_none() && pred(c));
            found.is_some()
        })
        .await;
        found
    }

    /// Wait until `cond` holds, re-checking whenever the fake sees a call or a push; `false` on
    /// timeout.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut cond: impl FnMut(&FakeTelegram) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if cond(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return cond(self);
            }
        }
    }

    // ----- outages -----

    /// Stop serving: connections are refused until [`Self::restart`]. State is kept.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(r) = running {
            self.shared.lock().stopping = true;
            self.shared.changed.notify_waiters();
            let _ = r.stop.send(());
            let _ = r.task.await;
        }
    }

    /// Serve again on the same port.
    pub async fn restart(&self) {
        self.stop().await;
        let listener = bind(self.addr).await.expect("rebind the fake's port");
        self.shared.lock().stopping = false;
        let running = serve(listener, self.shared.clone());
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(running);
    }

    /// Whether it is serving.
    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        if let Some(r) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = r.stop.send(());
            r.task.abort();
        }
    }
}

/// Add `mention` entities for every `@word` (Telegram does it for usernames).
fn add_entities(message: &mut Value, text: &str) {
    let mut entities = Vec::new();
    let mut offset16 = 0usize;
    for (i, c) in text.char_indices() {
        if c == '@' {
            let rest = &text[i + 1..];
            let len = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .count();
            if len >= 3 {
                entities.push(json!({"type": "mention", "offset": offset16, "length": len + 1}));
            }
        }
        offset16 += c.len_utf16();
    }
    if !entities.is_empty() {
        message["entities"] = Value::Array(entities);
    }
}

async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let app = Router::new().fallback(route).with_state(shared);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Running { stop, task }
}

fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"ok": true, "result": result})),
    )
        .into_response()
}

fn api_error(status: u16, description: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        code,
        axum::Json(json!({"ok": false, "error_code": status, "description": description})),
    )
        .into_response()
}

fn fault_response(fault: &Fault) -> Response {
    match fault {
        Fault::RetryAfter(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({
                "ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {secs}"),
                "parameters": {"retry_after": secs},
            })),
        )
            .into_response(),
        Fault::ServerError(status) => {
            let reason = StatusCode::from_u16(*status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Internal Server Error");
            api_error(*status, reason)
        }
        Fault::CantParseEntities => api_error(
            400,
            "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 0",
        ),
        Fault::Disconnect => {
            let stream = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped by fake"))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Fault::Api {
            status,
            description,
        } => api_error(*status, description),
    }
}

/// Parameters from a JSON, form or multipart body.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Value {
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if body.is_empty() {
        return json!({});
    }
    if ctype.starts_with("application/x-www-form-urlencoded") {
        return Value::Object(parse_form(&String::from_utf8_lossy(body)));
    }
    if ctype.starts_with("multipart/form-data") {
        if let Some(boundary) = ctype
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
        {
            // The boundary's case matters: take it from the original header.
            let original = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split("boundary=").nth(1))
                .unwrap_or(boundary)
                .trim_matches('"')
                .to_owned();
            return Value::Object(parse_multipart(&String::from_utf8_lossy(body), &original));
        }
    }
    serde_json::from_slice(body).unwrap_or_else(|_| json!({}))
}

/// A field value: JSON when it parses as such (numbers, arrays), else the string.
fn field_value(s: &str) -> Value {
    match serde_json::from_str::<Value>(s) {
        Ok(v @ (Value::Number(_) | Value::Array(_) | Value::Object(_) | Value::Bool(_))) => v,
        _ => Value::String(s.to_owned()),
    }
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(body: &str) -> Map<String, Value> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), field_value(&percent_decode(v)))
        })
        .collect()
}

fn parse_multipart(body: &str, boundary: &str) -> Map<String, Value> {
    let delimiter = format!("--{boundary}");
    let mut fields = Map::new();
    for part in body.split(&delimiter) {
        let part = part.trim_start_matches("\r\n");
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| n.trim_matches('"').to_owned())
        else {
            continue;
        };
        let name = name.split('"').next().unwrap_or_default().to_owned();
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        fields.insert(name, field_value(value));
    }
    fields
}

async fn route(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches('/');
    if let Some(file) = path.strip_prefix("file/") {
        return serve_file(&shared, file);
    }
    let Some((bot_part, method)) = path.split_once('/') else {
        return api_error(404, "Not Found: method not found");
    };
    let method = method.trim_matches('/').to_owned();
    let params = parse_body(&headers, &body);
    let Some(token) = bot_part.strip_prefix("bot") else {
        return api_error(404, "Not Found: method not found");
    };
    if token != shared.token {
        return api_error(401, "Unauthorized");
    }
    let lower = method.to_ascii_lowercase();
    let fault = {
        let mut st = shared.lock();
        let chat = params.get("chat_id").and_then(as_i64);
        let fault = st
            .faults
            .get_mut(&lower)
            .and_then(VecDeque::pop_front)
            .or_else(|| {
                let key = (lower.clone(), chat?);
                st.chat_faults.get(&key).cloned()
            });
        st.calls.push(Call {
            method: method.clone(),
            body: params.clone(),
            fault: fault.clone(),
            at: std::time::Instant::now(),
        });
        fault
    };
    shared.changed.notify_waiters();
    if let Some(fault) = fault {
        return fault_response(&fault);
    }
    let response = answer(&shared, &lower, &params).await;
    shared.changed.notify_waiters();
    response
}

/// `GET /file/bot<TOKEN>/<file_path>`: the bytes of a file `getFile` described.
fn serve_file(shared: &Shared, path: &str) -> Response {
    let Some(file_path) = path
        .strip_prefix("bot")
        .and_then(|p| p.strip_prefix(shared.token.as_str()))
        .and_then(|p| p.strip_prefix('/'))
    else {
        return api_error(401, "Unauthorized");
    };
    // teloxide escapes the `/` of the file path.
    let file_path = percent_decode(file_path);
    let mut st = shared.lock();
    st.downloads.push(file_path.clone());
    let id = file_path.rsplit('/').next().unwrap_or_default();
    match st.files.get(id) {
        Some(bytes) => (StatusCode::OK, Body::from(bytes.clone())).into_response(),
        None => api_error(404, "Not Found"),
    }
}

fn chat_json(st: &FakeState, chat: i64) -> Value {
    st.chats.get(&chat).cloned().unwrap_or_else(|| {
        if chat > 0 {
            json!({"id": chat, "type": "private", "first_name": "User"})
        } else {
            json!({"id": chat, "type": "supergroup", "title": "Group"})
        }
    })
}

fn message_json(shared: &Shared, st: &FakeState, m: &SentMessage, edited: bool) -> Value {
    let b = &shared.bot;
    let mut v = json!({
        "message_id": m.message_id,
        "date": now(),
        "chat": chat_json(st, m.chat_id),
        "from": {"id": b["id"], "is_bot": true, "first_name": b["first_name"], "username": b["username"]},
        "text": m.text,
    });
    if let Some(t) = m.thread_id {
        v["message_thread_id"] = json!(t);
        if st
            .chats
            .get(&m.chat_id)
            .and_then(|c| c.get("is_forum"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            v["is_topic_message"] = json!(true);
        }
    }
    if edited {
        v["edit_date"] = json!(now());
    }
    v
}

fn admin_member(user: Value) -> Value {
    json!({
        "status": "administrator", "user": user, "can_be_edited": false, "is_anonymous": false,
        "can_manage_chat": true, "can_change_info": true, "can_delete_messages": true,
        "can_manage_video_chats": true, "can_invite_users": true, "can_restrict_members": true,
        "can_promote_members": false, "can_pin_messages": true, "can_manage_topics": true,
        "can_post_stories": false, "can_edit_stories": false, "can_delete_stories": false,
    })
}

fn user_json(st: &FakeState, id: i64) -> Value {
    st.users
        .get(&id)
        .cloned()
        .unwrap_or_else(|| json!({"id": id, "is_bot": false, "first_name": "User"}))
}

async fn answer(shared: &Shared, method: &str, p: &Value) -> Response {
    match method {
        "getme" => ok(shared.bot.clone()),
        "getwebhookinfo" => ok(
            json!({"url": "", "has_custom_certificate": false, "pending_update_count": shared.lock().updates.len()}),
        ),
        "deletewebhook" | "setwebhook" | "close" | "logout" | "sendchataction" => {
            if method == "deletewebhook"
                && p.get("drop_pending_updates").and_then(Value::as_bool) == Some(true)
            {
                shared.lock().updates.clear();
            }
            ok(json!(true))
        }
        "setmycommands" => {
            let commands = p.get("commands").cloned().unwrap_or(json!([]));
            shared.lock().commands.insert(menu_name(p), commands);
            ok(json!(true))
        }
        "getmycommands" => ok(shared
            .lock()
            .commands
            .get(&menu_name(p))
            .cloned()
            .unwrap_or(json!([]))),
        "deletemycommands" => {
            shared.lock().commands.remove(&menu_name(p));
            ok(json!(true))
        }
        "getupdates" => get_updates(shared, p).await,
        "getfile" => get_file(shared, p),
        "sendmessage" => send_message(shared, p),
        "senddocument" => send_document(shared, p),
        "editmessagetext" => edit_message_text(shared, p),
        "getchatadministrators" => chat_administrators(shared, p),
        "getchatmember" => chat_member(shared, p),
        _ => api_error(404, "Not Found: method not found"),
    }
}

/// The file a `getFile` call names, with the path its download URL takes.
fn get_file(shared: &Shared, p: &Value) -> Response {
    let id = p.get("file_id").and_then(Value::as_str).unwrap_or_default();
    let size = shared.lock().files.get(id).map(Vec::len);
    match size {
        Some(size) => ok(json!({
            "file_id": id, "file_unique_id": format!("u{id}"), "file_size": size,
            "file_path": format!("documents/{id}"),
        })),
        None => api_error(400, "Bad Request: invalid file_id"),
    }
}

/// `sendMessage`: checked as Telegram checks it, then recorded.
fn send_message(shared: &Shared, p: &Value) -> Response {
    let Some(chat) = p.get("chat_id").and_then(as_i64) else {
        return api_error(400, "Bad Request: chat not found");
    };
    let text = text_of(p).unwrap_or_default();
    if text.trim().is_empty() {
        return api_error(400, "Bad Request: message text is empty");
    }
    if units(&text) > MAX_TEXT_LEN {
        return api_error(400, "Bad Request: message is too long");
    }
    let mut st = shared.lock();
    let message_id = st.next_message_id;
    st.next_message_id += 1;
    let m = SentMessage {
        chat_id: chat,
        message_id,
        thread_id: p.get("message_thread_id").and_then(as_i64),
        reply_to: p
            .get("reply_parameters")
            .and_then(|r| r.get("message_id"))
            .and_then(as_i64)
            .or_else(|| p.get("reply_to_message_id").and_then(as_i64)),
        text,
        parse_mode: p
            .get("parse_mode")
            .and_then(Value::as_str)
            .map(str::to_owned),
        edits: 0,
    };
    let v = message_json(shared, &st, &m, false);
    st.sent.push(m);
    ok(v)
}

/// `sendDocument`: recorded, answered with a message carrying the document.
fn send_document(shared: &Shared, p: &Value) -> Response {
    let Some(chat) = p.get("chat_id").and_then(as_i64) else {
        return api_error(400, "Bad Request: chat not found");
    };
    // teloxide uploads the file as its own part, which `document` names as `attach://NAME`.
    let document = p.get("document");
    let attached = document
        .and_then(Value::as_str)
        .and_then(|d| d.strip_prefix("attach://"))
        .and_then(|name| p.get(name));
    let Some(content) = attached.or(document).cloned() else {
        return api_error(400, "Bad Request: there is no document in the request");
    };
    let caption = p.get("caption").and_then(Value::as_str).map(str::to_owned);
    let mut st = shared.lock();
    let message_id = st.next_message_id;
    st.next_message_id += 1;
    st.documents.push(SentDocument {
        chat_id: chat,
        caption: caption.clone(),
        content,
    });
    let b = &shared.bot;
    let mut m = json!({
        "message_id": message_id, "date": now(), "chat": chat_json(&st, chat),
        "from": {"id": b["id"], "is_bot": true, "first_name": b["first_name"], "username": b["username"]},
        "document": {"file_id": format!("doc{message_id}"), "file_unique_id": format!("udoc{message_id}")},
    });
    if let Some(c) = caption {
        m["caption"] = json!(c);
    }
    ok(m)
}

/// `editMessageText`: checked as Telegram checks it (including "not modified"), then applied.
fn edit_message_text(shared: &Shared, p: &Value) -> Response {
    let (Some(chat), Some(id)) = (
        p.get("chat_id").and_then(as_i64),
        p.get("message_id").and_then(as_i64),
    ) else {
        return api_error(400, "Bad Request: message identifier is not specified");
    };
    let text = text_of(p).unwrap_or_default();
    if text.trim().is_empty() {
        return api_error(400, "Bad Request: message text is empty");
    }
    if units(&text) > MAX_TEXT_LEN {
        return api_error(400, "Bad Request: MESSAGE_TOO_LONG");
    }
    let mut st = shared.lock();
    let Some(idx) = st
        .sent
        .iter()
        .position(|m| m.chat_id == chat && m.message_id == id)
    else {
        return api_error(400, "Bad Request: message to edit not found");
    };
    let parse_mode = p
        .get("parse_mode")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if st.sent[idx].text == text && st.sent[idx].parse_mode == parse_mode {
        return api_error(
            400,
            "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        );
    }
    st.sent[idx].text = text;
    st.sent[idx].parse_mode = parse_mode;
    st.sent[idx].edits += 1;
    let m = st.sent[idx].clone();
    ok(message_json(shared, &st, &m, true))
}

/// `getChatAdministrators`: the chat's admins as members.
fn chat_administrators(shared: &Shared, p: &Value) -> Response {
    let chat = p.get("chat_id").and_then(as_i64).unwrap_or_default();
    let st = shared.lock();
    let admins = st.admins.get(&chat).cloned().unwrap_or_default();
    let list: Vec<Value> = admins
        .iter()
        .map(|id| admin_member(user_json(&st, *id)))
        .collect();
    ok(Value::Array(list))
}

/// `getChatMember`: an admin or a plain member.
fn chat_member(shared: &Shared, p: &Value) -> Response {
    let chat = p.get("chat_id").and_then(as_i64).unwrap_or_default();
    let user = p.get("user_id").and_then(as_i64).unwrap_or_default();
    let st = shared.lock();
    let u = user_json(&st, user);
    let is_admin = st.admins.get(&chat).is_some_and(|a| a.contains(&user));
    if is_admin {
        ok(admin_member(u))
    } else {
        ok(json!({"status": "member", "user": u}))
    }
}

/// The `text` parameter of a call.
fn text_of(p: &Value) -> Option<String> {
    p.get("text").and_then(Value::as_str).map(str::to_owned)
}

/// The scope a command call names: its `type`, or `chat:ID` for one chat; `default` without.
/// The menu a `*MyCommands` call names: its scope, and `@LANG` after it when it gives a
/// `language_code` (`default@de`), as Telegram keeps one menu per scope and language.
fn menu_name(p: &Value) -> String {
    match p.get("language_code").and_then(Value::as_str) {
        Some(lang) if !lang.is_empty() => format!("{}@{lang}", scope_name(p)),
        _ => scope_name(p),
    }
}

fn scope_name(p: &Value) -> String {
    let scope = match p.get("scope") {
        // Form-encoded bodies carry the scope as a JSON string.
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    match scope.get("type").and_then(Value::as_str) {
        Some("chat") => format!(
            "chat:{}",
            scope.get("chat_id").and_then(as_i64).unwrap_or(0)
        ),
        Some(t) => t.to_owned(),
        None => "default".to_owned(),
    }
}

async fn get_updates(shared: &Shared, p: &Value) -> Response {
    let offset = p.get("offset").and_then(as_i64).unwrap_or(0);
    let limit = p
        .get("limit")
        .and_then(as_i64)
        .filter(|l| (1..=100).contains(l))
        .unwrap_or(100) as usize;
    let timeout = Duration::from_secs(p.get("timeout").and_then(as_i64).unwrap_or(0).max(0) as u64);
    let hold = {
        let mut st = shared.lock();
        if offset > st.confirmed_offset {
            st.confirmed_offset = offset;
        }
        let confirmed = st.confirmed_offset;
        st.updates
            .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= confirmed);
        timeout.min(st.poll_hold)
    };
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        let notified = shared.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let st = shared.lock();
            if !st.updates.is_empty() || st.stopping {
                let batch: Vec<Value> = st.updates.iter().take(limit).cloned().collect();
                return ok(Value::Array(batch));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return ok(json!([]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_multipart_bodies_parse() {
        let f = parse_form("chat_id=42&text=hello+w%C3%B6rld%21");
        assert_eq!(f["chat_id"], json!(42));
        assert_eq!(f["text"], json!("hello wörld!"));
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n7\r\n--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nhi there\r\n--XyZ--\r\n";
        let m = parse_multipart(body, "XyZ");
        assert_eq!(m["chat_id"], json!(7));
        assert_eq!(m["caption"], json!("hi there"));
    }

    #[test]
    fn mention_entities_count_utf16() {
        let mut m = json!({});
        add_entities(&mut m, "😀 @parley_test_bot hi");
        assert_eq!(m["entities"][0]["offset"], json!(3));
        assert_eq!(m["entities"][0]["length"], json!(16));
    }
}
