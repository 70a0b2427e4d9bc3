//! Annuaire Santé connector against the Annuaire sandbox: the real client
//! over HTTP (searches, lookups, paging, retries, errors, cache, rate limit),
//! the sandbox's strictness, and the parser on the shared spec samples.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use escale::connectors::annuaire::fhir::{self, Index};
use escale::connectors::annuaire::{
    AnnuaireClient, AnnuaireConfig, AnnuaireError, OrganizationQuery, systems,
};
use escale::domain::directory::{DirectoryPerson, DirectoryQuery, MailboxKind, Workplace};
use escale::sandbox::annuaire::resources::generated_practitioners;
use escale::sandbox::annuaire::{
    AnnuaireBehaviour, AnnuaireSandbox, AnnuaireSandboxHandle, AnnuaireSandboxOptions,
};
use escale::sandbox::professionals::{test_organizations, test_professionals};
use serde_json::{Value, json};

async fn start(options: AnnuaireSandboxOptions) -> AnnuaireSandboxHandle {
    AnnuaireSandbox::start(options).await.unwrap()
}

async fn sandbox() -> AnnuaireSandboxHandle {
    start(AnnuaireSandboxOptions::default()).await
}

/// Test settings: short backoff, the rest as in production.
fn config(sb: &AnnuaireSandboxHandle) -> AnnuaireConfig {
    AnnuaireConfig {
        base_url: sb.base_url().to_owned(),
        api_key: sb.api_key().to_owned(),
        timeout: Duration::from_secs(5),
        retry_backoff: Duration::from_millis(20),
        ..AnnuaireConfig::default()
    }
}

fn client(sb: &AnnuaireSandboxHandle) -> AnnuaireClient {
    AnnuaireClient::new(config(sb)).unwrap()
}

fn person(last_name: &str) -> DirectoryPerson {
    test_professionals()
        .into_iter()
        .map(|p| p.person)
        .find(|p| p.last_name == last_name)
        .unwrap()
}

fn by_rpps(rpps: &str) -> DirectoryQuery {
    DirectoryQuery::Identifier(rpps.to_owned())
}

#[tokio::test]
async fn name_search_finds_thomas_girard_at_his_caarud() {
    let sb = sandbox().await;
    let found = client(&sb)
        .search_practitioners(&DirectoryQuery::Name {
            last_name: "girard".into(),
            first_name: Some("thomas".into()),
        })
        .await
        .unwrap();
    assert_eq!(found, vec![person("GIRARD")]);
    let seen = sb.requests();
    assert!(
        seen[0]
            .target
            .starts_with("/fhir/v2/Practitioner?family=girard&given=thomas")
    );
    assert!(seen.iter().all(|r| r.had_api_key && r.method == "GET"));
    assert!(
        seen.iter()
            .all(|r| r.accept.as_deref() == Some("application/fhir+json"))
    );
    // Accent- and case-insensitive prefix, like the real API.
    let ines = client(&sb)
        .search_practitioners(&DirectoryQuery::parse("moreau INES").unwrap())
        .await
        .unwrap();
    assert_eq!(ines, vec![person("MOREAU")]);
}

#[tokio::test]
async fn rpps_and_idnat_lookups_bring_the_rpps_plus_role_and_workplace() {
    let sb = sandbox().await;
    let c = client(&sb);
    for id in ["99900000060", "899900000060"] {
        let thomas = c.practitioner(id).await.unwrap().unwrap();
        assert_eq!(thomas.id_nat_ps, "899900000060");
        assert_eq!(thomas.situations.len(), 1);
        let s = &thomas.situations[0];
        assert_eq!(s.role.as_ref().unwrap().code, "326");
        assert_eq!(s.workplace.finess.as_deref(), Some("640000022"));
        assert_eq!(s.workplace.finess_legal.as_deref(), Some("640000139"));
        assert_eq!(s.workplace.name, "CAARUD LA BOUSSOLE");
        assert_eq!(s.sector.as_deref(), Some("SA05"));
        assert_eq!(thomas, person("GIRARD"));
    }
    assert!(sb.requests().iter().any(|r| {
        r.target
            .contains("identifier=urn%3Aoid%3A1.2.250.1.71.4.2.1%7C899900000060")
    }));
    assert_eq!(c.practitioner("10000001916").await.unwrap(), None);
}

#[tokio::test]
async fn every_sandbox_professional_reads_back_as_published() {
    let sb = sandbox().await;
    let c = client(&sb);
    for p in test_professionals() {
        let mut expected = p.person.clone();
        // The API carries a situation's sector on its structure: none without one.
        for s in &mut expected.situations {
            if s.workplace == Workplace::default() {
                s.sector = None;
            }
        }
        let rpps = expected.rpps.clone().unwrap();
        assert_eq!(
            c.practitioner(&rpps).await.unwrap(),
            Some(expected),
            "{rpps}"
        );
    }
}

#[tokio::test]
async fn organizations_by_name_and_finess_with_org_mailboxes() {
    let sb = sandbox().await;
    let c = client(&sb);
    let caarud = c
        .search_organizations(&OrganizationQuery::parse("boussole").unwrap())
        .await
        .unwrap();
    assert_eq!(caarud.len(), 1);
    let expected = test_organizations()
        .into_iter()
        .find(|o| o.finess.as_deref() == Some("640000022"))
        .unwrap();
    assert_eq!(caarud[0], expected);
    assert_eq!(caarud[0].mailboxes[0].kind, MailboxKind::Organisationnelle);
    assert_eq!(caarud[0].category.as_ref().unwrap().code, "178");

    let ch = c.organization("640780417").await.unwrap().unwrap();
    assert_eq!(ch.name, "CENTRE HOSPITALIER DE PAU");
    assert_eq!(ch.mailboxes.len(), 2);
    assert_eq!(
        ch.mailboxes[0].description.as_deref(),
        Some("Service d'addictologie (ELSA)")
    );
    let accents = c
        .search_organizations(&OrganizationQuery::Name("hospitalier de pau".into()))
        .await
        .unwrap();
    assert_eq!(accents, vec![ch]);
    assert_eq!(c.organization("999999999").await.unwrap(), None);
}

#[tokio::test]
async fn paging_follows_next_links_up_to_the_page_cap() {
    let sb = start(AnnuaireSandboxOptions {
        extra_people: generated_practitioners(120, "PAGINAUD"),
        ..AnnuaireSandboxOptions::default()
    })
    .await;
    let q = DirectoryQuery::Name {
        last_name: "Paginaud".into(),
        first_name: None,
    };
    let all = AnnuaireClient::new(AnnuaireConfig {
        page_size: 20,
        ..config(&sb)
    })
    .unwrap()
    .find_practitioners(&q)
    .await
    .unwrap();
    assert_eq!(all.items.len(), 120);
    assert!(!all.truncated);
    assert!(
        all.items
            .iter()
            .all(|p| p.situations[0].workplace.finess.as_deref() == Some("640000014"))
    );
    let pages: Vec<String> = sb
        .requests()
        .into_iter()
        .map(|r| r.target)
        .filter(|t| t.starts_with("/fhir/v2?_getpages="))
        .collect();
    assert_eq!(pages.len(), 5, "{pages:?}");
    assert!(pages.iter().all(|t| t.contains("&_pageId=")));

    let before = sb.request_count();
    let capped = AnnuaireClient::new(AnnuaireConfig {
        page_size: 20,
        max_pages: 3,
        ..config(&sb)
    })
    .unwrap()
    .find_practitioners(&q)
    .await
    .unwrap();
    assert_eq!(capped.items.len(), 60);
    assert!(capped.truncated);
    let practitioner_pages = sb.requests()[before..]
        .iter()
        .filter(|r| !r.target.contains("/Organization?"))
        .count();
    assert_eq!(practitioner_pages, 3);
}

#[tokio::test]
async fn throttled_call_waits_retry_after_then_succeeds() {
    let sb = sandbox().await;
    sb.throttle_next(1, 1);
    let started = Instant::now();
    let found = client(&sb)
        .search_organizations(&OrganizationQuery::Finess("640000014".into()))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(found.len(), 1);
    assert_eq!(sb.request_count(), 2);

    // A wait longer than the client accepts ends the call at once, saying when to retry.
    sb.throttle_next(1, 60);
    let started = Instant::now();
    let e = client(&sb)
        .search_organizations(&OrganizationQuery::Finess("640000022".into()))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        e,
        AnnuaireError::RateLimited {
            retry_after_secs: Some(60)
        }
    );
    assert!(e.to_string().contains("réessayez dans 60 secondes"), "{e}");
}

#[tokio::test]
async fn gateway_timeouts_are_retried() {
    let sb = sandbox().await;
    sb.fail_next_with_gateway_timeout(2);
    let found = client(&sb)
        .search_organizations(&OrganizationQuery::Finess("640000014".into()))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(sb.request_count(), 3);
}

#[tokio::test]
async fn persistent_gateway_timeout_gives_a_french_error() {
    let sb = sandbox().await;
    sb.fail_next_with_gateway_timeout(100);
    let e = client(&sb)
        .search_practitioners(&by_rpps("99900000060"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        AnnuaireError::Unavailable {
            status: 504,
            attempts: 4,
            diagnostics: Some("Gateway Timeout (simulé par le bac à sable)".into())
        }
    );
    let m = e.to_string();
    assert!(
        m.starts_with("L'Annuaire Santé est indisponible (HTTP 504 après 4 essai(s)"),
        "{m}"
    );
    assert!(m.contains("réessayez dans quelques minutes"), "{m}");
    assert!(m.contains("copie locale"), "{m}");
    assert_eq!(sb.request_count(), 4);
    assert!(e.is_transient());
}

#[tokio::test]
async fn unavailable_down_and_closed_services_fail_quickly_in_french() {
    let sb = sandbox().await;
    let c = client(&sb);
    sb.set_behaviour(AnnuaireBehaviour::Unavailable);
    let e = c
        .search_practitioners(&by_rpps("99900000060"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, AnnuaireError::Unavailable { status: 503, .. }),
        "{e:?}"
    );

    sb.set_behaviour(AnnuaireBehaviour::Down);
    let started = Instant::now();
    let e = c
        .search_practitioners(&by_rpps("99900000052"))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(e, AnnuaireError::Unreachable { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("L'Annuaire Santé est injoignable"),
        "{e}"
    );

    let config = config(&sb);
    drop(sb);
    let e = AnnuaireClient::new(config)
        .unwrap()
        .search_practitioners(&by_rpps("99900000052"))
        .await
        .unwrap_err();
    assert!(matches!(e, AnnuaireError::Unreachable { .. }), "{e:?}");
}

#[tokio::test]
async fn slow_service_times_out_in_french() {
    let sb = sandbox().await;
    sb.set_behaviour(AnnuaireBehaviour::Slow(Duration::from_secs(3)));
    let started = Instant::now();
    let e = AnnuaireClient::new(AnnuaireConfig {
        timeout: Duration::from_millis(300),
        ..config(&sb)
    })
    .unwrap()
    .search_practitioners(&by_rpps("99900000060"))
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(e, AnnuaireError::Timeout);
    assert_eq!(
        e.to_string(),
        "L'Annuaire Santé ne répond pas (délai dépassé) : réessayez dans quelques minutes ; \
         la copie locale de l'annuaire reste consultable si elle a été importée."
    );
}

#[tokio::test]
async fn missing_or_wrong_api_key_says_what_to_do() {
    let sb = sandbox().await;
    let none = AnnuaireClient::new(AnnuaireConfig {
        api_key: String::new(),
        ..config(&sb)
    })
    .unwrap()
    .search_practitioners(&by_rpps("99900000060"))
    .await
    .unwrap_err();
    assert_eq!(none, AnnuaireError::MissingApiKey);
    assert!(none.to_string().contains("ESCALE_ANNUAIRE_API_KEY"));
    assert_eq!(sb.request_count(), 0, "nothing is sent without a key");

    let wrong = AnnuaireClient::new(AnnuaireConfig {
        api_key: "cle-perimee-0042".into(),
        ..config(&sb)
    })
    .unwrap()
    .search_practitioners(&by_rpps("99900000060"))
    .await
    .unwrap_err();
    assert!(
        matches!(wrong, AnnuaireError::ApiKey { status: 401, .. }),
        "{wrong:?}"
    );
    let m = wrong.to_string();
    assert!(
        m.contains("ESANTE-API-KEY") && m.contains("ESCALE_ANNUAIRE_API_KEY"),
        "{m}"
    );
    assert!(!m.contains("cle-perimee-0042"), "{m}");
    assert!(!wrong.is_transient());
}

#[tokio::test]
async fn sparse_records_are_read_as_they_are() {
    let closed = json!({"resourceType": "Practitioner", "id": "003-closed", "active": false,
        "identifier": [{"system": systems::RPPS, "value": "10000001916"},
                       {"system": systems::ID_NAT_PS, "value": "810000001916"}]});
    let nameless = json!({"resourceType": "Practitioner", "id": "003-nameless",
        "identifier": [{"system": systems::RPPS, "value": "10000005479"}]});
    let dangling = json!({"resourceType": "PractitionerRole", "id": "005-dangling",
        "practitioner": {"reference": "Practitioner/003-nameless"},
        "organization": {"reference": "Organization/does-not-exist"},
        "code": [{"coding": [{"system": systems::TRE_R23_MODE, "code": "L"}]}]});
    let sb = start(AnnuaireSandboxOptions {
        extra_resources: vec![closed, nameless, dangling],
        ..AnnuaireSandboxOptions::default()
    })
    .await;
    let c = client(&sb);
    let p = c.practitioner("10000001916").await.unwrap().unwrap();
    assert_eq!(p.id_nat_ps, "810000001916");
    assert!(p.last_name.is_empty() && p.professions.is_empty() && p.situations.is_empty());
    let p = c.practitioner("810000005479").await.unwrap();
    assert_eq!(p, None, "idNat_PS is not published for this record");
    let p = c.practitioner("10000005479").await.unwrap().unwrap();
    assert_eq!(p.id_nat_ps, "810000005479", "derived from the RPPS");
    assert_eq!(p.situations.len(), 1);
    assert_eq!(p.situations[0].mode.as_deref(), Some("L"));
    assert_eq!(p.situations[0].workplace, Workplace::default());
}

#[tokio::test]
async fn cache_hit_sends_no_request() {
    let sb = sandbox().await;
    let c = client(&sb);
    let q = DirectoryQuery::parse("HADDAD").unwrap();
    let first = c.search_practitioners(&q).await.unwrap();
    let sent = sb.request_count();
    assert!(sent >= 2, "practitioners then their structures");
    let clone = c.clone();
    assert_eq!(clone.search_practitioners(&q).await.unwrap(), first);
    assert_eq!(sb.request_count(), sent, "served from the shared cache");
    c.clear_cache();
    c.search_practitioners(&q).await.unwrap();
    assert!(sb.request_count() > sent);

    let uncached = AnnuaireClient::new(AnnuaireConfig {
        cache_ttl: Duration::ZERO,
        ..config(&sb)
    })
    .unwrap();
    let before = sb.request_count();
    uncached.search_practitioners(&q).await.unwrap();
    uncached.search_practitioners(&q).await.unwrap();
    assert_eq!(sb.request_count(), before + 2 * (sent));
}

#[tokio::test]
async fn burst_of_40_uncached_calls_never_exceeds_the_rate_limit() {
    let sb = sandbox().await;
    let c = AnnuaireClient::new(AnnuaireConfig {
        max_retries: 0,
        ..config(&sb)
    })
    .unwrap();
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..40u32 {
        let c = c.clone();
        calls.spawn(async move { c.practitioner(&format!("1000000{i:04}")).await });
    }
    while let Some(done) = calls.join_next().await {
        assert_eq!(done.unwrap(), Ok(None));
    }
    assert_eq!(sb.request_count(), 40);
    assert_eq!(sb.rate_limited_count(), 0);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "paced, not bursted"
    );
}

#[tokio::test]
async fn sandbox_is_as_strict_as_the_real_api() {
    escale::install_crypto_provider();
    let sb = sandbox().await;
    let http = reqwest::Client::new();
    let base = sb.base_url().to_owned();
    let get = |url: String, key: Option<&str>| {
        let mut r = http.get(url);
        if let Some(k) = key {
            r = r.header("ESANTE-API-KEY", k);
        }
        r.send()
    };
    let key = Some(sb.api_key());
    let outcome = |v: &Value| v["resourceType"] == "OperationOutcome";

    let r = get(format!("{base}/Practitioner?family=GIRARD"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(outcome(&r.json().await.unwrap()));

    let r = http
        .post(format!("{base}/Practitioner"))
        .header("ESANTE-API-KEY", sb.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    let r = get(format!("{base}/Practitioner?birthdate=1980"), key)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("Unknown search parameter")
    );

    let r = get(format!("{base}?_getpages=nope&_pageId=x"), key)
        .await
        .unwrap();
    assert_eq!(r.status(), 410);

    // Default page size 50, `_count` capped at 100, absolute next link.
    let r = get(format!("{base}/PractitionerRole?_count=500"), key)
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "searchset");
    let page = fhir::parse_bundle(&v).unwrap();
    assert!(page.resources.len() <= 100);
    let r = get(format!("{base}/Organization?_count=2"), key)
        .await
        .unwrap();
    let page = fhir::parse_bundle(&r.json().await.unwrap()).unwrap();
    assert_eq!(page.resources.len(), 2);
    let next = page.next.unwrap();
    assert!(next.starts_with(&format!("{base}?_getpages=")), "{next}");
    let r = get(next, key).await.unwrap();
    assert_eq!(r.status(), 200);

    // Bursts beyond 17 per second are refused.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..30 {
        burst.spawn(get(format!("{base}/Organization?_id=x"), key));
    }
    let mut refused = 0;
    while let Some(r) = burst.join_next().await {
        let r = r.unwrap().unwrap();
        if r.status() == 429 {
            assert_eq!(r.headers()["retry-after"], "1");
            refused += 1;
        }
    }
    assert!(refused > 0);
    assert_eq!(sb.rate_limited_count(), refused);
}

/// The spec samples folder, or `None` (saying so) when absent; under `CI` its
/// absence fails the test.
fn spec_samples() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/psc-annuaire/annuaire"
    ));
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var_os("CI").is_some() {
        panic!("{} is missing (required under CI)", dir.display());
    } else {
        eprintln!(
            "{} is missing — the spec samples check did not run",
            dir.display()
        );
        None
    }
}

fn sample(dir: &std::path::Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn spec_samples_parse() {
    let Some(dir) = spec_samples() else {
        return;
    };
    let pp19 = sample(&dir, "practitioner-as-dp-pp19.json");
    let p = Index::new([&pp19]).persons().remove(0);
    assert_eq!(p.id_nat_ps, "810003461033");
    assert_eq!(p.rpps.as_deref(), Some("10003461033"));
    assert_eq!(p.display_name(), "Arthur Saucier");
    assert_eq!(p.civility.as_deref(), Some("M"));
    assert_eq!(p.professions[0].code, "10");
    assert_eq!(p.professions[0].label, "Médecin");
    assert_eq!(p.mailboxes[0].address, "jeromebonnet@pro.mssante.fr");
    assert_eq!(p.mailboxes[0].kind, MailboxKind::Personnelle);

    let v2 = sample(&dir, "practitioner-v2-style-with-smartcard-and-mss.json");
    let p = Index::new([&v2]).persons().remove(0);
    assert_eq!(p.civility.as_deref(), Some("DR"));
    assert_eq!(p.display_name(), "Sophie Leclerc");
    assert_eq!(p.professions[0].code, "70");
    assert_eq!(p.mailboxes.len(), 1);
    assert_eq!(p.mailboxes[0].kind, MailboxKind::Personnelle);

    let org = sample(&dir, "organization-as-dp-eg.TRANSCRIBED.json");
    let o = fhir::organization(&org);
    assert_eq!(o.finess.as_deref(), Some("754567860"));
    assert_eq!(o.id_nat_struct.as_deref(), Some("1754567860"));
    assert_eq!(o.name, "CH EURE-SEINE");
    assert_eq!(
        (o.postal_code.as_deref(), o.city.as_deref()),
        (Some("75014"), Some("PARIS"))
    );
    assert_eq!(
        o.mailboxes.len(),
        1,
        "the ORG box, not the phone nor the fax"
    );
    assert_eq!(o.mailboxes[0].kind, MailboxKind::Organisationnelle);
    assert_eq!(
        o.mailboxes[0].description.as_deref(),
        Some("DR HOUSE Secrétariat")
    );

    // The role sample points to Practitioner/334081 and Organization/158480.
    let role = sample(&dir, "practitionerrole-as-dp-pp19-salarie.TRANSCRIBED.json");
    let mut practitioner = pp19.clone();
    practitioner["id"] = json!("334081");
    let mut site = org.clone();
    site["id"] = json!("158480");
    let resources = [practitioner, role, site];
    let index = Index::new(&resources);
    assert!(index.missing_organizations().is_empty());
    let p = index.persons().remove(0);
    let s = &p.situations[0];
    assert_eq!(s.mode.as_deref(), Some("S"));
    assert_eq!(s.role.as_ref().map(|r| r.code.as_str()), Some("FON-AU"));
    assert_eq!(s.workplace.finess.as_deref(), Some("754567860"));
    assert_eq!(s.sector.as_deref(), Some("SA01"));

    let paging = sample(&dir, "searchset-paging-skeleton.json");
    let page = fhir::parse_bundle(&paging["bundle"]).unwrap();
    let next = page.next.unwrap();
    assert!(next.starts_with("https://gateway.api.esante.gouv.fr/fhir/v2?_getpages="));
    assert!(next.contains("&_pageId="));
    let people = Index::new(&page.resources).persons();
    assert_eq!(people.len(), 1);
    assert_eq!(people[0].id_nat_ps, "810000001916");
    assert!(people[0].last_name.is_empty());
}
