//! End-to-end tests in a real browser: headless Chromium driven by chromedriver
//! (WebDriver, through fantoccini), against the real app on SQLite with the demo data.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without chromedriver the
//! tests say so and pass, except under CI (`CI` set) where they fail.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::app::{TestApp, spawn_app};
use crate::common::db::{TestBackend, test_store};

mod axe;
mod dmp;
mod mss;

/// Longest wait for anything the browser should do.
const WAIT: Duration = Duration::from_secs(10);
/// How often a condition is checked while waiting.
const POLL: Duration = Duration::from_millis(100);
/// Bound on a whole scenario, so that a stuck browser cannot hang the suite.
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

const CSAPA: &str = "CSAPA Le Phare (démo)";
const DOCTOR: &str = "Claire Martin";
const DOCTOR_ID_NAT: &str = "899900000011";

// ---------------------------------------------------------------------------
// chromedriver and Chromium
// ---------------------------------------------------------------------------

/// chromedriver's path; `None` (test not run) when absent, a failure under CI.
fn chromedriver() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/chromedriver");
    let found = if fixed.is_file() {
        Some(fixed)
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("chromedriver"))
                .find(|p| p.is_file())
        })
    };
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "browser test: chromedriver not found (CI is set, so this is a failure): apt-get install chromium chromium-driver"
            );
        }
        println!(
            "browser test not run: chromedriver not found (apt-get install chromium chromium-driver)"
        );
    }
    found
}

/// A running chromedriver, killed (with the browsers it started) when dropped,
/// panics included.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start(bin: &Path) -> Driver {
        escale::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let mut last_exit = None;
        // The port is free when chosen; another process may take it before
        // chromedriver binds it, hence a few attempts.
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(bin);
            cmd.arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Its own process group: Chromium's processes join it, and Drop ends them all.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut driver = Driver { child, port };
            let start = Instant::now();
            while start.elapsed() < WAIT {
                if let Ok(Some(status)) = driver.child.try_wait() {
                    last_exit = Some(status);
                    break;
                }
                let ready = async {
                    let v: Value = http
                        .get(format!("{}/status", driver.url()))
                        .send()
                        .await
                        .ok()?
                        .json()
                        .await
                        .ok()?;
                    v["value"]["ready"].as_bool()
                };
                if ready.await == Some(true) {
                    return driver;
                }
                tokio::time::sleep(POLL).await;
            }
            if last_exit.is_none() {
                panic!("chromedriver did not answer on port {port} within {WAIT:?}");
            }
        }
        panic!("chromedriver exited at start three times (last: {last_exit:?})");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The process group is chromedriver's own (see `start`): its id is chromedriver's pid.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn capabilities(profile: &Path, javascript: bool) -> serde_json::Map<String, Value> {
    let mut chrome = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1400",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if Path::new("/usr/bin/chromium").is_file() {
        chrome["binary"] = json!("/usr/bin/chromium");
    }
    if !javascript {
        chrome["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let caps = json!({ "browserName": "chrome", "goog:chromeOptions": chrome });
    match caps {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Opens a browser session, runs `scenario` in it, and always closes the
/// browser before reporting the scenario's failure, if any.
async fn in_browser<F, Fut>(driver: &Driver, javascript: bool, scenario: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let profile = tempfile::Builder::new()
        .prefix("escale-chromium-")
        .tempdir()
        .expect("profile dir");
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities(profile.path(), javascript))
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session through chromedriver: {e}"));
    // In a task of its own so that a failed assertion still lets us close the
    // browser (a local one: the waits' async closures are not `Send`).
    let run = tokio::time::timeout(SCENARIO_LIMIT, scenario(client.clone()));
    let outcome = tokio::task::LocalSet::new()
        .run_until(async { tokio::task::spawn_local(run).await })
        .await;
    let _ = client.close().await;
    drop(profile);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("browser scenario still running after {SCENARIO_LIMIT:?}"),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("browser scenario aborted: {e}"),
    }
}

/// The app on SQLite with the demo data, and a chromedriver; `None` when
/// chromedriver is absent outside CI.
async fn setup() -> Option<(TestApp, Driver)> {
    let bin = chromedriver()?;
    let db = test_store(TestBackend::Sqlite)
        .await
        .expect("SQLite test database");
    escale::sandbox::demo::seed(db.store.as_ref())
        .await
        .expect("seed demo data");
    let app = spawn_app(db).await;
    let driver = Driver::start(&bin).await;
    Some((app, driver))
}

// ---------------------------------------------------------------------------
// Waiting and looking at pages
// ---------------------------------------------------------------------------

/// Where the browser is and the start of what it shows, for failure messages.
async fn where_are_we(c: &Client) -> String {
    let url = c
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_else(|e| format!("(url: {e})"));
    let text = match c.find(Locator::Css("body")).await {
        Ok(b) => b.text().await.unwrap_or_default(),
        Err(e) => format!("(body: {e})"),
    };
    let text: String = text.chars().take(1500).collect();
    format!("at {url}\n--- page text ---\n{text}\n---")
}

/// Polls `probe` every 100 ms until it gives a value; fails after 10 s.
async fn eventually<T>(c: &Client, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if start.elapsed() > WAIT {
            panic!(
                "timed out after {WAIT:?} waiting for {what}, {}",
                where_are_we(c).await
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The element, once it is in the page.
async fn element(c: &Client, css: &str) -> Element {
    eventually(c, &format!("element `{css}`"), async || {
        c.find(Locator::Css(css)).await.ok()
    })
    .await
}

async fn element_x(c: &Client, xpath: &str) -> Element {
    eventually(c, &format!("element `{xpath}`"), async || {
        c.find(Locator::XPath(xpath)).await.ok()
    })
    .await
}

async fn text_of(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

/// Waits for a page whose title (h1) starts with `title`, at a path accepted by `path_ok`.
async fn wait_page(c: &Client, title: &str, path_ok: impl Fn(&str) -> bool) -> String {
    eventually(c, &format!("page « {title} »"), async || {
        let path = c.current_url().await.ok()?.path().to_string();
        let h1 = text_of(c, "main h1").await?;
        (h1.starts_with(title) && path_ok(&path)).then_some(path)
    })
    .await
}

/// Types into a field and checks what it holds afterwards.
async fn fill(c: &Client, css: &str, value: &str) {
    let input = element(c, css).await;
    input.clear().await.expect("clear");
    input
        .send_keys(value)
        .await
        .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    let got = input
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert_eq!(got, value, "field {css} should hold what was typed");
}

/// Sets a date input: typing into one depends on the browser's locale, so the
/// value is set through the DOM (as a date picker would) and checked.
async fn set_date(c: &Client, css: &str, iso: &str) {
    let input = element(c, css).await;
    let arg = serde_json::to_value(&input).expect("element as JSON");
    c.execute(
        "const el = arguments[0]; el.value = arguments[1]; \
         el.dispatchEvent(new Event('input', { bubbles: true })); \
         el.dispatchEvent(new Event('change', { bubbles: true }));",
        vec![arg, json!(iso)],
    )
    .await
    .expect("set the date through the DOM");
    let got = input
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert_eq!(got, iso, "date field {css}");
}

async fn click_x(c: &Client, xpath: &str) {
    element_x(c, xpath)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {xpath}: {e}"));
}

async fn click(c: &Client, css: &str) {
    element(c, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

fn is_file_path(path: &str) -> bool {
    path.strip_prefix("/usagers/")
        .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
}

// ---------------------------------------------------------------------------
// Steps shared by both scenarios
// ---------------------------------------------------------------------------

/// From the login page, as Claire Martin (CPS card) in the CSAPA; ends on the list.
async fn log_in(c: &Client, base: &str) {
    log_in_as(c, base, DOCTOR_ID_NAT, "carte").await;
    let who = text_of(c, "header .who").await.unwrap_or_default();
    assert!(who.contains(DOCTOR) && who.contains(CSAPA), "{who}");
}

/// Through Pro Santé Connect (the PSC sandbox's page), as `id_nat` with
/// « carte » or « ecps »; ends on the structure's list.
async fn log_in_as(c: &Client, base: &str, id_nat: &str, mode: &str) {
    c.goto(&format!("{base}/connexion"))
        .await
        .expect("open /connexion");
    wait_page(c, "Connexion", |p| p == "/connexion").await;
    click_login_as(c, id_nat, mode).await;
    wait_page(c, "Usagers", |p| p == "/usagers").await;
}

async fn click_login_button(c: &Client) {
    click_login_as(c, DOCTOR_ID_NAT, "carte").await;
}

async fn click_login_as(c: &Client, id_nat: &str, mode: &str) {
    click(c, "main a[href='/auth/psc/login']").await;
    wait_page(c, "Choisissez un professionnel de test", |p| p == "/auth").await;
    click(c, &format!("button[data-pro='{id_nat}'][value='{mode}']")).await;
}

/// From the list, opens the creation form.
async fn open_new_form(c: &Client) {
    click(c, "main a.button[href='/usagers/nouveau']").await;
    wait_page(c, "Nouveau dossier", |p| p == "/usagers/nouveau").await;
}

/// On the creation form, fills and sends it; ends on the new file and returns its path.
async fn create_file(c: &Client, birth_name: &str, first_names: &str, birth_date: &str) -> String {
    fill(c, "#f-birth_name", birth_name).await;
    fill(c, "#f-first_names", first_names).await;
    set_date(c, "#f-birth_date", birth_date).await;
    let sex = element(c, "#f-sex").await;
    sex.select_by_value("F").await.expect("choose the sex");
    assert_eq!(sex.prop("value").await.expect("sex").as_deref(), Some("F"));
    click_x(c, "//button[normalize-space()='Créer le dossier']").await;
    let path = wait_page(c, "Dossier de", is_file_path).await;
    let banner = text_of(c, "section.identity")
        .await
        .expect("identity banner");
    // Strict traits are stored in the INS format, and the operator is told.
    let birth_name = escale::domain::lexical::normalise_capture(birth_name);
    let first_names = escale::domain::lexical::normalise_first_names(first_names).join(" ");
    assert!(
        banner.contains(&birth_name),
        "the file shows the birth name {birth_name:?}: {banner}"
    );
    assert!(
        banner.contains(&first_names),
        "the file shows the first names {first_names:?}: {banner}"
    );
    let notice = text_of(c, "p.notice").await.unwrap_or_default();
    assert!(
        notice.contains("format de l'INS"),
        "conversion shown: {notice}"
    );
    path
}

async fn log_out(c: &Client) {
    click_x(c, "//button[normalize-space()='Se déconnecter']").await;
    wait_page(c, "Connexion", |p| p == "/connexion").await;
    assert!(
        c.find(Locator::XPath(
            "//button[normalize-space()='Se déconnecter']"
        ))
        .await
        .is_err(),
        "no logout button once logged out"
    );
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// With JavaScript and htmx: log in, create a file (after a refused empty
/// form), find it again by live search (no accents, lower case), add a note,
/// log out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_journey_with_htmx() {
    let Some((app, driver)) = setup().await else {
        return;
    };
    // Without npm at build time the app is built without htmx (plain forms only).
    let htmx_served = reqwest::get(app.url("/static/htmx.min.js"))
        .await
        .is_ok_and(|r| r.status().is_success());
    if !htmx_served {
        let why = "this build of Escale has no htmx (npm was unreachable at build time)";
        assert!(
            std::env::var_os("CI").is_none(),
            "browser test with htmx: {why}"
        );
        println!("browser test with htmx not run: {why}");
        return;
    }
    // More files than the list's first page (20), for « Afficher plus ».
    let extra = more_than_a_page(&app).await;
    let base = app.url("");
    let started = Instant::now();
    in_browser(&driver, true, move |c| async move {
        log_in(&c, &base).await;
        // htmx is there (it boosts the pages of a logged-in professional).
        let htmx = c
            .execute("return typeof window.htmx;", vec![])
            .await
            .expect("script");
        assert_eq!(htmx, json!("object"), "htmx should be loaded");

        // An empty form is refused (422, swapped in like a 200) with its errors listed.
        open_new_form(&c).await;
        click_x(&c, "//button[normalize-space()='Créer le dossier']").await;
        let summary = eventually(&c, "the error summary", async || {
            text_of(&c, ".error-summary").await
        })
        .await;
        assert!(
            summary.contains("nom de naissance"),
            "errors listed: {summary}"
        );
        assert_eq!(
            text_of(&c, "main h1").await.as_deref(),
            Some("Nouveau dossier")
        );

        let name = "D'Aubigné-Test";
        let file = create_file(&c, name, "Éloïse Marie", "1990-05-17").await;
        let banner = text_of(&c, "section.identity").await.unwrap_or_default();
        assert!(
            banner.contains("17/05/1990"),
            "birth date shown in French: {banner}"
        );
        assert!(banner.contains("Féminin"), "sex shown: {banner}");

        let png = c.screenshot().await.expect("screenshot");
        let shot = std::env::temp_dir().join("escale-browser-dossier.png");
        std::fs::write(&shot, &png).expect("write screenshot");
        println!("screenshot of the file page: {}", shot.display());

        // Back to the list; live search by part of the name, unaccented, in lower case.
        click(&c, "header nav a[href='/usagers']").await;
        wait_page(&c, "Usagers", |p| p == "/usagers").await;
        // Marks this document: a full page load would lose the mark.
        c.execute("window.__escaleMark = 'same-document';", vec![])
            .await
            .expect("mark");
        // The first 20 files, then « Afficher jusqu'à 50 dossiers » in place.
        let rows = async || {
            c.find_all(Locator::Css("#resultats tbody tr"))
                .await
                .map_or(0, |r| r.len())
        };
        assert_eq!(rows().await, 20);
        click_x(
            &c,
            "//a[starts-with(normalize-space(), 'Afficher jusqu') and contains(., '50 dossiers')]",
        )
        .await;
        eventually(&c, "every file after « Afficher plus »", async || {
            (rows().await > 20).then_some(())
        })
        .await;
        // Every file (the demo's, the 25 added, the one just created), at most 50.
        assert_eq!(rows().await, (extra + 1).min(50));
        eventually(&c, "the size in the address bar", async || {
            let u = c.current_url().await.ok()?;
            u.query_pairs()
                .any(|(k, v)| k == "n" && v == "50")
                .then_some(())
        })
        .await;
        element(&c, "#f-q")
            .await
            .send_keys("aubigne")
            .await
            .expect("type the search");
        let link = eventually(&c, "live search to keep only the new file", async || {
            let rows = c.find_all(Locator::Css("#resultats tbody tr")).await.ok()?;
            if rows.len() != 1 {
                return None;
            }
            let link = rows[0].find(Locator::Css("a")).await.ok()?;
            link.text()
                .await
                .ok()?
                .contains(&escale::domain::lexical::normalise_capture(name))
                .then_some(link)
        })
        .await;
        let mark = c
            .execute("return window.__escaleMark || null;", vec![])
            .await
            .expect("mark");
        assert_eq!(
            mark,
            json!("same-document"),
            "the search should update the page in place (htmx), not reload it"
        );
        eventually(&c, "the search in the address bar", async || {
            let u = c.current_url().await.ok()?;
            (u.path() == "/usagers" && u.query_pairs().any(|(k, v)| k == "q" && v == "aubigne"))
                .then_some(())
        })
        .await;

        link.click().await.expect("open the file");
        wait_page(&c, "Dossier de", |p| p == file).await;
        // The browser's back button returns to the filtered list (htmx history).
        c.back().await.expect("back");
        wait_page(&c, "Usagers", |p| p == "/usagers").await;
        eventually(&c, "the filtered list again after « back »", async || {
            let q = c
                .find(Locator::Css("#f-q"))
                .await
                .ok()?
                .prop("value")
                .await
                .ok()??;
            let rows = c
                .find_all(Locator::Css("#resultats tbody tr"))
                .await
                .ok()?
                .len();
            (q == "aubigne" && rows == 1).then_some(())
        })
        .await;
        c.forward().await.expect("forward");
        wait_page(&c, "Dossier de", |p| p == file).await;

        // A shared note.
        click(&c, "#notes summary").await;
        let class = element(&c, "#notes select[name='confidentiality']").await;
        // By its visible label (select_by_label cannot quote the apostrophe in it).
        class
            .select_by(Locator::XPath(
                ".//option[starts-with(normalize-space(.), 'Partagée')]",
            ))
            .await
            .expect("choose Partagée");
        assert_eq!(
            class.prop("value").await.expect("class").as_deref(),
            Some("partagee")
        );
        let body = "Appel de sa sœur : rendez-vous fixé à l'accueil, jeudi 14 h.";
        element(&c, "#f-body")
            .await
            .send_keys(body)
            .await
            .expect("type the note");
        click_x(&c, "//button[normalize-space()='Enregistrer la note']").await;
        eventually(&c, "the new shared note in the file", async || {
            for n in c.find_all(Locator::Css("#notes article.note")).await.ok()? {
                let text = n.text().await.ok()?;
                if text.contains(body) {
                    return text.contains("Partagée").then_some(());
                }
            }
            None
        })
        .await;
        assert_eq!(
            c.current_url().await.expect("url").path(),
            file,
            "still on the file"
        );

        // Log out: back to the login page, which must not keep the old
        // session's htmx settings (its CSRF token would refuse the next login).
        log_out(&c).await;
        let stale = c
            .execute("return document.body.getAttribute('hx-headers');", vec![])
            .await
            .expect("script");
        assert_eq!(
            stale,
            Value::Null,
            "the login page should not carry the closed session's CSRF header"
        );
        click_login_button(&c).await;
        wait_page(&c, "Usagers", |p| p == "/usagers").await;
        log_out(&c).await;
        // The list is closed once logged out.
        c.goto(&format!("{base}/usagers"))
            .await
            .expect("open /usagers");
        wait_page(&c, "Connexion", |p| p == "/connexion").await;
    })
    .await;
    println!(
        "browser journey with htmx: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Adds 25 files to the demo CSAPA (through the store): more than the list
/// shows at first. Returns how many files the structure holds then.
async fn more_than_a_page(app: &TestApp) -> usize {
    let store = app.db.store.as_ref();
    let doctor = store
        .find_professional_by_national_id(DOCTOR_ID_NAT)
        .await
        .unwrap()
        .expect("the demo doctor");
    let csapa = store
        .list_structures()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.finess_geo == escale::sandbox::demo::CSAPA_FINESS)
        .expect("the demo CSAPA");
    let t = store
        .tenant_for(doctor.id, csapa.id)
        .await
        .unwrap()
        .expect("a member of the CSAPA");
    for i in 0..25 {
        let identity = crate::common::synthetic::Generator::new(500 + i).identity();
        store.create_usager(&t, &identity, &[]).await.unwrap();
    }
    let all = escale::store::UsagerQuery {
        limit: escale::store::UsagerQuery::MAX_LIMIT,
        ..Default::default()
    };
    store.search_usagers(&t, &all).await.unwrap().len()
}

/// With JavaScript off: plain links and forms are enough to log in, create a
/// file and see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_journey_without_javascript() {
    let Some((app, driver)) = setup().await else {
        return;
    };
    let base = app.url("");
    let started = Instant::now();
    in_browser(&driver, false, move |c| async move {
        log_in(&c, &base).await;
        // WebDriver still runs its own scripts; the page's did not run.
        let htmx = c
            .execute("return typeof window.htmx;", vec![])
            .await
            .expect("script");
        assert_eq!(
            htmx,
            json!("undefined"),
            "page scripts should not run with JavaScript off"
        );

        open_new_form(&c).await;
        create_file(&c, "Sans-Script", "Zoé", "1985-01-31").await;
        click(&c, "header nav a[href='/usagers']").await;
        wait_page(&c, "Usagers", |p| p == "/usagers").await;
        let list = text_of(&c, "#resultats").await.unwrap_or_default();
        assert!(
            list.contains("SANS-SCRIPT ZOE"),
            "the new file is in the list: {list}"
        );
    })
    .await;
    println!(
        "browser journey without JavaScript: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// An RPPS+ social worker (éducateur spécialisé, role 326, e-CPS only) logs
/// in through the PSC sandbox and lands on their structure's home page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_rpps_plus_social_worker_logs_in_with_pro_sante_connect() {
    let Some((app, driver)) = setup().await else {
        return;
    };
    let base = app.url("");
    in_browser(&driver, true, move |c| async move {
        log_in_as(&c, &base, "899900000060", "ecps").await;
        let who = text_of(&c, "header .who").await.unwrap_or_default();
        assert!(
            who.contains("Thomas Girard") && who.contains("CAARUD") && who.contains("e-CPS"),
            "{who}"
        );
        click(&c, "header .who a[href='/profil']").await;
        wait_page(&c, "Mon profil", |p| p == "/profil").await;
        let profile = text_of(&c, "main").await.unwrap_or_default();
        assert!(profile.contains("Éducateur spécialisé (326)"), "{profile}");
        log_out(&c).await;
    })
    .await;
}

/// Reception qualifies a CNDA test person: creates the identity, finds the
/// INS through the INSi sandbox (mutual TLS), confirms, records a passport;
/// the banner then says « Identité qualifiée » and shows the INS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_identity_qualification() {
    let Some((app, driver)) = setup().await else {
        return;
    };
    let base = app.url("");
    in_browser(&driver, true, move |c| async move {
        log_in(&c, &base).await;
        open_new_form(&c).await;
        create_file(&c, "Adrtrois", "Dominique", "1997-02-26").await;
        let status = text_of(&c, ".identity-status").await.unwrap_or_default();
        assert!(status.contains("Identité provisoire"), "{status}");

        click_x(&c, "//button[normalize-space()=\"Rechercher l'INS\"]").await;
        wait_page(&c, "Recherche de l'INS", |p| p.ends_with("/insi")).await;
        let answer = text_of(&c, "main").await.unwrap_or_default();
        assert!(answer.contains("INS-NIR 2 97 02 2A 020 778 78"), "{answer}");
        assert!(answer.contains("2A020"), "returned birth place: {answer}");
        let png = c.screenshot().await.expect("screenshot");
        let shot = std::env::temp_dir().join("escale-browser-insi.png");
        std::fs::write(&shot, &png).expect("write screenshot");
        click_x(
            &c,
            "//button[starts-with(normalize-space(), \"C'est la même personne\")]",
        )
        .await;
        wait_page(&c, "Dossier de", is_file_path).await;
        let status = text_of(&c, ".identity-status").await.unwrap_or_default();
        assert!(status.contains("Identité récupérée"), "{status}");

        element(&c, "#f-document")
            .await
            .select_by_value("PA")
            .await
            .expect("choose the passport");
        click_x(
            &c,
            "//button[normalize-space()=\"Vérifier une pièce d'identité\"]",
        )
        .await;
        // Same page before and after: wait for the new status, not for the page.
        let status = eventually(&c, "the qualified status", async || {
            let s = text_of(&c, ".identity-status").await?;
            s.contains("Identité qualifiée").then_some(s)
        })
        .await;
        assert!(status.contains("2 97 02 2A 020 778 78"), "{status}");
        assert!(status.contains("INS-NIR"), "type from the OID: {status}");
        let png = c.screenshot().await.expect("screenshot");
        let shot = std::env::temp_dir().join("escale-browser-qualifiee.png");
        std::fs::write(&shot, &png).expect("write screenshot");
        println!("screenshot of the qualified file: {}", shot.display());
    })
    .await;
}

/// The card the reception test "inserts": the two beneficiaries of the virtual
/// card used by the agent's own PC/SC test (`agent/tests/virtual_card.rs`).
struct TwoBeneficiaries;

impl escale_agent::card::CardReader for TwoBeneficiaries {
    fn read_beneficiaries(
        &self,
    ) -> Result<Vec<escale_agent::vitale::Beneficiary>, escale_agent::card::CardError> {
        let person = |prenom: &str, date: &str, nir: &str, ouvrant: Option<&str>, rang| {
            escale_agent::vitale::Beneficiary {
                nom: "N'DIAYE".into(),
                prenom: prenom.into(),
                date_naissance: date.into(),
                date_naissance_iso: chrono::NaiveDate::parse_from_str(date, "%Y%m%d").ok(),
                nir: nir.into(),
                nir_ouvrant_droit: ouvrant.map(str::to_string),
                rang: Some(rang),
            }
        };
        Ok(vec![
            person("AMINATA", "19850317", "285037511223359", None, 1),
            person(
                "MOUSSA",
                "20120909",
                "112097511224485",
                Some("285037511223359"),
                2,
            ),
        ])
    }
}

/// The reception page reads the card through the card agent's HTTP API (the
/// real agent server on its default loopback port, allowing only this app's
/// origin; the card itself is read over PC/SC in the agent's own test): the
/// beneficiaries are listed and the chosen one prefills the form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_reception_page_gets_the_beneficiaries() {
    let Some((app, driver)) = setup().await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind(escale_agent::DEFAULT_LISTEN)
        .await
        .expect("port 8765 of the loopback free for the card agent");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The agent gets the sandbox's key as `--key-file <data_dir>/card-agent-key`
    // would: the page must hand it a token signed with that key.
    let agent = tokio::spawn(escale_agent::serve(
        listener,
        escale_agent::AgentConfig::new(app.url(""), app.card_agent_key()),
        std::sync::Arc::new(TwoBeneficiaries),
        async {
            let _ = stopped.await;
        },
    ));
    let base = app.url("");
    in_browser(&driver, true, move |c| async move {
        log_in(&c, &base).await;
        open_new_form(&c).await;
        click(&c, "[data-vitale-read]").await;
        let first = eventually(&c, "the card's beneficiaries", async || {
            let b = c
                .find(Locator::Css("[data-vitale-list] li button"))
                .await
                .ok()?;
            let t = b.text().await.ok()?;
            t.contains("AMINATA").then_some(b)
        })
        .await;
        let all = c
            .find_all(Locator::Css("[data-vitale-list] li"))
            .await
            .unwrap();
        assert_eq!(all.len(), 2, "{}", where_are_we(&c).await);
        first.click().await.unwrap();
        let name = element(&c, "#f-birth_name").await;
        assert_eq!(
            name.prop("value").await.unwrap().as_deref(),
            Some("N'DIAYE")
        );
        let firsts = element(&c, "#f-first_names").await;
        assert_eq!(
            firsts.prop("value").await.unwrap().as_deref(),
            Some("AMINATA")
        );
        let status = text_of(&c, "[data-vitale-status]")
            .await
            .unwrap_or_default();
        assert!(status.contains("ne prouve pas"), "{status}");
    })
    .await;
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
}
