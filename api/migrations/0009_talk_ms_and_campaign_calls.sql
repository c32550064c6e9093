-- Talk time as whole milliseconds. `talk_seconds REAL` was float4 on PostgreSQL, which the store
-- could not read back as the f64 it wrote: an answered call could not be finalized there. An
-- integer reads the same on both engines.
ALTER TABLE calls ADD COLUMN talk_ms BIGINT;
UPDATE calls SET talk_ms = CAST(ROUND(talk_seconds * 1000) AS BIGINT) WHERE talk_seconds IS NOT NULL;
ALTER TABLE calls DROP COLUMN talk_seconds;

-- The campaign a call was placed for, if any: the queue claims a campaign's calls only while the
-- campaign runs, so a pause or a cancel holds back calls already queued.
ALTER TABLE calls ADD COLUMN campaign_id TEXT;
CREATE INDEX calls_campaign ON calls(campaign_id) WHERE campaign_id IS NOT NULL;
