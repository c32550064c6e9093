-- Ringback schema, version 4: the audit log. One row per act an auditor asks about: API keys created,
-- minted for a trial and revoked, recordings fetched, destinations refused by the policy, per-key
-- policies set. Rows are only ever inserted. `actor` is a key id, `operator` (the command line on the
-- server) or `anonymous` (a trial request before it has a key), never a key itself; `subject` is what
-- was acted on (a key id, a call id, a masked number); `source` is the client address as the API saw
-- it (behind a trusted proxy, the forwarded one); `detail` is a small JSON object. Ids are UUIDv7, so
-- id order is time order on every engine (no sequence types differ between SQLite and PostgreSQL).
CREATE TABLE audit_log (
    id        TEXT PRIMARY KEY,
    at        TEXT NOT NULL,
    at_ms     BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT,
    source    TEXT,
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON audit_log(at_ms, id);
