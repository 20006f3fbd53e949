//! What the operators read: alerts (rendered from their stored facts when sent), `/stats`
//! and `/dashboard`.

use super::{escape, yuan};
use crate::events::{AlertClass, AlertSource};
use crate::lang::Lang;
use crate::store::Stats;

fn source(lang: Lang, s: AlertSource) -> &'static str {
    let (zh, en) = match s {
        AlertSource::Orders => ("订单轮询", "Order polling"),
        AlertSource::Conversion => ("转链", "Converting"),
        AlertSource::UnreadableOrders => ("订单读取", "Reading orders"),
        AlertSource::OrderPaging => ("订单翻页", "Order paging"),
    };
    lang.pick(zh, en)
}

/// Polling or converting stopped working.
pub(super) fn alert_opened(lang: Lang, what: AlertSource, class: AlertClass, msg: &str) -> String {
    let action = match class {
        AlertClass::Authorization => lang.pick(
            "达人/抖客授权已失效，请到 veapi 会员中心重新授权。",
            "The 达人/抖客 authorization has expired: authorize again in veapi's member centre.",
        ),
        AlertClass::KeyOrQuota => lang.pick(
            "veapi 密钥无效、已到期或额度用完，请到 veapi 会员中心检查。",
            "The veapi key is wrong, expired or out of quota: check it in veapi's member centre.",
        ),
        AlertClass::Unexpected => lang.pick(
            "veapi 的回复里没有机器人能读的内容（接口格式可能变了），请运行 douyin-link-bot doctor 检查 VEAPI_PROVIDER 等设置。",
            "veapi answered with nothing the bot can read (its format may have changed): run douyin-link-bot doctor to check VEAPI_PROVIDER and the other settings.",
        ),
        AlertClass::Retrying => lang.pick(
            "连续多次失败，机器人会自动重试。",
            "It failed several times in a row; the bot keeps retrying.",
        ),
    };
    let what = escape(source(lang, what));
    let msg = escape(msg);
    match lang {
        Lang::Zh => format!(
            "⚠️ <b>{what}出错</b>\n{action}\n上游信息：{msg}\n恢复后我会再通知你，在此期间的订单不会丢失。"
        ),
        Lang::En => format!(
            "⚠️ <b>{what} failed</b>\n{action}\nUpstream said: {msg}\nI will tell you when it recovers; no order of the meantime is lost."
        ),
    }
}

pub(super) fn alert_recovered(lang: Lang, what: AlertSource) -> String {
    let what = escape(source(lang, what));
    match lang {
        Lang::Zh => format!("✅ <b>{what}已恢复</b>\n期间的订单会在下一次轮询中补上。"),
        Lang::En => format!(
            "✅ <b>{what} works again</b>\nThe orders of the meantime come with the next poll."
        ),
    }
}

/// An order veapi sent that the bot could not read: its window is read again every poll.
pub(super) fn alert_unreadable_order(lang: Lang, order_id: &str, reason: &str) -> String {
    let (id, reason) = (escape(order_id), escape(reason));
    match lang {
        Lang::Zh => format!(
            "⚠️ <b>订单无法读取</b>\n订单号：<code>{id}</code>\n原因：{reason}\n这段时间的订单会在每次轮询时重读，读到为止；其他订单照常通知。"
        ),
        Lang::En => format!(
            "⚠️ <b>An order cannot be read</b>\nOrder: <code>{id}</code>\nReason: {reason}\nThis stretch of orders is read again every poll until it reads; other orders are told as usual."
        ),
    }
}

/// A poll stopped at its cap on veapi calls.
pub(super) fn alert_call_cap(lang: Lang, calls: usize, window: &str) -> String {
    let window = escape(window);
    match lang {
        Lang::Zh => format!(
            "⚠️ <b>订单翻页达到上限</b>\n一次轮询已调用 veapi {calls} 次，在 {window} 这一段停下，下次轮询从这里继续（上游的翻页可能出错，额度在消耗）。"
        ),
        Lang::En => format!(
            "⚠️ <b>Order paging hit its cap</b>\nOne poll called veapi {calls} times and stopped at {window}; the next poll goes on from there (upstream's paging may be broken, and it uses quota)."
        ),
    }
}

/// `/stats`, for the operator only.
pub fn stats(lang: Lang, s: &Stats, watermark: Option<&str>, incident: bool) -> String {
    let synced = watermark.map_or_else(
        || lang.pick("尚未轮询", "not polled yet").to_string(),
        escape,
    );
    let upstream = match (incident, lang) {
        (true, Lang::Zh) => "⚠️ 有未恢复的故障",
        (false, Lang::Zh) => "正常",
        (true, Lang::En) => "⚠️ an incident is open",
        (false, Lang::En) => "fine",
    };
    let o = &s.orders;
    match lang {
        Lang::Zh => format!(
            "📊 <b>运行概况</b>
用户：{}
转链：{}（24 小时内 {}）
订单：{}（退款 {}）
实付合计：{}
预估佣金：{}
已结算佣金：{}
无法归属的本机器人订单：{}
通知：已发送 {}，待发送 {}，无法送达 {}
应付用户返利：{}（用户欠款 {}）
订单已同步到：{synced}
上游状态：{upstream}",
            s.users,
            s.conversions,
            s.recent_conversions,
            o.orders,
            o.refunded,
            yuan(o.paid),
            yuan(o.estimated_commission),
            yuan(o.settled_commission),
            s.unattributed,
            s.outbox.sent,
            s.outbox.pending,
            s.outbox.parked,
            yuan(s.owed_to_users),
            yuan(s.owed_by_users),
        ),
        Lang::En => format!(
            "📊 <b>Overview</b>
Users: {}
Conversions: {} ({} in 24 hours)
Orders: {} ({} refunded)
Paid in total: {}
Estimated commission: {}
Settled commission: {}
This bot's orders nobody could be found for: {}
Messages: {} sent, {} waiting, {} undeliverable
Rebates owed to users: {} (owed by users: {})
Orders read up to: {synced}
Upstream: {upstream}",
            s.users,
            s.conversions,
            s.recent_conversions,
            o.orders,
            o.refunded,
            yuan(o.paid),
            yuan(o.estimated_commission),
            yuan(o.settled_commission),
            s.unattributed,
            s.outbox.sent,
            s.outbox.pending,
            s.outbox.parked,
            yuan(s.owed_to_users),
            yuan(s.owed_by_users),
        ),
    }
}

/// `/dashboard`: the one-time link.
pub fn dashboard_link(lang: Lang, link: &str) -> String {
    let link = escape(link);
    match lang {
        Lang::Zh => format!(
            "📈 <a href=\"{link}\">打开运营面板</a>\n链接 10 分钟内有效，只能打开一次，打开后 12 小时内免登录。请勿转发。"
        ),
        Lang::En => format!(
            "📈 <a href=\"{link}\">Open the dashboard</a>\nThe link works once, within 10 minutes; the session it opens lasts 12 hours. Do not forward it."
        ),
    }
}

/// `/dashboard` when the dashboard cannot be reached.
pub fn dashboard_off(lang: Lang, why: crate::telegram::dashboard::Off) -> &'static str {
    use crate::telegram::dashboard::Off;
    match (why, lang) {
        (Off::NoPublicUrl, Lang::Zh) => "运营面板未开启：请设置 PUBLIC_URL（面板的公开地址，例如 https://bot.example.com，由 TLS 反向代理转发到 HTTP_LISTEN）并重启机器人。",
        (Off::NoPublicUrl, Lang::En) => "The dashboard is off: set PUBLIC_URL (its public address, e.g. https://bot.example.com, forwarded by a TLS reverse proxy to HTTP_LISTEN) and restart the bot.",
        (Off::NoServer, Lang::Zh) => "运营面板未开启：机器人的 HTTP 服务没有运行，请设置 HTTP_LISTEN 并重启机器人。",
        (Off::NoServer, Lang::En) => "The dashboard is off: the bot's HTTP server is not running; set HTTP_LISTEN and restart the bot.",
    }
}
