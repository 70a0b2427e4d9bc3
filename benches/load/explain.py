#!/usr/bin/env python3
"""The plans of reception's search statements on a dataset seeded by
search_load.py (issue 12): EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN
on SQLite, for each query kind. The statements are those that
src/store/shared/search.rs writes (same text, values spliced in as literals;
PostgreSQL plans them with these values; the store's prepared statements
get the same plans, as pg_stat_user_indexes shows after a load run).

    python3 benches/load/explain.py --backend postgres --users 100000
    python3 benches/load/explain.py --backend sqlite --users 100000
"""

import argparse
import os
import sqlite3
import subprocess
import tempfile

from search_load import CSAPA_FINESS, PG_ADMIN, with_database

LISTED = ("id, anonymous, alias, birth_name, first_names, used_name, used_first_name, "
          "birth_date, birth_year, sex, birth_place_code, identity_status, search_key")


def statements(sid, backend, generation):
    """(title, SQL) of each step of each kind, as the store writes them
    (store/shared/search.rs, search_memory.rs); `sid` is a SQL literal,
    `generation` the structure's."""
    live = f"SELECT {LISTED} FROM usagers WHERE structure_id = {sid} AND merged_into IS NULL"
    rank = ("ORDER BY CASE WHEN search_key LIKE 'DUR%' ESCAPE '\\' THEN 0 "
            "WHEN (' ' || search_key) LIKE '% DUR%' ESCAPE '\\' THEN 1 ELSE 2 END, search_key")
    date = "'1985-03-12'"
    if backend == "postgres":
        def has(column, term):
            return f"AND strpos(' ' || {column}, '{term}') > 0"

        def limit(n):
            return f"LIMIT {n}"

        def grams(*terms):
            g = sorted({t.lower()[i:i + 3] for t in terms for i in range(len(t) - 2)})
            return " ".join(f"{sid[1:-1]}{x}" for x in g)
        inside = [
            ("inside, step 1: names starting with the term (b-tree range, in order)",
             f"{live} AND search_key >= 'ONTA' AND search_key < 'ONTB' ORDER BY search_key "
             f"{limit(21)}"),
            ("inside, step 2: the term anywhere (trigram index, at most 21)",
             f"{live} AND escale_search_grams(structure_id, search_key) @> "
             f"string_to_array('{grams('ONTA')}', ' ') {has('search_key', 'ONTA')} {limit(21)}"),
        ]
        free = (f"{live} AND escale_search_grams(structure_id, search_key) @> "
                f"string_to_array('{grams('MARI', 'ONTA')}', ' ') "
                f"{has('search_key', 'MARI')} {has('search_key', 'ONTA')} LIMIT 84")
    else:
        def has(column, term):
            return f"AND instr(' ' || {column}, '{term}') > 0"

        def limit(n):
            return f"LIMIT CAST({n} AS INTEGER)"
        fts = ("AND id IN (SELECT file_id FROM usager_search WHERE usager_search MATCH {m} "
               f"AND structure_id = {sid} {{f}} {{n}})")
        inside = [
            ("inside, step 1: names starting with the term (b-tree range, in order)",
             f"{live} AND search_key >= 'ONTA' AND search_key < 'ONTB' ORDER BY search_key "
             f"{limit(21)}"),
            ("inside, step 2: the term anywhere (trigram index, at most 21)",
             f"{live} " + fts.format(m="'\"ONTA\"'", f=has("folded", "ONTA"), n=limit(21))),
        ]
        free = f"{live} " + fts.format(
            m="'\"MARI\" AND \"ONTA\"'",
            f=f"{has('folded', 'MARI')} {has('folded', 'ONTA')}", n=limit(84))
    memory = [
        ("in memory (a structure of 1,000 files or more): the page and its rows come from "
         "the index; the database gives the structure's generation (primary key)",
         f"SELECT seq FROM search_generations WHERE structure_id = {sid}"),
        ("in memory: the files written since the index's generation (another process's "
         "writes; the (structure_id, search_seq) range), their listed columns",
         f"SELECT g.seq AS generation, usagers.merged_into IS NULL AS live, {LISTED} "
         "FROM search_generations g LEFT JOIN usagers ON usagers.structure_id = g.structure_id "
         f"AND usagers.search_seq > {generation - 5} WHERE g.structure_id = {sid}"),
    ]
    return [
        ("date: 3 letters + birth date (one statement)",
         f"{live} AND birth_date = {date} {has('search_key', 'DUR')} {rank} {limit(21)}"),
        *inside,
        ("free: two terms anywhere (trigram index, at most 4 pages, ranked in memory)", free),
        ("one or two letters: the b-tree range",
         f"{live} AND search_key >= 'DU' AND search_key < 'DV' ORDER BY search_key {limit(21)}"),
        *memory,
    ]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--users", type=int, default=100000)
    p.add_argument("--structures", type=int, default=1)
    p.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "escale-load"))
    a = p.parse_args()
    name = f"escale_load_{a.users}x{a.structures}"
    if a.backend == "postgres":
        url = with_database(PG_ADMIN, name)
        sid = subprocess.run(
            ["psql", url, "-Atc", f"SELECT id FROM structures WHERE finess_geo = '{CSAPA_FINESS}'"],
            check=True, capture_output=True, text=True).stdout.strip()
        generation = int(subprocess.run(
            ["psql", url, "-Atc", f"SELECT seq FROM search_generations WHERE structure_id = '{sid}'"],
            check=True, capture_output=True, text=True).stdout)
        for title, sql in statements(f"'{sid}'", "postgres", generation):
            out = subprocess.run(["psql", url, "-Atc", f"EXPLAIN (ANALYZE, BUFFERS) {sql}"],
                                 check=True, capture_output=True, text=True).stdout
            print(f"-- {title}\n{out}")
    else:
        c = sqlite3.connect(os.path.join(a.work_dir, f"sqlite-{name}", "escale.sqlite"))
        sid = c.execute("SELECT hex(id) FROM structures WHERE finess_geo = ?",
                        (CSAPA_FINESS,)).fetchone()[0]
        generation = c.execute("SELECT seq FROM search_generations WHERE structure_id = X'%s'"
                               % sid).fetchone()[0]
        for title, sql in statements(f"X'{sid}'", "sqlite", generation):
            plan = c.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
            print(f"-- {title}")
            for row in plan:
                print("   " * (0 if row[1] == 0 else 1) + row[3])
            print()


if __name__ == "__main__":
    main()
