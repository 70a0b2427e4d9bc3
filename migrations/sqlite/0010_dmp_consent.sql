-- What the user was told about the feeding of their DMP, and their
-- opposition (issue 13): see the PostgreSQL migration.
CREATE TABLE dmp_consent_events (
    id           BLOB PRIMARY KEY,
    structure_id BLOB NOT NULL REFERENCES structures(id),
    usager_id    BLOB NOT NULL REFERENCES usagers(id),
    kind         TEXT NOT NULL,
    at           TEXT NOT NULL,
    author_id    BLOB NOT NULL REFERENCES professionals(id)
);
CREATE INDEX dmp_consent_events_usager ON dmp_consent_events(structure_id, usager_id);
