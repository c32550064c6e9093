-- Ringback schema, version 3: what the on-box analysis and the agent found, kept on the call.
-- The answering-machine verdict ({verdict, confidence, decided_ms} JSON, NULL when none was
-- reached), why the agent ended the call, and the per-turn latency (JSON array).
ALTER TABLE calls ADD COLUMN amd TEXT;
ALTER TABLE calls ADD COLUMN end_reason TEXT;
ALTER TABLE calls ADD COLUMN latency TEXT NOT NULL DEFAULT '[]';
