-- Sending a document version to the user's DMP (issue 13): see the
-- PostgreSQL migration.
CREATE TABLE dmp_deposits (
    id           BLOB PRIMARY KEY,
    structure_id BLOB NOT NULL REFERENCES structures(id),
    usager_id    BLOB NOT NULL REFERENCES usagers(id),
    document_id  BLOB NOT NULL REFERENCES documents(id),
    operation    TEXT NOT NULL,
    visibility   TEXT NOT NULL,
    state        TEXT NOT NULL,
    reason       TEXT,
    job_id       BLOB NOT NULL REFERENCES jobs(id),
    requested_by BLOB NOT NULL REFERENCES professionals(id),
    requested_at TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX dmp_deposits_usager ON dmp_deposits(structure_id, usager_id);
CREATE INDEX dmp_deposits_state ON dmp_deposits(structure_id, state);
CREATE UNIQUE INDEX dmp_deposits_active ON dmp_deposits(document_id, operation)
    WHERE state IN ('en_attente', 'envoye', 'accepte');
