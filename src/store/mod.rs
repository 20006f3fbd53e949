//! The store: everything the bot remembers. SQL lives here and nowhere else.
//!
//! Two backends, one meaning: SQLite (the default, one process on one file) and PostgreSQL
//! (several instances on one server). Each operation is written once, in SQL both engines
//! read the same way (`$n` placeholders, `ON CONFLICT`, integers as BIGINT, sums cast back
//! to BIGINT), and [`on_backend!`] compiles that one body against each driver's own typed
//! pool. The few places the dialects differ are named constants in [`dialect`].
//!
//! Why not a trait with two implementations: every query would be written twice, and the
//! two copies would drift (the bugs this store guards against are in the details of its
//! SQL). Why not sqlx's `Any` driver: it decodes by the value's runtime type (PostgreSQL's
//! NUMERIC sums, SQLite's integer booleans) and loses SQLite's typed connection options.
//!
//! Files by concern: conversions, orders, ledger, chats, kv, langs, outbox (and parked, the
//! operator's view of it), updates, leases, dashboard (logins), report (the operator's sums),
//! chart_days (the `/stats` chart's days).

#[macro_use]
mod dialect;
mod chart_days;
mod chats;
mod conversions;
mod dashboard;
mod kv;
mod langs;
mod leases;
#[macro_use]
mod outbox;
#[macro_use]
mod ledger;
mod orders;
mod parked;
mod report;
mod updates;

pub use conversions::{CachedConversion, NewConversion};
pub use dashboard::DashboardSession;
pub use ledger::{
    Balance, LedgerEntry, LedgerKind, OrderLedger, PayoutOutcome, PayoutRefused,
    PAYOUT_CONFIRM_SECS,
};
pub use orders::{IngestOrder, IngestStats, Notice, OrderSummary, OrderTotals, Stats};
pub use outbox::{OutboxCounts, OutboxRow, RowRef};
pub use parked::{ParkedRow, Retry};
pub use report::{china_day, china_day_start, DayRow, LedgerTotals, OrderExport, TopRow};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// `url` is shown without its password ([`redact_url`]).
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
    /// Whose outbox claims this handle takes and settles ([`Store::with_owner`]).
    owner: std::sync::Arc<str>,
    /// The languages last read or written here ([`langs`]): a message does not cost a
    /// write to learn what is already known.
    langs: std::sync::Arc<langs::Memo>,
}

#[derive(Clone, Debug)]
enum Backend {
    /// Reads share a few connections (WAL lets them run beside a write); writes take turns
    /// on one connection. Several connections writing at once would meet SQLite's write
    /// lock and wait in its busy handler, which sleeps: under a burst of conversions that
    /// starved the reads too (400 chats took 46 × one veapi call, BENCHMARKS.md).
    Sqlite { read: SqlitePool, write: SqlitePool },
    /// One pool: the server runs writes side by side and locks rows, not the database.
    Postgres(PgPool),
}

/// Which engine a store runs on (tests and `/stats` say which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Rows per multi-row statement: 16 binds an order row, well under SQLite's 32 766 and
/// PostgreSQL's 65 535 bind parameters.
const ROWS_PER_STATEMENT: usize = 100;

/// A database URL as it may be shown: the password (in the user part, or a `password` /
/// `sslpassword` query parameter, which sqlx also reads) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let scheme_only = || match url.split_once(':') {
        Some((scheme, _)) => format!("{scheme}://***"),
        None => "***".to_string(),
    };
    match url::Url::parse(url) {
        // An '@' the parser did not read as the end of a user part (a missing "//", a
        // password with '/' or '?' in it): what precedes it may be a password.
        Ok(u)
            if u.cannot_be_a_base()
                || (url.contains('@') && u.password().is_none() && u.username().is_empty()) =>
        {
            scheme_only()
        }
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let secret = |k: &str| {
                k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword")
            };
            if u.query_pairs().any(|(k, _)| secret(&k)) {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if secret(&k) {
                            "***".to_string()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        // Not a URL at all: only its scheme is shown, the rest might hold anything.
        Err(_) => scheme_only(),
    }
}

/// Migrations only add tables and columns: an instance starts against a store a newer
/// version migrated (a rolling deploy, a rollback) instead of refusing the migrations it
/// does not know.
fn migrator(mut m: sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    m.set_ignore_missing(true);
    m
}

/// Whether a `DATABASE_URL` names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Store {
    /// Opens and migrates the database: `sqlite://…` (file and folder created on first
    /// run) or `postgres://…` (the database must exist; its tables are created).
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if is_postgres_url(url) {
            Self::open_postgres(url).await
        } else {
            Self::open_sqlite(url).await
        }
    }

    async fn open_sqlite(url: &str) -> Result<Store, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            url: redact_url(url),
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
        migrator(sqlx::migrate!("./migrations/sqlite"))
            .run(&write)
            .await?;
        // An in-memory database exists per connection: there, the one connection does all.
        let read = if in_memory {
            write.clone()
        } else {
            connect(3).await.map_err(|e| open_err(e.to_string()))?
        };
        Ok(Store::on(Backend::Sqlite { read, write }))
    }

    async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            url: redact_url(url),
            reason,
        };
        let opts = PgConnectOptions::from_str(url).map_err(|e| open_err(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        // sqlx takes an advisory lock around migrations: instances starting together
        // migrate once.
        migrator(sqlx::migrate!("./migrations/postgres"))
            .run(&pool)
            .await?;
        Ok(Store::on(Backend::Postgres(pool)))
    }

    fn on(backend: Backend) -> Store {
        Store {
            backend,
            owner: crate::instance::id().into(),
            langs: Default::default(),
        }
    }

    /// The same store, taking and settling outbox claims as `owner` (this process's
    /// [`crate::instance::id`] by default; tests run several owners in one process).
    pub fn with_owner(&self, owner: &str) -> Store {
        Store {
            backend: self.backend.clone(),
            owner: owner.into(),
            langs: self.langs.clone(),
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn engine(&self) -> Engine {
        match &self.backend {
            Backend::Sqlite { .. } => Engine::Sqlite,
            Backend::Postgres(_) => Engine::Postgres,
        }
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, read, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::veapi::{Coupon, Order, ShareLink};

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
        let recent = store.user_orders(1001, 0, 10).await.unwrap();
        let totals = store.user_order_totals(1001, 0).await.unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!((totals.orders, totals.refunded), (2, 1));
        let Backend::Sqlite { read: pool, .. } = &store.backend else {
            unreachable!()
        };
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
