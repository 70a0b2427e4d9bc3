-- The documents a message carries: see the PostgreSQL migration.
CREATE TABLE mss_message_documents (
    message_id   BLOB NOT NULL REFERENCES mss_messages(id),
    structure_id BLOB NOT NULL REFERENCES structures(id),
    document_id  BLOB NOT NULL REFERENCES documents(id),
    position     INTEGER NOT NULL,
    PRIMARY KEY (message_id, position)
);
INSERT INTO mss_message_documents (message_id, structure_id, document_id, position)
    SELECT id, structure_id, document_id, 0 FROM mss_messages WHERE document_id IS NOT NULL;
