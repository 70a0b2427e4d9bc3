//! Reception's search (issue 12), a store contract on both databases: what
//! a receptionist types finds the file whatever its accents, case, hyphens,
//! particles or name of use; the order puts the name typed first; merged
//! files and other structures' files never appear; and SQLite's FTS5 table
//! stays in step with the files through every write.

use chrono::NaiveDate;
use sqlx::Connection;
use uuid::Uuid;

use escale::domain::identity::{DocumentCheck, IdentityStatus};
use escale::domain::search::terms;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::services::identity_quality;
use std::sync::Arc;

use escale::store::{
    DynStore, Listed, SearchMemorySettings, SqlStore, Usager, UsagerQuery, UsagerStore,
};

use crate::common::db::{TestBackend, TestDb, seed_two_structures};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn person(birth: &str, used: Option<&str>, firsts: &str, born: NaiveDate) -> UsagerData {
    UsagerData {
        identity: Identity::Traits {
            birth_name: birth.into(),
            first_names: firsts.into(),
            used_name: used.map(Into::into),
            used_first_name: None,
            birth_date: born,
            sex: Sex::F,
            birth_place_code: None,
        },
        contact: Contact::default(),
    }
}

fn alias(name: &str) -> UsagerData {
    UsagerData {
        identity: Identity::Anonymous {
            alias: name.into(),
            sex: None,
            birth_year: None,
        },
        contact: Contact::default(),
    }
}

fn q(text: &str) -> UsagerQuery {
    UsagerQuery {
        terms: terms(text),
        birth_date: None,
        limit: 50,
    }
}

fn q_born(text: &str, born: NaiveDate) -> UsagerQuery {
    UsagerQuery {
        birth_date: Some(born),
        ..q(text)
    }
}

/// The test's store, and a second process on the same database that keeps
/// every structure's keys in memory (`from_files: 0`): each search is asked
/// of both, and must give the same files in the same order (the files'
/// keys in order: homonyms may come in either order). The writes go
/// through the first, so the second also shows that it follows another
/// process's writes.
struct Stores {
    plain: DynStore,
    memory: Arc<SqlStore>,
}

impl Stores {
    async fn of(db: &TestDb) -> Stores {
        let memory = SqlStore::connect(&db.url)
            .await
            .expect("a second store")
            .with_search_memory(SearchMemorySettings {
                budget_bytes: 64 << 20,
                from_files: 0,
                // Several slices even in a small structure.
                load_slice: 2,
            });
        Stores {
            plain: db.store.clone(),
            memory: Arc::new(memory),
        }
    }
}

async fn find(s: &Stores, t: &escale::domain::tenant::Tenant, query: &UsagerQuery) -> Vec<Uuid> {
    let plain = s.plain.search_usagers(t, query).await.unwrap();
    let memory = s.memory.search_usagers(t, query).await.unwrap();
    let keys = |v: &[Listed]| v.iter().map(|u| u.search_key.clone()).collect::<Vec<_>>();
    let sorted = |v: &[Listed]| {
        let mut ids: Vec<Uuid> = v.iter().map(|u| u.id).collect();
        ids.sort();
        ids
    };
    // Memory keeps the listed columns too: each file it lists is what the
    // database lists of it (names, dates, identity status).
    let by_id = |v: &[Listed]| {
        let mut rows = v.to_vec();
        rows.sort_by_key(|u| u.id);
        rows
    };
    if (plain.len() as i64) < query.limit {
        assert_eq!(
            keys(&memory),
            keys(&plain),
            "{:?}: from memory",
            query.terms
        );
        assert_eq!(
            by_id(&memory),
            by_id(&plain),
            "{:?}: from memory",
            query.terms
        );
    } else {
        // A full page: the database's is some of the files (the first by
        // name only within the prefix group), memory's the first of them
        // all, in order.
        let all = UsagerQuery {
            limit: UsagerQuery::MAX_LIMIT,
            ..query.clone()
        };
        let every = s.memory.search_usagers(t, &all).await.unwrap();
        assert_eq!(
            keys(&memory),
            keys(&every)[..memory.len()],
            "{:?}",
            query.terms
        );
        assert_eq!(memory.len(), plain.len(), "{:?}: from memory", query.terms);
        let every = sorted(&every);
        assert!(
            plain.iter().all(|u| every.contains(&u.id)),
            "{:?}",
            query.terms
        );
        for u in &memory {
            if let Some(db) = plain.iter().find(|p| p.id == u.id) {
                assert_eq!(u, db, "{:?}: from memory", query.terms);
            }
        }
    }
    if query.birth_date.is_none() && query.terms.iter().any(|t| t.len() >= 3) {
        // Held, and exactly the structure's live files.
        let live = s.plain.count_usagers(t).await.unwrap() as usize;
        assert_eq!(
            s.memory.held_in_memory(t.structure_id),
            Some(live),
            "{:?}: not answered from memory, or not the live files",
            query.terms
        );
    }
    plain.into_iter().map(|u| u.id).collect()
}

both_backends!(reception_finds_what_is_typed);
async fn reception_finds_what_is_typed(db: TestDb) {
    let store = &db.store;
    let s = Stores::of(&db).await;
    let f = seed_two_structures(store).await;
    let t = &f.accueil.tenant;
    let born = date(1984, 2, 29);
    let mut made = Vec::new();
    for d in [
        person("Saint-Exupéry", None, "Marie-Hélène", born),
        person("de La Fontaine", None, "Jean Pierre", date(1970, 1, 1)),
        person("d'Aubigné", Some("Lemaître"), "Éloïse", date(1990, 6, 15)),
        person("Durand", Some("Dupont"), "Zoé", born),
        person("Dupont", None, "Marc", date(1961, 12, 31)),
        person("Leduc", None, "Ondine", born),
        person("Ndiaye", None, "Awa", date(2001, 4, 2)),
    ] {
        made.push(store.create_usager(t, &d, &[]).await.unwrap().id);
    }
    let [exupery, fontaine, aubigne, durand, dupont, leduc, ndiaye] = made[..] else {
        unreachable!()
    };
    let renard = store
        .create_usager(t, &alias("Renard-Bleu"), &[])
        .await
        .unwrap()
        .id;

    // Accents, case, hyphens: however it is typed.
    for typed in [
        "saint exupery",
        "SAINT-EXUPÉRY",
        "Exupéry",
        "xupe",
        "marie helene",
        "HÉLÈNE",
    ] {
        assert_eq!(find(&s, t, &q(typed)).await, vec![exupery], "{typed}");
    }
    // Particles and apostrophes: with or without them.
    for typed in [
        "fontaine",
        "la fontaine",
        "de la fontaine",
        "DE LA FONT",
        "jean pierre",
    ] {
        assert_eq!(find(&s, t, &q(typed)).await, vec![fontaine], "{typed}");
    }
    for typed in ["aubigne", "d'aubigné", "d aubigne", "eloise"] {
        assert_eq!(find(&s, t, &q(typed)).await, vec![aubigne], "{typed}");
    }
    // Birth name and name of use, in either order.
    assert_eq!(find(&s, t, &q("lemaitre eloise")).await, vec![aubigne]);
    assert_eq!(find(&s, t, &q("aubigne lemaitre")).await, vec![aubigne]);
    assert_eq!(find(&s, t, &q("dupont zoe")).await, vec![durand]);
    assert_eq!(find(&s, t, &q("zoe durand")).await, vec![durand]);
    // The birth name typed first comes first; then a name of use that
    // starts with it; then the names that hold it elsewhere.
    assert_eq!(find(&s, t, &q("dupont")).await, vec![dupont, durand]);
    assert_eq!(find(&s, t, &q("DUC")).await, vec![leduc]);
    assert_eq!(find(&s, t, &q("ondi")).await, vec![leduc]);
    // Pseudonyms of anonymous files.
    assert_eq!(find(&s, t, &q("renard bleu")).await, vec![renard]);
    assert_eq!(find(&s, t, &q("bleu")).await, vec![renard]);
    // One or two letters: the start of a name (initials), never its inside.
    assert_eq!(find(&s, t, &q("du")).await, vec![dupont, durand]);
    assert_eq!(find(&s, t, &q("n")).await, vec![ndiaye]);
    assert_eq!(find(&s, t, &q("dupont m")).await, vec![dupont]);
    assert_eq!(find(&s, t, &q("leduc o")).await, vec![leduc]);
    assert!(find(&s, t, &q("uc")).await.is_empty());
    // A birth date alone, and with a name: the name typed first comes first.
    assert_eq!(
        find(&s, t, &q_born("", born)).await,
        vec![durand, leduc, exupery]
    );
    assert_eq!(find(&s, t, &q_born("du", born)).await, vec![durand]);
    assert_eq!(find(&s, t, &q_born("dupont", born)).await, vec![durand]);
    assert_eq!(find(&s, t, &q_born("ondine", born)).await, vec![leduc]);
    assert_eq!(find(&s, t, &q_born("le", born)).await, vec![leduc]);
    assert!(find(&s, t, &q_born("marc", born)).await.is_empty());
    assert!(find(&s, t, &q_born("", date(1984, 3, 1))).await.is_empty());
    // Hostile text is a term like another.
    assert!(
        find(&s, t, &q("'); DROP TABLE usagers;--"))
            .await
            .is_empty()
    );
    assert!(
        find(&s, t, &q("<script>alert(1)</script>"))
            .await
            .is_empty()
    );
    let stray = UsagerQuery {
        terms: vec!["%".into(), "_\\".into(), "\"A\"".into()],
        birth_date: None,
        limit: 50,
    };
    assert!(store.search_usagers(t, &stray).await.unwrap().is_empty());

    // Other structures' files never appear, whatever is typed.
    let other = &f.other.tenant;
    store
        .create_usager(
            other,
            &person("Dupont", None, "Marc", date(1961, 12, 31)),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(find(&s, t, &q("dupont marc")).await, vec![dupont]);
    assert_eq!(find(&s, other, &q("zoe")).await, Vec::<Uuid>::new());
    assert_eq!(find(&s, other, &q("")).await.len(), 1);
    assert_eq!(find(&s, other, &q_born("", born)).await, Vec::<Uuid>::new());
    assert_eq!(find(&s, other, &q("du")).await.len(), 1);
}

both_backends!(the_order_and_the_limit_hold_across_the_indexes);
async fn the_order_and_the_limit_hold_across_the_indexes(db: TestDb) {
    let store = &db.store;
    let s = Stores::of(&db).await;
    let f = seed_two_structures(store).await;
    let t = &f.accueil.tenant;
    // Names starting with MART (the b-tree), others holding it (the trigram
    // index), and one starting it in a first name.
    let born = date(1975, 5, 5);
    let mut starts = Vec::new();
    for n in ["Martin", "Martineau", "Marteau"] {
        starts.push(
            store
                .create_usager(t, &person(n, None, "Paul", born), &[])
                .await
                .unwrap(),
        );
    }
    let first_name = store
        .create_usager(t, &person("Bernard", None, "Marthe", born), &[])
        .await
        .unwrap();
    let inside = store
        .create_usager(t, &person("Lamartine", None, "Alphonse", born), &[])
        .await
        .unwrap();
    store
        .create_usager(t, &person("Moreau", None, "Paul", born), &[])
        .await
        .unwrap();
    let ids = |v: &[Usager]| v.iter().map(|u| u.id).collect::<Vec<_>>();
    let mut starts_sorted = starts.clone();
    starts_sorted.sort_by_key(|u| u.data.identity.search_key());
    let expected: Vec<Uuid> = ids(&starts_sorted)
        .into_iter()
        .chain([first_name.id, inside.id])
        .collect();
    assert_eq!(find(&s, t, &q("mart")).await, expected);
    assert_eq!(find(&s, t, &q_born("mart", born)).await, expected);
    // Every limit cuts the same order, each file once.
    for limit in 1..=6 {
        let query = UsagerQuery { limit, ..q("mart") };
        assert_eq!(
            find(&s, t, &query).await,
            expected[..(limit as usize).min(expected.len())],
            "limit {limit}"
        );
    }
    // Nothing typed: every file, by name.
    let all = find(&s, t, &q("")).await;
    assert_eq!(all.len(), 6);
    assert_eq!(all[0], first_name.id);
}

both_backends!(the_search_index_follows_every_write);
/// Create, edit, merge, unmerge, the INS traits written, a batch: after each, the
/// search answers from the files as they are (and, on SQLite, the FTS5 table
/// holds exactly the live files' keys).
async fn the_search_index_follows_every_write(db: TestDb) {
    let store = &db.store;
    let s = Stores::of(&db).await;
    let f = seed_two_structures(store).await;
    let t = &f.accueil.tenant;
    let a = store
        .create_usager(t, &person("Fontaine", None, "Zoé", date(1985, 3, 12)), &[])
        .await
        .unwrap();
    let b = store
        .create_usager(t, &person("Fontaines", None, "Zoe", date(1985, 3, 12)), &[])
        .await
        .unwrap();
    in_step(&db).await;
    assert_eq!(find(&s, t, &q("ntaine")).await, vec![a.id, b.id]);

    store
        .update_usager(
            t,
            b.id,
            b.version,
            &person("Gaillard", None, "Zoé", date(1985, 3, 12)),
            &[],
        )
        .await
        .unwrap();
    in_step(&db).await;
    assert_eq!(find(&s, t, &q("ntaine")).await, vec![a.id]);
    assert_eq!(find(&s, t, &q("illar")).await, vec![b.id]);

    let record = identity_quality::merge_files(store.as_ref(), t, a.id, b.id)
        .await
        .unwrap();
    in_step(&db).await;
    assert!(find(&s, t, &q("illar")).await.is_empty());
    assert_eq!(find(&s, t, &q("zoe")).await, vec![a.id]);

    store.unmerge(t, record.id, &|_| Vec::new()).await.unwrap();
    in_step(&db).await;
    assert_eq!(find(&s, t, &q("illar")).await, vec![b.id]);
    assert_eq!(find(&s, t, &q("zoe")).await, vec![a.id, b.id]);

    // The identity replaced by the INS traits (qualification writes them).
    let current = store.get_usager(t, a.id).await.unwrap().unwrap();
    let ins_traits = person("Fontaine-Marchal", None, "Zoé", date(1985, 3, 12)).identity;
    store
        .set_vigilance(
            t,
            a.id,
            current.version,
            &ins_traits,
            &current.vigilance,
            &[],
        )
        .await
        .unwrap();
    in_step(&db).await;
    assert_eq!(find(&s, t, &q("marchal")).await, vec![a.id]);

    // Only the identity's status changes (a document checked: VALI): the
    // list shows it, from memory too (`find` compares the rows).
    let current = store.get_usager(t, a.id).await.unwrap().unwrap();
    let checked = current
        .vigilance
        .record_document(DocumentCheck {
            kind: "CN".into(),
            checked_by: "Agent d'accueil".into(),
            checked_at: chrono::Utc::now(),
        })
        .unwrap();
    store
        .set_vigilance(t, a.id, current.version, &ins_traits, &checked, &[])
        .await
        .unwrap();
    let listed = s.memory.search_usagers(t, &q("marchal")).await.unwrap();
    assert_eq!(listed[0].status, IdentityStatus::Vali);
    assert_eq!(find(&s, t, &q("marchal")).await, vec![a.id]);

    // A batch of creations (the seeding path) is indexed too.
    let batch: Vec<UsagerData> = (0..30)
        .map(|i| person(&format!("Lot{i:02}ABC"), None, "Camille", date(1999, 1, 1)))
        .collect();
    store.create_usagers(t, &batch, &[]).await.unwrap();
    in_step(&db).await;
    assert_eq!(find(&s, t, &q("ot1")).await.len(), 10);
}

/// SQLite: the FTS5 table holds one row per live file, with its key, at
/// the row the file points to; a merged file points nowhere.
async fn in_step(db: &TestDb) {
    if db.backend != TestBackend::Sqlite {
        return;
    }
    let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    let indexed: Vec<(Option<i64>, String, Vec<u8>)> =
        sqlx::query_as("SELECT rowid, folded, file_id FROM usager_search ORDER BY rowid")
            .fetch_all(&mut c)
            .await
            .unwrap();
    let live: Vec<(Option<i64>, String, Vec<u8>)> = sqlx::query_as(
        "SELECT search_rowid, search_key, id FROM usagers
         WHERE merged_into IS NULL ORDER BY search_rowid",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(indexed, live, "the FTS5 table and the live files differ");
    let merged_pointing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM usagers WHERE merged_into IS NOT NULL AND search_rowid IS NOT NULL",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(merged_pointing, 0);
}

both_backends!(a_file_holding_the_term_twice_counts_once);
/// Files holding the term in two of their names (birth name and name of
/// use): each is listed once, and every limit gives as many distinct files.
async fn a_file_holding_the_term_twice_counts_once(db: TestDb) {
    let store = &db.store;
    let s = Stores::of(&db).await;
    let f = seed_two_structures(store).await;
    let t = &f.accueil.tenant;
    let born = date(1990, 2, 2);
    let mut twice = Vec::new();
    for (birth, used) in [
        ("Montand", "Montagne"),
        ("Montaigu", "Montalba"),
        ("Montanari", "Montauban"),
    ] {
        twice.push(
            store
                .create_usager(t, &person(birth, Some(used), "Yves", born), &[])
                .await
                .unwrap()
                .id,
        );
    }
    let once = store
        .create_usager(t, &person("Dumontant", None, "Yves", born), &[])
        .await
        .unwrap()
        .id;
    let mut all = find(&s, t, &q("onta")).await;
    assert_eq!(all.len(), 4);
    all.sort();
    let mut expected = twice.clone();
    expected.push(once);
    expected.sort();
    assert_eq!(all, expected);
    for limit in 1..=4 {
        let page = find(&s, t, &UsagerQuery { limit, ..q("onta") }).await;
        assert_eq!(page.len(), limit as usize, "limit {limit}");
        let distinct: std::collections::HashSet<_> = page.iter().collect();
        assert_eq!(distinct.len(), page.len(), "limit {limit}: a file twice");
    }
}

both_backends!(memory_is_kept_only_where_it_pays_and_fits);
/// The index in memory follows the writes made through its own store too;
/// a structure smaller than `from_files`, or one that does not fit the
/// budget, is answered by the database, with the same files.
async fn memory_is_kept_only_where_it_pays_and_fits(db: TestDb) {
    let s = Stores::of(&db).await;
    let f = seed_two_structures(&db.store).await;
    let t = &f.accueil.tenant;
    let born = date(1980, 8, 8);
    let mut fontaines = Vec::new();
    for n in ["Fontaine", "Lafontaine", "Fontana"] {
        let u = s
            .memory
            .create_usager(t, &person(n, None, "Jeanne", born), &[])
            .await
            .unwrap();
        fontaines.push(u);
    }
    assert_eq!(find(&s, t, &q("font")).await.len(), 3);
    assert_eq!(s.memory.held_in_memory(t.structure_id), Some(3));
    let edited = &fontaines[2];
    s.memory
        .update_usager(
            t,
            edited.id,
            edited.version,
            &person("Rivière", None, "Jeanne", born),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(find(&s, t, &q("fonta")).await.len(), 2);
    assert_eq!(find(&s, t, &q("riviere")).await, vec![edited.id]);

    let open = |settings: SearchMemorySettings| {
        let url = db.url.clone();
        async move {
            SqlStore::connect(&url)
                .await
                .unwrap()
                .with_search_memory(settings)
        }
    };
    let too_small = open(SearchMemorySettings {
        budget_bytes: 64 << 20,
        from_files: 1000,
        ..Default::default()
    })
    .await;
    let no_room = open(SearchMemorySettings {
        budget_bytes: 1,
        from_files: 0,
        ..Default::default()
    })
    .await;
    let none = open(SearchMemorySettings {
        budget_bytes: 0,
        from_files: 0,
        ..Default::default()
    })
    .await;
    let expected = find(&s, t, &q("jeanne")).await;
    assert_eq!(expected.len(), 3);
    for store in [&too_small, &no_room, &none] {
        let found: Vec<Uuid> = store
            .search_usagers(t, &q("jeanne"))
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(found, expected);
        assert_eq!(store.held_in_memory(t.structure_id), None);
    }
}

/// SQLite only (its write-ahead log; PostgreSQL's is the server's): the
/// files written reach the database file without any writer copying the
/// log there (`store::sqlite::checkpoint`, a task of the store; SQLite's
/// copy on commit is off for the store's connections). Were the task not
/// running, the log would grow for ever and the file would never change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_log_is_copied_back_beside_the_writers() {
    let db = crate::common::db::test_store(TestBackend::Sqlite)
        .await
        .expect("a SQLite test database");
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let t = &f.accueil.tenant;
    let file = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    // The migrations and the seed, copied back once the task has looked.
    let settled = wait_for(|| size() > 0).await;
    assert!(settled);
    let before = size();
    let batch: Vec<UsagerData> = (0..2_000)
        .map(|i| person(&format!("Copie{i:04}"), None, "Camille", date(1990, 1, 1)))
        .collect();
    store.create_usagers(t, &batch, &[]).await.unwrap();
    let grown = wait_for(|| size() > before + 256 * 1024).await;
    assert!(
        grown,
        "2,000 files written, the database file still {} bytes (was {before})",
        size()
    );
    // And what was copied is what was written.
    let listed = store.search_usagers(t, &q("copie1999")).await.unwrap();
    assert_eq!(listed.len(), 1);
}

/// Waits up to five seconds for `done`.
async fn wait_for(done: impl Fn() -> bool) -> bool {
    for _ in 0..100 {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    done()
}
