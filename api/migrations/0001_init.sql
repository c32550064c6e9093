-- Ringback schema, version 1. SQLite dialect kept to what Postgres also accepts where practical.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    prefix      TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    name        TEXT,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE workflows (
    id          TEXT PRIMARY KEY,
    prompt      TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE calls (
    id              TEXT PRIMARY KEY,
    workflow_id     TEXT NOT NULL REFERENCES workflows(id),
    api_key_id      TEXT,
    direction       TEXT NOT NULL,
    to_number       TEXT NOT NULL,
    from_number     TEXT,
    trunk           TEXT NOT NULL,
    lifecycle       TEXT NOT NULL,
    outcome         TEXT,
    sip_status      INTEGER,
    sip_reason      TEXT,
    hangup_by       TEXT,
    summary         TEXT,
    transcript      TEXT NOT NULL DEFAULT '[]',
    form_fills      TEXT NOT NULL DEFAULT '{}',
    talk_seconds    REAL,
    recording_path  TEXT,
    media           TEXT,
    callback_url    TEXT,
    metadata        TEXT NOT NULL DEFAULT '{}',
    error           TEXT,
    created_at      TEXT NOT NULL,
    answered_at     TEXT,
    ended_at        TEXT
);
CREATE INDEX calls_created ON calls(created_at);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    call_id         TEXT NOT NULL REFERENCES calls(id),
    url             TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX webhook_deliveries_call ON webhook_deliveries(call_id);

CREATE TABLE settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
