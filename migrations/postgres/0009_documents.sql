-- Documents of a user file (issue 13). Each row is one version; the
-- versions of one document share its set_id (the CDA setId) and are
-- numbered from 1 (versionNumber); a new version marks the one it replaces
-- (superseded_at), which stays readable. The bytes are apart, so that the
-- lists never read them.
CREATE TABLE documents (
    id              uuid PRIMARY KEY,
    structure_id    uuid NOT NULL REFERENCES structures(id),
    usager_id       uuid NOT NULL REFERENCES usagers(id),
    set_id          uuid NOT NULL,
    version         integer NOT NULL,
    type_code       text NOT NULL,
    title           text NOT NULL,
    document_date   date NOT NULL,
    confidentiality text NOT NULL,
    author_id       uuid NOT NULL REFERENCES professionals(id),
    media_type      text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,
    created_at      timestamptz NOT NULL,
    superseded_at   timestamptz,
    UNIQUE (set_id, version)
);
CREATE INDEX documents_usager ON documents(structure_id, usager_id, confidentiality);

-- In the database: up to 10 MiB a document (domain::document::MAX_PDF_BYTES),
-- stored out of line by PostgreSQL (TOAST), kept in the backups.
CREATE TABLE document_contents (
    document_id uuid PRIMARY KEY REFERENCES documents(id),
    content     bytea NOT NULL
);
