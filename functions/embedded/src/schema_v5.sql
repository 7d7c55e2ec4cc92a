-- imgate embedded schema, version 4 -> 5: what the operator console reads. Only adds a column,
-- so a version-4 database keeps every row.

-- The bot's name on its platform, learned when its credentials are tested (NULL until then).
ALTER TABLE integrations ADD COLUMN account TEXT;
