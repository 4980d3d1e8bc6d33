-- Versions are identified by their PEP 440 normal form (issue 8: `1.0beta2` and `1.0b2` are one
-- release). The producer's spelling is kept beside it: the solver asks the index for the
-- version by that spelling, and people recognise it.
ALTER TABLE package_version ADD COLUMN version_as_sent VARCHAR(100);
-- Rows written before this migration hold the spelling as sent in package_version.
UPDATE package_version SET version_as_sent = package_version WHERE version_as_sent IS NULL;
ALTER TABLE package_version ALTER COLUMN version_as_sent SET NOT NULL;
-- The normal form may be longer than the spelling (`1r` is `1.post0`): store::limits::PACKAGE_VERSION.
ALTER TABLE package_version ALTER COLUMN package_version TYPE VARCHAR(120);
ALTER TABLE advice_unresolved ALTER COLUMN package_version TYPE VARCHAR(120);
COMMENT ON COLUMN package_version.package_version IS 'PEP 440 normal form of the version: the identity.';
COMMENT ON COLUMN package_version.version_as_sent IS 'The version as the first producer spelled it (the solver''s parameter, display).';
