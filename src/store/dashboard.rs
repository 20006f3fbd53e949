//! The dashboard's way in, kept in the store so every instance sharing it agrees: one-time
//! login tokens and the sessions they become. Only hashes of the token and of the session id
//! are kept ([`crate::dashboard::auth`] makes and hashes them), so reading the database does
//! not open the dashboard.
//!
//! A token is consumed by one conditional UPDATE (`used_at IS NULL AND expires_at > now`):
//! two instances taking the same token at once cannot both succeed.

use super::{Store, StoreError};

/// A live session, as a request finds it.
#[derive(Clone, PartialEq, Eq)]
pub struct DashboardSession {
    pub user_id: u64,
    /// `zh` or `en`, chosen at login.
    pub lang: String,
    /// The session's CSRF token (a POST carries it in a form field).
    pub csrf: String,
    pub expires_at: i64,
}

/// The CSRF token is a credential of its own: never shown by `Debug`.
impl std::fmt::Debug for DashboardSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardSession")
            .field("user_id", &self.user_id)
            .field("lang", &self.lang)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Keeps a login token (its hash) for `user_id`, valid until `expires_at`. Tokens and
    /// sessions over for a day are removed on the way.
    pub async fn add_dashboard_token(
        &self,
        token_hash: &str,
        user_id: u64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM dashboard_tokens WHERE expires_at < $1")
                .bind(now - 24 * 3600)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at < $1")
                .bind(now - 24 * 3600)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO dashboard_tokens (token_hash, user_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(user_id as i64)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Uses a login token: the user it was made for, if it exists, was never used and is
    /// still valid at `now`; it is used from then on, whatever the caller does next.
    pub async fn use_dashboard_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<u64>, StoreError> {
        let user: Option<i64> = on_backend!(self, write, |pool| {
            sqlx::query_scalar(
                "UPDATE dashboard_tokens SET used_at = $2
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
                 RETURNING user_id",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(user.map(|u| u as u64))
    }

    /// Starts a session (its id's hash) for `user_id` until `expires_at`.
    pub async fn add_dashboard_session(
        &self,
        session_hash: &str,
        session: &DashboardSession,
        now: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO dashboard_sessions
                    (session_hash, user_id, lang, csrf, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(session_hash)
            .bind(session.user_id as i64)
            .bind(&session.lang)
            .bind(&session.csrf)
            .bind(now)
            .bind(session.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The session with this id's hash, if it is live at `now`.
    pub async fn dashboard_session(
        &self,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<DashboardSession>, StoreError> {
        let row: Option<(i64, String, String, i64)> = on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT user_id, lang, csrf, expires_at FROM dashboard_sessions
                 WHERE session_hash = $1 AND expires_at > $2",
            )
            .bind(session_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(
            row.map(|(user_id, lang, csrf, expires_at)| DashboardSession {
                user_id: user_id as u64,
                lang,
                csrf,
                expires_at,
            }),
        )
    }

    /// Ends a session (sign-out).
    pub async fn end_dashboard_session(&self, session_hash: &str) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query("DELETE FROM dashboard_sessions WHERE session_hash = $1")
                .bind(session_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
