-- imgate embedded schema, version 4 -> 5: what the operator console reads. Only adds a column,
-- an index and a table, so a version-4 database keeps every row.

-- The bot's name on its platform, learned when its credentials are tested (NULL until then).
ALTER TABLE integrations ADD COLUMN account TEXT;

-- An integration's sessions, most recently active first (SessionStore::list_sessions).
CREATE INDEX sessions_by_integration ON sessions (integration_id, last_active_at);

-- Queue messages that failed every delivery attempt, kept per organization for operators to
-- list, redrive or discard. The id is the caller's; another organization may use the same one.
CREATE TABLE dead_letters (
    org_id          TEXT NOT NULL,
    id              TEXT NOT NULL,
    integration_id  TEXT NOT NULL,
    event_id        TEXT,
    group_id        TEXT NOT NULL,
    body            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    failed_at       INTEGER NOT NULL,
    receive_count   INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX dead_letters_by_org ON dead_letters (org_id, failed_at);
CREATE INDEX dead_letters_by_expiry ON dead_letters (expires_at);
