# Parley's own words (not the model's), in English: the reference every other language follows.
# Command names (/reset, /translate off) and setting names (temperature, top_p) stay as they are
# in every language: users type them.

## Refusals and states

busy = I'm busy with other messages right now. Please try again in a moment.
closing = I'm restarting. Please send that again in a minute.
engine-error = Sorry, something went wrong while I was answering. Please try again.
empty-answer = (I have no answer to that.)
not-saved-question = Sorry, I could not save your message (my storage is failing), so I did not answer it. Please try again later.
not-saved-answer = Note: I could not save this exchange (my storage is failing), so I may not remember it.
rate-limited = You're sending messages faster than I can read them. Please wait a minute.
too-long = That message is too long for me ({ $got } characters; the limit is { $limit }). Please shorten it or split it up.
direct-message-refused = Sorry, this is a private bot: I only answer direct messages from people on its list.
private-bot = Sorry, this is a private bot: I only talk to people on its list.
not-enabled-here = Sorry, I'm not enabled here.
admins-only = Only admins can change the system prompt.
group-admins-only = Sorry, in this group only admins can change that for everyone.

## Commands that answer with a line

reset-done = Done: I've forgotten this conversation. Let's start afresh.
nothing-to-retry = There's no message of yours to answer again.
still-answering = I'm still answering. Send /cancel first if you want me to start over.
cancelled = Stopped.
nothing-to-cancel = I'm not writing anything right now.
forgot = { $count ->
    [0] I had no messages of yours stored in this chat.
    [one] Deleted your { $count } stored message in this chat.
   *[other] Deleted your { $count } stored messages in this chat.
}
system-cleared = System prompt back to the persona's.
system-set = System prompt set for this chat.
system-prompt = System prompt:
    { $text }
system-too-long = That system prompt is too long: it takes about { $tokens } tokens, and what is pinned may take at most { $budget } (a quarter of what I can read at once). Please shorten it.
mode-set = Mode is now { $name }.
unknown-mode = There is no mode { $name }. Modes: { $known }.
modes-title = Modes
model-set = Model is now { $name }. The conversation goes on with it.
unknown-model = There is no model { $name }. Models: { $known }.
model-unavailable = Sorry, the model { $name } could not be loaded. This chat stays on its model.
models-title = Models
list-current = (current)
list-switch = Switch with { $command } NAME.

## Translation

translate-off = Translation is off.
translate-on = Translating every message into { $languages }. Send /translate off to stop.
translate-on-pair = Translating every message between { $languages }. Send /translate off to stop.
translate-status = Translating into { $languages }. Send /translate off to stop.
translate-status-off = Translation is off. Turn it on with /translate LANG or /translate LANG,LANG.
language-pair = { $first } and { $second }
tr-needs-reply = Reply to a message with /tr (or /tr LANG, e.g. /tr de) and I'll translate it.
tr-nothing = There's nothing in that message for me to translate.
tr-already = That message is already in { $language }. Try /tr LANG for another language.
could-not-translate = Sorry, I couldn't translate that into { $language }: my model kept answering in another language.

## Settings

set-reset = Settings back to the defaults.
set-done = { $name } is now { $value } in this chat.
out-of-bounds = { $name } must be between { $low } and { $high }.
bound-excluded = { $value } (excluded)
value-none = none
value-random = random
settings-title = Settings in this chat:
settings-footer = (* set here) Change one with /set NAME VALUE; /set reset restores the defaults.

## Pinned notes

no-notes = Nothing pinned in this chat. /remember TEXT pins a fact that stays in my context however long the chat gets.
notes-cleared = Unpinned every note in this chat.
notes-title = Pinned in this chat:
notes-footer = /remember delete N unpins one; /remember clear unpins all.
note-added = Pinned as note { $number }: I'll keep it in mind in this chat, even after /reset.
notes-full = This chat already has { $max } pinned notes. Unpin one with /remember delete N.
note-too-long = That note doesn't fit: it takes about { $needs } tokens, and this chat has room for { $room } more pinned tokens (what is pinned may fill at most a quarter of what I can read at once). Shorten it, or unpin one with /remember delete N.
note-deleted = Unpinned note { $number }: { $text }
no-such-note = { $count ->
    [0] There is no note { $number }: nothing is pinned in this chat.
    [one] There is no note { $number }: only note 1 is pinned.
   *[other] There is no note { $number }: notes are numbered 1 to { $count }.
}

## /stats

stats = Turns stored: { $stored }
    In the window: { $turns } turns, { $tokens } of { $budget } tokens ({ $reserved } reserved for the answer)
    Dropped from the window: { $dropped }
stats-last = Last answer: { $cached } of { $prompt } prompt tokens from this chat's cache, { $shared } from the shared persona prompt, { $speed } tokens/s
stats-sampling = Sampling: temperature { $temperature }, top_p { $top_p }, max_tokens { $max_tokens }
    Model: { $model }

## /why

no-record = I have no record of that message: either I did not write it, or it is older than what I keep. Reply /why to one of my answers, or send /why alone for my last one.
no-answer-yet = I have no answer to explain in this chat yet.
why-source-system = this chat's own /system prompt
why-source-translation = the translation prompt
why-source-persona = persona "{ $persona }" (/mode)
why-stop-end = the model ended its turn
why-stop-max-tokens = it reached max_tokens (or the end of the context)
why-stop-string = it met one of this chat's stop strings
why-stop-cancelled = it was cancelled
why-stop-failed = the engine failed part way
why-seed-repeatable = seed { $seed } (/set seed { $seed } gives the same answer again)
why-seed-unused = seed { $seed } (unused: temperature 0 always picks the likeliest word)
why-no-seed = no seed
why-head = How I wrote that answer:
    Model: { $model } ({ $engine } engine)
    Instructions: { $source }, { $notes_used } of { $notes_total } pinned notes
why-conversation = Conversation: { $included } earlier turns included, { $dropped } left out by the window
    Prompt: { $prompt } tokens (pinned { $pinned }, history { $history }, new { $new }), { $cached } reused from this chat's cache, { $shared } from the shared persona prompt
why-translation-prompt = Prompt: { $prompt } tokens, { $cached } reused from this chat's cache, { $shared } from the shared persona prompt
why-answer = Answer: { $tokens } tokens; it stopped because { $stop }
    Sampling: temperature { $temperature }, top_p { $top_p }, top_k { $top_k }, repeat penalty { $penalty }, max_tokens { $max_tokens }, { $stops } stop strings, { $seed }
    Speed: first token after { $first } s, { $speed } tokens/s

## Files

size-bytes = { $count ->
    [one] { $count } byte
   *[other] { $count } bytes
}
files-we-read = I can read text files (txt, md, csv, json, log, source code and the like) up to { $size }.
file-too-large = { $name } is too large for me ({ $size }). { $readable }
file-is-media = Sorry, I can't open { $kind } ({ $name }). { $readable }
media-images = images
media-audio = audio
media-video = videos
file-not-text = Sorry, { $name } isn't a text file I can read. { $readable }
file-not-fetched = Sorry, I couldn't download { $name }. Please try sending it again.

## The command menu and /help

help-title = Commands:
help-admins = (admins)
usage = Usage: { $command }
usage-unknown = Send /help to see the commands.
command-help = List the commands
command-reset = Forget this conversation and start again
command-retry = Answer the last message again
command-mode = Switch persona, or list them
command-model = Switch this chat's model, or list them
command-system = Set this chat's system prompt, or show it
command-translate = Translate every message: one language or a pair (en,zh), or off
command-tr = Reply to a message with this to translate it (into LANG)
command-set = Show or change temperature, top_p, max_tokens, seed or stop, or reset them
command-remember = Pin a fact that stays in every answer's context, or list the pinned ones
command-stats = Show the context window and speed
command-why = Explain how the last answer (or the one you reply to) was made
command-cancel = Stop the answer being written
command-forget = Delete your messages here and what was made from them (or your notes, or all)
command-export = Get a file, privately, of everything I keep about you
command-privacy = What I store, for how long, where it goes, how to delete it

## Mistakes in a command

unknown-command = Unknown command /{ $command }. Send /help for the list.
unknown-command-near = Unknown command /{ $command }. Did you mean /{ $suggestion }? Send /help for the list.
unknown-language = Unknown language "{ $word }". Use codes like en, zh, fr, de, es, ja. { $usage }
too-many-languages = At most two languages (a pair translates both ways). { $usage }
note-number = Give the number of the note to delete, as /remember lists it, e.g. /remember delete 2
note-chars = A note may be at most { $max } characters (this one has { $count }).
unknown-setting = Unknown setting "{ $name }": use temperature, top_p, max_tokens, seed, stop or reset.
takes-number = { $name } takes a number, e.g. /set { $name } { $example }
seed-whole = seed takes a whole number or "random", e.g. /set seed 42
max-tokens-whole = max_tokens takes a whole number, e.g. /set max_tokens 300
stop-quotes = Put each stop string in quotes. { $usage }
stop-unclosed = A quote is not closed. { $usage }
stop-empty = A stop string cannot be empty.
stop-too-many = At most { $max } stop strings.
stop-too-long = A stop string may be at most { $max } characters.

## Language names, as users read them (the model's prompts name languages in English, apart)

language-en = English
language-zh = Chinese
language-es = Spanish
language-fr = French
language-de = German
language-ja = Japanese
language-ko = Korean
language-ru = Russian
language-pt = Portuguese
language-it = Italian
language-ar = Arabic
language-hi = Hindi
language-nl = Dutch
language-pl = Polish
language-tr = Turkish
language-uk = Ukrainian
language-vi = Vietnamese
language-id = Indonesian
language-th = Thai
language-sv = Swedish
language-da = Danish
language-nb = Norwegian
language-fi = Finnish
language-cs = Czech
language-sk = Slovak
language-hu = Hungarian
language-ro = Romanian
language-el = Greek
language-he = Hebrew
language-bg = Bulgarian
language-sr = Serbian
language-hr = Croatian
language-ca = Catalan
language-fa = Persian
language-ur = Urdu
language-bn = Bengali
language-ta = Tamil
language-ka = Georgian
language-hy = Armenian
language-tl = Tagalog

## Privacy: /forget, /export, /privacy

forgot-made = Also deleted: { $answers } of my answers and translations made from them, and { $records } /why records.
forgot-notes = Deleted { $count } of your pinned notes in this chat.
notes-kept = Your pinned notes here are kept (delete them with /forget notes):
    { $notes }
export-sent = I've sent you a file, privately, with everything I keep about you.
export-caption = Everything Parley keeps about you: your messages, the answers to them, your notes and your direct chats' settings.
export-failed = I couldn't send you the file privately. Start a direct chat with me, then send /export again.
export-too-soon = One export an hour: try again in { $minutes } min.
privacy-stored = What I store: your messages and my answers in each chat, the notes pinned with /remember, each chat's settings, and numbers about each answer (/why). It all stays in one database file on the machine that runs me.
privacy-kept-forever = How long: until you delete it; this bot keeps history with no time limit.
privacy-kept-days = How long: { $days } days; older messages, answers and records are deleted.
privacy-local = Where it goes: nowhere. The model runs on this machine; no text leaves it.
privacy-remote = Where it goes: the conversation is sent to the language-model server this bot is set up to use, so it can write the answers.
privacy-delete = How to delete it: /forget deletes your messages here and everything made from them, /forget notes your pinned notes, /forget all both; /reset deletes this whole conversation; /export sends you a copy of everything.
