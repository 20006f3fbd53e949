-- Several instances on one database (PostgreSQL; SQLite runs one, and the same rows work
-- there). A message being delivered is claimed by the instance sending it until a moment:
-- no other instance takes it before, and if its sender dies it is taken after.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;

-- Jobs only one instance may run at a time (the order poller): held by one instance until
-- a moment, renewed while it lives, taken over by another once it lapses.
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
