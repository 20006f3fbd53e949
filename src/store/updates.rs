//! Webhook bookkeeping: which Telegram updates were already taken (so a repeat delivery is
//! handled once, across instances).

use super::{Store, StoreError};

impl Store {
    /// Records `update_id` as taken at `now`. True the first time anyone asks about it,
    /// false for a repeat (Telegram retried, or another instance already took it).
    pub async fn first_sight_of_update(
        &self,
        update_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = on_backend!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO updates_seen (update_id, seen_at) VALUES ($1, $2)
                 ON CONFLICT (update_id) DO NOTHING",
            )
            .bind(update_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Forgets that `update_id` was taken: it could not be handed on after all (the bot is
    /// stopping), so Telegram's retry must be handled rather than dropped as a repeat.
    pub async fn forget_update(&self, update_id: i64) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query("DELETE FROM updates_seen WHERE update_id = $1")
                .bind(update_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Drops what was taken before `before`; returns how many rows went.
    pub async fn prune_updates_seen(&self, before: i64) -> Result<u64, StoreError> {
        Ok(on_backend!(self, write, |pool| {
            sqlx::query("DELETE FROM updates_seen WHERE seen_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> Store {
        Store::open("sqlite::memory:").await.unwrap()
    }

    #[tokio::test]
    async fn an_update_is_new_once() {
        let s = store().await;
        assert!(s.first_sight_of_update(7, 100).await.unwrap());
        assert!(!s.first_sight_of_update(7, 101).await.unwrap());
        assert!(s.first_sight_of_update(8, 101).await.unwrap());
        s.forget_update(7).await.unwrap();
        assert!(
            s.first_sight_of_update(7, 102).await.unwrap(),
            "forgotten: new again"
        );
    }

    #[tokio::test]
    async fn pruning_keeps_recent_updates() {
        let s = store().await;
        s.first_sight_of_update(1, 100).await.unwrap();
        s.first_sight_of_update(2, 200).await.unwrap();
        assert_eq!(s.prune_updates_seen(150).await.unwrap(), 1);
        assert!(s.first_sight_of_update(1, 300).await.unwrap());
        assert!(!s.first_sight_of_update(2, 300).await.unwrap());
    }

    #[tokio::test]
    async fn ping_answers_until_closed() {
        let s = store().await;
        s.ping().await.unwrap();
        s.close().await;
        assert!(s.ping().await.is_err());
    }
}
