//! Orders: pages stored as they are read, and the totals users and the operator see.

use super::outbox::{OutboxCounts, Target};
use super::{Store, StoreError, ROWS_PER_STATEMENT};
use crate::events::Event;
use crate::lang::Lang;
use crate::tracking;
use crate::veapi::Order;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

/// One order of a page to store, with the messages its states call for.
#[derive(Debug, Clone)]
pub struct IngestOrder<'a> {
    pub order: &'a Order,
    /// The Telegram user it belongs to; None when its external_info is not ours (or absent:
    /// then the user already stored for the order, if any, keeps it and gets its notices).
    pub user_id: Option<u64>,
    pub notices: Vec<Notice>,
}

/// A message to deliver once: the dedupe key makes a second enqueue a no-op, forever. It
/// holds the facts ([`Event`]), rendered when sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub dedupe_key: String,
    pub event: Event,
}

impl Notice {
    /// A finished HTML message (no facts behind it to render later).
    pub fn text(dedupe_key: impl Into<String>, html: impl Into<String>) -> Notice {
        Notice {
            dedupe_key: dedupe_key.into(),
            event: Event::Text { html: html.into() },
        }
    }

    /// The `text` and `event` columns: finished HTML stays in `text` (as rows written
    /// before events); facts go to `event` as JSON, and `text` gets their Chinese rendering
    /// for a release that predates events (a rolling deploy or a rollback runs one beside
    /// this: it sends `text` and knows nothing of `event`).
    pub(super) fn columns(&self) -> (String, Option<String>) {
        match &self.event {
            Event::Text { html } => (html.clone(), None),
            other => (
                crate::telegram::texts::event(Lang::Zh, other, &Default::default()),
                Some(other.to_json()),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    pub orders: usize,
    pub new_orders: usize,
    pub new_notices: usize,
}

/// One of a user's orders, for `/orders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub order_id: String,
    pub product_name: String,
    pub flow_point: String,
    pub total_pay_amount: i64,
    pub estimated_commission: i64,
    pub real_commission: i64,
    pub pay_success_time: String,
    /// The rebate the ledger credited for it (accrual net of reversal), if any.
    pub credited: Option<i64>,
}

/// Totals over a set of orders. Refunded orders count in `orders`, `refunded` and
/// `refunded_amount` only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderTotals {
    pub orders: i64,
    pub refunded: i64,
    /// What was paid for the orders not refunded.
    pub paid: i64,
    pub estimated_commission: i64,
    pub settled_commission: i64,
    pub settled: i64,
    pub refunded_amount: i64,
    /// Estimated commission of the orders neither settled nor refunded.
    pub pending_commission: i64,
    /// The rebate estimated on pending orders at the percent asked for
    /// ([`Store::user_order_totals`]), each order's rounded down to the fen.
    pub pending_rebate: i64,
    /// The rebate the ledger credited for settled orders (net of reversals).
    pub settled_rebate: i64,
}

/// The operator's overview (`/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub users: i64,
    pub conversions: i64,
    pub recent_conversions: i64,
    /// Attributed orders only (ours), not other channels'.
    pub orders: OrderTotals,
    /// Orders whose external_info carries this bot's prefix but did not decode to a user.
    pub unattributed: i64,
    pub outbox: OutboxCounts,
    /// The ledger: what users can be paid (positive balances) and what users owe after
    /// refunds that came after a payout (negative balances), both as positive fen.
    pub owed_to_users: i64,
    pub owed_by_users: i64,
}

const UPSERT_ORDERS: &str = "INSERT INTO orders (order_id, product_id, product_name, flow_point,
        total_pay_amount, estimated_commission, real_commission, external_info, user_id,
        pay_success_time, update_time, settle_time, refund_time, raw, first_seen_at, updated_at) ";

/// A stale snapshot never overwrites a newer one; a snapshot without attribution keeps the
/// stored one.
const ON_ORDER_CONFLICT: &str = " ON CONFLICT (order_id) DO UPDATE SET
        product_id = excluded.product_id, product_name = excluded.product_name,
        flow_point = excluded.flow_point, total_pay_amount = excluded.total_pay_amount,
        estimated_commission = excluded.estimated_commission,
        real_commission = excluded.real_commission,
        external_info = COALESCE(excluded.external_info, orders.external_info),
        user_id = COALESCE(excluded.user_id, orders.user_id),
        pay_success_time = excluded.pay_success_time,
        update_time = excluded.update_time, settle_time = excluded.settle_time,
        refund_time = excluded.refund_time, raw = excluded.raw,
        updated_at = excluded.updated_at
     WHERE excluded.update_time >= orders.update_time";

impl Store {
    /// Stores a page of orders in one transaction: each order upserted (a stale snapshot
    /// never overwrites a newer one), each state seen recorded once as a fact, each notice
    /// enqueued unless its dedupe key was ever enqueued before.
    pub async fn ingest_page(
        &self,
        items: &[IngestOrder<'_>],
        now: i64,
    ) -> Result<IngestStats, StoreError> {
        self.ingest_page_at(items, now, 0).await
    }

    /// [`Store::ingest_page`], with the rebate facts the stored states call for at
    /// `rebate_percent` (the percent in force: an accrual for each order now settled, a
    /// reversal for each accrued order now refunded), in the same transaction.
    pub async fn ingest_page_at(
        &self,
        items: &[IngestOrder<'_>],
        now: i64,
        rebate_percent: u8,
    ) -> Result<IngestStats, StoreError> {
        // An order listed twice in one page is stored once, as its latest snapshot (what a
        // row-by-row upsert would leave behind): one statement must not upsert a row twice.
        let mut latest: Vec<&IngestOrder<'_>> = Vec::with_capacity(items.len());
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(items.len());
        for item in items {
            match index.get(item.order.order_id.as_str()) {
                Some(&i) if item.order.update_time >= latest[i].order.update_time => {
                    latest[i] = item
                }
                Some(_) => {}
                None => {
                    index.insert(&item.order.order_id, latest.len());
                    latest.push(item);
                }
            }
        }
        let mut stats = IngestStats {
            orders: items.len(),
            ..IngestStats::default()
        };
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            // The user each known order is stored for: a later snapshot without attribution
            // (no pid_info, empty external_info) keeps it, and its messages still go to them.
            let mut stored_users: HashMap<String, u64> = HashMap::new();
            // A few multi-row statements per page instead of four per order: each statement
            // is a round trip, and those dominated the cost of a page.
            for chunk in latest.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::<Db>::new(
                    "SELECT order_id, user_id FROM orders WHERE order_id IN (",
                );
                let mut ids = q.separated(", ");
                for item in chunk {
                    ids.push_bind(&item.order.order_id);
                }
                q.push(")");
                let existing: Vec<(String, Option<i64>)> =
                    q.build_query_as().fetch_all(&mut *tx).await?;
                stats.new_orders += chunk.len() - existing.len();
                stored_users.extend(
                    existing
                        .into_iter()
                        .filter_map(|(id, user)| Some((id, user? as u64))),
                );

                let mut q = QueryBuilder::<Db>::new(UPSERT_ORDERS);
                q.push_values(chunk, |mut row, item| {
                    let o = item.order;
                    row.push_bind(&o.order_id)
                        .push_bind(&o.product_id)
                        .push_bind(&o.product_name)
                        .push_bind(&o.flow_point)
                        .push_bind(o.total_pay_amount)
                        .push_bind(o.estimated_commission)
                        .push_bind(o.real_commission)
                        .push_bind(o.attribution())
                        .push_bind(item.user_id.map(|u| u as i64))
                        .push_bind(&o.pay_success_time)
                        .push_bind(&o.update_time)
                        .push_bind(&o.settle_time)
                        .push_bind(&o.refund_time)
                        .push_bind(serde_json::to_string(o).unwrap_or_default())
                        .push_bind(now)
                        .push_bind(now);
                });
                q.push(ON_ORDER_CONFLICT);
                q.build().execute(&mut *tx).await?;
            }
            // Facts and messages come from every snapshot, a repeated order's earlier one too.
            for chunk in items.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO order_events (order_id, flow_point, total_pay_amount,
                        estimated_commission, real_commission, seen_at) ",
                );
                q.push_values(chunk, |mut row, item| {
                    let o = item.order;
                    row.push_bind(&o.order_id)
                        .push_bind(&o.flow_point)
                        .push_bind(o.total_pay_amount)
                        .push_bind(o.estimated_commission)
                        .push_bind(o.real_commission)
                        .push_bind(now);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *tx).await?;

                let notices: Vec<(&Notice, Target<'_>)> = chunk
                    .iter()
                    .filter_map(|item| {
                        let stored = || stored_users.get(&item.order.order_id).copied();
                        Some((item, item.user_id.or_else(stored)?))
                    })
                    .flat_map(|(item, user_id)| {
                        item.notices.iter().map(move |n| {
                            let target = Target {
                                user_id,
                                product_id: Some(item.order.product_id.as_str()),
                                allow_fallback: true,
                            };
                            (n, target)
                        })
                    })
                    .collect();
                for batch in notices.chunks(ROWS_PER_STATEMENT) {
                    stats.new_notices += enqueue_many!(&mut *tx, batch, now);
                }
            }
            // The money follows the orders' stored states (a stale snapshot changed nothing).
            let ids: Vec<&str> = latest.iter().map(|i| i.order.order_id.as_str()).collect();
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                super::ledger::ledger_facts!(tx, chunk, i64::from(rebate_percent), now);
            }
            tx.commit().await?;
        });
        Ok(stats)
    }

    /// One page of a user's orders, newest first.
    pub async fn user_orders(
        &self,
        user_id: u64,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<OrderSummary>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query(
                "SELECT order_id, product_name, flow_point, total_pay_amount,
                        estimated_commission, real_commission, pay_success_time,
                        (SELECT CAST(SUM(l.amount) AS BIGINT) FROM ledger l
                         WHERE l.order_id = orders.order_id
                         AND l.kind IN ('accrual', 'reversal')) AS credited
                 FROM orders WHERE user_id = $1
                 ORDER BY pay_success_time DESC, order_id DESC LIMIT $2 OFFSET $3",
            )
            .bind(user_id as i64)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| OrderSummary {
                order_id: r.get("order_id"),
                product_name: r.get("product_name"),
                flow_point: r.get("flow_point"),
                total_pay_amount: r.get("total_pay_amount"),
                estimated_commission: r.get("estimated_commission"),
                real_commission: r.get("real_commission"),
                pay_success_time: r.get("pay_success_time"),
                credited: r.get("credited"),
            })
            .collect()
        }))
    }

    /// A user's totals, with their rebate at `rebate_percent` (0–100).
    pub async fn user_order_totals(
        &self,
        user_id: u64,
        rebate_percent: u8,
    ) -> Result<OrderTotals, StoreError> {
        self.order_totals(Some(user_id), rebate_percent).await
    }

    /// The operator's overview for `/stats`; `since` bounds the "recent" counts.
    pub async fn stats(&self, since: i64) -> Result<Stats, StoreError> {
        let (users, conversions, recent_conversions) = on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT COUNT(DISTINCT user_id), COUNT(*),
                        CAST(COALESCE(SUM(CASE WHEN created_at >= $1 THEN 1 ELSE 0 END), 0)
                             AS BIGINT)
                 FROM conversions",
            )
            .bind(since)
            .fetch_one(pool)
            .await?
        });
        let (owed_to_users, owed_by_users) = self.owed_totals().await?;
        Ok(Stats {
            users,
            conversions,
            recent_conversions,
            orders: self.order_totals(None, 0).await?,
            unattributed: self.unattributed_orders().await?,
            outbox: self.outbox_counts().await?,
            owed_to_users,
            owed_by_users,
        })
    }

    /// Orders carrying this bot's prefix (current or earlier format) that belong to nobody.
    async fn unattributed_orders(&self) -> Result<i64, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM orders WHERE user_id IS NULL
                 AND (substr(external_info, 1, $1) = $2 OR substr(external_info, 1, $3) = $4)",
            )
            // int4: PostgreSQL's substr takes an integer length, not a bigint.
            .bind(tracking::PREFIX.len() as i32)
            .bind(tracking::PREFIX)
            .bind(tracking::LEGACY_PREFIX.len() as i32)
            .bind(tracking::LEGACY_PREFIX)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Order totals of one user, or of every attributed order. Refunded orders count in
    /// `orders` and `refunded` only.
    async fn order_totals(
        &self,
        user_id: Option<u64>,
        rebate_percent: u8,
    ) -> Result<OrderTotals, StoreError> {
        // Integer division per order: each order's rebate rounded down to the fen.
        let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) =
            on_backend!(self, read, |pool| {
                sqlx::query_as(
                    "SELECT COUNT(*),
                        CAST(COALESCE(SUM(CASE WHEN flow_point = 'REFUND' THEN 1 ELSE 0 END), 0)
                             AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN flow_point != 'REFUND'
                                          THEN total_pay_amount END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN flow_point != 'REFUND'
                                          THEN estimated_commission END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN flow_point = 'SETTLE'
                                          THEN real_commission END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN flow_point = 'SETTLE' THEN 1 ELSE 0 END), 0)
                             AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN flow_point = 'REFUND'
                                          THEN total_pay_amount END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN flow_point NOT IN ('REFUND', 'SETTLE')
                                          THEN estimated_commission END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN flow_point NOT IN ('REFUND', 'SETTLE')
                                          AND estimated_commission > 0
                                          THEN estimated_commission * $2 / 100 END), 0) AS BIGINT),
                        CAST((SELECT COALESCE(SUM(amount), 0) FROM ledger
                              WHERE kind IN ('accrual', 'reversal')
                              AND ($1 IS NULL OR user_id = $1)) AS BIGINT)
                     FROM orders WHERE user_id IS NOT NULL AND ($1 IS NULL OR user_id = $1)",
                )
                .bind(user_id.map(|u| u as i64))
                .bind(i64::from(rebate_percent))
                .fetch_one(pool)
                .await?
            });
        let (
            orders,
            refunded,
            paid,
            estimated_commission,
            settled_commission,
            settled,
            refunded_amount,
            pending_commission,
            pending_rebate,
            settled_rebate,
        ) = row;
        Ok(OrderTotals {
            orders,
            refunded,
            paid,
            estimated_commission,
            settled_commission,
            settled,
            refunded_amount,
            pending_commission,
            pending_rebate,
            settled_rebate,
        })
    }
}
