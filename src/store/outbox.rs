//! The outbox: messages to deliver, and what became of each.
//!
//! A user's messages are delivered in the order they were written, one at a time: only a
//! user's earliest undelivered message is ever due ([`Store::due_outbox`]), so a NEW is
//! never overtaken by the same order's REFUND. A message held until the user's /start
//! counts as undelivered: a later message of that user waits behind it, and when one falls
//! due the held one is tried again first (the user may have unblocked the bot without
//! sending /start). Parked messages (given up) no longer hold anything back.

use super::dialect::Dialect;
use super::{Notice, Store, StoreError};
use crate::events::Event;
use sqlx::QueryBuilder;
use std::collections::HashSet;

/// Inserts messages (`&[(&Notice, Target)]`) whose dedupe key was never used, on a
/// connection or transaction of the backend `Db` in scope; evaluates to how many were new.
macro_rules! enqueue_many {
    ($conn:expr, $notices:expr, $now:expr) => {{
        let notices = $notices;
        if notices.is_empty() {
            0usize
        } else {
            let mut q = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO outbox (dedupe_key, user_id, product_id, text, event,
                    allow_fallback, next_attempt_at, created_at) ",
            );
            q.push_values(notices, |mut row, (notice, target)| {
                let (text, event) = notice.columns();
                row.push_bind(&notice.dedupe_key)
                    .push_bind(target.user_id as i64)
                    .push_bind(target.product_id)
                    .push_bind(text)
                    .push_bind(event)
                    .push_bind(i64::from(target.allow_fallback))
                    .push_bind($now)
                    .push_bind($now);
            });
            q.push(" ON CONFLICT (dedupe_key) DO NOTHING");
            q.build().execute($conn).await?.rows_affected() as usize
        }
    }};
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub user_id: u64,
    pub product_id: Option<String>,
    /// What to say, rendered when sent; None when the row holds an event of a kind this
    /// release cannot read (written by a newer one): the notifier parks it with that reason.
    pub event: Option<Event>,
    pub allow_fallback: bool,
    pub attempts: i64,
    /// Held until the user's /start, and tried again because a later message of theirs
    /// fell due.
    pub held: bool,
    /// The claim this row was taken under ([`Store::claim_due`]); outcomes and renewals
    /// name it, so they apply only while this very claim holds.
    pub claim: Option<String>,
}

/// Which row an outcome is for, and under which claim (none: a row read, not claimed).
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    pub id: i64,
    pub claim: Option<&'a str>,
}

impl From<i64> for RowRef<'static> {
    fn from(id: i64) -> Self {
        RowRef { id, claim: None }
    }
}

impl<'a> From<&'a OutboxRow> for RowRef<'a> {
    fn from(row: &'a OutboxRow) -> Self {
        RowRef {
            id: row.id,
            claim: row.claim.as_deref(),
        }
    }
}

/// Claims made by this process, numbered: each claim's token is unique, so an owner whose
/// claim lapsed and who claimed the same row again cannot settle it under the old claim.
static CLAIMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The columns every outbox read selects, in [`OutboxRow::from_columns`]'s order.
const COLUMNS: &str = "id, user_id, product_id, text, event, allow_fallback, attempts,
     status = 'parked', next_attempt_at, claimed_by";

type Columns = (
    i64,
    i64,
    Option<String>,
    String,
    Option<String>,
    i64,
    i64,
    bool,
    i64,
    Option<String>,
);

impl OutboxRow {
    fn from_columns(c: Columns) -> OutboxRow {
        let (id, user_id, product_id, text, event, allow_fallback, attempts, held, _, claim) = c;
        let event = match event {
            None => Some(Event::Text { html: text }),
            // A kind a newer release wrote: its Chinese rendering beside it, if any.
            Some(json) => Event::from_json(&json)
                .or_else(|| (!text.trim().is_empty()).then_some(Event::Text { html: text })),
        };
        OutboxRow {
            id,
            user_id: user_id as u64,
            product_id,
            event,
            allow_fallback: allow_fallback != 0,
            attempts,
            held,
            claim,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub sent: i64,
    pub parked: i64,
}

/// Each user's earliest undelivered message (pending, or held until /start), read from the
/// partial index `outbox_undelivered` (migration 0005) that holds exactly these rows: the
/// cost follows what is still to deliver, not the history of sent and parked rows.
fn heads<D: Dialect>() -> String {
    format!(
        "SELECT MIN(id) AS id FROM outbox {}
         WHERE status = 'pending' OR (status = 'parked' AND until_start = 1)
         GROUP BY user_id",
        D::INDEXED_BY_UNDELIVERED
    )
}

/// Whether a head row is due at `$1`: a pending one when its time came, a held one when a
/// later message of its user is due (it is then tried first). A head another instance has
/// claimed is not due until its claim lapses.
///
/// The status is checked here again, not only in [`heads`]: on PostgreSQL a row another
/// instance changed while this claim waited for its lock is re-checked against these
/// conditions alone, and a row sent meanwhile must not be claimed (and sent) again.
const DUE: &str = "(o.claimed_until IS NULL OR o.claimed_until <= $1)
     AND CASE WHEN o.status = 'pending' THEN o.next_attempt_at <= $1
         WHEN o.status = 'parked' AND o.until_start = 1 THEN
             EXISTS (SELECT 1 FROM outbox p WHERE p.user_id = o.user_id
                     AND p.status = 'pending' AND p.next_attempt_at <= $1)
         ELSE FALSE END";

/// What every outcome also does: the row is no longer claimed.
const UNCLAIM: &str = "claimed_by = NULL, claimed_until = NULL";

/// Outcomes (other than a delivery) apply only under the claim they name, or to an
/// unclaimed pending row (callers that never claim: tests, tools). An instance whose claim
/// lapsed, and another (or itself, again) took the message or already settled it, must not
/// overwrite what was done since. `$k` is the claim's bind (NULL: none).
fn mine(k: usize) -> String {
    format!("(claimed_by = ${k} OR (claimed_by IS NULL AND status = 'pending'))")
}

/// Logs an outcome that found its row claimed by someone else.
fn settled(id: i64, what: &str, rows: u64) {
    if rows == 0 {
        tracing::warn!(
            outbox_id = id,
            what,
            "the claim on this message lapsed and another instance has it; outcome not recorded"
        );
    }
}

impl Store {
    /// Enqueues a message for a user's private chat only (operator alerts). Returns whether
    /// it was new.
    pub async fn enqueue_private(
        &self,
        notice: &Notice,
        user_id: u64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let target = Target {
            user_id,
            product_id: None,
            allow_fallback: false,
        };
        let new = on_backend!(self, write, |pool| {
            let mut conn = pool.acquire().await?;
            enqueue_many!(&mut *conn, &[(notice, target)], now)
        });
        Ok(new > 0)
    }

    /// The messages to try now, at most one per user: each user's earliest undelivered
    /// message, if it is due, or if it is held and a later one of theirs is due. Oldest
    /// first. A read only: see [`Store::claim_due`] for delivering them.
    pub async fn due_outbox(&self, now: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows: Vec<Columns> = on_backend!(self, read, |pool| {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE id IN (
                     SELECT o.id FROM ({}) AS h JOIN outbox o ON o.id = h.id
                     WHERE {DUE} ORDER BY o.next_attempt_at, o.id LIMIT $2)
                 ORDER BY next_attempt_at, id",
                heads::<Db>()
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(OutboxRow::from_columns).collect())
    }

    /// [`Store::due_outbox`], claimed for `owner` until `until`: no other instance gets
    /// these rows until the claim is settled (sent, rescheduled, parked, held, released) or
    /// lapses (the owner died mid-send: the message is tried again, at most once more).
    /// On PostgreSQL the rows are locked with `FOR UPDATE SKIP LOCKED`, so instances
    /// claiming at the same moment take different rows instead of waiting on each other.
    pub async fn claim_due(
        &self,
        now: i64,
        limit: i64,
        until: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let n = CLAIMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = format!("{}#{n}", self.owner);
        let owner: &str = &token;
        let mut rows: Vec<Columns> = on_backend!(self, write, |pool| {
            sqlx::query_as(&format!(
                "UPDATE outbox SET claimed_by = $3, claimed_until = $4
                 WHERE id IN (
                     SELECT o.id FROM ({}) AS h JOIN outbox o ON o.id = h.id
                     WHERE {DUE} ORDER BY o.next_attempt_at, o.id LIMIT $2 {})
                 RETURNING {COLUMNS}",
                heads::<Db>(),
                <Db as Dialect>::FOR_UPDATE_OF_O_SKIP_LOCKED,
            ))
            .bind(now)
            .bind(limit)
            .bind(owner)
            .bind(until)
            .fetch_all(pool)
            .await?
        });
        rows.sort_by_key(|c| (c.7, c.0));
        Ok(rows.into_iter().map(OutboxRow::from_columns).collect())
    }

    /// Gives a claimed row back untouched (this instance is stopping before sending it).
    pub async fn release_claim<'r>(&self, row: impl Into<RowRef<'r>>) -> Result<(), StoreError> {
        let row = row.into();
        let id = row.id;
        let rows = on_backend!(self, write, |pool| {
            sqlx::query(&format!(
                "UPDATE outbox SET {UNCLAIM} WHERE id = $1 AND claimed_by = $2"
            ))
            .bind(id)
            .bind(row.claim)
            .execute(pool)
            .await?
            .rows_affected()
        });
        settled(id, "release", rows);
        Ok(())
    }

    /// Extends this owner's claim on a message being sent, until `until`. False when the
    /// claim is no longer this owner's.
    pub async fn renew_claim<'r>(
        &self,
        row: impl Into<RowRef<'r>>,
        until: i64,
    ) -> Result<bool, StoreError> {
        let row = row.into();
        let id = row.id;
        let rows = on_backend!(self, write, |pool| {
            sqlx::query("UPDATE outbox SET claimed_until = $1 WHERE id = $2 AND claimed_by = $3")
                .bind(until)
                .bind(id)
                .bind(row.claim)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(rows == 1)
    }

    /// A user's pending messages (not sent, parked or held), in the order they are
    /// delivered.
    pub async fn pending_for(&self, user_id: u64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows: Vec<Columns> = on_backend!(self, read, |pool| {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM outbox
                 WHERE user_id = $1 AND status = 'pending' ORDER BY id"
            ))
            .bind(user_id as i64)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(OutboxRow::from_columns).collect())
    }

    /// When [`Store::due_outbox`] will next have something for a user not in `busy`
    /// (a row another instance claimed: when its claim lapses).
    pub async fn next_due_at(&self, busy: &HashSet<u64>) -> Result<Option<i64>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT MIN(CASE WHEN due IS NULL THEN NULL
                                 ELSE {}(COALESCE(claimed_until, 0), due) END)
                 FROM (SELECT o.claimed_until,
                              CASE WHEN o.status = 'pending' THEN o.next_attempt_at
                              ELSE (SELECT MIN(p.next_attempt_at) FROM outbox p
                                    WHERE p.user_id = o.user_id AND p.status = 'pending') END
                              AS due
                       FROM ({}) AS h JOIN outbox o ON o.id = h.id",
                <Db as Dialect>::GREATEST,
                heads::<Db>()
            ));
            if !busy.is_empty() {
                q.push(" WHERE o.user_id NOT IN (");
                let mut ids = q.separated(", ");
                for user in busy {
                    ids.push_bind(*user as i64);
                }
                q.push(")");
            }
            q.push(") AS d");
            q.build_query_scalar().fetch_one(pool).await?
        }))
    }

    /// Records a delivery. Whoever claims the row now, the message arrived: it is sent,
    /// and nothing later makes it due again. Delivered to the user's private chat, it also
    /// proves them reachable: their messages held until /start are due again (in order),
    /// not left waiting for a /start they have no reason to send.
    pub async fn mark_sent(&self, id: i64, chat_id: i64, now: i64) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let user: Option<i64> = sqlx::query_scalar(&format!(
                "UPDATE outbox SET status = 'sent', until_start = 0, sent_chat_id = $1,
                        sent_at = $2, last_error = NULL, {UNCLAIM}
                 WHERE id = $3 AND status != 'sent'
                 RETURNING user_id"
            ))
            .bind(chat_id)
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if user == Some(chat_id) {
                sqlx::query(
                    "UPDATE outbox SET status = 'pending', until_start = 0, attempts = 0,
                            next_attempt_at = $1
                     WHERE user_id = $2 AND status = 'parked' AND until_start = 1",
                )
                .bind(now)
                .bind(chat_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Tries again at `at`; `count` says whether this failure counts toward parking. A
    /// held message tried again is an ordinary pending one from then on, its count fresh.
    pub async fn reschedule<'r>(
        &self,
        row: impl Into<RowRef<'r>>,
        at: i64,
        error: &str,
        count: bool,
    ) -> Result<(), StoreError> {
        let row = row.into();
        let id = row.id;
        let rows = on_backend!(self, write, |pool| {
            sqlx::query(&format!(
                "UPDATE outbox SET next_attempt_at = $1, last_error = $2,
                        attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END + $3,
                        status = 'pending', until_start = 0, {UNCLAIM}
                 WHERE id = $4 AND status != 'sent' AND {}",
                mine(5)
            ))
            .bind(at)
            .bind(error)
            .bind(i64::from(count))
            .bind(id)
            .bind(row.claim)
            .execute(pool)
            .await?
            .rows_affected()
        });
        settled(id, "retry", rows);
        Ok(())
    }

    /// Gives up on a message, keeping why. It no longer holds back the user's later ones.
    pub async fn park<'r>(
        &self,
        row: impl Into<RowRef<'r>>,
        reason: &str,
    ) -> Result<(), StoreError> {
        let row = row.into();
        let id = row.id;
        let rows = on_backend!(self, write, |pool| {
            sqlx::query(&format!(
                "UPDATE outbox SET status = 'parked', until_start = 0, last_error = $1,
                        attempts = attempts + 1, {UNCLAIM}
                 WHERE id = $2 AND status != 'sent' AND {}",
                mine(3)
            ))
            .bind(reason)
            .bind(id)
            .bind(row.claim)
            .execute(pool)
            .await?
            .rows_affected()
        });
        settled(id, "park", rows);
        Ok(())
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let rows: Vec<(String, i64)> = on_backend!(self, read, |pool| {
            sqlx::query_as("SELECT status, COUNT(*) FROM outbox GROUP BY status")
                .fetch_all(pool)
                .await?
        });
        let mut c = OutboxCounts::default();
        for (status, n) in rows {
            match status.as_str() {
                "pending" => c.pending = n,
                "sent" => c.sent = n,
                _ => c.parked = n,
            }
        }
        Ok(c)
    }

    /// The last error of a parked or retried message, by dedupe key (for tests and ops).
    pub async fn outbox_status(
        &self,
        dedupe_key: &str,
    ) -> Result<Option<(String, Option<String>, Option<i64>)>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT status, last_error, sent_chat_id FROM outbox WHERE dedupe_key = $1",
            )
            .bind(dedupe_key)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Parks a message until its user sends /start (see [`Store::release_held`]); `told`:
    /// the group told to open a private chat, and when. The user's later pending messages
    /// are held with it: they must not overtake it.
    ///
    /// `began`: when the attempt that was refused started. If the user sent /start since
    /// then, the refusal is stale (the /start that would release the message already came
    /// and found nothing held): the message is due again instead of held.
    pub async fn hold<'r>(
        &self,
        row: impl Into<RowRef<'r>>,
        reason: &str,
        told: Option<(i64, i64)>,
        began: i64,
    ) -> Result<(), StoreError> {
        let row = row.into();
        let id = row.id;
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            // The user's row in user_starts is locked (PostgreSQL) before reading it, and
            // release_held's upsert takes the same lock: a /start is either seen here or
            // comes after this hold and releases it. Unlocked, a /start committed between
            // the read and the update would find nothing held, and the message would wait
            // for another /start.
            let user: Option<i64> = sqlx::query_scalar("SELECT user_id FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(user) = user else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO user_starts (user_id, started_at) VALUES ($1, 0)
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user)
            .execute(&mut *tx)
            .await?;
            let started_at: i64 = sqlx::query_scalar(&format!(
                "SELECT started_at FROM user_starts WHERE user_id = $1 {}",
                <Db as Dialect>::FOR_UPDATE
            ))
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
            let started_since = started_at >= began && started_at > 0;
            if started_since {
                sqlx::query(&format!(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = $1, last_error = $2,
                            told_in_chat = COALESCE($3, told_in_chat),
                            told_at = COALESCE($4, told_at), {UNCLAIM}
                     WHERE id = $5 AND status != 'sent' AND {}",
                    mine(6)
                ))
                .bind(began)
                .bind(reason)
                .bind(told.map(|(chat, _)| chat))
                .bind(told.map(|(_, at)| at))
                .bind(id)
                .bind(row.claim)
                .execute(&mut *tx)
                .await?;
            } else {
                let held = sqlx::query(&format!(
                    "UPDATE outbox SET status = 'parked', until_start = 1, last_error = $1,
                            attempts = attempts + 1,
                            told_in_chat = COALESCE($2, told_in_chat),
                            told_at = COALESCE($3, told_at), {UNCLAIM}
                     WHERE id = $4 AND status != 'sent' AND {}",
                    mine(5)
                ))
                .bind(reason)
                .bind(told.map(|(chat, _)| chat))
                .bind(told.map(|(_, at)| at))
                .bind(id)
                .bind(row.claim)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                settled(id, "hold", held);
                // Only a message this owner held holds the later ones.
                if held == 1 {
                    sqlx::query(
                        "UPDATE outbox SET status = 'parked', until_start = 1,
                            last_error = 'waiting behind an earlier held message: ' || $1
                     WHERE user_id = (SELECT user_id FROM outbox WHERE id = $2)
                       AND status = 'pending' AND id > $2",
                    )
                    .bind(reason)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Whether `user_id`, with news not yet delivered (held, or back to pending after a
    /// failed retry), was told in `chat` at or after `since`.
    pub async fn told_since(
        &self,
        user_id: u64,
        chat: i64,
        since: i64,
    ) -> Result<bool, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM outbox
                    WHERE user_id = $1 AND status IN ('pending', 'parked')
                      AND told_in_chat = $2 AND told_at >= $3)",
            )
            .bind(user_id as i64)
            .bind(chat)
            .bind(since)
            .fetch_one(pool)
            .await?
        }))
    }

    /// The user started the bot: their messages held for that are due again, with a fresh
    /// count of attempts (delivered in the order they were written). Returns how many.
    pub async fn release_held(&self, user_id: u64, now: i64) -> Result<u64, StoreError> {
        Ok(on_backend!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            // Remembered for a refusal still on its way back ([`Store::hold`]).
            sqlx::query(
                "INSERT INTO user_starts (user_id, started_at) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET started_at = excluded.started_at",
            )
            .bind(user_id as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "UPDATE outbox SET status = 'pending', until_start = 0, attempts = 0,
                        next_attempt_at = $1
                 WHERE user_id = $2 AND status = 'parked' AND until_start = 1",
            )
            .bind(now)
            .bind(user_id as i64)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            done.rows_affected()
        }))
    }
}

/// Who an outbox row is for.
pub(super) struct Target<'a> {
    pub user_id: u64,
    pub product_id: Option<&'a str>,
    pub allow_fallback: bool,
}

#[cfg(test)]
mod tests {
    use super::super::Backend;
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn the_per_user_query_reads_the_undelivered_index() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let Backend::Sqlite { read, .. } = &store.backend else {
            unreachable!("an in-memory SQLite store")
        };
        let sql = format!("EXPLAIN QUERY PLAN {}", heads::<sqlx::Sqlite>());
        let plan: Vec<String> = sqlx::query(&sql)
            .fetch_all(read)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        assert!(
            plan.iter().any(|d| d.contains("outbox_undelivered")),
            "{plan:?}"
        );
    }
}
