//! What a failed Telegram send means, by what Telegram says rather than by its exact words.
//!
//! teloxide-core 0.13 drops the HTTP status and `error_code` of a Bot API error and keeps
//! only the `description`, which it matches against a list of old exact strings: anything
//! else becomes `ApiError::Unknown(description)`, and a known variant's `Display` is the
//! string it matched. Telegram rewords its answers over time (`Unauthorized: bot can't
//! initiate conversation…` is now `Forbidden: …`), so this module recovers the description
//! and classifies it by family: the status prefix Telegram writes before the colon
//! (`Forbidden:` is always the 403 family, `Bad Request:` the 400 one) and the words that
//! say which chat or which text is at fault. teloxide's variant names are never trusted.

use std::time::Duration;
use teloxide::{ApiError, RequestError};

/// Why Telegram did not take a message, as the sender needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 429: wait this long (Telegram's `parameters.retry_after`).
    RetryAfter(Duration),
    /// The group became a supergroup with this id (`parameters.migrate_to_chat_id`).
    Migrated(i64),
    /// A user who never opened a private chat with the bot.
    NotStarted(String),
    /// A user who blocked the bot: they said no.
    Blocked(String),
    /// Telegram does not know this chat for the bot (`chat not found`, `PEER_ID_INVALID`,
    /// `user not found`). For a user's private chat that means the same as [`NotStarted`]:
    /// it is what Telegram answers for people the bot only ever saw in a group
    /// (tdlib/telegram-bot-api#219). For a group it means the group is gone.
    ///
    /// [`NotStarted`]: Refusal::NotStarted
    UnknownChat(String),
    /// This chat cannot be reached: every other 403, a deleted or deactivated group, a
    /// deactivated user, another bot.
    Unreachable(String),
    /// The bot token itself was refused (a bare `Unauthorized`, `Not Found`: the token was
    /// revoked or is wrong). Nothing is wrong with the chat or the text; every send fails
    /// until the operator fixes the token.
    TokenRefused(String),
    /// The chat exists and the bot is in it, but it may not write there (no right to send
    /// text, a closed topic).
    ChatRefuses(String),
    /// This text is broken (`can't parse entities`, too long, empty): resending it as it is
    /// can never succeed.
    BrokenText(String),
    /// Any other request Telegram rejects (4xx): resending it as it is will fail the same.
    Rejected(String),
    /// Telegram's own trouble (5xx), the network, an answer that is not the Bot API's:
    /// worth trying again.
    Transient(String),
}

/// The `description` Telegram sent, as far as teloxide kept it.
pub fn description(api: &ApiError) -> String {
    match api {
        ApiError::Unknown(text) => text.clone(),
        // The one variant whose Display is not what Telegram said ("Unauthorized" or
        // "Not Found", both meaning the token is wrong).
        ApiError::InvalidToken => "Unauthorized".to_string(),
        other => other.to_string(),
    }
}

/// Classifies a failed request.
pub fn classify(e: &RequestError) -> Refusal {
    match e {
        RequestError::RetryAfter(s) => Refusal::RetryAfter(s.duration()),
        RequestError::MigrateToChatId(id) => Refusal::Migrated(id.0),
        RequestError::Api(api) => classify_description(&description(api)),
        // The network, a body that is not JSON (a proxy's HTML 502), an I/O error.
        other => Refusal::Transient(other.to_string()),
    }
}

/// Classifies a Bot API error description (`"Forbidden: bot was blocked by the user"`).
pub fn classify_description(description: &str) -> Refusal {
    let text = description.trim().to_string();
    let lower = text.to_ascii_lowercase();
    let (status, detail) = match lower.split_once(':') {
        Some((status, detail)) => (status.trim(), detail.trim()),
        None => (lower.as_str(), ""),
    };
    // The private chat first: the two refusals that decide between a group notice and
    // silence. Telegram's old wording put them under "Unauthorized:".
    if detail.contains("initiate conversation") {
        return Refusal::NotStarted(text);
    }
    if detail.contains("blocked by the user") {
        return Refusal::Blocked(text);
    }
    if detail.contains("can't parse entities")
        || detail.contains("message is too long")
        || detail.contains("message text is empty")
        || detail.contains("text must be non-empty")
        || detail.contains("entities_too_long")
        || detail.contains("message_too_long")
    {
        return Refusal::BrokenText(text);
    }
    if detail.contains("not enough rights to send")
        || detail.contains("have no rights to send")
        || detail.contains("need administrator rights")
        || detail.contains("topic_closed")
        || detail.contains("topic_deleted")
        || detail.contains("chat_write_forbidden")
        || detail.contains("chat_restricted")
        || detail.contains("chat_send_plain_forbidden")
    {
        return Refusal::ChatRefuses(text);
    }
    match status {
        // 403: whoever it is, this chat will not take the bot's messages.
        "forbidden" => Refusal::Unreachable(text),
        // The old 403 wording ("Unauthorized: bot was kicked from a chat"); a bare
        // "Unauthorized" is a wrong token, which no retry fixes either.
        "unauthorized" if !detail.is_empty() => Refusal::Unreachable(text),
        "unauthorized" | "not found" if detail.is_empty() => Refusal::TokenRefused(text),
        "bad request"
            if detail.contains("chat not found")
                || detail.contains("peer_id_invalid")
                || detail.contains("user not found") =>
        {
            Refusal::UnknownChat(text)
        }
        "bad request"
            if detail.contains("group is deactivated")
                || detail.contains("chat_id_invalid")
                || detail.contains("user_is_deactivated")
                || detail.contains("input_user_deactivated") =>
        {
            Refusal::Unreachable(text)
        }
        "too many requests" => Refusal::RetryAfter(Duration::from_secs(
            // Only reached when `parameters.retry_after` was missing; "retry after N".
            lower
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(5),
        )),
        "internal server error" | "bad gateway" | "gateway timeout" | "service unavailable" => {
            Refusal::Transient(text)
        }
        "bad request" | "unauthorized" | "not found" | "conflict" | "request entity too large" => {
            Refusal::Rejected(text)
        }
        // A description without a known status family: Telegram's trouble, or a proxy's.
        _ => Refusal::Transient(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teloxide::types::{ChatId, Seconds};

    /// The family each answer Telegram gives today belongs to. Sources for the wordings:
    /// - "Forbidden: bot can't initiate conversation with a user" (403):
    ///   https://github.com/TelegramBotAPI/errors/issues/2,
    ///   https://github.com/lnp2pBot/bot/issues/159
    /// - "Forbidden: bot was blocked by the user" (403):
    ///   https://github.com/TelegramBot/Api/issues/382
    /// - "Forbidden: bot was kicked from the group chat" / "…supergroup chat" (403):
    ///   https://github.com/TelegramBots/Telegram.Bot/issues/662,
    ///   https://github.com/aiogram/aiogram/pull/445, https://github.com/teloxide/teloxide/issues/372
    /// - "Forbidden: the group chat was deleted" (403):
    ///   https://github.com/yagop/node-telegram-bot-api/issues/1155
    /// - "Bad Request: not enough rights to send text messages to the chat" (400):
    ///   https://github.com/TelegramBotAPI/errors/issues/5,
    ///   https://github.com/python-telegram-bot/python-telegram-bot/issues/3956
    /// - "Bad Request: TOPIC_CLOSED" (400):
    ///   https://github.com/rteixeirax/qbittorrent_telegram_notification/issues/12
    /// - "Bad Request: PEER_ID_INVALID": https://github.com/TelegramBots/Telegram.Bot/issues/109
    /// - "Bad Request: chat not found": https://github.com/Hentioe/policr-mini/issues/86
    /// - the others as listed in issue 9 (the bot's own tracker).
    const TABLE: &[(&str, &str)] = &[
        (
            "Forbidden: bot can't initiate conversation with a user",
            "not_started",
        ),
        // teloxide's own (old) wording of the same refusal.
        (
            "Unauthorized: bot can't initiate conversation with a user",
            "not_started",
        ),
        ("Forbidden: bot was blocked by the user", "blocked"),
        ("Forbidden: bot was kicked from the group chat", "unreachable"),
        (
            "Forbidden: bot was kicked from the supergroup chat",
            "unreachable",
        ),
        ("Forbidden: the group chat was deleted", "unreachable"),
        (
            "Forbidden: bot is not a member of the supergroup chat",
            "unreachable",
        ),
        (
            "Forbidden: bot is not a member of the channel chat",
            "unreachable",
        ),
        ("Forbidden: user is deactivated", "unreachable"),
        ("Forbidden: bot can't send messages to bots", "unreachable"),
        ("Unauthorized: bot was kicked from a chat", "unreachable"),
        // Any 403 at all, in words nobody has seen yet.
        ("Forbidden: some wording from next year", "unreachable"),
        ("Bad Request: chat not found", "unknown_chat"),
        ("Bad Request: PEER_ID_INVALID", "unknown_chat"),
        ("Bad Request: user not found", "unknown_chat"),
        ("Bad Request: group is deactivated", "unreachable"),
        (
            "Bad Request: not enough rights to send text messages to the chat",
            "refuses",
        ),
        ("Bad Request: TOPIC_CLOSED", "refuses"),
        ("Bad Request: have no rights to send a message", "refuses"),
        (
            "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3",
            "broken",
        ),
        (
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
            "broken",
        ),
        ("Bad Request: message is too long", "broken"),
        ("Bad Request: message text is empty", "broken"),
        ("Bad Request: wrong parameter action in request", "rejected"),
        // teloxide's InvalidToken: a revoked or wrong token, for every chat alike.
        ("Unauthorized", "token"),
        ("Not Found", "token"),
        ("Internal Server Error", "transient"),
        ("Bad Gateway", "transient"),
    ];

    fn family(r: &Refusal) -> &'static str {
        match r {
            Refusal::RetryAfter(_) => "retry_after",
            Refusal::Migrated(_) => "migrated",
            Refusal::NotStarted(_) => "not_started",
            Refusal::Blocked(_) => "blocked",
            Refusal::Unreachable(_) => "unreachable",
            Refusal::UnknownChat(_) => "unknown_chat",
            Refusal::TokenRefused(_) => "token",
            Refusal::ChatRefuses(_) => "refuses",
            Refusal::BrokenText(_) => "broken",
            Refusal::Rejected(_) => "rejected",
            Refusal::Transient(_) => "transient",
        }
    }

    /// The description as teloxide hands it over: parsed from Telegram's real JSON.
    fn as_teloxide_returns(description: &str) -> RequestError {
        let api: ApiError = serde_json::from_value(serde_json::json!(description)).unwrap();
        RequestError::Api(api)
    }

    #[test]
    fn every_wording_telegram_uses_today_lands_in_its_family() {
        for (description, want) in TABLE {
            let got = classify(&as_teloxide_returns(description));
            assert_eq!(family(&got), *want, "{description}: {got:?}");
            // The reason kept is Telegram's own sentence, whatever teloxide made of it.
            match got {
                Refusal::RetryAfter(_) | Refusal::Migrated(_) => {}
                Refusal::NotStarted(t)
                | Refusal::Blocked(t)
                | Refusal::Unreachable(t)
                | Refusal::UnknownChat(t)
                | Refusal::ChatRefuses(t)
                | Refusal::BrokenText(t)
                | Refusal::Rejected(t)
                | Refusal::Transient(t) => assert_eq!(&t, description),
                // teloxide keeps no description for these: it is "Unauthorized" for both.
                Refusal::TokenRefused(_) => {}
            }
        }
    }

    #[test]
    fn parameters_win_over_the_description() {
        assert_eq!(
            classify(&RequestError::RetryAfter(Seconds::from_seconds(7))),
            Refusal::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            classify(&RequestError::MigrateToChatId(ChatId(-100_123))),
            Refusal::Migrated(-100_123)
        );
    }
}
