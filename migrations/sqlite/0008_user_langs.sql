-- The language each person is written to in (zh or en): their Telegram app's language as
-- last seen (`chosen` = 0), or what they chose with /lang (`chosen` = 1, which the app's
-- language no longer changes). Order news is rendered when sent, in the language found here.
CREATE TABLE user_langs (
    user_id    INTEGER PRIMARY KEY,
    lang       TEXT NOT NULL CHECK (lang IN ('zh', 'en')),
    chosen     INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
