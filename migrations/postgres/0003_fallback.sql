-- PostgreSQL twin of ../sqlite/0003_fallback.sql: the same tables and meaning; INTEGER is BIGINT here
-- (SQLite integers are 64-bit), row ids are identity columns.
-- A message parked until its user sends /start: a user who never opened a private chat with
-- the bot (told in the group to do so), or who blocked it. /start puts it back in the queue.
ALTER TABLE outbox ADD COLUMN until_start BIGINT NOT NULL DEFAULT 0;
CREATE INDEX outbox_until_start ON outbox (user_id, until_start, status);
-- The group such a user was last told in, and when: one notice a day per user and group.
ALTER TABLE outbox ADD COLUMN told_in_chat BIGINT;
ALTER TABLE outbox ADD COLUMN told_at BIGINT;

-- Groups that became supergroups (old id -> new id), so the allow-list follows them.
CREATE TABLE chat_migrations (
    from_chat_id BIGINT PRIMARY KEY,
    to_chat_id   BIGINT NOT NULL,
    migrated_at  BIGINT NOT NULL
);
