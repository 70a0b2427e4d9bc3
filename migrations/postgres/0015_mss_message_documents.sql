-- The documents a message carries (issue 14: « documents of the file », a
-- PDF of each and one IHE_XDM.ZIP with all their CDA), in the author's
-- order. `mss_messages.document_id` stays the first one (the list's title).
-- A message is readable by whoever reads every one of its documents.
CREATE TABLE mss_message_documents (
    message_id   UUID NOT NULL REFERENCES mss_messages(id),
    structure_id UUID NOT NULL REFERENCES structures(id),
    document_id  UUID NOT NULL REFERENCES documents(id),
    position     INTEGER NOT NULL,
    PRIMARY KEY (message_id, position)
);
INSERT INTO mss_message_documents (message_id, structure_id, document_id, position)
    SELECT id, structure_id, document_id, 0 FROM mss_messages WHERE document_id IS NOT NULL;
