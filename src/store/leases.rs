//! Leases: a job only one instance may run at a time (the order poller) is held by one
//! instance until a moment, renewed while that instance lives, and taken over by another
//! once it lapses. A row, not a PostgreSQL advisory lock: an advisory lock lives with one
//! connection, and a pool may close or swap that connection under the holder without it
//! knowing; a row's expiry also says who holds the job and until when (`/stats`, metrics).

use super::{Store, StoreError};

impl Store {
    /// Takes lease `name` for `holder` until `until`, or renews it if `holder` has it.
    /// Returns whether `holder` holds it now. Taken only when free or lapsed at `now`.
    pub async fn lease_acquire(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let done = on_backend!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                     expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
            )
            .bind(name)
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Gives the lease up if `holder` has it, so another instance takes over at once.
    pub async fn lease_release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Who holds lease `name` at `now`, and until when.
    pub async fn lease_holder(
        &self,
        name: &str,
        now: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT holder, expires_at FROM leases WHERE name = $1 AND expires_at > $2",
            )
            .bind(name)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// How many leases whose names start with `prefix` are held at `now` (live instances).
    pub async fn leases_held(&self, prefix: &str, now: i64) -> Result<i64, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM leases WHERE substr(name, 1, $1) = $2 AND expires_at > $3",
            )
            .bind(prefix.len() as i32)
            .bind(prefix)
            .bind(now)
            .fetch_one(pool)
            .await?
        }))
    }

    /// The database's clock, in Unix seconds: leases are timed by it, so instances whose
    /// own clocks disagree still agree on who holds one.
    pub async fn clock(&self) -> Result<i64, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_scalar(&format!("SELECT {}", <Db as super::dialect::Dialect>::NOW))
                .fetch_one(pool)
                .await?
        }))
    }
}
