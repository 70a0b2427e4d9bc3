-- Local copy of the Annuaire Santé open-data files (PS_LibreAcces personne-
-- activité, MSSanté extraction): public reference data shared by the whole
-- instance, hence no structure_id. Written only by `escale annuaire import`.

-- One row per professional (idNat_PS). last_key / first_key are
-- domain::search::fold of the names: prefix searches are range conditions
-- on the (last_key, first_key, id_nat_ps) index.
CREATE TABLE directory_persons (
    id_nat_ps       TEXT PRIMARY KEY,
    rpps            TEXT,
    civility        TEXT,
    last_name       TEXT NOT NULL,
    first_name      TEXT NOT NULL,
    last_key        TEXT NOT NULL,
    first_key       TEXT NOT NULL,
    -- How many activity lines the last file gave: rows with seq >= this are stale.
    situation_count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX directory_persons_name ON directory_persons(last_key, first_key, id_nat_ps);
CREATE INDEX directory_persons_rpps ON directory_persons(rpps);

-- One row per activity line of the file (profession × practice situation),
-- in file order within the person.
CREATE TABLE directory_situations (
    id_nat_ps        TEXT NOT NULL REFERENCES directory_persons(id_nat_ps) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    profession_code  TEXT,
    profession_label TEXT,
    role_code        TEXT,
    role_label       TEXT,
    mode             TEXT,
    sector           TEXT,
    site_finess      TEXT,
    legal_finess     TEXT,
    id_nat_struct    TEXT,
    workplace_name   TEXT,
    postal_code      TEXT,
    city             TEXT,
    PRIMARY KEY (id_nat_ps, seq)
) WITHOUT ROWID;
CREATE INDEX directory_situations_finess ON directory_situations(site_finess);

-- MSSanté mailboxes (address lower-cased, unique). PER boxes name their owner
-- (id_nat_ps, not a foreign key: the two files are imported separately);
-- ORG/APP boxes their structure (as published, and its FINESS when it is one).
CREATE TABLE directory_mailboxes (
    address        TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    id_nat_ps      TEXT,
    structure_id   TEXT,
    finess         TEXT,
    structure_name TEXT,
    service        TEXT
) WITHOUT ROWID;
CREATE INDEX directory_mailboxes_person ON directory_mailboxes(id_nat_ps);
CREATE INDEX directory_mailboxes_finess ON directory_mailboxes(finess);

-- One row per imported file.
CREATE TABLE directory_imports (
    id           BLOB PRIMARY KEY,
    file_kind    TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    -- en_cours, termine, echec
    status       TEXT NOT NULL,
    rows_read    INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER NOT NULL DEFAULT 0,
    bad_lines    INTEGER NOT NULL DEFAULT 0,
    removed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX directory_imports_kind ON directory_imports(file_kind, started_at);

-- Keys (idNat_PS or address) listed by an import in progress: what a full
-- file no longer lists is removed at its end. Emptied when the import ends.
CREATE TABLE directory_import_seen (
    import_id BLOB NOT NULL,
    key       TEXT NOT NULL,
    PRIMARY KEY (import_id, key)
) WITHOUT ROWID;
