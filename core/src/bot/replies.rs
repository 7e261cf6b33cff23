//! Every line the bot says on its own (not the model's words), in one catalogue, so that they
//! can be translated in one place later. Command usage hints belong to the grammar
//! ([`crate::commands`]).

use crate::conversation::{ContextWindow, WindowStats};
use crate::engine::SamplingParams;
use crate::store::{AnswerRecord, PromptSource, SamplingOverrides, StopCause};

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
/// A direct message from someone a platform's allowlists do not admit.
pub const DIRECT_MESSAGE_REFUSED: &str =
    "Sorry, this is a private bot: I only answer direct messages from people on its list.";
/// `/system TEXT` by a non-admin.
pub const ADMINS_ONLY: &str = "Only admins can change the system prompt.";
/// A group member's command that would change the chat for everyone (`bot.group_settings`).
pub const GROUP_ADMINS_ONLY: &str =
    "Sorry, in this group only admins can change that for everyone.";
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
/// `/remember TEXT` over the pinned budget: the note takes `needs` tokens, `room` are left.
pub fn note_too_long(needs: usize, room: usize) -> String {
    format!(
        "That note doesn't fit: it takes about {needs} tokens, and this chat has room for \
         {room} more pinned tokens (what is pinned may fill at most a quarter of what I can \
         read at once). Shorten it, or unpin one with /remember delete N."
    )
}
/// `/system TEXT` over the pinned budget.
pub fn system_too_long(tokens: usize, budget: usize) -> String {
    format!(
        "That system prompt is too long: it takes about {tokens} tokens, and what is pinned \
         may take at most {budget} (a quarter of what I can read at once). Please shorten it."
    )
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
/// A setting's value as people write it: four significant digits at most, and an exponent
/// for the very small or large (never the hundreds of digits `{}` gives a tiny float).
pub fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{}", if v == 0.0 { 0.0 } else { v });
    }
    // Rounding through scientific notation keeps four significant digits at any scale.
    let rounded: f64 = format!("{v:.3e}").parse().unwrap_or(v);
    if (1e-4..1e6).contains(&rounded.abs()) {
        format!("{rounded}")
    } else {
        format!("{rounded:e}")
    }
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
        number(p.temperature),
        mark(o.temperature.is_some()),
        number(p.top_p),
        mark(o.top_p.is_some()),
        p.max_tokens,
        mark(o.max_tokens.is_some()),
        seed,
        mark(o.seed.is_some()),
        stops(&p.stop),
        mark(o.stop.is_some()),
    )
}

/// `/mode` alone: every persona with its description, the current one marked.
pub fn modes<'a>(current: &str, modes: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    marked_list("Modes", "/mode", current, modes)
}

/// `/model` alone: the models, the channel's current one marked.
pub fn models<'a>(current: &str, models: impl IntoIterator<Item = (&'a str, String)>) -> String {
    marked_list("Models", "/model", current, models)
}

/// A `title:` list of `name — detail` lines with `current` marked, and how to switch.
fn marked_list<'a, D: std::fmt::Display>(
    title: &str,
    command: &str,
    current: &str,
    items: impl IntoIterator<Item = (&'a str, D)>,
) -> String {
    let mut text = format!("{title}:\n");
    for (name, detail) in items {
        let mark = if name == current { " (current)" } else { "" };
        text.push_str(&format!("{name}{mark} — {detail}\n"));
    }
    text.push_str(&format!("Switch with {command} NAME."));
    text
}

/// `/model NAME` done.
pub fn model_set(name: &str) -> String {
    format!("Model is now {name}. The conversation goes on with it.")
}

/// `/model NAME` with an unknown name.
pub fn unknown_model(name: &str, known: &str) -> String {
    format!("There is no model {name}. Models: {known}.")
}

/// `/model NAME` whose model could not be loaded; the chat stays on its model.
pub fn model_unavailable(name: &str) -> String {
    format!("Sorry, the model {name} could not be loaded. This chat stays on its model.")
}

/// `/system` alone: the system prompt in use.
pub fn system_prompt(text: &str) -> String {
    format!("System prompt:\n{text}")
}

/// Language names as a list in a sentence (`French and Chinese`).
pub fn languages(names: &[&str]) -> String {
    names.join(" and ")
}

/// `/stats`: what the channel's next answer would see, and how the last one went.
pub fn stats(
    stored_turns: usize,
    window: &ContextWindow,
    params: &SamplingParams,
    last: Option<&WindowStats>,
    model: &str,
) -> String {
    let mut text = format!(
        "Turns stored: {}\nIn the window: {} turns, {} of {} tokens ({} reserved for the answer)\nDropped from the window: {}\n",
        stored_turns,
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
        number(params.temperature),
        number(params.top_p),
        params.max_tokens,
        model
    ));
    text
}

/// `/why` as a reply to a message the bot has no record of.
pub const NO_RECORD: &str = "I have no record of that message: either I did not write it, or it \
is older than what I keep. Reply /why to one of my answers, or send /why alone for my last one.";

/// `/why` in a chat where the bot has not answered yet (or its records were pruned).
pub const NO_ANSWER_YET: &str = "I have no answer to explain in this chat yet.";

/// `/why`: how an answer was made.
pub fn why(r: &AnswerRecord) -> String {
    let prompt = match r.prompt_source {
        Some(PromptSource::System) => "this chat's own /system prompt".to_string(),
        Some(PromptSource::Translation) => "the translation prompt".to_string(),
        Some(PromptSource::Persona) | None => format!("persona \"{}\" (/mode)", r.persona),
    };
    let stop = match r.stop {
        Some(StopCause::EndOfTurn) | None => "the model ended its turn",
        Some(StopCause::MaxTokens) => "it reached max_tokens (or the end of the context)",
        Some(StopCause::StopString) => "it met one of this chat's stop strings",
        Some(StopCause::Cancelled) => "it was cancelled",
        Some(StopCause::Failed) => "the engine failed part way",
    };
    let seed = match r.seed {
        Some(s) if r.temperature > 0.0 => {
            format!("seed {s} (/set seed {s} gives the same answer again)")
        }
        Some(s) => format!("seed {s} (unused: temperature 0 always picks the likeliest word)"),
        None => "no seed".to_string(),
    };
    let mut text = format!(
        "How I wrote that answer:\nModel: {} ({} engine)\nInstructions: {prompt}, {} of {} pinned notes\n",
        r.model, r.engine, r.notes_used, r.notes_total,
    );
    if r.prompt_source != Some(PromptSource::Translation) {
        text.push_str(&format!(
            "Conversation: {} earlier turns included, {} left out by the window\nPrompt: {} tokens (pinned {}, history {}, new {}), {} reused from the cache\n",
            r.turns_included, r.turns_dropped, r.prompt_tokens, r.pinned_tokens, r.history_tokens, r.new_tokens, r.cached_tokens,
        ));
    } else {
        text.push_str(&format!(
            "Prompt: {} tokens, {} reused from the cache\n",
            r.prompt_tokens, r.cached_tokens
        ));
    }
    text.push_str(&format!(
        "Answer: {} tokens; it stopped because {stop}\nSampling: temperature {}, top_p {}, top_k {}, repeat penalty {}, max_tokens {}, {} stop strings, {seed}\nSpeed: first token after {:.2} s, {:.1} tokens/s",
        r.completion_tokens,
        number(r.temperature),
        number(r.top_p),
        r.top_k,
        number(f64::from(r.repeat_penalty)),
        r.max_tokens,
        r.stop_strings,
        r.time_to_first_token_ms as f64 / 1000.0,
        r.tokens_per_second,
    ));
    text
}

/// What the bot can read, said whenever it could not read a file.
fn files_we_read(max_bytes: u64) -> String {
    format!(
        "I can read text files (txt, md, csv, json, log, source code and the like) up to {}.",
        byte_size(max_bytes)
    )
}
/// A size as people read it (`256 KiB`, `1.5 MiB`, `900 bytes`).
pub fn byte_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b < KIB => format!("{b} bytes"),
        b if b < KIB * KIB => format!("{} KiB", number(b as f64 / KIB as f64)),
        b => format!(
            "{} MiB",
            number((b as f64 / (KIB * KIB) as f64 * 10.0).round() / 10.0)
        ),
    }
}
/// A file over `attachments.max_bytes`.
pub fn file_too_large(name: &str, size: u64, max_bytes: u64) -> String {
    format!(
        "{name} is too large for me ({}). {}",
        byte_size(size),
        files_we_read(max_bytes)
    )
}
/// An image, audio or video file (`what`: "images").
pub fn file_is_media(name: &str, what: &str, max_bytes: u64) -> String {
    format!(
        "Sorry, I can't open {what} ({name}). {}",
        files_we_read(max_bytes)
    )
}
/// A file that is not UTF-8 text (or says it is of a kind the bot does not read).
pub fn file_not_text(name: &str, max_bytes: u64) -> String {
    format!(
        "Sorry, {name} isn't a text file I can read. {}",
        files_we_read(max_bytes)
    )
}
/// A download that failed or took too long.
pub fn file_not_fetched(name: &str) -> String {
    format!("Sorry, I couldn't download {name}. Please try sending it again.")
}
/// A file's text as the model sees it in the question: named, fenced (with a fence longer
/// than any run of backticks inside), and marked when only its start fitted.
pub fn file_block(name: &str, text: &str, trimmed: bool) -> String {
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let note = if trimmed {
        "\n(The file was too long: only its beginning is shown.)"
    } else {
        ""
    };
    format!("File {name}:\n{fence}\n{text}\n{fence}{note}")
}
/// The message a question replies to, as the model sees it above the question: context to
/// read, not a second question to answer.
pub fn quote_block(author: &str, is_bot: bool, text: &str, trimmed: bool) -> String {
    let who = if is_bot {
        "your earlier message".to_string()
    } else {
        format!("a message by {author}")
    };
    let mut out = format!("[This replies to {who}:");
    for line in text.lines() {
        out.push_str("\n> ");
        out.push_str(line);
    }
    if trimmed {
        out.push_str("\n> (…shortened)");
    }
    out.push(']');
    out
}
/// `/tr` sent without replying to a message.
pub const TR_NEEDS_REPLY: &str =
    "Reply to a message with /tr (or /tr LANG, e.g. /tr de) and I'll translate it.";
/// `/tr` on a message with nothing to translate (emoji, a link, code).
pub const TR_NOTHING: &str = "There's nothing in that message for me to translate.";
/// `/tr` on a message already in the language asked for.
pub fn tr_already(lang: &str) -> String {
    format!("That message is already in {lang}. Try /tr LANG for another language.")
}
/// A translation that came out in the wrong language twice.
pub fn could_not_translate(lang: &str) -> String {
    format!("Sorry, I couldn't translate that into {lang}: my model kept answering in another language.")
}
