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
        // The dashboard's daily sums (report.rs) count days the same way: one query for both.
        Ok(self
            .daily(first, last)
            .await?
            .into_iter()
            .map(|row| Day {
                day: row.day,
                orders: row.orders,
                commission_fen: row.commission_estimated,
            })
            .collect())
    }
}
