-- imgate embedded schema, version 1.
-- Timestamps are Unix milliseconds (INTEGER); ids are the domain's prefixed text ids.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX api_keys_by_org ON api_keys (org_id, created_at, id);

CREATE TABLE integrations (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    platform     TEXT NOT NULL,
    mode         TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    credentials  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL
);
CREATE INDEX integrations_by_org ON integrations (org_id, created_at, id);

-- IntegrationStatus as its JSON form: written whole, read whole.
CREATE TABLE integration_status (
    integration_id  TEXT PRIMARY KEY,
    data            TEXT NOT NULL
);

CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    config      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL
);
CREATE INDEX agents_by_org ON agents (org_id, created_at, id);

CREATE TABLE triggers (
    integration_id           TEXT PRIMARY KEY,
    org_id                   TEXT NOT NULL,
    agent_id                 TEXT NOT NULL,
    enabled                  INTEGER NOT NULL,
    session_timeout_seconds  INTEGER NOT NULL,
    summary_window_seconds   INTEGER NOT NULL,
    group_policy             TEXT NOT NULL,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    version                  INTEGER NOT NULL
);
CREATE INDEX triggers_by_org ON triggers (org_id, created_at, integration_id);

-- Keyed by SessionKey::digest(); the key's parts are kept to read the session back.
CREATE TABLE sessions (
    digest          TEXT PRIMARY KEY,
    integration_id  TEXT NOT NULL,
    conversation    TEXT NOT NULL,
    sender          TEXT NOT NULL,
    id              TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    last_active_at  INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE dedupe (
    key         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX dedupe_by_expiry ON dedupe (expires_at);

CREATE TABLE leases (
    integration_id  TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    expires_at      INTEGER NOT NULL
);

-- seq orders entries written at the same instant and keeps them all.
CREATE TABLE event_log (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id  TEXT NOT NULL,
    at              INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    event_id        TEXT,
    detail          TEXT NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX event_log_by_integration ON event_log (integration_id, at, seq);
CREATE INDEX event_log_by_expiry ON event_log (expires_at);

-- Small server settings (e.g. the hash of the bootstrap admin key).
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- The inbound queue. seq is the enqueue order; visible_at 0 means never received.
-- receipt is replaced on every receive, so an older receipt matches nothing.
CREATE TABLE queue_messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id       TEXT NOT NULL,
    dedupe_id      TEXT NOT NULL,
    body           TEXT NOT NULL,
    enqueued_at    INTEGER NOT NULL,
    visible_at     INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL,
    receipt        TEXT UNIQUE
);
CREATE INDEX queue_messages_by_group ON queue_messages (group_id, seq);

-- Messages received too often; same shape and rules as queue_messages.
CREATE TABLE queue_dead_letters (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id       TEXT NOT NULL,
    dedupe_id      TEXT NOT NULL,
    body           TEXT NOT NULL,
    enqueued_at    INTEGER NOT NULL,
    visible_at     INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL,
    receipt        TEXT UNIQUE,
    dead_at        INTEGER NOT NULL
);
CREATE INDEX queue_dead_letters_by_group ON queue_dead_letters (group_id, seq);

-- Dedupe ids seen within the de-duplication window, whether or not the message is still queued.
CREATE TABLE queue_dedupe (
    dedupe_id   TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX queue_dedupe_by_expiry ON queue_dedupe (expires_at);
