//! The outbox: messages to deliver, and what became of each.
//!
//! A user's messages are delivered in the order they were written, one at a time: only a
//! user's earliest undelivered message is ever due ([`Store::due_outbox`]), so a NEW is
//! never overtaken by the same order's REFUND. A message held until the user's /start
//! counts as undelivered: a later message of that user waits behind it, and when one falls
//! due the held one is tried again first (the user may have unblocked the bot without
//! sending /start). Parked messages (given up) no longer hold anything back.

use super::{Notice, Store, StoreError};
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashSet;

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub user_id: u64,
    pub product_id: Option<String>,
    pub text: String,
    pub allow_fallback: bool,
    pub attempts: i64,
    /// Held until the user's /start, and tried again because a later message of theirs
    /// fell due.
    pub held: bool,
}

impl OutboxRow {
    /// A row selected as `id, user_id, product_id, text, allow_fallback, attempts, held`.
    fn from_row(r: &sqlx::sqlite::SqliteRow) -> OutboxRow {
        OutboxRow {
            id: r.get("id"),
            user_id: r.get::<i64, _>("user_id") as u64,
            product_id: r.get("product_id"),
            text: r.get("text"),
            allow_fallback: r.get::<i64, _>("allow_fallback") != 0,
            attempts: r.get("attempts"),
            held: r.get::<i64, _>("held") != 0,
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
const HEADS: &str = "SELECT MIN(id) AS id FROM outbox INDEXED BY outbox_undelivered
     WHERE status = 'pending' OR (status = 'parked' AND until_start = 1)
     GROUP BY user_id";

impl Store {
    /// Enqueues a message for a user's private chat only (operator alerts). Returns whether
    /// it was new.
    pub async fn enqueue_private(
        &self,
        notice: &Notice,
        user_id: u64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let pool = self.writer();
        let mut conn = pool.acquire().await?;
        let target = Target {
            user_id,
            product_id: None,
            allow_fallback: false,
        };
        Ok(enqueue_many(&mut conn, &[(notice, target)], now).await? > 0)
    }

    /// The messages to try now, at most one per user: each user's earliest undelivered
    /// message, if it is due, or if it is held and a later one of theirs is due. Oldest
    /// first.
    pub async fn due_outbox(&self, now: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let pool = self.reader();
        let rows = sqlx::query(&format!(
            "SELECT o.id, o.user_id, o.product_id, o.text, o.allow_fallback, o.attempts,
                    o.status = 'parked' AS held
             FROM ({HEADS}) AS h JOIN outbox o ON o.id = h.id
             WHERE CASE WHEN o.status = 'pending' THEN o.next_attempt_at <= ?1
                   ELSE EXISTS (SELECT 1 FROM outbox p WHERE p.user_id = o.user_id
                                AND p.status = 'pending' AND p.next_attempt_at <= ?1) END
             ORDER BY o.next_attempt_at, o.id LIMIT ?2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(rows.iter().map(OutboxRow::from_row).collect())
    }

    /// A user's pending messages (not sent, parked or held), in the order they are
    /// delivered.
    pub async fn pending_for(&self, user_id: u64) -> Result<Vec<OutboxRow>, StoreError> {
        let pool = self.reader();
        let rows = sqlx::query(
            "SELECT id, user_id, product_id, text, allow_fallback, attempts, 0 AS held
             FROM outbox WHERE user_id = ? AND status = 'pending' ORDER BY id",
        )
        .bind(user_id as i64)
        .fetch_all(pool)
        .await?;
        Ok(rows.iter().map(OutboxRow::from_row).collect())
    }

    /// When [`Store::due_outbox`] will next have something for a user not in `busy`.
    pub async fn next_due_at(&self, busy: &HashSet<u64>) -> Result<Option<i64>, StoreError> {
        let pool = self.reader();
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT MIN(CASE WHEN o.status = 'pending' THEN o.next_attempt_at
                        ELSE (SELECT MIN(p.next_attempt_at) FROM outbox p
                              WHERE p.user_id = o.user_id AND p.status = 'pending') END)
             FROM ({HEADS}) AS h JOIN outbox o ON o.id = h.id"
        ));
        if !busy.is_empty() {
            q.push(" WHERE o.user_id NOT IN (");
            let mut ids = q.separated(", ");
            for user in busy {
                ids.push_bind(*user as i64);
            }
            q.push(")");
        }
        Ok(q.build_query_scalar().fetch_one(pool).await?)
    }

    pub async fn mark_sent(&self, id: i64, chat_id: i64, now: i64) -> Result<(), StoreError> {
        let pool = self.writer();
        sqlx::query(
            "UPDATE outbox SET status = 'sent', until_start = 0, sent_chat_id = ?, sent_at = ?,
                    last_error = NULL
             WHERE id = ?",
        )
        .bind(chat_id)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Tries again at `at`; `count` says whether this failure counts toward parking. A
    /// held message tried again is an ordinary pending one from then on, its count fresh.
    pub async fn reschedule(
        &self,
        id: i64,
        at: i64,
        error: &str,
        count: bool,
    ) -> Result<(), StoreError> {
        let pool = self.writer();
        sqlx::query(
            "UPDATE outbox SET next_attempt_at = ?, last_error = ?,
                    attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END + ?,
                    status = 'pending', until_start = 0
             WHERE id = ?",
        )
        .bind(at)
        .bind(error)
        .bind(i64::from(count))
        .bind(id)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Gives up on a message, keeping why. It no longer holds back the user's later ones.
    pub async fn park(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        let pool = self.writer();
        sqlx::query(
            "UPDATE outbox SET status = 'parked', until_start = 0, last_error = ?,
                    attempts = attempts + 1
             WHERE id = ?",
        )
        .bind(reason)
        .bind(id)
        .execute(pool)
        .await?;
        Ok(())
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let pool = self.reader();
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
            .fetch_all(pool)
            .await?;
        let mut c = OutboxCounts::default();
        for r in rows {
            let n: i64 = r.get("n");
            match r.get::<String, _>("status").as_str() {
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
        let pool = self.reader();
        let row =
            sqlx::query("SELECT status, last_error, sent_chat_id FROM outbox WHERE dedupe_key = ?")
                .bind(dedupe_key)
                .fetch_optional(pool)
                .await?;
        Ok(row.map(|r| (r.get("status"), r.get("last_error"), r.get("sent_chat_id"))))
    }

    /// Parks a message until its user sends /start (see [`Store::release_held`]); `told`:
    /// the group told to open a private chat, and when. The user's later pending messages
    /// are held with it: they must not overtake it.
    ///
    /// `began`: when the attempt that was refused started. If the user sent /start since
    /// then, the refusal is stale (the /start that would release the message already came
    /// and found nothing held): the message is due again instead of held.
    pub async fn hold(
        &self,
        id: i64,
        reason: &str,
        told: Option<(i64, i64)>,
        began: i64,
    ) -> Result<(), StoreError> {
        let pool = self.writer();
        let mut tx = pool.begin().await?;
        let started_since: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM user_starts s JOIN outbox o ON o.user_id = s.user_id
                            WHERE o.id = ? AND s.started_at >= ?)",
        )
        .bind(id)
        .bind(began)
        .fetch_one(&mut *tx)
        .await?;
        if started_since {
            sqlx::query(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, last_error = ?,
                        told_in_chat = COALESCE(?, told_in_chat), told_at = COALESCE(?, told_at)
                 WHERE id = ?",
            )
            .bind(began)
            .bind(reason)
            .bind(told.map(|(chat, _)| chat))
            .bind(told.map(|(_, at)| at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET status = 'parked', until_start = 1, last_error = ?,
                    attempts = attempts + 1,
                    told_in_chat = COALESCE(?, told_in_chat), told_at = COALESCE(?, told_at)
             WHERE id = ?",
        )
        .bind(reason)
        .bind(told.map(|(chat, _)| chat))
        .bind(told.map(|(_, at)| at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE outbox SET status = 'parked', until_start = 1,
                    last_error = 'waiting behind an earlier held message: ' || ?
             WHERE user_id = (SELECT user_id FROM outbox WHERE id = ?)
               AND status = 'pending' AND id > ?",
        )
        .bind(reason)
        .bind(id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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
        let pool = self.reader();
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM outbox
                WHERE user_id = ? AND status IN ('pending', 'parked')
                  AND told_in_chat = ? AND told_at >= ?)",
        )
        .bind(user_id as i64)
        .bind(chat)
        .bind(since)
        .fetch_one(pool)
        .await?)
    }

    /// The user started the bot: their messages held for that are due again, with a fresh
    /// count of attempts (delivered in the order they were written). Returns how many.
    pub async fn release_held(&self, user_id: u64, now: i64) -> Result<u64, StoreError> {
        let pool = self.writer();
        let mut tx = pool.begin().await?;
        // Remembered for a refusal still on its way back ([`Store::hold`]).
        sqlx::query(
            "INSERT INTO user_starts (user_id, started_at) VALUES (?, ?)
             ON CONFLICT (user_id) DO UPDATE SET started_at = excluded.started_at",
        )
        .bind(user_id as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "UPDATE outbox SET status = 'pending', until_start = 0, attempts = 0,
                    next_attempt_at = ?
             WHERE user_id = ? AND status = 'parked' AND until_start = 1",
        )
        .bind(now)
        .bind(user_id as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// Who an outbox row is for.
pub(super) struct Target<'a> {
    pub user_id: u64,
    pub product_id: Option<&'a str>,
    pub allow_fallback: bool,
}

/// Inserts messages whose dedupe key was never used; returns how many were new.
pub(super) async fn enqueue_many(
    conn: &mut sqlx::SqliteConnection,
    notices: &[(&Notice, Target<'_>)],
    now: i64,
) -> Result<usize, StoreError> {
    if notices.is_empty() {
        return Ok(0);
    }
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT OR IGNORE INTO outbox (dedupe_key, user_id, product_id, text, allow_fallback, next_attempt_at, created_at) ",
    );
    q.push_values(notices, |mut row, (notice, target)| {
        row.push_bind(&notice.dedupe_key)
            .push_bind(target.user_id as i64)
            .push_bind(target.product_id)
            .push_bind(&notice.text)
            .push_bind(i64::from(target.allow_fallback))
            .push_bind(now)
            .push_bind(now);
    });
    let done = q.build().execute(conn).await?;
    Ok(done.rows_affected() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with(rows: &[(&str, u64)]) -> Store {
        let store = Store::open("sqlite::memory:").await.unwrap();
        for (key, user) in rows {
            let notice = Notice {
                dedupe_key: key.to_string(),
                text: key.to_string(),
            };
            store.enqueue_private(&notice, *user, 0).await.unwrap();
        }
        store
    }

    fn keys(rows: &[OutboxRow]) -> Vec<&str> {
        rows.iter().map(|r| r.text.as_str()).collect()
    }

    #[tokio::test]
    async fn each_user_has_only_their_earliest_message_due() {
        let store = store_with(&[("a1", 1), ("a2", 1), ("b1", 2), ("a3", 1)]).await;
        let due = store.due_outbox(0, 10).await.unwrap();
        assert_eq!(keys(&due), ["a1", "b1"]);
        // a1 waits for a retry: nothing of user 1 is due, not even a2.
        store
            .reschedule(due[0].id, 60, "later", true)
            .await
            .unwrap();
        assert_eq!(keys(&store.due_outbox(0, 10).await.unwrap()), ["b1"]);
        assert_eq!(store.next_due_at(&HashSet::new()).await.unwrap(), Some(0));
        assert_eq!(
            store.next_due_at(&HashSet::from([2])).await.unwrap(),
            Some(60)
        );
        // Sent: the next one is due.
        store.mark_sent(due[0].id, 1, 0).await.unwrap();
        assert_eq!(keys(&store.due_outbox(0, 10).await.unwrap()), ["a2", "b1"]);
        // Given up on: it holds nothing back.
        let a2 = store.due_outbox(0, 10).await.unwrap().remove(0);
        store.park(a2.id, "broken").await.unwrap();
        assert_eq!(keys(&store.due_outbox(0, 10).await.unwrap()), ["b1", "a3"]);
    }

    #[tokio::test]
    async fn a_held_message_holds_later_ones_and_is_tried_first_when_one_falls_due() {
        let store = store_with(&[("a1", 1), ("a2", 1)]).await;
        let a1 = store.due_outbox(0, 10).await.unwrap().remove(0);
        store.hold(a1.id, "blocked", None, 0).await.unwrap();
        assert!(store.due_outbox(0, 10).await.unwrap().is_empty());
        assert_eq!(
            store.outbox_counts().await.unwrap().parked,
            2,
            "a2 held too"
        );
        assert_eq!(store.next_due_at(&HashSet::new()).await.unwrap(), None);

        // A later message falls due: the held one is tried first.
        let notice = Notice {
            dedupe_key: "a3".into(),
            text: "a3".into(),
        };
        store.enqueue_private(&notice, 1, 5).await.unwrap();
        assert_eq!(store.next_due_at(&HashSet::new()).await.unwrap(), Some(5));
        assert!(store.due_outbox(4, 10).await.unwrap().is_empty());
        let due = store.due_outbox(5, 10).await.unwrap();
        assert_eq!(keys(&due), ["a1"]);
        assert!(due[0].held);

        // /start: all of them, in order.
        assert_eq!(
            store.release_held(1, 6).await.unwrap(),
            2,
            "a3 was never held"
        );
        let a1 = store.due_outbox(6, 10).await.unwrap().remove(0);
        assert_eq!((a1.text.as_str(), a1.held), ("a1", false));
        store.mark_sent(a1.id, 1, 6).await.unwrap();
        assert_eq!(keys(&store.due_outbox(6, 10).await.unwrap()), ["a2"]);
    }

    /// The race: the send goes out, /start arrives and releases nothing, then the send's
    /// "never started" answer comes back. That answer is stale: the message is due again.
    #[tokio::test]
    async fn a_refusal_older_than_the_users_start_does_not_hold() {
        let store = store_with(&[("a1", 1)]).await;
        let a1 = store.due_outbox(0, 10).await.unwrap().remove(0);
        assert_eq!(store.release_held(1, 100).await.unwrap(), 0);
        store.hold(a1.id, "never started", None, 99).await.unwrap();
        assert_eq!(keys(&store.due_outbox(100, 10).await.unwrap()), ["a1"]);
        // A refusal from an attempt after the start holds as usual.
        store.hold(a1.id, "blocked", None, 101).await.unwrap();
        assert!(store.due_outbox(200, 10).await.unwrap().is_empty());
        assert_eq!(store.outbox_counts().await.unwrap().parked, 1);
    }

    #[tokio::test]
    async fn the_per_user_query_reads_the_undelivered_index() {
        let store = store_with(&[]).await;
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {HEADS}"))
            .fetch_all(store.reader())
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
