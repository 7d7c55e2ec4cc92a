-- imgate embedded schema, version 5 -> 6: who may use a trigger's agent. Only adds a column, so
-- a version-5 database keeps every row (NULL: everyone may).

-- The trigger's allowlists and refusal (imgate_core::trigger::Access) as JSON.
ALTER TABLE triggers ADD COLUMN access TEXT;
