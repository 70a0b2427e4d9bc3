-- Local copy of the Annuaire Santé open-data files (PS_LibreAcces personne-
-- activité, MSSanté extraction): public reference data shared by the whole
-- instance, hence no structure_id. Written only by `escale annuaire import`.

-- One row per professional (idNat_PS). last_key / first_key are
-- domain::search::fold of the names: prefix searches are range conditions
-- on the (last_key, first_key, id_nat_ps) index, in byte order (COLLATE "C": a
-- linguistic collation would skip the spaces and break the ranges).
CREATE TABLE directory_persons (
    id_nat_ps       text PRIMARY KEY,
    rpps            text,
    civility        text,
    last_name       text NOT NULL,
    first_name      text NOT NULL,
    last_key        text COLLATE "C" NOT NULL,
    first_key       text COLLATE "C" NOT NULL,
    -- How many activity lines the last file gave: rows with seq >= this are stale.
    situation_count bigint NOT NULL
);
CREATE INDEX directory_persons_name ON directory_persons(last_key, first_key, id_nat_ps);
CREATE INDEX directory_persons_rpps ON directory_persons(rpps);

-- One row per activity line of the file (profession × practice situation),
-- in file order within the person.
CREATE TABLE directory_situations (
    id_nat_ps        text NOT NULL REFERENCES directory_persons(id_nat_ps) ON DELETE CASCADE,
    seq              bigint NOT NULL,
    profession_code  text,
    profession_label text,
    role_code        text,
    role_label       text,
    mode             text,
    sector           text,
    site_finess      text,
    legal_finess     text,
    id_nat_struct    text,
    workplace_name   text,
    postal_code      text,
    city             text,
    PRIMARY KEY (id_nat_ps, seq)
);
CREATE INDEX directory_situations_finess ON directory_situations(site_finess);

-- MSSanté mailboxes (address lower-cased, unique). PER boxes name their owner
-- (id_nat_ps, not a foreign key: the two files are imported separately);
-- ORG/APP boxes their structure (as published, and its FINESS when it is one).
CREATE TABLE directory_mailboxes (
    address        text PRIMARY KEY,
    kind           text NOT NULL,
    id_nat_ps      text,
    structure_id   text,
    finess         text,
    structure_name text,
    service        text
);
CREATE INDEX directory_mailboxes_person ON directory_mailboxes(id_nat_ps);
CREATE INDEX directory_mailboxes_finess ON directory_mailboxes(finess);

-- One row per imported file.
CREATE TABLE directory_imports (
    id           uuid PRIMARY KEY,
    file_kind    text NOT NULL,
    file_name    text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    -- en_cours, termine, echec
    status       text NOT NULL,
    rows_read    bigint NOT NULL DEFAULT 0,
    rows_written bigint NOT NULL DEFAULT 0,
    bad_lines    bigint NOT NULL DEFAULT 0,
    removed      bigint NOT NULL DEFAULT 0
);
CREATE INDEX directory_imports_kind ON directory_imports(file_kind, started_at);

-- Keys (idNat_PS or address) listed by an import in progress: what a full
-- file no longer lists is removed at its end. Emptied when the import ends.
CREATE TABLE directory_import_seen (
    import_id uuid NOT NULL,
    key       text NOT NULL,
    PRIMARY KEY (import_id, key)
);
