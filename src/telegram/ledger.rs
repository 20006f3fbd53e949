//! `/balance` (a user's rebate) and `/payout` (an operator pays a user, confirmed with a
//! button): the Telegram side of the rebate ledger ([`crate::store::ledger`]). A payout is
//! asked for in the operator's private chat and written only when its button is pressed,
//! once, within five minutes, by the operator who asked, within the balance at that moment;
//! the user is told through the outbox, in the same transaction as the ledger line.

use super::texts::{self, ledger as words};
use super::{lang_of, person, private_operator, HandlerError, NotifierWake, Policy, Telegram};
use crate::money::parse_amount;
use crate::store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message};

/// A payout note's length at most (characters).
pub const NOTE_CHARS: usize = 200;

/// Ledger lines shown by `/balance`.
const LAST_LINES: i64 = 10;

/// A confirm button's `callback_data`: `payout:<token>`.
pub const CALLBACK_PREFIX: &str = "payout:";

/// `/balance`, private chat only.
pub async fn balance(
    tg: &Telegram,
    msg: &Message,
    store: &Store,
    policy: &Policy,
) -> Result<(), HandlerError> {
    let Some(user) = person(msg) else {
        return Ok(());
    };
    let lang = lang_of(store, user).await;
    let text = if !msg.chat.is_private() {
        words::balance_in_private(lang).to_string()
    } else {
        let percent = policy.rebate_percent();
        match (
            store.balance(user.id.0, percent).await,
            store.ledger(Some(user.id.0), Some(LAST_LINES)).await,
        ) {
            (Ok(b), Ok(lines)) => words::balance(lang, &b, &lines, percent),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "could not read a balance");
                texts::internal_error(lang).to_string()
            }
        }
    };
    tg.reply(msg.chat.id.0, &text, None).await?;
    Ok(())
}

/// A token for one payout request: unique in this process and across instances (the
/// instance id), and not guessable from another request's.
fn token() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let instance = crate::instance::id();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(instance, nanos, seq), &mut h);
    format!("{:x}{:x}", std::hash::Hasher::finish(&h), seq & 0xffff)
}

/// `/payout <user id> <amount> [note]`: operators only, answered in their private chat
/// (ignored for anyone else, as if the command did not exist).
pub async fn payout(
    tg: &Telegram,
    msg: &Message,
    args: &str,
    store: &Store,
    policy: &Policy,
) -> Result<(), HandlerError> {
    // Money is moved from the operator's private chat only: in a group the command is
    // ignored (nothing asked, nothing shown there).
    let Some(operator) = private_operator(msg, policy) else {
        return Ok(());
    };
    let lang = lang_of(store, operator).await;
    let private = operator.id.0 as i64;
    let mut words_in = args.split_whitespace();
    let (user, amount) = (words_in.next(), words_in.next());
    // Bounded: it goes into the question and into the user's message.
    let note = texts::bounded(&words_in.collect::<Vec<_>>().join(" "), NOTE_CHARS);
    let user = user.and_then(|u| u.parse::<u64>().ok()).filter(|u| *u > 0);
    let (user, amount) = match (user, amount.map(parse_amount)) {
        (Some(u), Some(Ok(a))) => (u, a),
        (_, Some(Err(e))) => {
            tg.reply(private, &words::payout_usage(lang, &e.to_string()), None)
                .await?;
            return Ok(());
        }
        _ => {
            tg.reply(private, &words::payout_usage(lang, ""), None)
                .await?;
            return Ok(());
        }
    };
    let token = token();
    let now = chrono::Utc::now().timestamp();
    let asked = store
        .request_payout(&token, operator.id.0, user, amount, &note, now)
        .await;
    let text = match asked {
        Ok(Ok(())) => {
            let available = store.available(user).await.unwrap_or_default();
            let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback(
                words::payout_button(lang),
                format!("{CALLBACK_PREFIX}{token}"),
            )]]);
            let question = words::payout_confirm(lang, user, amount, &note, available);
            tg.reply_with_keyboard(private, &question, Some(keyboard))
                .await?;
            return Ok(());
        }
        Ok(Err(refused)) => words::payout_refused(lang, &refused),
        Err(e) => {
            tracing::error!(error = %e, "could not ask for a payout");
            texts::internal_error(lang).to_string()
        }
    };
    tg.reply(private, &text, None).await?;
    Ok(())
}

/// The confirm button pressed: the payout written (once), the button's message edited to
/// say so, the user told by the notifier.
pub async fn on_callback(
    tg: Telegram,
    q: CallbackQuery,
    store: Store,
    policy: Arc<Policy>,
    wake: NotifierWake,
) -> Result<(), HandlerError> {
    let token = q
        .data
        .as_deref()
        .and_then(|d| d.strip_prefix(CALLBACK_PREFIX))
        .unwrap_or_default()
        .to_string();
    // Only an operator's press counts; anyone else's is answered and changes nothing.
    if token.is_empty() || !policy.is_admin(q.from.id.0) {
        tg.answer_callback(&q.id, None).await;
        return Ok(());
    }
    let lang = lang_of(&store, &q.from).await;
    let now = chrono::Utc::now().timestamp();
    match store.confirm_payout(&token, q.from.id.0, now).await {
        Ok((Some((user, amount)), Ok(balance))) => {
            wake.0.notify_one();
            tracing::info!(
                user_id = user,
                amount,
                operator = q.from.id.0,
                "payout written"
            );
            tg.answer_callback(&q.id, None).await;
            if let Some(m) = q.message.as_ref() {
                tg.edit_html(
                    m.chat().id.0,
                    m.id(),
                    &words::payout_done(lang, user, amount, balance),
                    None,
                )
                .await?;
            }
        }
        Ok((_, Err(refused))) => {
            // A toast is plain text.
            let text = words::payout_refused(lang, &refused)
                .replace("<code>", "")
                .replace("</code>", "");
            tg.answer_callback(&q.id, Some(&text)).await;
        }
        Ok(_) => tg.answer_callback(&q.id, None).await,
        Err(e) => {
            tracing::error!(error = %e, "could not confirm a payout");
            tg.answer_callback(&q.id, Some(texts::internal_error(lang)))
                .await;
        }
    }
    Ok(())
}
