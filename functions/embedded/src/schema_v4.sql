-- imgate embedded schema, version 3 -> 4: a session keeps the agent's recorded answer to the
-- event answered last (so a redelivery delivers it instead of asking the agent again), and
-- with it outlives its conversation: `expires_at` becomes when the row may go, `idle_until`
-- when the conversation ends (NULL in rows from before: they end at `expires_at`).

ALTER TABLE sessions ADD COLUMN idle_until INTEGER;
ALTER TABLE sessions ADD COLUMN answer_event TEXT;
ALTER TABLE sessions ADD COLUMN answer TEXT;
ALTER TABLE sessions ADD COLUMN answer_at INTEGER;
