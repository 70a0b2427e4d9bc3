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
    pub insi: Arc<escale::insi_service::InsiService>,
    _data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
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

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn test_config(db: &TestDb, mode: Mode) -> Config {
    let mut config = Config {
        database_url: Some(db.url.clone()),
        mode,
        demo_data: false,
        ..Config::default()
    };
    if mode == Mode::Production {
        config.public_url = Some("https://escale.test".into());
    }
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
    let insi = Arc::new(
        escale::insi_service::InsiService::start(&config)
            .await
            .expect("INSi service"),
    );
    let app = escale::app::App {
        config: Arc::new(config),
        store: db.store.clone(),
        insi: insi.clone(),
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
        insi,
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

/// Logs `client` in through the sandbox login page; returns the session's CSRF token.
pub async fn login(
    app: &TestApp,
    client: &reqwest::Client,
    professional: Uuid,
    structure: Uuid,
) -> String {
    let page = client
        .get(app.url("/connexion"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("text");
    let pre = csrf_in(&page);
    let resp = client
        .post(app.url("/connexion/demo"))
        .form(&[
            ("_csrf", pre.as_str()),
            ("professional_id", &professional.to_string()),
            ("structure_id", &structure.to_string()),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303, "login should redirect");
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
