//! Accessibility: axe-core's WCAG 2.1 A and AA rules over every page that a
//! director, a reception agent and a doctor of the demo CSAPA reach, plus the
//! login, structure choice, validation error and 404 pages.
//!
//! axe-core comes from its registry (npm) at test time, pinned, into a cache
//! outside the sources (`ESCALE_AXE_JS` may name an `axe.min.js` instead). It
//! is injected through WebDriver, which the page's CSP does not govern: the
//! app's CSP stays strict. Without it the test says it did not run, except
//! under CI where it fails.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fantoccini::Client;
use serde::Deserialize;
use serde_json::json;

use super::{
    CSAPA, DOCTOR_ID_NAT, click_login_as, click_x, element, eventually, in_browser, is_file_path,
    log_in_as, log_out, setup, text_of, wait_page,
};

/// The axe-core release the test runs (npm package `axe-core`).
const AXE_VERSION: &str = "4.14.1";
/// The rule sets checked: WCAG 2.0 and 2.1, levels A and AA.
const WCAG_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
/// Bound on the pages checked per role (the walk keeps one page per route,
/// except for files).
const MAX_PAGES: usize = 40;
/// How many files' pages the walk checks.
const MAX_FILES: usize = 6;

/// Who logs in: a label for the report, the PSC sandbox's id and login mode,
/// and the structure to pick when they work in several.
struct Person {
    label: &'static str,
    id_nat: &'static str,
    mode: &'static str,
    picks_structure: bool,
}

static PEOPLE: [Person; 3] = [
    Person {
        label: "directrice (Anne Roussel)",
        id_nat: "899900000052",
        mode: "carte",
        picks_structure: true,
    },
    Person {
        label: "accueil (Lucie Bernard)",
        id_nat: "899900000078",
        mode: "ecps",
        picks_structure: false,
    },
    Person {
        label: "médecin (Claire Martin)",
        id_nat: DOCTOR_ID_NAT,
        mode: "carte",
        picks_structure: false,
    },
];

/// A serious or critical violation, as axe reports it, on one page.
#[derive(Deserialize)]
struct Violation {
    id: String,
    impact: String,
    help: String,
    targets: Vec<String>,
    summary: String,
}

/// What the walks found: pages checked, and a line per violation.
#[derive(Default)]
pub(super) struct Report {
    pub(super) pages: usize,
    pub(super) violations: Vec<String>,
}

pub(super) type Findings = Arc<Mutex<Report>>;

/// axe-core's source, or `None` when it cannot be had outside CI (the test
/// says it did not run); under CI its absence fails the test.
pub(super) fn axe_or_skip() -> Option<Arc<String>> {
    match axe_source() {
        Ok(js) => Some(Arc::new(js)),
        Err(why) => {
            let why = format!("axe-core {AXE_VERSION} unavailable: {why}");
            assert!(
                std::env::var_os("CI").is_none(),
                "accessibility test (CI is set, so this is a failure): {why}"
            );
            println!("browser accessibility test not run: {why}");
            None
        }
    }
}

/// Fails with every serious or critical violation found.
pub(super) fn assert_no_violations(findings: &Findings) {
    let report = findings.lock().unwrap();
    assert!(
        report.violations.is_empty(),
        "{} serious or critical accessibility violations over {} pages (axe-core {AXE_VERSION}, {}):\n{}",
        report.violations.len(),
        report.pages,
        WCAG_TAGS.join(", "),
        report.violations.join("\n")
    );
}

/// axe.min.js from `ESCALE_AXE_JS`, or from npm into the test cache; `Err`
/// says why it could not be had.
fn axe_source() -> Result<String, String> {
    if let Some(p) = std::env::var_os("ESCALE_AXE_JS") {
        let p = PathBuf::from(p);
        return std::fs::read_to_string(&p)
            .map_err(|e| format!("ESCALE_AXE_JS={}: {e}", p.display()));
    }
    // Under the target directory (CARGO_TARGET_TMPDIR): outside the sources,
    // kept between runs.
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("axe-core-{AXE_VERSION}"));
    let file = |dir: &Path| dir.join("node_modules/axe-core/axe.min.js");
    if !file(&prefix).is_file() {
        // Installed aside then renamed, so that a half install is never used.
        let partial = prefix.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        let out = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--no-package-lock",
                "--silent",
                "--fetch-retries=1",
                "--fetch-timeout=30000",
                "--prefix",
            ])
            .arg(&partial)
            .arg(format!("axe-core@{AXE_VERSION}"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run npm ({e}): apt-get install npm"))?;
        if !out.status.success() || !file(&partial).is_file() {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(format!(
                "npm install axe-core@{AXE_VERSION} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        // Another run may have finished first: either copy will do.
        if std::fs::rename(&partial, &prefix).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
    }
    std::fs::read_to_string(file(&prefix)).map_err(|e| format!("{}: {e}", prefix.display()))
}

/// Runs axe on the page the browser shows and records its serious and
/// critical violations under `page`.
pub(super) async fn check_page(c: &Client, axe: &str, page: &str, who: &str, findings: &Findings) {
    // Each page load forgets the script: inject it again.
    c.execute(axe, vec![])
        .await
        .unwrap_or_else(|e| panic!("injecting axe-core into {page}: {e}"));
    let found = c
        .execute_async(
            "const [tags, done] = arguments;
             axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                              targets: v.nodes.map(n => n.target.join(' ')),
                              summary: (v.nodes[0] && v.nodes[0].failureSummary) || '' }))))
               .catch(e => done({ error: String(e) }));",
            vec![json!(WCAG_TAGS)],
        )
        .await
        .unwrap_or_else(|e| panic!("running axe on {page}: {e}"));
    if let Some(err) = found.get("error") {
        panic!("axe failed on {page}: {err}");
    }
    let violations: Vec<Violation> =
        serde_json::from_value(found).unwrap_or_else(|e| panic!("axe's answer on {page}: {e}"));
    println!(
        "axe: {page} as {who}: {} serious or critical",
        violations.len()
    );
    let mut report = findings.lock().unwrap();
    report.pages += 1;
    for v in violations {
        report.violations.push(format!(
            "[{}] {} on {page} ({who}): {}\n    targets: {}\n    {}",
            v.impact,
            v.id,
            v.help,
            v.targets.join(" | "),
            v.summary.replace('\n', "\n    ")
        ));
    }
}

/// Where the browser is: path and query.
async fn here(c: &Client) -> String {
    let u = c.current_url().await.expect("current url");
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

/// A route's shape: the path with its ids replaced, so that one file (one
/// correspondent, one job…) stands for all.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if uuid::Uuid::parse_str(s).is_ok()
                || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            {
                "{id}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Pages the walk leaves alone: documents that are not HTML, login and logout,
/// the administration, static files.
fn walked(path: &str) -> bool {
    let skipped_prefix = ["/auth", "/connexion", "/deconnexion", "/admin", "/static"];
    let skipped_ext = [".pdf", ".json", ".svg", ".csv", ".js", ".css", ".png"];
    !skipped_prefix
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
        && !skipped_ext.iter().any(|e| path.ends_with(e))
}

/// The same-origin links of the navigation and of the page's content.
async fn links(c: &Client) -> Vec<String> {
    let found = c
        .execute(
            "return [...document.querySelectorAll('header nav a[href], header .who a[href], main a[href]')]
               .filter(a => a.origin === location.origin)
               .map(a => a.pathname + a.search);",
            vec![],
        )
        .await
        .expect("read the page's links");
    serde_json::from_value(found).unwrap_or_default()
}

/// From the list, every page reachable through links, one per route shape,
/// each checked with axe.
async fn walk(c: &Client, base: &str, axe: &str, who: &str, findings: &Findings) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue = VecDeque::from(["/usagers".to_string()]);
    seen.insert(shape("/usagers"));
    let (mut checked, mut files) = (0, 0);
    while let Some(target) = queue.pop_front() {
        assert!(
            checked < MAX_PAGES,
            "more than {MAX_PAGES} pages reachable as {who}: raise MAX_PAGES if that is expected"
        );
        c.goto(&format!("{base}{target}"))
            .await
            .unwrap_or_else(|e| panic!("open {target}: {e}"));
        let page = here(c).await;
        assert!(
            page != "/connexion",
            "{target} sent {who} back to the login page"
        );
        check_page(c, axe, &page, who, findings).await;
        checked += 1;
        for link in links(c).await {
            let path = link.split('?').next().unwrap_or_default();
            if !walked(path) {
                continue;
            }
            // Every file of the list (up to MAX_FILES) rather than one: a
            // file page differs with its state (anonymous, in care, …).
            let new = if is_file_path(path) && files < MAX_FILES {
                let new = seen.insert(path.to_string());
                files += usize::from(new);
                if files == MAX_FILES {
                    seen.insert(shape(path));
                }
                new
            } else {
                seen.insert(shape(path))
            };
            if new {
                queue.push_back(link);
            }
        }
    }
}

/// Pages a walk does not reach: search results, a refused form, 404s.
async fn check_other_pages(c: &Client, base: &str, axe: &str, who: &str, findings: &Findings) {
    // The file search, the search for an earlier file on the new-file form,
    // and that search refused (an impossible birth date).
    for (search, title, shown, what) in [
        (
            "/usagers?q=du",
            "Usagers",
            "#resultats tbody tr",
            "search results",
        ),
        (
            "/usagers/nouveau?ant_date=12%2F03%2F1984&ant_nom=dur&ant_prenom=",
            "Nouveau dossier",
            "#anteriorite ul a",
            "earlier file found",
        ),
        (
            "/usagers/nouveau?ant_date=31%2F02%2F1984&ant_nom=&ant_prenom=",
            "Nouveau dossier",
            "#anteriorite .has-error",
            "search refused",
        ),
    ] {
        c.goto(&format!("{base}{search}"))
            .await
            .unwrap_or_else(|e| panic!("open {search}: {e}"));
        wait_page(c, title, |_| true).await;
        element(c, shown).await;
        check_page(c, axe, &format!("{search} ({what})"), who, findings).await;
    }

    // An empty form: its errors listed (or a 403 where the procedure keeps
    // this role from creating files).
    c.goto(&format!("{base}/usagers/nouveau"))
        .await
        .expect("open the new-file form");
    wait_page(c, "Nouveau dossier", |p| p == "/usagers/nouveau").await;
    click_x(c, "//button[normalize-space()='Créer le dossier']").await;
    let shown = eventually(c, "the refused form", async || {
        if text_of(c, ".error-summary").await.is_some() {
            Some("errors listed")
        } else {
            text_of(c, "main .error-text").await.map(|_| "refused")
        }
    })
    .await;
    let form = format!("/usagers/nouveau (sent empty: {shown})");
    check_page(c, axe, &form, who, findings).await;

    for missing in [
        "/nulle-part".to_string(),
        format!("/usagers/{}", uuid::Uuid::new_v4()),
    ] {
        c.goto(&format!("{base}{missing}"))
            .await
            .expect("open a missing page");
        check_page(c, axe, &format!("{missing} (404)"), who, findings).await;
    }
}

/// One role's scenario: login (and the pages on the way), the walk, the
/// other pages, logout.
async fn as_person(c: &Client, base: &str, axe: &str, p: &Person, findings: &Findings) {
    c.goto(&format!("{base}/connexion"))
        .await
        .expect("open /connexion");
    wait_page(c, "Connexion", |p| p == "/connexion").await;
    if std::ptr::eq(p, &PEOPLE[0]) {
        check_page(c, axe, "/connexion", "before login", findings).await;
    }
    if p.picks_structure {
        click_login_as(c, p.id_nat, p.mode).await;
        wait_page(c, "Choisissez votre structure", |_| true).await;
        let page = format!("{} (structure choice)", here(c).await);
        check_page(c, axe, &page, p.label, findings).await;
        click_x(
            c,
            &format!("//button[contains(normalize-space(), '{CSAPA}')]"),
        )
        .await;
        wait_page(c, "Usagers", |p| p == "/usagers").await;
    } else {
        log_in_as(c, base, p.id_nat, p.mode).await;
    }
    walk(c, base, axe, p.label, findings).await;
    check_other_pages(c, base, axe, p.label, findings).await;
    c.goto(&format!("{base}/usagers"))
        .await
        .expect("back to the list");
    log_out(c).await;
}

/// Finding 11 of issue 11: no serious or critical WCAG 2.1 A/AA violation on
/// the pages of a director, a reception agent and a doctor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_pages_pass_axe_for_director_reception_and_doctor() {
    let Some(axe) = axe_or_skip() else {
        return;
    };
    let Some((app, driver)) = setup().await else {
        return;
    };
    let base = app.url("");
    let findings: Findings = Arc::default();
    // One Chromium session per person (a fresh profile), one chromedriver.
    for p in &PEOPLE {
        let started = Instant::now();
        let before = findings.lock().unwrap().pages;
        let (base, axe, f) = (base.clone(), axe.clone(), findings.clone());
        in_browser(&driver, true, move |c| async move {
            as_person(&c, &base, &axe, p, &f).await;
        })
        .await;
        println!(
            "axe as {}: {} pages in {:.1} s",
            p.label,
            findings.lock().unwrap().pages - before,
            started.elapsed().as_secs_f64()
        );
    }
    assert_no_violations(&findings);
}

#[test]
fn shapes_stand_for_every_id() {
    let id = uuid::Uuid::new_v4();
    assert_eq!(
        shape(&format!("/usagers/{id}/modifier")),
        "/usagers/{id}/modifier"
    );
    assert_eq!(
        shape("/identitovigilance/traitements/12"),
        "/identitovigilance/traitements/{id}"
    );
    assert!(!walked("/usagers/x/fiche-identite.pdf") && !walked("/auth/psc/login"));
    assert!(walked("/usagers") && walked("/authentique"));
}
