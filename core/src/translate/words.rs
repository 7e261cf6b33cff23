//! The word lists short-text detection votes with: chat interjections every language uses,
//! common short chat words, and frequent, distinctive words of each language.

use super::lang::TextLanguage;

/// Chat interjections shared by many languages: never worth translating.
pub(super) const INTERJECTIONS: &[&str] = &[
    "ok", "okay", "okey", "k", "kk", "lol", "lmao", "rofl", "haha", "hahaha", "hehe", "xd", "omg",
    "wtf", "hmm", "hm", "gg", "brb", "np", "ty", "thx", "pls", "plz", "ah", "oh", "eh", "uh",
    "wow", "yay", "ha", "jaja", "jajaja", "mdr", "xoxo", "afk", "idk", "imo", "btw", "ok ok",
    "ok!",
];

/// Common short chat words that settle the language of a message of one or two words.
pub(super) const SHORT_WORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "hello",
            "hi",
            "hey",
            "thanks",
            "thank you",
            "yes",
            "yeah",
            "yep",
            "nope",
            "sure",
            "please",
            "sorry",
            "bye",
            "goodbye",
            "good morning",
            "good night",
            "good",
            "great",
            "nice",
            "cool",
            "awesome",
            "what",
            "why",
            "how",
            "where",
            "when",
            "who",
            "really",
            "maybe",
            "of course",
            "no problem",
            "see you",
            "welcome",
            "agreed",
            "exactly",
        ],
    ),
    (
        "fr",
        &[
            "merci",
            "bonjour",
            "bonsoir",
            "salut",
            "oui",
            "ouais",
            "d'accord",
            "merci beaucoup",
            "bonne nuit",
            "au revoir",
            "à bientôt",
            "ça va",
            "pourquoi",
            "comment",
            "bien sûr",
            "super",
            "génial",
            "peut-être",
            "voilà",
            "désolé",
            "s'il vous plaît",
            "coucou",
        ],
    ),
    (
        "de",
        &[
            "danke",
            "hallo",
            "ja",
            "nein",
            "bitte",
            "tschüss",
            "genau",
            "danke schön",
            "guten morgen",
            "gute nacht",
            "guten tag",
            "natürlich",
            "vielleicht",
            "warum",
            "wie",
            "stimmt",
            "klar",
            "servus",
            "moin",
            "entschuldigung",
            "alles klar",
        ],
    ),
    (
        "es",
        &[
            "hola",
            "gracias",
            "sí",
            "adiós",
            "vale",
            "claro",
            "buenos días",
            "buenas noches",
            "por favor",
            "muchas gracias",
            "de nada",
            "perdón",
            "quizás",
            "por qué",
            "bueno",
            "genial",
            "vamos",
            "hasta luego",
            "qué tal",
        ],
    ),
    (
        "it",
        &[
            "ciao",
            "grazie",
            "prego",
            "buongiorno",
            "buonanotte",
            "grazie mille",
            "perché",
            "certo",
            "allora",
        ],
    ),
    (
        "pt",
        &[
            "obrigado",
            "obrigada",
            "olá",
            "sim",
            "não",
            "tchau",
            "bom dia",
            "boa noite",
            "valeu",
            "beleza",
        ],
    ),
    (
        "nl",
        &[
            "dank je",
            "dankjewel",
            "hoi",
            "doei",
            "goedemorgen",
            "bedankt",
        ],
    ),
];

/// Frequent, distinctive words per language: on short text, where statistics have too little
/// to go on, a few of these settle the language. Words shared by several of these languages
/// (`de`, `la`, `no`, `me`, `un`, `con`, `bien`, …) are left out on purpose.
const LEXICON: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "i", "you", "he", "she", "we", "they", "the", "is", "are", "was", "were", "be", "to",
            "of", "and", "on", "at", "for", "with", "this", "that", "what", "why", "how", "not",
            "don't", "i'm", "it's", "let's", "my", "your", "yes", "too", "so", "do", "does", "can",
            "will", "good", "nice", "one", "thanks", "thank", "fine", "know", "think", "idea",
            "way", "worries", "here", "anyone", "tomorrow", "today", "sounds", "see", "go",
            "perfect", "cheers", "hi", "hey", "hello", "it", "in", "me", "all", "just", "please",
            "sorry", "great", "cool", "agree", "right", "sure", "yeah", "yep",
        ],
    ),
    (
        "fr",
        &[
            "je", "tu", "il", "elle", "nous", "vous", "ils", "les", "une", "est", "et", "mais",
            "pas", "ne", "c'est", "ça", "avec", "pour", "dans", "sur", "moi", "toi", "aussi",
            "oui", "merci", "très", "bonne", "bon", "idée", "d'accord", "parti", "joué", "suis",
            "sont", "qui", "quoi", "vie", "salut", "santé", "bonjour", "bonsoir", "au", "du",
            "j'ai", "on", "peut", "fait", "tout", "rien", "beaucoup", "coucou", "voilà",
        ],
    ),
    (
        "de",
        &[
            "ich", "du", "er", "sie", "wir", "ihr", "der", "die", "das", "ist", "und", "nicht",
            "ein", "eine", "mit", "auf", "für", "sehr", "gut", "genau", "wie", "geht's", "weiß",
            "danke", "bitte", "ja", "nein", "prost", "ganz", "auch", "noch", "schon", "heute",
            "morgen", "was", "wer", "warum", "hallo", "tschüss", "mir", "mich", "dich", "kein",
            "klar", "stimmt", "moin", "servus",
        ],
    ),
    (
        "es",
        &[
            "yo", "tú", "él", "ella", "el", "los", "las", "es", "está", "estás", "estoy", "muy",
            "qué", "pasa", "dónde", "cómo", "por", "para", "pero", "sí", "gracias", "hola",
            "buenas", "buenos", "también", "salud", "vamos", "y", "del", "todo", "nada", "mucho",
            "hay", "vale", "claro", "bueno", "adiós", "mañana", "hoy", "soy", "eres",
        ],
    ),
    (
        "it",
        &[
            "io",
            "sei",
            "è",
            "che",
            "non",
            "il",
            "gli",
            "sono",
            "ciao",
            "ragazzi",
            "grazie",
            "molto",
            "bene",
            "perché",
            "anche",
            "questo",
            "cosa",
            "tutto",
            "buongiorno",
            "prego",
            "allora",
            "certo",
            "oggi",
            "domani",
        ],
    ),
    (
        "pt",
        &[
            "eu", "você", "não", "sim", "obrigado", "obrigada", "pela", "pelo", "ajuda", "tudo",
            "bem", "muito", "é", "também", "olá", "oi", "uma", "isso", "aqui", "valeu", "beleza",
            "tchau", "hoje", "amanhã",
        ],
    ),
    (
        "nl",
        &[
            "ik",
            "jij",
            "het",
            "een",
            "niet",
            "wel",
            "dank",
            "hoe",
            "gaat",
            "goed",
            "wat",
            "zijn",
            "met",
            "voor",
            "hoi",
            "doei",
            "bedankt",
            "ook",
            "maar",
            "van",
            "dankjewel",
        ],
    ),
];

/// The language whose [`LEXICON`] words (and telltale letters) the text uses most, if one
/// clearly leads: (language, hits).
pub(super) fn lexicon_vote(normalized: &str, original: &str) -> Option<(TextLanguage, usize)> {
    let mut scores: Vec<(&str, usize)> = LEXICON
        .iter()
        .map(|(code, words)| {
            let hits = normalized
                .split_whitespace()
                .filter(|w| words.contains(w))
                .count();
            (*code, hits)
        })
        .collect();
    let bump = |scores: &mut Vec<(&str, usize)>, code: &str| {
        if let Some(s) = scores.iter_mut().find(|s| s.0 == code) {
            s.1 += 1;
        }
    };
    if original.contains(['¿', '¡', 'ñ']) {
        bump(&mut scores, "es");
    }
    if original.contains('ß') {
        bump(&mut scores, "de");
    }
    if original.contains(['ã', 'õ']) {
        bump(&mut scores, "pt");
    }
    scores.sort_by_key(|s| std::cmp::Reverse(s.1));
    match scores.as_slice() {
        [(code, best), (_, second), ..] if *best > 0 && best > second => {
            TextLanguage::from_code(code).map(|l| (l, *best))
        }
        _ => None,
    }
}
