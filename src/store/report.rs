//! What the operator's reports read: per-day series, the top products, users and groups, the
//! ledger's totals, incidents, and the rows the CSV downloads carry.
//!
//! Days are China days (UTC+8, the convention of upstream's times and of everything the bot
//! shows). Orders are counted on the day they were paid (`pay_success_time`, China time as
//! upstream gives it), attributed orders only (ours, as `/stats` counts them); conversions
//! on the day they were made. A refunded order counts in `orders` and `refunded` only, as in
//! [`Store::stats`]; settled commission is counted on the order's day of payment.

use super::ledger::{entry, EntryColumns, ENTRY_COLUMNS};
use super::{LedgerEntry, Store, StoreError};
use chrono::{Days, NaiveDate};

/// China time, seconds east of UTC.
const CHINA_OFFSET: i64 = 8 * 3600;

/// 1970-01-01 counted in days from 0001-01-01 (day 1), as chrono counts them.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

/// One China day of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRow {
    pub day: NaiveDate,
    /// Links converted that day.
    pub conversions: i64,
    /// Orders paid that day (refunded ones included).
    pub orders: i64,
    /// Of those, refunded since.
    pub refunded: i64,
    /// What was paid for the orders not refunded, in fen.
    pub gmv: i64,
    /// Estimated commission of the orders not refunded, in fen.
    pub commission_estimated: i64,
    /// Real commission of the orders settled, in fen.
    pub commission_settled: i64,
}

/// One line of a top list: a product (its id and title), a user (id and name) or a group
/// (its chat id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    pub key: String,
    pub label: Option<String>,
    pub orders: i64,
    pub commission_estimated: i64,
    pub commission_settled: i64,
}

/// The ledger's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    /// Accruals net of reversals: every rebate credited for orders.
    pub credited: i64,
    pub adjusted: i64,
    pub paid_out: i64,
    pub payouts: i64,
    /// Positive balances (owed to users) and negative ones (owed by users), as positive fen.
    pub owed_to_users: i64,
    pub owed_by_users: i64,
}

/// One order as the CSV download carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderExport {
    pub order_id: String,
    pub product_id: String,
    pub product_name: String,
    pub flow_point: String,
    pub total_pay_amount: i64,
    pub estimated_commission: i64,
    pub real_commission: i64,
    pub user_id: Option<u64>,
    pub pay_success_time: String,
    pub settle_time: String,
    pub refund_time: String,
}

/// Unix seconds at which China day `day` starts.
pub fn china_day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp()
        - CHINA_OFFSET
}

/// The China day `unix` falls on.
pub fn china_day(unix: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(unix + CHINA_OFFSET, 0)
        .unwrap_or_default()
        .date_naive()
}

/// `from..=to` as bounds on `pay_success_time` (`YYYY-MM-DD HH:MM:SS` compares as text):
/// from the first day's date up to, not including, the day after the last.
fn text_bounds(from: NaiveDate, to: NaiveDate) -> (String, String) {
    let after = to.checked_add_days(Days::new(1)).unwrap_or(to);
    (
        from.format("%Y-%m-%d").to_string(),
        after.format("%Y-%m-%d").to_string(),
    )
}

/// The order sums every report reads, over the orders in `WHERE`.
const ORDER_SUMS: &str = "COUNT(*),
    CAST(COALESCE(SUM(CASE WHEN flow_point = 'REFUND' THEN 1 ELSE 0 END), 0) AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN flow_point != 'REFUND' THEN total_pay_amount END), 0) AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN flow_point != 'REFUND' THEN estimated_commission END), 0)
         AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN flow_point = 'SETTLE' THEN real_commission END), 0) AS BIGINT)";

/// Attributed orders paid between `$1` (inclusive) and `$2` (exclusive), as text bounds.
const IN_RANGE: &str =
    "o.user_id IS NOT NULL AND o.pay_success_time >= $1 AND o.pay_success_time < $2";

/// Most orders first, then most commission.
const TOP_ORDER: &str = "ORDER BY 3 DESC, 6 DESC, 1 LIMIT $3";

type TopColumns = (String, Option<String>, i64, i64, i64, i64, i64);

fn top_row(c: TopColumns) -> TopRow {
    let (key, label, orders, _refunded, _gmv, commission_estimated, commission_settled) = c;
    TopRow {
        key,
        label,
        orders,
        commission_estimated,
        commission_settled,
    }
}

impl Store {
    /// The series of China days `from..=to`, every day present (zeros where nothing
    /// happened), oldest first.
    pub async fn daily(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<DayRow>, StoreError> {
        let (start, end) = (
            china_day_start(from),
            china_day_start(to.checked_add_days(Days::new(1)).unwrap_or(to)),
        );
        let conversions: Vec<(i64, i64)> = on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT CAST((created_at + $3) / 86400 AS BIGINT), COUNT(*) FROM conversions
                 WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
            )
            .bind(start)
            .bind(end)
            .bind(CHINA_OFFSET)
            .fetch_all(pool)
            .await?
        });
        let (lo, hi) = text_bounds(from, to);
        let orders: Vec<(String, i64, i64, i64, i64, i64)> = on_backend!(self, read, |pool| {
            sqlx::query_as(&format!(
                "SELECT substr(o.pay_success_time, 1, 10), {ORDER_SUMS}
                 FROM orders o WHERE {IN_RANGE} GROUP BY 1"
            ))
            .bind(&lo)
            .bind(&hi)
            .fetch_all(pool)
            .await?
        });
        let mut days = Vec::new();
        let mut day = from;
        while day <= to {
            days.push(DayRow {
                day,
                conversions: 0,
                orders: 0,
                refunded: 0,
                gmv: 0,
                commission_estimated: 0,
                commission_settled: 0,
            });
            match day.checked_add_days(Days::new(1)) {
                Some(next) => day = next,
                None => break,
            }
        }
        let index = |d: NaiveDate| (d - from).num_days() as usize;
        for (n, count) in conversions {
            let Some(d) = i32::try_from(n)
                .ok()
                .and_then(|n| NaiveDate::from_num_days_from_ce_opt(n + UNIX_EPOCH_CE_DAYS))
            else {
                continue;
            };
            if let Some(row) = days.get_mut(index(d)).filter(|_| d >= from) {
                row.conversions += count;
            }
        }
        for (date, orders, refunded, gmv, estimated, settled) in orders {
            let Ok(d) = NaiveDate::parse_from_str(&date, "%Y-%m-%d") else {
                continue;
            };
            if let Some(row) = days.get_mut(index(d)).filter(|_| d >= from) {
                row.orders += orders;
                row.refunded += refunded;
                row.gmv += gmv;
                row.commission_estimated += estimated;
                row.commission_settled += settled;
            }
        }
        Ok(days)
    }

    /// The rows of one "top" query: `sql` selects [`TopColumns`] of the orders paid in the
    /// range (`$1`, `$2`), at most `$3`.
    async fn top(
        &self,
        sql: String,
        (from, to): (NaiveDate, NaiveDate),
        limit: i64,
    ) -> Result<Vec<TopRow>, StoreError> {
        let (lo, hi) = text_bounds(from, to);
        let rows: Vec<TopColumns> = on_backend!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(&lo)
                .bind(&hi)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(top_row).collect())
    }

    /// The products with the most orders paid in `from..=to`, at most `limit`.
    pub async fn top_products(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        limit: i64,
    ) -> Result<Vec<TopRow>, StoreError> {
        self.top(
            format!(
                "SELECT o.product_id, MAX(o.product_name), {ORDER_SUMS}
                 FROM orders o WHERE {IN_RANGE} GROUP BY o.product_id {TOP_ORDER}"
            ),
            (from, to),
            limit,
        )
        .await
    }

    /// The users with the most orders paid in `from..=to`, named as in their latest link.
    pub async fn top_users(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        limit: i64,
    ) -> Result<Vec<TopRow>, StoreError> {
        self.top(
            format!(
                "SELECT CAST(o.user_id AS TEXT),
                        (SELECT c.user_name FROM conversions c
                         WHERE c.user_id = o.user_id AND c.user_name IS NOT NULL
                         ORDER BY c.id DESC LIMIT 1),
                        {ORDER_SUMS}
                 FROM orders o WHERE {IN_RANGE} GROUP BY o.user_id {TOP_ORDER}"
            ),
            (from, to),
            limit,
        )
        .await
    }

    /// The groups with the most orders paid in `from..=to`: an order counts for the group
    /// where its buyer last converted its product (orders of products converted in private
    /// chats only count for no group).
    pub async fn top_groups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        limit: i64,
    ) -> Result<Vec<TopRow>, StoreError> {
        self.top(
            format!(
                "SELECT CAST(c.chat_id AS TEXT), CAST(NULL AS TEXT), {ORDER_SUMS}
                 FROM orders o JOIN conversions c ON c.id = (
                     SELECT c2.id FROM conversions c2
                     WHERE c2.user_id = o.user_id AND c2.product_id = o.product_id
                       AND c2.chat_id != c2.user_id
                     ORDER BY c2.created_at DESC, c2.id DESC LIMIT 1)
                 WHERE {IN_RANGE} GROUP BY c.chat_id {TOP_ORDER}"
            ),
            (from, to),
            limit,
        )
        .await
    }

    /// The ledger's totals, every line ever written.
    pub async fn ledger_totals(&self) -> Result<LedgerTotals, StoreError> {
        let (credited, adjusted, paid_out, payouts): (i64, i64, i64, i64) =
            on_backend!(self, read, |pool| {
                sqlx::query_as(
                    "SELECT
                        CAST(COALESCE(SUM(CASE WHEN kind IN ('accrual', 'reversal')
                                          THEN amount END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN kind = 'adjustment' THEN amount END), 0)
                             AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN kind = 'payout' THEN -amount END), 0)
                             AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN kind = 'payout' THEN 1 ELSE 0 END), 0)
                             AS BIGINT)
                     FROM ledger",
                )
                .fetch_one(pool)
                .await?
            });
        let (owed_to_users, owed_by_users) = self.owed_totals().await?;
        Ok(LedgerTotals {
            credited,
            adjusted,
            paid_out,
            payouts,
            owed_to_users,
            owed_by_users,
        })
    }

    /// The latest payouts, newest first, at most `limit`.
    pub async fn recent_payouts(&self, limit: i64) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_as::<_, EntryColumns>(&format!(
                "SELECT {ENTRY_COLUMNS} FROM ledger WHERE kind = 'payout'
                 ORDER BY id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(pool)
            .await?
            .into_iter()
            .filter_map(entry)
            .collect()
        }))
    }

    /// Ledger lines written on China days `from..=to`, oldest first.
    pub async fn ledger_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let (start, end) = (
            china_day_start(from),
            china_day_start(to.checked_add_days(Days::new(1)).unwrap_or(to)),
        );
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_as::<_, EntryColumns>(&format!(
                "SELECT {ENTRY_COLUMNS} FROM ledger WHERE created_at >= $1 AND created_at < $2
                 ORDER BY id"
            ))
            .bind(start)
            .bind(end)
            .fetch_all(pool)
            .await?
            .into_iter()
            .filter_map(entry)
            .collect()
        }))
    }

    /// Every order (ours or not) paid on China days `from..=to`, in order of payment.
    pub async fn orders_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<OrderExport>, StoreError> {
        let (lo, hi) = text_bounds(from, to);
        type Columns = (
            String,
            String,
            String,
            String,
            i64,
            i64,
            i64,
            Option<i64>,
            String,
            String,
            String,
        );
        let rows: Vec<Columns> = on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT order_id, product_id, product_name, flow_point, total_pay_amount,
                        estimated_commission, real_commission, user_id, pay_success_time,
                        settle_time, refund_time
                 FROM orders WHERE pay_success_time >= $1 AND pay_success_time < $2
                 ORDER BY pay_success_time, order_id",
            )
            .bind(&lo)
            .bind(&hi)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| OrderExport {
                order_id: r.0,
                product_id: r.1,
                product_name: r.2,
                flow_point: r.3,
                total_pay_amount: r.4,
                estimated_commission: r.5,
                real_commission: r.6,
                user_id: r.7.map(|u| u as u64),
                pay_success_time: r.8,
                settle_time: r.9,
                refund_time: r.10,
            })
            .collect())
    }

    /// Open incidents: the source's name (`orders`, `conversion`, …) and since when (unix).
    pub async fn open_incidents(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, String)> = on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT key, value FROM kv WHERE substr(key, 1, 9) = 'incident:' ORDER BY key",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(k, v)| {
                let source = k.trim_start_matches("incident:").to_string();
                (source, v.parse().unwrap_or_default())
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_days_start_at_midnight_utc_plus_8() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        // 2026-01-02 00:00 in China is 2026-01-01 16:00 UTC.
        assert_eq!(china_day_start(d), 1_767_283_200);
        assert_eq!(china_day(china_day_start(d)), d);
        assert_eq!(china_day(china_day_start(d) - 1), d.pred_opt().unwrap());
    }
}
