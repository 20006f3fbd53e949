//! The store: everything the bot remembers. SQL lives here and nowhere else.
//!
//! SQLite today; `Store` wraps a backend enum so a PostgreSQL backend can be added as a
//! variant without touching callers.

mod outbox;
mod updates;

use outbox::{enqueue_many, Target};
pub use outbox::{OutboxCounts, OutboxRow};

use crate::tracking;
use crate::veapi::{Coupon, Order, ShareLink};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the database {url}: {reason}")]
    Open { url: String, reason: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone, Debug)]
enum Backend {
    /// Reads share a few connections (WAL lets them run beside a write); writes take turns
    /// on one connection. Several connections writing at once would meet SQLite's write
    /// lock and wait in its busy handler, which sleeps: under a burst of conversions that
    /// starved the reads too (400 chats took 46 × one veapi call, BENCHMARKS.md).
    Sqlite { read: SqlitePool, write: SqlitePool },
}

/// A conversion to remember.
#[derive(Debug, Clone)]
pub struct NewConversion<'a> {
    pub user_id: u64,
    /// How to mention the user in a group (name or @username).
    pub user_name: Option<&'a str>,
    pub chat_id: i64,
    pub product_key: &'a str,
    pub external_info: &'a str,
    pub link: &'a ShareLink,
    pub created_at: i64,
}

/// A remembered conversion: the link, where and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedConversion {
    pub link: ShareLink,
    pub chat_id: i64,
    pub created_at: i64,
}

/// One order of a page to store, with the messages its states call for.
#[derive(Debug, Clone)]
pub struct IngestOrder<'a> {
    pub order: &'a Order,
    /// The Telegram user it belongs to; None when its external_info is not ours (or absent:
    /// then the user already stored for the order, if any, keeps it and gets its notices).
    pub user_id: Option<u64>,
    pub notices: Vec<Notice>,
}

/// A message to deliver once: the dedupe key makes a second enqueue a no-op, forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub dedupe_key: String,
    pub text: String,
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
}

/// Totals over a set of orders. Refunded orders count in `orders` and `refunded` only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderTotals {
    pub orders: i64,
    pub refunded: i64,
    pub paid: i64,
    pub estimated_commission: i64,
    pub settled_commission: i64,
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
}

/// Rows per multi-row statement: 16 binds an order row, well under SQLite's 32 766.
const ROWS_PER_STATEMENT: usize = 100;

impl Store {
    /// Opens (creating file and folder on first run) and migrates the database.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            url: url.to_string(),
            reason,
        };
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| open_err(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            if let Some(parent) = Path::new(opts.get_filename()).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        open_err(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
            }
        }
        let connect = |n: u32| {
            SqlitePoolOptions::new()
                .max_connections(n)
                .min_connections(u32::from(in_memory))
                .connect_with(opts.clone())
        };
        let write = connect(1).await.map_err(|e| open_err(e.to_string()))?;
        sqlx::migrate!("./migrations").run(&write).await?;
        // An in-memory database exists per connection: there, the one connection does all.
        let read = if in_memory {
            write.clone()
        } else {
            connect(3).await.map_err(|e| open_err(e.to_string()))?
        };
        Ok(Store {
            backend: Backend::Sqlite { read, write },
        })
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
        }
    }

    fn reader(&self) -> &SqlitePool {
        let Backend::Sqlite { read, .. } = &self.backend;
        read
    }

    fn writer(&self) -> &SqlitePool {
        let Backend::Sqlite { write, .. } = &self.backend;
        write
    }

    /// The newest conversion of `product_key` by `user_id` made at or after `not_before`.
    pub async fn cached_conversion(
        &self,
        user_id: u64,
        product_key: &str,
        not_before: i64,
    ) -> Result<Option<CachedConversion>, StoreError> {
        let pool = self.reader();
        let row = sqlx::query(
            "SELECT dy_password, coupon_command, share_link, chat_id, created_at FROM conversions
             WHERE user_id = ? AND product_key = ? AND created_at >= ?
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(user_id as i64)
        .bind(product_key)
        .bind(not_before)
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|r| CachedConversion {
            link: ShareLink {
                dy_password: r.get("dy_password"),
                share_link: r.get("share_link"),
                dy_deeplink: None,
                dy_zlink: None,
                coupon: r
                    .get::<Option<String>, _>("coupon_command")
                    .map(|share_command| Coupon {
                        share_command,
                        share_link: None,
                    }),
            },
            chat_id: r.get("chat_id"),
            created_at: r.get("created_at"),
        }))
    }

    pub async fn record_conversion(&self, c: &NewConversion<'_>) -> Result<(), StoreError> {
        let pool = self.writer();
        sqlx::query(
            "INSERT INTO conversions
             (user_id, user_name, chat_id, product_key, product_id, external_info, dy_password, coupon_command, share_link, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.user_id as i64)
        .bind(c.user_name)
        .bind(c.chat_id)
        .bind(c.product_key)
        .bind(c.link.product_id())
        .bind(c.external_info)
        .bind(&c.link.dy_password)
        .bind(c.link.coupon.as_ref().map(|c| c.share_command.as_str()))
        .bind(c.link.share_link.as_deref())
        .bind(c.created_at)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Which of these `(user, external_info)` pairs this bot issued (a conversion recorded
    /// for that user with exactly that value): earlier-format values are trusted only then.
    pub async fn issued_values(
        &self,
        candidates: &[(u64, &str)],
    ) -> Result<HashSet<String>, StoreError> {
        let mut issued = HashSet::new();
        for &(user_id, value) in candidates {
            if issued.contains(value) {
                continue;
            }
            let found = sqlx::query(
                "SELECT 1 FROM conversions WHERE user_id = ? AND external_info = ? LIMIT 1",
            )
            .bind(user_id as i64)
            .bind(value)
            .fetch_optional(self.reader())
            .await?;
            if found.is_some() {
                issued.insert(value.to_string());
            }
        }
        Ok(issued)
    }

    /// Stores a page of orders in one transaction: each order upserted (a stale snapshot
    /// never overwrites a newer one), each state seen recorded once as a fact, each notice
    /// enqueued unless its dedupe key was ever enqueued before.
    pub async fn ingest_page(
        &self,
        items: &[IngestOrder<'_>],
        now: i64,
    ) -> Result<IngestStats, StoreError> {
        let pool = self.writer();
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
        let mut tx = pool.begin().await?;
        // The user each known order is stored for: a later snapshot without attribution
        // (no pid_info, empty external_info) keeps it, and its messages still go to them.
        let mut stored_users: HashMap<String, u64> = HashMap::new();
        // A few multi-row statements per page instead of four per order: each statement is
        // a round trip to SQLite's worker thread, and those dominated the cost of a page.
        for chunk in latest.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(
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

            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO orders (order_id, product_id, product_name, flow_point, total_pay_amount,
                    estimated_commission, real_commission, external_info, user_id, pay_success_time,
                    update_time, settle_time, refund_time, raw, first_seen_at, updated_at) ",
            );
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
            q.push(
                " ON CONFLICT (order_id) DO UPDATE SET
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
                 WHERE excluded.update_time >= orders.update_time",
            );
            q.build().execute(&mut *tx).await?;
        }
        // Facts and messages come from every snapshot, a repeated order's earlier one too.
        for chunk in items.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO order_events
                 (order_id, flow_point, total_pay_amount, estimated_commission, real_commission, seen_at) ",
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
                stats.new_notices += enqueue_many(&mut tx, batch, now).await?;
            }
        }
        tx.commit().await?;
        Ok(stats)
    }

    /// The group chat where `user_id` converted `product_id` (else any link, latest first),
    /// and how to name them there.
    pub async fn fallback_chat(
        &self,
        user_id: u64,
        product_id: Option<&str>,
    ) -> Result<Option<(i64, Option<String>)>, StoreError> {
        let pool = self.reader();
        let row = sqlx::query(
            "SELECT chat_id, user_name FROM conversions WHERE user_id = ? AND chat_id != user_id
             ORDER BY (product_id IS NOT NULL AND product_id = ?) DESC, created_at DESC, id DESC
             LIMIT 1",
        )
        .bind(user_id as i64)
        .bind(product_id)
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|r| (r.get("chat_id"), r.get("user_name"))))
    }

    /// A group became a supergroup: conversions made in it now live under the new id, and
    /// the move is remembered (the allow-list follows it after a restart too).
    pub async fn migrate_chat(&self, from: i64, to: i64) -> Result<(), StoreError> {
        let pool = self.writer();
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE conversions SET chat_id = ? WHERE chat_id = ?")
            .bind(to)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO chat_migrations (from_chat_id, to_chat_id, migrated_at)
             VALUES (?, ?, strftime('%s', 'now'))
             ON CONFLICT (from_chat_id) DO UPDATE SET to_chat_id = excluded.to_chat_id",
        )
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every group-to-supergroup move seen, oldest first, as (old id, new id).
    pub async fn chat_migrations(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let pool = self.reader();
        let rows = sqlx::query(
            "SELECT from_chat_id, to_chat_id FROM chat_migrations ORDER BY migrated_at, rowid",
        )
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("from_chat_id"), r.get("to_chat_id")))
            .collect())
    }

    pub async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let pool = self.reader();
        Ok(sqlx::query_scalar("SELECT value FROM kv WHERE key = ?")
            .bind(key)
            .fetch_optional(pool)
            .await?)
    }

    pub async fn kv_set(&self, key: &str, value: &str, now: i64) -> Result<(), StoreError> {
        let pool = self.writer();
        sqlx::query(
            "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(pool)
        .await?;
        Ok(())
    }

    pub async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        let pool = self.writer();
        sqlx::query("DELETE FROM kv WHERE key = ?")
            .bind(key)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// When the first conversion was made, if any.
    pub async fn earliest_conversion_at(&self) -> Result<Option<i64>, StoreError> {
        let pool = self.reader();
        Ok(
            sqlx::query_scalar("SELECT MIN(created_at) FROM conversions")
                .fetch_one(pool)
                .await?,
        )
    }

    /// A user's most recent orders and their totals.
    pub async fn user_orders(
        &self,
        user_id: u64,
        limit: i64,
    ) -> Result<(Vec<OrderSummary>, OrderTotals), StoreError> {
        let pool = self.reader();
        let rows = sqlx::query(
            "SELECT order_id, product_name, flow_point, total_pay_amount, estimated_commission,
                    real_commission, pay_success_time
             FROM orders WHERE user_id = ? ORDER BY pay_success_time DESC, order_id DESC LIMIT ?",
        )
        .bind(user_id as i64)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        let recent = rows
            .into_iter()
            .map(|r| OrderSummary {
                order_id: r.get("order_id"),
                product_name: r.get("product_name"),
                flow_point: r.get("flow_point"),
                total_pay_amount: r.get("total_pay_amount"),
                estimated_commission: r.get("estimated_commission"),
                real_commission: r.get("real_commission"),
                pay_success_time: r.get("pay_success_time"),
            })
            .collect();
        Ok((recent, order_totals(pool, Some(user_id)).await?))
    }

    /// The operator's overview for `/stats`; `since` bounds the "recent" counts.
    pub async fn stats(&self, since: i64) -> Result<Stats, StoreError> {
        let pool = self.reader();
        let c = sqlx::query(
            "SELECT COUNT(DISTINCT user_id) AS users, COUNT(*) AS conversions,
                    COALESCE(SUM(created_at >= ?), 0) AS recent
             FROM conversions",
        )
        .bind(since)
        .fetch_one(pool)
        .await?;
        Ok(Stats {
            users: c.get("users"),
            conversions: c.get("conversions"),
            recent_conversions: c.get("recent"),
            orders: order_totals(pool, None).await?,
            unattributed: unattributed_orders(pool).await?,
            outbox: self.outbox_counts().await?,
        })
    }
}

/// Orders carrying this bot's prefix (current or earlier format) that belong to nobody.
async fn unattributed_orders(pool: &SqlitePool) -> Result<i64, StoreError> {
    let n = sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE user_id IS NULL
         AND (substr(external_info, 1, ?1) = ?2 OR substr(external_info, 1, ?3) = ?4)",
    )
    .bind(tracking::PREFIX.len() as i64)
    .bind(tracking::PREFIX)
    .bind(tracking::LEGACY_PREFIX.len() as i64)
    .bind(tracking::LEGACY_PREFIX)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// Order totals of one user, or of every attributed order. Refunded orders count in
/// `orders` and `refunded` only.
async fn order_totals(pool: &SqlitePool, user_id: Option<u64>) -> Result<OrderTotals, StoreError> {
    let t = sqlx::query(
        "SELECT COUNT(*) AS orders,
                COALESCE(SUM(flow_point = 'REFUND'), 0) AS refunded,
                COALESCE(SUM(CASE WHEN flow_point != 'REFUND' THEN total_pay_amount END), 0) AS paid,
                COALESCE(SUM(CASE WHEN flow_point != 'REFUND' THEN estimated_commission END), 0) AS est,
                COALESCE(SUM(CASE WHEN flow_point = 'SETTLE' THEN real_commission END), 0) AS settled
         FROM orders WHERE user_id IS NOT NULL AND (?1 IS NULL OR user_id = ?1)",
    )
    .bind(user_id.map(|u| u as i64))
    .fetch_one(pool)
    .await?;
    Ok(OrderTotals {
        orders: t.get("orders"),
        refunded: t.get("refunded"),
        paid: t.get("paid"),
        estimated_commission: t.get("est"),
        settled_commission: t.get("settled"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(p: &str) -> ShareLink {
        ShareLink {
            dy_password: p.into(),
            share_link: Some("https://haohuo.jinritemai.com/x".into()),
            dy_deeplink: None,
            dy_zlink: None,
            coupon: Some(Coupon {
                share_command: "券".into(),
                share_link: None,
            }),
        }
    }

    #[tokio::test]
    async fn creates_the_file_and_its_folder_and_caches_by_user_product_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/bot.db");
        let store = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert!(path.exists());
        let l = link("口令A");
        store
            .record_conversion(&NewConversion {
                user_id: 7,
                chat_id: -100,
                product_key: "3583117383482622604",
                user_name: Some("Alice"),
                external_info: "dlb_7x",
                link: &l,
                created_at: 1_000,
            })
            .await
            .unwrap();
        let hit = store
            .cached_conversion(7, "3583117383482622604", 1_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hit.link.dy_password, "口令A");
        assert_eq!((hit.chat_id, hit.created_at), (-100, 1_000));
        assert!(store
            .cached_conversion(7, "3583117383482622604", 1_001)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .cached_conversion(8, "3583117383482622604", 0)
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            store.fallback_chat(7, None).await.unwrap(),
            Some((-100, Some("Alice".to_string())))
        );
        store.close().await;

        // Reopening runs migrations again without harm and keeps the data.
        let store = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert!(store
            .cached_conversion(7, "3583117383482622604", 0)
            .await
            .unwrap()
            .is_some());
    }

    fn order(id: &str, flow_point: &str, update_time: &str) -> Order {
        serde_json::from_value(serde_json::json!({
            "order_id": id, "product_id": "3583117383482622604", "product_name": "猫耳酥",
            "flow_point": flow_point, "total_pay_amount": 2100, "estimated_commission": 420,
            "update_time": update_time, "pay_success_time": "2026-11-22 10:00:00",
            "pid_info": {"external_info": "dlb_rtd"}
        }))
        .unwrap()
    }

    fn ingest(orders: &[Order]) -> Vec<IngestOrder<'_>> {
        orders
            .iter()
            .map(|o| IngestOrder {
                order: o,
                user_id: Some(1001),
                notices: crate::poller::notices(o),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_page_stores_each_order_once_as_its_latest_snapshot_and_every_fact() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        // Listed twice on one page: paid, then (later) refunded; and a stale copy after.
        let page = [
            order("1", "PAY_SUCC", "2026-11-22 10:00:00"),
            order("1", "REFUND", "2026-11-22 12:00:00"),
            order("1", "PAY_SUCC", "2026-11-22 10:00:00"),
            order("2", "PAY_SUCC", "2026-11-22 10:00:00"),
        ];
        let stats = store.ingest_page(&ingest(&page), 1).await.unwrap();
        assert_eq!(
            (stats.orders, stats.new_orders, stats.new_notices),
            (4, 2, 3)
        );
        let (recent, totals) = store.user_orders(1001, 10).await.unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!((totals.orders, totals.refunded), (2, 1));
        let pool = store.reader();
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_events")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(events, 3, "1 PAY_SUCC, 1 REFUND, 2 PAY_SUCC");

        // A page larger than one statement's rows, half of it seen before.
        let big: Vec<Order> = (0..250)
            .map(|i| order(&(i + 100).to_string(), "PAY_SUCC", "2026-11-22 10:00:00"))
            .collect();
        store.ingest_page(&ingest(&big[..125]), 2).await.unwrap();
        let stats = store.ingest_page(&ingest(&big), 3).await.unwrap();
        assert_eq!(
            (stats.orders, stats.new_orders, stats.new_notices),
            (250, 125, 125)
        );
        assert_eq!(store.outbox_counts().await.unwrap().pending, 3 + 250);
    }

    #[tokio::test]
    async fn a_corrupted_database_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bot.db");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let err = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("not a database"), "{shown}");
    }

    #[tokio::test]
    async fn an_unusable_path_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plainfile");
        std::fs::write(&file, b"x").unwrap();
        let err = Store::open(&format!("sqlite://{}/sub/bot.db", file.display()))
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with("cannot open the database"),
            "{err}"
        );
    }
}
