//! Fresh, migrated databases for tests, on either backend, and seed data.
#![allow(dead_code)] // shared by every test module; not each uses every helper

use escale::domain::roles::Role;
use escale::domain::structure::StructureKind;
use escale::domain::tenant::Tenant;
use escale::store::{DynStore, NewProfessional, NewStructure, Professional, Structure};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// Server for the PostgreSQL tests, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
/// The role needs `CREATEDB`: every test gets its own database, dropped afterwards.
pub const POSTGRES_URL_ENV: &str = "ESCALE_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A migrated, empty store of its own. Dropping it deletes the database.
pub struct TestDb {
    pub store: DynStore,
    /// The database URL: `escale::store::connect(&url)` opens the same data
    /// (a second process, the application under test, a raw connection).
    pub url: String,
    pub backend: TestBackend,
    /// Dropped after `store` (fields drop in declaration order).
    _cleanup: Cleanup,
}

enum Cleanup {
    /// The directory holding the SQLite file (and its -wal/-shm companions).
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] DropDatabase),
}

/// Drops a PostgreSQL test database, best effort, when dropped itself.
struct DropDatabase {
    admin_url: String,
    database: String,
}

/// A fresh store, or `None` when PostgreSQL is asked for but not configured
/// (outside CI only: in CI a missing server is an error).
pub async fn test_store(backend: TestBackend) -> Option<TestDb> {
    escale::install_crypto_provider();
    match backend {
        TestBackend::Sqlite => Some(sqlite_store().await),
        TestBackend::Postgres => {
            let Some(admin_url) = std::env::var(POSTGRES_URL_ENV)
                .ok()
                .filter(|u| !u.trim().is_empty())
            else {
                if std::env::var_os("CI").is_some() {
                    panic!(
                        "{POSTGRES_URL_ENV} is not set: the PostgreSQL tests must run in CI \
                         (e.g. {POSTGRES_URL_ENV}=postgres://postgres@127.0.0.1:5432/postgres)"
                    );
                }
                eprintln!("PostgreSQL test not run: {POSTGRES_URL_ENV} is not set");
                return None;
            };
            Some(postgres_store(admin_url).await)
        }
    }
}

async fn sqlite_store() -> TestDb {
    let dir = tempfile::Builder::new()
        .prefix("escale-test-")
        .tempdir()
        .expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("escale.db").display());
    let store = escale::store::connect(&url)
        .await
        .expect("open the SQLite store");
    store.migrate().await.expect("migrate SQLite");
    TestDb {
        store,
        url,
        backend: TestBackend::Sqlite,
        _cleanup: Cleanup::Sqlite(dir),
    }
}

async fn postgres_store(admin_url: String) -> TestDb {
    let database = format!("escale_t_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("connect to {POSTGRES_URL_ENV} ({admin_url}): {e}"));
    // The name is generated above (letters, digits, underscores): safe to splice.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&mut admin)
    .await
    .expect("create the test database");
    admin.close().await.ok();
    let url = with_database(&admin_url, &database);
    // From here on, a failure (panic) still drops the database.
    let guard = DropDatabase {
        admin_url,
        database,
    };
    let store = escale::store::connect(&url)
        .await
        .expect("open the PostgreSQL store");
    store.migrate().await.expect("migrate PostgreSQL");
    TestDb {
        store,
        url,
        backend: TestBackend::Postgres,
        _cleanup: Cleanup::Postgres(guard),
    }
}

/// `url` with its database (path) replaced by `database`, query string kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{database}?{q}"),
        None => format!("{root}/{database}"),
    }
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (admin_url, database) = (self.admin_url.clone(), self.database.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // a thread with its own runtime does the work, and is waited for so
        // the database is gone before the test process exits.
        let cleaner = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url).await?;
                // FORCE ends the connections the store's pool still holds.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await
            })
        });
        match cleaner.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("test database not dropped: {e}"),
            Err(_) => eprintln!("test database not dropped: cleanup thread panicked"),
        }
    }
}

// ---- Seed data -----------------------------------------------------------

/// A professional and their tenant context in the structure they were seeded in.
#[derive(Debug, Clone)]
pub struct Member {
    pub professional: Professional,
    pub tenant: Tenant,
}

/// Two structures of one instance and their teams.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Structure A, a CSAPA (anonymity allowed).
    pub csapa: Structure,
    /// Structure B, a CAARUD.
    pub caarud: Structure,
    /// A: médecin (reads every class of note).
    pub medecin: Member,
    /// A: travailleur social (shared and social notes, never medical ones).
    pub social: Member,
    /// A: accueil (shared notes only).
    pub accueil: Member,
    /// A: directeur (social notes, audit journal).
    pub directeur: Member,
    /// B: médecin and directeur — every right, but in the other structure.
    pub other: Member,
}

pub const CSAPA_FINESS: &str = "640000014";
pub const CSAPA_FINESS_JURIDIQUE: &str = "640000030";
pub const CAARUD_FINESS: &str = "330000027";
pub const CAARUD_FINESS_JURIDIQUE: &str = "330000043";

pub async fn create_structure(
    store: &DynStore,
    name: &str,
    kind: StructureKind,
    finess_geo: &str,
    finess_juridique: &str,
) -> Structure {
    store
        .create_structure(
            &NewStructure {
                name: name.to_string(),
                kind,
                finess_geo: finess_geo.to_string(),
                finess_juridique: finess_juridique.to_string(),
            },
            &|_| Vec::new(),
        )
        .await
        .expect("create structure")
}

pub async fn create_professional(
    store: &DynStore,
    first_name: &str,
    last_name: &str,
    national_id: Option<&str>,
    profession: &str,
) -> Professional {
    store
        .create_professional(
            &NewProfessional {
                first_name: first_name.to_string(),
                last_name: last_name.to_string(),
                national_id: national_id.map(str::to_string),
                profession: profession.to_string(),
                instance_admin: false,
            },
            &|_| Vec::new(),
        )
        .await
        .expect("create professional")
}

/// Creates the professional, grants the roles in `structure`, returns the tenant.
pub async fn seed_member(
    store: &DynStore,
    structure: &Structure,
    (first_name, last_name, national_id, profession): (&str, &str, Option<&str>, &str),
    roles: &[Role],
) -> Member {
    let professional =
        create_professional(store, first_name, last_name, national_id, profession).await;
    for role in roles {
        store
            .grant_role(structure.id, professional.id, *role, &[])
            .await
            .expect("grant role");
    }
    let tenant = store
        .tenant_for(professional.id, structure.id)
        .await
        .expect("tenant_for")
        .expect("a member has a tenant");
    Member {
        professional,
        tenant,
    }
}

/// Structure A (CSAPA) with a médecin, a travailleur social, an accueil and a
/// directeur; structure B (CAARUD) with one médecin-directeur.
pub async fn seed_two_structures(store: &DynStore) -> Fixture {
    let csapa = create_structure(
        store,
        "CSAPA Les Embruns",
        StructureKind::Csapa,
        CSAPA_FINESS,
        CSAPA_FINESS_JURIDIQUE,
    )
    .await;
    let caarud = create_structure(
        store,
        "CAARUD La Passerelle",
        StructureKind::Caarud,
        CAARUD_FINESS,
        CAARUD_FINESS_JURIDIQUE,
    )
    .await;
    let medecin = seed_member(
        store,
        &csapa,
        ("Claire", "Bernard", Some("810000000017"), "Médecin"),
        &[Role::Medecin],
    )
    .await;
    let social = seed_member(
        store,
        &csapa,
        (
            "Karim",
            "Durand",
            Some("810000000033"),
            "Assistant de service social",
        ),
        &[Role::TravailleurSocial],
    )
    .await;
    let accueil = seed_member(
        store,
        &csapa,
        (
            "Léa",
            "Martin",
            Some("810000000041"),
            "Secrétaire d'accueil",
        ),
        &[Role::Accueil],
    )
    .await;
    let directeur = seed_member(
        store,
        &csapa,
        ("Paul", "Petit", Some("810000000058"), "Directeur"),
        &[Role::Directeur],
    )
    .await;
    let other = seed_member(
        store,
        &caarud,
        ("Inès", "Roux", Some("810000000025"), "Médecin"),
        &[Role::Medecin, Role::Directeur],
    )
    .await;
    Fixture {
        csapa,
        caarud,
        medecin,
        social,
        accueil,
        directeur,
        other,
    }
}

/// The INS of ADRUN ZOE, a CNDA test person (test OID).
pub fn zoe_ins() -> escale::domain::ins::Ins {
    use escale::domain::ins::{Ins, InsOid, Matricule};
    Ins {
        matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
        oid: InsOid::NirTest,
    }
}

/// `u` made qualified (INSi answer with [`zoe_ins`], then an identity
/// document checked), its identity unchanged.
pub async fn qualify(
    store: &DynStore,
    t: &Tenant,
    u: &escale::store::Usager,
) -> escale::store::Usager {
    use escale::domain::identity::{DocumentCheck, InsRetrieval, Vigilance};
    let qualified = Vigilance::provisional()
        .confirm_insi(InsRetrieval {
            ins: zoe_ins(),
            history: vec![],
            retrieved_at: chrono::Utc::now(),
            retrieved_by: "test".into(),
            key_mismatch: false,
        })
        .unwrap()
        .record_document(DocumentCheck {
            kind: "CN".into(),
            checked_by: "test".into(),
            checked_at: chrono::Utc::now(),
        })
        .unwrap();
    store
        .set_vigilance(t, u.id, u.version, &u.data.identity, &qualified, &[])
        .await
        .unwrap()
}

/// An anonymous reception's file under `alias`.
pub async fn anonymous(store: &DynStore, t: &Tenant, alias: &str) -> escale::store::Usager {
    use escale::domain::usager::{Contact, Identity, UsagerData};
    store
        .create_usager(
            t,
            &UsagerData {
                identity: Identity::Anonymous {
                    alias: alias.into(),
                    sex: None,
                    birth_year: None,
                },
                contact: Contact::default(),
            },
            &[],
        )
        .await
        .unwrap()
}

/// The details of the structure's journal entries of `action`, newest first.
pub async fn journal_details(store: &DynStore, t: &Tenant, action: &str) -> Vec<String> {
    store
        .audit_entries(
            t,
            &escale::store::AuditFilter {
                action: Some(action.into()),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.details)
        .collect()
}
