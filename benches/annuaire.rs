//! The local copy of the Annuaire Santé: name-prefix search latency over
//! 2,000,000 generated professionals, and import throughput.
//!
//! - SQLite (a temporary file, as in production): the persons are loaded
//!   through `DirectoryStore::upsert_directory_persons` (load rate printed),
//!   then 3,000 random name-prefix searches (a third with a first name) give
//!   p50/p95/p99 (target p95 < 20 ms); Criterion reports the mean.
//! - Import: a generated `PS_LibreAcces_Personne_activite` file of 200,000
//!   lines (real header from `../shared/spec/psc-annuaire/flat-files/`) read
//!   by `annuaire_import::import_file` into an empty database: rows/s.
//! - PostgreSQL, when `ESCALE_BENCH_POSTGRES_URL` is set: the same load and
//!   searches in a database created for the run.
//!
//! `ESCALE_BENCH_ANNUAIRE_ROWS` changes the number of persons.
//!
//! `cargo bench --bench annuaire`

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{Connection, PgConnection};

use escale::domain::directory::{Coded, DirectoryQuery, Situation, Workplace};
use escale::store::DynStore;
use escale::store::directory::{ActivityRecord, DirectoryFileKind, ImportEnd, PersonRecord};

#[path = "support/mod.rs"]
mod support;

const QUERIES: usize = 3_000;
const IMPORT_LINES: usize = 200_000;
const BATCH: usize = 2_000;

const COMMON: &[&str] = &[
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU",
    "LAURENT", "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL",
    "FOURNIER", "GIRARD",
];
const SYLLABLES: &[&str] = &[
    "BA", "BER", "BON", "CHA", "CO", "DA", "DE", "DU", "FA", "FON", "GA", "GUE", "LA", "LE", "LI",
    "LOU", "MA", "MAR", "MO", "NA", "NI", "PE", "PI", "RA", "RE", "RI", "ROU", "SA", "SI", "TA",
    "TE", "TI", "VA", "VI", "ZA", "QUIN", "GEL", "NET", "ET", "AUD",
];
const FIRST: &[&str] = &[
    "Marie",
    "Jean",
    "Léa",
    "Kévin",
    "Nicolas",
    "Camille",
    "Julien",
    "Sophie",
    "Karim",
    "Chloé",
    "Hugo",
    "Inès",
    "Lucas",
    "Emma",
    "Yanis",
    "Manon",
    "Théo",
    "Sarah",
    "Mathieu",
    "Zoé",
    "Éric",
    "Anaïs",
    "Rémi",
    "Anne-Sophie",
    "Jean-Pierre",
    "Nathalie",
    "Isabelle",
    "Philippe",
    "Laurent",
    "Claire",
    "Thi Hoa",
    "Mohamed",
    "Fatima",
    "Pierre",
    "Louise",
    "Paul",
    "Alice",
    "Gabriel",
    "Jade",
    "Arthur",
];

/// Last names: one in ten a very common one (large buckets), the rest
/// 2–4 syllables (hundreds of thousands of distinct names).
fn last_name(rng: &mut StdRng) -> String {
    if rng.random_range(0..10) == 0 {
        return COMMON[rng.random_range(0..COMMON.len())].to_string();
    }
    let n = rng.random_range(2..=4);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(SYLLABLES[rng.random_range(0..SYLLABLES.len())]);
    }
    if rng.random_range(0..20) == 0 {
        s.push('-');
        s.push_str(COMMON[rng.random_range(0..COMMON.len())]);
    }
    s
}

fn person(rng: &mut StdRng, i: usize) -> PersonRecord {
    let rpps = format!("{:011}", 10_000_000_000u64 + i as u64);
    let activities = (0..rng.random_range(1..=2))
        .map(|k| ActivityRecord {
            profession: Some(Coded {
                code: "10".into(),
                label: "Médecin".into(),
            }),
            situation: Situation {
                role: None,
                mode: Some(if k == 0 { "S" } else { "L" }.into()),
                sector: Some("SA07".into()),
                workplace: Workplace {
                    name: format!("CENTRE {}", i % 50_000),
                    finess: Some(format!("{:09}", 640_000_000 + (i % 50_000))),
                    finess_legal: None,
                    id_nat_struct: None,
                    postal_code: Some("64000".into()),
                    city: Some("PAU".into()),
                },
            },
        })
        .collect();
    PersonRecord {
        id_nat_ps: format!("8{rpps}"),
        rpps: Some(rpps),
        civility: Some("DR".into()),
        last_name: last_name(rng),
        first_name: FIRST[rng.random_range(0..FIRST.len())].to_string(),
        activities,
    }
}

/// Loads `rows` persons through the store; returns random queries drawn from them.
async fn load(store: &DynStore, rows: usize, label: &str) -> Vec<DirectoryQuery> {
    let mut rng = StdRng::seed_from_u64(7);
    let import = store
        .start_directory_import(DirectoryFileKind::PersonActivity, "bench")
        .await
        .expect("start");
    let started = Instant::now();
    let mut queries = Vec::with_capacity(QUERIES);
    let mut batch = Vec::with_capacity(BATCH);
    let mut activities = 0;
    for i in 0..rows {
        let p = person(&mut rng, i);
        if queries.len() < QUERIES && i % (rows / QUERIES).max(1) == 0 {
            // A prefix of 2 letters or more; a third with a first-name prefix.
            let len = rng.random_range(2..=p.last_name.len().max(2));
            let last: String = p.last_name.chars().take(len).collect();
            let first = (rng.random_range(0..3) == 0)
                .then(|| p.first_name.chars().take(rng.random_range(1..=4)).collect());
            queries.push(DirectoryQuery::Name {
                last_name: last,
                first_name: first,
            });
        }
        activities += p.activities.len();
        batch.push(p);
        if batch.len() == BATCH {
            store
                .upsert_directory_persons(import, &batch)
                .await
                .expect("upsert");
            batch.clear();
        }
    }
    store
        .upsert_directory_persons(import, &batch)
        .await
        .expect("upsert");
    store
        .finish_directory_import(
            import,
            &ImportEnd {
                succeeded: true,
                rows_read: rows as i64,
                rows_written: rows as i64,
                bad_lines: 0,
                purge: false,
            },
        )
        .await
        .expect("finish");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label}: {rows} persons ({activities} activities) loaded through the store in {secs:.1} s: {:.0} persons/s, {:.0} rows/s",
        rows as f64 / secs,
        (rows + activities) as f64 / secs
    );
    queries
}

async fn measure(store: &DynStore, queries: &[DirectoryQuery], label: &str) {
    let mut ms = Vec::with_capacity(queries.len());
    let mut found = 0;
    for q in queries {
        let start = Instant::now();
        found += store.search_directory(q, 20).await.expect("search").len();
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    support::percentiles(label, "searches", ms);
    println!(
        "{label}: {:.1} persons per result page on average",
        found as f64 / queries.len() as f64
    );
}

/// A generated PS_LibreAcces file with the real header, imported into an
/// empty SQLite database; prints rows/s.
async fn import_throughput() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/psc-annuaire/flat-files/PS_LibreAcces_Personne_activite.header.txt"
    );
    let Ok(header) = std::fs::read_to_string(path) else {
        println!("import: {path} absent — not measured");
        return;
    };
    let header = header.lines().next().unwrap_or_default().to_string();
    let names: Vec<&str> = header.split('|').collect();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir
        .path()
        .join("PS_LibreAcces_Personne_activite_209901010000.txt");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("file"));
    writeln!(out, "{header}").expect("write");
    let mut rng = StdRng::seed_from_u64(11);
    let (mut lines, mut i) = (0, 0);
    while lines < IMPORT_LINES {
        let p = person(&mut rng, i);
        for a in &p.activities {
            let value = |n: &str| -> String {
                match n {
                    "Type d'identifiant PP" => "8".into(),
                    "Identifiant PP" => p.rpps.clone().unwrap_or_default(),
                    "Identification nationale PP" => p.id_nat_ps.clone(),
                    "Code civilité d'exercice" => "DR".into(),
                    "Nom d'exercice" => p.last_name.clone(),
                    "Prénom d'exercice" => p.first_name.clone(),
                    "Code profession" => "10".into(),
                    "Libellé profession" => "Médecin".into(),
                    "Code mode exercice" => a.situation.mode.clone().unwrap_or_default(),
                    "Numéro FINESS site" => {
                        a.situation.workplace.finess.clone().unwrap_or_default()
                    }
                    "Raison sociale site" => a.situation.workplace.name.clone(),
                    "Code postal (coord. structure)" => "64000".into(),
                    "Libellé commune (coord. structure)" => "PAU".into(),
                    "Code secteur d'activité" => "SA07".into(),
                    _ => String::new(),
                }
            };
            let line: Vec<String> = names.iter().map(|n| value(n)).collect();
            writeln!(out, "{}", line.join("|")).expect("write");
            lines += 1;
        }
        i += 1;
    }
    out.flush().expect("flush");
    drop(out);
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("import.sqlite").display()
    );
    let store = escale::store::connect(&url).await.expect("sqlite");
    store.migrate().await.expect("migrate");
    let s = escale::services::annuaire_import::import_file(store.as_ref(), &file, &mut |_| {})
        .await
        .expect("import");
    println!(
        "import sqlite: {} lines ({} persons) in {:.1} s: {:.0} lines/s",
        s.rows_read,
        s.persons,
        s.duration.as_secs_f64(),
        s.rows_per_second()
    );
}

fn bench(c: &mut Criterion) {
    escale::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let rows: usize = std::env::var("ESCALE_BENCH_ANNUAIRE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);

    rt.block_on(import_throughput());

    let dir = tempfile::tempdir().expect("dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("annuaire.sqlite").display()
    );
    let (store, queries) = rt.block_on(async {
        let store = escale::store::connect(&url).await.expect("sqlite");
        store.migrate().await.expect("migrate");
        let queries = load(&store, rows, "sqlite").await;
        (store, queries)
    });
    rt.block_on(measure(&store, &queries, &format!("sqlite {rows}")));
    let store = Arc::new(store);
    let mut i = 0;
    c.bench_function(&format!("directory search, SQLite, {rows} persons"), |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let q = &queries[i % queries.len()];
            let store = store.clone();
            async move { store.search_directory(q, 20).await.unwrap() }
        })
    });

    let Ok(admin) = std::env::var("ESCALE_BENCH_POSTGRES_URL") else {
        println!("PostgreSQL: ESCALE_BENCH_POSTGRES_URL not set — not measured");
        return;
    };
    let (pg, queries, name) = rt.block_on(async {
        let (url, name) = support::create_database(&admin).await;
        let pg = escale::store::connect(&url).await.expect("pg");
        pg.migrate().await.expect("migrate");
        let queries = load(&pg, rows, "postgres").await;
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        sqlx::query("ANALYZE")
            .execute(&mut conn)
            .await
            .expect("analyze");
        (pg, queries, name)
    });
    rt.block_on(measure(&pg, &queries, &format!("postgres {rows}")));
    let pg = Arc::new(pg);
    let mut i = 0;
    c.bench_function(
        &format!("directory search, PostgreSQL, {rows} persons"),
        |b| {
            b.to_async(&rt).iter(|| {
                i += 1;
                let q = &queries[i % queries.len()];
                let pg = pg.clone();
                async move { pg.search_directory(q, 20).await.unwrap() }
            })
        },
    );
    drop(pg);
    rt.block_on(support::drop_database(&admin, &name));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
