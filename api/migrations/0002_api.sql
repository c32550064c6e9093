-- Ringback schema, version 2: the three API faces, idempotency, the durable webhook outbox and retention.
-- Written in the SQL that SQLite and PostgreSQL both accept (BIGINT and TEXT only), since one set of
-- migrations serves both.
ALTER TABLE calls ADD COLUMN face TEXT NOT NULL DEFAULT 'v1';
ALTER TABLE calls ADD COLUMN idempotency_key TEXT;
ALTER TABLE calls ADD COLUMN bridge_number TEXT;
ALTER TABLE calls ADD COLUMN created_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN purged_at TEXT;
ALTER TABLE calls ADD COLUMN dtmf TEXT NOT NULL DEFAULT '[]';
CREATE INDEX calls_queue ON calls(trunk, lifecycle, id);
CREATE INDEX calls_by_key ON calls(api_key_id, id);

ALTER TABLE workflows ADD COLUMN api_key_id TEXT;

CREATE TABLE idempotency_keys (
    api_key_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    call_id       TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, key)
);

ALTER TABLE webhook_deliveries ADD COLUMN next_attempt_ms BIGINT;
ALTER TABLE webhook_deliveries ADD COLUMN schedule_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN created_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_ms);

CREATE TABLE webhook_attempts (
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries(id),
    attempt       BIGINT NOT NULL,
    at            TEXT NOT NULL,
    status_code   BIGINT,
    error         TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
