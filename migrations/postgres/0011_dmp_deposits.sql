-- Sending a document version to the user's DMP (issue 13): one row per
-- request (a deposit or a deletion), written in the same transaction as
-- its outbox job (`jobs`, kind `dmp`); its state is what the job reached.
-- At most one active request per version and operation.
CREATE TABLE dmp_deposits (
    id           uuid PRIMARY KEY,
    structure_id uuid NOT NULL REFERENCES structures(id),
    usager_id    uuid NOT NULL REFERENCES usagers(id),
    document_id  uuid NOT NULL REFERENCES documents(id),
    operation    text NOT NULL,
    visibility   text NOT NULL,
    state        text NOT NULL,
    reason       text,
    job_id       uuid NOT NULL REFERENCES jobs(id),
    requested_by uuid NOT NULL REFERENCES professionals(id),
    requested_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX dmp_deposits_usager ON dmp_deposits(structure_id, usager_id);
CREATE INDEX dmp_deposits_state ON dmp_deposits(structure_id, state);
CREATE UNIQUE INDEX dmp_deposits_active ON dmp_deposits(document_id, operation)
    WHERE state IN ('en_attente', 'envoye', 'accepte');
