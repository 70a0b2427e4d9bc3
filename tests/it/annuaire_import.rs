//! Import of the Annuaire Santé open-data files into the local copy, and the
//! directory search over it. Files are generated here with the real header
//! lines of `../shared/spec/psc-annuaire/flat-files/` (never copied into the
//! project): without them the tests say they did not run (and fail in CI).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use escale::domain::directory::{DirectoryQuery, MailboxKind};
use escale::domain::roles::Role;
use escale::services::annuaire_import::{ImportError, ImportSummary, import_file};
use escale::store::DynStore;

use crate::common::db::{TestBackend, TestDb, test_store};

const SPEC_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/spec/psc-annuaire/flat-files"
);
const PS_HEADER: &str = "PS_LibreAcces_Personne_activite.header.txt";
const MSS_HEADER: &str = "Extraction_Correspondance_MSSante.header.txt";

/// The real header line, or `None` (with a message; a panic under CI).
fn real_header(name: &str) -> Option<String> {
    let path = Path::new(SPEC_DIR).join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text.lines().next().unwrap_or_default().to_string()),
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("{} is needed by the annuaire tests: {e}", path.display());
            }
            eprintln!(
                "annuaire import test did not run: {} absent ({e})",
                path.display()
            );
            None
        }
    }
}

/// Builds lines of a file from column name → value (other columns empty).
struct FileShape {
    header: String,
    names: Vec<String>,
}

impl FileShape {
    fn new(header: &str) -> FileShape {
        FileShape {
            header: header.to_string(),
            names: header.split('|').map(str::to_string).collect(),
        }
    }

    /// The header without its last `n` columns (the ≤ 2024 files), with a renamed column.
    fn older(&self, n: usize, rename: (&str, &str)) -> FileShape {
        let mut names: Vec<String> = self.names[..self.names.len() - 1 - n].to_vec();
        for name in &mut names {
            if name == rename.0 {
                *name = rename.1.to_string();
            }
        }
        names.push(String::new());
        FileShape::new(&names.join("|"))
    }

    fn line(&self, values: &[(&str, &str)]) -> String {
        let map: HashMap<&str, &str> = values.iter().copied().collect();
        for (k, _) in values {
            assert!(self.names.iter().any(|n| n == k), "no column {k}");
        }
        self.names
            .iter()
            .map(|n| map.get(n.as_str()).copied().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("|")
    }
}

fn write_file(dir: &Path, name: &str, header: &str, lines: &[Vec<u8>]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).expect("create file");
    f.write_all(header.as_bytes()).unwrap();
    f.write_all(b"\n").unwrap();
    for l in lines {
        f.write_all(l).unwrap();
        f.write_all(b"\n").unwrap();
    }
    path
}

#[allow(clippy::too_many_arguments)]
fn activity<'a>(
    rpps: &'a str,
    id_nat: &'a str,
    last: &'a str,
    first: &'a str,
    profession: (&'a str, &'a str),
    site: (&'a str, &'a str, &'a str, &'a str),
    mode: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("Type d'identifiant PP", "8"),
        ("Identifiant PP", rpps),
        ("Identification nationale PP", id_nat),
        ("Code civilité d'exercice", "DR"),
        ("Nom d'exercice", last),
        ("Prénom d'exercice", first),
        ("Code profession", profession.0),
        ("Libellé profession", profession.1),
        ("Code mode exercice", mode),
        ("Numéro FINESS site", site.0),
        ("Numéro FINESS établissement juridique", site.1),
        ("Raison sociale site", site.2),
        ("Code postal (coord. structure)", site.3),
        ("Libellé commune (coord. structure)", "PAU"),
        ("Code secteur d'activité", "SA07"),
    ];
    v.extend_from_slice(extra);
    v
}

const CSAPA: (&str, &str, &str, &str) = ("640000014", "640000030", "CSAPA LES EMBRUNS", "64000");
const CABINET: (&str, &str, &str, &str) = ("", "", "CABINET DU DR DUPONT", "64100");

/// Header on line 1, then: Marie DUPONT (lines 2-3, two activities), Jean
/// DUPONTEL, Anne-Sophie LE GALL, Lucie BERNARD (RPPS+ educator), bad lines
/// 7 (short), 8 (RPPS), 9 (not UTF-8), then Paul ÉTIENNE-MARTIN on line 10.
fn ps_lines(shape: &FileShape) -> Vec<Vec<u8>> {
    let medecin = ("10", "Médecin");
    let mut lines = vec![
        shape.line(&activity(
            "10000001916",
            "810000001916",
            "DUPONT",
            "Marie",
            medecin,
            CSAPA,
            "S",
            &[],
        )),
        shape.line(&activity(
            "10000001916",
            "810000001916",
            "DUPONT",
            "Marie",
            medecin,
            CABINET,
            "L",
            &[],
        )),
        shape.line(&activity(
            "10000005479",
            "810000005479",
            "DUPONTEL",
            "Jean",
            medecin,
            CABINET,
            "L",
            &[],
        )),
        shape.line(&activity(
            "10005355572",
            "810005355572",
            "LE GALL",
            "Anne-Sophie",
            ("60", "Infirmier"),
            CSAPA,
            "S",
            &[],
        )),
    ];
    let mut educator = activity(
        "10100000005",
        "810100000005",
        "BERNARD",
        "Lucie",
        ("51", ""),
        CSAPA,
        "S",
        &[],
    );
    if shape.names.iter().any(|n| n == "Code fonction") {
        educator.push(("Code fonction", "326"));
        educator.push(("Libellé fonction", "Educateur spécialisé"));
    }
    educator.retain(|(k, _)| *k != "Code civilité d'exercice");
    lines.push(shape.line(&educator));
    let mut out: Vec<Vec<u8>> = lines.into_iter().map(String::into_bytes).collect();
    out.push(b"810000000999|TROP COURTE|".to_vec());
    out.push(
        shape
            .line(&activity(
                "1234ABC",
                "81234ABC",
                "FAUX",
                "Numéro",
                medecin,
                CSAPA,
                "S",
                &[],
            ))
            .into_bytes(),
    );
    let mut not_utf8 = shape
        .line(&activity(
            "10000000009",
            "810000000009",
            "MALCODE",
            "X",
            medecin,
            CSAPA,
            "S",
            &[],
        ))
        .into_bytes();
    let at = not_utf8.iter().position(|&b| b == b'X').unwrap();
    not_utf8.splice(at..at + 1, [0xC3, 0x28, 0xFF]);
    out.push(not_utf8);
    out.push(
        shape
            .line(&activity(
                "10000000017",
                "810000000017",
                "ÉTIENNE-MARTIN",
                "Paul",
                ("93", "Psychologue"),
                CSAPA,
                "S",
                &[],
            ))
            .into_bytes(),
    );
    out
}

fn mss_lines(shape: &FileShape) -> Vec<Vec<u8>> {
    let per = |address: &str, rpps: &str, id_nat: &str| {
        shape.line(&[
            ("Type de BAL", "PER"),
            ("Adresse BAL", address),
            ("Type Identifiant PP", "8"),
            ("Identifiant PP", rpps),
            ("Identification nationale PP", id_nat),
            ("Type identifiant structure", "1"),
            ("Identification Structure", "1640000014"),
            ("Nom d'exercice", "X"),
        ])
    };
    let org = |address: &str, service: &str| {
        shape.line(&[
            ("Type de BAL", "ORG"),
            ("Adresse BAL", address),
            ("Type identifiant structure", "1"),
            ("Identification Structure", "1640000014"),
            ("Service de rattachement", service),
            ("Raison Sociale structure BAL", "CSAPA LES EMBRUNS"),
        ])
    };
    vec![
        per(
            "marie.dupont@medecin.mssante.fr",
            "10000001916",
            "810000001916",
        ),
        per(
            "lucie.bernard@csapa-embruns.mssante.fr",
            "10100000005",
            "810100000005",
        ),
        org("accueil@csapa-embruns.mssante.fr", "Accueil"),
        // The extraction lists some addresses twice: one box, the last line wins.
        org("Accueil@csapa-embruns.mssante.fr", "Accueil du CSAPA"),
        org("medical@csapa-embruns.mssante.fr", "Pôle médical"),
        shape.line(&[("Type de BAL", "XYZ"), ("Adresse BAL", "x@y.fr")]),
        per("sans.rpps@exemple.mssante.fr", "", ""),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

async fn import(store: &DynStore, path: &Path) -> ImportSummary {
    import_file(store.as_ref(), path, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("import {}: {e}", path.display()))
}

fn name(last: &str, first: Option<&str>) -> DirectoryQuery {
    DirectoryQuery::Name {
        last_name: last.into(),
        first_name: first.map(str::to_string),
    }
}

async fn names(store: &DynStore, q: DirectoryQuery) -> Vec<String> {
    store
        .search_directory(&q, 20)
        .await
        .expect("search")
        .iter()
        .map(|p| format!("{} {}", p.last_name, p.first_name))
        .collect()
}

async fn import_search_and_reimport(db: TestDb) {
    let (Some(ps), Some(mss)) = (real_header(PS_HEADER), real_header(MSS_HEADER)) else {
        return;
    };
    let store = &db.store;
    let dir = tempfile::tempdir().unwrap();
    assert!(!store.directory_counts().await.unwrap().is_present());

    let ps_shape = FileShape::new(&ps);
    let ps_path = write_file(
        dir.path(),
        "PS_LibreAcces_Personne_activite_202611230000.txt",
        &ps,
        &ps_lines(&ps_shape),
    );
    let s = import(store, &ps_path).await;
    assert_eq!(s.rows_read, 9);
    assert_eq!((s.persons, s.situations), (5, 6));
    assert_eq!(s.bad_lines, 3, "{:?}", s.bad_line_samples);
    let bad: Vec<u64> = s.bad_line_samples.iter().map(|b| b.line).collect();
    assert_eq!(bad, vec![7, 8, 9]);
    let reasons: Vec<&str> = s
        .bad_line_samples
        .iter()
        .map(|b| b.reason.as_str())
        .collect();
    assert!(reasons[0].contains("colonnes au lieu de 56"), "{reasons:?}");
    assert!(
        reasons[1].contains("RPPS « 1234ABC » invalide"),
        "{reasons:?}"
    );
    assert!(reasons[2].contains("non UTF-8"), "{reasons:?}");
    let text = s.french();
    assert!(
        text.contains("9 lignes lues, 3 lignes ignorées : ligne 7 ("),
        "{text}"
    );
    assert!(text.contains("lignes/s"), "{text}");

    // Name prefix, accents and hyphens folded.
    assert_eq!(
        names(store, name("dupon", None)).await,
        vec!["DUPONT Marie", "DUPONTEL Jean"]
    );
    assert_eq!(
        names(store, name("Dupont", Some("jean"))).await,
        vec!["DUPONTEL Jean"]
    );
    assert_eq!(
        names(store, name("etienne martin", None)).await,
        vec!["ÉTIENNE-MARTIN Paul"]
    );
    assert_eq!(
        names(store, name("Etienne-Mar", None)).await,
        vec!["ÉTIENNE-MARTIN Paul"]
    );
    // « Le Gall » typed in one box: « Gall » is not a first name here.
    assert_eq!(
        names(store, DirectoryQuery::parse("Le Gall").unwrap()).await,
        vec!["LE GALL Anne-Sophie"]
    );
    assert_eq!(
        names(store, name("le gall", Some("sophie"))).await,
        vec!["LE GALL Anne-Sophie"]
    );
    assert!(names(store, name("%", None)).await.is_empty());
    assert!(names(store, name("DURAND", None)).await.is_empty());

    // Identifiers: RPPS, idNat_PS.
    for id in ["10000001916", "810000001916", " 8100 0000 1916 "] {
        let found = store
            .search_directory(&DirectoryQuery::Identifier(id.into()), 5)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{id}");
        let marie = &found[0];
        assert_eq!(marie.rpps.as_deref(), Some("10000001916"));
        assert_eq!(marie.civility.as_deref(), Some("DR"));
        assert_eq!(marie.professions.len(), 1);
        assert_eq!(marie.professions[0].label, "Médecin");
        assert_eq!(marie.situations.len(), 2);
        assert_eq!(
            marie.situations[0].workplace.finess.as_deref(),
            Some("640000014")
        );
        assert_eq!(marie.situations[0].mode.as_deref(), Some("S"));
        assert_eq!(marie.situations[1].workplace.name, "CABINET DU DR DUPONT");
    }

    // The RPPS+ social worker comes back with her role and situation.
    let lucie = store
        .search_directory(&DirectoryQuery::Identifier("10100000005".into()), 5)
        .await
        .unwrap();
    let lucie = &lucie[0];
    assert_eq!(lucie.professions[0].code, "51");
    assert_eq!(lucie.professions[0].label, "Éducateur spécialisé");
    let role = lucie.situations[0].role.as_ref().expect("RPPS+ role");
    assert_eq!(
        (role.code.as_str(), role.label.as_str()),
        ("326", "Educateur spécialisé")
    );
    assert_eq!(lucie.situations[0].workplace.name, "CSAPA LES EMBRUNS");
    assert_eq!(lucie.situations[0].sector.as_deref(), Some("SA07"));
    assert_eq!(lucie.suggested_roles(), vec![Role::Educateur]);

    // MSSanté: personal boxes on their owner, organisational ones on the structure.
    let mss_path = write_file(
        dir.path(),
        "Extraction_Correspondance_MSSante_202611230000.txt",
        &mss,
        &mss_lines(&FileShape::new(&mss)),
    );
    let m = import(store, &mss_path).await;
    assert_eq!(m.rows_read, 7);
    assert_eq!(m.bad_lines, 2, "{:?}", m.bad_line_samples);
    assert_eq!(
        m.bad_line_samples
            .iter()
            .map(|b| b.line)
            .collect::<Vec<_>>(),
        vec![7, 8]
    );
    assert!(m.bad_line_samples[0].reason.contains("XYZ"));
    assert!(
        m.bad_line_samples[1]
            .reason
            .contains("identification nationale PP absente")
    );
    let found = store
        .search_directory(&name("Dupont", Some("Marie")), 5)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].mailboxes.len(), 1);
    assert_eq!(
        found[0].mailboxes[0].address,
        "marie.dupont@medecin.mssante.fr"
    );
    assert_eq!(found[0].mailboxes[0].kind, MailboxKind::Personnelle);
    let org = store
        .directory_organization_mailboxes("640000014")
        .await
        .unwrap();
    let org: Vec<(&str, Option<&str>)> = org
        .iter()
        .map(|b| (b.address.as_str(), b.description.as_deref()))
        .collect();
    assert_eq!(
        org,
        vec![
            ("accueil@csapa-embruns.mssante.fr", Some("Accueil du CSAPA")),
            ("medical@csapa-embruns.mssante.fr", Some("Pôle médical")),
        ]
    );

    let counts = store.directory_counts().await.unwrap();
    assert_eq!(
        (counts.persons, counts.situations, counts.mailboxes),
        (5, 6, 4)
    );
    assert!(counts.is_present());
    assert_eq!(counts.last_imports.len(), 2);
    assert!(counts.last_import_at().is_some());

    // Importing the same files again changes nothing.
    let again = import(store, &ps_path).await;
    assert_eq!(
        (again.rows_written, again.removed),
        (0, 0),
        "{}",
        again.french()
    );
    let again = import(store, &mss_path).await;
    assert_eq!(
        (again.rows_written, again.removed),
        (0, 0),
        "{}",
        again.french()
    );
    let counts2 = store.directory_counts().await.unwrap();
    assert_eq!(
        (counts2.persons, counts2.situations, counts2.mailboxes),
        (5, 6, 4)
    );
    assert_eq!(names(store, name("DUPONT", Some("Marie"))).await.len(), 1);

    // A newer full file: DUPONTEL is gone, DUPONT has one activity left.
    let newer: Vec<Vec<u8>> = ps_lines(&ps_shape)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 2)
        .map(|(_, l)| l)
        .collect();
    let newer_path = write_file(
        dir.path(),
        "PS_LibreAcces_Personne_activite_202611240000.txt",
        &ps,
        &newer,
    );
    let s = import(store, &newer_path).await;
    assert_eq!(s.removed, 1, "{}", s.french());
    assert!(s.purge_skipped.is_none());
    let counts3 = store.directory_counts().await.unwrap();
    assert_eq!((counts3.persons, counts3.situations), (4, 4));
    assert!(names(store, name("DUPONTEL", None)).await.is_empty());
    let marie = store
        .search_directory(&name("DUPONT", Some("Marie")), 5)
        .await
        .unwrap();
    assert_eq!(marie[0].situations.len(), 1);
    assert_eq!(counts3.last_imports[0].removed, 1);
}
both_backends!(import_search_and_reimport);

async fn older_header_still_imports(db: TestDb) {
    let Some(ps) = real_header(PS_HEADER) else {
        return;
    };
    let shape = FileShape::new(&ps).older(
        4,
        (
            "Code département (coord. structure)",
            "Code Département (structure)",
        ),
    );
    assert!(!shape.header.contains("Code fonction"));
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "PS_LibreAcces_Personne_activite_202401010000.txt",
        &shape.header,
        &ps_lines(&shape),
    );
    let s = import(&db.store, &path).await;
    assert_eq!((s.persons, s.situations, s.bad_lines), (5, 6, 3));
    assert!(s.bad_line_samples[0].reason.contains("au lieu de 52"));
    let lucie = db
        .store
        .search_directory(&name("Bernard", Some("Lucie")), 5)
        .await
        .unwrap();
    assert_eq!(lucie[0].professions[0].code, "51");
    assert_eq!(lucie[0].situations[0].role, None);
    assert_eq!(lucie[0].suggested_roles(), vec![Role::Educateur]);
}
both_backends!(older_header_still_imports);

async fn unknown_or_unreadable_files_are_refused(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let other = write_file(
        dir.path(),
        "PS_LibreAcces_SavoirFaire_202611230000.txt",
        "Type d'identifiant PP|Identifiant PP|Identification nationale PP|Nom d'exercice|Prénom d'exercice|Code profession|",
        &[],
    );
    let e = import_file(db.store.as_ref(), &other, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, ImportError::UnknownHeader { .. }), "{e}");
    assert!(e.to_string().contains("savoir-faire"), "{e}");
    let e = import_file(
        db.store.as_ref(),
        &dir.path().join("absent.txt"),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ImportError::Read { .. }), "{e}");
    let empty = write_file(dir.path(), "vide.txt", "", &[]);
    std::fs::write(&empty, b"").unwrap();
    let e = import_file(db.store.as_ref(), &empty, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, ImportError::Empty { .. }), "{e}");
    assert!(!db.store.directory_counts().await.unwrap().is_present());
}
both_backends!(unknown_or_unreadable_files_are_refused);

/// Peak resident memory of this process (kB), Linux only.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Writes `rows` activity lines (persons with 1 or 2 activities) with the real header.
fn generate_big_file(path: &Path, header: &str, rows: usize) -> (usize, usize) {
    let shape = FileShape::new(header);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "{header}").unwrap();
    let (mut persons, mut written) = (0usize, 0usize);
    while written < rows {
        let rpps = format!("{:011}", 10_000_000_000u64 + persons as u64);
        let id_nat = format!("8{rpps}");
        let last = format!("NOM{:06}", persons % 250_000);
        let first = format!("PRENOM{}", persons % 977);
        let n = if persons % 3 == 0 { 2 } else { 1 };
        for k in 0..n.min(rows - written) {
            let site = if k == 0 { CSAPA } else { CABINET };
            let line = shape.line(&activity(
                &rpps,
                &id_nat,
                &last,
                &first,
                ("10", "Médecin"),
                site,
                "S",
                &[("Code fonction", "FON-01"), ("Libellé fonction", "Médecin")],
            ));
            writeln!(f, "{line}").unwrap();
            written += 1;
        }
        persons += 1;
    }
    f.flush().unwrap();
    (persons, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_million_rows_import_in_bounded_memory() {
    let Some(ps) = real_header(PS_HEADER) else {
        return;
    };
    let db = test_store(TestBackend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("PS_LibreAcces_Personne_activite_209901010000.txt");
    let (persons, rows) = generate_big_file(&path, &ps, 500_000);
    let size = std::fs::metadata(&path).unwrap().len();
    let before = peak_rss_kb();
    let mut calls = 0u64;
    let mut last_bytes = 0;
    let s = import_file(db.store.as_ref(), &path, &mut |p| {
        calls += 1;
        assert!(p.bytes >= last_bytes && p.total_bytes == Some(size));
        last_bytes = p.bytes;
    })
    .await
    .unwrap();
    let after = peak_rss_kb();
    assert_eq!(s.rows_read, rows as u64);
    assert_eq!(s.bad_lines, 0, "{:?}", s.bad_line_samples);
    assert_eq!(s.persons, persons as u64);
    assert_eq!(last_bytes, size);
    assert!(calls > 100);
    let counts = db.store.directory_counts().await.unwrap();
    assert_eq!(counts.persons, persons as i64);
    assert_eq!(counts.situations, rows as i64);
    eprintln!("{}", s.french());
    if let (Some(before), Some(after)) = (before, after) {
        let grown_mb = after.saturating_sub(before) / 1024;
        eprintln!(
            "file {} MB; peak RSS {} MB before, {} MB after (+{grown_mb} MB)",
            size / 1_048_576,
            before / 1024,
            after / 1024
        );
        assert!(grown_mb < 200, "peak memory grew by {grown_mb} MB");
    }
    let hit = db
        .store
        .search_directory(&name("NOM000123", Some("PRENOM123")), 10)
        .await
        .unwrap();
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0].situations.len(), 2);
}

async fn import_from_the_command_line(db: TestDb) {
    let Some(ps) = real_header(PS_HEADER) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let good = write_file(
        dir.path(),
        "PS_LibreAcces_Personne_activite_202611230000.txt",
        &ps,
        &ps_lines(&FileShape::new(&ps)),
    );
    let escale = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_escale"))
            .args(args)
            .env("ESCALE_LOG", "warn")
            .env_remove("ESCALE_MODE")
            .env("DATABASE_URL", &db.url)
            .output()
            .expect("run escale")
    };
    let o = escale(&["annuaire", "import", good.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("9 lignes lues, 3 lignes ignorées : ligne 7 ("),
        "{out}"
    );
    assert!(out.contains("5 professionnels"), "{out}");
    let o = escale(&["annuaire", "status"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("5 professionnels, 6 activités, 0 BAL"),
        "{out}"
    );
    assert!(
        out.contains("PS_LibreAcces_Personne_activite_202611230000.txt le "),
        "{out}"
    );

    let bad = write_file(dir.path(), "autre.txt", "nom|prénom|", &[b"a|b|".to_vec()]);
    let o = escale(&["annuaire", "import", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("en-tête non reconnu"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
both_backends!(import_from_the_command_line);
