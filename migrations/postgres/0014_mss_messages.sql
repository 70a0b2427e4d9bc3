-- MSSanté messages of a structure (issue 14). An outgoing message is
-- written in the same transaction as its outbox job (`jobs`, kind `mss`);
-- its state is what the job and the delivery and read notices reached.
-- `message_id` (RFC 5322) is drawn once: a retried send carries the same,
-- so that a server that got it already does not deliver it twice.
CREATE TABLE mss_messages (
    id            uuid PRIMARY KEY,
    structure_id  uuid NOT NULL REFERENCES structures(id),
    -- NULL: a received message not yet attached to a file (« à rattacher »).
    usager_id     uuid REFERENCES usagers(id),
    direction     text NOT NULL,
    message_id    text NOT NULL,
    -- The first message of the conversation (its Message-ID).
    thread_id     text NOT NULL,
    in_reply_to   text,
    sender        text NOT NULL,
    -- One address a line.
    recipients    text NOT NULL,
    to_patient    boolean NOT NULL,
    reply_allowed boolean NOT NULL,
    subject       text NOT NULL,
    body          text NOT NULL,
    document_id   uuid REFERENCES documents(id),
    state         text NOT NULL,
    reason        text,
    server_answer text,
    job_id        uuid REFERENCES jobs(id),
    author_id     uuid REFERENCES professionals(id),
    -- A received message as it came (attached to a file later, nothing lost).
    raw           bytea,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX mss_messages_message_id ON mss_messages(structure_id, message_id);
CREATE INDEX mss_messages_usager ON mss_messages(structure_id, usager_id, created_at);
CREATE INDEX mss_messages_state ON mss_messages(structure_id, state, updated_at);

-- Where the reading of each structure's mailbox stands (IMAP, RFC 3501):
-- the UIDs read are those up to `last_uid` of `uid_validity`; advanced in
-- the transaction that records what the message said.
CREATE TABLE mss_cursors (
    structure_id uuid PRIMARY KEY REFERENCES structures(id),
    uid_validity bigint NOT NULL,
    last_uid     bigint NOT NULL,
    read_at      timestamptz NOT NULL
);
