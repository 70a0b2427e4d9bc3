-- What the user was told about the feeding of their DMP, and their
-- opposition (issue 13): every event kept, the state read from them
-- (domain::dmp::DmpConsent).
CREATE TABLE dmp_consent_events (
    id           uuid PRIMARY KEY,
    structure_id uuid NOT NULL REFERENCES structures(id),
    usager_id    uuid NOT NULL REFERENCES usagers(id),
    kind         text NOT NULL,
    at           timestamptz NOT NULL,
    author_id    uuid NOT NULL REFERENCES professionals(id)
);
CREATE INDEX dmp_consent_events_usager ON dmp_consent_events(structure_id, usager_id);
