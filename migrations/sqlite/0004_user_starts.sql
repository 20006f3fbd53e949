-- When each user last sent /start: a message whose "never started"/"blocked" answer was
-- sent before that moment is not held (the /start that would release it already came).
CREATE TABLE user_starts (
    user_id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL
);
