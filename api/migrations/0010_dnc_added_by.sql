-- Which API key put a number on a do-not-call list. Only that key may take a number off the
-- installation's list over HTTP: one tenant's key must not widen what every key may dial, and a
-- callee's own request (no key) is not removed over HTTP at all.
ALTER TABLE dnc_numbers ADD COLUMN added_by TEXT;
