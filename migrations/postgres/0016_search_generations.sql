-- Reception's search in a big structure is answered from memory (issue 12,
-- store/trigram_index.rs): each process keeps the structure's keys and
-- must know, at every search, whether another write (in any process)
-- changed them since. Each write of a file's key (creation, edit, merge,
-- unmerge, INS traits) adds one to its structure's generation, in the
-- writer's transaction, and stamps the file with it. The generation's row
-- is locked until the writer commits, so a structure's writes commit in
-- the order of their numbers: a reader that sees generation N sees every
-- file stamped up to N, and reads what changed after its own with one
-- range of (structure_id, search_seq).
CREATE TABLE search_generations (
    structure_id uuid PRIMARY KEY REFERENCES structures(id),
    seq          bigint NOT NULL
);

ALTER TABLE usagers ADD COLUMN search_seq bigint NOT NULL DEFAULT 0;
CREATE INDEX usagers_search_seq ON usagers(structure_id, search_seq);

-- Files written before are stamped 0: a process loads them all anyway.
-- The generation starts at the number of files (the store reads it as the
-- structure's size when it decides what to keep in memory).
INSERT INTO search_generations (structure_id, seq)
SELECT structure_id, count(*) FROM usagers GROUP BY structure_id;
