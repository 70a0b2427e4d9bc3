-- Identity vigilance II: duplicate keys and pairs, collisions, reversible
-- merges, the director's procedure (versions, acknowledgements, policy),
-- identity tasks for the referent, and background jobs with progress.

ALTER TABLE usagers ADD COLUMN ins_matricule text;
ALTER TABLE usagers ADD COLUMN merged_into uuid;
-- RNIV collision markers: 'COLP' (potentielle) or 'COLV' (vérifiée).
ALTER TABLE usagers ADD COLUMN collision text;
ALTER TABLE usagers ADD COLUMN collision_note text;
CREATE INDEX usagers_ins ON usagers(structure_id, ins_matricule);

-- Blocking keys (domain::duplicates::blocking_keys), rewritten with the identity.
CREATE TABLE identity_keys (
    structure_id uuid NOT NULL,
    key          text NOT NULL,
    usager_id    uuid NOT NULL REFERENCES usagers(id),
    PRIMARY KEY (structure_id, key, usager_id)
);
CREATE INDEX identity_keys_usager ON identity_keys(usager_id);

-- Scored candidate pairs (first_id < second_id); status ouvert, avere, ecarte, fusionne.
CREATE TABLE duplicate_pairs (
    structure_id uuid NOT NULL REFERENCES structures(id),
    first_id     uuid NOT NULL REFERENCES usagers(id),
    second_id    uuid NOT NULL REFERENCES usagers(id),
    score        bigint NOT NULL,
    reasons      text NOT NULL,
    status       text NOT NULL,
    found_at     timestamptz NOT NULL,
    decided_by   text,
    decided_at   timestamptz,
    PRIMARY KEY (structure_id, first_id, second_id)
);
CREATE INDEX duplicate_pairs_status ON duplicate_pairs(structure_id, status, score);
CREATE INDEX duplicate_pairs_second ON duplicate_pairs(structure_id, second_id);

-- Merge log: both files as they were and every moved row, enough to undo.
CREATE TABLE merges (
    id           uuid PRIMARY KEY,
    structure_id uuid NOT NULL REFERENCES structures(id),
    survivor_id  uuid NOT NULL REFERENCES usagers(id),
    merged_id    uuid NOT NULL REFERENCES usagers(id),
    at           timestamptz NOT NULL,
    by_label     text NOT NULL,
    snapshot     text NOT NULL,
    undone_at    timestamptz,
    undone_by    text
);
CREATE INDEX merges_usager ON merges(structure_id, survivor_id);
CREATE INDEX merges_merged ON merges(structure_id, merged_id);

-- The director's identity-vigilance policy (roles per action, re-verification) as JSON.
ALTER TABLE structures ADD COLUMN identity_policy text NOT NULL DEFAULT '{}';

CREATE TABLE identity_procedures (
    structure_id uuid NOT NULL REFERENCES structures(id),
    version      bigint NOT NULL,
    body         text NOT NULL,
    guidance_01  text NOT NULL,
    guidance_02  text NOT NULL,
    author       text NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (structure_id, version)
);

CREATE TABLE procedure_acks (
    structure_id    uuid NOT NULL REFERENCES structures(id),
    version         bigint NOT NULL,
    professional_id uuid NOT NULL REFERENCES professionals(id),
    at              timestamptz NOT NULL,
    PRIMARY KEY (structure_id, version, professional_id)
);

CREATE TABLE identity_tasks (
    id           uuid PRIMARY KEY,
    structure_id uuid NOT NULL REFERENCES structures(id),
    usager_id    uuid NOT NULL REFERENCES usagers(id),
    kind         text NOT NULL,
    message      text NOT NULL,
    created_at   timestamptz NOT NULL,
    done_at      timestamptz,
    done_by      text
);
CREATE INDEX identity_tasks_open ON identity_tasks(structure_id, done_at);

CREATE TABLE jobs (
    id           uuid PRIMARY KEY,
    structure_id uuid NOT NULL REFERENCES structures(id),
    kind         text NOT NULL,
    state        text NOT NULL,
    total        bigint NOT NULL,
    done         bigint NOT NULL,
    report       text NOT NULL,
    started_by   text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz
);
CREATE INDEX jobs_structure ON jobs(structure_id, started_at);
