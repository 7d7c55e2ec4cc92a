-- imgate embedded schema, version 4 -> 5: what the operator console reads. Only adds a column
-- and an index, so a version-4 database keeps every row.

-- The bot's name on its platform, learned when its credentials are tested (NULL until then).
ALTER TABLE integrations ADD COLUMN account TEXT;

-- An integration's sessions, most recently active first (SessionStore::list_sessions).
CREATE INDEX sessions_by_integration ON sessions (integration_id, last_active_at);
