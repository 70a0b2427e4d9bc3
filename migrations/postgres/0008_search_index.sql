-- Reception searches served by an index (issue 12): a GIN index of the
-- trigrams of the folded search key (pg_trgm's show_trgm), each prefixed
-- with the file's structure, of the files not merged. A search for '%ONTA%'
-- asks for the structure's 'ont' and 'nta' entries: what it reads is the
-- structure's rows holding them, whatever the size of the instance. (A GIN
-- index on the key alone reads the whole region's rows with those
-- trigrams; one on (structure, key) with btree_gin reads the structure's
-- whole posting list on every search: measured 10 to 20 times slower at
-- 100,000 files in one structure or 1,000,000 over 300, BENCHMARKS.md.)
-- pg_trgm ships with PostgreSQL (contrib) and is "trusted": the owner of
-- the database may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The function finds show_trgm where this migration found it (an
-- extension may live in another schema on a hosted PostgreSQL).
CREATE FUNCTION escale_search_grams(structure uuid, key text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT
    AS $$ SELECT array_agg(structure::text || g) FROM unnest(show_trgm(key)) AS g $$;

-- Without fastupdate: new files go into the index at once, rather than into
-- a pending list that every search reads through until (auto)vacuum merges
-- it (3.9 ms instead of 0.3 while files were being created).
CREATE INDEX usagers_search_grams ON usagers
    USING gin (escale_search_grams(structure_id, search_key))
    WITH (fastupdate = off)
    WHERE merged_into IS NULL;

-- The INS index holds only the files that have an INS. Holding every file
-- (NULL for most new ones), it was the smallest index starting with the
-- structure: a plan made while the table was small (a prepared statement's
-- generic plan, kept by its connection) used it to find a file by
-- `id = $1 AND structure_id = $2`, reading the whole structure each time.
DROP INDEX usagers_ins;
CREATE INDEX usagers_ins ON usagers(structure_id, ins_matricule)
    WHERE ins_matricule IS NOT NULL;
