//! A deposit cut by a killed process: `escale serve` sends a letter to the
//! DMP sandbox (in this test's process, so that it outlives the server),
//! the sandbox registers it and holds its answer, the server is killed
//! (SIGKILL) while it waits; restarted, it takes the job up again when the
//! lease expires, finds the document in the DMP and does not send it again.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use escale::documents::cda::uuid_oid;
use escale::domain::dmp::{DepositState, DmpOperation, DmpVisibility};
use escale::sandbox::dmp::{DmpBehaviour, DmpSandbox, DmpSandboxHandle};
use escale::sandbox::pki::{TestPki, write_pair};
use escale::services::dmp::DmpCredentials;

use crate::common::db::{TestDb, seed_two_structures};

/// `escale serve`, killed when dropped (a failed assertion included).
struct Server(Child);

impl Server {
    fn start(db: &TestDb, data_dir: &Path, dmp_url: &str) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_escale"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("DATABASE_URL", &db.url)
            .env("ESCALE_MODE", "sandbox")
            .env("ESCALE_DEMO_DATA", "false")
            .env("ESCALE_DMP_URL", dmp_url)
            .env("ESCALE_DMP_CA", data_dir.join("dmp-ca.pem"))
            .env("ESCALE_DMP_TIMEOUT_SECONDS", "120")
            .env("ESCALE_JOBS_LEASE_SECONDS", "2")
            .env("ESCALE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("escale serve");
        Server(child)
    }

    /// SIGKILL: no shutdown, no chance to record anything.
    fn kill(mut self) {
        self.0.kill().expect("kill");
        self.0.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "still waiting after 60 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count(sandbox: &DmpSandboxHandle, unique_id: &str) -> usize {
    sandbox
        .entries()
        .iter()
        .filter(|e| e.unique_id == unique_id)
        .count()
}

both_backends!(a_deposit_cut_by_a_killed_process_is_in_the_dmp_once_after_restart);
async fn a_deposit_cut_by_a_killed_process_is_in_the_dmp_once_after_restart(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let (usager, doc) = crate::dmp::qualified_with_letter(&db.store, &t).await;
    let (deposit, _) = escale::services::dmp::request(
        db.store.as_ref(),
        &t,
        usager,
        doc,
        DmpOperation::Depot,
        DmpVisibility::Normale,
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate().unwrap();
    let sandbox = DmpSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki)
        .await
        .unwrap();
    std::fs::write(dir.path().join("dmp-ca.pem"), pki.ca_pem()).unwrap();
    let creds = DmpCredentials::under(dir.path(), &f.csapa.finess_geo);
    let finess = &f.csapa.finess_geo;
    write_pair(
        &creds.auth_cert,
        &creds.auth_key,
        &pki.client_cert("ESCALE-DMP-AUTH", finess).unwrap(),
    )
    .unwrap();
    write_pair(
        &creds.sign_cert,
        &creds.sign_key,
        &pki.signing_cert("ESCALE-DMP-SIGN", finess).unwrap(),
    )
    .unwrap();

    // The DMP registers the deposit and keeps its answer: the server is
    // killed while it waits for it.
    sandbox.set_behaviour(DmpBehaviour::HoldAnswer);
    let unique_id = uuid_oid(doc);
    let server = Server::start(&db, dir.path(), &sandbox.url);
    until("the deposit in the DMP", async || {
        (count(&sandbox, &unique_id) == 1).then_some(())
    })
    .await;
    server.kill();
    let cut = db
        .store
        .dmp_deposit(t.structure_id, deposit.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cut.state, DepositState::Envoye, "sent, no answer recorded");
    assert_eq!(db.store.open_jobs().await.unwrap(), 1, "its job still open");

    // Restarted: the job is taken up once its lease expires, the document
    // found in the DMP, not sent again.
    sandbox.set_behaviour(DmpBehaviour::Normal);
    let server = Server::start(&db, dir.path(), &sandbox.url);
    let done = until("the deposit accepted after the restart", async || {
        let d = db
            .store
            .dmp_deposit(t.structure_id, deposit.id)
            .await
            .ok()??;
        (d.state != DepositState::Envoye && d.state != DepositState::EnAttente).then_some(d)
    })
    .await;
    assert_eq!(done.state, DepositState::Accepte, "{:?}", done.reason);
    assert!(
        done.reason
            .as_deref()
            .is_some_and(|r| r.contains("déjà présent")),
        "{:?}",
        done.reason
    );
    until("the job closed", async || {
        (db.store.open_jobs().await.ok()? == 0).then_some(())
    })
    .await;
    server.kill();
    assert_eq!(count(&sandbox, &unique_id), 1, "exactly one document");
}
