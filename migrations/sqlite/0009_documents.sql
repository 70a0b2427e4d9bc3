-- Documents of a user file (issue 13): see the PostgreSQL migration.
CREATE TABLE documents (
    id              BLOB PRIMARY KEY,
    structure_id    BLOB NOT NULL REFERENCES structures(id),
    usager_id       BLOB NOT NULL REFERENCES usagers(id),
    set_id          BLOB NOT NULL,
    version         INTEGER NOT NULL,
    type_code       TEXT NOT NULL,
    title           TEXT NOT NULL,
    document_date   TEXT NOT NULL,
    confidentiality TEXT NOT NULL,
    author_id       BLOB NOT NULL REFERENCES professionals(id),
    media_type      TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    superseded_at   TEXT,
    UNIQUE (set_id, version)
);
CREATE INDEX documents_usager ON documents(structure_id, usager_id, confidentiality);

-- In the database file, up to 10 MiB a document: a SQLite file holds up to
-- terabytes, but every backup copies it whole.
CREATE TABLE document_contents (
    document_id BLOB PRIMARY KEY REFERENCES documents(id),
    content     BLOB NOT NULL
);
