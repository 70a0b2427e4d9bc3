//! Duplicate check at reception (`identity_quality::candidates`: indexed
//! blocking keys, then scoring), on generated identities with known
//! near-duplicates as probes.
//!
//! - SQLite: 20,000 identities written through the store.
//! - PostgreSQL (when `ESCALE_BENCH_POSTGRES_URL` is set): 1,000,000
//!   identities (`ESCALE_BENCH_PG_ROWS` to change), bulk-loaded with the
//!   keys the store would write, into a database created for the run.
//!
//! Criterion reports the mean; the p50/p95/p99 over 2,000 probes are printed
//! as well (target p95 < 30 ms).
//!
//! `cargo bench --bench duplicates`

use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use escale::domain::duplicates::blocking_keys;
use escale::domain::roles::Role;
use escale::domain::structure::StructureKind;
use escale::domain::tenant::Tenant;
use escale::domain::usager::UsagerData;
use escale::sandbox::generator::{Generator, Variation};
use escale::services::identity_quality::candidates;
use escale::store::{DynStore, NewProfessional, NewStructure};

#[path = "support/mod.rs"]
mod support;

const SQLITE_ROWS: usize = 20_000;
const PROBES: usize = 2_000;

async fn tenant(store: &DynStore) -> Tenant {
    let s = store
        .create_structure(
            &NewStructure {
                name: "CSAPA de mesure".into(),
                kind: StructureKind::Csapa,
                finess_geo: "640000014".into(),
                finess_juridique: "640000121".into(),
            },
            &|_| Vec::new(),
        )
        .await
        .expect("structure");
    let p = store
        .create_professional(
            &NewProfessional {
                first_name: "Claire".into(),
                last_name: "Martin".into(),
                national_id: None,
                profession: "Accueil".into(),
                instance_admin: false,
            },
            &|_| Vec::new(),
        )
        .await
        .expect("professional");
    store
        .grant_role(s.id, p.id, Role::Accueil, &[])
        .await
        .expect("role");
    store
        .tenant_for(p.id, s.id)
        .await
        .expect("tenant")
        .expect("tenant")
}

fn probes(bases: &[UsagerData]) -> Vec<UsagerData> {
    let mut g = Generator::new(99);
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < PROBES {
        let v = Variation::ALL[i % Variation::ALL.len()];
        if let Some(p) = g.variant(&bases[(i * 7919) % bases.len()], v) {
            out.push(p);
        }
        i += 1;
    }
    out
}

async fn measure(store: &DynStore, t: &Tenant, probes: &[UsagerData], label: &str) {
    let mut ms = Vec::with_capacity(probes.len());
    let mut longest = 0;
    for p in probes {
        let start = Instant::now();
        let found = candidates(store.as_ref(), t, &p.identity, None)
            .await
            .expect("candidates");
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
        longest = longest.max(found.len());
    }
    support::percentiles(label, "probes", ms);
    println!("{label}: longest candidate list {longest}");
}

/// Bulk load for the large PostgreSQL set: same columns and keys as
/// `create_usager` writes, in multi-row statements.
async fn bulk_load(url: &str, t: &Tenant, bases: &[UsagerData]) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    for chunk in bases.chunks(1000) {
        let mut tx = conn.begin().await.expect("tx");
        let mut rows = sqlx::QueryBuilder::new(
            "INSERT INTO usagers (id, structure_id, anonymous, birth_name, first_names, used_name, birth_date, sex, search_key, created_by, created_at, updated_at) ",
        );
        let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::new_v4()).collect();
        let now = chrono::Utc::now();
        rows.push_values(chunk.iter().zip(&ids), |mut b, (d, id)| {
            let escale::domain::usager::Identity::Traits {
                birth_name,
                first_names,
                used_name,
                birth_date,
                sex,
                ..
            } = &d.identity
            else {
                unreachable!("generated identities have traits")
            };
            b.push_bind(*id)
                .push_bind(t.structure_id)
                .push_bind(false)
                .push_bind(birth_name.clone())
                .push_bind(first_names.clone())
                .push_bind(used_name.clone())
                .push_bind(*birth_date)
                .push_bind(sex.code())
                .push_bind(d.identity.search_key())
                .push_bind(t.professional_id)
                .push_bind(now)
                .push_bind(now);
        });
        rows.build().execute(&mut *tx).await.expect("usagers");
        let keys: Vec<(Uuid, String)> = chunk
            .iter()
            .zip(&ids)
            .flat_map(|(d, id)| {
                blocking_keys(&d.identity)
                    .into_iter()
                    .map(move |k| (*id, k))
            })
            .collect();
        let mut k =
            sqlx::QueryBuilder::new("INSERT INTO identity_keys (structure_id, key, usager_id) ");
        k.push_values(&keys, |mut b, (id, key)| {
            b.push_bind(t.structure_id)
                .push_bind(key.clone())
                .push_bind(*id);
        });
        k.push(" ON CONFLICT DO NOTHING");
        k.build().execute(&mut *tx).await.expect("keys");
        tx.commit().await.expect("commit");
    }
    sqlx::query("ANALYZE")
        .execute(&mut conn)
        .await
        .expect("analyze");
}

fn bench(c: &mut Criterion) {
    escale::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut g = Generator::new(1);

    // SQLite, through the store.
    let dir = tempfile::tempdir().expect("dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("dup.sqlite").display()
    );
    let (store, t, bases) = rt.block_on(async {
        let store = escale::store::connect(&url).await.expect("sqlite");
        store.migrate().await.expect("migrate");
        let t = tenant(&store).await;
        let bases: Vec<UsagerData> = (0..SQLITE_ROWS).map(|_| g.identity()).collect();
        for b in &bases {
            store.create_usager(&t, b, &[]).await.expect("file");
        }
        (store, t, bases)
    });
    let probes_sqlite = probes(&bases);
    rt.block_on(measure(&store, &t, &probes_sqlite, "sqlite 20k"));
    let store = Arc::new(store);
    let mut i = 0;
    c.bench_function("duplicate check, SQLite, 20,000 identities", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let p = &probes_sqlite[i % probes_sqlite.len()];
            let (store, t) = (store.clone(), t.clone());
            async move {
                candidates(store.as_ref().as_ref(), &t, &p.identity, None)
                    .await
                    .unwrap()
            }
        })
    });

    // PostgreSQL, bulk-loaded.
    let Ok(admin) = std::env::var("ESCALE_BENCH_POSTGRES_URL") else {
        println!("PostgreSQL: ESCALE_BENCH_POSTGRES_URL not set — not measured");
        return;
    };
    let rows: usize = std::env::var("ESCALE_BENCH_PG_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let name = format!("escale_bench_{}", Uuid::new_v4().simple());
    let (pg, t, probes_pg) = rt.block_on(async {
        let mut conn = PgConnection::connect(&admin).await.expect("admin");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        let pg = escale::store::connect(&url).await.expect("pg");
        pg.migrate().await.expect("migrate");
        let t = tenant(&pg).await;
        let started = Instant::now();
        let bases: Vec<UsagerData> = (0..rows).map(|_| g.identity()).collect();
        bulk_load(&url, &t, &bases).await;
        println!(
            "postgres: {rows} identities loaded in {:?}",
            started.elapsed()
        );
        let probes_pg = probes(&bases);
        (pg, t, probes_pg)
    });
    rt.block_on(measure(&pg, &t, &probes_pg, &format!("postgres {rows}")));
    let pg = Arc::new(pg);
    let mut i = 0;
    c.bench_function(
        &format!("duplicate check, PostgreSQL, {rows} identities"),
        |b| {
            b.to_async(&rt).iter(|| {
                i += 1;
                let p = &probes_pg[i % probes_pg.len()];
                let (pg, t) = (pg.clone(), t.clone());
                async move {
                    candidates(pg.as_ref().as_ref(), &t, &p.identity, None)
                        .await
                        .unwrap()
                }
            })
        },
    );
    rt.block_on(async {
        drop(pg);
        if let Ok(mut conn) = PgConnection::connect(&admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(200);
    targets = bench
}
criterion_main!(benches);
