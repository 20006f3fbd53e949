//! Orders and estimated commission per day, for the `/stats` chart.
//!
//! A day is a China-time calendar day of the order's payment (`pay_success_time`, which
//! veapi writes in China time): the day the buyer placed and paid the order, the date they
//! and the operator see on the order. Like `/stats`, only attributed orders count; a
//! refunded order counts among the day's orders but not in its commission, so the bars add
//! up to the orders `/stats` counts and the line to its estimated commission (over the
//! days shown).

use super::{Store, StoreError};
use crate::chart::Day;
use chrono::{Days, NaiveDate};
use std::collections::HashMap;

impl Store {
    /// The `days` days ending with `last` (China time), oldest first, every day present (a
    /// day without orders as zeros).
    pub async fn chart_days(&self, last: NaiveDate, days: u32) -> Result<Vec<Day>, StoreError> {
        let Some(first) = days
            .checked_sub(1)
            .and_then(|back| last.checked_sub_days(Days::new(u64::from(back))))
        else {
            return Ok(Vec::new());
        };
        let Some(after) = last.succ_opt() else {
            return Ok(Vec::new());
        };
        // `pay_success_time` is `YYYY-MM-DD HH:MM:SS`: text order is time order, and its
        // first ten characters are the day.
        let rows: Vec<(String, i64, i64)> = on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT substr(pay_success_time, 1, 10), COUNT(*),
                        CAST(COALESCE(SUM(CASE WHEN flow_point != 'REFUND'
                                          THEN estimated_commission END), 0) AS BIGINT)
                 FROM orders
                 WHERE user_id IS NOT NULL AND pay_success_time >= $1 AND pay_success_time < $2
                 GROUP BY 1",
            )
            .bind(format!("{first} 00:00:00"))
            .bind(format!("{after} 00:00:00"))
            .fetch_all(pool)
            .await?
        });
        let by_day: HashMap<NaiveDate, (i64, i64)> = rows
            .into_iter()
            .filter_map(|(day, orders, fen)| {
                let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok()?;
                Some((day, (orders, fen)))
            })
            .collect();
        Ok(first
            .iter_days()
            .take(days as usize)
            .map(|day| {
                let (orders, commission_fen) = by_day.get(&day).copied().unwrap_or((0, 0));
                Day {
                    day,
                    orders,
                    commission_fen,
                }
            })
            .collect())
    }
}
