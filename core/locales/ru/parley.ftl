# Собственные слова Parley по-русски. Команды (/reset, /translate off) и названия настроек
# (temperature, top_p) не переводятся: пользователи набирают их так.

## Отказы и состояния

busy = Сейчас я занят другими сообщениями. Пожалуйста, попробуйте чуть позже.
closing = Я перезапускаюсь. Пожалуйста, отправьте это ещё раз через минуту.
engine-error = Извините, при ответе что-то пошло не так. Пожалуйста, попробуйте ещё раз.
empty-answer = (Мне нечего на это ответить.)
rate-limited = Вы отправляете сообщения быстрее, чем я успеваю их читать. Пожалуйста, подождите минуту.
too-long = Это сообщение для меня слишком длинное (символов: { $got }; предел: { $limit }). Пожалуйста, сократите его или разбейте на части.
direct-message-refused = Извините, это частный бот: в личных сообщениях я отвечаю только людям из его списка.
private-bot = Извините, это частный бот: я разговариваю только с людьми из его списка.
not-enabled-here = Извините, здесь я не включён.
admins-only = Менять системный промпт могут только администраторы.
group-admins-only = Извините, в этой группе менять это для всех могут только администраторы.

## Команды, отвечающие одной строкой

reset-done = Готово: я забыл этот разговор. Начнём заново.
nothing-to-retry = Нет вашего сообщения, на которое можно ответить снова.
still-answering = Я ещё отвечаю. Отправьте сначала /cancel, если хотите, чтобы я начал заново.
cancelled = Остановлено.
nothing-to-cancel = Сейчас я ничего не пишу.
forgot = { $count ->
    [0] В этом чате не было сохранённых ваших сообщений.
    [one] Удалено { $count } ваше сохранённое сообщение в этом чате.
    [few] Удалено { $count } ваших сохранённых сообщения в этом чате.
   *[other] Удалено { $count } ваших сохранённых сообщений в этом чате.
}
system-cleared = Системный промпт снова взят у персоны.
system-set = Системный промпт для этого чата задан.
system-prompt = Системный промпт:
    { $text }
system-too-long = Этот системный промпт слишком длинный: он занимает около { $tokens } токенов, а закреплённое может занимать не больше { $budget } (четверть того, что я могу прочитать за раз). Пожалуйста, сократите его.
mode-set = Теперь режим: { $name }.
unknown-mode = Режима { $name } нет. Режимы: { $known }.
modes-title = Режимы
model-set = Теперь модель: { $name }. Разговор продолжается с ней.
unknown-model = Модели { $name } нет. Модели: { $known }.
model-unavailable = Извините, модель { $name } не удалось загрузить. Этот чат остаётся на своей модели.
models-title = Модели
list-current = (текущий)
list-switch = Переключить: { $command } NAME.

## Перевод

translate-off = Перевод выключен.
translate-on = Перевожу каждое сообщение, язык перевода: { $languages }. Отправьте /translate off, чтобы остановить.
translate-on-pair = Перевожу каждое сообщение между языками: { $languages }. Отправьте /translate off, чтобы остановить.
translate-status = Перевожу, язык перевода: { $languages }. Отправьте /translate off, чтобы остановить.
translate-status-off = Перевод выключен. Включите его командой /translate LANG или /translate LANG,LANG.
language-pair = { $first } и { $second }
tr-needs-reply = Ответьте на сообщение командой /tr (или /tr LANG, например /tr de), и я его переведу.
tr-nothing = В этом сообщении нечего переводить.
tr-already = Это сообщение уже на нужном языке ({ $language }). Попробуйте /tr LANG для другого языка.
could-not-translate = Извините, не удалось перевести это (язык перевода: { $language }): моя модель всё время отвечала на другом языке.

## Настройки

set-reset = Настройки возвращены к значениям по умолчанию.
set-done = { $name } в этом чате теперь { $value }.
out-of-bounds = { $name } должно быть между { $low } и { $high }.
bound-excluded = { $value } (не включая)
value-none = нет
value-random = случайный
settings-title = Настройки этого чата:
settings-footer = (* задано здесь) Изменить: /set NAME ЗНАЧЕНИЕ; /set reset возвращает значения по умолчанию.

## Закреплённые заметки

no-notes = В этом чате ничего не закреплено. /remember ТЕКСТ закрепляет факт, который остаётся в моём контексте, какой бы длинной ни была переписка.
notes-cleared = Все заметки в этом чате откреплены.
notes-title = Закреплено в этом чате:
notes-footer = /remember delete N открепляет одну; /remember clear открепляет все.
note-added = Закреплено как заметка { $number }: я буду помнить это в этом чате, даже после /reset.
notes-full = В этом чате уже { $max } закреплённых заметок. Открепите одну командой /remember delete N.
note-too-long = Эта заметка не помещается: она занимает около { $needs } токенов, а в этом чате осталось место ещё на { $room } закреплённых токенов (закреплённое может занимать не больше четверти того, что я могу прочитать за раз). Сократите её или открепите другую командой /remember delete N.
note-deleted = Заметка { $number } откреплена: { $text }
no-such-note = { $count ->
    [0] Заметки { $number } нет: в этом чате ничего не закреплено.
    [one] Заметки { $number } нет: закреплена только заметка 1.
   *[other] Заметки { $number } нет: заметки пронумерованы от 1 до { $count }.
}

## /stats

stats = Сохранено реплик: { $stored }
    В окне: реплик { $turns }, токенов { $tokens } из { $budget } ({ $reserved } оставлено для ответа)
    Выпало из окна: { $dropped }
stats-last = Последний ответ: { $cached } из { $prompt } токенов промпта из кэша, { $speed } токенов/с
stats-sampling = Сэмплирование: temperature { $temperature }, top_p { $top_p }, max_tokens { $max_tokens }
    Модель: { $model }

## /why

no-record = У меня нет записи об этом сообщении: либо его написал не я, либо оно старше того, что я храню. Ответьте /why на один из моих ответов или отправьте просто /why для последнего.
no-answer-yet = В этом чате мне пока нечего объяснять.
why-source-system = собственный промпт /system этого чата
why-source-translation = промпт перевода
why-source-persona = персона «{ $persona }» (/mode)
why-stop-end = модель завершила свою реплику
why-stop-max-tokens = он достиг max_tokens (или конца контекста)
why-stop-string = встретилась одна из стоп-строк этого чата
why-stop-cancelled = его отменили
why-stop-failed = движок сломался на полпути
why-seed-repeatable = seed { $seed } (/set seed { $seed } снова даст тот же ответ)
why-seed-unused = seed { $seed } (не используется: при temperature 0 всегда выбирается самое вероятное слово)
why-no-seed = без seed
why-head = Как я написал этот ответ:
    Модель: { $model } (движок { $engine })
    Инструкции: { $source }, закреплённых заметок: { $notes_used } из { $notes_total }
why-conversation = Разговор: включено прежних реплик: { $included }, не вошло в окно: { $dropped }
    Промпт: { $prompt } токенов (закреплено { $pinned }, история { $history }, новое { $new }), из кэша: { $cached }
why-translation-prompt = Промпт: { $prompt } токенов, из кэша: { $cached }
why-answer = Ответ: { $tokens } токенов; он остановился, потому что { $stop }
    Сэмплирование: temperature { $temperature }, top_p { $top_p }, top_k { $top_k }, штраф за повтор { $penalty }, max_tokens { $max_tokens }, стоп-строк: { $stops }, { $seed }
    Скорость: первый токен через { $first } с, { $speed } токенов/с

## Файлы

size-bytes = { $count ->
    [one] { $count } байт
    [few] { $count } байта
   *[other] { $count } байт
}
files-we-read = Я читаю текстовые файлы (txt, md, csv, json, log, исходный код и подобное) размером до { $size }.
file-too-large = { $name } слишком велик для меня ({ $size }). { $readable }
file-is-media = Извините, я не умею открывать { $kind } ({ $name }). { $readable }
media-images = изображения
media-audio = аудиофайлы
media-video = видео
file-not-text = Извините, { $name } — не текстовый файл, который я могу прочитать. { $readable }
file-not-fetched = Извините, не удалось скачать { $name }. Пожалуйста, отправьте его ещё раз.

## Меню команд и /help

help-title = Команды:
help-admins = (для администраторов)
usage = Использование: { $command }
usage-unknown = Отправьте /help, чтобы увидеть команды.
command-help = Список команд
command-reset = Забыть этот разговор и начать заново
command-retry = Ответить на последнее сообщение ещё раз
command-mode = Сменить персону или показать список
command-model = Сменить модель этого чата или показать список
command-system = Задать системный промпт этого чата или показать его
command-translate = Переводить каждое сообщение: один язык или пара (en,zh), либо off
command-tr = В ответ на сообщение: перевести его (на LANG)
command-set = Показать или изменить temperature, top_p, max_tokens, seed или stop, либо сбросить
command-remember = Закрепить факт в контексте каждого ответа или показать закреплённое
command-stats = Показать окно контекста и скорость
command-why = Объяснить, как получен последний ответ (или тот, на который вы отвечаете)
command-cancel = Остановить ответ, который сейчас пишется
command-forget = Удалить ваши сохранённые сообщения

## Ошибки в команде

unknown-command = Неизвестная команда /{ $command }. Отправьте /help, чтобы увидеть список.
unknown-command-near = Неизвестная команда /{ $command }. Возможно, вы имели в виду /{ $suggestion }? Отправьте /help, чтобы увидеть список.
unknown-language = Неизвестный язык «{ $word }». Используйте коды вроде en, zh, fr, de, es, ja. { $usage }
too-many-languages = Не больше двух языков (пара переводит в обе стороны). { $usage }
note-number = Укажите номер заметки для удаления, как его показывает /remember, например /remember delete 2
note-chars = Заметка может быть не длиннее { $max } символов (в этой { $count }).
unknown-setting = Неизвестная настройка «{ $name }»: используйте temperature, top_p, max_tokens, seed, stop или reset.
takes-number = { $name } принимает число, например /set { $name } { $example }
seed-whole = seed принимает целое число или "random", например /set seed 42
max-tokens-whole = max_tokens принимает целое число, например /set max_tokens 300
stop-quotes = Заключите каждую стоп-строку в кавычки. { $usage }
stop-unclosed = Кавычка не закрыта. { $usage }
stop-empty = Стоп-строка не может быть пустой.
stop-too-many = Не больше { $max } стоп-строк.
stop-too-long = Стоп-строка может быть не длиннее { $max } символов.

## Названия языков

language-en = английский
language-zh = китайский
language-es = испанский
language-fr = французский
language-de = немецкий
language-ja = японский
language-ko = корейский
language-ru = русский
language-pt = португальский
language-it = итальянский
language-ar = арабский
language-hi = хинди
language-nl = нидерландский
language-pl = польский
language-tr = турецкий
language-uk = украинский
language-vi = вьетнамский
language-id = индонезийский
language-th = тайский
language-sv = шведский
language-da = датский
language-nb = норвежский
language-fi = финский
language-cs = чешский
language-sk = словацкий
language-hu = венгерский
language-ro = румынский
language-el = греческий
language-he = иврит
language-bg = болгарский
language-sr = сербский
language-hr = хорватский
language-ca = каталанский
language-fa = персидский
language-ur = урду
language-bn = бенгальский
language-ta = тамильский
language-ka = грузинский
language-hy = армянский
language-tl = тагальский
