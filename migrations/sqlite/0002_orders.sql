-- Orders as last seen (upserted by order_id; money in integer fen; never a float).
CREATE TABLE orders (
    order_id             TEXT    PRIMARY KEY,
    product_id           TEXT    NOT NULL,
    product_name         TEXT    NOT NULL,
    flow_point           TEXT    NOT NULL,
    total_pay_amount     INTEGER NOT NULL,
    estimated_commission INTEGER NOT NULL,
    real_commission      INTEGER NOT NULL,
    external_info        TEXT,
    -- The Telegram user the order belongs to; NULL when external_info is not ours.
    user_id              INTEGER,
    pay_success_time     TEXT    NOT NULL,
    update_time          TEXT    NOT NULL,
    settle_time          TEXT    NOT NULL,
    refund_time          TEXT    NOT NULL,
    -- The order as parsed: every field of veapi's order table (unknown keys are not kept).
    raw                  TEXT    NOT NULL,
    first_seen_at        INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX orders_by_user ON orders (user_id, pay_success_time);

-- Append-only facts: each state an order was seen in, first sighting only.
CREATE TABLE order_events (
    order_id             TEXT    NOT NULL,
    flow_point           TEXT    NOT NULL,
    total_pay_amount     INTEGER NOT NULL,
    estimated_commission INTEGER NOT NULL,
    real_commission      INTEGER NOT NULL,
    seen_at              INTEGER NOT NULL,
    PRIMARY KEY (order_id, flow_point)
);

-- Messages to deliver. dedupe_key is unique: one row per (order, state) or per alert, ever.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    dedupe_key      TEXT    NOT NULL UNIQUE,
    user_id         INTEGER NOT NULL,
    -- The product an order message is about: its group fallback is where it was converted.
    product_id      TEXT,
    text            TEXT    NOT NULL,
    -- Operator alerts go to the admin's private chat only.
    allow_fallback  INTEGER NOT NULL DEFAULT 1,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'parked')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    sent_chat_id    INTEGER,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);

-- Small named values: the poll watermark, the current incident.
CREATE TABLE kv (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A user's display name, for mentions in the fallback chat, and the product a conversion
-- resolved to (read from veapi's share_link), to find the chat an order's link came from.
ALTER TABLE conversions ADD COLUMN user_name TEXT;
ALTER TABLE conversions ADD COLUMN product_id TEXT;
CREATE INDEX conversions_by_user_product_id ON conversions (user_id, product_id);
