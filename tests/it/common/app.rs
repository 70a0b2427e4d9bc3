//! The real application on 127.0.0.1:0, with a cookie-keeping HTTP client that
//! does not follow redirects (zero2prod's `spawn_app`).

use escale::config::{Config, Mode};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::db::TestDb;

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    /// The simulators this app started (sandbox mode).
    pub sandboxes: Arc<escale::app::Sandboxes>,
    _data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The key a sandbox app shares with the card agent (made at start in its
    /// data directory), as `escale-agent --key-file` reads it.
    pub fn card_agent_key(&self) -> escale_agent::token::SharedKey {
        let path = self
            ._data_dir
            .path()
            .join(escale::app::card_agent::SANDBOX_KEY_FILE);
        escale_agent::token::SharedKey::from_file(&path).expect("the sandbox's card agent key")
    }

    /// A fresh browser-like client: its own cookie jar, no redirects followed.
    pub fn client(&self) -> reqwest::Client {
        escale::install_crypto_provider();
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }
}

impl TestApp {
    /// The body of `GET path` with this client.
    pub async fn page(&self, client: &reqwest::Client, path: &str) -> String {
        let r = client.get(self.url(path)).send().await.expect("GET");
        r.text().await.expect("body")
    }

    /// Waits until the app's job runner has no job queued or running.
    pub async fn drain_jobs(&self) {
        for _ in 0..600 {
            if self.db.store.open_jobs().await.expect("open jobs") == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("jobs still queued or running after 30 s");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // A test that starts a job waits for it (`drain_jobs`): a job left
        // queued would hide work the test never checked (crates.io's rule).
        if !std::thread::panicking() {
            let url = self.db.url.clone();
            let open = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(async {
                        let store = escale::store::connect(&url).await.expect("store");
                        store.open_jobs().await.expect("open jobs")
                    })
            })
            .join()
            .expect("open jobs check");
            assert_eq!(
                open, 0,
                "jobs left queued or running: call app.drain_jobs()"
            );
        }
    }
}

/// The key the tests' administrators' TOTP secrets are sealed with (32
/// bytes, base64), shared by the apps the tests start and their direct calls.
pub const TEST_ADMIN_KEY: &str = "dGVzdHMgZCdFc2NhbGUgOiBjbGUgZGUgMzIgb2N0ZXQ=";

pub fn test_secrets() -> escale::services::admin_secrets::AdminSecrets {
    escale::services::admin_secrets::AdminSecrets::from_base64(TEST_ADMIN_KEY).expect("test key")
}

/// The break-glass login's guard with the default rules and the test key.
pub fn test_guard() -> escale::services::administration::BreakGlassGuard {
    escale::services::administration::BreakGlassGuard::new(
        Default::default(),
        Arc::new(test_secrets()),
    )
}

pub fn test_config(db: &TestDb, mode: Mode) -> Config {
    let mut config = Config {
        database_url: Some(db.url.clone()),
        mode,
        demo_data: false,
        admin_secret_key: Some(TEST_ADMIN_KEY.into()),
        ..Config::default()
    };
    if mode == Mode::Production {
        config.public_url = Some("https://escale.test".into());
    }
    // One scheduled reading of the MSSanté mailboxes at start, none after:
    // a test ends with no job left (`drain_jobs`); tests ask for readings.
    config.mss.poll_seconds = 86_400;
    config
}

pub async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, Mode::Sandbox).await
}

pub async fn spawn_app_with(db: TestDb, mode: Mode) -> TestApp {
    let config = test_config(&db, mode);
    spawn_with_config(db, config).await
}

pub async fn spawn_with_config(db: TestDb, config: Config) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Each app has its own data directory (test PKI, instance id) and, in
    // sandbox mode, its own INSi simulator.
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut config = config;
    config.data_dir = data_dir.path().to_path_buf();
    // The PSC redirect URL is derived from the address actually served.
    config.listen = addr;
    let national = escale::app::national::start(&config)
        .await
        .expect("national services");
    let sandboxes = national.sandboxes.clone();
    // The MSSanté sandbox validates each archive against the schemas.
    if let Some(mss) = sandboxes.mss.as_ref() {
        mss.set_schemas(crate::common::mss::xdm_schemas());
    }
    let jobs = escale::app::jobs_runner(
        &config,
        &db.store,
        &national.insi,
        &national.dmp,
        &national.mss,
    );
    let app = escale::app::App {
        admin_secrets: Arc::new(
            escale::services::admin_secrets::AdminSecrets::load(&config).expect("admin key"),
        ),
        card_agent: escale::app::card_agent::load(&config),
        config: Arc::new(config),
        jobs,
        store: db.store.clone(),
        insi: national.insi,
        dmp: national.dmp,
        mss: national.mss,
        psc: national.psc,
        directory: national.directory,
        sandboxes: national.sandboxes,
    };
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = escale::app::serve(app, listener, async move {
            let _ = rx.await;
        })
        .await;
    });
    TestApp {
        addr,
        db,
        sandboxes,
        _data_dir: data_dir,
        shutdown: Some(tx),
    }
}

/// The first `_csrf` value found in a page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("page has a _csrf field") + marker.len();
    html[start..start + html[start..].find('"').expect("end quote")].to_string()
}

/// Starts a login and answers the PSC sandbox's page as `id_nat` with
/// `mode` « carte » or « ecps »; returns the callback URL PSC sends back.
pub async fn psc_authorize(
    app: &TestApp,
    client: &reqwest::Client,
    id_nat: &str,
    mode: &str,
) -> String {
    let r = client
        .get(app.url("/auth/psc/login"))
        .send()
        .await
        .expect("PSC login start");
    assert_eq!(r.status(), 303, "/auth/psc/login redirects to PSC");
    let authorize = reqwest::Url::parse(location(&r)).expect("authorization URL");
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("professional".into(), id_nat.into()));
    form.push(("mode".into(), mode.into()));
    let mut choose = authorize.clone();
    choose.set_path("/auth/choix");
    choose.set_query(None);
    let r = client
        .post(choose)
        .form(&form)
        .send()
        .await
        .expect("PSC chooser");
    assert_eq!(r.status(), 303, "the PSC sandbox sends the browser back");
    location(&r).to_string()
}

/// Goes through Pro Santé Connect (the PSC sandbox) and returns Escale's
/// answer to the callback.
pub async fn psc_callback(
    app: &TestApp,
    client: &reqwest::Client,
    id_nat: &str,
    mode: &str,
) -> reqwest::Response {
    let back = psc_authorize(app, client, id_nat, mode).await;
    client.get(back).send().await.expect("callback")
}

/// One query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .expect("URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

pub fn location(r: &reqwest::Response) -> &str {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
}

/// Logs in through the PSC sandbox (e-CPS) as a professional of one structure.
pub async fn login_as(app: &TestApp, client: &reqwest::Client, id_nat: &str) {
    let r = psc_callback(app, client, id_nat, "ecps").await;
    assert_eq!(r.status(), 303, "login of {id_nat}");
}

/// Makes a test professional known to the PSC sandbox (as a test card would be).
pub fn register_with_psc(app: &TestApp, p: &escale::store::Professional) -> String {
    let id_nat = p
        .national_id
        .clone()
        .expect("a PSC login needs the professional's national id");
    let sandbox = app.sandboxes.psc.as_ref().expect("PSC sandbox");
    sandbox.register(escale::sandbox::professionals::SandboxProfessional {
        person: escale::domain::directory::DirectoryPerson {
            rpps: id_nat.strip_prefix('8').map(str::to_string),
            id_nat_ps: id_nat.clone(),
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            ..Default::default()
        },
        has_card: true,
        civility: "M",
        blurb: "professionnel d'un test",
    });
    id_nat
}

/// Logs `client` in through Pro Santé Connect (sandbox) in `structure`;
/// returns the session's CSRF token.
pub async fn login(
    app: &TestApp,
    client: &reqwest::Client,
    professional: Uuid,
    structure: Uuid,
) -> String {
    let p = app
        .db
        .store
        .get_professional(professional)
        .await
        .expect("read professional")
        .expect("professional exists");
    let id_nat = register_with_psc(app, &p);
    let r = psc_callback(app, client, &id_nat, "ecps").await;
    let r = if r.status() == 200 {
        // Several structures: pick the one asked for.
        let page = r.text().await.expect("text");
        let marker = format!(r#"name="structure_id" value="{structure}""#);
        let at = page.find(&marker).expect("the structure is offered");
        let form_start = page[..at].rfind("<form").expect("form");
        let form = &page[form_start..];
        client
            .post(app.url("/auth/psc/structure"))
            .form(&[
                ("_csrf", csrf_in(form)),
                ("choix", hidden_value(form, "choix")),
                ("structure_id", structure.to_string()),
            ])
            .send()
            .await
            .expect("structure choice")
    } else {
        r
    };
    assert_eq!(r.status(), 303, "login should redirect");
    let home = client
        .get(app.url("/usagers"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("text");
    csrf_in(&home)
}

/// The value of a hidden form field in a page.
pub fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}
