//! A stand-in for the core in the adapters' end-to-end tests: [`ScriptedHandler`] records every
//! message it gets, keeps each channel's texts, and answers the messages addressed to the bot
//! (direct messages, mentions, replies) the way its [`Script`] says, in the background like the
//! core. [`commands`] is the command list it reports.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use parley_core::i18n::Language;
use parley_core::seam::{Allowlist, ChannelKey, CommandInfo, Handler, Incoming, Outbox, Platform};

/// How a [`ScriptedHandler`] answers.
pub trait Script: Clone + Send + Sync + 'static {
    /// Called in `handle` itself for every message, after it is recorded and before it joins
    /// its channel's history: the place to panic on purpose. Does nothing by default.
    fn inspect(&self, _message: &Incoming) {}

    /// Answer `message`, addressed to the bot, through `outbox`; `earlier` holds the texts its
    /// channel had before it, oldest first. Runs in its own task.
    fn answer(
        self,
        message: Incoming,
        earlier: Vec<String>,
        outbox: Arc<dyn Outbox>,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// One `resume` call: the platform, its outbox and its allowlist.
pub type Resumed = (Platform, Arc<dyn Outbox>, Arc<dyn Allowlist>);

/// A `Handler` like the core's in shape: it records every message it gets, keeps a history per
/// channel, and has its [`Script`] answer direct messages, mentions and replies.
#[derive(Default)]
pub struct ScriptedHandler<S> {
    /// How it answers.
    pub script: S,
    /// Every message handed to it, in order.
    pub received: Mutex<Vec<Incoming>>,
    /// Each channel's texts so far.
    pub history: Mutex<HashMap<ChannelKey, Vec<String>>>,
    /// Whether `shutdown` was called.
    pub shut_down: AtomicBool,
    /// Each `resume` call: the platform, and the outbox and allowlist it came with.
    pub resumed: Mutex<Vec<Resumed>>,
    /// Set: every user is over the rate limit ([`Handler::within_rate_limit`] says no).
    pub rate_limited: AtomicBool,
}

impl<S: Script> ScriptedHandler<S> {
    /// A handler answering with `script`.
    pub fn new(script: S) -> Arc<Self> {
        Arc::new(Self {
            script,
            received: Mutex::new(Vec::new()),
            history: Mutex::new(HashMap::new()),
            shut_down: AtomicBool::new(false),
            resumed: Mutex::new(Vec::new()),
            rate_limited: AtomicBool::new(false),
        })
    }

    /// The platforms `resume` was called for, in order.
    pub fn resumed_platforms(&self) -> Vec<Platform> {
        self.resumed
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _, _)| *p)
            .collect()
    }

    /// The outbox of the last `resume` call.
    pub fn resume_outbox(&self) -> Option<Arc<dyn Outbox>> {
        self.resumed
            .lock()
            .unwrap()
            .last()
            .map(|(_, o, _)| o.clone())
    }

    /// The allowlist of the last `resume` call.
    pub fn resume_allowlist(&self) -> Option<Arc<dyn Allowlist>> {
        self.resumed
            .lock()
            .unwrap()
            .last()
            .map(|(_, _, a)| a.clone())
    }

    /// The messages received so far.
    pub fn received(&self) -> Vec<Incoming> {
        self.received.lock().unwrap().clone()
    }

    /// The texts of the messages received so far.
    pub fn texts(&self) -> Vec<String> {
        self.received().into_iter().map(|m| m.text).collect()
    }
}

#[async_trait::async_trait]
impl<S: Script> Handler for ScriptedHandler<S> {
    async fn handle(&self, message: Incoming, outbox: Arc<dyn Outbox>) {
        self.received.lock().unwrap().push(message.clone());
        self.script.inspect(&message);
        let earlier = {
            let mut h = self.history.lock().unwrap();
            let texts = h.entry(message.key.clone()).or_default();
            let earlier = texts.clone();
            texts.push(message.text.clone());
            earlier
        };
        if !(message.is_direct || message.mentions_bot || message.reply_to_bot) {
            return;
        }
        // Like the core: accept now, answer in the background.
        tokio::spawn(self.script.clone().answer(message, earlier, outbox));
    }

    fn within_rate_limit(&self, _platform: Platform, _user: &str) -> bool {
        !self.rate_limited.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn commands(&self, _lang: Language) -> Vec<CommandInfo> {
        commands()
    }

    async fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
    }

    async fn resume(
        &self,
        platform: Platform,
        outbox: Arc<dyn Outbox>,
        allowlist: Arc<dyn Allowlist>,
    ) {
        self.resumed
            .lock()
            .unwrap()
            .push((platform, outbox, allowlist));
    }
}

/// The commands the test handler reports: two for everyone, one with an argument, and one
/// admin-only command with an argument.
pub fn commands() -> Vec<CommandInfo> {
    vec![
        CommandInfo {
            name: "help",
            description: "What I can do".into(),
            args: "",
            admin_only: false,
        },
        CommandInfo {
            name: "reset",
            description: "Forget this conversation".into(),
            args: "",
            admin_only: false,
        },
        CommandInfo {
            name: "mode",
            description: "Switch the persona".into(),
            args: "NAME",
            admin_only: false,
        },
        CommandInfo {
            name: "system",
            description: "Set the system prompt".into(),
            args: "TEXT",
            admin_only: true,
        },
    ]
}
