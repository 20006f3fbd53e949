//! Every text the bot sends, in one place. Chinese by default; HTML parse mode.

use crate::convert::ConvertError;
use crate::resolve::NotProduct;
use crate::store::{OrderSummary, OrderTotals, Stats};
use crate::veapi::{ErrorClass, Order, ShareLink};

pub const START: &str = "👋 你好！把抖音商品链接、分享口令或商品ID发给我，我会帮你转换成专属抖口令。\n\n\
用你的专属口令下单后，我会在订单出现、退款或结算时通知你。\n\n\
支持：\n• 抖音商城分享文案（含 v.douyin.com 短链接）\n• 商品链接（haohuo.jinritemai.com 等）\n• 团长链接\n• 抖口令\n• 商品ID\n\n\
发送 /help 查看使用说明。";

pub const HELP: &str = "📖 使用说明\n\n\
1. 在抖音里打开商品，点「分享」→「复制链接」。\n\
2. 把复制的内容直接发给我（一条消息里可以有多个商品）。\n\
3. 我会回复转换好的抖口令，点一下即可复制，打开抖音即可查看商品。\n\n\
在群里：我只回复含有商品链接的消息。\n\n\
用你的专属口令下单后，订单出现、退款、结算时我都会私信通知你（请先私聊我点一次 /start；否则我只会在你转链的群里提醒你来私聊查看）。\n\n\
命令：\n/start 开始\n/help 使用说明\n/orders 我的订单";

pub const ORDERS_IN_PRIVATE: &str = "🔒 订单信息只在私聊里查看：请私聊我发送 /orders。";

pub const INTERNAL_ERROR: &str = "内部错误，请稍后再试。";

pub const NO_REFERENCE: &str = "🤔 没有在这条消息里找到抖音商品。\n\
请发送抖音商城的分享文案、商品链接、抖口令或商品ID。视频、直播间和主页链接不能转换。";

/// The reply for one message: successes as tap-to-copy blocks, failures explained (private
/// chats only; groups never see failures).
pub fn reply(results: &[Result<ShareLink, ConvertError>], private: bool) -> Option<String> {
    // Groups hear about successes only: refusals there would be noise.
    let results: Vec<&Result<ShareLink, ConvertError>> =
        results.iter().filter(|r| private || r.is_ok()).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    if results.is_empty() {
        return None;
    }
    let many = results.len() > 1;
    let mut out = String::new();
    if ok > 0 {
        out.push_str("✅ 已转换，点击口令即可复制：\n");
    }
    for (i, r) in results.iter().enumerate() {
        if !out.is_empty() {
            out.push('\n');
        }
        if many {
            out.push_str(&format!("<b>商品 {}</b>\n", i + 1));
        }
        match r {
            Ok(link) => {
                out.push_str(&format!("<code>{}</code>\n", escape(&link.dy_password)));
                if let Some(c) = &link.coupon {
                    out.push_str(&format!(
                        "🎟 领券口令：\n<code>{}</code>\n",
                        escape(&c.share_command)
                    ));
                }
            }
            Err(e) => out.push_str(&format!("❌ {}\n", escape(&failure(e)))),
        }
    }
    if ok > 0 {
        out.push_str("\n复制后打开抖音即可查看商品。");
    }
    Some(out.trim_end().to_string())
}

/// A refusal in plain words. Upstream's own sentence is kept only where it speaks about the
/// product; operator-side problems never reveal details.
pub fn failure(e: &ConvertError) -> String {
    let err = match e {
        ConvertError::Upstream(err) => err,
        ConvertError::NeedsProductLink => {
            return "这个抖口令无法直接转换：请在抖音里打开商品，点“分享”→“复制链接”，把链接发给我。"
                .into()
        }
        ConvertError::NotAProduct(what) => {
            let what = match what {
                NotProduct::Video => "一个视频",
                NotProduct::Note => "一篇图文",
                NotProduct::Live => "一个直播间",
                NotProduct::Profile => "一个用户主页",
            };
            return format!("这个链接打开的是{what}，不是商品，无法转换。请发送商品的分享链接。");
        }
        ConvertError::Unresolved => {
            return "暂时打不开这个短链接，请稍后再试，或者发送商品页面的完整链接。".into()
        }
        ConvertError::Store(_) => return INTERNAL_ERROR.into(),
    };
    let msg = err.upstream_msg().unwrap_or_default();
    match err.class() {
        ErrorClass::Product => {
            let known = [
                ("精选联盟", "这个商品没有加入抖音精选联盟，暂时不能推广。"),
                ("下架", "这个商品已经下架了。"),
                ("不存在", "没有找到这个商品，请确认链接是否完整。"),
                ("站外分享", "这个商品暂不支持站外分享。"),
                ("不支持", "这个商品暂不支持转换。"),
                ("无效商品", "链接或口令无效，请重新复制完整的分享内容。"),
                ("风险类目", "这个商品属于风险类目，不能转换。"),
                ("指定作者", "商家设置了仅指定作者可推广这个商品。"),
            ];
            match known.iter().find(|(k, _)| msg.contains(k)) {
                Some((_, text)) => (*text).to_string(),
                None => format!("这个商品暂时无法转换：{}", short(msg)),
            }
        }
        ErrorClass::Authorization | ErrorClass::KeyOrQuota | ErrorClass::Unexpected => {
            "转换服务暂时不可用（需要管理员处理），请稍后再试。".into()
        }
        ErrorClass::Throttled => "抖音接口繁忙，请过一会儿再发一次。".into(),
        ErrorClass::Transport => "暂时连不上转换服务，请稍后再试。".into(),
        ErrorClass::Other if !msg.is_empty() => format!("转换失败：{}", short(msg)),
        ErrorClass::Other => "转换失败，请稍后再试。".into(),
    }
}

fn short(msg: &str) -> String {
    let m: String = msg.chars().take(60).collect();
    m.trim_end_matches(['!', '！', '。', '.', '…']).to_string() + "。"
}

/// Money in fen as shown to people: `¥21.00`. Integer arithmetic only.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
}

fn product(order: &Order) -> String {
    let name = order.product_name.trim();
    if name.is_empty() {
        format!("商品 {}", escape(&order.product_id))
    } else {
        escape(name)
    }
}

/// A new order bought through the user's link.
pub fn order_new(o: &Order) -> String {
    format!(
        "🛒 <b>新订单</b>\n{}\n实付金额：{}\n预估佣金：{}\n订单号：<code>{}</code>\n状态：{}",
        product(o),
        yuan(o.total_pay_amount),
        yuan(o.estimated_commission),
        escape(&o.order_id),
        state(&o.flow_point),
    )
}

pub fn order_refunded(o: &Order) -> String {
    format!(
        "↩️ <b>订单已退款</b>\n{}\n退款金额：{}\n订单号：<code>{}</code>\n这笔订单不再产生佣金。",
        product(o),
        yuan(o.total_pay_amount),
        escape(&o.order_id),
    )
}

pub fn order_settled(o: &Order) -> String {
    format!(
        "💰 <b>订单已结算</b>\n{}\n实付金额：{}\n实际佣金：{}\n订单号：<code>{}</code>",
        product(o),
        yuan(o.total_pay_amount),
        yuan(o.real_commission),
        escape(&o.order_id),
    )
}

/// A state in words.
pub fn state(flow_point: &str) -> &'static str {
    match flow_point {
        "PAY_SUCC" => "已付款",
        "CONFIRM" => "已确认收货",
        "SETTLE" => "已结算",
        "REFUND" => "已退款",
        _ => "处理中",
    }
}

/// Order news delivered in the group where the link was converted, because the user could
/// not be reached privately.
pub fn in_group(user_id: u64, name: Option<&str>, text: &str) -> String {
    let name = name.filter(|n| !n.trim().is_empty()).unwrap_or("你");
    format!(
        "<a href=\"tg://user?id={user_id}\">{}</a>，无法私信你，所以在这里通知（私聊我发送 /start 即可改为私信接收）：\n\n{text}",
        escape(name)
    )
}

/// The payload of the deep link in a group notice (`t.me/<bot>?start=orders`). Telegram
/// allows A-Z, a-z, 0-9, `_` and `-` there; /start releases held messages whatever it is.
pub const START_PAYLOAD: &str = "orders";

/// Said in the group where a user converted, when they never opened a private chat with the
/// bot: that there is news and where to read it, nothing about the order itself.
pub fn in_group_notice(user_id: u64, name: Option<&str>, bot_username: Option<&str>) -> String {
    let name = name.filter(|n| !n.trim().is_empty()).unwrap_or("你");
    let open = match bot_username.filter(|u| !u.is_empty()) {
        Some(bot) => format!(
            "<a href=\"https://t.me/{}?start={START_PAYLOAD}\">点这里私聊我</a>",
            escape(bot)
        ),
        None => "私聊我发送 /start".to_string(),
    };
    format!(
        "<a href=\"tg://user?id={user_id}\">{}</a>，你有一条订单更新。订单详情只在私聊里发送：请{open}，我会马上把它发给你。",
        escape(name)
    )
}

/// `/orders`: recent orders and totals.
pub fn orders(recent: &[OrderSummary], totals: &OrderTotals) -> String {
    if recent.is_empty() {
        return "📭 还没有通过你的专属口令下的订单。\n把抖音商品链接发给我，用转换后的口令下单即可。".into();
    }
    let mut out = format!(
        "📦 <b>我的订单</b>（共 {} 单，退款 {} 单）\n实付合计：{}\n预估佣金合计：{}\n已结算佣金：{}\n\n最近的订单：",
        totals.orders,
        totals.refunded,
        yuan(totals.paid),
        yuan(totals.estimated_commission),
        yuan(totals.settled_commission),
    );
    for o in recent {
        let commission = if o.flow_point == "SETTLE" {
            format!("实际佣金 {}", yuan(o.real_commission))
        } else {
            format!("预估佣金 {}", yuan(o.estimated_commission))
        };
        out.push_str(&format!(
            "\n• {} — {} — {}，{}",
            escape(o.product_name.trim()),
            state(&o.flow_point),
            yuan(o.total_pay_amount),
            commission,
        ));
    }
    out
}

/// Operator alert: polling or converting stopped working.
pub fn alert_opened(what: &str, class: ErrorClass, msg: &str) -> String {
    let action = match class {
        ErrorClass::Authorization => "达人/抖客授权已失效，请到 veapi 会员中心重新授权。",
        ErrorClass::KeyOrQuota => "veapi 密钥无效、已到期或额度用完，请到 veapi 会员中心检查。",
        ErrorClass::Unexpected => "veapi 的回复里没有机器人能读的内容（接口格式可能变了），请运行 douyin-link-bot doctor 检查 VEAPI_PROVIDER 等设置。",
        _ => "连续多次失败，机器人会自动重试。",
    };
    format!(
        "⚠️ <b>{}出错</b>\n{action}\n上游信息：{}\n恢复后我会再通知你，在此期间的订单不会丢失。",
        escape(what),
        escape(msg),
    )
}

pub fn alert_recovered(what: &str) -> String {
    format!(
        "✅ <b>{}已恢复</b>\n期间的订单会在下一次轮询中补上。",
        escape(what)
    )
}

/// An order veapi sent that the bot could not read: its window is read again every poll.
pub fn alert_unreadable_order(order_id: &str, reason: &str) -> String {
    format!(
        "⚠️ <b>订单无法读取</b>\n订单号：<code>{}</code>\n原因：{}\n这段时间的订单会在每次轮询时重读，读到为止；其他订单照常通知。",
        escape(order_id),
        escape(reason),
    )
}

/// A poll stopped at its cap on veapi calls.
pub fn alert_call_cap(calls: usize, window: &str) -> String {
    format!(
        "⚠️ <b>订单翻页达到上限</b>\n一次轮询已调用 veapi {calls} 次，在 {} 这一段停下，下次轮询从这里继续（上游的翻页可能出错，额度在消耗）。",
        escape(window),
    )
}

/// The one answer a user gets when they ask for more conversions than the limit allows.
pub fn rate_limited(retry_after: std::time::Duration, some_converted: bool) -> String {
    let secs = retry_after.as_secs().max(1);
    if some_converted {
        format!("⏳ 发得太快了，其余的商品没有转换，请 {secs} 秒后再发。")
    } else {
        format!("⏳ 发得太快了，请 {secs} 秒后再发。")
    }
}

/// `/stats`, for the operator only.
pub fn stats(s: &Stats, watermark: Option<&str>, incident: bool) -> String {
    format!(
        "📊 <b>运行概况</b>
用户：{}
转链：{}（24 小时内 {}）
订单：{}（退款 {}）
实付合计：{}
预估佣金：{}
已结算佣金：{}
无法归属的本机器人订单：{}
通知：已发送 {}，待发送 {}，无法送达 {}
订单已同步到：{}
上游状态：{}",
        s.users,
        s.conversions,
        s.recent_conversions,
        s.orders.orders,
        s.orders.refunded,
        yuan(s.orders.paid),
        yuan(s.orders.estimated_commission),
        yuan(s.orders.settled_commission),
        s.unattributed,
        s.outbox.sent,
        s.outbox.pending,
        s.outbox.parked,
        watermark.map_or_else(|| "尚未轮询".to_string(), escape),
        if incident {
            "⚠️ 有未恢复的故障"
        } else {
            "正常"
        },
    )
}

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::veapi::{classify, Coupon, VeapiError};

    fn refused(msg: &str) -> Result<ShareLink, ConvertError> {
        Err(ConvertError::Upstream(VeapiError::Api {
            class: classify("4132", msg),
            code: "4132".into(),
            msg: msg.into(),
            request_id: None,
        }))
    }

    #[test]
    fn refusal_is_explained_in_private_and_hidden_in_groups() {
        let r = [refused("商品没有加入精选联盟")];
        assert_eq!(
            reply(&r, true).unwrap(),
            "❌ 这个商品没有加入抖音精选联盟，暂时不能推广。"
        );
        assert_eq!(reply(&r, false), None);
    }

    #[test]
    fn groups_see_only_the_successes_of_a_mixed_message() {
        let ok = Ok(ShareLink {
            dy_password: "口令A".into(),
            share_link: None,
            dy_deeplink: None,
            dy_zlink: None,
            coupon: None,
        });
        let text = reply(&[refused("商品没有加入精选联盟"), ok.clone()], false).unwrap();
        assert!(text.contains("<code>口令A</code>"));
        assert!(!text.contains("❌") && !text.contains("商品 2"), "{text}");
        let text = reply(&[refused("商品没有加入精选联盟"), ok], true).unwrap();
        assert!(text.contains("❌") && text.contains("商品 2"), "{text}");
    }

    #[test]
    fn password_and_coupon_are_tap_to_copy_and_escaped() {
        let link = ShareLink {
            dy_password: "长按<复制>&打开".into(),
            share_link: None,
            dy_deeplink: None,
            dy_zlink: None,
            coupon: Some(Coupon {
                share_command: "券口令".into(),
                share_link: None,
            }),
        };
        let text = reply(&[Ok(link)], true).unwrap();
        assert!(text.contains("<code>长按&lt;复制&gt;&amp;打开</code>"));
        assert!(text.contains("<code>券口令</code>"));
    }

    fn hostile_order(name: &str, id: &str) -> Order {
        serde_json::from_value(serde_json::json!({
            "order_id": "<i>9</i>", "product_id": id, "product_name": name,
            "flow_point": "PAY_SUCC", "total_pay_amount": 2100, "estimated_commission": 420,
            "update_time": "2026-11-22 10:00:00", "pay_success_time": "2026-11-22 10:00:00"
        }))
        .unwrap()
    }

    /// Markup Telegram's HTML mode would act on: tags, entities, a link.
    const HOSTILE: &[&str] = &[
        "<b>bold</b>",
        "3583117383482622604</code><a href=\"https://evil.example\">",
        "&lt;already&gt; & <",
        "<script>alert(1)</script>",
    ];

    /// Every `<` the bot did not write itself is escaped: stripping the bot's own tags from
    /// the text leaves no `<` at all.
    fn assert_no_foreign_markup(text: &str) {
        let mut rest = text.to_string();
        for tag in ["<b>", "</b>", "<code>", "</code>"] {
            rest = rest.replace(tag, "");
        }
        assert!(!rest.contains('<'), "unescaped markup: {text}");
    }

    #[test]
    fn hostile_product_names_and_ids_are_escaped_in_every_order_message() {
        for hostile in HOSTILE {
            for order in [hostile_order("", hostile), hostile_order(hostile, hostile)] {
                for text in [
                    order_new(&order),
                    order_refunded(&order),
                    order_settled(&order),
                ] {
                    assert_no_foreign_markup(&text);
                }
            }
        }
        let text = order_new(&hostile_order(" ", "<b>1&2</b>"));
        assert!(text.contains("商品 &lt;b&gt;1&amp;2&lt;/b&gt;"), "{text}");
    }

    #[test]
    fn the_group_notice_names_nothing_but_the_user_and_escapes_them() {
        let text = in_group_notice(1001, Some("<b>Eve</b>"), Some("dy_link_bot"));
        assert!(text.contains("&lt;b&gt;Eve&lt;/b&gt;"), "{text}");
        assert!(
            text.contains(r#"<a href="https://t.me/dy_link_bot?start=orders">"#),
            "{text}"
        );
        assert!(text.contains(r#"<a href="tg://user?id=1001">"#), "{text}");
        assert!(!text.contains('¥'));
        let text = in_group_notice(1001, None, None);
        assert!(text.contains("/start"), "{text}");
    }

    #[test]
    fn money_is_shown_in_yuan_from_integer_fen() {
        assert_eq!(yuan(2100), "¥21.00");
        assert_eq!(yuan(165), "¥1.65");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(-250), "-¥2.50");
    }

    #[test]
    fn operator_problems_reveal_nothing() {
        let e = ConvertError::Upstream(VeapiError::Api {
            class: ErrorClass::Authorization,
            code: "10008".into(),
            msg: "access_token expired for account 12345".into(),
            request_id: None,
        });
        assert!(!failure(&e).contains("12345"));
    }
}
