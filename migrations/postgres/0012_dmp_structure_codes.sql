-- The codes that place a structure in the DMP's metadata, as its director
-- chose them (NULL: the default of its kind, domain::dmp_codes).
ALTER TABLE structures ADD COLUMN dmp_facility_type TEXT;
ALTER TABLE structures ADD COLUMN dmp_practice_setting TEXT;
ALTER TABLE structures ADD COLUMN dmp_content_type TEXT;
