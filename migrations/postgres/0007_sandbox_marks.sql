-- What the sandbox's demo data created is marked as such: production refuses
-- to start on a database holding it (its administrator's password and TOTP
-- secret are public, in the source).
ALTER TABLE structures ADD COLUMN sandbox boolean NOT NULL DEFAULT false;
ALTER TABLE professionals ADD COLUMN sandbox boolean NOT NULL DEFAULT false;

-- A database seeded before this mark existed: its demo structures, their
-- team and the demo administrator.
UPDATE structures SET sandbox = true WHERE finess_geo IN ('640000014', '640000022');
UPDATE professionals SET sandbox = true
WHERE id IN (SELECT professional_id FROM admin_credentials WHERE login = 'admin.demo')
   OR id IN (SELECT m.professional_id FROM memberships m
             JOIN structures s ON s.id = m.structure_id WHERE s.sandbox = true);
