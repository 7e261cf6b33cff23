//! Making pings inert ([`neutralize_mentions`]), and how much of a streamed text's end may
//! still become a mention.

use crate::seam::Markup;

use super::ZERO_WIDTH_SPACE;

/// Make mass pings and user/role pings in `text` inert.
///
/// On every platform `@everyone` and `@here` (any case) get a zero-width space after the `@`
/// (`@\u{200B}everyone`): they read the same but no platform treats them as mentions. On
/// Discord, user, nickname, role and channel mentions (`<@123>`, `<@!123>`, `<@&123>`, `<#123>`)
/// get a zero-width space after the `<`, so they show as their literal text instead of a ping.
/// Telegram `@username` mentions are left alone: Telegram has no mass mention, a username
/// notifies at most that one member of the chat, and rewriting `@word` would corrupt code such
/// as Python decorators. The Discord adapter also sends `allowed_mentions` empty; this is
/// defence in depth.
pub fn neutralize_mentions(text: &str, markup: Markup) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else { break };
        out.push(c);
        i += c.len_utf8();
        let after = &text[i..];
        let ping = match c {
            '@' => mass_mention_len(after).is_some(),
            '<' => markup == Markup::DiscordMarkdown && discord_mention_len(after).is_some(),
            _ => false,
        };
        if ping {
            out.push(ZERO_WIDTH_SPACE);
        }
    }
    out
}

/// If `after` (the text after an `@`) starts with `everyone` or `here`, its length.
fn mass_mention_len(after: &str) -> Option<usize> {
    ["everyone", "here"].into_iter().find_map(|word| {
        after
            .get(..word.len())
            .filter(|head| head.eq_ignore_ascii_case(word))
            .map(|_| word.len())
    })
}

/// If `after` (the text after a `<`) is the body of a Discord mention (`@123>`, `@!123>`,
/// `@&123>`, `#123>`), its length.
fn discord_mention_len(after: &str) -> Option<usize> {
    let body = after
        .strip_prefix("@!")
        .or_else(|| after.strip_prefix("@&"))
        .or_else(|| after.strip_prefix('@'))
        .or_else(|| after.strip_prefix('#'))?;
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && body[digits..].starts_with('>')).then(|| after.len() - body.len() + digits + 1)
}

/// How many bytes at the end of `text` could still become a mention once more text arrives;
/// [`StreamRenderer`] holds them back so neutralising never changes text already shown.
pub(super) fn unfinished_mention_tail(text: &str, markup: Markup) -> usize {
    let window_start = text.len().saturating_sub(32);
    let mut hold = 0;
    for (i, c) in text.char_indices().rev() {
        if i < window_start || c.is_whitespace() {
            break;
        }
        let unfinished = match c {
            '@' => {
                let after = &text[i + 1..];
                ["everyone", "here"].iter().any(|w| {
                    after.len() < w.len()
                        && w.get(..after.len())
                            .is_some_and(|h| h.eq_ignore_ascii_case(after))
                })
            }
            '<' if markup == Markup::DiscordMarkdown => {
                let after = &text[i + 1..];
                let body = after
                    .strip_prefix("@!")
                    .or_else(|| after.strip_prefix("@&"))
                    .or_else(|| after.strip_prefix('@'))
                    .or_else(|| after.strip_prefix('#'));
                let prefix_only = matches!(after, "" | "@");
                prefix_only || body.is_some_and(|b| b.bytes().all(|x| x.is_ascii_digit()))
            }
            _ => false,
        };
        if unfinished {
            // Keep looking: an earlier `<` may start a mention that contains this `@`.
            hold = text.len() - i;
        }
    }
    hold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everyone_and_here_are_neutralized_on_every_platform() {
        for m in [
            Markup::Plain,
            Markup::DiscordMarkdown,
            Markup::TelegramPlain,
        ] {
            let out = neutralize_mentions("hi @everyone and @here, @Everyone", m);
            assert_eq!(
                out,
                "hi @\u{200B}everyone and @\u{200B}here, @\u{200B}Everyone"
            );
        }
    }

    #[test]
    fn discord_user_role_and_channel_mentions_are_neutralized() {
        let out = neutralize_mentions("<@123> <@!45> <@&678> <#9>", Markup::DiscordMarkdown);
        assert_eq!(
            out,
            "<\u{200B}@123> <\u{200B}@!45> <\u{200B}@&678> <\u{200B}#9>"
        );
    }

    #[test]
    fn lookalikes_are_left_alone() {
        let t = "a <b> c <@abc> <@> 1 < 2 email@example.com <#x>";
        assert_eq!(neutralize_mentions(t, Markup::DiscordMarkdown), t);
    }

    #[test]
    fn telegram_usernames_are_readable_and_unchanged() {
        let t = "ask @alice_bot about <@123> @property";
        assert_eq!(neutralize_mentions(t, Markup::TelegramPlain), t);
    }
}
