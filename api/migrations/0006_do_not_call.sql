-- Ringback schema, version 6: do-not-call lists (issue 18). One list per installation
-- (`scope = 'installation'`) and one per API key (`scope` = the key id). A number is stored in
-- E.164, normalized as calls' `to` is, so a lookup is one primary-key probe. `source` says how it
-- got there: `api` (POST /v1/dnc), `import` (a CSV upload) or `callee_request` (the callee asked
-- on a call, `call_id` names it); kept because an auditor asks why a number is listed.
CREATE TABLE dnc_numbers (
    scope       TEXT NOT NULL,
    number      TEXT NOT NULL,
    source      TEXT NOT NULL,
    call_id     TEXT,
    created_at  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (scope, number)
);
