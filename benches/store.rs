//! Store-level costs on SQLite (a temporary file, as in production: WAL,
//! synchronous=NORMAL): searching 5,000 user files, appending to the audit
//! journal, and the per-request session lookup.
//!
//! ```text
//! cargo bench --bench store
//! ```

use chrono::{Duration, NaiveDate, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration as StdDuration;
use uuid::Uuid;

use escale::domain::audit::AuditAction;
use escale::domain::roles::Role;
use escale::domain::structure::StructureKind;
use escale::domain::tenant::Tenant;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::store::{
    AuditChain, AuditEvent, DynStore, NewProfessional, NewSession, NewStructure, UsagerQuery,
};

const FILES: usize = 5_000;

const BIRTH_NAMES: &[&str] = &[
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY",
    "MOREAU", "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX",
    "VINCENT", "FOURNIER", "MOREL", "GIRARD", "ANDRE", "LEFEVRE", "MERCIER", "DUPONT", "LAMBERT",
    "BONNET", "FRANCOIS", "MARTINEZ", "NGUYEN", "HADDAD",
];
const FIRST_NAMES: &[&str] = &[
    "Marie", "Jean", "Léa", "Kévin", "Thi Hoa", "Nicolas", "Camille", "Julien", "Sophie", "Karim",
    "Chloé", "Hugo", "Inès", "Lucas", "Emma", "Yanis", "Manon", "Théo", "Sarah", "Mathieu", "Zoé",
    "Éric", "Anaïs", "Rémi",
];
const ALIASES: &[&str] = &[
    "Zébulon", "Le Marin", "Rocky", "Mistral", "Papillon", "Gavroche", "Tintin", "Bambou",
];

struct Fixture {
    store: DynStore,
    tenant: Tenant,
    session_hash: String,
    _dir: tempfile::TempDir,
}

/// A file number `i`: mostly identified people, one in ten anonymous.
fn file(i: usize) -> UsagerData {
    let identity = if i % 10 == 9 {
        Identity::Anonymous {
            alias: format!("{} {}", ALIASES[i % ALIASES.len()], i),
            sex: Some(if i.is_multiple_of(2) { Sex::F } else { Sex::M }),
            birth_year: Some(1960 + (i % 45) as i32),
        }
    } else {
        Identity::Traits {
            birth_name: BIRTH_NAMES[i % BIRTH_NAMES.len()].to_string(),
            first_names: FIRST_NAMES[(i / BIRTH_NAMES.len()) % FIRST_NAMES.len()].to_string(),
            used_name: i
                .is_multiple_of(7)
                .then(|| BIRTH_NAMES[(i * 7 + 3) % BIRTH_NAMES.len()].to_string()),
            used_first_name: None,
            birth_date: NaiveDate::from_ymd_opt(
                1950 + (i % 55) as i32,
                1 + (i % 12) as u32,
                1 + (i % 28) as u32,
            )
            .expect("valid date"),
            sex: if i.is_multiple_of(2) { Sex::F } else { Sex::M },
            birth_place_code: Some(format!("{:05}", 64000 + i % 500)),
        }
    };
    UsagerData {
        identity,
        contact: Contact {
            phone: Some("06 00 00 00 00".into()),
            email: None,
            address: Some("Pau".into()),
        },
    }
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.sqlite").display()
    );
    let store = escale::store::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrations");
    let structure = store
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
    let pro = store
        .create_professional(
            &NewProfessional {
                first_name: "Claire".into(),
                last_name: "Martin".into(),
                national_id: Some("899900000011".into()),
                profession: "Médecin addictologue".into(),
                instance_admin: false,
            },
            &|_| Vec::new(),
        )
        .await
        .expect("professional");
    store
        .grant_role(structure.id, pro.id, Role::Medecin, &[])
        .await
        .expect("role");
    let tenant = store
        .tenant_for(pro.id, structure.id)
        .await
        .expect("tenant query")
        .expect("tenant");

    // 5,000 files in a handful of transactions' worth of time (one insert each).
    for i in 0..FILES {
        store
            .create_usager(&tenant, &file(i), &[])
            .await
            .expect("file");
    }
    assert_eq!(
        store.count_usagers(&tenant).await.expect("count"),
        FILES as i64
    );

    let session_hash = format!("{:064x}", Uuid::new_v4().as_u128());
    let now = Utc::now();
    store
        .create_session(&NewSession {
            token_hash: session_hash.clone(),
            professional_id: pro.id,
            structure_id: structure.id,
            csrf_token: "csrf".into(),
            auth_method: "bac à sable".into(),
            created_at: now,
            expires_at: now + Duration::hours(12),
        })
        .await
        .expect("session");
    Fixture {
        store,
        tenant,
        session_hash,
        _dir: dir,
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let f = rt.block_on(fixture());

    let mut group = c.benchmark_group("store_sqlite");
    group
        .sample_size(20)
        .warm_up_time(StdDuration::from_secs(1))
        .measurement_time(StdDuration::from_secs(3));

    let searches = [
        (
            "search_usagers/5000/list_first_50",
            UsagerQuery {
                terms: vec![],
                birth_date: None,
                limit: 50,
            },
        ),
        (
            "search_usagers/5000/one_term",
            UsagerQuery {
                terms: vec!["DUR".into()],
                birth_date: None,
                limit: 50,
            },
        ),
        (
            "search_usagers/5000/two_terms",
            UsagerQuery {
                terms: vec!["MARTIN".into(), "LEA".into()],
                birth_date: None,
                limit: 50,
            },
        ),
        (
            "search_usagers/5000/birth_date",
            UsagerQuery {
                terms: vec![],
                birth_date: NaiveDate::from_ymd_opt(1960, 11, 11),
                limit: 50,
            },
        ),
    ];
    for (name, query) in &searches {
        let n = rt
            .block_on(f.store.search_usagers(&f.tenant, query))
            .expect("search")
            .len();
        assert!(n > 0, "{name}: the query should find files");
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| async {
                black_box(
                    f.store
                        .search_usagers(&f.tenant, query)
                        .await
                        .expect("search"),
                )
            })
        });
    }

    let usager_id = rt
        .block_on(f.store.search_usagers(
            &f.tenant,
            &UsagerQuery {
                terms: vec![],
                birth_date: None,
                limit: 1,
            },
        ))
        .expect("search")[0]
        .id;
    let event = AuditEvent {
        actor_id: Some(f.tenant.professional_id),
        actor_label: f.tenant.actor_label.clone(),
        action: AuditAction::FileOpened.code().into(),
        usager_id: Some(usager_id),
        details: String::new(),
    };
    let chain = AuditChain::Structure(f.tenant.structure_id);
    group.bench_function("append_audit", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(f.store.append_audit(chain, &event).await.expect("audit")) })
    });

    group.bench_function("session_with_tenant", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                f.store
                    .session_with_tenant(&f.session_hash)
                    .await
                    .expect("session")
                    .expect("known session"),
            )
        })
    });
    group.finish();
}

criterion_group!(store, benches);
criterion_main!(store);
