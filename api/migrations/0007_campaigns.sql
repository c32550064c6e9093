-- Ringback schema, version 7: campaigns (issue 18). A campaign is its settings (typed JSON in
-- `settings`: prompt or workflow, callback URL, concurrency, start and end, calling window, retry
-- policy, default time zone) and a state (`running | paused | canceled | finished`); each
-- recipient is a row with its own state (`waiting | calling | done`), attempts, the earliest time
-- it may be called next, the call in progress and every call made for it. The scheduler works
-- only from these rows, so a restart (or another node) picks a campaign up where it was.
CREATE TABLE campaigns (
    id               TEXT PRIMARY KEY,
    api_key_id       TEXT NOT NULL,
    name             TEXT,
    settings         TEXT NOT NULL,
    state            TEXT NOT NULL,
    idempotency_key  TEXT,
    request_hash     TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    created_ms       BIGINT NOT NULL,
    finished_at      TEXT
);
CREATE UNIQUE INDEX campaigns_by_idempotency ON campaigns(api_key_id, idempotency_key);
CREATE INDEX campaigns_by_state ON campaigns(state);

CREATE TABLE campaign_recipients (
    campaign_id    TEXT NOT NULL REFERENCES campaigns(id),
    position       BIGINT NOT NULL,
    to_number      TEXT NOT NULL,
    variables      TEXT NOT NULL DEFAULT '{}',
    time_zone      TEXT,
    state          TEXT NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    not_before_ms  BIGINT NOT NULL DEFAULT 0,
    call_id        TEXT,
    call_ids       TEXT NOT NULL DEFAULT '[]',
    result         TEXT,
    PRIMARY KEY (campaign_id, position)
);
CREATE INDEX campaign_recipients_by_state ON campaign_recipients(campaign_id, state);
