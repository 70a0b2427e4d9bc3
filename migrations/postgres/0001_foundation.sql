-- Foundation: structures, professionals, roles, sessions, user files, audit journal.
-- Same tables as the SQLite schema, with PostgreSQL types: uuid identifiers,
-- date for calendar dates, timestamptz for instants, boolean flags.

CREATE TABLE structures (
    id               uuid PRIMARY KEY,
    name             text NOT NULL,
    kind             text NOT NULL,
    finess_geo       text NOT NULL UNIQUE,
    finess_juridique text NOT NULL,
    medical_roles    text NOT NULL DEFAULT 'medecin,infirmier,psychologue',
    created_at       timestamptz NOT NULL
);

CREATE TABLE professionals (
    id             uuid PRIMARY KEY,
    first_name     text NOT NULL,
    last_name      text NOT NULL,
    national_id    text UNIQUE,
    profession     text NOT NULL,
    instance_admin boolean NOT NULL DEFAULT false,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL
);

CREATE TABLE memberships (
    structure_id    uuid NOT NULL REFERENCES structures(id),
    professional_id uuid NOT NULL REFERENCES professionals(id),
    role            text NOT NULL,
    granted_at      timestamptz NOT NULL,
    PRIMARY KEY (structure_id, professional_id, role)
);
CREATE INDEX memberships_professional ON memberships(professional_id);

CREATE TABLE sessions (
    token_hash      text PRIMARY KEY,
    professional_id uuid NOT NULL REFERENCES professionals(id),
    structure_id    uuid NOT NULL REFERENCES structures(id),
    csrf_token      text NOT NULL,
    auth_method     text NOT NULL,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE usagers (
    id               uuid PRIMARY KEY,
    structure_id     uuid NOT NULL REFERENCES structures(id),
    anonymous        boolean NOT NULL,
    alias            text,
    birth_name       text,
    first_names      text,
    used_name        text,
    used_first_name  text,
    birth_date       date,
    birth_year       integer,
    sex              text,
    birth_place_code text,
    phone            text,
    email            text,
    address          text,
    -- Folded ASCII key (domain::search::fold): byte order, like SQLite.
    search_key       text COLLATE "C" NOT NULL,
    created_by       uuid NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX usagers_structure_key ON usagers(structure_id, search_key);
CREATE INDEX usagers_structure_birth ON usagers(structure_id, birth_date);

CREATE TABLE episodes (
    id           uuid PRIMARY KEY,
    structure_id uuid NOT NULL REFERENCES structures(id),
    usager_id    uuid NOT NULL REFERENCES usagers(id),
    kind         text NOT NULL,
    start_date   date NOT NULL,
    end_date     date,
    referent_id  uuid REFERENCES professionals(id),
    created_at   timestamptz NOT NULL
);
CREATE INDEX episodes_usager ON episodes(structure_id, usager_id);

CREATE TABLE activities (
    id               uuid PRIMARY KEY,
    structure_id     uuid NOT NULL REFERENCES structures(id),
    usager_id        uuid NOT NULL REFERENCES usagers(id),
    kind             text NOT NULL,
    date             date NOT NULL,
    duration_minutes integer,
    comment          text,
    created_by       uuid NOT NULL REFERENCES professionals(id),
    created_at       timestamptz NOT NULL
);
CREATE INDEX activities_usager ON activities(structure_id, usager_id);

CREATE TABLE activity_participants (
    activity_id     uuid NOT NULL REFERENCES activities(id),
    professional_id uuid NOT NULL REFERENCES professionals(id),
    PRIMARY KEY (activity_id, professional_id)
);

CREATE TABLE notes (
    id              uuid PRIMARY KEY,
    structure_id    uuid NOT NULL REFERENCES structures(id),
    usager_id       uuid NOT NULL REFERENCES usagers(id),
    confidentiality text NOT NULL,
    body            text NOT NULL,
    author_id       uuid NOT NULL REFERENCES professionals(id),
    created_at      timestamptz NOT NULL
);
CREATE INDEX notes_usager ON notes(structure_id, usager_id, confidentiality);

-- Audit journal: one hash chain per structure ('instance' for administration).
CREATE TABLE audit_entries (
    chain        text COLLATE "C" NOT NULL,
    seq          bigint NOT NULL,
    at           timestamptz NOT NULL,
    actor_id     uuid,
    actor_label  text NOT NULL,
    action       text NOT NULL,
    usager_id    uuid,
    details      text NOT NULL,
    prev_hash    text NOT NULL,
    hash         text NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_usager ON audit_entries(chain, usager_id);

-- The head of each chain. Appenders lock its row (SELECT … FOR UPDATE), so
-- several application processes append to one chain without forking it.
CREATE TABLE audit_heads (
    chain text COLLATE "C" PRIMARY KEY,
    seq   bigint NOT NULL,
    hash  text NOT NULL
);

CREATE FUNCTION audit_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit journal is append-only (% refused)', TG_OP;
END;
$$;

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();
-- Row triggers do not fire on TRUNCATE.
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only();
