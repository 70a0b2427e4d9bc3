#!/usr/bin/env python3
"""Reception at scale (issue 12): searches and creations through Escale's own
HTTP interface, session included, driven by wrk (Debian package `wrk`).

    cargo build --release
    python3 benches/load/search_load.py --backend sqlite --users 100000
    python3 benches/load/search_load.py --backend postgres --users 100000
    python3 benches/load/search_load.py --backend postgres --users 3334 --structures 300
    python3 benches/load/search_load.py --backend sqlite --users 1000 --create

It seeds a database with `escale dev seed` (kept and reused by the next run
with the same size: `--fresh` starts again), starts `escale serve` in sandbox
mode, logs in through the Pro Santé Connect sandbox as the demo CSAPA's
receptionist, checks that sample searches find the identity they were made
from, then runs wrk for each query kind at each client count and prints a
Markdown table: searches/s, p50/p95/p99, errors, the server's resident
memory after the load (VmRSS) and at its peak (VmHWM), how much of it is the
process's own (RssAnon: the rest is the database file mapped by SQLite, pages
of the kernel's page cache, counted once per connection that maps them), and
its proportional set size (PSS: each page counted once).

The three query kinds, made from files of the demo CSAPA:
  date    first 3 letters of the birth name + exact birth date (list page);
  inside  4-5 letters from inside the birth name (list page, one term);
  free    the first name's first 4 letters then the inside letters, in the
          free-text box (two terms, the first one not the birth name).
`--create` measures file creation instead (POST /usagers, new people).

Standard library only; PostgreSQL through `psql`.
"""

import argparse
import http.cookiejar
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LUA = os.path.join(HERE, "search.lua")
# The demo CSAPA and its receptionist (accueil + référent identitovigilance).
CSAPA_FINESS = "640000014"
RECEPTIONIST = "899900000078"
PG_ADMIN = os.environ.get("ESCALE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def main():
    a = parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    binary = a.binary or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "escale")
    if not os.path.exists(binary):
        sys.exit(f"{binary} is missing: cargo build --release")
    name = a.name or f"escale_load_{a.users}x{a.structures}"
    data_dir = os.path.join(a.work_dir, f"{a.backend}-{name}")
    env = dict(os.environ, ESCALE_MODE="sandbox", ESCALE_DEMO_DATA="true", ESCALE_LOG=os.environ.get("ESCALE_BENCH_LOG", "warn"))
    for k in ("ESCALE_CONFIG", "ESCALE_DATABASE_URL", "ESCALE_LISTEN", "ESCALE_DATA_DIR", "DATABASE_URL"):
        env.pop(k, None)
    if a.backend == "postgres":
        db_url = with_database(PG_ADMIN, name)
        env["DATABASE_URL"] = db_url
    if a.fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
        if a.backend == "postgres":
            psql(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    os.makedirs(data_dir, exist_ok=True)
    seeded = os.path.join(data_dir, f"seeded-{a.backend}")
    if not os.path.exists(seeded):
        if a.backend == "postgres":
            psql(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            psql(PG_ADMIN, f'CREATE DATABASE "{name}"')
        started = time.time()
        subprocess.run([binary, "dev", "seed", "--users", str(a.users), "--structures",
                        str(a.structures), "--data-dir", data_dir], env=env, check=True)
        print(f"seeded in {time.time() - started:.0f} s", flush=True)
        open(seeded, "w").close()
    sample = read_sample(a, data_dir, name)
    server = start_server(binary, data_dir, env)
    try:
        base, pid = server["base"], server["proc"].pid
        opener, cookie = login(base)
        rows = []
        if a.create:
            csrf = csrf_token(opener, base)
            path = write_creations(a, csrf)
            for clients in a.clients:
                rows.append(("creation", clients, run_wrk(a, base, path, cookie, clients), pid))
        else:
            for kind in a.kinds:
                queries = make_queries(kind, sample, a.seed)
                check_found(opener, base, kind, queries[:a.check])
                path = os.path.join(a.work_dir, f"{a.backend}-{name}-{kind}.txt")
                with open(path, "w") as f:
                    f.write("\n".join(q for q, _ in queries) + "\n")
                for clients in a.clients:
                    rows.append((kind, clients, run_wrk(a, base, path, cookie, clients), pid))
        print_table(a, rows)
        if a.backend == "postgres" and a.index_stats:
            print(psql(with_database(PG_ADMIN, name),
                       "SELECT indexrelname, idx_scan, idx_tup_read FROM pg_stat_user_indexes "
                       "WHERE relname = 'usagers' ORDER BY 1"))
    finally:
        server["proc"].terminate()
        try:
            server["proc"].wait(10)
        except subprocess.TimeoutExpired:
            server["proc"].kill()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--users", type=int, default=10000, help="files per structure")
    p.add_argument("--structures", type=int, default=1)
    p.add_argument("--clients", default="8,32", help="wrk connections, comma-separated")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--kinds", default="date,inside,free")
    p.add_argument("--create", action="store_true", help="measure file creation instead")
    p.add_argument("--check", type=int, default=40, help="sample searches checked per kind")
    p.add_argument("--binary", help="the escale binary (default: target/release/escale)")
    p.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "escale-load"))
    p.add_argument("--fresh", action="store_true", help="seed again even if a seeded copy exists")
    p.add_argument("--index-stats", action="store_true", help="PostgreSQL: print usagers index use")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--name", help="the dataset (data directory and PostgreSQL database) to use, "
                   "e.g. a copy prepared for another build (default: escale_load_<users>x<structures>)")
    a = p.parse_args()
    a.clients = [int(c) for c in a.clients.split(",")]
    a.kinds = a.kinds.split(",")
    return a


def with_database(url, database):
    head, _, query = url.partition("?")
    scheme, _, rest = head.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{database}" + (f"?{query}" if query else "")


def psql(url, sql):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout


def read_sample(a, data_dir, name):
    """Up to 5,000 non-anonymous live files of the demo CSAPA: (id, birth
    name, first names, birth date)."""
    sql = ("SELECT {id}, u.birth_name, u.first_names, u.birth_date FROM usagers u "
           "JOIN structures s ON s.id = u.structure_id "
           f"WHERE s.finess_geo = '{CSAPA_FINESS}' AND u.anonymous = {{false}} "
           "AND u.merged_into IS NULL ORDER BY u.id LIMIT 5000")
    if a.backend == "sqlite":
        c = sqlite3.connect(os.path.join(data_dir, "escale.sqlite"))
        rows = c.execute(sql.format(id="lower(hex(u.id))", false="0")).fetchall()
        c.close()
        fmt = lambda h: f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return [(fmt(r[0]), r[1], r[2], str(r[3])) for r in rows]
    out = psql(with_database(PG_ADMIN, name), sql.format(id="u.id::text", false="false"))
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def fold(s):
    """What Escale's domain::search::fold does, for ASCII-folded checks."""
    import unicodedata
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().upper()
    return " ".join(w for w in re.split(r"[^A-Z0-9]+", s) if w)


def inside(name, rng):
    """4-5 letters from inside the birth name's longest word (not its start)."""
    word = max(fold(name).split(" "), key=len)
    if len(word) < 6:
        return None
    n = rng.choice((4, 5)) if len(word) >= 7 else 4
    at = rng.randint(1, len(word) - n)
    return word[at:at + n]


def make_queries(kind, sample, seed):
    rng = random.Random(seed)
    out = []
    for (fid, birth, firsts, born) in sample:
        y, m, d = born[:10].split("-")
        if kind == "date":
            q = {"q": fold(birth)[:3], "date": f"{d}/{m}/{y}"}
        else:
            part = inside(birth, rng)
            if part is None:
                continue
            if kind == "inside":
                q = {"q": part}
            else:
                first = fold(firsts).split(" ")[0][:4].lower()
                q = {"q": f"{first} {part.lower()}"}
        out.append(("/usagers?" + urllib.parse.urlencode(q), fid))
    rng.shuffle(out)
    return out


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def login(base):
    """Pro Santé Connect through its sandbox, as the demo CSAPA's receptionist."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

    def go(url, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            r = opener.open(url, body, timeout=30)
            return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    _, h, _ = go(f"{base}/auth/psc/login")
    authorize = urllib.parse.urlsplit(h["Location"])
    form = dict(urllib.parse.parse_qsl(authorize.query))
    form.update(professional=RECEPTIONIST, mode="ecps")
    choose = urllib.parse.urlunsplit((authorize.scheme, authorize.netloc, "/auth/choix", "", ""))
    _, h, _ = go(choose, form)
    status, h, page = go(h["Location"])
    if status == 200:
        # Several structures: the demo CSAPA's form.
        at = page.index("CSAPA Le Phare")
        part = page[page.rindex("<form", 0, at):]
        field = lambda n: re.search(rf'name="{n}" value="([^"]*)"', part).group(1)
        status, h, _ = go(f"{base}/auth/psc/structure", {
            "_csrf": field("_csrf"), "choix": field("choix"), "structure_id": field("structure_id")})
    if status not in (302, 303):
        sys.exit(f"login failed: {status}")
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return go, cookie


def csrf_token(go, base):
    _, _, page = go(f"{base}/usagers/nouveau")
    return re.search(r'name="_csrf" value="([^"]*)"', page).group(1)


def check_found(go, base, kind, queries):
    """Each sample search lists the file it was made from, or says there are
    more than the page shows (a common fragment)."""
    found = narrowed = 0
    for path, fid in queries:
        status, _, page = go(base + path)
        if status != 200:
            sys.exit(f"{path}: {status}")
        if f"/usagers/{fid}" in page:
            found += 1
        elif "précisez" in page:
            narrowed += 1
        else:
            sys.exit(f"{kind}: {path} did not find {fid}")
    print(f"{kind}: {found}/{len(queries)} sample searches list their file, "
          f"{narrowed} ask to narrow (more answers than the page shows)", flush=True)


def write_creations(a, csrf):
    rng = random.Random(a.seed)
    path = os.path.join(a.work_dir, f"creations-{a.backend}.txt")
    letters = "BCDFGHJKLMNPRSTVZ"
    vowels = "AEIOU"
    with open(path, "w") as f:
        for _ in range(5000):
            name = "".join(rng.choice(letters) + rng.choice(vowels) for _ in range(4))
            first = rng.choice(["Camille", "Dominique", "Claude", "Alix", "Sacha"])
            body = urllib.parse.urlencode({
                "_csrf": csrf, "birth_name": f"{name}@@", "first_names": f"{first}@F",
                "birth_date": "@D", "sex": rng.choice("MF")})
            # search.lua draws "@@", "@F" (letters) and "@D" (a date) per request.
            f.write(f"POST /usagers {body.replace('%40', '@')}\n")
    return path


def run_wrk(a, base, path, cookie, clients):
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(clients), "-d", f"{a.seconds}s", "--timeout", "10s",
         "-s", LUA, base, "--", path, cookie],
        capture_output=True, text=True, check=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    r = json.loads(line)
    if out.stderr.strip():
        print(out.stderr.strip(), file=sys.stderr)
    return r


def memory(pid):
    status = open(f"/proc/{pid}/status").read()
    get = lambda k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) // 1024
    rollup = open(f"/proc/{pid}/smaps_rollup").read()
    pss = int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1)) // 1024
    return get("VmRSS"), get("VmHWM"), get("RssAnon"), pss


def print_table(a, rows):
    print(f"\n{a.backend}, {a.users} files x {a.structures} structure(s), {a.seconds} s per run, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores (server and wrk together)\n")
    print("| kind | clients | requests/s | p50 | p95 | p99 | errors | RSS after (peak), anonymous, PSS |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, clients, r, pid in rows:
        rss, hwm, anon, pss = memory(pid)
        errors = r["errors_status"] + r["errors_socket"]
        if errors:
            # Which kind: an answer other than 200/303 (its status is on
            # stderr, from search.lua) or a socket's error or timeout.
            errors = f"{errors} ({r['errors_status']} status, {r['errors_socket']} socket)"
        if r.get("look_alikes"):
            errors = f"{errors}; {r['look_alikes']} look-alike warning(s)"
        print(f"| {kind} | {clients} | {r['requests'] / r['seconds']:,.0f} | "
              f"{r['p50_us'] / 1000:.2f} ms | {r['p95_us'] / 1000:.2f} ms | "
              f"{r['p99_us'] / 1000:.2f} ms | {errors} | {rss} MiB ({hwm} MiB), {anon} MiB, {pss} MiB |")


def start_server(binary, data_dir, env):
    log = open(os.path.join(data_dir, "server.log"), "w")
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
                            env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.time() + 120
    for line in proc.stdout:
        m = re.search(r"(http://[^\s/]+)", line)
        if m:
            base = m.group(1)
            break
        if time.time() > deadline:
            break
    else:
        sys.exit("the server did not start; see server.log")
    # Keep reading its stdout so that it never blocks on a full pipe.
    import threading
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return {"proc": proc, "base": base}


if __name__ == "__main__":
    main()
