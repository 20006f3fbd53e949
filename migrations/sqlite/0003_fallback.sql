-- A message parked until its user sends /start: a user who never opened a private chat with
-- the bot (told in the group to do so), or who blocked it. /start puts it back in the queue.
ALTER TABLE outbox ADD COLUMN until_start INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_until_start ON outbox (user_id, until_start, status);
-- The group such a user was last told in, and when: one notice a day per user and group.
ALTER TABLE outbox ADD COLUMN told_in_chat INTEGER;
ALTER TABLE outbox ADD COLUMN told_at INTEGER;

-- Groups that became supergroups (old id -> new id), so the allow-list follows them.
CREATE TABLE chat_migrations (
    from_chat_id INTEGER PRIMARY KEY,
    to_chat_id   INTEGER NOT NULL,
    migrated_at  INTEGER NOT NULL
);
