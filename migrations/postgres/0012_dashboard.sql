-- PostgreSQL twin of ../sqlite/0012_dashboard.sql.
-- The operator's dashboard. A login link carries a one-time token, a browser a session id in
-- a cookie; the store keeps only their SHA-256 hashes (hex), so a copy of the database opens
-- nothing. Both are bound to the operator's Telegram user id.
--   dashboard_tokens    handed out by /dashboard: valid 10 minutes, used once (used_at).
--   dashboard_sessions  what a used token becomes: 12 hours, with the session's CSRF token
--                       (a POST must carry it) and the language the page is written in.
CREATE TABLE dashboard_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX dashboard_tokens_expiry ON dashboard_tokens (expires_at);

CREATE TABLE dashboard_sessions (
    session_hash TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    lang         TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- The dashboard's sums read orders by the day they were paid and conversions by the day they
-- were made, over every user.
CREATE INDEX orders_by_pay_time ON orders (pay_success_time);
CREATE INDEX conversions_by_time ON conversions (created_at);
