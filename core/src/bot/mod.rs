//! The bot: the platform-independent brain every adapter hands its messages to.
//!
//! [`Bot`] implements [`Handler`]. For each [`Incoming`] message it:
//!
//! 1. decides whether it is addressed to the bot ([`is_addressed`]): in a direct chat always; in
//!    a group when it mentions the bot, replies to one of its messages, or contains the bot's
//!    name or one of `bot.trigger_names` as a whole word, anywhere, case-insensitively.
//!    Commands (`/help`, …) are always taken. An unaddressed group message is stored as context
//!    only when `bot.keep_group_context` is on; otherwise it is neither stored nor answered;
//! 2. applies the per-user rate limit (`bot.messages_per_minute`; the first excess message of a
//!    minute gets a reply, later ones are dropped silently) and the input limit
//!    (`bot.max_input_chars`; a longer message gets a reply and is *not* stored: it would crowd
//!    the window, and the user still has it on their platform);
//! 3. runs commands, or stores the user turn durably (committed before anything else happens)
//!    and queues an answer with the [`Scheduler`]; a full queue gets a polite busy reply;
//! 4. when the answer's turn comes, builds the [`ContextWindow`] from the channel's turns, streams
//!    the engine's output into the platform through [`StreamRenderer`] (typing indicator until
//!    the first text, edits no more often than the platform's interval), stores the answer
//!    durably, and only then sends the final text.
//!
//! A message the platform delivers again (after a crash, Telegram redelivers the updates of the
//! last unconfirmed poll) is recognised by its id ([`Store::sight`]): it is neither stored nor
//! answered twice, but a stored question whose answer the crash cut off is answered.
//!
//! Channels whose last message is older than `bot.unload_idle_minutes` are unloaded from memory
//! (their turns stay in the store and come back on the next message), so a bot in thousands of
//! chats holds only the active ones.
//!
//! Channels are independent: their turns live in a `DashMap`, each has its own lock for ordering
//! its writes, and the conversation id the engine sees is the channel key's text, so no prompt
//! ever contains another channel's turns. What users read comes from [`replies`]; errors are
//! logged with their detail and answered with a short, polite line.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::{DashMap, DashSet};
use futures::FutureExt;
use tracing::{debug, info, instrument, warn};

use crate::commands::{self, Command, RememberArg, Setting, TranslateArg};
use crate::config::{SamplingSettings, Settings};
use crate::conversation::{
    conversation_id, ContextWindow, Conversation, Conversations, Turn, WindowSpec, WindowStats,
};
use crate::engine::{
    CancelToken, ChatMessage, Engine, FinishReason, GenEvent, GenerateRequest, Role, SamplingParams,
};
use crate::persona::{Personas, PromptContext};
use crate::render::{self, Action, StreamRenderer};
use crate::scheduler::{Admission, Job, Rejected, Scheduler};
use crate::seam::{
    Author, ChannelKey, CommandInfo, Handler, Incoming, MessageRef, Outbox, Platform,
};
use crate::store::{ChannelSettings, SamplingOverrides, SeedChoice, Sight, Store};
use crate::translate::{self, Lang, TranslatePlan};
use crate::Result;

/// Every line the bot says on its own (not the model's words), in one place.
pub mod replies {
    use crate::engine::SamplingParams;
    use crate::store::SamplingOverrides;

    /// The queue is full.
    pub const BUSY: &str = "I'm busy with other messages right now. Please try again in a moment.";
    /// The bot is shutting down.
    pub const CLOSING: &str = "I'm restarting. Please send that again in a minute.";
    /// The engine failed.
    pub const ENGINE_ERROR: &str =
        "Sorry, something went wrong while I was answering. Please try again.";
    /// The model produced nothing visible.
    pub const EMPTY_ANSWER: &str = "(I have no answer to that.)";
    /// Too many messages.
    pub const RATE_LIMITED: &str =
        "You're sending messages faster than I can read them. Please wait a minute.";
    /// `/reset` done.
    pub const RESET: &str = "Done: I've forgotten this conversation. Let's start afresh.";
    /// `/retry` with nothing to retry.
    pub const NOTHING_TO_RETRY: &str = "There's no message of yours to answer again.";
    /// `/retry` while answering.
    pub const STILL_ANSWERING: &str =
        "I'm still answering. Send /cancel first if you want me to start over.";
    /// `/cancel` done.
    pub const CANCELLED: &str = "Stopped.";
    /// `/cancel` with nothing running.
    pub const NOTHING_TO_CANCEL: &str = "I'm not writing anything right now.";
    /// `/system TEXT` by a non-admin.
    pub const ADMINS_ONLY: &str = "Only admins can change the system prompt.";
    /// `/system off` done.
    pub const SYSTEM_CLEARED: &str = "System prompt back to the persona's.";
    /// `/system TEXT` done.
    pub const SYSTEM_SET: &str = "System prompt set for this chat.";
    /// `/translate off` done.
    pub const TRANSLATE_OFF: &str = "Translation is off.";
    /// `/set reset` done.
    pub const SET_RESET: &str = "Settings back to the defaults.";

    /// A message over `bot.max_input_chars`.
    pub fn too_long(limit: usize, got: usize) -> String {
        format!("That message is too long for me ({got} characters; the limit is {limit}). Please shorten it or split it up.")
    }
    /// `/forget` done.
    pub fn forgot(n: usize) -> String {
        match n {
            0 => "I had no messages of yours stored in this chat.".to_string(),
            1 => "Deleted your 1 stored message in this chat.".to_string(),
            n => format!("Deleted your {n} stored messages in this chat."),
        }
    }
    /// `/mode NAME` done.
    pub fn mode_set(name: &str) -> String {
        format!("Mode is now {name}.")
    }
    /// `/mode NAME` with an unknown name.
    pub fn unknown_mode(name: &str, known: &str) -> String {
        format!("There is no mode {name}. Modes: {known}.")
    }
    /// `/translate LANGS` done.
    pub fn translate_on(langs: &str, pair: bool) -> String {
        if pair {
            format!("Translating every message between {langs}. Send /translate off to stop.")
        } else {
            format!("Translating every message into {langs}. Send /translate off to stop.")
        }
    }
    /// `/translate` with no argument.
    pub fn translate_status(langs: Option<&str>) -> String {
        match langs {
            Some(l) => format!("Translating into {l}. Send /translate off to stop."),
            None => "Translation is off. Turn it on with /translate LANG or /translate LANG,LANG."
                .to_string(),
        }
    }
    /// A `/set` value out of bounds.
    pub fn out_of_bounds(name: &str, lo: &str, hi: &str) -> String {
        format!("{name} must be between {lo} and {hi}.")
    }
    /// `/remember` with nothing pinned.
    pub const NO_NOTES: &str = "Nothing pinned in this chat. /remember TEXT pins a fact that \
        stays in my context however long the chat gets.";
    /// `/remember clear` done.
    pub const NOTES_CLEARED: &str = "Unpinned every note in this chat.";
    /// `/remember` lists the notes.
    pub fn notes(notes: &[String]) -> String {
        let mut out = String::from("Pinned in this chat:");
        for (i, n) in notes.iter().enumerate() {
            out.push_str(&format!("\n{}. {n}", i + 1));
        }
        out.push_str("\n/remember delete N unpins one; /remember clear unpins all.");
        out
    }
    /// `/remember TEXT` done.
    pub fn note_added(n: usize) -> String {
        format!("Pinned as note {n}: I'll keep it in mind in this chat, even after /reset.")
    }
    /// `/remember TEXT` with every slot taken.
    pub fn notes_full(max: usize) -> String {
        format!("This chat already has {max} pinned notes. Unpin one with /remember delete N.")
    }
    /// `/remember delete N` done.
    pub fn note_deleted(n: usize, text: &str) -> String {
        format!("Unpinned note {n}: {text}")
    }
    /// `/remember delete N` with no such note.
    pub fn no_such_note(n: usize, count: usize) -> String {
        match count {
            0 => format!("There is no note {n}: nothing is pinned in this chat."),
            1 => format!("There is no note {n}: only note 1 is pinned."),
            c => format!("There is no note {n}: notes are numbered 1 to {c}."),
        }
    }
    /// The block pinned notes add to the system prompt.
    pub fn notes_block(notes: &[String]) -> String {
        let mut out = String::from(
            "\n\nThe users of this chat asked you to keep these facts in mind (pinned with /remember):",
        );
        for n in notes {
            out.push_str("\n- ");
            out.push_str(n);
        }
        out
    }
    /// `/set NAME VALUE` done.
    pub fn set_done(name: &str, value: &str) -> String {
        format!("{name} is now {value} in this chat.")
    }
    /// Stop strings as users typed them (`"\n\n", "User:"`), or `none`.
    pub fn stops(stop: &[String]) -> String {
        if stop.is_empty() {
            return "none".to_string();
        }
        stop.iter()
            .map(|s| {
                let escaped = s
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
                    .replace('\t', "\\t");
                format!("\"{escaped}\"")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
    /// `/set` alone: the chat's generation settings; `*` marks what `/set` changed here.
    pub fn settings(p: &SamplingParams, o: &SamplingOverrides) -> String {
        let mark = |here: bool| if here { " *" } else { "" };
        let seed = p.seed.map_or("random".to_string(), |s| s.to_string());
        format!(
            "Settings in this chat:\ntemperature {}{}\ntop_p {}{}\nmax_tokens {}{}\nseed {}{}\nstop {}{}\n\
             (* set here) Change one with /set NAME VALUE; /set reset restores the defaults.",
            p.temperature,
            mark(o.temperature.is_some()),
            p.top_p,
            mark(o.top_p.is_some()),
            p.max_tokens,
            mark(o.max_tokens.is_some()),
            seed,
            mark(o.seed.is_some()),
            stops(&p.stop),
            mark(o.stop.is_some()),
        )
    }
}

/// How long Telegram shows "typing…" after one call; refreshed a little before.
const TYPING_REFRESH: Duration = Duration::from_secs(4);
/// How often a streaming answer checks for `/cancel` while nothing else happens.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// The bot. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("channels", &self.inner.conversations.len())
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: Settings,
    engine: Arc<dyn Engine>,
    store: Store,
    personas: Personas,
    conversations: Conversations,
    channel_settings: DashMap<ChannelKey, ChannelSettings>,
    /// Per channel: a lock that orders its writes; the flag says its state is loaded.
    locks: DashMap<ChannelKey, Arc<tokio::sync::Mutex<bool>>>,
    scheduler: Scheduler,
    rate: DashMap<String, RateWindow>,
    trigger_words: Vec<String>,
    /// When each loaded channel last had a message (for unloading idle ones).
    touched: DashMap<ChannelKey, Instant>,
    /// User turns (channel, platform message id) whose answer is queued or running.
    answering: Arc<DashSet<(ChannelKey, String)>>,
}

/// Removes a message from [`Inner::answering`] when its answer job ends or is dropped.
struct Answering {
    set: Arc<DashSet<(ChannelKey, String)>>,
    id: (ChannelKey, String),
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.set.remove(&self.id);
    }
}

#[derive(Default)]
struct RateWindow {
    times: VecDeque<Instant>,
    warned: bool,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whether `text` contains `word` as a whole word (case-insensitive).
fn contains_word(text: &str, word: &str) -> bool {
    let text = text.to_lowercase();
    let word = word.to_lowercase();
    if word.is_empty() {
        return false;
    }
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(pos) = text[from..].find(&word) {
        let start = from + pos;
        let end = start + word.len();
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word_char(c));
        let after_ok = text[end..].chars().next().is_none_or(|c| !is_word_char(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Whether a message is addressed to the bot: direct chat, mention, reply to the bot, or one of
/// `names` as a whole word anywhere in the text (case-insensitive).
pub fn is_addressed(message: &Incoming, names: &[String]) -> bool {
    message.is_direct
        || message.mentions_bot
        || message.reply_to_bot
        || names.iter().any(|n| contains_word(&message.text, n))
}

/// What one answer job produces.
enum Prompt {
    /// Answer the conversation.
    Chat,
    /// Translate one message, without the history.
    Translate {
        text: String,
        from: Option<Lang>,
        to: Lang,
    },
}

/// What a job needs to know about the message it answers.
#[derive(Clone)]
struct Origin {
    key: ChannelKey,
    message_id: String,
    is_direct: bool,
    channel_title: Option<String>,
    user_name: String,
    /// The user turn this answer is for (author id, text, time): the window ends there, so an
    /// answer queued behind others in a group does not see later questions, nor answer them
    /// twice. `None` (after `/retry`): up to the newest turn.
    upto: Option<(String, String, i64)>,
}

impl Bot {
    /// Build the bot.
    ///
    /// `settings` must be validated ([`Settings::load`] does it); `engine` answers; `store` holds
    /// history (its retention is applied here, once); `personas` are the `/mode` templates
    /// (usually `Personas::load(&settings.prompts.dir)`). Conversations and channel settings
    /// come back from the store lazily, on each channel's first message after start.
    pub async fn new(
        settings: &Settings,
        engine: Arc<dyn Engine>,
        store: Store,
        personas: Personas,
    ) -> Result<Bot> {
        retention(&store, settings).await?;
        let mut trigger_words = vec![settings.bot.name.clone()];
        trigger_words.extend(settings.bot.trigger_names.iter().cloned());
        let inner = Arc::new(Inner {
            settings: settings.clone(),
            scheduler: Scheduler::new(settings.scheduler.clone()),
            engine,
            store,
            personas,
            conversations: Conversations::new(),
            channel_settings: DashMap::new(),
            locks: DashMap::new(),
            rate: DashMap::new(),
            trigger_words,
            touched: DashMap::new(),
            answering: Arc::new(DashSet::new()),
        });
        spawn_maintenance(Arc::downgrade(&inner));
        Ok(Bot { inner })
    }

    /// Wait until no answer is running or queued (tests, the console between prompts).
    pub async fn idle(&self) {
        self.inner.scheduler.idle().await;
    }

    /// The live context window a channel's next answer would see, as the engine would get it
    /// (loads the channel if needed). For `/stats`-like tools and tests.
    pub async fn window(&self, key: &ChannelKey, is_direct: bool) -> Result<ContextWindow> {
        let lock = self.inner.channel_lock(key);
        let mut loaded = lock.lock().await;
        self.inner.ensure_loaded(key, &mut loaded).await?;
        drop(loaded);
        Ok(self.inner.build_window(key, is_direct, None).await.0)
    }

    /// How many channels are loaded in memory.
    pub fn loaded_channels(&self) -> usize {
        self.inner.conversations.len()
    }

    /// Unload every channel that has had no message for `idle` and has no answer queued or
    /// running; returns how many were unloaded. Their turns and settings stay in the store and
    /// are loaded again on the channel's next message. Runs every minute with
    /// `bot.unload_idle_minutes`; public for tests and embedders.
    pub fn unload_idle(&self, idle: Duration) -> usize {
        self.inner.unload_idle(idle)
    }
}

impl Inner {
    fn channel_lock(&self, key: &ChannelKey) -> Arc<tokio::sync::Mutex<bool>> {
        self.touched.insert(key.clone(), Instant::now());
        self.locks.entry(key.clone()).or_default().clone()
    }

    fn unload_idle(&self, idle: Duration) -> usize {
        let now = Instant::now();
        let stale: Vec<ChannelKey> = self
            .touched
            .iter()
            .filter(|e| now.duration_since(*e.value()) >= idle)
            .map(|e| e.key().clone())
            .collect();
        let mut unloaded = 0;
        for key in stale {
            if self.scheduler.is_busy(&key) {
                continue;
            }
            let Some(lock) = self.locks.get(&key).map(|l| l.value().clone()) else {
                self.touched.remove(&key);
                continue;
            };
            // Whoever holds or waits for the lock is about to use the channel: leave it.
            let Ok(mut loaded) = lock.try_lock() else {
                continue;
            };
            if self
                .touched
                .get(&key)
                .is_some_and(|t| now.duration_since(*t.value()) < idle)
            {
                continue;
            }
            self.conversations.remove(&key);
            self.channel_settings.remove(&key);
            self.touched.remove(&key);
            // Whoever takes the lock next loads the channel from the store again.
            *loaded = false;
            // Drop the lock itself when nobody else has a handle on it (the map's and ours);
            // `remove_if` holds the shard, so no handle can be taken while it checks.
            self.locks.remove_if(&key, |_, l| {
                Arc::ptr_eq(l, &lock) && Arc::strong_count(l) == 2
            });
            unloaded += 1;
        }
        // Rate windows older than a minute say nothing any more.
        self.rate.retain(|_, w| {
            w.times
                .back()
                .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60))
        });
        unloaded
    }

    /// Load a channel's turns and settings from the store on first use.
    async fn ensure_loaded(&self, key: &ChannelKey, loaded: &mut bool) -> Result<()> {
        if *loaded {
            return Ok(());
        }
        let turns = self
            .store
            .recent_turns(key, Conversation::MAX_LIVE_TURNS)
            .await?;
        let settings = self.store.load_settings(key).await?;
        debug!(channel = %key, turns = turns.len(), "channel loaded");
        self.conversations.insert(
            key.clone(),
            Conversation {
                turns,
                ..Conversation::default()
            },
        );
        self.channel_settings.insert(key.clone(), settings);
        *loaded = true;
        Ok(())
    }

    /// What answering `text` means in this channel: the conversation, or (translate mode) a
    /// one-shot translation; `None` when translate mode leaves it alone.
    fn prompt_for(&self, key: &ChannelKey, text: &str) -> Option<Prompt> {
        let targets: Vec<Lang> = self
            .channel_settings(key)
            .translate
            .iter()
            .filter_map(|c| Lang::from_code(c))
            .collect();
        if targets.is_empty() {
            return Some(Prompt::Chat);
        }
        match translate::plan(text, &targets) {
            TranslatePlan::Skip(why) => {
                debug!(?why, "not translated");
                None
            }
            TranslatePlan::Translate { from, to } => Some(Prompt::Translate {
                text: text.to_string(),
                from,
                to,
            }),
        }
    }

    fn channel_settings(&self, key: &ChannelKey) -> ChannelSettings {
        self.channel_settings
            .get(key)
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    async fn save_channel_settings(&self, key: &ChannelKey, s: ChannelSettings) -> Result<()> {
        self.store.save_settings(key, &s).await?;
        self.channel_settings.insert(key.clone(), s);
        Ok(())
    }

    fn params(&self, key: &ChannelKey) -> SamplingParams {
        let mut p = self.settings.sampling.params();
        let o = self.channel_settings(key).sampling;
        if let Some(t) = o.temperature {
            p.temperature = t;
        }
        if let Some(t) = o.top_p {
            p.top_p = t;
        }
        if let Some(m) = o.max_tokens {
            p.max_tokens = m;
        }
        match o.seed {
            Some(SeedChoice::Fixed(seed)) => p.seed = Some(seed),
            Some(SeedChoice::Random) => p.seed = None,
            None => {}
        }
        if let Some(stop) = o.stop {
            p.stop = stop;
        }
        p
    }

    fn is_admin(&self, message: &Incoming) -> bool {
        message.author.is_platform_admin
            || self
                .settings
                .is_admin(message.key.platform, &message.author.id)
    }

    /// The channel's system prompt: its `/system` override verbatim, or its persona rendered
    /// once per conversation (kept until reset or a change of mode).
    fn system_prompt(&self, key: &ChannelKey, origin: Option<&Origin>) -> String {
        if let Some(s) = self.conversations.with(key, |c| c.system.clone()) {
            return s;
        }
        let cs = self.channel_settings(key);
        let notes = if cs.notes.is_empty() {
            String::new()
        } else {
            replies::notes_block(&cs.notes)
        };
        let text = match cs.system {
            Some(s) => s,
            None => {
                let mode = cs
                    .mode
                    .unwrap_or_else(|| self.settings.prompts.default_mode.clone());
                let mut ctx = PromptContext::new(self.settings.bot.name.clone(), now_unix());
                if let Some(o) = origin {
                    ctx.is_group = !o.is_direct;
                    ctx.channel_title = o.channel_title.clone();
                    ctx.user_name = o.user_name.clone();
                }
                ctx.languages = cs
                    .translate
                    .iter()
                    .filter_map(|c| Lang::from_code(c))
                    .map(|l| l.name().to_string())
                    .collect();
                match self.personas.render(&mode, &ctx) {
                    Ok(t) => t,
                    Err(e) => {
                        warn!(channel = %key, error = %e, "persona failed; using the default");
                        self.personas
                            .render(crate::persona::DEFAULT_PERSONA, &ctx)
                            .unwrap_or_else(|_| {
                                format!("You are {}, a helpful assistant.", self.settings.bot.name)
                            })
                    }
                }
            }
        };
        let text = text + &notes;
        self.conversations
            .with(key, |c| c.system.get_or_insert(text).clone())
    }

    /// Build the channel's window. The turns are copied out of the map and measured on the
    /// blocking pool: counting tokens is real tokenizer work, and it must hold no lock another
    /// channel could wait on.
    async fn build_window(
        &self,
        key: &ChannelKey,
        is_direct: bool,
        origin: Option<&Origin>,
    ) -> (ContextWindow, SamplingParams) {
        let system = self.system_prompt(key, origin);
        let params = self.params(key);
        let upto = origin.and_then(|o| o.upto.as_ref());
        let (turns, start, epoch) = self.conversations.with(key, |c| {
            let end = upto
                .and_then(|(author, text, at)| {
                    c.turns.iter().rposition(|t| {
                        t.role == Role::User
                            && t.author_id == *author
                            && t.text == *text
                            && t.at == *at
                    })
                })
                .map_or(c.turns.len(), |i| i + 1);
            (c.turns[..end].to_vec(), c.window_start, c.epoch)
        });
        let engine = self.engine.clone();
        let group_context_turns = self.settings.bot.group_context_turns;
        let max_tokens = params.max_tokens;
        let build = move || {
            ContextWindow::build(
                engine.as_ref(),
                &turns,
                WindowSpec {
                    system: &system,
                    group: !is_direct,
                    max_tokens,
                    group_context_turns,
                    start,
                },
            )
        };
        let window = match tokio::task::spawn_blocking(build).await {
            Ok(w) => w,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        self.conversations.with(key, |c| {
            if c.epoch == epoch {
                c.window_start = window.start;
            }
        });
        (window, params)
    }

    /// Rate limit: `true` when the message may pass; `Some(reply)` in the second slot when the
    /// user should be told.
    fn rate_check(&self, message: &Incoming) -> (bool, bool) {
        let limit = self.settings.bot.messages_per_minute as usize;
        if limit == 0 {
            return (true, false);
        }
        let who = format!("{}:{}", message.key.platform.as_str(), message.author.id);
        let now = Instant::now();
        let mut w = self.rate.entry(who).or_default();
        while w
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            w.times.pop_front();
        }
        if w.times.is_empty() {
            w.warned = false;
        }
        if w.times.len() >= limit {
            let tell = !w.warned;
            w.warned = true;
            return (false, tell);
        }
        w.times.push_back(now);
        (true, false)
    }
}

/// Send a reply made by the bot itself (split to the platform's limit, mentions neutralised).
async fn say(outbox: &dyn Outbox, key: &ChannelKey, reply_to: Option<&str>, text: &str) {
    let limits = outbox.limits();
    let clean = render::neutralize_mentions(text, limits.markup);
    for (i, part) in render::split_message(&clean, limits.max_message_chars)
        .iter()
        .enumerate()
    {
        let to = if i == 0 { reply_to } else { None };
        if let Err(e) = outbox.send(key, part, to).await {
            warn!(channel = %key, error = %e, "could not send a reply");
            return;
        }
    }
}

#[async_trait::async_trait]
impl Handler for Bot {
    #[instrument(skip_all, fields(channel = %message.key))]
    async fn handle(&self, message: Incoming, outbox: Arc<dyn Outbox>) {
        if let Err(e) = self.handle_inner(message.clone(), outbox.clone()).await {
            warn!(error = %e, "message failed");
            say(
                outbox.as_ref(),
                &message.key,
                Some(&message.message_id),
                replies::ENGINE_ERROR,
            )
            .await;
        }
    }

    fn commands(&self) -> Vec<CommandInfo> {
        commands::command_list()
    }

    async fn resume(&self, platform: Platform, outbox: Arc<dyn Outbox>) {
        let minutes = self.inner.settings.bot.resume_within_minutes;
        if minutes == 0 {
            return;
        }
        let since = now_unix() - i64::from(minutes) * 60;
        let pending = match self.inner.store.unanswered(platform, since).await {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "could not look for unanswered questions");
                return;
            }
        };
        if !pending.is_empty() {
            info!(
                count = pending.len(),
                "answering questions a restart left unanswered"
            );
        }
        for q in pending {
            let message = Incoming {
                key: q.key,
                message_id: q.message_id,
                author: Author {
                    id: q.turn.author_id,
                    display_name: q.turn.author_name,
                    is_platform_admin: false,
                },
                text: q.turn.text,
                is_direct: q.direct,
                // It was stored as addressed to the bot.
                mentions_bot: true,
                reply_to_bot: false,
                at: q.turn.at,
                channel_title: None,
            };
            self.handle(message, outbox.clone()).await;
        }
    }

    async fn shutdown(&self) {
        self.inner.scheduler.shutdown().await;
        if let Err(e) = self.inner.store.checkpoint().await {
            warn!(error = %e, "store checkpoint at shutdown failed");
        }
    }
}

impl Bot {
    async fn handle_inner(&self, message: Incoming, outbox: Arc<dyn Outbox>) -> Result<()> {
        let inner = &self.inner;
        let text = message.text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let named = is_addressed(&message, &inner.trigger_words);
        let mut command = commands::parse(text, None);
        if !named {
            // In a group, `/cmd@otherbot` belongs to another bot, and an unknown `/word` may be
            // another bot's command: neither gets a hint unless it is addressed to us.
            let first = text.split_whitespace().next().unwrap_or("");
            let unknown = matches!(&command, Some(Err(e)) if e.command.is_none());
            if first.contains('@') || unknown {
                command = None;
            }
        }
        let addressed = command.is_some() || named;
        let key = message.key.clone();
        let reply_to = Some(message.message_id.as_str());

        if !addressed {
            if inner.settings.bot.keep_group_context
                && text.chars().count() <= inner.settings.bot.max_input_chars
            {
                let lock = inner.channel_lock(&key);
                let mut loaded = lock.lock().await;
                inner.ensure_loaded(&key, &mut loaded).await?;
                if inner.store.sight(&key, &message.message_id).await? != Sight::New {
                    debug!("delivered again; already kept");
                    return Ok(());
                }
                let mut turn = Turn::user(
                    &message.author.id,
                    &message.author.display_name,
                    text,
                    message.at,
                );
                turn.addressed = false;
                inner
                    .store
                    .append_turn(&key, &turn, Some(&message.message_id))
                    .await?;
                inner.conversations.with(&key, |c| c.push(turn));
                debug!("kept as group context");
            }
            return Ok(());
        }

        let (pass, tell) = inner.rate_check(&message);
        if !pass {
            debug!("rate limited");
            if tell {
                say(outbox.as_ref(), &key, reply_to, replies::RATE_LIMITED).await;
            }
            return Ok(());
        }
        let chars = text.chars().count();
        if chars > inner.settings.bot.max_input_chars {
            say(
                outbox.as_ref(),
                &key,
                reply_to,
                &replies::too_long(inner.settings.bot.max_input_chars, chars),
            )
            .await;
            return Ok(());
        }

        let lock = inner.channel_lock(&key);
        let mut loaded = lock.lock().await;
        inner.ensure_loaded(&key, &mut loaded).await?;

        let in_flight = inner
            .answering
            .contains(&(key.clone(), message.message_id.clone()));
        let sight = if in_flight {
            Sight::Done
        } else {
            inner.store.sight(&key, &message.message_id).await?
        };
        if sight == Sight::Done {
            debug!("delivered again; already handled");
            return Ok(());
        }

        match command {
            Some(Ok(cmd)) => {
                // At most once: a command redelivered after a crash is not run again.
                inner
                    .store
                    .mark_handled(&key, &message.message_id, message.at)
                    .await?;
                drop(loaded);
                return self.run_command(cmd, &message, outbox).await;
            }
            Some(Err(hint)) => {
                drop(loaded);
                say(outbox.as_ref(), &key, reply_to, &hint.message).await;
                return Ok(());
            }
            None => {}
        }

        if sight == Sight::New {
            // Durable before anything else: the turn is committed before it is queued.
            let turn = Turn::user(
                &message.author.id,
                &message.author.display_name,
                text,
                message.at,
            );
            inner
                .store
                .append_message(&key, &turn, Some(&message.message_id), message.is_direct)
                .await?;
            inner.conversations.with(&key, |c| c.push(turn));
        } else {
            info!("answering a stored question whose answer was cut off");
        }

        let Some(prompt) = inner.prompt_for(&key, text) else {
            return Ok(());
        };
        drop(loaded);
        self.submit(&message, outbox, prompt, true).await;
        Ok(())
    }

    /// Queue an answer for `message`; tell the user if the queue is full.
    async fn submit(
        &self,
        message: &Incoming,
        outbox: Arc<dyn Outbox>,
        prompt: Prompt,
        is_turn: bool,
    ) {
        let mut origin = origin_of(message);
        if is_turn {
            origin.upto = Some((
                message.author.id.clone(),
                message.text.trim().to_string(),
                message.at,
            ));
        }
        let inner = self.inner.clone();
        let out = outbox.clone();
        let o = origin.clone();
        let answering = is_turn.then(|| {
            let id = (origin.key.clone(), origin.message_id.clone());
            inner.answering.insert(id.clone());
            Answering {
                set: inner.answering.clone(),
                id,
            }
        });
        let job: Job = Box::new(move |token| {
            async move {
                answer(inner, o, out, prompt, token).await;
                drop(answering);
            }
            .boxed()
        });
        match self
            .inner
            .scheduler
            .submit(&origin.key, &message.author.id, job)
        {
            Ok(Admission::Queued { ahead }) => {
                debug!(ahead, "answer queued");
                if ahead > 0 {
                    let _ = outbox.typing(&origin.key).await;
                }
            }
            Ok(Admission::Replaced) => debug!("replaced a waiting message of the same author"),
            Err(Rejected::Busy) => {
                info!("queue full; busy reply");
                say(
                    outbox.as_ref(),
                    &origin.key,
                    Some(&origin.message_id),
                    replies::BUSY,
                )
                .await;
            }
            Err(Rejected::Closed) => {
                say(
                    outbox.as_ref(),
                    &origin.key,
                    Some(&origin.message_id),
                    replies::CLOSING,
                )
                .await;
            }
        }
    }

    async fn run_command(
        &self,
        cmd: Command,
        message: &Incoming,
        outbox: Arc<dyn Outbox>,
    ) -> Result<()> {
        let inner = &self.inner;
        let key = &message.key;
        let reply_to = Some(message.message_id.as_str());
        let out = outbox.as_ref();
        debug!(command = cmd.name(), "command");
        match cmd {
            Command::Help => {
                say(
                    out,
                    key,
                    reply_to,
                    &commands::help_text(inner.is_admin(message)),
                )
                .await
            }
            Command::Reset => {
                inner.scheduler.cancel(key);
                let lock = inner.channel_lock(key);
                let _g = lock.lock().await;
                inner.store.clear_channel(key).await?;
                inner.conversations.with(key, Conversation::reset);
                inner.engine.forget(&conversation_id(key));
                drop(_g);
                say(out, key, reply_to, replies::RESET).await;
            }
            Command::Retry => {
                if inner.scheduler.is_busy(key) {
                    say(out, key, reply_to, replies::STILL_ANSWERING).await;
                    return Ok(());
                }
                let lock = inner.channel_lock(key);
                let g = lock.lock().await;
                let last_role = inner
                    .conversations
                    .with(key, |c| c.turns.last().map(|t| t.role));
                if last_role == Some(Role::Assistant) {
                    inner.store.delete_last_assistant_turn(key).await?;
                    inner.conversations.with(key, |c| {
                        c.turns.pop();
                    });
                }
                let last_user = inner.conversations.with(key, |c| {
                    c.turns
                        .last()
                        .filter(|t| t.role == Role::User)
                        .map(|t| t.text.clone())
                });
                drop(g);
                match last_user.and_then(|text| inner.prompt_for(key, &text)) {
                    Some(prompt) => self.submit(message, outbox.clone(), prompt, false).await,
                    None => say(out, key, reply_to, replies::NOTHING_TO_RETRY).await,
                }
            }
            Command::Mode(None) => {
                let current = inner
                    .channel_settings(key)
                    .mode
                    .unwrap_or_else(|| inner.settings.prompts.default_mode.clone());
                let mut text = String::from("Modes:\n");
                for name in inner.personas.names() {
                    let mark = if name == current { " (current)" } else { "" };
                    let desc = inner.personas.describe(name).unwrap_or("");
                    text.push_str(&format!("{name}{mark} — {desc}\n"));
                }
                text.push_str("Switch with /mode NAME.");
                say(out, key, reply_to, &text).await;
            }
            Command::Mode(Some(name)) => {
                if !inner.personas.contains(&name) {
                    let known = inner.personas.names().join(", ");
                    say(out, key, reply_to, &replies::unknown_mode(&name, &known)).await;
                    return Ok(());
                }
                let mut cs = inner.channel_settings(key);
                cs.mode = Some(name.clone());
                inner.save_channel_settings(key, cs).await?;
                inner.conversations.with(key, |c| c.system = None);
                say(out, key, reply_to, &replies::mode_set(&name)).await;
            }
            Command::System(None) => {
                let text = inner.system_prompt(key, Some(&origin_of(message)));
                say(out, key, reply_to, &format!("System prompt:\n{text}")).await;
            }
            Command::System(Some(text)) => {
                if !inner.is_admin(message) {
                    say(out, key, reply_to, replies::ADMINS_ONLY).await;
                    return Ok(());
                }
                let mut cs = inner.channel_settings(key);
                let clear = matches!(
                    text.trim().to_lowercase().as_str(),
                    "off" | "reset" | "default"
                );
                cs.system = if clear { None } else { Some(text) };
                inner.save_channel_settings(key, cs).await?;
                inner.conversations.with(key, |c| c.system = None);
                let reply = if clear {
                    replies::SYSTEM_CLEARED
                } else {
                    replies::SYSTEM_SET
                };
                say(out, key, reply_to, reply).await;
            }
            Command::Remember(arg) => {
                let mut cs = inner.channel_settings(key);
                // Every change adds, removes or clears notes, so the count tells whether one
                // happened.
                let count = cs.notes.len();
                let reply = match arg {
                    RememberArg::List if cs.notes.is_empty() => replies::NO_NOTES.to_string(),
                    RememberArg::List => replies::notes(&cs.notes),
                    RememberArg::Add(_) if cs.notes.len() >= commands::MAX_NOTES => {
                        replies::notes_full(commands::MAX_NOTES)
                    }
                    RememberArg::Add(text) => {
                        cs.notes.push(text);
                        replies::note_added(cs.notes.len())
                    }
                    RememberArg::Delete(n) if n > cs.notes.len() => {
                        replies::no_such_note(n, cs.notes.len())
                    }
                    RememberArg::Delete(n) => {
                        let text = cs.notes.remove(n - 1);
                        replies::note_deleted(n, &text)
                    }
                    RememberArg::Clear => {
                        cs.notes.clear();
                        replies::NOTES_CLEARED.to_string()
                    }
                };
                if cs.notes.len() != count {
                    inner.save_channel_settings(key, cs).await?;
                    // The notes live in the system prompt: render it again.
                    inner.conversations.with(key, |c| c.system = None);
                }
                say(out, key, reply_to, &reply).await;
            }
            Command::Translate(arg) => {
                let mut cs = inner.channel_settings(key);
                let reply = match arg {
                    TranslateArg::Show => {
                        let names: Vec<&str> = cs
                            .translate
                            .iter()
                            .filter_map(|c| Lang::from_code(c))
                            .map(Lang::name)
                            .collect();
                        let joined = names.join(" and ");
                        say(
                            out,
                            key,
                            reply_to,
                            &replies::translate_status((!names.is_empty()).then_some(&joined)),
                        )
                        .await;
                        return Ok(());
                    }
                    TranslateArg::Off => {
                        cs.translate.clear();
                        replies::TRANSLATE_OFF.to_string()
                    }
                    TranslateArg::Langs(langs) => {
                        cs.translate = langs.iter().map(|l| l.code().to_string()).collect();
                        let names: Vec<&str> = langs.iter().map(|l| l.name()).collect();
                        replies::translate_on(&names.join(" and "), langs.len() > 1)
                    }
                };
                inner.save_channel_settings(key, cs).await?;
                say(out, key, reply_to, &reply).await;
            }
            Command::Set(None) => {
                let o = inner.channel_settings(key).sampling;
                let text = replies::settings(&inner.params(key), &o);
                say(out, key, reply_to, &text).await;
            }
            Command::Set(Some(setting)) => {
                let mut cs = inner.channel_settings(key);
                match apply_setting(setting, &inner.settings.sampling, &mut cs.sampling) {
                    Ok(reply) => {
                        inner.save_channel_settings(key, cs).await?;
                        say(out, key, reply_to, &reply).await;
                    }
                    Err(why) => say(out, key, reply_to, &why).await,
                }
            }
            Command::Stats => {
                let stored = inner.store.stats(key).await?;
                let (window, params) = inner
                    .build_window(key, message.is_direct, Some(&origin_of(message)))
                    .await;
                let last = inner.conversations.with(key, |c| c.last_window);
                let mut text = format!(
                    "Turns stored: {}\nIn the window: {} turns, {} of {} tokens ({} reserved for the answer)\nDropped from the window: {}\n",
                    stored.turns,
                    window.turns,
                    window.tokens,
                    window.budget,
                    params.max_tokens,
                    window.dropped,
                );
                if let Some(l) = last {
                    text.push_str(&format!(
                        "Last answer: {} of {} prompt tokens from cache, {:.1} tokens/s\n",
                        l.cached_tokens, l.prompt_tokens, l.tokens_per_second
                    ));
                }
                text.push_str(&format!(
                    "Sampling: temperature {}, top_p {}, max_tokens {}\nModel: {}",
                    params.temperature,
                    params.top_p,
                    params.max_tokens,
                    inner.engine.describe()
                ));
                say(out, key, reply_to, &text).await;
            }
            Command::Cancel => {
                let reply = if inner.scheduler.cancel(key) {
                    replies::CANCELLED
                } else {
                    replies::NOTHING_TO_CANCEL
                };
                say(out, key, reply_to, reply).await;
            }
            Command::Forget => {
                let lock = inner.channel_lock(key);
                let g = lock.lock().await;
                let n = inner
                    .store
                    .forget_user(Some(key), key.platform, &message.author.id)
                    .await?;
                let turns = inner
                    .store
                    .recent_turns(key, Conversation::MAX_LIVE_TURNS)
                    .await?;
                inner.conversations.with(key, |c| {
                    c.turns = turns;
                    c.window_start = 0;
                });
                // The engine's cache holds their words too.
                inner.engine.forget(&conversation_id(key));
                drop(g);
                say(out, key, reply_to, &replies::forgot(n)).await;
            }
        }
        Ok(())
    }
}

/// How often the maintenance task wakes; idle channels are looked for every time.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);
/// How often retention runs while the bot is up (it also runs at start).
const RETENTION_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Apply the store's retention settings; logs what was removed.
async fn retention(store: &Store, settings: &Settings) -> Result<()> {
    let s = &settings.store;
    let pruned = store
        .prune(now_unix(), s.retention_days, s.retention_turns)
        .await?;
    if pruned > 0 {
        info!(pruned, "retention removed old turns");
    }
    Ok(())
}

/// Until the bot is dropped: unload idle channels (`bot.unload_idle_minutes`) every minute, and
/// apply retention every [`RETENTION_EVERY`].
fn spawn_maintenance(inner: std::sync::Weak<Inner>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(MAINTAIN_EVERY);
        // Start-up already applied retention.
        let mut retained_at = Instant::now();
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let minutes = inner.settings.bot.unload_idle_minutes;
            if minutes > 0 {
                let n = inner.unload_idle(Duration::from_secs(u64::from(minutes) * 60));
                if n > 0 {
                    debug!(
                        unloaded = n,
                        loaded = inner.conversations.len(),
                        "idle channels unloaded"
                    );
                }
            }
            if retained_at.elapsed() >= RETENTION_EVERY {
                retained_at = Instant::now();
                if let Err(e) = retention(&inner.store, &inner.settings).await {
                    warn!(error = %e, "retention failed");
                }
            }
        }
    });
}

/// Apply a `/set` to a chat's overrides, within the configured bounds: the reply to send, or
/// why the value was refused (the overrides are then unchanged).
fn apply_setting(
    setting: Setting,
    bounds: &SamplingSettings,
    o: &mut SamplingOverrides,
) -> std::result::Result<String, String> {
    Ok(match setting {
        Setting::Reset => {
            *o = SamplingOverrides::default();
            replies::SET_RESET.to_string()
        }
        Setting::Temperature(t) => {
            if !(0.0..=bounds.temperature_max).contains(&t) {
                let hi = bounds.temperature_max.to_string();
                return Err(replies::out_of_bounds("temperature", "0", &hi));
            }
            o.temperature = Some(t);
            replies::set_done("temperature", &t.to_string())
        }
        Setting::TopP(p) => {
            if !(p > 0.0 && p <= 1.0) {
                return Err(replies::out_of_bounds("top_p", "0 (excluded)", "1"));
            }
            o.top_p = Some(p);
            replies::set_done("top_p", &p.to_string())
        }
        Setting::MaxTokens(m) => {
            if !(1..=bounds.max_tokens_max).contains(&m) {
                let hi = bounds.max_tokens_max.to_string();
                return Err(replies::out_of_bounds("max_tokens", "1", &hi));
            }
            o.max_tokens = Some(m);
            replies::set_done("max_tokens", &m.to_string())
        }
        Setting::Seed(seed) => {
            o.seed = Some(seed.map_or(SeedChoice::Random, SeedChoice::Fixed));
            let shown = seed.map_or("random".to_string(), |s| s.to_string());
            replies::set_done("seed", &shown)
        }
        Setting::Stop(stop) => {
            let shown = replies::stops(&stop);
            o.stop = Some(stop);
            replies::set_done("stop", &shown)
        }
    })
}

fn origin_of(m: &Incoming) -> Origin {
    Origin {
        key: m.key.clone(),
        message_id: m.message_id.clone(),
        is_direct: m.is_direct,
        channel_title: m.channel_title.clone(),
        user_name: m.author.display_name.clone(),
        upto: None,
    }
}

/// Generate one answer and stream it into the platform. Runs as a scheduler job.
async fn answer(
    inner: Arc<Inner>,
    origin: Origin,
    outbox: Arc<dyn Outbox>,
    prompt: Prompt,
    token: CancelToken,
) {
    let key = &origin.key;
    let epoch = inner.conversations.with(key, |c| c.epoch);
    let (request, window) = match &prompt {
        Prompt::Chat => {
            let (window, params) = inner
                .build_window(key, origin.is_direct, Some(&origin))
                .await;
            let request = GenerateRequest {
                conversation: conversation_id(key),
                messages: window.messages.clone(),
                params,
            };
            (request, Some(window))
        }
        Prompt::Translate { text, from, to } => {
            let mut params = inner.params(key);
            // Translations should be faithful, not creative.
            params.temperature = params.temperature.min(0.3);
            // A translation is about as long as its source: a small model that keeps going
            // after it is done only adds noise.
            params.max_tokens = params
                .max_tokens
                .min(inner.engine.count_tokens(text) * 3 + 16);
            let request = GenerateRequest {
                conversation: format!("{}#translate", conversation_id(key)),
                messages: vec![
                    ChatMessage::new(Role::System, translate::translation_prompt(*from, *to)),
                    ChatMessage::new(Role::User, text.clone()),
                ],
                params,
            };
            (request, None)
        }
    };
    let _ = outbox.typing(key).await;
    let mut generation = match inner.engine.generate(request) {
        Ok(g) => g,
        Err(e) => {
            warn!(channel = %key, error = %e, "engine refused the request");
            say(
                outbox.as_ref(),
                key,
                Some(&origin.message_id),
                replies::ENGINE_ERROR,
            )
            .await;
            return;
        }
    };
    let gen_cancel = generation.cancel_token();

    let mut limits = outbox.limits();
    if let Some(ms) = inner
        .settings
        .render
        .edit_interval_ms
        .get(key.platform.as_str())
    {
        limits.edit_interval = Duration::from_millis(*ms);
    }
    let mut renderer = StreamRenderer::new(limits);
    let mut sent: Vec<Option<MessageRef>> = Vec::new();
    let mut raw = String::new();
    let mut usage = None;
    let mut failed = false;
    let mut next_typing = Instant::now() + TYPING_REFRESH;

    loop {
        if token.is_cancelled() {
            gen_cancel.cancel();
        }
        let due = renderer.next_due();
        let wake = [
            Some(Instant::now() + CANCEL_POLL),
            due,
            sent.is_empty().then_some(next_typing),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| Instant::now() + CANCEL_POLL);
        tokio::select! {
            ev = generation.next() => match ev {
                Some(Ok(GenEvent::Delta(d))) => {
                    raw.push_str(&d);
                    let actions = renderer.push(&d, Instant::now());
                    apply(&outbox, &origin, &mut renderer, &mut sent, actions).await;
                }
                Some(Ok(GenEvent::Done(u))) => {
                    usage = Some(u);
                    break;
                }
                Some(Err(e)) => {
                    warn!(channel = %key, error = %e, "generation failed");
                    failed = true;
                    break;
                }
                None => {
                    warn!(channel = %key, "generation ended without a result");
                    failed = true;
                    break;
                }
            },
            _ = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                if due.is_some_and(|d| d <= now) {
                    let actions = renderer.tick(now);
                    apply(&outbox, &origin, &mut renderer, &mut sent, actions).await;
                }
                if sent.is_empty() && now >= next_typing {
                    let _ = outbox.typing(key).await;
                    next_typing = now + TYPING_REFRESH;
                }
            }
        }
    }

    let cancelled = token.is_cancelled()
        || usage
            .as_ref()
            .is_some_and(|u| u.finish == Some(FinishReason::Cancelled));
    let partial = cancelled || failed;

    // Durable before the final text is shown.
    if !raw.trim().is_empty() {
        let lock = inner.channel_lock(key);
        let _g = lock.lock().await;
        // A /reset while this was running started a new conversation: keep it clean.
        if inner.conversations.with(key, |c| c.epoch) == epoch {
            let turn = Turn::assistant(&raw, now_unix(), partial);
            if let Err(e) = inner.store.append_turn(key, &turn, None).await {
                warn!(channel = %key, error = %e, "could not store the answer");
            }
            inner.conversations.with(key, |c| c.push(turn));
        }
    }

    if let (Some(u), Some(w)) = (&usage, &window) {
        let secs = u.decode.as_secs_f64();
        let stats = WindowStats {
            turns: w.turns,
            tokens: w.tokens,
            budget: w.budget,
            dropped: w.dropped,
            cached_tokens: u.cached_tokens,
            prompt_tokens: u.prompt_tokens,
            tokens_per_second: if secs > 0.0 {
                u.completion_tokens as f64 / secs
            } else {
                0.0
            },
        };
        inner
            .conversations
            .with(key, |c| c.last_window = Some(stats));
        debug!(
            prompt = u.prompt_tokens,
            cached = u.cached_tokens,
            completion = u.completion_tokens,
            "answer done"
        );
    }

    let actions = renderer.finish(Instant::now());
    apply(&outbox, &origin, &mut renderer, &mut sent, actions).await;
    if failed {
        say(
            outbox.as_ref(),
            key,
            Some(&origin.message_id),
            replies::ENGINE_ERROR,
        )
        .await;
    } else if sent.is_empty() && !cancelled {
        say(
            outbox.as_ref(),
            key,
            Some(&origin.message_id),
            replies::EMPTY_ANSWER,
        )
        .await;
    }
}

/// Carry out the renderer's actions on the platform.
async fn apply(
    outbox: &Arc<dyn Outbox>,
    origin: &Origin,
    renderer: &mut StreamRenderer,
    sent: &mut Vec<Option<MessageRef>>,
    actions: Vec<Action>,
) {
    for action in actions {
        let result = match &action {
            Action::Send { part, text } => {
                let reply_to = (*part == 0).then_some(origin.message_id.as_str());
                match outbox.send(&origin.key, text, reply_to).await {
                    Ok(r) => {
                        if sent.len() <= *part {
                            sent.resize(*part + 1, None);
                        }
                        sent[*part] = Some(r);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Action::Edit { part, text } => match sent.get(*part).cloned().flatten() {
                Some(r) => outbox.edit(&r, text).await,
                None => Ok(()),
            },
            Action::Append(text) => {
                let reply_to = sent.is_empty().then_some(origin.message_id.as_str());
                match outbox.send(&origin.key, text, reply_to).await {
                    Ok(r) => {
                        if sent.is_empty() {
                            sent.push(Some(r));
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
            warn!(channel = %origin.key, error = %e, "platform call failed");
            renderer.failed(&action);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_whole_words_anywhere() {
        assert!(contains_word("hey Parley, what's up", "parley"));
        assert!(contains_word("PARLEY", "parley"));
        assert!(contains_word("what do you think, parley?", "parley"));
        assert!(!contains_word("parleying is fun", "parley"));
        assert!(!contains_word("myparley", "parley"));
        assert!(contains_word("bonjour Élodie", "élodie"));
    }
}
