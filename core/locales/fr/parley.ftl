# Les mots de Parley en français. Les commandes (/reset, /translate off) et les noms de
# réglages (temperature, top_p) restent tels quels : les utilisateurs les tapent ainsi.

## Refus et états

busy = Je suis occupé par d'autres messages pour le moment. Merci de réessayer dans un instant.
closing = Je redémarre. Merci de renvoyer cela dans une minute.
engine-error = Désolé, un problème est survenu pendant ma réponse. Merci de réessayer.
empty-answer = (Je n'ai pas de réponse à cela.)
not-saved-question = Désolé, je n'ai pas pu enregistrer ton message (mon stockage a un problème), je n'y ai donc pas répondu. Merci de réessayer plus tard.
not-saved-answer = Remarque : je n'ai pas pu enregistrer cet échange (mon stockage a un problème), je risque de ne pas m'en souvenir.
rate-limited = Vous envoyez des messages plus vite que je ne peux les lire. Merci de patienter une minute.
too-long = Ce message est trop long pour moi ({ $got } caractères ; la limite est de { $limit }). Merci de le raccourcir ou de le découper.
direct-message-refused = Désolé, ce bot est privé : je ne réponds en message direct qu'aux personnes de sa liste.
private-bot = Désolé, ce bot est privé : je ne parle qu'aux personnes de sa liste.
not-enabled-here = Désolé, je ne suis pas activé ici.
admins-only = Seuls les admins peuvent changer le prompt système.
group-admins-only = Désolé, dans ce groupe seuls les admins peuvent changer cela pour tout le monde.

## Commandes qui répondent par une ligne

reset-done = C'est fait : j'ai oublié cette conversation. Repartons de zéro.
nothing-to-retry = Il n'y a aucun message de votre part auquel répondre à nouveau.
still-answering = Je suis encore en train de répondre. Envoyez d'abord /cancel si vous voulez que je recommence.
cancelled = Arrêté.
nothing-to-cancel = Je n'écris rien en ce moment.
forgot = { $count ->
    [0] Je n'avais aucun message de vous enregistré dans cette discussion.
    [one] { $count } message enregistré de vous supprimé dans cette discussion.
   *[other] { $count } messages enregistrés de vous supprimés dans cette discussion.
}
system-cleared = Le prompt système est revenu à celui du persona.
system-set = Prompt système défini pour cette discussion.
system-prompt = Prompt système :
    { $text }
system-too-long = Ce prompt système est trop long : il prend environ { $tokens } jetons, et ce qui est épinglé peut en prendre au plus { $budget } (un quart de ce que je peux lire d'un coup). Merci de le raccourcir.
mode-set = Le mode est maintenant { $name }.
unknown-mode = Il n'existe pas de mode { $name }. Modes : { $known }.
modes-title = Modes
model-set = Le modèle est maintenant { $name }. La conversation continue avec lui.
unknown-model = Il n'existe pas de modèle { $name }. Modèles : { $known }.
model-unavailable = Désolé, le modèle { $name } n'a pas pu être chargé. Cette discussion garde son modèle.
models-title = Modèles
list-current = (actuel)
list-switch = Changez avec { $command } NAME.

## Traduction

translate-off = La traduction est désactivée.
translate-on = Je traduis chaque message, langue cible : { $languages }. Envoyez /translate off pour arrêter.
translate-on-pair = Je traduis chaque message entre { $languages }. Envoyez /translate off pour arrêter.
translate-status = Je traduis, langue cible : { $languages }. Envoyez /translate off pour arrêter.
translate-status-off = La traduction est désactivée. Activez-la avec /translate LANG ou /translate LANG,LANG.
language-pair = { $first } et { $second }
tr-needs-reply = Répondez à un message avec /tr (ou /tr LANG, par ex. /tr de) et je le traduirai.
tr-nothing = Il n'y a rien à traduire dans ce message.
tr-already = Ce message est déjà en { $language }. Essayez /tr LANG pour une autre langue.
could-not-translate = Désolé, je n'ai pas pu traduire cela (langue cible : { $language }) : mon modèle répondait toujours dans une autre langue.

## Réglages

set-reset = Réglages remis par défaut.
set-done = { $name } vaut maintenant { $value } dans cette discussion.
out-of-bounds = { $name } doit être compris entre { $low } et { $high }.
bound-excluded = { $value } (exclu)
value-none = aucun
value-random = aléatoire
settings-title = Réglages de cette discussion :
settings-footer = (* défini ici) Changez-en un avec /set NAME VALEUR ; /set reset rétablit les valeurs par défaut.

## Notes épinglées

no-notes = Rien n'est épinglé dans cette discussion. /remember TEXTE épingle un fait qui reste dans mon contexte, quelle que soit la longueur de la discussion.
notes-cleared = Toutes les notes de cette discussion ont été désépinglées.
notes-title = Épinglé dans cette discussion :
notes-footer = /remember delete N en désépingle une ; /remember clear les désépingle toutes.
note-added = Épinglé comme note { $number } : je la garderai en tête dans cette discussion, même après /reset.
notes-full = Cette discussion a déjà { $max } notes épinglées. Désépinglez-en une avec /remember delete N.
note-too-long = Cette note ne rentre pas : elle prend environ { $needs } jetons, et il ne reste de la place que pour { $room } jetons épinglés (ce qui est épinglé peut occuper au plus un quart de ce que je peux lire d'un coup). Raccourcissez-la, ou désépinglez-en une avec /remember delete N.
note-deleted = Note { $number } désépinglée : { $text }
no-such-note = { $count ->
    [0] Il n'y a pas de note { $number } : rien n'est épinglé dans cette discussion.
    [one] Il n'y a pas de note { $number } : seule la note 1 est épinglée.
   *[other] Il n'y a pas de note { $number } : les notes sont numérotées de 1 à { $count }.
}

## /stats

stats = Tours enregistrés : { $stored }
    Dans la fenêtre : { $turns } tours, { $tokens } jetons sur { $budget } ({ $reserved } réservés à la réponse)
    Sortis de la fenêtre : { $dropped }
stats-last = Dernière réponse : { $cached } jetons de prompt sur { $prompt } venus du cache de ce chat, { $shared } du prompt de persona partagé, { $speed } jetons/s
stats-sampling = Échantillonnage : temperature { $temperature }, top_p { $top_p }, max_tokens { $max_tokens }
    Modèle : { $model }

## /why

no-record = Je n'ai aucune trace de ce message : soit je ne l'ai pas écrit, soit il est plus ancien que ce que je conserve. Répondez /why à l'une de mes réponses, ou envoyez /why seul pour la dernière.
no-answer-yet = Je n'ai encore aucune réponse à expliquer dans cette discussion.
why-source-system = le prompt /system propre à cette discussion
why-source-translation = le prompt de traduction
why-source-persona = le persona « { $persona } » (/mode)
why-stop-end = le modèle a terminé son tour
why-stop-max-tokens = elle a atteint max_tokens (ou la fin du contexte)
why-stop-string = elle a rencontré l'une des chaînes d'arrêt de cette discussion
why-stop-cancelled = elle a été annulée
why-stop-failed = le moteur a échoué en cours de route
why-seed-repeatable = graine { $seed } (/set seed { $seed } redonne la même réponse)
why-seed-unused = graine { $seed } (inutilisée : à temperature 0, le mot le plus probable est toujours choisi)
why-no-seed = pas de graine
why-head = Comment j'ai écrit cette réponse :
    Modèle : { $model } (moteur { $engine })
    Instructions : { $source }, { $notes_used } notes épinglées sur { $notes_total }
why-conversation = Conversation : { $included } tours précédents inclus, { $dropped } laissés hors de la fenêtre
    Prompt : { $prompt } jetons (épinglés { $pinned }, historique { $history }, nouveaux { $new }), { $cached } repris du cache de ce chat, { $shared } du prompt de persona partagé
why-translation-prompt = Prompt : { $prompt } jetons, { $cached } repris du cache de ce chat, { $shared } du prompt de persona partagé
why-answer = Réponse : { $tokens } jetons ; elle s'est arrêtée parce que { $stop }
    Échantillonnage : temperature { $temperature }, top_p { $top_p }, top_k { $top_k }, pénalité de répétition { $penalty }, max_tokens { $max_tokens }, { $stops } chaînes d'arrêt, { $seed }
    Vitesse : premier jeton après { $first } s, { $speed } jetons/s

## Fichiers

size-bytes = { $count ->
    [one] { $count } octet
   *[other] { $count } octets
}
files-we-read = Je peux lire les fichiers texte (txt, md, csv, json, log, code source, etc.) jusqu'à { $size }.
file-too-large = { $name } est trop volumineux pour moi ({ $size }). { $readable }
file-is-media = Désolé, je ne peux pas ouvrir les { $kind } ({ $name }). { $readable }
media-images = images
media-audio = fichiers audio
media-video = vidéos
file-not-text = Désolé, { $name } n'est pas un fichier texte que je sais lire. { $readable }
file-not-fetched = Désolé, je n'ai pas pu télécharger { $name }. Merci de le renvoyer.

## Menu des commandes et /help

help-title = Commandes :
help-admins = (admins)
usage = Utilisation : { $command }
usage-unknown = Envoyez /help pour voir les commandes.
command-help = Lister les commandes
command-reset = Oublier cette conversation et recommencer
command-retry = Répondre à nouveau au dernier message
command-mode = Changer de persona, ou les lister
command-model = Changer le modèle de cette discussion, ou les lister
command-system = Définir le prompt système de cette discussion, ou l'afficher
command-translate = Traduire chaque message : une langue ou une paire (en,zh), ou off
command-tr = En réponse à un message : le traduire (vers LANG)
command-set = Voir ou changer temperature, top_p, max_tokens, seed ou stop, ou les réinitialiser
command-remember = Épingler un fait gardé dans le contexte de chaque réponse, ou lister les faits épinglés
command-stats = Afficher la fenêtre de contexte et la vitesse
command-why = Expliquer comment la dernière réponse (ou celle visée) a été produite
command-cancel = Arrêter la réponse en cours d'écriture
command-forget = Supprimer vos messages ici et ce qui en a été tiré (ou vos notes, ou tout)
command-export = Recevoir en privé un fichier de tout ce que je garde sur vous
command-privacy = Ce que je garde, combien de temps, où cela va, comment le supprimer

## Erreurs dans une commande

unknown-command = Commande inconnue /{ $command }. Envoyez /help pour la liste.
unknown-command-near = Commande inconnue /{ $command }. Vouliez-vous dire /{ $suggestion } ? Envoyez /help pour la liste.
unknown-language = Langue inconnue « { $word } ». Utilisez des codes comme en, zh, fr, de, es, ja. { $usage }
too-many-languages = Deux langues au plus (une paire traduit dans les deux sens). { $usage }
note-number = Donnez le numéro de la note à supprimer, tel que /remember l'affiche, par ex. /remember delete 2
note-chars = Une note peut faire au plus { $max } caractères (celle-ci en a { $count }).
unknown-setting = Réglage inconnu « { $name } » : utilisez temperature, top_p, max_tokens, seed, stop ou reset.
takes-number = { $name } attend un nombre, par ex. /set { $name } { $example }
seed-whole = seed attend un nombre entier ou "random", par ex. /set seed 42
max-tokens-whole = max_tokens attend un nombre entier, par ex. /set max_tokens 300
stop-quotes = Mettez chaque chaîne d'arrêt entre guillemets. { $usage }
stop-unclosed = Un guillemet n'est pas fermé. { $usage }
stop-empty = Une chaîne d'arrêt ne peut pas être vide.
stop-too-many = Au plus { $max } chaînes d'arrêt.
stop-too-long = Une chaîne d'arrêt peut faire au plus { $max } caractères.

## Noms des langues

language-en = anglais
language-zh = chinois
language-es = espagnol
language-fr = français
language-de = allemand
language-ja = japonais
language-ko = coréen
language-ru = russe
language-pt = portugais
language-it = italien
language-ar = arabe
language-hi = hindi
language-nl = néerlandais
language-pl = polonais
language-tr = turc
language-uk = ukrainien
language-vi = vietnamien
language-id = indonésien
language-th = thaï
language-sv = suédois
language-da = danois
language-nb = norvégien
language-fi = finnois
language-cs = tchèque
language-sk = slovaque
language-hu = hongrois
language-ro = roumain
language-el = grec
language-he = hébreu
language-bg = bulgare
language-sr = serbe
language-hr = croate
language-ca = catalan
language-fa = persan
language-ur = ourdou
language-bn = bengali
language-ta = tamoul
language-ka = géorgien
language-hy = arménien
language-tl = tagalog

## Privacy: /forget, /export, /privacy

forgot-made = Également supprimé : { $answers } de mes réponses et traductions tirées de ces messages, et { $records } fiches /why.
forgot-notes = { $count } de vos notes épinglées dans cette discussion supprimées.
notes-kept = Vos notes épinglées ici sont conservées (supprimez-les avec /forget notes) :
    { $notes }
export-sent = Je vous ai envoyé en privé un fichier avec tout ce que je garde sur vous.
export-caption = Tout ce que Parley garde sur vous : vos messages, les réponses à ceux-ci, vos notes et les réglages de vos discussions privées.
export-failed = Je n'ai pas pu vous envoyer le fichier en privé. Ouvrez une discussion privée avec moi, puis renvoyez /export.
export-too-soon = Un export par heure : réessayez dans { $minutes } min.
privacy-stored = Ce que je garde : vos messages et mes réponses dans chaque discussion, les notes épinglées avec /remember, les réglages de chaque discussion et des chiffres sur chaque réponse (/why). Tout reste dans un seul fichier de base de données sur la machine qui me fait tourner.
privacy-kept-forever = Combien de temps : jusqu'à ce que vous le supprimiez ; ce bot garde l'historique sans limite de durée.
privacy-kept-days = Combien de temps : { $days } jours ; les messages, réponses et fiches plus anciens sont supprimés.
privacy-local = Où cela va : nulle part. Le modèle tourne sur cette machine ; aucun texte n'en sort.
privacy-remote = Où cela va : la conversation est envoyée au serveur de modèle de langage que ce bot utilise, pour qu'il écrive les réponses.
privacy-delete = Comment le supprimer : /forget supprime vos messages ici et tout ce qui en a été tiré, /forget notes vos notes épinglées, /forget all les deux ; /reset supprime toute cette conversation ; /export vous envoie une copie de tout.
