-- imgate embedded schema, version 1 -> 2: the conversation pipeline's tables.
-- Only adds tables and indexes, so a version-1 database keeps every row.

-- IM identities (`org:platform:sender`) mapped to imgate users; rows are never changed.
CREATE TABLE users (
    identity    TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Per-session turns; seq orders turns written at the same instant and keeps them all.
CREATE TABLE history (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL,
    role        TEXT NOT NULL,
    content     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX history_by_session ON history (session_id, at, seq);
CREATE INDEX history_by_expiry ON history (expires_at);

-- Aggregation buffers: the buffer's version counts its appends; it expires ttl after the last.
CREATE TABLE aggregation_buffers (
    key         TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX aggregation_buffers_by_expiry ON aggregation_buffers (expires_at);

-- The buffers' events as InboundEvent JSON; version is the buffer's version after the append.
CREATE TABLE aggregation_events (
    key      TEXT NOT NULL,
    version  INTEGER NOT NULL,
    event    TEXT NOT NULL,
    PRIMARY KEY (key, version)
) WITHOUT ROWID;

-- Streamed answers the platform pulls; card is JSON or NULL.
CREATE TABLE streams (
    integration_id  TEXT NOT NULL,
    id              TEXT NOT NULL,
    content         TEXT NOT NULL,
    finished        INTEGER NOT NULL,
    card            TEXT,
    version         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (integration_id, id)
);
CREATE INDEX streams_by_expiry ON streams (expires_at);

-- Cached platform access tokens, sealed.
CREATE TABLE tokens (
    key         TEXT PRIMARY KEY,
    token       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);

-- Timer messages (Queue::enqueue_delayed) need no new table: they live in queue_messages with
-- group_id '' (a group id enqueue refuses) and visible_at set to when they are due, and each is
-- delivered on its own. queue_messages_by_group (group_id, seq) finds them in order.
