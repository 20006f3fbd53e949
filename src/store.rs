//! The store: everything the bot remembers. SQL lives here and nowhere else.
//!
//! SQLite today; `Store` wraps a backend enum so a PostgreSQL backend can be added as a
//! variant without touching callers.

use crate::veapi::{Coupon, ShareLink};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
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
    Sqlite(SqlitePool),
}

/// A conversion to remember.
#[derive(Debug, Clone)]
pub struct NewConversion<'a> {
    pub user_id: u64,
    pub chat_id: i64,
    pub product_key: &'a str,
    pub external_info: &'a str,
    pub link: &'a ShareLink,
    pub created_at: i64,
}

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
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 4 })
            .min_connections(if in_memory { 1 } else { 0 })
            .connect_with(opts)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            backend: Backend::Sqlite(pool),
        })
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
        }
    }

    /// The newest conversion of `product_key` by `user_id` made at or after `not_before`.
    pub async fn cached_conversion(
        &self,
        user_id: u64,
        product_key: &str,
        not_before: i64,
    ) -> Result<Option<ShareLink>, StoreError> {
        let Backend::Sqlite(pool) = &self.backend;
        let row = sqlx::query(
            "SELECT dy_password, coupon_command, share_link FROM conversions
             WHERE user_id = ? AND product_key = ? AND created_at >= ?
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(user_id as i64)
        .bind(product_key)
        .bind(not_before)
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|r| ShareLink {
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
        }))
    }

    pub async fn record_conversion(&self, c: &NewConversion<'_>) -> Result<(), StoreError> {
        let Backend::Sqlite(pool) = &self.backend;
        sqlx::query(
            "INSERT INTO conversions
             (user_id, chat_id, product_key, external_info, dy_password, coupon_command, share_link, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.user_id as i64)
        .bind(c.chat_id)
        .bind(c.product_key)
        .bind(c.external_info)
        .bind(&c.link.dy_password)
        .bind(c.link.coupon.as_ref().map(|c| c.share_command.as_str()))
        .bind(c.link.share_link.as_deref())
        .bind(c.created_at)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// The chat where `user_id` most recently converted a link.
    pub async fn last_conversion_chat(&self, user_id: u64) -> Result<Option<i64>, StoreError> {
        let Backend::Sqlite(pool) = &self.backend;
        Ok(sqlx::query_scalar(
            "SELECT chat_id FROM conversions WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(user_id as i64)
        .fetch_optional(pool)
        .await?)
    }

    pub async fn conversion_count(&self) -> Result<i64, StoreError> {
        let Backend::Sqlite(pool) = &self.backend;
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM conversions")
            .fetch_one(pool)
            .await?)
    }
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
                external_info: "dlb_7x",
                link: &l,
                created_at: 1_000,
            })
            .await
            .unwrap();
        let hit = store
            .cached_conversion(7, "3583117383482622604", 1_000)
            .await
            .unwrap();
        assert_eq!(hit.unwrap().dy_password, "口令A");
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
        assert_eq!(store.last_conversion_chat(7).await.unwrap(), Some(-100));
        store.close().await;

        // Reopening runs migrations again without harm and keeps the data.
        let store = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert_eq!(store.conversion_count().await.unwrap(), 1);
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
