-- Every link the bot converted: the cache for repeated requests, and the record of which
-- chat a user converted in (where order news goes when the user cannot be reached privately).
CREATE TABLE conversions (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    chat_id         INTEGER NOT NULL,
    product_key     TEXT    NOT NULL,
    external_info   TEXT    NOT NULL,
    dy_password     TEXT    NOT NULL,
    coupon_command  TEXT,
    share_link      TEXT,
    created_at      INTEGER NOT NULL
);

CREATE INDEX conversions_by_user_product ON conversions (user_id, product_key, created_at);
CREATE INDEX conversions_by_user_time ON conversions (user_id, created_at);
