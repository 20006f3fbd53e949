//! Where SQLite and PostgreSQL differ, and the macro that compiles one body for both.
//!
//! Everything else in the store is written once, in SQL both engines read alike.

/// The few fragments the engines spell differently.
pub(super) trait Dialect {
    /// Names the partial index of undelivered messages for the planner. SQLite may
    /// otherwise scan the whole outbox; PostgreSQL has no hints and picks it by itself.
    const INDEXED_BY_UNDELIVERED: &'static str;
    /// Row locks on the outbox rows (alias `o`) a claim picks: other instances skip rows
    /// one of them is claiming. SQLite has one writer at a time, so a claim there is
    /// already exclusive.
    const FOR_UPDATE_OF_O_SKIP_LOCKED: &'static str;
    /// Locks the rows a SELECT reads until the transaction ends (SQLite: its one writer
    /// already excludes every other).
    const FOR_UPDATE: &'static str;
    /// The database's clock in whole Unix seconds, as a BIGINT.
    const NOW: &'static str;
    /// The larger of two values (`MAX(a, b)` is an aggregate in PostgreSQL).
    const GREATEST: &'static str;
    /// Takes a lock on one user's money until the transaction ends (`$1` the user id), so
    /// two payouts for one user never both pass the balance check. SQLite's one writer
    /// already excludes every other; PostgreSQL's READ COMMITTED would not.
    const LOCK_USER_MONEY: &'static str;
    /// The first statement of a transaction that moves money. SQLite: a write that touches
    /// no row but takes the write lock at once (a deferred transaction that reads first
    /// fails with "database is locked" when two processes upgrade together); PostgreSQL:
    /// nothing ([`Dialect::LOCK_USER_MONEY`] does the work).
    const BEGIN_MONEY: &'static str;
}

impl Dialect for sqlx::Sqlite {
    const INDEXED_BY_UNDELIVERED: &'static str = "INDEXED BY outbox_undelivered";
    const FOR_UPDATE_OF_O_SKIP_LOCKED: &'static str = "";
    const FOR_UPDATE: &'static str = "";
    const NOW: &'static str = "CAST(strftime('%s', 'now') AS INTEGER)";
    const GREATEST: &'static str = "MAX";
    const LOCK_USER_MONEY: &'static str = "SELECT $1";
    const BEGIN_MONEY: &'static str =
        "UPDATE payout_requests SET used_at = used_at WHERE token IS NULL";
}

impl Dialect for sqlx::Postgres {
    const INDEXED_BY_UNDELIVERED: &'static str = "";
    const FOR_UPDATE_OF_O_SKIP_LOCKED: &'static str = "FOR UPDATE OF o SKIP LOCKED";
    const FOR_UPDATE: &'static str = "FOR UPDATE";
    // FLOOR: a cast alone rounds, and a lease would end up to half a second short.
    const NOW: &'static str = "CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp())) AS BIGINT)";
    const GREATEST: &'static str = "GREATEST";
    const LOCK_USER_MONEY: &'static str = "SELECT pg_advisory_xact_lock($1)::text";
    const BEGIN_MONEY: &'static str = "SELECT 1";
}

/// Runs `$body` against the store's backend: `$pool` is the pool for `read` or `write`
/// work (the same pool on PostgreSQL), and the type `Db` names that backend's sqlx
/// database (for `QueryBuilder::<Db>` and `<Db as Dialect>`). The body is compiled once per
/// backend, so the same SQL is type-checked against both drivers.
macro_rules! on_backend {
    (@pick $r:ident $w:ident read) => {
        $r
    };
    (@pick $r:ident $w:ident write) => {
        $w
    };
    ($store:expr, $side:ident, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { read, write } => {
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                let _ = (&read, &write);
                let $pool = on_backend!(@pick read write $side);
                $body
            }
            $crate::store::Backend::Postgres(pool) => {
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                let $pool = pool;
                $body
            }
        }
    };
}
