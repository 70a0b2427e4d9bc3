//! The `escale` binary: help, administration, audit verification, config errors, serve.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::db::TestDb;

pub(crate) fn escale(db_url: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_escale"));
    cmd.args(args)
        .env("ESCALE_LOG", "warn")
        .env(
            "ESCALE_ADMIN_SECRET_KEY",
            crate::common::app::TEST_ADMIN_KEY,
        )
        .env_remove("ESCALE_MODE");
    if let Some(url) = db_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.output().expect("run escale")
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn help_is_clear_for_every_command() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["admin", "--help"],
        &["admin", "create-structure", "--help"],
        &["admin", "create-professional", "--help"],
        &["admin", "bootstrap", "--help"],
        &["audit", "verify", "--help"],
    ] {
        let o = escale(None, args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        assert!(!o.stdout.is_empty());
    }
    let o = escale(None, &["--help"]);
    let t = text(&o);
    for word in ["serve", "migrate", "admin", "audit", "Démarre le serveur"] {
        assert!(t.contains(word), "{word}");
    }
}

#[test]
fn invalid_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "migrate"])
        .env("ESCALE_LISTEN", "pas-une-adresse")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains("`listen`") && t.contains("ESCALE_LISTEN"), "{t}");
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "migrate"])
        .env("ESCALE_MODE", "production")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("mode production"), "{}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://root@localhost/escale")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("DATABASE_URL"));
}

/// TOML sections (`[session]`, `[insi]`…) and the environment name the same
/// keys; a bad value in a section names the key and its variable.
#[test]
fn sections_in_the_file_and_secrets_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("escale.toml");
    std::fs::write(&file, "[session]\nidle_minutes = 0\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .env_remove("ESCALE_MODE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("session_idle_minutes"), "{}", text(&o));
    std::fs::write(&file, "[insi]\ntimeout_seconds = \"dix\"\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("insi.timeout_seconds") && t.contains("ESCALE_INSI_TIMEOUT_SECONDS"),
        "{t}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "migrate"])
        .env("ESCALE_SESSION_MAX_HOURS", "0")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("session_max_hours"), "{}", text(&o));

    // DATABASE_URL_FILE: the database named in the file is the one migrated.
    let db = dir.path().join("depuis-un-fichier.sqlite");
    let secret = dir.path().join("database-url");
    std::fs::write(&secret, format!("sqlite://{}?mode=rwc\n", db.display())).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["migrate"])
        .env_remove("DATABASE_URL")
        .env("DATABASE_URL_FILE", &secret)
        .env("ESCALE_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(db.exists(), "the database of DATABASE_URL_FILE was created");
    assert!(
        !text(&o).contains("DATABASE_URL_FILE"),
        "no unknown-variable warning: {}",
        text(&o)
    );
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["migrate"])
        .env("ESCALE_PSC_CLIENT_SECRET_FILE", dir.path().join("absent"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("ESCALE_PSC_CLIENT_SECRET_FILE"),
        "{}",
        text(&o)
    );
}

async fn administration_from_the_command_line(db: TestDb) {
    let url = db.url.as_str();
    let o = escale(
        Some(url),
        &[
            "admin",
            "create-structure",
            "--name",
            "CSAPA Test",
            "--kind",
            "csapa",
            "--finess-geo",
            "12345",
            "--finess-juridique",
            "640000121",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("FINESS géographique"), "{}", text(&o));
    let o = escale(
        Some(url),
        &[
            "admin",
            "create-structure",
            "--name",
            "CSAPA Test",
            "--kind",
            "bar",
            "--finess-geo",
            "640000014",
            "--finess-juridique",
            "640000121",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("type de structure inconnu"));
    let o = escale(
        Some(url),
        &[
            "admin",
            "create-structure",
            "--name",
            "CSAPA Test",
            "--kind",
            "csapa",
            "--finess-geo",
            "640000014",
            "--finess-juridique",
            "640000121",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Structure créée"));
    let o = escale(
        Some(url),
        &[
            "admin",
            "create-structure",
            "--name",
            "Doublon",
            "--kind",
            "caarud",
            "--finess-geo",
            "640000014",
            "--finess-juridique",
            "640000121",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("640000014"),
        "duplicate FINESS named: {}",
        text(&o)
    );
    let o = escale(
        Some(url),
        &[
            "admin",
            "create-professional",
            "--first-name",
            "Inès",
            "--last-name",
            "Durand",
            "--national-id",
            "10000001917",
            "--profession",
            "Médecin",
            "--structure",
            "640000014",
            "--role",
            "medecin",
            "--role",
            "directeur",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("clé de contrôle"),
        "RPPS key warning: {}",
        text(&o)
    );
    let o = escale(
        Some(url),
        &[
            "admin",
            "grant-role",
            "--national-id",
            "810000001917",
            "--structure",
            "640000014",
            "--role",
            "chef",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("rôle inconnu"));
    let o = escale(Some(url), &["admin", "list-structures"]);
    assert!(text(&o).contains("CSAPA Test"));
    let choices = db.store.login_choices().await.unwrap();
    let ines = choices
        .iter()
        .find(|c| c.professional.first_name == "Inès")
        .unwrap();
    assert_eq!(
        ines.professional.national_id.as_deref(),
        Some("810000001917")
    );
    assert_eq!(
        ines.memberships[0].roles.labels(),
        "Médecin, Directeur·rice"
    );
}
both_backends!(administration_from_the_command_line);

/// The value printed after `label :` on a line of `out`.
fn printed(out: &str, label: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| panic!("{label} in {out}"))
}

async fn bootstrap_from_the_command_line_only_once(db: TestDb) {
    let url = db.url.as_str();
    let o = escale(
        Some(url),
        &[
            "admin",
            "bootstrap",
            "--first-name",
            "Paule",
            "--last-name",
            "Durand",
            "--login",
            "a b",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("identifiant"), "{}", text(&o));
    let o = escale(
        Some(url),
        &[
            "admin",
            "bootstrap",
            "--first-name",
            "Paule",
            "--last-name",
            "Durand",
            "--login",
            "Grades.Pau",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let password = printed(&out, "Mot de passe");
    let secret = printed(&out, "Secret TOTP");
    assert_eq!(printed(&out, "Identifiant"), "grades.pau");
    assert_eq!(password.len(), 23, "{out}");
    assert!(
        out.contains("otpauth://totp/Escale%3Agrades.pau?secret="),
        "{out}"
    );
    assert!(out.contains("/admin/connexion") && out.contains("jamais aux dossiers"));
    // What was printed logs in.
    let code = escale::domain::totp::TotpSecret::from_base32(&secret)
        .unwrap()
        .code_at_step(chrono::Utc::now().timestamp() / 30, 6);
    escale::services::administration::check_login(
        db.store.as_ref(),
        &crate::common::app::test_guard(),
        escale::services::administration::LoginAttempt {
            login: "grades.pau".into(),
            password: password.clone(),
            code,
        },
        [127, 0, 0, 1].into(),
        chrono::Utc::now(),
    )
    .await
    .expect("the printed password and secret log in");
    // Once only.
    let o = escale(
        Some(url),
        &[
            "admin",
            "bootstrap",
            "--first-name",
            "Autre",
            "--last-name",
            "Personne",
            "--login",
            "autre",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("existe déjà"), "{}", text(&o));
    assert!(!text(&o).contains(&password));
    // A lost phone: new secrets from the server's command line; the old ones
    // no longer work, the new ones do.
    let o = escale(
        Some(url),
        &["admin", "reset-credential", "--login", "personne"],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("aucun administrateur"), "{}", text(&o));
    let o = escale(
        Some(url),
        &["admin", "reset-credential", "--login", "GRADES.pau"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let (new_password, new_secret) = (printed(&out, "Mot de passe"), printed(&out, "Secret TOTP"));
    assert_ne!(new_password, password);
    assert_ne!(new_secret, secret);
    let later = chrono::Utc::now() + chrono::Duration::minutes(1);
    let attempt = |password: &str, secret: &str| escale::services::administration::LoginAttempt {
        login: "grades.pau".into(),
        password: password.into(),
        code: escale::domain::totp::TotpSecret::from_base32(secret)
            .unwrap()
            .code_at_step(later.timestamp() / 30, 6),
    };
    let guard = crate::common::app::test_guard();
    let old = escale::services::administration::check_login(
        db.store.as_ref(),
        &guard,
        attempt(&password, &secret),
        [127, 0, 0, 1].into(),
        later,
    )
    .await;
    assert!(old.is_err(), "the old secrets are void");
    escale::services::administration::check_login(
        db.store.as_ref(),
        &guard,
        attempt(&new_password, &new_secret),
        [127, 0, 0, 1].into(),
        later,
    )
    .await
    .expect("the new secrets log in");
}
both_backends!(bootstrap_from_the_command_line_only_once);

async fn audit_verify_finds_the_first_broken_link(db: TestDb) {
    escale::sandbox::demo::seed(db.store.as_ref())
        .await
        .unwrap();
    let o = escale(Some(&db.url), &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("OK") && !text(&o).contains("ROMPU"));
    // Someone with database access removes the protection and rewrites entry 2.
    let sql = if db.url.starts_with("postgres") {
        [
            "DROP TRIGGER audit_entries_no_update ON audit_entries",
            "UPDATE audit_entries SET details = 'falsifié' WHERE seq = 2 AND chain = 'instance'",
        ]
    } else {
        [
            "DROP TRIGGER audit_entries_no_update",
            "UPDATE audit_entries SET details = 'falsifié' WHERE seq = 2 AND chain = 'instance'",
        ]
    };
    raw_sql(&db.url, &sql).await;
    let o = escale(Some(&db.url), &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("ROMPU") && t.contains("entrée n° 2 : contenu modifié"),
        "{t}"
    );
}
both_backends!(audit_verify_finds_the_first_broken_link);

async fn raw_sql(url: &str, statements: &[&str]) {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        }
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

#[test]
fn serve_prints_its_url_and_answers_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .env("ESCALE_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("ESCALE_MODE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("URL printed")
        .to_string();
    assert!(
        line.contains("bac à sable") && line.contains("sqlite"),
        "{line}"
    );
    escale::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body: serde_json::Value = rt.block_on(async {
        let mut last = None;
        for _ in 0..50 {
            match reqwest::get(format!("{url}healthz")).await {
                Ok(r) => return r.json().await.unwrap(),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no answer: {last:?}")
    });
    // Port 0: the PSC return address names the port actually served.
    let redirect = rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client
            .get(format!("{url}auth/psc/login"))
            .send()
            .await
            .unwrap();
        let location = r.headers()["location"].to_str().unwrap().to_string();
        crate::common::app::query_param(&location, "redirect_uri")
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(redirect, format!("{url}auth/psc/callback"));
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "sqlite");
    assert!(
        dir.path().join("escale.sqlite").exists(),
        "the SQLite file lives under --data-dir"
    );
}

#[test]
fn samples_are_stable_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &std::path::Path| {
        let o = escale(None, &["samples", "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read_to_string(out.join("insi-rechercher-traits.xml")).unwrap()
    };
    let first = run(&dir.path().join("a"));
    let second = run(&dir.path().join("b"));
    assert_eq!(first, second, "same bytes on every run");
    assert!(first.contains("ADRUN") && first.contains("RECSANSVITALE"));
    crate::insi::assert_insi_request_valid(&first);
    let payload = std::fs::read(dir.path().join("a/ins-datamatrix.txt")).unwrap();
    assert_eq!(
        payload,
        b"IS010000000000000000000000S1297022A02077878S21.2.250.1.213.1.4.8\x1dS3DOMINIQUE\x1dS4ADRTROIS\x1dS5FS626-02-1997S72A020",
        "GS as byte 0x1D"
    );
    if let Some(bin) = crate::datamatrix::dmtxread() {
        let (decoded, c40) =
            crate::datamatrix::decode(bin, &dir.path().join("a/ins-datamatrix.png"));
        assert_eq!(decoded, payload, "the PNG decodes to the payload");
        assert!(c40, "C40 header");
    }
}

async fn insi_credentials_from_the_command_line(db: TestDb) {
    escale::sandbox::demo::seed(db.store.as_ref())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki = escale::sandbox::pki::TestPki::generate().unwrap();
    let good = pki
        .client_files(dir.path(), "INSI-MANU", escale::sandbox::demo::CSAPA_FINESS)
        .unwrap();
    let bad = pki
        .client_files(
            dir.path(),
            "INSI-AUTRE",
            escale::sandbox::demo::CSAPA_FINESS,
        )
        .unwrap();
    let set = |cert: &std::path::Path, key: &std::path::Path| {
        escale(
            Some(&db.url),
            &[
                "admin",
                "set-insi",
                "--structure",
                escale::sandbox::demo::CSAPA_FINESS,
                "--certificate",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--idam",
                "RP-TEST-0001",
            ],
        )
    };
    let o = set(&bad.cert, &bad.key);
    assert!(!o.status.success());
    assert!(text(&o).contains("INSI-MANU"), "{}", text(&o));
    let o = set(&good.cert, &good.key);
    assert!(o.status.success(), "{}", text(&o));
    let s = db
        .store
        .find_structure_by_finess(escale::sandbox::demo::CSAPA_FINESS)
        .await
        .unwrap()
        .unwrap();
    let insi = s.insi.expect("credentials stored");
    assert_eq!(insi.idam, "RP-TEST-0001");
    assert!(insi.certificate.ends_with(".pem"));
}
both_backends!(insi_credentials_from_the_command_line);

/// Issue 11, finding 10: the data directory and the SQLite files are
/// Escale's own (0700, 0600) from their creation, whatever the umask.
#[cfg(unix)]
#[test]
fn data_directory_and_database_are_private_from_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("donnees");
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["--data-dir", dir.to_str().unwrap(), "migrate"])
        .env("ESCALE_LOG", "warn")
        .env_remove("ESCALE_MODE")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "data directory");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            seen += 1;
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    assert!(seen >= 1, "the database file was created");
}

/// Issue 11, finding 3: what the sandbox's demo data created is marked, and
/// production refuses to start on such a database with a French message that
/// names how to start afresh; the sandbox itself stays off public interfaces
/// unless asked in so many words.
async fn the_demo_administrator_never_reaches_production(db: TestDb) {
    assert!(db.store.sandbox_rows().await.unwrap().is_empty());
    escale::sandbox::demo::seed(db.store.as_ref())
        .await
        .unwrap();
    let left = db.store.sandbox_rows().await.unwrap();
    assert_eq!(left.structures.len(), 2, "{left:?}");
    assert!(left.professionals > 5, "{left:?}");
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("ESCALE_LOG", "warn")
        .env("ESCALE_MODE", "production")
        .env("ESCALE_PUBLIC_URL", "https://escale.test")
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("run escale");
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("données de démonstration du bac à sable") && t.contains("admin.demo"),
        "{t}"
    );
    assert!(t.contains("rm ") || t.contains("dropdb "), "{t}");
    // The sandbox on every interface: refused unless explicitly allowed.
    let o = escale(Some(&db.url), &["serve", "--listen", "0.0.0.0:0"]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("ESCALE_SANDBOX_PUBLIC=true"), "{t}");
}
both_backends!(the_demo_administrator_never_reaches_production);

/// Issue 12, point 1: `escale dev seed --users N --structures K` adds N
/// generated files to the demo CSAPA (made first on a new database) and to
/// K−1 generated CSAPA, with their identity keys (the search and the
/// duplicate finder see them), and prints rows per second; refused outside
/// the sandbox.
async fn dev_seed_adds_generated_users(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["--data-dir", dir.path().to_str().unwrap(), "dev", "seed"];
        args.extend_from_slice(extra);
        escale(Some(&db.url), &args)
    };
    let o = run(&["--users", "120", "--structures", "2"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("lignes/s") && out.contains("structure 2/2"),
        "{out}"
    );
    let structures = db.store.list_structures().await.unwrap();
    assert_eq!(
        structures.len(),
        3,
        "the demo CSAPA and CAARUD, one generated"
    );
    let choices = db.store.login_choices().await.unwrap();
    for s in structures.iter().filter(|s| s.name.contains("CSAPA")) {
        let member = choices
            .iter()
            .find(|c| c.memberships.iter().any(|m| m.structure_id == s.id))
            .expect("a member");
        let t = db
            .store
            .tenant_for(member.professional.id, s.id)
            .await
            .unwrap()
            .unwrap();
        let n = db.store.count_usagers(&t).await.unwrap();
        assert!(n >= 120, "{}: {n}", s.name);
        // The generated files are found by the start of their name, in lower case.
        let query = |terms: &str| escale::store::UsagerQuery {
            terms: escale::domain::search::terms(terms),
            birth_date: None,
            limit: 200,
        };
        let some = db.store.search_usagers(&t, &query("")).await.unwrap();
        let named = some
            .iter()
            .find(|u| !u.identity.is_anonymous())
            .expect("a named file");
        let start: String = named
            .identity
            .display_name()
            .to_lowercase()
            .chars()
            .take(3)
            .collect();
        let found = db.store.search_usagers(&t, &query(&start)).await.unwrap();
        assert!(
            found.iter().any(|u| u.id == named.id),
            "{}: {start}",
            s.name
        );
    }
    // Run again: more files in the same structures, no new structure.
    let o = run(&["--users", "10"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(db.store.list_structures().await.unwrap().len(), 3);
    // Never outside the sandbox.
    let o = Command::new(env!("CARGO_BIN_EXE_escale"))
        .args(["dev", "seed", "--users", "1"])
        .env("ESCALE_MODE", "production")
        .env("ESCALE_PUBLIC_URL", "https://escale.test")
        .env("DATABASE_URL", &db.url)
        .env("ESCALE_LOG", "warn")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("bac à sable"), "{}", text(&o));
}
both_backends!(dev_seed_adds_generated_users);
