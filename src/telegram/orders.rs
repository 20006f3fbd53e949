//! `/orders`: a user's totals per state and their orders ten a page, newest first, with
//! previous/next buttons. A button edits the page it sits under (callback query), so an old
//! page is brought up to date in place rather than a new message piling up; every press is
//! answered, or the user's app keeps spinning.

use super::texts::{self, OrdersPage};
use super::{lang_of, HandlerError, Policy, Telegram};
use crate::lang::Lang;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup};

/// Orders on one page.
pub const PAGE_SIZE: i64 = 10;

/// A button's `callback_data`: `orders:<0-based page>` (Telegram allows 64 bytes).
const CALLBACK_PREFIX: &str = "orders:";

/// Page `page` of `user_id`'s orders (the last one when there are fewer pages now).
pub async fn page(
    store: &Store,
    user_id: u64,
    page: i64,
    rebate_percent: u8,
) -> Result<OrdersPage, StoreError> {
    let totals = store.user_order_totals(user_id, rebate_percent).await?;
    let pages = ((totals.orders + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let page = page.clamp(0, pages - 1);
    let orders = store
        .user_orders(user_id, page * PAGE_SIZE, PAGE_SIZE)
        .await?;
    Ok(OrdersPage {
        page,
        pages,
        orders,
        totals,
        rebate_percent,
    })
}

/// The buttons under a page; none when everything fits one.
pub fn keyboard(lang: Lang, p: &OrdersPage) -> Option<InlineKeyboardMarkup> {
    let mut row = Vec::new();
    if p.page > 0 {
        row.push(InlineKeyboardButton::callback(
            texts::previous(lang),
            format!("{CALLBACK_PREFIX}{}", p.page - 1),
        ));
    }
    if p.page + 1 < p.pages {
        row.push(InlineKeyboardButton::callback(
            texts::next(lang),
            format!("{CALLBACK_PREFIX}{}", p.page + 1),
        ));
    }
    (!row.is_empty()).then(|| InlineKeyboardMarkup::new([row]))
}

/// The page a button asks for; None for anything else (other buttons, forged data).
pub fn requested_page(data: &str) -> Option<i64> {
    let n = data.strip_prefix(CALLBACK_PREFIX)?;
    if n.is_empty() || n.len() > 6 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// A press on a page's button: the page it asks for, in place of the one shown.
pub async fn on_callback(
    tg: Telegram,
    q: CallbackQuery,
    store: Store,
    policy: Arc<Policy>,
) -> Result<(), HandlerError> {
    let wanted = q.data.as_deref().and_then(requested_page);
    // The buttons sit under the user's own /orders in their private chat: the chat is the
    // person pressing. Anything else (a forwarded keyboard cannot press; a forged query can)
    // is answered without showing anything.
    let target = q
        .message
        .as_ref()
        .map(|m| (m.chat().id.0, m.id()))
        .filter(|(chat, _)| *chat == q.from.id.0 as i64);
    let (Some(wanted), Some((chat, message_id))) = (wanted, target) else {
        tg.answer_callback(&q.id, None).await;
        return Ok(());
    };
    if !policy.private_chat_allowed(q.from.id.0) {
        tg.answer_callback(&q.id, None).await;
        return Ok(());
    }
    let lang = lang_of(&store, &q.from).await;
    match page(&store, q.from.id.0, wanted, policy.rebate_percent()).await {
        Ok(p) => {
            // Answered first: the edit waits for the chat's turn, the spinner must not.
            tg.answer_callback(&q.id, None).await;
            tg.edit_html(
                chat,
                message_id,
                &texts::orders(lang, &p),
                keyboard(lang, &p),
            )
            .await?;
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read a user's orders");
            tg.answer_callback(&q.id, Some(texts::internal_error(lang)))
                .await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_page_buttons_are_understood() {
        assert_eq!(requested_page("orders:0"), Some(0));
        assert_eq!(requested_page("orders:12"), Some(12));
        for bad in [
            "orders:",
            "orders:-1",
            "orders:1e3",
            "orders:9999999",
            "payout:1",
            "orders: 1",
        ] {
            assert_eq!(requested_page(bad), None, "{bad}");
        }
    }
}
