-- Reception's search in a big structure answered from memory: see the
-- PostgreSQL migration. (SQLite has one writer at a time: the numbers are
-- in commit order by construction.)
CREATE TABLE search_generations (
    structure_id BLOB PRIMARY KEY REFERENCES structures(id),
    seq          INTEGER NOT NULL
);

ALTER TABLE usagers ADD COLUMN search_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX usagers_search_seq ON usagers(structure_id, search_seq);

INSERT INTO search_generations (structure_id, seq)
SELECT structure_id, count(*) FROM usagers GROUP BY structure_id;
