-- Ringback schema, version 5: an API key's own destination list (`ringback keys policy`), JSON
-- {country_codes, prefixes, beyond_installation}; NULL when the key follows the installation's
-- [policy] alone.
ALTER TABLE api_keys ADD COLUMN policy TEXT;
