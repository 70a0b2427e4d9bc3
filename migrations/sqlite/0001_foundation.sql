-- Foundation: structures, professionals, roles, sessions, user files, audit journal.
-- Identifiers are UUIDs (BLOB), dates ISO-8601 text, times RFC 3339 text.

CREATE TABLE structures (
    id               BLOB PRIMARY KEY,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    finess_geo       TEXT NOT NULL UNIQUE,
    finess_juridique TEXT NOT NULL,
    medical_roles    TEXT NOT NULL DEFAULT 'medecin,infirmier,psychologue',
    created_at       TEXT NOT NULL
);

CREATE TABLE professionals (
    id             BLOB PRIMARY KEY,
    first_name     TEXT NOT NULL,
    last_name      TEXT NOT NULL,
    national_id    TEXT UNIQUE,
    profession     TEXT NOT NULL,
    instance_admin INTEGER NOT NULL DEFAULT 0,
    active         INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL
);

CREATE TABLE memberships (
    structure_id    BLOB NOT NULL REFERENCES structures(id),
    professional_id BLOB NOT NULL REFERENCES professionals(id),
    role            TEXT NOT NULL,
    granted_at      TEXT NOT NULL,
    PRIMARY KEY (structure_id, professional_id, role)
);
CREATE INDEX memberships_professional ON memberships(professional_id);

CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY,
    professional_id BLOB NOT NULL REFERENCES professionals(id),
    structure_id    BLOB NOT NULL REFERENCES structures(id),
    csrf_token      TEXT NOT NULL,
    auth_method     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE usagers (
    id               BLOB PRIMARY KEY,
    structure_id     BLOB NOT NULL REFERENCES structures(id),
    anonymous        INTEGER NOT NULL,
    alias            TEXT,
    birth_name       TEXT,
    first_names      TEXT,
    used_name        TEXT,
    used_first_name  TEXT,
    birth_date       TEXT,
    birth_year       INTEGER,
    sex              TEXT,
    birth_place_code TEXT,
    phone            TEXT,
    email            TEXT,
    address          TEXT,
    search_key       TEXT NOT NULL,
    created_by       BLOB NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX usagers_structure_key ON usagers(structure_id, search_key);
CREATE INDEX usagers_structure_birth ON usagers(structure_id, birth_date);

CREATE TABLE episodes (
    id           BLOB PRIMARY KEY,
    structure_id BLOB NOT NULL REFERENCES structures(id),
    usager_id    BLOB NOT NULL REFERENCES usagers(id),
    kind         TEXT NOT NULL,
    start_date   TEXT NOT NULL,
    end_date     TEXT,
    referent_id  BLOB REFERENCES professionals(id),
    created_at   TEXT NOT NULL
);
CREATE INDEX episodes_usager ON episodes(structure_id, usager_id);

CREATE TABLE activities (
    id               BLOB PRIMARY KEY,
    structure_id     BLOB NOT NULL REFERENCES structures(id),
    usager_id        BLOB NOT NULL REFERENCES usagers(id),
    kind             TEXT NOT NULL,
    date             TEXT NOT NULL,
    duration_minutes INTEGER,
    comment          TEXT,
    created_by       BLOB NOT NULL REFERENCES professionals(id),
    created_at       TEXT NOT NULL
);
CREATE INDEX activities_usager ON activities(structure_id, usager_id);

CREATE TABLE activity_participants (
    activity_id     BLOB NOT NULL REFERENCES activities(id),
    professional_id BLOB NOT NULL REFERENCES professionals(id),
    PRIMARY KEY (activity_id, professional_id)
);

CREATE TABLE notes (
    id              BLOB PRIMARY KEY,
    structure_id    BLOB NOT NULL REFERENCES structures(id),
    usager_id       BLOB NOT NULL REFERENCES usagers(id),
    confidentiality TEXT NOT NULL,
    body            TEXT NOT NULL,
    author_id       BLOB NOT NULL REFERENCES professionals(id),
    created_at      TEXT NOT NULL
);
CREATE INDEX notes_usager ON notes(structure_id, usager_id, confidentiality);

-- Audit journal: one hash chain per structure ('instance' for administration).
CREATE TABLE audit_entries (
    chain        TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    at           TEXT NOT NULL,
    actor_id     BLOB,
    actor_label  TEXT NOT NULL,
    action       TEXT NOT NULL,
    usager_id    BLOB,
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_usager ON audit_entries(chain, usager_id);

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit journal is append-only'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit journal is append-only'); END;
