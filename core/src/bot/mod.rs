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
//!    the engine's output into the platform through [`StreamRenderer`](crate::render::StreamRenderer) (typing indicator until
//!    the first text, edits no more often than the platform's interval), stores the answer
//!    durably, and only then sends the final text.
//!
//! A message the platform delivers again (after a crash, Telegram redelivers the updates of the
//! last unconfirmed poll) is recognised by its id ([`Store::delivery`]): it is neither stored nor
//! answered twice, but a stored question whose answer the crash cut off is answered.
//!
//! Channels whose last message is older than `bot.unload_idle_minutes` are unloaded from memory
//! (their turns stay in the store and come back on the next message), so a bot in thousands of
//! chats holds only the active ones.
//!
//! Channels are independent: each is one `Channel` value behind its own lock, and the
//! conversation id the engine sees is the channel key's text, so no prompt ever contains
//! another channel's turns. What users read comes from [`replies`]; errors are logged with
//! their detail and answered with a short, polite line.
//!
//! Rooms, each importing only rooms below it: this file is the intake (the [`Handler`] impl,
//! addressing, admission); `commands` runs one function per command; `queue` queues a job and
//! runs it as a chat `answer` (the request and its stream) or a `translation`; `prompt` builds
//! a chat answer's prompt (pinned text, quote, window); `job` is what a job knows (its origin,
//! its prompt kind), the one pump that carries a generation out, and keeping what it wrote;
//! `context` is what every room shares (`BotContext`) and its maintenance; `channels` holds
//! loaded channels; `files` reads attachments; [`replies`] is every text the bot writes itself;
//! `rate_limit` is the per-user limit; `why` keeps and tells what `/why` says about each answer; `privacy` is
//! `/forget`, `/export`, `/privacy` and retention, and this file runs the maintenance task.

mod answer;
mod channels;
mod commands;
mod context;
mod files;
mod job;
mod privacy;
mod prompt;
mod queue;
mod rate_limit;
pub mod replies;
mod translation;
mod why;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, instrument, warn};

use self::channels::{Channels, OpenChannel};
use self::context::{now_unix, say, BotContext};
use self::job::prompt_for;
use self::queue::submit;
use self::rate_limit::{RateCheck, RateLimits};
use crate::commands::{Addressee, Command, CommandError};
use crate::config::{GroupSettings, SchedulerSettings, Settings};
use crate::conversation::{ContextWindow, Turn};
use crate::engine::shelf::ModelShelf;
use crate::engine::Engine;
use crate::i18n::Language;
use crate::metrics::{self, Refusal};
use crate::persona::Personas;
use crate::scheduler::Scheduler;
use crate::seam::{
    Allowlist, Author, ChannelKey, CommandInfo, Handler, Incoming, Outbox, Platform,
};
use crate::store::{Delivery, Store, Unanswered};
use crate::Result;

/// The bot. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<BotContext>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("channels", &self.inner.channels.loaded())
            .finish_non_exhaustive()
    }
}

/// A reload: the settings swapped whole (the reloader kept the restart-only keys as they
/// were), the rate limit set anew.
impl crate::reload::Reloadable for Bot {
    fn apply(&self, settings: &Settings) {
        self.inner
            .rate
            .set_per_minute(settings.bot.messages_per_minute);
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(settings.clone());
    }
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

/// The scheduler's limits: `[scheduler]`, with as many answers in flight as the default
/// model's engine takes at once when it says (the local engine batches `engine.max_batch`
/// answers).
fn admission(settings: &Settings, models: &ModelShelf) -> SchedulerSettings {
    let mut limits = settings.scheduler.clone();
    let default = models.choice_or_default(None);
    if let Some(n) = models
        .loaded(&default.name)
        .and_then(|engine| engine.concurrent_answers())
    {
        limits.workers = n.max(1);
    }
    limits
}

impl Bot {
    /// Build the bot on one engine: the default model's (the first of `[[models]]`, or
    /// `model.path`). The other models are listed but cannot be loaded: see
    /// [`Bot::with_models`].
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
        let models = ModelShelf::preloaded(
            settings.model_choices(),
            settings.engine.max_loaded_models,
            vec![engine],
        );
        Self::with_models(settings, Arc::new(models), store, personas).await
    }

    /// Build the bot on the models of `models` (`/model` switches a channel between them);
    /// otherwise as [`Bot::new`].
    pub async fn with_models(
        settings: &Settings,
        models: Arc<ModelShelf>,
        store: Store,
        personas: Personas,
    ) -> Result<Bot> {
        let mut trigger_words = vec![settings.bot.name.clone()];
        trigger_words.extend(settings.bot.trigger_names.iter().cloned());
        let inner = Arc::new(BotContext {
            settings: std::sync::RwLock::new(Arc::new(settings.clone())),
            scheduler: Scheduler::new(admission(settings, &models)),
            models,
            store,
            personas,
            channels: Channels::default(),
            rate: RateLimits::new(settings.bot.messages_per_minute),
            trigger_words,
            exports: rate_limit::ExportTimes::default(),
        });
        privacy::retain(&inner, now_unix()).await?;
        spawn_maintenance(Arc::downgrade(&inner));
        let queue = Arc::downgrade(&inner);
        metrics::on_scrape(move || {
            if let Some(inner) = queue.upgrade() {
                metrics::queue(inner.scheduler.queued(), inner.scheduler.in_flight());
            }
        });
        Ok(Bot { inner })
    }

    /// Wait until no answer is running or queued (tests, the console between prompts).
    pub async fn idle(&self) {
        self.inner.scheduler.idle().await;
    }

    /// The live context window a channel's next answer would see, as the engine would get it
    /// (loads the channel if needed). For `/stats`-like tools and tests.
    pub async fn window(&self, key: &ChannelKey, is_direct: bool) -> Result<ContextWindow> {
        let engine = self.inner.channel_engine(key).await?;
        let (window, _, _) = self
            .inner
            .build_window(key, is_direct, None, &engine)
            .await?;
        Ok(window)
    }

    /// Run the retention pass as of `now` (Unix seconds): delete turns and `/why` records older
    /// than `store.retain_days` (and past `store.retention_turns`), securely, and drop what
    /// loaded channels and engines hold of them. Returns how many turns went. It runs by
    /// itself at start and every six hours; public for tests (an injected clock) and embedders.
    pub async fn retain(&self, now: i64) -> Result<usize> {
        Ok(privacy::retain(&self.inner, now).await?.turns)
    }

    /// How many channels are loaded in memory.
    pub fn loaded_channels(&self) -> usize {
        self.inner.channels.loaded()
    }

    /// Unload every channel that has had no message for `idle` and has no answer queued or
    /// running; returns how many were unloaded. Their turns and settings stay in the store and
    /// are loaded again on the channel's next message. Runs every minute with
    /// `bot.unload_idle_minutes`; public for tests and embedders.
    pub fn unload_idle(&self, idle: Duration) -> usize {
        self.inner.unload_idle(idle)
    }
}

/// What a message is to the bot, once it knows whether it is addressed.
enum Intake {
    /// Not for the bot, and not kept.
    Ignore,
    /// Not for the bot, but kept as group context (`bot.keep_group_context`).
    Context,
    /// For the bot: a command (or a hint about one), or a question when `None`.
    Addressed(Option<std::result::Result<Command, CommandError>>),
}

impl BotContext {
    /// The language to answer `message` in: the user's when the catalogue has it, else
    /// `bot.language`. Resolved once per message, when it comes in.
    fn language_of(&self, message: &Incoming) -> Language {
        Language::resolve(message.language.as_deref(), self.settings().bot.language)
    }

    fn is_admin(&self, message: &Incoming) -> bool {
        message.author.is_platform_admin
            || self
                .settings()
                .is_admin(message.key.platform, &message.author.id)
    }

    /// Whether the message's author may change the chat for everyone (`bot.group_settings`):
    /// in a direct chat the user owns it; in a group, admins, or everyone if so configured.
    fn may_change_channel(&self, message: &Incoming) -> bool {
        message.is_direct
            || self.settings().bot.group_settings == GroupSettings::Everyone
            || self.is_admin(message)
    }

    /// Addressing: whether the message is for the bot, and as what.
    ///
    /// A command naming another bot (`/help@otherbot`) is left alone entirely. The platform's
    /// adapter has already taken its own username out of commands (Telegram); elsewhere commands
    /// may name the bot by `bot.name` (`/help@parley`).
    fn intake(&self, message: &Incoming, text: &str, lang: Language) -> Intake {
        let (addressee, text) = crate::commands::address(text, &self.settings().bot.name);
        if addressee == Addressee::AnotherBot {
            debug!("a command for another bot");
            return Intake::Ignore;
        }
        let named = addressee == Addressee::Us || is_addressed(message, &self.trigger_words);
        let mut command = crate::commands::parse(&text, None, lang);
        // In a group an unknown `/word` may be another bot's command: no hint unless it is
        // addressed to us.
        if !named && matches!(&command, Some(Err(e)) if e.command.is_none()) {
            command = None;
        }
        let settings = self.settings();
        let bot = &settings.bot;
        if command.is_some() || named {
            Intake::Addressed(command)
        } else if bot.keep_group_context && text.chars().count() <= bot.max_input_chars {
            Intake::Context
        } else {
            Intake::Ignore
        }
    }

    /// Store an unaddressed group message as context for later answers (once, however often
    /// the platform delivers it).
    async fn keep_as_context(&self, message: &Incoming, text: &str) -> Result<()> {
        let key = &message.key;
        let mut channel = self.channels.open(key, &self.store).await?;
        let author = &message.author;
        let mut turn = Turn::user(&author.id, &author.display_name, text, message.at);
        turn.addressed = false;
        let id = &message.message_id;
        let delivery = self
            .store
            .receive(key, id, message.at, Some(&turn), false)
            .await?;
        if delivery != Delivery::New {
            debug!("delivered again; already kept");
            return Ok(());
        }
        channel.conversation.push(turn);
        debug!("kept as group context");
        Ok(())
    }

    /// Admission: the rate limit and the input limit. `false`: the message goes no further
    /// (the user was told when they should be).
    async fn admit(
        &self,
        message: &Incoming,
        text: &str,
        lang: Language,
        outbox: &dyn Outbox,
    ) -> bool {
        let (key, reply_to) = (&message.key, Some(message.message_id.as_str()));
        match self.rate.check(message) {
            RateCheck::Pass => {}
            RateCheck::Warn => {
                debug!("rate limited");
                metrics::message_refused(key.platform, Refusal::RateLimited);
                say(outbox, key, reply_to, &replies::rate_limited(lang)).await;
                return false;
            }
            RateCheck::Drop => {
                debug!("rate limited");
                metrics::message_refused(key.platform, Refusal::RateLimited);
                return false;
            }
        }
        let (chars, limit) = (text.chars().count(), self.settings().bot.max_input_chars);
        if chars > limit {
            metrics::message_refused(key.platform, Refusal::TooLong);
            say(
                outbox,
                key,
                reply_to,
                &replies::too_long(lang, limit, chars),
            )
            .await;
            return false;
        }
        true
    }
}

/// Handle one message: addressing, admission, then its command or its question.
async fn handle_message(
    inner: &Arc<BotContext>,
    message: &Incoming,
    lang: Language,
    outbox: &Arc<dyn Outbox>,
) -> Result<()> {
    let text = message.text.trim();
    if text.is_empty() && message.attachments.is_empty() {
        return Ok(());
    }
    let command = match inner.intake(message, text, lang) {
        Intake::Ignore => return Ok(()),
        Intake::Context if text.is_empty() => return Ok(()),
        Intake::Context => return inner.keep_as_context(message, text).await,
        Intake::Addressed(command) => command,
    };
    if !inner.admit(message, text, lang, outbox.as_ref()).await {
        return Ok(());
    }
    if let Some(Ok(Command::Tr(to))) = command {
        // A translation on demand is not part of the conversation: neither kept nor recorded
        // (a flag reaction arrives with the id of the message it translates).
        return queue::translate_on_demand(inner, to, message, lang, outbox).await;
    }
    let asked = match command {
        None => {
            inner
                .question_with_files(message, text, lang, outbox.as_ref())
                .await
        }
        Some(_) => Some(text.to_string()),
    };
    let Some(asked) = asked else {
        return Ok(());
    };
    let key = &message.key;
    let channel = inner.channels.open(key, &inner.store).await?;
    if channel.is_answering(&message.message_id) {
        debug!("delivered again; being answered");
        return Ok(());
    }
    // Durable before anything else: a question is committed before it is queued, and a command
    // is marked handled before it runs (at most once: one redelivered after a crash is not run
    // again).
    let author = &message.author;
    let question = Turn::user(&author.id, &author.display_name, &asked, message.at);
    let turn = command.is_none().then_some(&question);
    let delivery = inner
        .store
        .receive(
            key,
            &message.message_id,
            message.at,
            turn,
            message.is_direct,
        )
        .await?;
    if delivery == Delivery::Done {
        debug!("delivered again; already handled");
        return Ok(());
    }
    if let Some(command) = command {
        drop(channel);
        return run_command(inner, command, message, lang, outbox).await;
    }
    queue_question(inner, channel, message, lang, outbox, question, delivery).await;
    Ok(())
}

/// A command taken in (and marked handled): run it, or say what was wrong with it.
async fn run_command(
    inner: &Arc<BotContext>,
    command: std::result::Result<Command, CommandError>,
    message: &Incoming,
    lang: Language,
    outbox: &Arc<dyn Outbox>,
) -> Result<()> {
    match command {
        Ok(cmd) => commands::run(inner, cmd, message, lang, outbox).await,
        Err(hint) => {
            let reply_to = Some(message.message_id.as_str());
            say(outbox.as_ref(), &message.key, reply_to, &hint.message).await;
            Ok(())
        }
    }
}

/// A question taken in: keep it in the conversation when it is new (the store has it), then
/// queue its answer (unless translate mode leaves it alone).
async fn queue_question(
    inner: &Arc<BotContext>,
    mut channel: OpenChannel,
    message: &Incoming,
    lang: Language,
    outbox: &Arc<dyn Outbox>,
    question: Turn,
    delivery: Delivery,
) {
    let asked = question.text.clone();
    if delivery == Delivery::New {
        channel.conversation.push(question);
    } else {
        info!("answering a stored question whose answer was cut off");
    }
    let Some(prompt) = prompt_for(&channel, &asked) else {
        return;
    };
    let in_flight = channel.begin_answer(&message.message_id);
    drop(channel);
    // The answer's window ends at this turn, files and all.
    let asked = Incoming {
        text: asked,
        ..message.clone()
    };
    submit(inner, &asked, lang, outbox.clone(), prompt, Some(in_flight)).await;
}

/// A stored question a restart left unanswered, as the message it came in.
fn resumed_message(q: Unanswered) -> Incoming {
    Incoming {
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
        reply_to: None,
        attachments: Vec::new(),
        language: None,
    }
}

#[async_trait::async_trait]
impl Handler for Bot {
    #[instrument(skip_all, fields(channel = %message.key))]
    async fn handle(&self, message: Incoming, outbox: Arc<dyn Outbox>) {
        metrics::message_seen(message.key.platform);
        let lang = self.inner.language_of(&message);
        if let Err(e) = handle_message(&self.inner, &message, lang, &outbox).await {
            warn!(error = %e, "message failed");
            metrics::error("message");
            // A question is stored before it is answered: one the store refused was not.
            let reply = match e {
                crate::Error::Store(_) => replies::not_saved_question(lang),
                _ => replies::engine_error(lang),
            };
            say(
                outbox.as_ref(),
                &message.key,
                Some(&message.message_id),
                &reply,
            )
            .await;
        }
    }

    fn commands(&self, lang: Language) -> Vec<CommandInfo> {
        crate::commands::command_list(lang)
    }

    fn group_member_commands(&self, lang: Language) -> Vec<CommandInfo> {
        let group_rule = self.inner.settings().bot.group_settings == GroupSettings::Admins;
        crate::commands::command_list(lang)
            .into_iter()
            .filter(|c| !crate::commands::is_for_admins(c, group_rule))
            .collect()
    }

    fn language(&self) -> Language {
        self.inner.settings().bot.language
    }

    fn within_rate_limit(&self, platform: Platform, user: &str) -> bool {
        self.inner.rate.would_pass(platform, user)
    }

    async fn resume(
        &self,
        platform: Platform,
        outbox: Arc<dyn Outbox>,
        allowlist: Arc<dyn Allowlist>,
    ) {
        let minutes = self.inner.settings().bot.resume_within_minutes;
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
            let message = resumed_message(q);
            // The allowlists may have changed since it was asked.
            if !allowlist.admits(&message).await {
                info!(channel = %message.key, "not answered on resume: its author is no longer allowed");
                continue;
            }
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

/// How often the maintenance task wakes; idle channels are looked for every time.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);
/// How often retention runs while the bot is up (it also runs at start).
const RETENTION_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Until the bot is dropped: unload idle channels (`bot.unload_idle_minutes`) every minute, and
/// apply retention every [`RETENTION_EVERY`].
fn spawn_maintenance(inner: std::sync::Weak<BotContext>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(MAINTAIN_EVERY);
        // Start-up already applied retention.
        let mut retained_at = Instant::now();
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let minutes = inner.settings().bot.unload_idle_minutes;
            if minutes > 0 {
                let n = inner.unload_idle(Duration::from_secs(u64::from(minutes) * 60));
                if n > 0 {
                    debug!(
                        unloaded = n,
                        loaded = inner.channels.loaded(),
                        "idle channels unloaded"
                    );
                }
            }
            if retained_at.elapsed() >= RETENTION_EVERY {
                retained_at = Instant::now();
                if let Err(e) = privacy::retain(&inner, now_unix()).await {
                    warn!(error = %e, "retention failed");
                }
            }
        }
    });
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
