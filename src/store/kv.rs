//! Small named values: the poll watermark and held windows, the current incident.

use super::{Store, StoreError};

impl Store {
    pub async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_scalar("SELECT value FROM kv WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        }))
    }

    pub async fn kv_set(&self, key: &str, value: &str, now: i64) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                     updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn kv_delete(&self, key: &str) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query("DELETE FROM kv WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
