//! The Carte Vitale agent against a virtual card: pcscd with the vpcd reader
//! driver (Debian `vsmartcard-vpcd`), and `tests/fixtures/vitale_vicc.py`
//! (Debian `python3-virtualsmartcard`) playing the card in "Virtual PCD 00 00".
//!
//! Without pcscd, the vpcd driver or a Debian python3, the test says plainly
//! that it did NOT run and returns; with `ESCALE_TEST_CARD_AGENT_REQUIRED=1`
//! (CI) that is a failure instead.

#![cfg(feature = "pcsc")]

mod common;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ORIGIN, Reply, get_as_escale, request};
use escale_agent::pcsc_reader::PcscReader;
use escale_agent::{AgentConfig, ReadLimit, serve};
use serde_json::json;

const READER: &str = "Virtual PCD 00 00";
/// vpcd's TCP port for "Virtual PCD 00 00" (`/etc/reader.conf.d/vpcd`,
/// CHANNELID 0x8C7B).
const VPCD_PORT: u16 = 35963;
const VPCD_DRIVERS: [&str; 2] = [
    "/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/lib/x86_64-linux-gnu/pcsc/drivers/serial/libifdvpcd.so",
];
const VPCD_CONF: &str = "/etc/reader.conf.d/vpcd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reads_a_virtual_vitale() {
    let python = match prerequisites() {
        Ok(python) => python,
        Err(reason) => return not_run(&reason),
    };
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut started = Started::default();
    let pcscd_note = match ensure_pcscd(&mut started, tmp) {
        Ok(note) => note,
        Err(reason) => return not_run(&reason),
    };
    if let Err(reason) = reader_is_empty() {
        return not_run(&reason);
    }

    // The agent, on a free loopback port, reading the virtual reader only.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut cfg = AgentConfig::new(ORIGIN, common::key());
    // This test polls while the virtual card settles; the limit has its own
    // test (access.rs).
    cfg.read_limit = ReadLimit {
        burst: 10_000,
        every: Duration::from_millis(1),
    };
    let reader = std::sync::Arc::new(PcscReader {
        reader: Some(READER.to_string()),
    });
    let agent = tokio::spawn(serve(listener, cfg, reader, async {
        let _ = stopped.await;
    }));

    // No card yet.
    let reply = get_as_escale(addr, "/vitale/beneficiaires").await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.body["message"], "Aucune carte Vitale dans le lecteur");

    // Insert the virtual card.
    let data = json!({
        "validite": "20240115",
        "beneficiaires": [
            { "nom": "N'DIAYE", "prenom": "AMINATA", "date_naissance": "19850317",
              "nir": "285037511223359", "rang": 1 },
            { "nom": "N'DIAYE", "prenom": "MOUSSA", "date_naissance": "20120909",
              "nir": "112097511224485", "rang": 2, "nir_ouvrant_droit": "285037511223359" },
        ],
    });
    let data_file = tmp.join("vitale_beneficiaires.json");
    std::fs::write(&data_file, data.to_string()).unwrap();
    let (vicc_transport, vicc) = start_virtual_card(&python, &data_file, tmp);
    started.vicc = Some(vicc);

    let reply = poll(addr, 200, None).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(reply.header("access-control-allow-credentials"), None);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.body,
        json!([
            { "nom": "N'DIAYE", "prenom": "AMINATA", "date_naissance": "19850317",
              "date_naissance_iso": "1985-03-17", "nir": "285037511223359",
              "nir_ouvrant_droit": null, "rang": 1 },
            { "nom": "N'DIAYE", "prenom": "MOUSSA", "date_naissance": "20120909",
              "date_naissance_iso": "2012-09-09", "nir": "112097511224485",
              "nir_ouvrant_droit": "285037511223359", "rang": 2 },
        ])
    );

    // Another site: 403 and no CORS header; its preflight too. Without a
    // session token, no read either (access.rs has the whole story).
    let token = common::session_token();
    let evil = [
        ("Origin", "https://evil.example"),
        (escale_agent::token::HEADER, token.as_str()),
    ];
    let reply = request(addr, "GET", "/vitale/beneficiaires", &evil).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(reply.header("access-control-allow-origin"), None);
    assert_eq!(reply.body["erreur"], "origine_refusee");
    let preflight = |origin| {
        [
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET"),
            (
                "Access-Control-Request-Headers",
                escale_agent::token::HEADER,
            ),
        ]
    };
    let path = "/vitale/beneficiaires";
    let reply = request(addr, "OPTIONS", path, &preflight("https://evil.example")).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("access-control-allow-origin"), None);
    let reply = request(addr, "OPTIONS", path, &preflight(ORIGIN)).await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    let reply = request(addr, "GET", "/vitale/beneficiaires", &[("Origin", ORIGIN)]).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.body["erreur"], "jeton_absent");

    // Remove the card: 503 with the French message, still readable by Escale.
    started.stop_vicc();
    let reply = poll(addr, 503, Some("aucune_carte")).await;
    assert_eq!(reply.body["message"], "Aucune carte Vitale dans le lecteur");
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));

    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
    report(&format!(
        "card agent test ran against the virtual card in « {READER} » ({pcscd_note}; {vicc_transport})"
    ));
}

/// Written to the process's stderr directly, so that `cargo test` shows it
/// even for a passing test (the print macros are captured).
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn not_run(reason: &str) {
    let line = format!("card agent test did NOT run: {reason}");
    if std::env::var_os("ESCALE_TEST_CARD_AGENT_REQUIRED").is_some() {
        panic!("{line} (ESCALE_TEST_CARD_AGENT_REQUIRED is set)");
    }
    report(&line);
}

/// The python that sees Debian's packages (a pyenv or venv `python3` first on
/// PATH does not).
fn prerequisites() -> Result<PathBuf, String> {
    find_program("pcscd").ok_or("pcscd is not installed (Debian package pcscd)")?;
    if !VPCD_DRIVERS.iter().any(|p| Path::new(p).exists()) || !Path::new(VPCD_CONF).exists() {
        return Err(
            "the vpcd reader driver is not installed (Debian package vsmartcard-vpcd)".into(),
        );
    }
    let python = std::env::var_os("ESCALE_TEST_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/python3")).filter(|p| p.exists()))
        .or_else(|| find_program("python3"))
        .ok_or("python3 is not installed")?;
    Ok(python)
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Uses a running pcscd when it has the vpcd reader; otherwise starts one in
/// the foreground (containers have no systemd socket activation).
fn ensure_pcscd(started: &mut Started, tmp: &Path) -> Result<String, String> {
    match virtual_reader_listed() {
        Ok(true) => return Ok("pcscd already running".into()),
        Ok(false) => {
            return Err(format!(
                "pcscd is running without the « {READER} » reader: restart it after installing vsmartcard-vpcd"
            ));
        }
        Err(pcsc::Error::NoService) => {}
        Err(e) => return Err(format!("pcscd does not answer: {e}")),
    }
    // vpcd listens on two loopback ports (35963, 35964) in the ephemeral
    // range: a port still held by another program's connection makes pcscd
    // drop the readers. Such a collision passes: try again a little later.
    let mut last = String::new();
    for attempt in 1..=3 {
        match start_pcscd(started, tmp) {
            Ok(()) => return Ok(format!("pcscd started by the test (attempt {attempt})")),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    Err(last)
}

fn start_pcscd(started: &mut Started, tmp: &Path) -> Result<(), String> {
    let log_path = tmp.join("pcscd.log");
    let log = File::create(&log_path).unwrap();
    let child = Command::new(find_program("pcscd").unwrap())
        .args(["--foreground", "--info"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("pcscd could not be started: {e}"))?;
    started.pcscd = Some(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = started.pcscd.as_mut().unwrap().try_wait().unwrap() {
            started.pcscd = None;
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("pcscd exited at once ({status}): {}", log.trim()));
        }
        if virtual_reader_listed() == Ok(true) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(mut child) = started.pcscd.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    Err(format!(
        "pcscd started but « {READER} » did not appear within 10 s{}",
        if log.contains("Address already in use") {
            " (a vpcd port was in use)"
        } else {
            ""
        }
    ))
}

fn virtual_reader_listed() -> Result<bool, pcsc::Error> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
    match ctx.list_readers_owned() {
        Ok(readers) => Ok(readers.iter().any(|r| r.to_bytes() == READER.as_bytes())),
        Err(pcsc::Error::NoReadersAvailable) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Another virtual card already in the slot would answer instead of ours.
fn reader_is_empty() -> Result<(), String> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| e.to_string())?;
    let name = std::ffi::CString::new(READER).unwrap();
    let mut states = [pcsc::ReaderState::new(name, pcsc::State::UNAWARE)];
    ctx.get_status_change(Duration::from_secs(2), &mut states)
        .map_err(|e| format!("state of « {READER} »: {e}"))?;
    if states[0].event_state().contains(pcsc::State::PRESENT) {
        return Err(format!(
            "a card is already in « {READER} » (another virtual card on port {VPCD_PORT}?)"
        ));
    }
    Ok(())
}

/// Starts the fixture; with python3-virtualsmartcard when it imports, with the
/// fixture's own vpcd client otherwise (still through pcscd and vpcd).
fn start_virtual_card(python: &Path, data: &Path, tmp: &Path) -> (String, Child) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vitale_vicc.py");
    let check = Command::new(python)
        .arg(&fixture)
        .arg("--check")
        .output()
        .unwrap();
    let (transport, extra) = if check.status.success() {
        (
            "card played through python3-virtualsmartcard's VirtualICC".to_string(),
            None,
        )
    } else {
        let why = String::from_utf8_lossy(&check.stderr);
        let why = why.trim().lines().last().unwrap_or("?").to_string();
        (
            format!("python3-virtualsmartcard unusable ({why}): fixture's built-in vpcd client"),
            Some("--builtin-vpcd"),
        )
    };
    let log = File::create(tmp.join("vitale_vicc.log")).unwrap();
    let child = Command::new(python)
        .arg(&fixture)
        .arg("--data")
        .arg(data)
        .args(["--port", &VPCD_PORT.to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("python3 starts the virtual card");
    (transport, child)
}

/// Processes this test started, stopped even when an assertion fails.
#[derive(Default)]
struct Started {
    pcscd: Option<Child>,
    vicc: Option<Child>,
}

impl Started {
    /// SIGKILL: the socket to vpcd closes as when a card is pulled out.
    fn stop_vicc(&mut self) {
        if let Some(mut vicc) = self.vicc.take() {
            let _ = vicc.kill();
            let _ = vicc.wait();
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        self.stop_vicc();
        if let Some(mut pcscd) = self.pcscd.take() {
            // SIGTERM lets pcscd remove /run/pcscd/pcscd.comm and its pid file.
            let _ = Command::new("kill")
                .args(["-TERM", &pcscd.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(pcscd.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = pcscd.kill();
            let _ = pcscd.wait();
        }
    }
}

/// Polls until the expected status and error code: the card takes a moment
/// to appear in, or leave, the reader (meanwhile: « carte_retiree »).
async fn poll(addr: SocketAddr, status: u16, code: Option<&str>) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = get_as_escale(addr, "/vitale/beneficiaires").await;
        let done = reply.status == status && code.is_none_or(|c| reply.body["erreur"] == c);
        if done || Instant::now() > deadline {
            assert_eq!(reply.status, status, "{reply:?}");
            if let Some(code) = code {
                assert_eq!(reply.body["erreur"], code, "{reply:?}");
            }
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
