//! Groups that became supergroups: conversions follow the new id, and the allow-list
//! follows it after a restart too.

use super::{Store, StoreError};

impl Store {
    /// A group became a supergroup: conversions made in it now live under the new id, and
    /// the move is remembered.
    pub async fn migrate_chat(&self, from: i64, to: i64) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp();
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE conversions SET chat_id = $1 WHERE chat_id = $2")
                .bind(to)
                .bind(from)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO chat_migrations (from_chat_id, to_chat_id, migrated_at)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (from_chat_id) DO UPDATE SET to_chat_id = excluded.to_chat_id",
            )
            .bind(from)
            .bind(to)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every group-to-supergroup move seen, oldest first, as (old id, new id).
    pub async fn chat_migrations(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT from_chat_id, to_chat_id FROM chat_migrations
                 ORDER BY migrated_at, from_chat_id",
            )
            .fetch_all(pool)
            .await?
        }))
    }
}
