# Las palabras propias de Parley en español. Los comandos (/reset, /translate off) y los nombres
# de ajustes (temperature, top_p) no se traducen: los usuarios los escriben así.

## Rechazos y estados

busy = Ahora mismo estoy ocupado con otros mensajes. Inténtalo de nuevo en un momento, por favor.
closing = Me estoy reiniciando. Vuelve a enviarlo dentro de un minuto, por favor.
engine-error = Lo siento, algo salió mal mientras respondía. Inténtalo de nuevo, por favor.
empty-answer = (No tengo respuesta para eso.)
not-saved-question = Lo siento, no pude guardar tu mensaje (mi almacenamiento está fallando), así que no lo respondí. Inténtalo más tarde, por favor.
not-saved-answer = Nota: no pude guardar este intercambio (mi almacenamiento está fallando), así que quizá no lo recuerde.
rate-limited = Envías mensajes más rápido de lo que puedo leerlos. Espera un minuto, por favor.
too-long = Ese mensaje es demasiado largo para mí ({ $got } caracteres; el límite es { $limit }). Acórtalo o divídelo, por favor.
direct-message-refused = Lo siento, este es un bot privado: solo respondo mensajes directos de las personas de su lista.
private-bot = Lo siento, este es un bot privado: solo hablo con las personas de su lista.
not-enabled-here = Lo siento, aquí no estoy activado.
admins-only = Solo los administradores pueden cambiar el prompt del sistema.
group-admins-only = Lo siento, en este grupo solo los administradores pueden cambiar eso para todos.

## Comandos que responden con una línea

reset-done = Hecho: he olvidado esta conversación. Empecemos de nuevo.
nothing-to-retry = No hay ningún mensaje tuyo que responder de nuevo.
still-answering = Todavía estoy respondiendo. Envía /cancel primero si quieres que empiece de nuevo.
cancelled = Detenido.
nothing-to-cancel = Ahora mismo no estoy escribiendo nada.
forgot = { $count ->
    [0] No tenía mensajes tuyos guardados en este chat.
    [one] He borrado tu { $count } mensaje guardado en este chat.
   *[other] He borrado tus { $count } mensajes guardados en este chat.
}
system-cleared = El prompt del sistema vuelve a ser el de la persona.
system-set = Prompt del sistema establecido para este chat.
system-prompt = Prompt del sistema:
    { $text }
system-too-long = Ese prompt del sistema es demasiado largo: ocupa unos { $tokens } tokens, y lo fijado puede ocupar como máximo { $budget } (una cuarta parte de lo que puedo leer de una vez). Acórtalo, por favor.
mode-set = El modo ahora es { $name }.
unknown-mode = No existe el modo { $name }. Modos: { $known }.
modes-title = Modos
model-set = El modelo ahora es { $name }. La conversación continúa con él.
unknown-model = No existe el modelo { $name }. Modelos: { $known }.
model-unavailable = Lo siento, no se pudo cargar el modelo { $name }. Este chat sigue con su modelo.
models-title = Modelos
list-current = (actual)
list-switch = Cambia con { $command } NAME.

## Traducción

translate-off = La traducción está desactivada.
translate-on = Traduzco cada mensaje, idioma de destino: { $languages }. Envía /translate off para parar.
translate-on-pair = Traduzco cada mensaje entre { $languages }. Envía /translate off para parar.
translate-status = Traduzco, idioma de destino: { $languages }. Envía /translate off para parar.
translate-status-off = La traducción está desactivada. Actívala con /translate LANG o /translate LANG,LANG.
language-pair = { $first } y { $second }
tr-needs-reply = Responde a un mensaje con /tr (o /tr LANG, p. ej. /tr de) y lo traduciré.
tr-nothing = En ese mensaje no hay nada que traducir.
tr-already = Ese mensaje ya está en { $language }. Prueba /tr LANG para otro idioma.
could-not-translate = Lo siento, no pude traducir eso (idioma de destino: { $language }): mi modelo seguía respondiendo en otro idioma.

## Ajustes

set-reset = Ajustes restablecidos a los valores por defecto.
set-done = { $name } ahora es { $value } en este chat.
out-of-bounds = { $name } debe estar entre { $low } y { $high }.
bound-excluded = { $value } (excluido)
value-none = ninguno
value-random = aleatorio
settings-title = Ajustes de este chat:
settings-footer = (* fijado aquí) Cambia uno con /set NAME VALOR; /set reset restablece los valores por defecto.

## Notas fijadas

no-notes = No hay nada fijado en este chat. /remember TEXTO fija un dato que permanece en mi contexto por largo que sea el chat.
notes-cleared = He desfijado todas las notas de este chat.
notes-title = Fijado en este chat:
notes-footer = /remember delete N desfija una; /remember clear las desfija todas.
note-added = Fijado como nota { $number }: lo tendré presente en este chat, incluso después de /reset.
notes-full = Este chat ya tiene { $max } notas fijadas. Desfija una con /remember delete N.
note-too-long = Esa nota no cabe: ocupa unos { $needs } tokens, y este chat solo tiene sitio para { $room } tokens fijados más (lo fijado puede ocupar como máximo una cuarta parte de lo que puedo leer de una vez). Acórtala, o desfija una con /remember delete N.
note-deleted = Nota { $number } desfijada: { $text }
no-such-note = { $count ->
    [0] No existe la nota { $number }: no hay nada fijado en este chat.
    [one] No existe la nota { $number }: solo está fijada la nota 1.
   *[other] No existe la nota { $number }: las notas van numeradas del 1 al { $count }.
}

## /stats

stats = Turnos guardados: { $stored }
    En la ventana: { $turns } turnos, { $tokens } de { $budget } tokens ({ $reserved } reservados para la respuesta)
    Fuera de la ventana: { $dropped }
stats-last = Última respuesta: { $cached } de { $prompt } tokens del prompt desde la caché de este chat, { $shared } del prompt de personalidad compartido, { $speed } tokens/s
stats-sampling = Muestreo: temperature { $temperature }, top_p { $top_p }, max_tokens { $max_tokens }
    Modelo: { $model }

## /why

no-record = No tengo registro de ese mensaje: o no lo escribí yo, o es más antiguo de lo que conservo. Responde /why a una de mis respuestas, o envía /why solo para la última.
no-answer-yet = Todavía no tengo ninguna respuesta que explicar en este chat.
why-source-system = el prompt /system propio de este chat
why-source-translation = el prompt de traducción
why-source-persona = la persona «{ $persona }» (/mode)
why-stop-end = el modelo terminó su turno
why-stop-max-tokens = alcanzó max_tokens (o el final del contexto)
why-stop-string = encontró una de las cadenas de parada de este chat
why-stop-cancelled = se canceló
why-stop-failed = el motor falló a mitad de camino
why-seed-repeatable = semilla { $seed } (/set seed { $seed } da de nuevo la misma respuesta)
why-seed-unused = semilla { $seed } (sin uso: con temperature 0 siempre se elige la palabra más probable)
why-no-seed = sin semilla
why-head = Cómo escribí esa respuesta:
    Modelo: { $model } (motor { $engine })
    Instrucciones: { $source }, { $notes_used } de { $notes_total } notas fijadas
why-conversation = Conversación: { $included } turnos anteriores incluidos, { $dropped } fuera de la ventana
    Prompt: { $prompt } tokens (fijados { $pinned }, historial { $history }, nuevos { $new }), { $cached } reutilizados de la caché de este chat, { $shared } del prompt de personalidad compartido
why-translation-prompt = Prompt: { $prompt } tokens, { $cached } reutilizados de la caché de este chat, { $shared } del prompt de personalidad compartido
why-answer = Respuesta: { $tokens } tokens; se detuvo porque { $stop }
    Muestreo: temperature { $temperature }, top_p { $top_p }, top_k { $top_k }, penalización por repetición { $penalty }, max_tokens { $max_tokens }, { $stops } cadenas de parada, { $seed }
    Velocidad: primer token tras { $first } s, { $speed } tokens/s

## Archivos

size-bytes = { $count ->
    [one] { $count } byte
   *[other] { $count } bytes
}
files-we-read = Puedo leer archivos de texto (txt, md, csv, json, log, código fuente y similares) de hasta { $size }.
file-too-large = { $name } es demasiado grande para mí ({ $size }). { $readable }
file-is-media = Lo siento, no puedo abrir { $kind } ({ $name }). { $readable }
media-images = imágenes
media-audio = archivos de audio
media-video = vídeos
file-not-text = Lo siento, { $name } no es un archivo de texto que pueda leer. { $readable }
file-not-fetched = Lo siento, no pude descargar { $name }. Intenta enviarlo de nuevo, por favor.

## Menú de comandos y /help

help-title = Comandos:
help-admins = (administradores)
usage = Uso: { $command }
usage-unknown = Envía /help para ver los comandos.
command-help = Lista los comandos
command-reset = Olvida esta conversación y empieza de nuevo
command-retry = Responde de nuevo al último mensaje
command-mode = Cambia de persona, o las lista
command-model = Cambia el modelo de este chat, o los lista
command-system = Fija el prompt del sistema de este chat, o lo muestra
command-translate = Traduce cada mensaje: un idioma o un par (en,zh), u off
command-tr = En respuesta a un mensaje: lo traduce (a LANG)
command-set = Muestra o cambia temperature, top_p, max_tokens, seed o stop, o los restablece
command-remember = Fija un dato que queda en el contexto de cada respuesta, o lista los fijados
command-stats = Muestra la ventana de contexto y la velocidad
command-why = Explica cómo se hizo la última respuesta (o la que respondes)
command-cancel = Detiene la respuesta que se está escribiendo
command-forget = Borra tus mensajes de aquí y lo que salió de ellos (o tus notas, o todo)
command-export = Recibe en privado un archivo con todo lo que guardo sobre ti
command-privacy = Qué guardo, cuánto tiempo, adónde va y cómo borrarlo

## Errores en un comando

unknown-command = Comando desconocido /{ $command }. Envía /help para ver la lista.
unknown-command-near = Comando desconocido /{ $command }. ¿Querías decir /{ $suggestion }? Envía /help para ver la lista.
unknown-language = Idioma desconocido «{ $word }». Usa códigos como en, zh, fr, de, es, ja. { $usage }
too-many-languages = Dos idiomas como máximo (un par traduce en ambos sentidos). { $usage }
note-number = Indica el número de la nota que quieres borrar, tal como la lista /remember, p. ej. /remember delete 2
note-chars = Una nota puede tener como máximo { $max } caracteres (esta tiene { $count }).
unknown-setting = Ajuste desconocido «{ $name }»: usa temperature, top_p, max_tokens, seed, stop o reset.
takes-number = { $name } necesita un número, p. ej. /set { $name } { $example }
seed-whole = seed necesita un número entero o "random", p. ej. /set seed 42
max-tokens-whole = max_tokens necesita un número entero, p. ej. /set max_tokens 300
stop-quotes = Pon cada cadena de parada entre comillas. { $usage }
stop-unclosed = Hay unas comillas sin cerrar. { $usage }
stop-empty = Una cadena de parada no puede estar vacía.
stop-too-many = Como máximo { $max } cadenas de parada.
stop-too-long = Una cadena de parada puede tener como máximo { $max } caracteres.

## Nombres de idiomas

language-en = inglés
language-zh = chino
language-es = español
language-fr = francés
language-de = alemán
language-ja = japonés
language-ko = coreano
language-ru = ruso
language-pt = portugués
language-it = italiano
language-ar = árabe
language-hi = hindi
language-nl = neerlandés
language-pl = polaco
language-tr = turco
language-uk = ucraniano
language-vi = vietnamita
language-id = indonesio
language-th = tailandés
language-sv = sueco
language-da = danés
language-nb = noruego
language-fi = finés
language-cs = checo
language-sk = eslovaco
language-hu = húngaro
language-ro = rumano
language-el = griego
language-he = hebreo
language-bg = búlgaro
language-sr = serbio
language-hr = croata
language-ca = catalán
language-fa = persa
language-ur = urdu
language-bn = bengalí
language-ta = tamil
language-ka = georgiano
language-hy = armenio
language-tl = tagalo

## Privacy: /forget, /export, /privacy

forgot-made = También borrado: { $answers } de mis respuestas y traducciones hechas a partir de ellos, y { $records } registros de /why.
forgot-notes = He borrado { $count } de tus notas fijadas en este chat.
notes-kept = Tus notas fijadas aquí se conservan (bórralas con /forget notes):
    { $notes }
export-sent = Te he enviado en privado un archivo con todo lo que guardo sobre ti.
export-caption = Todo lo que Parley guarda sobre ti: tus mensajes, las respuestas a ellos, tus notas y la configuración de tus chats directos.
export-failed = No he podido enviarte el archivo en privado. Abre un chat directo conmigo y vuelve a enviar /export.
export-too-soon = Una exportación por hora: vuelve a intentarlo en { $minutes } min.
privacy-stored = Qué guardo: tus mensajes y mis respuestas en cada chat, las notas fijadas con /remember, la configuración de cada chat y cifras sobre cada respuesta (/why). Todo queda en un único archivo de base de datos en la máquina donde funciono.
privacy-kept-forever = Cuánto tiempo: hasta que lo borres; este bot guarda el historial sin límite de tiempo.
privacy-kept-days = Cuánto tiempo: { $days } días; los mensajes, respuestas y registros más antiguos se borran.
privacy-local = Adónde va: a ninguna parte. El modelo funciona en esta máquina; ningún texto sale de ella.
privacy-remote = Adónde va: la conversación se envía al servidor de modelos de lenguaje que usa este bot, para que escriba las respuestas.
privacy-delete = Cómo borrarlo: /forget borra tus mensajes de aquí y todo lo que salió de ellos, /forget notes tus notas fijadas, /forget all ambas cosas; /reset borra toda esta conversación; /export te envía una copia de todo.
