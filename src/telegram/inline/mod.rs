//! Inline mode: `@bot <text>` in any chat answers with the typing person's 抖口令, one result
//! per reference in the text, ready to post.
//!
//! - **Attribution.** Each reference is converted through the same [`Converter`] as a
//!   message, for the person typing (`from.id`), with their own id as the chat: an inline
//!   query has no chat, and their private chat is the only one that is theirs. The order
//!   news' group fallback looks only at chats other than the user's own, so nothing made
//!   inline is ever announced in a group.
//! - **Nobody else's password.** Every answer is `is_personal` with `cache_time` 0: Telegram
//!   never hands one person's results to another, nor keeps them.
//! - **Who.** Inline has no chat, so `ALLOWED_CHAT_IDS` (about chats) does not apply:
//!   operators always, everyone else unless `INLINE=off` (then: no results, and a button to
//!   the private chat). The per-user rate limit counts each new conversion, not keystrokes.
//! - **Keystrokes.** A query is converted only when a reference in it is typed out
//!   ([`complete`]); each person's newest query alone is answered, and a reference is
//!   converted once however many keystrokes name it ([`typing`]).
//! - **No reference**: one hint result (how to use it) and a button to the private chat.
//!
//! Telegram's refusals of an answer are logged, never raised: "query is too old and
//! response timeout expired or query ID is invalid" (the person typed on, or the answer
//! came after Telegram's ~10 s) only at debug level.

mod complete;
mod render;
mod typing;

pub use complete::{readiness, Readiness, MIN_ID_DIGITS, MIN_SHORT_CODE};
pub use render::Article;

use super::{lang_of, refusal, HandlerError, Policy, Telegram};
use crate::convert::{ConvertRequest, Converter};
use crate::detect::{detect, Reference};
use crate::store::Store;
use futures::future::join_all;
use std::sync::Arc;
use std::time::Duration;
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::{
    InlineQuery, InlineQueryResult, InlineQueryResultArticle, InlineQueryResultsButton,
    InlineQueryResultsButtonKind, InputMessageContent, InputMessageContentText, ParseMode,
};
use typing::Typing;

/// How long a person must stop typing before a reference that ends their query (and so
/// may still grow) is converted.
pub const QUIET: Duration = Duration::from_millis(500);

/// The `/start` payload of the buttons to the private chat (`A-Z a-z 0-9 _ -`, 1–64).
pub const START_PAYLOAD: &str = "inline";

/// Telegram takes at most 50 results per answer (more: `Bad Request: RESULTS_TOO_MUCH`).
const MAX_RESULTS: usize = 50;

/// Inline mode's state: who is typing what, and the bot's name for the hint.
#[derive(Debug)]
pub struct Inline {
    typing: Typing,
    bot_username: String,
    quiet: Duration,
}

impl Inline {
    pub fn new(bot_username: Option<String>) -> Self {
        Inline {
            typing: Typing::default(),
            bot_username: bot_username.unwrap_or_else(|| "bot".into()),
            quiet: QUIET,
        }
    }
}

/// The inline branch of the dispatcher.
pub fn handler() -> UpdateHandler<HandlerError> {
    Update::filter_inline_query().endpoint(on_inline_query)
}

/// What one query is answered with.
struct Reply {
    articles: Vec<Article>,
    /// A button above the results, opening the private chat, with this label.
    button: Option<String>,
}

async fn on_inline_query(
    q: InlineQuery,
    update: Update,
    tg: Telegram,
    converter: Arc<dyn Converter>,
    policy: Arc<Policy>,
    inline: Arc<Inline>,
    store: Store,
) -> Result<(), HandlerError> {
    let user = q.from.id.0;
    let this = update.id.0;
    if q.from.is_bot || !inline.typing.begin(user, this) {
        return Ok(());
    }
    let reply = if !policy.inline && !policy.is_admin(user) {
        let lang = lang_of(&store, &q.from).await;
        Reply {
            articles: Vec::new(),
            button: Some(render::refused_button(lang).into()),
        }
    } else {
        match work(&q, this, &converter, &policy, &inline, &store).await {
            Some(reply) => reply,
            None => return Ok(()),
        }
    };
    answer(&tg, &inline, &q, this, reply).await;
    Ok(())
}

/// The reply to `q`, or None when a newer query of the same person took over.
async fn work(
    q: &InlineQuery,
    this: u32,
    converter: &Arc<dyn Converter>,
    policy: &Policy,
    inline: &Inline,
    store: &Store,
) -> Option<Reply> {
    let user = q.from.id.0;
    let typing = &inline.typing;
    let mut refs = detect(&q.query);
    let mut seen = std::collections::HashSet::new();
    refs.retain(|r| seen.insert(r.value.clone()));
    if refs.is_empty() {
        let lang = lang_of(store, &q.from).await;
        return Some(Reply {
            articles: vec![render::hint(&inline.bot_username, lang)],
            button: Some(render::private_chat_button(lang).into()),
        });
    }
    let mut settling = false;
    refs.retain(|r| match readiness(&q.query, r) {
        Readiness::Ready => true,
        Readiness::Settling => {
            settling |= !typing.known(user, &r.value);
            true
        }
        Readiness::Partial => false,
    });
    if refs.is_empty() {
        let lang = lang_of(store, &q.from).await;
        return Some(Reply {
            articles: vec![render::pending(&inline.bot_username, lang)],
            button: None,
        });
    }
    if settling {
        tokio::time::sleep(inline.quiet).await;
        if !typing.is_newest(user, this) {
            return None;
        }
    }
    // New conversions count against the person's limit; those already made or under way
    // (earlier keystrokes) are free.
    let (known, new): (Vec<Reference>, Vec<Reference>) =
        refs.into_iter().partition(|r| typing.known(user, &r.value));
    let grant = policy.limiter.take(user, new.len());
    let held_back = grant.granted < new.len();
    let mut refs: Vec<Reference> = known
        .into_iter()
        .chain(new.into_iter().take(grant.granted))
        .collect();
    refs.sort_by_key(|r| r.start);

    let user_name = Some(
        q.from
            .username
            .as_ref()
            .map_or_else(|| q.from.full_name(), |u| format!("@{u}")),
    );
    let flights = refs.into_iter().map(|reference| {
        let converter = converter.clone();
        let req = ConvertRequest {
            user_id: user,
            user_name: user_name.clone(),
            // No chat: the person's own (private) one, never a group.
            chat_id: user as i64,
            reference,
        };
        typing.flight(user, &req.reference.value.clone(), move || {
            converter.convert(req)
        })
    });
    let results = join_all(flights).await;
    if !typing.is_newest(user, this) {
        return None;
    }
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        tracing::warn!(user_id = user, error = %e, "inline conversion failed");
    }
    let lang = lang_of(store, &q.from).await;
    let many = results.len() > 1;
    let articles = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let number = many.then_some(i + 1);
            match r {
                Ok(c) => render::converted(c, number, lang, policy.rebate_percent()),
                Err(e) => render::failed(e, number, lang),
            }
        })
        .collect();
    Some(Reply {
        articles,
        button: held_back.then(|| render::rate_limited_button(grant.retry_after, lang)),
    })
}

/// A result id: unique within the answer, at most 64 bytes (Telegram: `RESULT_ID_DUPLICATE`,
/// `RESULT_ID_INVALID` otherwise).
fn result_id(i: usize, article: &Article) -> String {
    // FNV-1a: stable across runs, so a person's same result keeps its id.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in article.html.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("r{i}_{h:016x}")
}

fn to_result(i: usize, a: Article) -> InlineQueryResult {
    let content = InputMessageContentText::new(a.html.clone())
        .parse_mode(ParseMode::Html)
        .link_preview_options(super::no_preview());
    let article = InlineQueryResult::Article(
        InlineQueryResultArticle::new(
            result_id(i, &a),
            a.title,
            InputMessageContent::Text(content),
        )
        .description(a.description),
    );
    match a.thumbnail {
        Some(url) => match (article, url.parse()) {
            (InlineQueryResult::Article(article), Ok(url)) => {
                InlineQueryResult::Article(article.thumbnail_url(url))
            }
            (article, _) => article,
        },
        None => article,
    }
}

/// Sends the reply, unless a newer query of the same person arrived meanwhile. One answer
/// per person at a time: an older one is either out before a newer one starts, or dropped.
async fn answer(tg: &Telegram, inline: &Inline, q: &InlineQuery, this: u32, reply: Reply) {
    let user = q.from.id.0;
    let _turn = inline.typing.answer_turn(user).await;
    if !inline.typing.is_newest(user, this) {
        tracing::debug!(user_id = user, "inline query superseded; not answered");
        return;
    }
    let results: Vec<InlineQueryResult> = reply
        .articles
        .into_iter()
        .take(MAX_RESULTS)
        .enumerate()
        .map(|(i, a)| to_result(i, a))
        .collect();
    let mut request = tg
        .bot
        .answer_inline_query(q.id.clone(), results)
        .is_personal(true)
        .cache_time(0);
    if let Some(text) = reply.button {
        request = request.button(InlineQueryResultsButton {
            text,
            kind: InlineQueryResultsButtonKind::StartParameter(START_PAYLOAD.into()),
        });
    }
    if let Err(e) = request.await {
        log_refusal(user, &e);
    }
}

/// A refused answer is logged, never raised. A query that is too old (the person typed on,
/// or Telegram's time ran out) is routine.
fn log_refusal(user: u64, e: &teloxide::RequestError) {
    let text = match e {
        teloxide::RequestError::Api(api) => refusal::description(api),
        other => other.to_string(),
    };
    let lower = text.to_ascii_lowercase();
    if lower.contains("query is too old") || lower.contains("query_id_invalid") {
        tracing::debug!(user_id = user, description = %text, "inline answer too late");
    } else {
        tracing::warn!(user_id = user, description = %text, "answerInlineQuery refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Lang;

    #[test]
    fn result_ids_are_unique_and_short() {
        let a = render::hint("bot", Lang::Zh);
        let ids: Vec<String> = (0..MAX_RESULTS).map(|i| result_id(i, &a)).collect();
        assert!(ids.iter().all(|id| id.len() <= 64));
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
