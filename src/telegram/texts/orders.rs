//! `/orders`: a user's totals per state and one page of their orders.

use super::{bounded, escape, state, yuan};
use crate::lang::Lang;
use crate::store::{OrderSummary, OrderTotals};

/// One page of `/orders`, as the store gave it.
#[derive(Debug, Clone)]
pub struct OrdersPage {
    /// 0-based.
    pub page: i64,
    pub pages: i64,
    pub orders: Vec<OrderSummary>,
    pub totals: OrderTotals,
    /// `REBATE_PERCENT`: above 0 the user's rebate is shown.
    pub rebate_percent: u8,
}

pub fn orders(lang: Lang, p: &OrdersPage) -> String {
    let t = &p.totals;
    if t.orders == 0 {
        return lang
            .pick(
                "📭 还没有通过你的专属口令下的订单。\n把抖音商品链接发给我，用转换后的口令下单即可。",
                "📭 No order has been bought with your passwords yet.\nSend me a Douyin product link and buy with the password I give you.",
            )
            .into();
    }
    let unsettled = t.orders - t.refunded - t.settled;
    // What the user sees is their orders and their own rebate, never the operator's
    // commission.
    let mut out = match lang {
        Lang::Zh => format!(
            "📦 <b>我的订单</b>（共 {} 单）\n\
             已付款待结算：{unsettled} 单\n\
             已结算：{} 单\n\
             已退款：{} 单，{}\n\
             实付合计（不含退款）：{}",
            t.orders,
            t.settled,
            t.refunded,
            yuan(t.refunded_amount),
            yuan(t.paid),
        ),
        Lang::En => format!(
            "📦 <b>My orders</b> ({} in all)\n\
             Paid, not settled yet: {unsettled}\n\
             Settled: {}\n\
             Refunded: {}, {}\n\
             Paid in total (refunds excluded): {}",
            t.orders,
            t.settled,
            t.refunded,
            yuan(t.refunded_amount),
            yuan(t.paid),
        ),
    };
    if p.rebate_percent > 0 || t.settled_rebate != 0 {
        out.push_str(&match lang {
            Lang::Zh => format!(
                "\n返利（{}%）：待结算 {}，已到账 {}",
                p.rebate_percent,
                yuan(t.pending_rebate),
                yuan(t.settled_rebate)
            ),
            Lang::En => format!(
                "\nYour rebate ({}%): {} pending, {} credited",
                p.rebate_percent,
                yuan(t.pending_rebate),
                yuan(t.settled_rebate)
            ),
        });
    }
    out.push_str(&match lang {
        Lang::Zh => format!("\n\n第 {}/{} 页：", p.page + 1, p.pages.max(1)),
        Lang::En => format!("\n\nPage {} of {}:", p.page + 1, p.pages.max(1)),
    });
    for o in &p.orders {
        let rebate = match (o.flow_point.as_str(), o.credited) {
            (_, Some(c)) if c != 0 => Some((true, c)),
            ("REFUND" | "SETTLE", _) => None,
            _ if p.rebate_percent > 0 => Some((
                false,
                crate::telegram::card::rebate_fen(Some(o.estimated_commission), p.rebate_percent)
                    .unwrap_or(0),
            )),
            _ => None,
        };
        let rebate = match (rebate, lang) {
            (Some((true, c)), Lang::Zh) => format!("，返利 {}", yuan(c)),
            (Some((false, r)), Lang::Zh) => format!("，预估返利 {}", yuan(r)),
            (Some((true, c)), Lang::En) => format!(", rebate {}", yuan(c)),
            (Some((false, r)), Lang::En) => format!(", estimated rebate {}", yuan(r)),
            (None, _) => String::new(),
        };
        let name = o.product_name.trim();
        let name = if name.is_empty() {
            escape(&o.order_id)
        } else {
            escape(&bounded(name, 60))
        };
        out.push_str(&format!(
            "\n• {name} — {} — {}{rebate}",
            state(lang, &o.flow_point),
            yuan(o.total_pay_amount),
        ));
    }
    out
}

/// The buttons under a page.
pub fn previous(lang: Lang) -> &'static str {
    lang.pick("◀ 上一页", "◀ Previous")
}

pub fn next(lang: Lang) -> &'static str {
    lang.pick("下一页 ▶", "Next ▶")
}
