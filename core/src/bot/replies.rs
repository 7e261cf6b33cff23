//! Every line the bot says on its own (not the model's words), in the user's [`Language`]: the
//! words come from the catalogue ([`crate::i18n`]), this room puts them together. Command usage
//! hints belong to the grammar ([`crate::commands`]).
//!
//! The blocks the model reads (pinned notes, files, quotes) are prompts, not replies: they
//! stay English, like every instruction to the model.

use crate::conversation::{ContextWindow, WindowStats};
use crate::engine::SamplingParams;
use crate::i18n::Language;
use crate::store::{
    AnswerRecord, Forgetting, Forgotten, PromptSource, SamplingOverrides, StopCause,
};
use crate::t;
use crate::translate::TextLanguage;

/// The queue is full.
pub fn busy(lang: Language) -> String {
    t!(lang, "busy")
}
/// The bot is shutting down.
pub fn closing(lang: Language) -> String {
    t!(lang, "closing")
}
/// The engine failed.
pub fn engine_error(lang: Language) -> String {
    t!(lang, "engine-error")
}
/// The store could not take the user's message (a full disk, a database held elsewhere): it
/// was not answered.
pub fn not_saved_question(lang: Language) -> String {
    t!(lang, "not-saved-question")
}
/// The store could not take the answer just shown: the exchange may be forgotten.
pub fn not_saved_answer(lang: Language) -> String {
    t!(lang, "not-saved-answer")
}
/// The model produced nothing visible.
pub fn empty_answer(lang: Language) -> String {
    t!(lang, "empty-answer")
}
/// Too many messages.
pub fn rate_limited(lang: Language) -> String {
    t!(lang, "rate-limited")
}
/// `/reset` done.
pub fn reset(lang: Language) -> String {
    t!(lang, "reset-done")
}
/// `/retry` with nothing to retry.
pub fn nothing_to_retry(lang: Language) -> String {
    t!(lang, "nothing-to-retry")
}
/// `/retry` while answering.
pub fn still_answering(lang: Language) -> String {
    t!(lang, "still-answering")
}
/// `/cancel` done.
pub fn cancelled(lang: Language) -> String {
    t!(lang, "cancelled")
}
/// `/cancel` with nothing running.
pub fn nothing_to_cancel(lang: Language) -> String {
    t!(lang, "nothing-to-cancel")
}
/// A direct message from someone a platform's allowlists do not admit.
pub fn direct_message_refused(lang: Language) -> String {
    t!(lang, "direct-message-refused")
}
/// A group message to the bot from someone the allowlists do not admit (Telegram's
/// `refuse_in_groups`).
pub fn private_bot(lang: Language) -> String {
    t!(lang, "private-bot")
}
/// A slash command where the platform's allowlists do not let the bot answer.
pub fn not_enabled_here(lang: Language) -> String {
    t!(lang, "not-enabled-here")
}
/// `/system TEXT` by a non-admin.
pub fn admins_only(lang: Language) -> String {
    t!(lang, "admins-only")
}
/// A group member's command that would change the chat for everyone (`bot.group_settings`).
pub fn group_admins_only(lang: Language) -> String {
    t!(lang, "group-admins-only")
}
/// `/system off` done.
pub fn system_cleared(lang: Language) -> String {
    t!(lang, "system-cleared")
}
/// `/system TEXT` done.
pub fn system_set(lang: Language) -> String {
    t!(lang, "system-set")
}
/// `/translate off` done.
pub fn translate_off(lang: Language) -> String {
    t!(lang, "translate-off")
}
/// `/set reset` done.
pub fn set_reset(lang: Language) -> String {
    t!(lang, "set-reset")
}

/// A message over `bot.max_input_chars`.
pub fn too_long(lang: Language, limit: usize, got: usize) -> String {
    t!(lang, "too-long", limit = limit, got = got)
}
/// `/forget` done: what it deleted, in counts, and the notes of the user it kept (numbered as
/// `/remember` lists them).
pub fn forgot(
    lang: Language,
    done: &Forgotten,
    what: Forgetting,
    kept: &[(usize, &str)],
) -> String {
    let mut lines = Vec::new();
    if what.messages {
        lines.push(t!(lang, "forgot", count = done.messages));
        if done.answers + done.records > 0 {
            lines.push(t!(
                lang,
                "forgot-made",
                answers = done.answers,
                records = done.records
            ));
        }
    }
    if what.notes {
        lines.push(t!(lang, "forgot-notes", count = done.notes));
    } else if !kept.is_empty() {
        let listed: Vec<String> = kept
            .iter()
            .map(|(n, text)| format!("{n}. {text}"))
            .collect();
        lines.push(t!(lang, "notes-kept", notes = listed.join("\n")));
    }
    lines.join("\n")
}
/// `/export` sent the file.
pub fn export_sent(lang: Language) -> String {
    t!(lang, "export-sent")
}
/// The line sent with the `/export` file.
pub fn export_caption(lang: Language) -> String {
    t!(lang, "export-caption")
}
/// `/export` could not reach the user privately.
pub fn export_failed(lang: Language) -> String {
    t!(lang, "export-failed")
}
/// `/export` again within the hour.
pub fn export_too_soon(lang: Language, minutes: u64) -> String {
    t!(lang, "export-too-soon", minutes = minutes)
}
/// `/privacy`: what is stored, for how long (`retain_days`, 0 = until deleted), where it goes
/// (`remote`: to an OpenAI-compatible server, whose address is never shown), how to delete it.
pub fn privacy(lang: Language, retain_days: u32, remote: bool) -> String {
    let kept = match retain_days {
        0 => t!(lang, "privacy-kept-forever"),
        days => t!(lang, "privacy-kept-days", days = days),
    };
    let goes = if remote {
        t!(lang, "privacy-remote")
    } else {
        t!(lang, "privacy-local")
    };
    [
        t!(lang, "privacy-stored"),
        kept,
        goes,
        t!(lang, "privacy-delete"),
    ]
    .join("\n\n")
}
/// `/mode NAME` done.
pub fn mode_set(lang: Language, name: &str) -> String {
    t!(lang, "mode-set", name = name)
}
/// `/mode NAME` with an unknown name.
pub fn unknown_mode(lang: Language, name: &str, known: &str) -> String {
    t!(lang, "unknown-mode", name = name, known = known)
}
/// `/translate LANGS` done.
pub fn translate_on(lang: Language, langs: &str, pair: bool) -> String {
    if pair {
        t!(lang, "translate-on-pair", languages = langs)
    } else {
        t!(lang, "translate-on", languages = langs)
    }
}
/// `/translate` with no argument.
pub fn translate_status(lang: Language, langs: Option<&str>) -> String {
    match langs {
        Some(l) => t!(lang, "translate-status", languages = l),
        None => t!(lang, "translate-status-off"),
    }
}
/// A `/set` value out of bounds.
pub fn out_of_bounds(lang: Language, name: &str, lo: &str, hi: &str) -> String {
    t!(lang, "out-of-bounds", name = name, low = lo, high = hi)
}
/// A bound the value may come near but not reach (`0 (excluded)`).
pub fn excluded(lang: Language, value: &str) -> String {
    t!(lang, "bound-excluded", value = value)
}
/// `/remember` with nothing pinned.
pub fn no_notes(lang: Language) -> String {
    t!(lang, "no-notes")
}
/// `/remember clear` done.
pub fn notes_cleared(lang: Language) -> String {
    t!(lang, "notes-cleared")
}
/// `/remember` lists the notes.
pub fn notes(lang: Language, notes: &[String]) -> String {
    let mut out = t!(lang, "notes-title");
    for (i, n) in notes.iter().enumerate() {
        out.push_str(&format!("\n{}. {n}", i + 1));
    }
    out.push('\n');
    out.push_str(&t!(lang, "notes-footer"));
    out
}
/// `/remember TEXT` done.
pub fn note_added(lang: Language, n: usize) -> String {
    t!(lang, "note-added", number = n)
}
/// `/remember TEXT` with every slot taken.
pub fn notes_full(lang: Language, max: usize) -> String {
    t!(lang, "notes-full", max = max)
}
/// `/remember TEXT` over the pinned budget: the note takes `needs` tokens, `room` are left.
pub fn note_too_long(lang: Language, needs: usize, room: usize) -> String {
    t!(lang, "note-too-long", needs = needs, room = room)
}
/// `/system TEXT` over the pinned budget.
pub fn system_too_long(lang: Language, tokens: usize, budget: usize) -> String {
    t!(lang, "system-too-long", tokens = tokens, budget = budget)
}
/// `/remember delete N` done.
pub fn note_deleted(lang: Language, n: usize, text: &str) -> String {
    t!(lang, "note-deleted", number = n, text = text)
}
/// `/remember delete N` with no such note.
pub fn no_such_note(lang: Language, n: usize, count: usize) -> String {
    t!(lang, "no-such-note", number = n, count = count)
}
/// The block pinned notes add to the system prompt (for the model: English).
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
pub fn set_done(lang: Language, name: &str, value: &str) -> String {
    t!(lang, "set-done", name = name, value = value)
}
/// Stop strings as users typed them (`"\n\n", "User:"`), or `none`.
pub fn stops(lang: Language, stop: &[String]) -> String {
    if stop.is_empty() {
        return t!(lang, "value-none");
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
/// A seed as `/set` shows it: the number, or `random`.
pub fn seed(lang: Language, seed: Option<u64>) -> String {
    seed.map_or_else(|| t!(lang, "value-random"), |s| s.to_string())
}
/// `/set` alone: the chat's generation settings; `*` marks what `/set` changed here.
pub fn settings(lang: Language, p: &SamplingParams, o: &SamplingOverrides) -> String {
    let mark = |here: bool| if here { " *" } else { "" };
    format!(
        "{}\ntemperature {}{}\ntop_p {}{}\nmax_tokens {}{}\nseed {}{}\nstop {}{}\n{}",
        t!(lang, "settings-title"),
        number(p.temperature),
        mark(o.temperature.is_some()),
        number(p.top_p),
        mark(o.top_p.is_some()),
        p.max_tokens,
        mark(o.max_tokens.is_some()),
        seed(lang, p.seed),
        mark(o.seed.is_some()),
        stops(lang, &p.stop),
        mark(o.stop.is_some()),
        t!(lang, "settings-footer"),
    )
}

/// `/mode` alone: every persona with its description, the current one marked.
pub fn modes<'a>(
    lang: Language,
    current: &str,
    modes: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    marked_list(lang, &t!(lang, "modes-title"), "/mode", current, modes)
}

/// `/model` alone: the models, the channel's current one marked.
pub fn models<'a>(
    lang: Language,
    current: &str,
    models: impl IntoIterator<Item = (&'a str, String)>,
) -> String {
    marked_list(lang, &t!(lang, "models-title"), "/model", current, models)
}

/// A `title:` list of `name — detail` lines with `current` marked, and how to switch.
fn marked_list<'a, D: std::fmt::Display>(
    lang: Language,
    title: &str,
    command: &str,
    current: &str,
    items: impl IntoIterator<Item = (&'a str, D)>,
) -> String {
    let mut text = format!("{title}:\n");
    let current_mark = format!(" {}", t!(lang, "list-current"));
    for (name, detail) in items {
        let mark = if name == current {
            current_mark.as_str()
        } else {
            ""
        };
        text.push_str(&format!("{name}{mark} — {detail}\n"));
    }
    text.push_str(&t!(lang, "list-switch", command = command));
    text
}

/// `/model NAME` done.
pub fn model_set(lang: Language, name: &str) -> String {
    t!(lang, "model-set", name = name)
}

/// `/model NAME` with an unknown name.
pub fn unknown_model(lang: Language, name: &str, known: &str) -> String {
    t!(lang, "unknown-model", name = name, known = known)
}

/// `/model NAME` whose model could not be loaded; the chat stays on its model.
pub fn model_unavailable(lang: Language, name: &str) -> String {
    t!(lang, "model-unavailable", name = name)
}

/// `/system` alone: the system prompt in use.
pub fn system_prompt(lang: Language, text: &str) -> String {
    t!(lang, "system-prompt", text = text)
}

/// A language's name as `lang` writes it (`Deutsch` is `German` in English, `德语` in Chinese).
pub fn language_name(lang: Language, of: TextLanguage) -> String {
    crate::i18n::text(lang, &format!("language-{}", of.code()), &[])
}

/// Language names as a list in a sentence (`French and Chinese`).
pub fn languages(lang: Language, names: &[String]) -> String {
    match names {
        [first, second] => t!(
            lang,
            "language-pair",
            first = first.as_str(),
            second = second.as_str()
        ),
        _ => names.join(", "),
    }
}

/// `/stats`: what the channel's next answer would see, and how the last one went.
pub fn stats(
    lang: Language,
    stored_turns: usize,
    window: &ContextWindow,
    params: &SamplingParams,
    last: Option<&WindowStats>,
    model: &str,
) -> String {
    let mut text = t!(
        lang,
        "stats",
        stored = stored_turns,
        turns = window.turns,
        tokens = window.tokens,
        budget = window.budget,
        reserved = params.max_tokens,
        dropped = window.dropped,
    );
    text.push('\n');
    if let Some(l) = last {
        let speed = format!("{:.1}", l.tokens_per_second);
        let (cached, prompt, shared) = (l.cached_tokens, l.prompt_tokens, l.shared_tokens);
        text.push_str(&t!(
            lang,
            "stats-last",
            cached = cached,
            shared = shared,
            prompt = prompt,
            speed = speed
        ));
        text.push('\n');
    }
    text.push_str(&t!(
        lang,
        "stats-sampling",
        temperature = number(params.temperature),
        top_p = number(params.top_p),
        max_tokens = params.max_tokens,
        model = model,
    ));
    text
}

/// `/why` as a reply to a message the bot has no record of.
pub fn no_record(lang: Language) -> String {
    t!(lang, "no-record")
}

/// `/why` in a chat where the bot has not answered yet (or its records were pruned).
pub fn no_answer_yet(lang: Language) -> String {
    t!(lang, "no-answer-yet")
}

/// Where an answer's instructions came from, and why it stopped, as `/why` says them.
fn why_parts(lang: Language, r: &AnswerRecord) -> (String, String, String) {
    let source = match r.prompt_source {
        Some(PromptSource::System) => t!(lang, "why-source-system"),
        Some(PromptSource::Translation) => t!(lang, "why-source-translation"),
        Some(PromptSource::Persona) | None => {
            t!(lang, "why-source-persona", persona = r.persona.as_str())
        }
    };
    let stop = match r.stop {
        Some(StopCause::EndOfTurn) | None => t!(lang, "why-stop-end"),
        Some(StopCause::MaxTokens) => t!(lang, "why-stop-max-tokens"),
        Some(StopCause::StopString) => t!(lang, "why-stop-string"),
        Some(StopCause::Cancelled) => t!(lang, "why-stop-cancelled"),
        Some(StopCause::Failed) => t!(lang, "why-stop-failed"),
    };
    let seed = match r.seed {
        Some(s) if r.temperature > 0.0 => t!(lang, "why-seed-repeatable", seed = s.to_string()),
        Some(s) => t!(lang, "why-seed-unused", seed = s.to_string()),
        None => t!(lang, "why-no-seed"),
    };
    (source, stop, seed)
}

/// `/why`: how an answer was made.
pub fn why(lang: Language, r: &AnswerRecord) -> String {
    let (source, stop, seed) = why_parts(lang, r);
    let mut text = t!(
        lang,
        "why-head",
        model = r.model.as_str(),
        engine = r.engine.as_str(),
        source = source,
        notes_used = r.notes_used,
        notes_total = r.notes_total,
    );
    text.push('\n');
    text.push_str(&if r.prompt_source != Some(PromptSource::Translation) {
        t!(
            lang,
            "why-conversation",
            included = r.turns_included,
            dropped = r.turns_dropped,
            prompt = r.prompt_tokens,
            pinned = r.pinned_tokens,
            history = r.history_tokens,
            new = r.new_tokens,
            cached = r.cached_tokens,
            shared = r.shared_tokens,
        )
    } else {
        let (prompt, cached, shared) = (r.prompt_tokens, r.cached_tokens, r.shared_tokens);
        t!(
            lang,
            "why-translation-prompt",
            prompt = prompt,
            cached = cached,
            shared = shared
        )
    });
    text.push('\n');
    text.push_str(&t!(
        lang,
        "why-answer",
        tokens = r.completion_tokens,
        stop = stop,
        temperature = number(r.temperature),
        top_p = number(r.top_p),
        top_k = r.top_k,
        penalty = number(f64::from(r.repeat_penalty)),
        max_tokens = r.max_tokens,
        stops = r.stop_strings,
        seed = seed,
        first = format!("{:.2}", r.time_to_first_token_ms as f64 / 1000.0),
        speed = format!("{:.1}", r.tokens_per_second),
    ));
    text
}

/// What the bot can read, said whenever it could not read a file.
fn files_we_read(lang: Language, max_bytes: u64) -> String {
    t!(lang, "files-we-read", size = byte_size(lang, max_bytes))
}
/// A size as people read it (`256 KiB`, `1.5 MiB`, `900 bytes`).
pub fn byte_size(lang: Language, bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b < KIB => t!(lang, "size-bytes", count = b),
        b if b < KIB * KIB => format!("{} KiB", number(b as f64 / KIB as f64)),
        b => format!(
            "{} MiB",
            number((b as f64 / (KIB * KIB) as f64 * 10.0).round() / 10.0)
        ),
    }
}
/// A file over `attachments.max_bytes`.
pub fn file_too_large(lang: Language, name: &str, size: u64, max_bytes: u64) -> String {
    let (size, readable) = (byte_size(lang, size), files_we_read(lang, max_bytes));
    t!(
        lang,
        "file-too-large",
        name = name,
        size = size,
        readable = readable
    )
}
/// What kind of media file the bot cannot open, in words (`images`).
fn media_kind(lang: Language, what: &str) -> String {
    match what {
        "images" => t!(lang, "media-images"),
        "audio" => t!(lang, "media-audio"),
        _ => t!(lang, "media-video"),
    }
}
/// An image, audio or video file (`what`: "images", "audio" or "video").
pub fn file_is_media(lang: Language, name: &str, what: &str, max_bytes: u64) -> String {
    let (kind, readable) = (media_kind(lang, what), files_we_read(lang, max_bytes));
    t!(
        lang,
        "file-is-media",
        name = name,
        kind = kind,
        readable = readable
    )
}
/// A file that is not UTF-8 text (or says it is of a kind the bot does not read).
pub fn file_not_text(lang: Language, name: &str, max_bytes: u64) -> String {
    let readable = files_we_read(lang, max_bytes);
    t!(lang, "file-not-text", name = name, readable = readable)
}
/// A download that failed or took too long.
pub fn file_not_fetched(lang: Language, name: &str) -> String {
    t!(lang, "file-not-fetched", name = name)
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
pub fn tr_needs_reply(lang: Language) -> String {
    t!(lang, "tr-needs-reply")
}
/// `/tr` on a message with nothing to translate (emoji, a link, code).
pub fn tr_nothing(lang: Language) -> String {
    t!(lang, "tr-nothing")
}
/// `/tr` on a message already in the language asked for (`language`: its name).
pub fn tr_already(lang: Language, language: &str) -> String {
    t!(lang, "tr-already", language = language)
}
/// A translation that came out in the wrong language twice.
pub fn could_not_translate(lang: Language, language: &str) -> String {
    t!(lang, "could-not-translate", language = language)
}
