//! Messages the notifier gave up on (parked) or holds until the user's /start, as the
//! operator sees them on the dashboard, and the operator's way to try one again.

use super::{Store, StoreError};

/// A parked message, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRow {
    pub id: i64,
    pub user_id: u64,
    /// Held until the user's /start (not given up on).
    pub held: bool,
    pub attempts: i64,
    /// Why it was parked (Telegram's words, or the notifier's).
    pub reason: Option<String>,
    pub created_at: i64,
}

impl Store {
    /// The newest parked messages, at most `limit`.
    pub async fn parked_rows(&self, limit: i64) -> Result<Vec<ParkedRow>, StoreError> {
        let rows: Vec<(i64, i64, i64, i64, Option<String>, i64)> =
            on_backend!(self, read, |pool| {
                sqlx::query_as(
                    "SELECT id, user_id, until_start, attempts, last_error, created_at
                     FROM outbox WHERE status = 'parked' ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(pool)
                .await?
            });
        Ok(rows
            .into_iter()
            .map(
                |(id, user_id, held, attempts, reason, created_at)| ParkedRow {
                    id,
                    user_id: user_id as u64,
                    held: held != 0,
                    attempts,
                    reason,
                    created_at,
                },
            )
            .collect())
    }

    /// The operator asked to try a parked message again: it is pending and due at `now`,
    /// with a fresh count of attempts (the reason it was parked stays until the next try
    /// says otherwise). A held message a notifier has claimed (it is being sent, because a
    /// later message for that user fell due) is left to that send: clearing its claim would
    /// let a second notifier send it too, and the first one's outcome would undo the retry.
    pub async fn retry_parked(&self, id: i64, now: i64) -> Result<Retry, StoreError> {
        let done = on_backend!(self, write, |pool| {
            sqlx::query(
                "UPDATE outbox SET status = 'pending', until_start = 0, attempts = 0,
                        next_attempt_at = $1, claimed_by = NULL, claimed_until = NULL
                 WHERE id = $2 AND status = 'parked'
                   AND (claimed_until IS NULL OR claimed_until <= $1)",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 1 {
            return Ok(Retry::Due);
        }
        let parked: Option<(String,)> = on_backend!(self, read, |pool| {
            sqlx::query_as("SELECT status FROM outbox WHERE id = $1 AND status = 'parked'")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(if parked.is_some() {
            Retry::BeingSent
        } else {
            Retry::NotParked
        })
    }

    /// One outbox row's status and when it is next due, by id (tests and the dashboard).
    pub async fn outbox_row_state(&self, id: i64) -> Result<Option<(String, i64)>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_as("SELECT status, next_attempt_at FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }
}

/// What [`Store::retry_parked`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The message is due again.
    Due,
    /// A notifier is sending it right now: nothing changed.
    BeingSent,
    /// No parked message has that id.
    NotParked,
}
