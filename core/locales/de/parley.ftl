# Parleys eigene Worte auf Deutsch. Befehle (/reset, /translate off) und Einstellungsnamen
# (temperature, top_p) bleiben unübersetzt: Nutzer tippen sie so.

## Ablehnungen und Zustände

busy = Ich bin gerade mit anderen Nachrichten beschäftigt. Bitte versuch es gleich noch einmal.
closing = Ich starte neu. Bitte schick das in einer Minute noch einmal.
engine-error = Entschuldigung, beim Antworten ist etwas schiefgegangen. Bitte versuch es noch einmal.
empty-answer = (Darauf habe ich keine Antwort.)
not-saved-question = Entschuldigung, ich konnte deine Nachricht nicht speichern (mein Speicher hat ein Problem), deshalb habe ich nicht geantwortet. Bitte versuch es später noch einmal.
not-saved-answer = Hinweis: Ich konnte diesen Austausch nicht speichern (mein Speicher hat ein Problem), vielleicht erinnere ich mich nicht daran.
rate-limited = Du schickst Nachrichten schneller, als ich sie lesen kann. Bitte warte eine Minute.
too-long = Diese Nachricht ist mir zu lang ({ $got } Zeichen; die Grenze liegt bei { $limit }). Bitte kürze sie oder teile sie auf.
direct-message-refused = Entschuldigung, dies ist ein privater Bot: Ich beantworte Direktnachrichten nur von Personen auf seiner Liste.
private-bot = Entschuldigung, dies ist ein privater Bot: Ich spreche nur mit Personen auf seiner Liste.
not-enabled-here = Entschuldigung, hier bin ich nicht freigeschaltet.
admins-only = Nur Admins können den Systemprompt ändern.
group-admins-only = Entschuldigung, in dieser Gruppe können das nur Admins für alle ändern.

## Befehle, die mit einer Zeile antworten

reset-done = Erledigt: Ich habe dieses Gespräch vergessen. Fangen wir neu an.
nothing-to-retry = Es gibt keine Nachricht von dir, die ich noch einmal beantworten könnte.
still-answering = Ich antworte noch. Schick zuerst /cancel, wenn ich neu anfangen soll.
cancelled = Angehalten.
nothing-to-cancel = Ich schreibe gerade nichts.
forgot = { $count ->
    [0] Ich hatte in diesem Chat keine Nachrichten von dir gespeichert.
    [one] Deine { $count } gespeicherte Nachricht in diesem Chat wurde gelöscht.
   *[other] Deine { $count } gespeicherten Nachrichten in diesem Chat wurden gelöscht.
}
system-cleared = Der Systemprompt ist wieder der der Persona.
system-set = Systemprompt für diesen Chat gesetzt.
system-prompt = Systemprompt:
    { $text }
system-too-long = Dieser Systemprompt ist zu lang: Er braucht etwa { $tokens } Tokens, und Angeheftetes darf höchstens { $budget } belegen (ein Viertel dessen, was ich auf einmal lesen kann). Bitte kürze ihn.
mode-set = Der Modus ist jetzt { $name }.
unknown-mode = Einen Modus { $name } gibt es nicht. Modi: { $known }.
modes-title = Modi
model-set = Das Modell ist jetzt { $name }. Das Gespräch geht damit weiter.
unknown-model = Ein Modell { $name } gibt es nicht. Modelle: { $known }.
model-unavailable = Entschuldigung, das Modell { $name } konnte nicht geladen werden. Dieser Chat bleibt bei seinem Modell.
models-title = Modelle
list-current = (aktuell)
list-switch = Wechseln mit { $command } NAME.

## Übersetzung

translate-off = Die Übersetzung ist aus.
translate-on = Ich übersetze jede Nachricht, Zielsprache: { $languages }. Schick /translate off zum Beenden.
translate-on-pair = Ich übersetze jede Nachricht zwischen { $languages }. Schick /translate off zum Beenden.
translate-status = Ich übersetze, Zielsprache: { $languages }. Schick /translate off zum Beenden.
translate-status-off = Die Übersetzung ist aus. Schalte sie mit /translate LANG oder /translate LANG,LANG ein.
language-pair = { $first } und { $second }
tr-needs-reply = Antworte auf eine Nachricht mit /tr (oder /tr LANG, z. B. /tr de), dann übersetze ich sie.
tr-nothing = In dieser Nachricht gibt es nichts zu übersetzen.
tr-already = Diese Nachricht ist schon auf { $language }. Versuch /tr LANG für eine andere Sprache.
could-not-translate = Entschuldigung, ich konnte das nicht übersetzen (Zielsprache: { $language }): Mein Modell hat immer wieder in einer anderen Sprache geantwortet.

## Einstellungen

set-reset = Einstellungen auf die Standardwerte zurückgesetzt.
set-done = { $name } ist in diesem Chat jetzt { $value }.
out-of-bounds = { $name } muss zwischen { $low } und { $high } liegen.
bound-excluded = { $value } (ausgeschlossen)
value-none = keine
value-random = zufällig
settings-title = Einstellungen in diesem Chat:
settings-footer = (* hier gesetzt) Ändern mit /set NAME WERT; /set reset stellt die Standardwerte wieder her.

## Angeheftete Notizen

no-notes = In diesem Chat ist nichts angeheftet. /remember TEXT heftet eine Tatsache an, die in meinem Kontext bleibt, egal wie lang der Chat wird.
notes-cleared = Alle Notizen in diesem Chat wurden gelöst.
notes-title = In diesem Chat angeheftet:
notes-footer = /remember delete N löst eine; /remember clear löst alle.
note-added = Als Notiz { $number } angeheftet: Ich behalte sie in diesem Chat im Kopf, auch nach /reset.
notes-full = Dieser Chat hat schon { $max } angeheftete Notizen. Löse eine mit /remember delete N.
note-too-long = Diese Notiz passt nicht: Sie braucht etwa { $needs } Tokens, und dieser Chat hat nur noch Platz für { $room } angeheftete Tokens (Angeheftetes darf höchstens ein Viertel dessen füllen, was ich auf einmal lesen kann). Kürze sie oder löse eine mit /remember delete N.
note-deleted = Notiz { $number } gelöst: { $text }
no-such-note = { $count ->
    [0] Es gibt keine Notiz { $number }: In diesem Chat ist nichts angeheftet.
    [one] Es gibt keine Notiz { $number }: Nur Notiz 1 ist angeheftet.
   *[other] Es gibt keine Notiz { $number }: Die Notizen sind von 1 bis { $count } nummeriert.
}

## /stats

stats = Gespeicherte Beiträge: { $stored }
    Im Fenster: { $turns } Beiträge, { $tokens } von { $budget } Tokens ({ $reserved } für die Antwort reserviert)
    Aus dem Fenster gefallen: { $dropped }
stats-last = Letzte Antwort: { $cached } von { $prompt } Prompt-Tokens aus dem Cache dieses Chats, { $shared } aus dem geteilten Persona-Prompt, { $speed } Tokens/s
stats-sampling = Sampling: temperature { $temperature }, top_p { $top_p }, max_tokens { $max_tokens }
    Modell: { $model }

## /why

no-record = Zu dieser Nachricht habe ich keinen Eintrag: Entweder habe ich sie nicht geschrieben, oder sie ist älter als das, was ich aufbewahre. Antworte mit /why auf eine meiner Antworten, oder schick /why allein für meine letzte.
no-answer-yet = In diesem Chat habe ich noch keine Antwort, die ich erklären könnte.
why-source-system = der eigene /system-Prompt dieses Chats
why-source-translation = der Übersetzungsprompt
why-source-persona = Persona „{ $persona }“ (/mode)
why-stop-end = das Modell seinen Beitrag beendet hat
why-stop-max-tokens = sie max_tokens (oder das Ende des Kontexts) erreicht hat
why-stop-string = sie auf einen der Stopp-Strings dieses Chats gestoßen ist
why-stop-cancelled = sie abgebrochen wurde
why-stop-failed = die Engine unterwegs ausgefallen ist
why-seed-repeatable = Seed { $seed } (/set seed { $seed } ergibt dieselbe Antwort noch einmal)
why-seed-unused = Seed { $seed } (ungenutzt: Bei temperature 0 wird immer das wahrscheinlichste Wort gewählt)
why-no-seed = kein Seed
why-head = So habe ich diese Antwort geschrieben:
    Modell: { $model } (Engine { $engine })
    Anweisungen: { $source }, { $notes_used } von { $notes_total } angehefteten Notizen
why-conversation = Gespräch: { $included } frühere Beiträge einbezogen, { $dropped } vom Fenster ausgelassen
    Prompt: { $prompt } Tokens (angeheftet { $pinned }, Verlauf { $history }, neu { $new }), { $cached } aus dem Cache dieses Chats wiederverwendet, { $shared } aus dem geteilten Persona-Prompt
why-translation-prompt = Prompt: { $prompt } Tokens, { $cached } aus dem Cache dieses Chats wiederverwendet, { $shared } aus dem geteilten Persona-Prompt
why-answer = Antwort: { $tokens } Tokens; sie endete, weil { $stop }
    Sampling: temperature { $temperature }, top_p { $top_p }, top_k { $top_k }, Wiederholungsstrafe { $penalty }, max_tokens { $max_tokens }, { $stops } Stopp-Strings, { $seed }
    Tempo: erstes Token nach { $first } s, { $speed } Tokens/s

## Dateien

size-bytes = { $count ->
    [one] { $count } Byte
   *[other] { $count } Bytes
}
files-we-read = Ich kann Textdateien lesen (txt, md, csv, json, log, Quellcode und Ähnliches) bis { $size }.
file-too-large = { $name } ist mir zu groß ({ $size }). { $readable }
file-is-media = Entschuldigung, { $kind } kann ich nicht öffnen ({ $name }). { $readable }
media-images = Bilder
media-audio = Audiodateien
media-video = Videos
file-not-text = Entschuldigung, { $name } ist keine Textdatei, die ich lesen kann. { $readable }
file-not-fetched = Entschuldigung, ich konnte { $name } nicht herunterladen. Bitte schick die Datei noch einmal.

## Befehlsmenü und /help

help-title = Befehle:
help-admins = (Admins)
usage = Verwendung: { $command }
usage-unknown = Schick /help, um die Befehle zu sehen.
command-help = Die Befehle auflisten
command-reset = Dieses Gespräch vergessen und neu anfangen
command-retry = Die letzte Nachricht noch einmal beantworten
command-mode = Persona wechseln oder auflisten
command-model = Das Modell dieses Chats wechseln oder auflisten
command-system = Den Systemprompt dieses Chats setzen oder zeigen
command-translate = Jede Nachricht übersetzen: eine Sprache oder ein Paar (en,zh), oder off
command-tr = Als Antwort auf eine Nachricht: sie übersetzen (nach LANG)
command-set = temperature, top_p, max_tokens, seed oder stop zeigen, ändern oder zurücksetzen
command-remember = Eine Tatsache für den Kontext jeder Antwort anheften oder die angehefteten zeigen
command-stats = Kontextfenster und Tempo zeigen
command-why = Erklären, wie die letzte Antwort (oder die beantwortete) entstand
command-cancel = Die Antwort abbrechen, die gerade entsteht
command-forget = Deine Nachrichten hier und was daraus entstand löschen (oder deine Notizen, oder alles)
command-export = Privat eine Datei mit allem bekommen, was ich über dich speichere
command-privacy = Was ich speichere, wie lange, wohin es geht, wie man es löscht

## Fehler in einem Befehl

unknown-command = Unbekannter Befehl /{ $command }. Schick /help für die Liste.
unknown-command-near = Unbekannter Befehl /{ $command }. Meintest du /{ $suggestion }? Schick /help für die Liste.
unknown-language = Unbekannte Sprache „{ $word }“. Nutze Codes wie en, zh, fr, de, es, ja. { $usage }
too-many-languages = Höchstens zwei Sprachen (ein Paar übersetzt in beide Richtungen). { $usage }
note-number = Gib die Nummer der zu löschenden Notiz an, wie /remember sie auflistet, z. B. /remember delete 2
note-chars = Eine Notiz darf höchstens { $max } Zeichen haben (diese hat { $count }).
unknown-setting = Unbekannte Einstellung „{ $name }“: Nutze temperature, top_p, max_tokens, seed, stop oder reset.
takes-number = { $name } erwartet eine Zahl, z. B. /set { $name } { $example }
seed-whole = seed erwartet eine ganze Zahl oder "random", z. B. /set seed 42
max-tokens-whole = max_tokens erwartet eine ganze Zahl, z. B. /set max_tokens 300
stop-quotes = Setze jeden Stopp-String in Anführungszeichen. { $usage }
stop-unclosed = Ein Anführungszeichen ist nicht geschlossen. { $usage }
stop-empty = Ein Stopp-String darf nicht leer sein.
stop-too-many = Höchstens { $max } Stopp-Strings.
stop-too-long = Ein Stopp-String darf höchstens { $max } Zeichen haben.

## Sprachnamen

language-en = Englisch
language-zh = Chinesisch
language-es = Spanisch
language-fr = Französisch
language-de = Deutsch
language-ja = Japanisch
language-ko = Koreanisch
language-ru = Russisch
language-pt = Portugiesisch
language-it = Italienisch
language-ar = Arabisch
language-hi = Hindi
language-nl = Niederländisch
language-pl = Polnisch
language-tr = Türkisch
language-uk = Ukrainisch
language-vi = Vietnamesisch
language-id = Indonesisch
language-th = Thailändisch
language-sv = Schwedisch
language-da = Dänisch
language-nb = Norwegisch
language-fi = Finnisch
language-cs = Tschechisch
language-sk = Slowakisch
language-hu = Ungarisch
language-ro = Rumänisch
language-el = Griechisch
language-he = Hebräisch
language-bg = Bulgarisch
language-sr = Serbisch
language-hr = Kroatisch
language-ca = Katalanisch
language-fa = Persisch
language-ur = Urdu
language-bn = Bengalisch
language-ta = Tamil
language-ka = Georgisch
language-hy = Armenisch
language-tl = Tagalog

## Privacy: /forget, /export, /privacy

forgot-made = Ebenfalls gelöscht: { $answers } meiner Antworten und Übersetzungen dazu und { $records } /why-Einträge.
forgot-notes = { $count } deiner angehefteten Notizen in diesem Chat gelöscht.
notes-kept = Deine angehefteten Notizen hier bleiben (lösche sie mit /forget notes):
    { $notes }
export-sent = Ich habe dir privat eine Datei mit allem geschickt, was ich über dich speichere.
export-caption = Alles, was Parley über dich speichert: deine Nachrichten, die Antworten darauf, deine Notizen und die Einstellungen deiner Direktchats.
export-failed = Ich konnte dir die Datei nicht privat schicken. Starte einen Direktchat mit mir und sende dann erneut /export.
export-too-soon = Ein Export pro Stunde: versuche es in { $minutes } Min. wieder.
privacy-stored = Was ich speichere: deine Nachrichten und meine Antworten in jedem Chat, die mit /remember angehefteten Notizen, die Einstellungen jedes Chats und Zahlen zu jeder Antwort (/why). Alles bleibt in einer Datenbankdatei auf dem Rechner, auf dem ich laufe.
privacy-kept-forever = Wie lange: bis du es löschst; dieser Bot bewahrt den Verlauf ohne Zeitlimit auf.
privacy-kept-days = Wie lange: { $days } Tage; ältere Nachrichten, Antworten und Einträge werden gelöscht.
privacy-local = Wohin es geht: nirgendwohin. Das Modell läuft auf diesem Rechner; kein Text verlässt ihn.
privacy-remote = Wohin es geht: das Gespräch wird an den Sprachmodell-Server geschickt, den dieser Bot nutzt, damit er die Antworten schreibt.
privacy-delete = Wie du es löschst: /forget löscht deine Nachrichten hier und alles, was daraus entstand, /forget notes deine Notizen, /forget all beides; /reset löscht das ganze Gespräch; /export schickt dir eine Kopie von allem.
