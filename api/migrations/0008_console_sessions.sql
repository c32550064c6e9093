-- Console sign-in sessions. The browser holds a random id in an HttpOnly cookie; only its SHA-256 is
-- stored, so a copy of the database signs nobody in. Each session carries its CSRF token and belongs
-- to the API key it was opened with (it sees that key's calls only, and ends when the key is revoked).
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,
    api_key_id  TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_ms);
