-- MSSanté messages of a structure (issue 14): see the PostgreSQL migration.
CREATE TABLE mss_messages (
    id            BLOB PRIMARY KEY,
    structure_id  BLOB NOT NULL REFERENCES structures(id),
    usager_id     BLOB REFERENCES usagers(id),
    direction     TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    thread_id     TEXT NOT NULL,
    in_reply_to   TEXT,
    sender        TEXT NOT NULL,
    recipients    TEXT NOT NULL,
    to_patient    INTEGER NOT NULL,
    reply_allowed BOOLEAN NOT NULL,
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,
    document_id   BLOB REFERENCES documents(id),
    state         TEXT NOT NULL,
    reason        TEXT,
    server_answer TEXT,
    job_id        BLOB REFERENCES jobs(id),
    author_id     BLOB REFERENCES professionals(id),
    raw           BLOB,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX mss_messages_message_id ON mss_messages(structure_id, message_id);
CREATE INDEX mss_messages_usager ON mss_messages(structure_id, usager_id, created_at);
CREATE INDEX mss_messages_state ON mss_messages(structure_id, state, updated_at);

CREATE TABLE mss_cursors (
    structure_id BLOB PRIMARY KEY REFERENCES structures(id),
    uid_validity INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    read_at      TEXT NOT NULL
);
