-- Identity vigilance II: duplicate keys and pairs, collisions, reversible
-- merges, the director's procedure (versions, acknowledgements, policy),
-- identity tasks for the referent, and background jobs with progress.

ALTER TABLE usagers ADD COLUMN ins_matricule TEXT;
ALTER TABLE usagers ADD COLUMN merged_into BLOB;
-- RNIV collision markers: 'COLP' (potentielle) or 'COLV' (vérifiée).
ALTER TABLE usagers ADD COLUMN collision TEXT;
ALTER TABLE usagers ADD COLUMN collision_note TEXT;
CREATE INDEX usagers_ins ON usagers(structure_id, ins_matricule);

-- Blocking keys (domain::duplicates::blocking_keys), rewritten with the identity.
CREATE TABLE identity_keys (
    structure_id BLOB NOT NULL,
    key          TEXT NOT NULL,
    usager_id    BLOB NOT NULL REFERENCES usagers(id),
    PRIMARY KEY (structure_id, key, usager_id)
);
CREATE INDEX identity_keys_usager ON identity_keys(usager_id);

-- Scored candidate pairs (first_id < second_id); status ouvert, avere, ecarte, fusionne.
CREATE TABLE duplicate_pairs (
    structure_id BLOB NOT NULL REFERENCES structures(id),
    first_id     BLOB NOT NULL REFERENCES usagers(id),
    second_id    BLOB NOT NULL REFERENCES usagers(id),
    score        INTEGER NOT NULL,
    reasons      TEXT NOT NULL,
    status       TEXT NOT NULL,
    found_at     TEXT NOT NULL,
    decided_by   TEXT,
    decided_at   TEXT,
    PRIMARY KEY (structure_id, first_id, second_id)
);
CREATE INDEX duplicate_pairs_status ON duplicate_pairs(structure_id, status, score);
CREATE INDEX duplicate_pairs_second ON duplicate_pairs(structure_id, second_id);

-- Merge log: both files as they were and every moved row, enough to undo.
CREATE TABLE merges (
    id           BLOB PRIMARY KEY,
    structure_id BLOB NOT NULL REFERENCES structures(id),
    survivor_id  BLOB NOT NULL REFERENCES usagers(id),
    merged_id    BLOB NOT NULL REFERENCES usagers(id),
    at           TEXT NOT NULL,
    by_label     TEXT NOT NULL,
    snapshot     TEXT NOT NULL,
    undone_at    TEXT,
    undone_by    TEXT
);
CREATE INDEX merges_usager ON merges(structure_id, survivor_id);
CREATE INDEX merges_merged ON merges(structure_id, merged_id);

-- The director's identity-vigilance policy (roles per action, re-verification) as JSON.
ALTER TABLE structures ADD COLUMN identity_policy TEXT NOT NULL DEFAULT '{}';

CREATE TABLE identity_procedures (
    structure_id BLOB NOT NULL REFERENCES structures(id),
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL,
    guidance_01  TEXT NOT NULL,
    guidance_02  TEXT NOT NULL,
    author       TEXT NOT NULL,
    at           TEXT NOT NULL,
    PRIMARY KEY (structure_id, version)
);

CREATE TABLE procedure_acks (
    structure_id    BLOB NOT NULL REFERENCES structures(id),
    version         INTEGER NOT NULL,
    professional_id BLOB NOT NULL REFERENCES professionals(id),
    at              TEXT NOT NULL,
    PRIMARY KEY (structure_id, version, professional_id)
);

CREATE TABLE identity_tasks (
    id           BLOB PRIMARY KEY,
    structure_id BLOB NOT NULL REFERENCES structures(id),
    usager_id    BLOB NOT NULL REFERENCES usagers(id),
    kind         TEXT NOT NULL,
    message      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    done_at      TEXT,
    done_by      TEXT
);
CREATE INDEX identity_tasks_open ON identity_tasks(structure_id, done_at);

CREATE TABLE jobs (
    id           BLOB PRIMARY KEY,
    structure_id BLOB NOT NULL REFERENCES structures(id),
    kind         TEXT NOT NULL,
    state        TEXT NOT NULL,
    total        INTEGER NOT NULL,
    done         INTEGER NOT NULL,
    report       TEXT NOT NULL,
    started_by   TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT
);
CREATE INDEX jobs_structure ON jobs(structure_id, started_at);
