//! The chart's words, in Chinese and English. Every character here must be in the vendored
//! font subset (assets/fonts/README.md says how to remake it); a test checks each one, so a
//! new word cannot silently render as empty boxes.

use crate::lang::Lang;

/// What the chart writes, in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub title: String,
    pub x_axis: &'static str,
    pub orders_axis: &'static str,
    pub commission_axis: &'static str,
    pub orders_series: &'static str,
    pub commission_series: &'static str,
    /// Shown over the plot when no day has an order.
    pub no_orders: &'static str,
}

impl Labels {
    /// The labels for a chart of `days` days.
    pub fn new(lang: Lang, days: usize) -> Labels {
        Labels {
            title: match lang {
                Lang::Zh => format!("近 {days} 天每日订单与预估佣金"),
                Lang::En => format!("Orders and estimated commission per day, last {days} days"),
            },
            x_axis: lang.pick("日期（北京时间）", "Date (China time)"),
            orders_axis: lang.pick("订单数", "Orders"),
            commission_axis: lang.pick("预估佣金（元）", "Estimated commission (¥)"),
            orders_series: lang.pick("订单数", "Orders"),
            commission_series: lang.pick("预估佣金", "Estimated commission"),
            no_orders: lang.pick("这段时间没有订单", "No orders in this period"),
        }
    }

    /// Every text of these labels (the glyph test reads them all).
    pub fn all(&self) -> [&str; 7] {
        [
            &self.title,
            self.x_axis,
            self.orders_axis,
            self.commission_axis,
            self.orders_series,
            self.commission_series,
            self.no_orders,
        ]
    }
}
