//! Order news and operator alerts rendered from their stored facts ([`Event`]) when they are
//! sent, and the group notices for a user the bot cannot reach privately.

use super::{bounded, escape, operator, yuan};
use crate::events::{Event, OrderFacts, OrderNews};
use crate::lang::Lang;
use crate::store::OrderLedger;

/// What the user's rebate stands at, for an order message: read from the ledger when the
/// message is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Money {
    /// `REBATE_PERCENT` now (0: no rebate is shown, and never the operator's commission).
    pub percent: u8,
    /// The order's accrual and reversal, if written.
    pub order: OrderLedger,
    /// The user's available balance now.
    pub balance: i64,
}

/// The message an outbox event calls for, in `lang`; `money` matters to order news only.
pub fn event(lang: Lang, e: &Event, money: &Money) -> String {
    match e {
        Event::Order { news, order } => order_news(lang, *news, order, money),
        Event::AlertOpened {
            source,
            class,
            detail,
        } => operator::alert_opened(lang, *source, *class, detail),
        Event::AlertRecovered { source } => operator::alert_recovered(lang, *source),
        Event::UnreadableOrder { order_id, reason } => {
            operator::alert_unreadable_order(lang, order_id, reason)
        }
        Event::CallCap { calls, window } => operator::alert_call_cap(lang, *calls, window),
        Event::Payout {
            amount,
            note,
            balance,
        } => payout(lang, *amount, note, *balance),
        Event::Adjustment {
            amount,
            reason,
            balance,
        } => adjustment(lang, *amount, reason, *balance),
        Event::Text { html } => html.clone(),
    }
}

/// The operator corrected the user's balance.
fn adjustment(lang: Lang, amount: i64, reason: &str, balance: i64) -> String {
    let signed = if amount >= 0 {
        format!("+{}", yuan(amount))
    } else {
        yuan(amount)
    };
    let reason = escape(&bounded(reason, 200));
    match lang {
        Lang::Zh => format!(
            "🧾 <b>返利余额调整</b>\n金额：{signed}\n原因：{reason}\n当前余额：{}",
            yuan(balance)
        ),
        Lang::En => format!(
            "🧾 <b>Rebate balance adjusted</b>\nAmount: {signed}\nReason: {reason}\nBalance now: {}",
            yuan(balance)
        ),
    }
}

/// The operator paid the user their rebate.
fn payout(lang: Lang, amount: i64, note: &str, balance: i64) -> String {
    let note = note.trim();
    let note = if note.is_empty() {
        String::new()
    } else {
        format!("\n{}{}", lang.pick("备注：", "Note: "), escape(note))
    };
    match lang {
        Lang::Zh => format!(
            "💸 <b>返利已打款</b>\n金额：{}{note}\n当前余额：{}",
            yuan(amount),
            yuan(balance)
        ),
        Lang::En => format!(
            "💸 <b>Rebate paid out</b>\nAmount: {}{note}\nBalance now: {}",
            yuan(amount),
            yuan(balance)
        ),
    }
}

/// Product names in order news are cut here: a name of thousands of characters would make
/// the message too long for Telegram, and it would never be delivered.
const PRODUCT_CHARS: usize = 120;

fn product(lang: Lang, o: &OrderFacts) -> String {
    let name = o.product_name.trim();
    if name.is_empty() {
        format!("{} {}", lang.pick("商品", "Product"), escape(&o.product_id))
    } else {
        escape(&bounded(name, PRODUCT_CHARS))
    }
}

fn order_news(lang: Lang, news: OrderNews, o: &OrderFacts, money: &Money) -> String {
    let (product, id) = (product(lang, o), escape(&o.order_id));
    let paid = yuan(o.total_pay_amount);
    let balance = yuan(money.balance);
    // Each order's estimated rebate, rounded down to the fen.
    let estimated =
        (money.percent > 0).then(|| o.estimated_commission.max(0) * i64::from(money.percent) / 100);
    let mut out = match (news, lang) {
        (OrderNews::New, Lang::Zh) => format!(
            "🛒 <b>新订单</b>\n{product}\n实付金额：{paid}\n订单号：<code>{id}</code>\n状态：{}",
            state(lang, &o.flow_point)
        ),
        (OrderNews::New, Lang::En) => format!(
            "🛒 <b>New order</b>\n{product}\nPaid: {paid}\nOrder: <code>{id}</code>\nState: {}",
            state(lang, &o.flow_point)
        ),
        (OrderNews::Refunded, Lang::Zh) => {
            format!("↩️ <b>订单已退款</b>\n{product}\n退款金额：{paid}\n订单号：<code>{id}</code>")
        }
        (OrderNews::Refunded, Lang::En) => {
            format!(
                "↩️ <b>Order refunded</b>\n{product}\nRefunded: {paid}\nOrder: <code>{id}</code>"
            )
        }
        (OrderNews::Settled, Lang::Zh) => {
            format!("💰 <b>订单已结算</b>\n{product}\n实付金额：{paid}\n订单号：<code>{id}</code>")
        }
        (OrderNews::Settled, Lang::En) => {
            format!("💰 <b>Order settled</b>\n{product}\nPaid: {paid}\nOrder: <code>{id}</code>")
        }
    };
    let line = match (news, lang) {
        (OrderNews::New, _) => estimated.map(|r| {
            format!(
                "{}{}",
                lang.pick("预估返利：", "Estimated rebate: "),
                yuan(r)
            )
        }),
        (OrderNews::Settled, Lang::Zh) => money
            .order
            .accrued
            .map(|r| format!("返利已到账：{}，当前余额：{balance}", yuan(r))),
        (OrderNews::Settled, Lang::En) => money
            .order
            .accrued
            .map(|r| format!("Rebate credited: {}; balance now: {balance}", yuan(r))),
        (OrderNews::Refunded, Lang::Zh) => match money.order.reversed {
            Some(r) => Some(format!(
                "已扣回这笔订单的返利 {}，当前余额：{balance}",
                yuan(r)
            )),
            None => estimated.map(|_| "这笔订单的预估返利已取消。".to_string()),
        },
        (OrderNews::Refunded, Lang::En) => match money.order.reversed {
            Some(r) => Some(format!(
                "The rebate of this order, {}, was debited; balance now: {balance}",
                yuan(r)
            )),
            None => {
                estimated.map(|_| "The estimated rebate of this order is cancelled.".to_string())
            }
        },
    };
    if let Some(line) = line {
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// A state in words.
pub fn state(lang: Lang, flow_point: &str) -> &'static str {
    let (zh, en) = match flow_point {
        "PAY_SUCC" => ("已付款", "paid"),
        "CONFIRM" => ("已确认收货", "received"),
        "SETTLE" => ("已结算", "settled"),
        "REFUND" => ("已退款", "refunded"),
        _ => ("处理中", "in progress"),
    };
    lang.pick(zh, en)
}

/// Order news delivered in the group where the link was converted, because the user could
/// not be reached privately.
pub fn in_group(lang: Lang, user_id: u64, name: Option<&str>, text: &str) -> String {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(lang.pick("你", "you"));
    let why = lang.pick(
        "，无法私信你，所以在这里通知（私聊我发送 /start 即可改为私信接收）：",
        ", I cannot message you privately, so here is your news (send me /start in a private chat to get it there instead):",
    );
    format!(
        "<a href=\"tg://user?id={user_id}\">{}</a>{why}\n\n{text}",
        escape(name)
    )
}

/// The payload of the deep link in a group notice (`t.me/<bot>?start=orders`). Telegram
/// allows A-Z, a-z, 0-9, `_` and `-` there; /start releases held messages whatever it is.
pub const START_PAYLOAD: &str = "orders";

/// Said in the group where a user converted, when they never opened a private chat with the
/// bot: that there is news and where to read it, nothing about the order itself.
pub fn in_group_notice(
    lang: Lang,
    user_id: u64,
    name: Option<&str>,
    bot_username: Option<&str>,
) -> String {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(lang.pick("你", "you"));
    let open = match bot_username.filter(|u| !u.is_empty()) {
        Some(bot) => format!(
            "<a href=\"https://t.me/{}?start={START_PAYLOAD}\">{}</a>",
            escape(bot),
            lang.pick("点这里私聊我", "tap here to open a private chat with me")
        ),
        None => lang
            .pick("私聊我发送 /start", "send me /start in a private chat")
            .to_string(),
    };
    match lang {
        Lang::Zh => format!(
            "<a href=\"tg://user?id={user_id}\">{}</a>，你有一条订单更新。订单详情只在私聊里发送：请{open}，我会马上把它发给你。",
            escape(name)
        ),
        Lang::En => format!(
            "<a href=\"tg://user?id={user_id}\">{}</a>, there is news about one of your orders. Order details are sent privately only: {open} and I will send it right away.",
            escape(name)
        ),
    }
}
