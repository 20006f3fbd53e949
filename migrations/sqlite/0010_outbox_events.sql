-- Order news and alerts are kept as their facts (an events::Event as JSON) and rendered when
-- sent, in the reader's language then. `text` keeps finished HTML for rows written before
-- this migration and for messages without facts behind them; beside an event it holds the
-- event's Chinese rendering, for a release that predates events (rolling deploy, rollback).
ALTER TABLE outbox ADD COLUMN event TEXT;
