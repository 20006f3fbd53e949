-- Telegram updates already taken in webhook mode, by update_id: Telegram delivers an update
-- again when its POST timed out, and any instance may get the repeat. Rows older than a day
-- are pruned (Telegram gives up on an update long before that).
CREATE TABLE updates_seen (
    update_id BIGINT PRIMARY KEY,
    seen_at   BIGINT NOT NULL
);
CREATE INDEX updates_seen_at ON updates_seen (seen_at);
