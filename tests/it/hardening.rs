//! What the server grants an attacker: slow connections, password guessing.

use std::time::{Duration, Instant};

use escale::config::Mode;
use escale::domain::totp::TotpSecret;
use escale::services::administration;
use escale::store::AuditChain;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::app::{TestApp, csrf_in, spawn_with_config, test_config};
use crate::common::db::{TestBackend, TestDb, test_store};

/// Issue 11, finding 5: many connections sending their headers one byte at a
/// time (slowloris) are closed once the header time is up, a body that stops
/// moving is abandoned, and meanwhile the server still answers others — even
/// with more slow connections than it serves at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_hold_the_server() {
    let db = test_store(TestBackend::Sqlite).await.expect("SQLite");
    let mut config = test_config(&db, Mode::Sandbox);
    config.http.header_timeout_seconds = 1;
    config.http.body_timeout_seconds = 1;
    config.http.max_connections = 32;
    let app = spawn_with_config(db, config).await;

    // 100 slow connections, three times the cap, each sending a byte every 200 ms.
    let mut slow = Vec::new();
    for _ in 0..100 {
        let addr = app.addr;
        slow.push(tokio::spawn(async move {
            let started = Instant::now();
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return Some(started.elapsed());
            };
            let request = b"GET /healthz HTTP/1.1\r\nHost: escale\r\nX-Lent: ";
            for b in request.iter().chain(std::iter::repeat(&b'a')) {
                if s.write_all(&[*b]).await.is_err() {
                    return Some(started.elapsed());
                }
                // The server closed or answered: the connection no longer holds it.
                let mut buf = [0u8; 256];
                match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
                    Ok(_) => return Some(started.elapsed()),
                    Err(_) if started.elapsed() > Duration::from_secs(30) => return None,
                    Err(_) => {}
                }
            }
            None
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Others are still answered while the slow ones trickle.
    let client = app.client();
    for _ in 0..5 {
        let r = client
            .get(app.url("/healthz"))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("the server answers others during the slow connections");
        assert_eq!(r.status(), StatusCode::OK);
    }

    // Every slow connection was cut by the server (not by the test's 30 s bound).
    for task in slow {
        let held = task.await.unwrap();
        assert!(
            held.is_some(),
            "a connection sending its headers one byte at a time was never closed"
        );
    }

    // A form whose body stops after a few bytes: abandoned, the connection closed.
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(
        b"POST /admin/connexion HTTP/1.1\r\nHost: escale\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nlogin=a",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "a body that stopped moving held its connection"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || !answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
}

/// An app whose clients say who they are through `X-Forwarded-For` (the test
/// connects from 127.0.0.1, a trusted proxy by default), with the first
/// instance administrator; returns the app and the administrator's secrets.
async fn admin_app(db: TestDb, summary_seconds: u64) -> (TestApp, administration::Bootstrapped) {
    let done = administration::bootstrap(
        db.store.as_ref(),
        &crate::common::app::test_secrets(),
        &administration::BootstrapRequest {
            first_name: "Paule".into(),
            last_name: "Admin".into(),
            login: "admin.grades".into(),
            issuer: "Escale (escale.test)".into(),
        },
    )
    .await
    .expect("bootstrap");
    let mut config = test_config(&db, Mode::Sandbox);
    config.http.trusted_proxy_header = Some("X-Forwarded-For".into());
    config.admin_login_summary_seconds = summary_seconds;
    (spawn_with_config(db, config).await, done)
}

/// `POST /admin/connexion` from `from`, with a fresh CSRF pair: status,
/// `Retry-After`, page.
async fn try_login(
    app: &TestApp,
    from: &str,
    login: &str,
    password: &str,
    code: &str,
) -> (StatusCode, Option<String>, String) {
    let client = app.client();
    let page = app.page(&client, "/admin/connexion").await;
    let r = client
        .post(app.url("/admin/connexion"))
        .header("X-Forwarded-For", from)
        .form(&[
            ("_csrf", csrf_in(&page).as_str()),
            ("login", login),
            ("password", password),
            ("code", code),
        ])
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status(), retry, r.text().await.unwrap())
}

async fn refusals_journaled(app: &TestApp) -> Vec<String> {
    app.db
        .store
        .audit_chain(AuditChain::Instance, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "administration.connexion_refusee")
        .map(|e| e.details)
        .collect()
}

/// Issue 11, finding 1: password guessing on `/admin/connexion` is throttled
/// per client address (429 with a French page and `Retry-After`), other
/// addresses are unaffected, and the journal gets one counted summary per
/// period instead of an entry per attempt.
async fn password_guessing_is_throttled_and_journaled_as_summaries(db: TestDb) {
    let (app, _) = admin_app(db, 5).await;
    let started = std::time::Instant::now();
    for i in 0..12 {
        let (status, retry, page) = try_login(
            &app,
            "192.0.2.10",
            &format!("essai{i}"),
            "mauvais",
            "000000",
        )
        .await;
        if i < 10 {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
            assert!(page.contains("incorrect"), "{page}");
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "attempt {i}");
            assert!(page.contains("Trop de tentatives"), "{page}");
            let retry: u64 = retry.expect("Retry-After").parse().unwrap();
            assert!((1..=60).contains(&retry), "{retry}");
            // What was typed is kept (the login, never the password).
            assert!(page.contains(&format!("essai{i}")) && !page.contains("mauvais"));
        }
    }
    // Another address is not slowed by this one.
    let (status, ..) = try_login(&app, "192.0.2.11", "essai", "mauvais", "000000").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        refusals_journaled(&app).await.is_empty(),
        "no entry per refused attempt"
    );
    // Once the period is over, the next attempt writes one summary.
    tokio::time::sleep(std::time::Duration::from_secs(5).saturating_sub(started.elapsed())).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    try_login(&app, "192.0.2.12", "essai", "mauvais", "000000").await;
    let journaled = refusals_journaled(&app).await;
    assert_eq!(journaled.len(), 1, "{journaled:?}");
    for part in [
        "11 échec(s)",
        "dont 11 sur un identifiant inconnu",
        "2 essai(s) ralenti(s)",
        "192.0.2.10 (12)",
    ] {
        assert!(journaled[0].contains(part), "{part}: {}", journaled[0]);
    }
    assert!(
        !journaled[0].contains("essai0") && !journaled[0].contains("essai1"),
        "typed unknown logins are not journaled"
    );
}
both_backends!(password_guessing_is_throttled_and_journaled_as_summaries);

/// Issue 11, finding 2: five failures lock a login from that address whether
/// the login exists or not (same answers: nothing tells which logins exist),
/// and the real administrator still logs in from elsewhere.
async fn lock_out_neither_reveals_logins_nor_locks_the_administrator_out(db: TestDb) {
    let (app, done) = admin_app(db, 600).await;
    let mut answers = Vec::new();
    for (login, from) in [("admin.grades", "192.0.2.20"), ("personne", "192.0.2.21")] {
        let mut statuses = Vec::new();
        let mut last = String::new();
        for _ in 0..6 {
            let (status, _, page) = try_login(&app, from, login, "mauvais", "000000").await;
            statuses.push(status);
            last = page;
        }
        assert!(
            last.contains("bloquée pour cet identifiant"),
            "{login}: {last}"
        );
        answers.push(statuses);
    }
    assert_eq!(
        answers[0], answers[1],
        "a known and an unknown login answer alike"
    );
    assert_eq!(
        answers[0],
        [
            [StatusCode::UNAUTHORIZED; 4].as_slice(),
            &[StatusCode::TOO_MANY_REQUESTS; 2]
        ]
        .concat()
    );
    // The administrator, from another address, is not locked out.
    let code = TotpSecret::from_base32(&done.totp_secret)
        .unwrap()
        .code_at_step(chrono::Utc::now().timestamp() / 30, 6);
    let (status, _, page) =
        try_login(&app, "198.51.100.30", "admin.grades", &done.password, &code).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
}
both_backends!(lock_out_neither_reveals_logins_nor_locks_the_administrator_out);
