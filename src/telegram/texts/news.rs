//! Order news and operator alerts rendered from their stored facts ([`Event`]) when they are
//! sent, and the group notices for a user the bot cannot reach privately.

use super::{escape, operator, yuan};
use crate::events::{Event, OrderFacts, OrderNews};
use crate::lang::Lang;

/// The message an outbox event calls for, in `lang`.
pub fn event(lang: Lang, e: &Event) -> String {
    match e {
        Event::Order { news, order } => order_news(lang, *news, order),
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
        Event::Text { html } => html.clone(),
    }
}

fn product(lang: Lang, o: &OrderFacts) -> String {
    let name = o.product_name.trim();
    if name.is_empty() {
        format!("{} {}", lang.pick("商品", "Product"), escape(&o.product_id))
    } else {
        escape(name)
    }
}

fn order_news(lang: Lang, news: OrderNews, o: &OrderFacts) -> String {
    let (product, id) = (product(lang, o), escape(&o.order_id));
    let (paid, estimated, real) = (
        yuan(o.total_pay_amount),
        yuan(o.estimated_commission),
        yuan(o.real_commission),
    );
    match (news, lang) {
        (OrderNews::New, Lang::Zh) => format!(
            "🛒 <b>新订单</b>\n{product}\n实付金额：{paid}\n预估佣金：{estimated}\n订单号：<code>{id}</code>\n状态：{}",
            state(lang, &o.flow_point)
        ),
        (OrderNews::New, Lang::En) => format!(
            "🛒 <b>New order</b>\n{product}\nPaid: {paid}\nEstimated commission: {estimated}\nOrder: <code>{id}</code>\nState: {}",
            state(lang, &o.flow_point)
        ),
        (OrderNews::Refunded, Lang::Zh) => format!(
            "↩️ <b>订单已退款</b>\n{product}\n退款金额：{paid}\n订单号：<code>{id}</code>\n这笔订单不再产生佣金。"
        ),
        (OrderNews::Refunded, Lang::En) => format!(
            "↩️ <b>Order refunded</b>\n{product}\nRefunded: {paid}\nOrder: <code>{id}</code>\nThis order earns no commission any more."
        ),
        (OrderNews::Settled, Lang::Zh) => format!(
            "💰 <b>订单已结算</b>\n{product}\n实付金额：{paid}\n实际佣金：{real}\n订单号：<code>{id}</code>"
        ),
        (OrderNews::Settled, Lang::En) => format!(
            "💰 <b>Order settled</b>\n{product}\nPaid: {paid}\nCommission: {real}\nOrder: <code>{id}</code>"
        ),
    }
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
