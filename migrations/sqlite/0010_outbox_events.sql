-- Order news and alerts are kept as their facts (an events::Event as JSON) and rendered when
-- sent, in the reader's language then. `text` keeps finished HTML for rows written before
-- this migration and for messages without facts behind them ('' when `event` is set).
ALTER TABLE outbox ADD COLUMN event TEXT;
