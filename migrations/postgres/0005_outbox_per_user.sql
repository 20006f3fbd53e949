-- PostgreSQL twin of ../sqlite/0005_outbox_per_user.sql: the same tables and meaning; INTEGER is BIGINT here
-- (SQLite integers are 64-bit), row ids are identity columns.
-- Each user's undelivered messages (pending, or held until their /start), by user and age:
-- the notifier delivers a user's messages in order, each user's earliest first, and this
-- index stays as small as what is still to deliver (sent rows are not in it).
CREATE INDEX outbox_undelivered ON outbox (user_id, id)
    WHERE status = 'pending' OR (status = 'parked' AND until_start = 1);
