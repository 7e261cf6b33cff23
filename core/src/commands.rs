//! The bot's commands: one parser and one list for every platform.
//!
//! [`parse`] turns a message into a [`Command`] (or a one-line usage hint when it is a command
//! with a mistake), the same on Telegram, Discord and the console. [`command_list`] is the
//! single list the help text ([`help_text`]), Telegram's `setMyCommands` and Discord's slash
//! commands are all made from.
//!
//! What the parser checks: the command name (case-insensitive, `/cmd@botname` addressed to this
//! bot, never to another), and the type of each argument (a number where a number is due, a
//! language Parley knows). What it leaves to the bot: bounds of `/set` values (they come from
//! the configuration), whether a `/mode` persona exists, and who may use `/system`.

use std::fmt;

use crate::i18n::Language;
use crate::seam::CommandInfo;
use crate::t;
use crate::translate::TextLanguage;

/// A command from a user.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// List the commands (also `/start`, which Telegram sends when a chat begins).
    Help,
    /// Forget this channel's conversation and start afresh (also `/clear`).
    Reset,
    /// Answer the last message again.
    Retry,
    /// Switch persona; `None` lists the personas.
    Mode(Option<String>),
    /// Switch this channel's model by name; `None` lists the models.
    Model(Option<String>),
    /// Set this channel's system prompt; `None` shows it.
    System(Option<String>),
    /// Turn translation on, off, or show it.
    Translate(TranslateArg),
    /// Translate the message replied to, once: into this language, else the chat's translate
    /// target, else the user's language.
    Tr(Option<TextLanguage>),
    /// Change a sampling setting for this channel; `None` (`/set` alone) shows them.
    Set(Option<Setting>),
    /// Show what is in the context window and how fast answers are.
    Stats,
    /// Explain how the last answer (or the one replied to) was made.
    Why,
    /// Stop the answer being written.
    Cancel,
    /// Delete what the user gave the bot here: their messages and everything made from them,
    /// their pinned notes, or both.
    Forget(ForgetArg),
    /// Send the user, privately, a JSON file of everything the bot keeps about them.
    Export,
    /// What the bot stores, for how long, where it goes, and how to delete it.
    Privacy,
    /// Pinned notes that stay in the context however long the chat gets.
    Remember(RememberArg),
}

/// The argument of `/remember`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RememberArg {
    /// List the notes (no argument).
    List,
    /// Pin a note.
    Add(String),
    /// Remove note number N (1-based, as listed).
    Delete(usize),
    /// Remove every note.
    Clear,
}

/// The argument of `/forget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgetArg {
    /// The user's messages here and what was made from them (no argument).
    Messages,
    /// The notes the user pinned here (`notes`).
    Notes,
    /// Both (`all`).
    All,
}

/// Most `/remember` notes a chat may pin.
pub const MAX_NOTES: usize = 10;
/// Longest `/remember` note, in characters.
pub const MAX_NOTE_CHARS: usize = 300;

impl Command {
    /// The command's name, as in [`command_list`].
    pub fn name(&self) -> &'static str {
        match self {
            Command::Help => "help",
            Command::Reset => "reset",
            Command::Retry => "retry",
            Command::Mode(_) => "mode",
            Command::Model(_) => "model",
            Command::System(_) => "system",
            Command::Translate(_) => "translate",
            Command::Tr(_) => "tr",
            Command::Set(_) => "set",
            Command::Stats => "stats",
            Command::Why => "why",
            Command::Cancel => "cancel",
            Command::Forget(_) => "forget",
            Command::Export => "export",
            Command::Privacy => "privacy",
            Command::Remember(_) => "remember",
        }
    }

    /// Whether it changes the chat for everyone in it (showing a setting does not).
    pub fn changes_channel(&self) -> bool {
        match self {
            Command::Reset | Command::Set(Some(_)) => true,
            Command::Mode(name) | Command::Model(name) => name.is_some(),
            Command::System(text) => text.is_some(),
            Command::Translate(arg) => *arg != TranslateArg::Show,
            Command::Remember(arg) => *arg != RememberArg::List,
            _ => false,
        }
    }
}

/// The argument of `/translate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranslateArg {
    /// Translate into these languages: one, or a pair that works both ways (`en,zh`).
    Langs(Vec<TextLanguage>),
    /// Stop translating (`off`).
    Off,
    /// Show the current setting (no argument).
    Show,
}

/// A `/set` command: which setting and its new value. Values are parsed, not bounds-checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// Sampling temperature (`/set temperature 0.7`).
    Temperature(f64),
    /// Nucleus sampling mass (`/set top_p 0.9`).
    TopP(f64),
    /// Longest answer in tokens (`/set max_tokens 300`).
    MaxTokens(usize),
    /// Fixed seed for reproducible answers (`/set seed 42`), or `None` for random
    /// (`/set seed random`).
    Seed(Option<u64>),
    /// Strings that end an answer (`/set stop "\n\n" "User:"`); empty for none
    /// (`/set stop none`).
    Stop(Vec<String>),
    /// Back to the configured defaults (`/set reset`).
    Reset,
}

/// Most stop strings a chat may set (the OpenAI API's limit).
pub const MAX_STOPS: usize = 4;
/// Longest stop string, in characters.
pub const MAX_STOP_CHARS: usize = 64;

/// A message that is a command but cannot be run as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// The command it was meant to be (`None` for an unknown command).
    pub command: Option<&'static str>,
    /// A one-line hint for the user, e.g. "Usage: /set top_p VALUE".
    pub message: String,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

/// A command as the grammar knows it; its description is the catalogue's `command-NAME`.
struct Grammar {
    name: &'static str,
    args: &'static str,
    admin_only: bool,
}

const COMMANDS: &[Grammar] = &[
    Grammar {
        name: "help",
        args: "",
        admin_only: false,
    },
    Grammar {
        name: "reset",
        args: "",
        admin_only: false,
    },
    Grammar {
        name: "retry",
        args: "",
        admin_only: false,
    },
    Grammar {
        name: "mode",
        args: "[NAME]",
        admin_only: false,
    },
    Grammar {
        name: "model",
        args: "[NAME]",
        admin_only: false,
    },
    Grammar {
        name: "system",
        args: "[TEXT]",
        admin_only: true,
    },
    Grammar {
        name: "translate",
        args: "[LANG[,LANG]|off]",
        admin_only: false,
    },
    Grammar {
        name: "tr",
        args: "[LANG]",
        admin_only: false,
    },
    Grammar {
        name: "set",
        args: "[temperature|top_p|max_tokens|seed|stop VALUE | reset]",
        admin_only: false,
    },
    Grammar {
        name: "remember",
        args: "[TEXT | delete N | clear]",
        admin_only: false,
    },
    Grammar {
        name: "stats",
        args: "",
        admin_only: false,
    },
    Grammar {
        name: "why",
        args: "",
        admin_only: false,
    },
    Grammar {
        name: "cancel",
        args: "",
        admin_only: false,
    },
    Grammar {
        name: "forget",
        args: "[notes|all]",
        admin_only: false,
    },
    Grammar {
        name: "export",
        args: "",
        admin_only: false,
    },
    Grammar {
        name: "privacy",
        args: "",
        admin_only: false,
    },
];

/// Every command, in the order help lists them, described in `lang`.
pub fn command_list(lang: Language) -> Vec<CommandInfo> {
    COMMANDS
        .iter()
        .map(|c| CommandInfo {
            name: c.name,
            description: crate::i18n::text(lang, &format!("command-{}", c.name), &[]),
            args: c.args,
            admin_only: c.admin_only,
        })
        .collect()
}

/// Commands that, given arguments, change a chat for everyone in it: in a group they are for
/// admins unless `bot.group_settings = "everyone"`.
const CHANNEL_CHANGING: &[&str] = &[
    "reset",
    "mode",
    "model",
    "system",
    "translate",
    "set",
    "remember",
];

/// Whether command `c` is for admins: always `/system`; with `group_rule` (a group under
/// `bot.group_settings = "admins"`), every command that changes the chat for everyone. The one
/// rule `/help` and the platforms' command menus follow.
pub fn is_for_admins(c: &CommandInfo, group_rule: bool) -> bool {
    c.admin_only || (group_rule && CHANNEL_CHANGING.contains(&c.name))
}

/// The help text: one line per command. Commands for admins ([`is_for_admins`]) are shown,
/// marked, only to admins.
pub fn help_text(lang: Language, is_admin: bool, group_rule: bool) -> String {
    let mut out = t!(lang, "help-title");
    out.push('\n');
    let admins = format!(" {}", t!(lang, "help-admins"));
    let for_admins = |c: &CommandInfo| is_for_admins(c, group_rule);
    for c in command_list(lang)
        .iter()
        .filter(|c| is_admin || !for_admins(c))
    {
        out.push('/');
        out.push_str(c.name);
        if !c.args.is_empty() {
            out.push(' ');
            out.push_str(c.args);
        }
        out.push_str(" — ");
        out.push_str(&c.description);
        if for_admins(c) {
            out.push_str(&admins);
        }
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
}

/// The usage line of command `name`, in `lang`.
pub fn usage(lang: Language, name: &str) -> String {
    match COMMANDS.iter().find(|c| c.name == name) {
        Some(c) if c.args.is_empty() => t!(lang, "usage", command = format!("/{}", c.name)),
        Some(c) => t!(lang, "usage", command = format!("/{} {}", c.name, c.args)),
        None => t!(lang, "usage-unknown"),
    }
}

/// Whom a command names after its `@` (`/help@parleybot`, as Telegram writes a command meant
/// for one bot among several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressee {
    /// No bot named: plain text, or a command without `@`.
    Anyone,
    /// This bot (the name compared case-insensitively, with or without its `@`).
    Us,
    /// Another bot: not ours to run, answer, hint at or keep.
    AnotherBot,
}

/// The command word of a message, split: `/name@target args`.
struct Head<'a> {
    name: &'a str,
    target: Option<&'a str>,
    /// Everything after the command word, as written.
    rest: &'a str,
}

impl<'a> Head<'a> {
    /// The command word at the start of `text`, or `None` when it is not a command: no `/`,
    /// or not a command-like name after it (`/usr/bin`, `/ hello`).
    fn of(text: &'a str) -> Option<Self> {
        let body = text.trim_start().strip_prefix('/')?;
        let token_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let (token, rest) = body.split_at(token_end);
        let (name, target) = match token.split_once('@') {
            Some((n, t)) => (n, Some(t)),
            None => (token, None),
        };
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        name_ok.then_some(Head { name, target, rest })
    }

    /// Whom it names, for the bot called `bot_username` (`None`: unknown, so any name is
    /// taken to be ours). The one place that reads `@botname`.
    fn addressee(&self, bot_username: Option<&str>) -> Addressee {
        match (self.target, bot_username) {
            (None, _) => Addressee::Anyone,
            (Some(_), None) => Addressee::Us,
            (Some(t), Some(ours)) if t.eq_ignore_ascii_case(ours.trim_start_matches('@')) => {
                Addressee::Us
            }
            (Some(_), Some(_)) => Addressee::AnotherBot,
        }
    }
}

/// Whom the command at the start of `text` names, for the bot called `bot_username`, and the
/// text without its `@bot_username` (`/mode@ParleyBot tutor` → `/mode tutor`), so that it
/// reads as a command of this bot. Any other text comes back as it was.
///
/// ```
/// use parley_core::commands::{address, Addressee};
///
/// assert_eq!(address("/mode@ParleyBot tutor", "parleybot"), (Addressee::Us, "/mode tutor".into()));
/// assert_eq!(address("/help@otherbot", "parleybot").0, Addressee::AnotherBot);
/// assert_eq!(address("/help", "parleybot"), (Addressee::Anyone, "/help".into()));
/// ```
pub fn address(text: &str, bot_username: &str) -> (Addressee, String) {
    let Some(head) = Head::of(text) else {
        return (Addressee::Anyone, text.to_string());
    };
    match head.addressee(Some(bot_username)) {
        Addressee::Us => (Addressee::Us, format!("/{}{}", head.name, head.rest)),
        other => (other, text.to_string()),
    }
}

/// Parse a message as a command.
///
/// Returns `None` when the message is not a command: it does not start with `/`, the word
/// after the slash is not a command-like name (`/usr/bin`, `/ hello`), or it is addressed to
/// another bot (`/help@otherbot` when `bot_username` is ours; see [`address`]). Returns
/// `Some(Err(..))` with a one-line hint for an unknown command (naming the closest known one)
/// or a bad argument. Names are case-insensitive; `bot_username` may be given with or without
/// its `@`.
///
/// ```
/// use parley_core::commands::{parse, Command, Setting};
/// use parley_core::i18n::Language;
///
/// assert_eq!(parse("hello", None, Language::English), None);
/// assert_eq!(parse("/help@parleybot", Some("parleybot"), Language::English), Some(Ok(Command::Help)));
/// assert_eq!(parse("/help@otherbot", Some("parleybot"), Language::English), None);
/// assert_eq!(parse("/set temperature 0.2", None, Language::English), Some(Ok(Command::Set(Some(Setting::Temperature(0.2))))));
/// let hint = parse("/hepl", None, Language::English).unwrap().unwrap_err();
/// assert!(hint.message.contains("/help"));
/// ```
pub fn parse(
    text: &str,
    bot_username: Option<&str>,
    lang: Language,
) -> Option<Result<Command, CommandError>> {
    let head = Head::of(text)?;
    if head.addressee(bot_username) == Addressee::AnotherBot {
        return None;
    }
    let name = head.name.to_ascii_lowercase();
    Some(parse_named(&name, head.rest.trim(), lang))
}

fn parse_named(name: &str, args: &str, lang: Language) -> Result<Command, CommandError> {
    Ok(match name {
        "help" | "start" => Command::Help,
        "reset" | "clear" => Command::Reset,
        "retry" => Command::Retry,
        "stats" => Command::Stats,
        "why" => Command::Why,
        "cancel" | "stop" => Command::Cancel,
        "forget" => Command::Forget(parse_forget(args, lang)?),
        "export" => Command::Export,
        "privacy" => Command::Privacy,
        "mode" => {
            let mut words = args.split_whitespace();
            match (words.next(), words.next()) {
                (None, _) => Command::Mode(None),
                (Some(m), None) => Command::Mode(Some(m.to_lowercase())),
                _ => return Err(error_of("mode")(usage(lang, "mode"))),
            }
        }
        "model" | "models" => {
            let mut words = args.split_whitespace();
            match (words.next(), words.next()) {
                (None, _) => Command::Model(None),
                (Some(m), None) => Command::Model(Some(m.to_string())),
                _ => return Err(error_of("model")(usage(lang, "model"))),
            }
        }
        "system" => Command::System((!args.is_empty()).then(|| args.to_string())),
        "translate" => Command::Translate(parse_translate(args, lang)?),
        "tr" => Command::Tr(parse_tr(args, lang)?),
        "set" if args.trim().is_empty() => Command::Set(None),
        "set" => Command::Set(Some(parse_set(args, lang)?)),
        "remember" | "pin" | "note" => Command::Remember(parse_remember(args, lang)?),
        other => {
            let suggestion = closest(other);
            let message = match suggestion {
                Some(s) => t!(
                    lang,
                    "unknown-command-near",
                    command = other,
                    suggestion = s
                ),
                None => t!(lang, "unknown-command", command = other),
            };
            return Err(CommandError {
                command: None,
                message,
            });
        }
    })
}

/// A command error for `command` with the given message.
fn error_of(command: &'static str) -> impl Fn(String) -> CommandError {
    move |message| CommandError {
        command: Some(command),
        message,
    }
}

fn parse_translate(args: &str, lang: Language) -> Result<TranslateArg, CommandError> {
    let err = error_of("translate");
    let lower = args.to_lowercase();
    match lower.as_str() {
        "" | "show" | "status" => return Ok(TranslateArg::Show),
        "off" | "none" | "stop" | "disable" => return Ok(TranslateArg::Off),
        _ => {}
    }
    let mut langs: Vec<TextLanguage> = Vec::new();
    for word in args.split([',', ' ', '/', '+']).filter(|w| !w.is_empty()) {
        let target = TextLanguage::parse(word).ok_or_else(|| {
            let usage = usage(lang, "translate");
            err(t!(lang, "unknown-language", word = word, usage = usage))
        })?;
        if !langs.contains(&target) {
            langs.push(target);
        }
    }
    if langs.len() > 2 {
        let usage = usage(lang, "translate");
        return Err(err(t!(lang, "too-many-languages", usage = usage)));
    }
    Ok(TranslateArg::Langs(langs))
}

fn parse_forget(args: &str, lang: Language) -> Result<ForgetArg, CommandError> {
    match args.trim().to_lowercase().as_str() {
        "" | "messages" => Ok(ForgetArg::Messages),
        "notes" | "note" => Ok(ForgetArg::Notes),
        "all" | "everything" => Ok(ForgetArg::All),
        _ => Err(error_of("forget")(usage(lang, "forget"))),
    }
}

fn parse_tr(args: &str, lang: Language) -> Result<Option<TextLanguage>, CommandError> {
    let word = args.trim();
    if word.is_empty() {
        return Ok(None);
    }
    TextLanguage::parse(word).map(Some).ok_or_else(|| {
        let usage = usage(lang, "tr");
        error_of("tr")(t!(lang, "unknown-language", word = word, usage = usage))
    })
}

fn parse_remember(args: &str, lang: Language) -> Result<RememberArg, CommandError> {
    let err = error_of("remember");
    let args = args.trim();
    if args.is_empty() {
        return Ok(RememberArg::List);
    }
    let mut words = args.split_whitespace();
    let first = words.next().unwrap_or("").to_lowercase();
    let second = words.next();
    let third = words.next();
    match (first.as_str(), second, third) {
        ("clear", None, _) => return Ok(RememberArg::Clear),
        ("delete" | "remove" | "del" | "rm", Some(n), None) => {
            return match n.trim_start_matches('#').parse::<usize>() {
                Ok(n) if n >= 1 => Ok(RememberArg::Delete(n)),
                _ => Err(err(t!(lang, "note-number"))),
            }
        }
        _ => {}
    }
    let chars = args.chars().count();
    if chars > MAX_NOTE_CHARS {
        return Err(err(t!(
            lang,
            "note-chars",
            max = MAX_NOTE_CHARS,
            count = chars
        )));
    }
    Ok(RememberArg::Add(args.to_string()))
}

fn parse_set(args: &str, lang: Language) -> Result<Setting, CommandError> {
    let err = error_of("set");
    // The name ends at the first space or `=`; the value is the rest (stop strings may hold
    // spaces and `=`).
    let args = args.trim();
    let (key, rest) = match args.find(|c: char| c.is_whitespace() || c == '=') {
        Some(i) => (
            &args[..i],
            args[i..].trim_start_matches(['=', ' ', '\t']).trim(),
        ),
        None => (args, ""),
    };
    let key = key.to_lowercase().replace('-', "_");
    if key.is_empty() {
        return Err(err(usage(lang, "set")));
    }
    if matches!(key.as_str(), "reset" | "default" | "defaults") && rest.is_empty() {
        return Ok(Setting::Reset);
    }
    let which = match key.as_str() {
        "temperature" | "temp" => "temperature",
        "top_p" | "topp" => "top_p",
        "max_tokens" | "maxtokens" | "tokens" | "max" => "max_tokens",
        "seed" => "seed",
        "stop" | "stops" => "stop",
        other => return Err(err(t!(lang, "unknown-setting", name = other))),
    };
    if which == "stop" {
        return parse_stops(rest, lang).map(Setting::Stop).map_err(err);
    }
    let mut words = rest.split_whitespace();
    let (Some(value), None) = (words.next(), words.next()) else {
        return Err(err(t!(
            lang,
            "usage",
            command = format!("/set {which} VALUE")
        )));
    };
    let number = |example: &str| -> Result<f64, CommandError> {
        value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| err(t!(lang, "takes-number", name = which, example = example)))
    };
    Ok(match which {
        "temperature" => Setting::Temperature(number("0.7")?),
        "top_p" => Setting::TopP(number("0.9")?),
        "seed" => match value.to_lowercase().as_str() {
            "random" | "off" | "none" => Setting::Seed(None),
            v => Setting::Seed(Some(
                v.parse::<u64>().map_err(|_| err(t!(lang, "seed-whole")))?,
            )),
        },
        _ => Setting::MaxTokens(
            value
                .parse::<usize>()
                .map_err(|_| err(t!(lang, "max-tokens-whole")))?,
        ),
    })
}

/// The value of `/set stop`: `none`/`off` for no stop strings, one or more double-quoted
/// strings (with `\n`, `\t`, `\"` and `\\` escapes), or the bare text as one string.
fn parse_stops(rest: &str, lang: Language) -> Result<Vec<String>, String> {
    let usage = t!(
        lang,
        "usage",
        command = "/set stop \"TEXT\" [\"TEXT\" ...] | none"
    );
    if rest.is_empty() {
        return Err(usage);
    }
    if matches!(rest.to_lowercase().as_str(), "none" | "off" | "clear") {
        return Ok(Vec::new());
    }
    let stops = if rest.starts_with('"') {
        let mut stops = Vec::new();
        let mut chars = rest.chars();
        loop {
            match chars.next() {
                None => break,
                Some(c) if c.is_whitespace() => continue,
                Some('"') => {}
                Some(_) => return Err(t!(lang, "stop-quotes", usage = usage.as_str())),
            }
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err(t!(lang, "stop-unclosed", usage = usage.as_str())),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(c @ ('"' | '\\')) => s.push(c),
                        Some(c) => {
                            s.push('\\');
                            s.push(c);
                        }
                        None => return Err(t!(lang, "stop-unclosed", usage = usage.as_str())),
                    },
                    Some(c) => s.push(c),
                }
            }
            stops.push(s);
        }
        stops
    } else {
        vec![rest.to_string()]
    };
    if stops.iter().any(String::is_empty) {
        return Err(t!(lang, "stop-empty"));
    }
    if stops.len() > MAX_STOPS {
        return Err(t!(lang, "stop-too-many", max = MAX_STOPS));
    }
    if stops.iter().any(|s| s.chars().count() > MAX_STOP_CHARS) {
        return Err(t!(lang, "stop-too-long", max = MAX_STOP_CHARS));
    }
    Ok(stops)
}

/// The listed command closest to `name`, if it is close enough to be a typo.
fn closest(name: &str) -> Option<&'static str> {
    // A prefix first: /trans, /sys.
    if name.len() >= 3 {
        if let Some(c) = COMMANDS.iter().find(|c| c.name.starts_with(name)) {
            return Some(c.name);
        }
    }
    COMMANDS
        .iter()
        .map(|c| (edit_distance(name, c.name), c.name))
        .filter(|&(d, n)| d <= 2.max(n.len() / 3) && d < name.chars().count().max(2))
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Command {
        match parse(text, Some("parleybot"), Language::English) {
            Some(Ok(c)) => c,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    fn err(text: &str) -> CommandError {
        match parse(text, Some("parleybot"), Language::English) {
            Some(Err(e)) => e,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    fn lang(code: &str) -> TextLanguage {
        TextLanguage::from_code(code).unwrap()
    }

    #[test]
    fn every_languages_descriptions_fit_the_platform_menus() {
        // Discord takes 1–100 characters, Telegram 3–256 (with the argument hint and the admin
        // mark added: still far below).
        for lang in Language::ALL {
            for c in command_list(lang) {
                let n = c.description.chars().count();
                assert!((3..=100).contains(&n), "{lang} /{}: {n} chars", c.name);
            }
        }
    }

    #[test]
    fn help_is_in_the_language_asked_for() {
        let german = help_text(Language::German, false, false);
        assert!(
            german.starts_with("Befehle:\n/help — Die Befehle auflisten"),
            "{german}"
        );
        assert!(
            german.contains("/translate [LANG[,LANG]|off] — "),
            "{german}"
        );
        let english = help_text(Language::English, false, false);
        assert!(
            english.starts_with("Commands:\n/help — List the commands"),
            "{english}"
        );
    }

    #[test]
    fn plain_text_is_not_a_command() {
        for t in [
            "hello",
            "",
            "  ",
            "what is 1/2?",
            "/",
            "/ hello",
            "/usr/bin/env",
            "//x",
            "/..",
        ] {
            assert_eq!(
                parse(t, Some("parleybot"), Language::English),
                None,
                "{t:?}"
            );
        }
    }

    #[test]
    fn every_simple_command_parses() {
        assert_eq!(ok("/help"), Command::Help);
        assert_eq!(ok("/start"), Command::Help);
        assert_eq!(ok("/reset"), Command::Reset);
        assert_eq!(ok("/clear"), Command::Reset);
        assert_eq!(ok("/retry"), Command::Retry);
        assert_eq!(ok("/stats"), Command::Stats);
        assert_eq!(ok("/cancel"), Command::Cancel);
        assert_eq!(ok("/stop"), Command::Cancel);
        assert_eq!(ok("/forget"), Command::Forget(ForgetArg::Messages));
        assert_eq!(ok("/forget notes"), Command::Forget(ForgetArg::Notes));
        assert_eq!(ok("/forget ALL"), Command::Forget(ForgetArg::All));
        assert_eq!(err("/forget yesterday").command, Some("forget"));
        assert_eq!(ok("/export"), Command::Export);
        assert_eq!(ok("/privacy"), Command::Privacy);
    }

    #[test]
    fn names_are_case_insensitive_and_whitespace_tolerant() {
        assert_eq!(ok("  /HELP  "), Command::Help);
        assert_eq!(ok("/Reset\n"), Command::Reset);
        assert_eq!(
            ok("/mode    Concise  "),
            Command::Mode(Some("concise".into()))
        );
        assert_eq!(
            ok("/set\ttemperature   0.5"),
            Command::Set(Some(Setting::Temperature(0.5)))
        );
    }

    #[test]
    fn commands_addressed_to_this_bot_parse() {
        assert_eq!(ok("/help@parleybot"), Command::Help);
        assert_eq!(ok("/help@ParleyBot"), Command::Help);
        assert_eq!(
            parse("/reset@parleybot", Some("@parleybot"), Language::English),
            Some(Ok(Command::Reset))
        );
        assert_eq!(
            parse("/reset@whoever", None, Language::English),
            Some(Ok(Command::Reset))
        );
    }

    #[test]
    fn commands_addressed_to_another_bot_are_ignored() {
        assert_eq!(
            parse("/help@otherbot", Some("parleybot"), Language::English),
            None
        );
        assert_eq!(
            parse("/nonsense@otherbot", Some("parleybot"), Language::English),
            None
        );
    }

    #[test]
    fn mode_lists_or_switches() {
        assert_eq!(ok("/mode"), Command::Mode(None));
        assert_eq!(ok("/mode coder"), Command::Mode(Some("coder".into())));
        let e = err("/mode coder tutor");
        assert_eq!(e.command, Some("mode"));
        assert!(e.message.contains("Usage: /mode"));
    }

    #[test]
    fn model_lists_or_switches_and_only_switching_changes_the_channel() {
        assert_eq!(ok("/model"), Command::Model(None));
        assert_eq!(ok("/model Qwen"), Command::Model(Some("Qwen".into())));
        assert!(!Command::Model(None).changes_channel());
        assert!(Command::Model(Some("qwen".into())).changes_channel());
        let e = err("/model a b");
        assert_eq!(e.command, Some("model"));
        assert!(e.message.contains("Usage: /model"));
    }

    #[test]
    fn system_keeps_its_text_verbatim() {
        assert_eq!(ok("/system"), Command::System(None));
        assert_eq!(
            ok("/system You are a pirate.\nSpeak like one!"),
            Command::System(Some("You are a pirate.\nSpeak like one!".into()))
        );
    }

    #[test]
    fn translate_takes_one_or_two_languages_or_off() {
        assert_eq!(ok("/translate"), Command::Translate(TranslateArg::Show));
        assert_eq!(ok("/translate off"), Command::Translate(TranslateArg::Off));
        assert_eq!(ok("/translate OFF"), Command::Translate(TranslateArg::Off));
        assert_eq!(
            ok("/translate en"),
            Command::Translate(TranslateArg::Langs(vec![lang("en")]))
        );
        let pair = Command::Translate(TranslateArg::Langs(vec![lang("en"), lang("zh")]));
        assert_eq!(ok("/translate en,zh"), pair);
        assert_eq!(ok("/translate en, zh"), pair);
        assert_eq!(ok("/translate english chinese"), pair);
        assert_eq!(ok("/translate EN,zh-CN"), pair);
        assert_eq!(
            ok("/translate en,en"),
            Command::Translate(TranslateArg::Langs(vec![lang("en")]))
        );
    }

    #[test]
    fn translate_rejects_unknown_languages_and_triples() {
        let e = err("/translate xx-nonsense");
        assert_eq!(e.command, Some("translate"));
        assert!(e.message.contains("xx-nonsense"), "{}", e.message);
        assert!(!e.message.contains('\n'));
        let e = err("/translate en,zh,fr");
        assert!(e.message.contains("two"), "{}", e.message);
    }

    #[test]
    fn remember_parses_add_list_delete_and_clear() {
        assert_eq!(ok("/remember"), Command::Remember(RememberArg::List));
        assert_eq!(
            ok("/remember  my cat is called Miso "),
            Command::Remember(RememberArg::Add("my cat is called Miso".into()))
        );
        assert_eq!(
            ok("/remember delete 2"),
            Command::Remember(RememberArg::Delete(2))
        );
        assert_eq!(
            ok("/pin remove #1"),
            Command::Remember(RememberArg::Delete(1))
        );
        assert_eq!(ok("/remember clear"), Command::Remember(RememberArg::Clear));
        // Sentences that merely start with those words are notes.
        assert_eq!(
            ok("/remember clear skies are forecast"),
            Command::Remember(RememberArg::Add("clear skies are forecast".into()))
        );
        assert_eq!(
            ok("/remember delete the old plan, we use plan B"),
            Command::Remember(RememberArg::Add(
                "delete the old plan, we use plan B".into()
            ))
        );
        let e = err("/remember delete 0");
        assert!(e.message.contains("number of the note"), "{}", e.message);
        let e = err(&format!("/remember {}", "x".repeat(MAX_NOTE_CHARS + 1)));
        assert!(e.message.contains("at most 300"), "{}", e.message);
    }

    #[test]
    fn set_parses_each_setting() {
        assert_eq!(
            ok("/set temperature 0.7"),
            Command::Set(Some(Setting::Temperature(0.7)))
        );
        assert_eq!(
            ok("/set temp=1"),
            Command::Set(Some(Setting::Temperature(1.0)))
        );
        assert_eq!(ok("/set top_p 0.9"), Command::Set(Some(Setting::TopP(0.9))));
        assert_eq!(ok("/set top-p 0.5"), Command::Set(Some(Setting::TopP(0.5))));
        assert_eq!(
            ok("/set max_tokens 300"),
            Command::Set(Some(Setting::MaxTokens(300)))
        );
        assert_eq!(ok("/set reset"), Command::Set(Some(Setting::Reset)));
        assert_eq!(ok("/set"), Command::Set(None));
        assert_eq!(
            ok("/set seed 42"),
            Command::Set(Some(Setting::Seed(Some(42))))
        );
        assert_eq!(
            ok("/set seed=random"),
            Command::Set(Some(Setting::Seed(None)))
        );
        assert_eq!(
            ok(r#"/set stop "\n\n" "User:" "say \"hi\"""#),
            Command::Set(Some(Setting::Stop(vec![
                "\n\n".into(),
                "User:".into(),
                "say \"hi\"".into()
            ])))
        );
        assert_eq!(
            ok("/set stop The End"),
            Command::Set(Some(Setting::Stop(vec!["The End".into()])))
        );
        assert_eq!(
            ok("/set stop none"),
            Command::Set(Some(Setting::Stop(vec![])))
        );
        // bounds are the bot's business
        assert_eq!(
            ok("/set temperature 99"),
            Command::Set(Some(Setting::Temperature(99.0)))
        );
    }

    #[test]
    fn set_rejects_bad_values_with_a_hint() {
        for (t, needle) in [
            ("/set temperature abc", "takes a number"),
            ("/set temperature NaN", "takes a number"),
            ("/set temperature inf", "takes a number"),
            ("/set max_tokens 1.5", "whole number"),
            ("/set max_tokens -3", "whole number"),
            ("/set top_p", "Usage: /set top_p VALUE"),
            ("/set top_p 0.1 0.2", "Usage: /set top_p VALUE"),
            ("/set colour red", "Unknown setting"),
            ("/set =5", "Usage: /set"),
            ("/set seed -1", "whole number"),
            ("/set seed 1 2", "Usage: /set seed VALUE"),
            ("/set stop", "Usage: /set stop"),
            (r#"/set stop "a" b"#, "in quotes"),
            (r#"/set stop "open"#, "not closed"),
            (r#"/set stop """#, "cannot be empty"),
            (r#"/set stop "1" "2" "3" "4" "5""#, "At most 4"),
        ] {
            let e = err(t);
            assert_eq!(e.command, Some("set"), "{t}");
            assert!(e.message.contains(needle), "{t}: {}", e.message);
            assert!(!e.message.contains('\n'));
        }
    }

    #[test]
    fn tr_takes_an_optional_language() {
        let de = TextLanguage::parse("de");
        assert_eq!(
            parse("/tr", None, Language::English),
            Some(Ok(Command::Tr(None)))
        );
        assert_eq!(
            parse("/tr de", None, Language::English),
            Some(Ok(Command::Tr(de)))
        );
        assert_eq!(
            parse("/TR German", None, Language::English),
            Some(Ok(Command::Tr(de)))
        );
        let e = err("/tr klingon");
        assert_eq!(e.command, Some("tr"));
        assert!(e.message.contains("Usage: /tr [LANG]"), "{}", e.message);
    }

    #[test]
    fn unknown_commands_suggest_the_closest() {
        let e = err("/hepl");
        assert_eq!(e.command, None);
        assert!(e.message.contains("Did you mean /help?"), "{}", e.message);
        assert!(err("/rest").message.contains("/reset"));
        assert!(err("/transalte en").message.contains("/translate"));
        assert!(err("/stat").message.contains("/stats"));
        assert!(err("/sys hi").message.contains("/system"));
        let e = err("/xyzzy");
        assert!(!e.message.contains("Did you mean"), "{}", e.message);
        assert!(e.message.contains("/help"));
    }

    #[test]
    fn list_has_every_command_once_with_valid_names() {
        let list = command_list(Language::English);
        let names: Vec<_> = list.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "help",
                "reset",
                "retry",
                "mode",
                "model",
                "system",
                "translate",
                "tr",
                "set",
                "remember",
                "stats",
                "why",
                "cancel",
                "forget",
                "export",
                "privacy"
            ]
        );
        for c in &list {
            // Telegram: 1-32 chars of a-z0-9_; Discord: description ≤ 100 chars.
            assert!(c
                .name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch == '_'));
            assert!(!c.description.is_empty() && c.description.chars().count() <= 100);
            // every listed name parses to that command (or its usage hint when it needs args)
            match parse(&format!("/{}", c.name), None, Language::English) {
                Some(Ok(cmd)) => assert_eq!(cmd.name(), c.name),
                Some(Err(e)) => assert_eq!(e.command, Some(c.name)),
                None => panic!("/{} is not a command", c.name),
            }
        }
        assert_eq!(
            list.iter()
                .filter(|c| c.admin_only)
                .map(|c| c.name)
                .collect::<Vec<_>>(),
            ["system"]
        );
    }

    #[test]
    fn help_hides_admin_commands_from_non_admins() {
        let user = help_text(Language::English, false, false);
        let admin = help_text(Language::English, true, false);
        assert!(!user.contains("/system"));
        assert!(admin.contains("/system [TEXT]"));
        assert!(user.contains("/translate [LANG[,LANG]|off]"));
        assert_eq!(
            user.lines().count(),
            1 + command_list(Language::English).len() - 1
        );
        assert_eq!(
            admin.lines().count(),
            1 + command_list(Language::English).len()
        );
    }

    #[test]
    fn help_in_a_group_shows_channel_changing_commands_to_admins_only() {
        let member = help_text(Language::English, false, true);
        let admin = help_text(Language::English, true, true);
        for name in [
            "/reset",
            "/mode",
            "/system",
            "/translate",
            "/set",
            "/remember",
        ] {
            assert!(!member.contains(name), "{name} in {member}");
            assert!(admin.contains(name), "{name} not in {admin}");
        }
        assert!(member.contains("/forget") && member.contains("/stats"));
        assert!(
            admin.contains("Switch persona, or list them (admins)"),
            "{admin}"
        );
    }

    #[test]
    fn command_error_displays_its_message() {
        let e = err("/hepl");
        assert_eq!(e.to_string(), e.message);
    }
}
