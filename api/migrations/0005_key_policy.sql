-- Ringback schema, version 5: an API key's own destination list (`ringback keys policy`), JSON
-- {country_codes, prefixes, beyond_installation}; NULL when the key follows the installation's
-- [policy] alone.
ALTER TABLE api_keys ADD COLUMN policy TEXT;

-- A trial key (minted by an anonymous POST /call) remembers the client it was minted for (an IPv4
-- address or an IPv6 /64): that client's trial calls share one daily cap whichever of its keys
-- places them, and are held to [server] trial_max_call_secs. NULL for an operator's key.
ALTER TABLE api_keys ADD COLUMN trial_source TEXT;
CREATE INDEX api_keys_by_trial_source ON api_keys(trial_source);
