-- PostgreSQL twin of ../sqlite/0011_ledger.sql.
-- The rebate ledger: one row per fact, never updated or deleted. Balances are sums.
--   accrual    an order settled: its settled commission x the percent in force, rounded
--              down to the fen (amount > 0); once per order.
--   reversal   a settled order was refunded: minus its accrual; once per order.
--   payout     the operator paid the user (amount < 0); once per confirmation (op_key).
--   adjustment the operator corrected a balance (signed, with a reason); once per op_key.
CREATE TABLE ledger (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('accrual', 'reversal', 'payout', 'adjustment')),
    order_id    TEXT,
    amount      BIGINT NOT NULL,
    -- accrual and reversal: the percent the accrual was computed with, and the commission.
    percent     BIGINT,
    commission  BIGINT,
    -- payout and adjustment: who did it, why, and the key that makes it happen once.
    operator_id BIGINT,
    note        TEXT,
    op_key      TEXT,
    created_at  BIGINT NOT NULL,
    CHECK ((kind IN ('accrual', 'reversal')) = (order_id IS NOT NULL)),
    CHECK ((kind IN ('payout', 'adjustment')) = (op_key IS NOT NULL))
);
-- The keys that make replays, overlapping polls and restarts unable to write a fact twice.
CREATE UNIQUE INDEX ledger_order_fact ON ledger (order_id, kind) WHERE order_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_operation ON ledger (op_key) WHERE op_key IS NOT NULL;
CREATE INDEX ledger_by_user ON ledger (user_id, id);

-- A payout asked for in Telegram, waiting for its confirm button (5 minutes, used once).
CREATE TABLE payout_requests (
    token       TEXT PRIMARY KEY,
    operator_id BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount > 0),
    note        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
