-- Reception searches served by an index (issue 12): an FTS5 table whose
-- trigram tokenizer makes a quoted term a substring search. It holds the
-- folded search key of each file not merged, with the file and its
-- structure (a search reads only this table until it has its rows), written
-- by the store in the transaction that writes the file (sqlite::sync_search).
-- `search_rowid` is the file's row in it: the files' own rowids are not
-- stable (VACUUM may renumber a table without an INTEGER PRIMARY KEY).
ALTER TABLE usagers ADD COLUMN search_rowid INTEGER;

CREATE VIRTUAL TABLE usager_search USING fts5(
    folded,
    file_id UNINDEXED,
    structure_id UNINDEXED,
    tokenize = 'trigram'
);

INSERT INTO usager_search (rowid, folded, file_id, structure_id)
SELECT rowid, search_key, id, structure_id FROM usagers WHERE merged_into IS NULL;
UPDATE usagers SET search_rowid = rowid WHERE merged_into IS NULL;

-- The INS index holds only the files that have an INS (see the PostgreSQL
-- migration: a smaller index that never serves a scan of the structure).
DROP INDEX usagers_ins;
CREATE INDEX usagers_ins ON usagers(structure_id, ins_matricule)
    WHERE ins_matricule IS NOT NULL;
