-- PostgreSQL twin of ../sqlite/0004_user_starts.sql: the same tables and meaning; INTEGER is BIGINT here
-- (SQLite integers are 64-bit), row ids are identity columns.
-- When each user last sent /start: a message whose "never started"/"blocked" answer was
-- sent before that moment is not held (the /start that would release it already came).
CREATE TABLE user_starts (
    user_id BIGINT PRIMARY KEY,
    started_at BIGINT NOT NULL
);
