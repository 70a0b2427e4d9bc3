//! Who may read the card (issue 11, finding 8: « the card agent answers
//! requests without `Origin` »), over a real socket with a reader that counts
//! the reads it is asked for: only the Escale page — its `Origin`, and a
//! session token signed with the key it shares with Escale — gets the
//! beneficiaries, at a limited rate; nothing refused ever reaches the reader.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{ORIGIN, get_as_escale, key, request, session_token, unix_now};
use escale_agent::card::{CardError, CardReader};
use escale_agent::token::{HEADER, SharedKey};
use escale_agent::vitale::Beneficiary;
use escale_agent::{AgentConfig, ReadLimit, serve};

/// One beneficiary; counts the reads.
#[derive(Default)]
struct Counting(AtomicUsize);

impl CardReader for Counting {
    fn read_beneficiaries(&self) -> Result<Vec<Beneficiary>, CardError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(vec![Beneficiary {
            nom: "N'DIAYE".into(),
            prenom: "AMINATA".into(),
            date_naissance: "19850317".into(),
            date_naissance_iso: chrono::NaiveDate::from_ymd_opt(1985, 3, 17),
            nir: "285037511223359".into(),
            nir_ouvrant_droit: None,
            rang: Some(1),
        }])
    }
}

struct Agent {
    addr: SocketAddr,
    reader: Arc<Counting>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Agent {
    async fn start(limit: ReadLimit) -> Agent {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg = AgentConfig::new(ORIGIN, key());
        cfg.read_limit = limit;
        let reader = Arc::new(Counting::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, cfg, reader.clone(), async {
            let _ = stopped.await;
        }));
        Agent {
            addr,
            reader,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn reads(&self) -> usize {
        self.reader.0.load(Ordering::SeqCst)
    }

    async fn get(&self, headers: &[(&str, &str)]) -> common::Reply {
        request(self.addr, "GET", "/vitale/beneficiaires", headers).await
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn card_agent_requires_origin_and_session_token() {
    let agent = Agent::start(ReadLimit::default()).await;
    let good = session_token();

    // Any local process (curl, another account of a terminal server): no Origin.
    for headers in [vec![], vec![(HEADER, good.as_str())]] {
        let reply = agent.get(&headers).await;
        assert_eq!(reply.status, 403, "{reply:?}");
        assert_eq!(reply.body["erreur"], "origine_absente");
        assert_eq!(reply.header("access-control-allow-origin"), None);
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.contains("page Escale"), "{message}");
    }

    // Another web page: its own Origin, token or not.
    let reply = agent
        .get(&[("Origin", "https://evil.example"), (HEADER, &good)])
        .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(reply.body["erreur"], "origine_refusee");

    // A process that forges the Origin but has no token from Escale.
    let reply = agent.get(&[("Origin", ORIGIN)]).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.body["erreur"], "jeton_absent");
    assert_eq!(
        reply.body["message"],
        "Jeton de session absent : lisez la carte depuis la page Escale"
    );
    // The page can read why (CORS), and nothing is cached.
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(reply.header("cache-control"), Some("no-store"));

    // Forged tokens: another key, a stretched expiry, garbage.
    let other_key = SharedKey::parse("une-autre-cle-que-celle-d-escale-0123456789").unwrap();
    let foreign = other_key.issue(b"session de test", unix_now() + 3600);
    let (expiry, _) = good.strip_prefix("v1.").unwrap().split_once('.').unwrap();
    let stretched = good.replacen(expiry, &(unix_now() + 86_400 * 365).to_string(), 1);
    for forged in [foreign.as_str(), &stretched, "v1.1.2.3", "jeton"] {
        let reply = agent.get(&[("Origin", ORIGIN), (HEADER, forged)]).await;
        assert_eq!(reply.status, 403, "{forged}: {reply:?}");
        assert_eq!(reply.body["erreur"], "jeton_invalide");
        assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    }

    // A token of a session that has ended.
    let expired = key().issue(b"session de test", unix_now() - 1);
    let reply = agent.get(&[("Origin", ORIGIN), (HEADER, &expired)]).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.body["erreur"], "jeton_expire");
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("rechargez la page Escale")
    );

    // A DNS-rebinding page: its host name, whatever it sends.
    let reply = request(
        agent.addr,
        "GET",
        "/vitale/beneficiaires",
        &[
            ("Host", "evil.example"),
            ("Origin", ORIGIN),
            (HEADER, &good),
        ],
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");

    assert_eq!(agent.reads(), 0, "a refused request reached the reader");

    // The browser's preflight for the token header, then the real read.
    let reply = request(
        agent.addr,
        "OPTIONS",
        "/vitale/beneficiaires",
        &[
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", HEADER),
        ],
    )
    .await;
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(reply.header("access-control-allow-headers"), Some(HEADER));
    let reply = get_as_escale(agent.addr, "/vitale/beneficiaires").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(reply.body[0]["nom"], "N'DIAYE");
    assert_eq!(reply.body[0]["nir"], "285037511223359");
    assert_eq!(agent.reads(), 1);

    agent.stop().await;
}

#[tokio::test]
async fn card_reads_are_rate_limited() {
    // One slot back per hour: the test never depends on how fast it runs.
    let every = Duration::from_secs(3600);
    let agent = Agent::start(ReadLimit { burst: 3, every }).await;

    // Refused requests use up no slot (a stranger cannot lock the reception out).
    for _ in 0..10 {
        let reply = agent.get(&[("Origin", ORIGIN), (HEADER, "jeton")]).await;
        assert_eq!(reply.status, 403, "{reply:?}");
    }
    for _ in 0..3 {
        let reply = get_as_escale(agent.addr, "/vitale/beneficiaires").await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let reply = get_as_escale(agent.addr, "/vitale/beneficiaires").await;
    assert_eq!(reply.status, 429, "{reply:?}");
    assert_eq!(reply.body["erreur"], "trop_de_lectures");
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After: {wait}");
    let message = reply.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Trop de lectures de la carte : réessayez dans"),
        "{message}"
    );
    assert_eq!(agent.reads(), 3, "the refused read reached the reader");

    agent.stop().await;
}
