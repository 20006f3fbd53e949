//! The rebate ledger: what each user is owed, as an append-only list of facts that can be
//! audited line by line. Balances are sums over it, never a stored column (a mutable
//! balance is how rebate bots shipped "negative balance" and "paid twice").
//!
//! Order facts (accrual, reversal) are written in the transaction that stores the order
//! page ([`ledger_facts!`], called by `ingest_page`), from the orders' stored states, so
//! replays, overlapping polls, out-of-order snapshots and restarts cannot write one twice
//! (a unique key per order and kind). Operator facts (payout, adjustment) carry a key of
//! their own (`op_key`), so a pressed-twice button or a repeated command writes once.

use super::{Notice, Store, StoreError};
use crate::events::Event;

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: i64,
    pub user_id: u64,
    pub kind: LedgerKind,
    pub order_id: Option<String>,
    /// Fen, signed: what this fact adds to the user's balance.
    pub amount: i64,
    /// Accrual and reversal: the percent in force when the order settled, and the
    /// commission it was taken of.
    pub percent: Option<i64>,
    pub commission: Option<i64>,
    pub operator_id: Option<u64>,
    pub note: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    Accrual,
    Reversal,
    Payout,
    Adjustment,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Accrual => "accrual",
            LedgerKind::Reversal => "reversal",
            LedgerKind::Payout => "payout",
            LedgerKind::Adjustment => "adjustment",
        }
    }

    fn parse(s: &str) -> Option<LedgerKind> {
        Some(match s {
            "accrual" => LedgerKind::Accrual,
            "reversal" => LedgerKind::Reversal,
            "payout" => LedgerKind::Payout,
            "adjustment" => LedgerKind::Adjustment,
            _ => return None,
        })
    }
}

/// A user's money, all sums over the ledger (and, for `pending`, their unsettled orders).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Settled minus reversed minus paid out, plus adjustments: what can be paid now.
    /// Negative when a refund came after a payout: owed to the operator.
    pub available: i64,
    /// The estimated rebate of paid orders not settled or refunded yet, at the percent in
    /// force now (each order's rounded down).
    pub pending: i64,
    /// Every rebate ever credited (accruals net of reversals, plus adjustments).
    pub lifetime: i64,
    pub paid_out: i64,
}

/// What the ledger says about one order, for its messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderLedger {
    pub accrued: Option<i64>,
    pub reversed: Option<i64>,
}

/// Why a payout was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutRefused {
    #[error("user {0} has no rebate account (no order and no ledger line)")]
    UnknownUser(u64),
    #[error("the amount {amount} fen is more than the available balance {available} fen")]
    OverBalance { amount: i64, available: i64 },
    #[error("this payout was already made")]
    AlreadyDone,
    #[error("this confirmation has expired or does not exist")]
    Expired,
    #[error("this confirmation belongs to another operator")]
    NotYours,
}

/// How a payout went: written (with the balance after it), or refused and why.
pub type PayoutOutcome = Result<i64, PayoutRefused>;

/// How long a payout's confirm button works.
pub const PAYOUT_CONFIRM_SECS: i64 = 300;

/// Writes the accruals and reversals the stored states of `$ids` (order ids, `&[&str]`)
/// call for, on a transaction of the backend `Db` in scope; `$percent` is the percent in
/// force. An accrual is written for every order that settles, at 0 % too (amount 0): it
/// pins the percent at settlement, so raising `REBATE_PERCENT` later never credits an order
/// settled before (one seen again in an overlapping window). Reversals undo an accrual.
macro_rules! ledger_facts {
    ($tx:expr, $ids:expr, $percent:expr, $now:expr) => {{
        let ids: &[&str] = $ids;
        let percent: i64 = $percent;
        if !ids.is_empty() {
            {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO ledger (user_id, kind, order_id, amount, percent, commission,
                        created_at)
                     SELECT user_id, 'accrual', order_id, real_commission * ",
                );
                q.push_bind(percent)
                    .push(" / 100, ")
                    .push_bind(percent)
                    .push(", real_commission, ")
                    .push_bind($now)
                    .push(
                        " FROM orders WHERE flow_point = 'SETTLE' AND user_id IS NOT NULL
                         AND real_commission >= 0 AND order_id IN (",
                    );
                let mut list = q.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                q.push(") ON CONFLICT DO NOTHING");
                q.build().execute(&mut *$tx).await?;
            }
            let mut q = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO ledger (user_id, kind, order_id, amount, percent, commission,
                    created_at)
                 SELECT l.user_id, 'reversal', l.order_id, -l.amount, l.percent, l.commission, ",
            );
            q.push_bind($now).push(
                " FROM ledger l JOIN orders o ON o.order_id = l.order_id
                 WHERE l.kind = 'accrual' AND o.flow_point = 'REFUND' AND l.order_id IN (",
            );
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            q.push(") ON CONFLICT DO NOTHING");
            q.build().execute(&mut *$tx).await?;
        }
    }};
}
pub(super) use ledger_facts;

/// A user's balance: every fact summed (`$1` the user id).
const AVAILABLE: &str =
    "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger WHERE user_id = $1";

/// Begins a transaction that moves money on `$pool` (backend `Db` in scope). SQLite takes
/// its write lock first, so another process's money transaction (the CLI beside the bot)
/// waits instead of failing on a lock upgrade.
macro_rules! begin_money {
    ($pool:expr) => {{
        let mut tx = $pool.begin().await?;
        sqlx::query(<Db as super::dialect::Dialect>::BEGIN_MONEY)
            .execute(&mut *tx)
            .await?;
        tx
    }};
}

/// Inside a money transaction (`$tx: &mut Transaction`): waits for the user's money lock,
/// so two operations on one user (two requests, two instances) each read the balance the
/// other left.
macro_rules! lock_user {
    ($tx:expr, $user:expr) => {
        sqlx::query(<Db as super::dialect::Dialect>::LOCK_USER_MONEY)
            .bind($user as i64)
            .execute(&mut **$tx)
            .await?
    };
}

/// Inside a money transaction: the user's message about it, once per `$key`, delivered
/// privately only (money is nobody else's business).
macro_rules! tell_user {
    ($tx:expr, $user:expr, $key:expr, $event:expr, $now:expr) => {{
        let notice = Notice {
            dedupe_key: $key,
            event: $event,
        };
        let target = super::outbox::Target {
            user_id: $user,
            product_id: None,
            allow_fallback: false,
        };
        enqueue_many!(&mut **$tx, &[(&notice, target)], $now);
    }};
}

/// Inside a write transaction (`$tx`, backend `Db`): the payout line and the user's message,
/// if the balance covers it and `$key` was never used. Evaluates to the outcome.
macro_rules! pay_out {
    ($tx:expr, $user:expr, $amount:expr, $note:expr, $operator:expr, $key:expr, $now:expr) => {{
        let (user, amount, note, key): (u64, i64, &str, &str) = ($user, $amount, $note, $key);
        lock_user!($tx, user);
        let done: Option<i64> = sqlx::query_scalar("SELECT id FROM ledger WHERE op_key = $1")
            .bind(key)
            .fetch_optional(&mut **$tx)
            .await?;
        // The balance is read inside the transaction, under the user's lock.
        let available: i64 = sqlx::query_scalar(AVAILABLE)
            .bind(user as i64)
            .fetch_one(&mut **$tx)
            .await?;
        if done.is_some() {
            Err(PayoutRefused::AlreadyDone)
        } else if amount <= 0 || amount > available {
            Err(PayoutRefused::OverBalance { amount, available })
        } else {
            sqlx::query(
                "INSERT INTO ledger (user_id, kind, amount, operator_id, note, op_key, created_at)
                 VALUES ($1, 'payout', $2, $3, $4, $5, $6)",
            )
            .bind(user as i64)
            .bind(-amount)
            .bind($operator as i64)
            .bind(note)
            .bind(key)
            .bind($now)
            .execute(&mut **$tx)
            .await?;
            let event = Event::Payout {
                amount,
                note: note.to_string(),
                balance: available - amount,
            };
            tell_user!($tx, user, format!("payout:{key}"), event, $now);
            Ok(available - amount)
        }
    }};
}

pub(super) const ENTRY_COLUMNS: &str = "id, user_id, kind, order_id, amount, percent, commission,
    operator_id, note, created_at";

pub(super) type EntryColumns = (
    i64,
    i64,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
);

pub(super) fn entry(c: EntryColumns) -> Option<LedgerEntry> {
    let (id, user_id, kind, order_id, amount, percent, commission, operator_id, note, created_at) =
        c;
    Some(LedgerEntry {
        id,
        user_id: user_id as u64,
        kind: LedgerKind::parse(&kind)?,
        order_id,
        amount,
        percent,
        commission,
        operator_id: operator_id.map(|o| o as u64),
        note,
        created_at,
    })
}

impl Store {
    /// The ledger, oldest first: one user's or everyone's; at most `limit` lines, the
    /// newest ones when limited.
    pub async fn ledger(
        &self,
        user_id: Option<u64>,
        limit: Option<i64>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut rows: Vec<LedgerEntry> = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, EntryColumns>(&format!(
                "SELECT {ENTRY_COLUMNS} FROM ledger WHERE ($1 IS NULL OR user_id = $1)
                 ORDER BY id DESC LIMIT $2"
            ))
            .bind(user_id.map(|u| u as i64))
            .bind(limit.unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?
            .into_iter()
            .filter_map(entry)
            .collect()
        });
        rows.reverse();
        Ok(rows)
    }

    /// What `user_id` can be paid now (negative: they owe the operator).
    pub async fn available(&self, user_id: u64) -> Result<i64, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_scalar(AVAILABLE)
                .bind(user_id as i64)
                .fetch_one(pool)
                .await?
        }))
    }

    /// A user's balance; `percent` is the one in force (for `pending`).
    pub async fn balance(&self, user_id: u64, percent: u8) -> Result<Balance, StoreError> {
        let (available, lifetime, paid_out): (i64, i64, i64) = on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN kind <> 'payout' THEN amount END), 0)
                             AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN kind = 'payout' THEN -amount END), 0)
                             AS BIGINT)
                 FROM ledger WHERE user_id = $1",
            )
            .bind(user_id as i64)
            .fetch_one(pool)
            .await?
        });
        let pending = self
            .user_order_totals(user_id, percent)
            .await?
            .pending_rebate;
        Ok(Balance {
            available,
            pending,
            lifetime,
            paid_out,
        })
    }

    /// What the ledger holds for one order of a user.
    pub async fn order_ledger(
        &self,
        user_id: u64,
        order_id: &str,
    ) -> Result<OrderLedger, StoreError> {
        let rows: Vec<(String, i64)> = on_backend!(self, read, |pool| {
            sqlx::query_as("SELECT kind, amount FROM ledger WHERE order_id = $1 AND user_id = $2")
                .bind(order_id)
                .bind(user_id as i64)
                .fetch_all(pool)
                .await?
        });
        let mut out = OrderLedger::default();
        for (kind, amount) in rows {
            match kind.as_str() {
                "accrual" => out.accrued = Some(amount),
                "reversal" => out.reversed = Some(-amount),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Everyone's balances summed: owed to users (positive balances) and owed by users
    /// (negative ones, refunds after payouts), both as positive fen.
    pub async fn owed_totals(&self) -> Result<(i64, i64), StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(CASE WHEN b > 0 THEN b END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN b < 0 THEN -b END), 0) AS BIGINT)
                 FROM (SELECT SUM(amount) AS b FROM ledger GROUP BY user_id) balances",
            )
            .fetch_one(pool)
            .await?
        }))
    }

    /// Whether the bot knows `user_id` as someone a rebate can be owed to.
    async fn has_account(&self, user_id: u64) -> Result<bool, StoreError> {
        let n: i64 = on_backend!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM ledger WHERE user_id = $1)
                      + (SELECT COUNT(*) FROM orders WHERE user_id = $1)",
            )
            .bind(user_id as i64)
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }

    /// A payout asked for in Telegram: checked against the balance now (and again when
    /// confirmed), kept under `token` for [`PAYOUT_CONFIRM_SECS`].
    pub async fn request_payout(
        &self,
        token: &str,
        operator_id: u64,
        user_id: u64,
        amount: i64,
        note: &str,
        now: i64,
    ) -> Result<Result<(), PayoutRefused>, StoreError> {
        if !self.has_account(user_id).await? {
            return Ok(Err(PayoutRefused::UnknownUser(user_id)));
        }
        let available = self.available(user_id).await?;
        if amount > available {
            return Ok(Err(PayoutRefused::OverBalance { amount, available }));
        }
        on_backend!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO payout_requests (token, operator_id, user_id, amount, note,
                    created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token)
            .bind(operator_id as i64)
            .bind(user_id as i64)
            .bind(amount)
            .bind(note)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(Ok(()))
    }

    /// The confirm button of payout `token`, pressed by `operator_id`: once, within
    /// [`PAYOUT_CONFIRM_SECS`], by the operator who asked, within the balance at that
    /// moment. Returns the request's user and amount with the outcome.
    pub async fn confirm_payout(
        &self,
        token: &str,
        operator_id: u64,
        now: i64,
    ) -> Result<(Option<(u64, i64)>, PayoutOutcome), StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = begin_money!(pool);
            let request: Option<(i64, i64, i64, String, i64, Option<i64>)> =
                sqlx::query_as(&format!(
                    "SELECT operator_id, user_id, amount, note, created_at, used_at
                     FROM payout_requests WHERE token = $1 {}",
                    <Db as super::dialect::Dialect>::FOR_UPDATE
                ))
                .bind(token)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((op, user, amount, note, created, used)) = request else {
                return Ok((None, Err(PayoutRefused::Expired)));
            };
            let who = Some((user as u64, amount));
            if op as u64 != operator_id {
                return Ok((who, Err(PayoutRefused::NotYours)));
            }
            if used.is_some() {
                return Ok((who, Err(PayoutRefused::AlreadyDone)));
            }
            if now - created > PAYOUT_CONFIRM_SECS {
                return Ok((who, Err(PayoutRefused::Expired)));
            }
            let outcome = pay_out!(&mut tx, user as u64, amount, &note, operator_id, token, now);
            if outcome.is_ok() {
                sqlx::query("UPDATE payout_requests SET used_at = $1 WHERE token = $2")
                    .bind(now)
                    .bind(token)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Ok((who, outcome))
        })
    }

    /// An adjustment by an operator: a signed amount (not 0) with a reason, written once
    /// under `op_key`, the user told. A debit may take the balance below 0 (shown as owed,
    /// never clamped). Returns the balance after.
    pub async fn adjust(
        &self,
        user_id: u64,
        amount: i64,
        reason: &str,
        operator_id: u64,
        op_key: &str,
        now: i64,
    ) -> Result<PayoutOutcome, StoreError> {
        if !self.has_account(user_id).await? {
            return Ok(Err(PayoutRefused::UnknownUser(user_id)));
        }
        on_backend!(self, write, |pool| {
            let mut tx = begin_money!(pool);
            lock_user!(&mut tx, user_id);
            let written = sqlx::query(
                "INSERT INTO ledger (user_id, kind, amount, operator_id, note, op_key, created_at)
                 VALUES ($1, 'adjustment', $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(user_id as i64)
            .bind(amount)
            .bind(operator_id as i64)
            .bind(reason)
            .bind(op_key)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if written == 0 {
                return Ok(Err(PayoutRefused::AlreadyDone));
            }
            let balance: i64 = sqlx::query_scalar(AVAILABLE)
                .bind(user_id as i64)
                .fetch_one(&mut *tx)
                .await?;
            let event = Event::Adjustment {
                amount,
                reason: reason.to_string(),
                balance,
            };
            tell_user!(&mut tx, user_id, format!("adjustment:{op_key}"), event, now);
            tx.commit().await?;
            Ok(Ok(balance))
        })
    }

    /// A payout from the command line: written at once under `op_key` (a repeat with the
    /// same key writes nothing), within the balance.
    pub async fn pay_out(
        &self,
        user_id: u64,
        amount: i64,
        note: &str,
        operator_id: u64,
        op_key: &str,
        now: i64,
    ) -> Result<PayoutOutcome, StoreError> {
        if !self.has_account(user_id).await? {
            return Ok(Err(PayoutRefused::UnknownUser(user_id)));
        }
        on_backend!(self, write, |pool| {
            let mut tx = begin_money!(pool);
            let outcome = pay_out!(&mut tx, user_id, amount, note, operator_id, op_key, now);
            if outcome.is_ok() {
                tx.commit().await?;
            }
            Ok(outcome)
        })
    }
}
