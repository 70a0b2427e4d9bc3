//! Pro Santé Connect: the real OIDC client (openidconnect) against the PSC
//! sandbox over HTTP — full logins (card, e-CPS), structure choice, the
//! professional without a structure and the invitation code, wrong state,
//! another browser, replayed code, bad nonce, expired ID token, returned
//! `acr` different from the requested one, signed userinfo, PSC down, logout.

use escale::config::Mode;
use escale::domain::invitation;
use escale::sandbox::psc::{PscFault, PscSandboxHandle, PscSandboxOptions};
use escale::store::access::NewInvitation;
use reqwest::StatusCode;

use crate::common::app::{
    TestApp, location, psc_authorize, psc_callback, query_param, spawn_app, spawn_with_config,
    test_config,
};
use crate::common::db::TestDb;

const CLAIRE: &str = "899900000011"; // médecin, carte CPS, CSAPA
const JULIEN: &str = "899900000029"; // infirmier, CSAPA et CAARUD
const THOMAS: &str = "899900000060"; // éducateur spécialisé RPPS+ (326), CAARUD, e-CPS
const INES: &str = "899900000086"; // RPPS+, pas encore rattachée
const KIT: &str = "899700427885"; // carte de test BAS

async fn demo_app(db: TestDb) -> TestApp {
    escale::sandbox::demo::seed(db.store.as_ref())
        .await
        .expect("seed");
    spawn_app(db).await
}

async fn text(r: reqwest::Response) -> (StatusCode, String) {
    let s = r.status();
    (s, r.text().await.unwrap())
}

fn sandbox(app: &TestApp) -> &PscSandboxHandle {
    app.sandboxes.psc.as_ref().expect("PSC sandbox")
}

async fn journal(app: &TestApp) -> Vec<escale::domain::audit::AuditRecord> {
    let mut all = Vec::new();
    for chain in app.db.store.audit_chains().await.unwrap() {
        all.extend(app.db.store.audit_chain(chain, 0, 1000).await.unwrap());
    }
    all
}

async fn card_and_ecps_logins_record_the_means_and_the_acr(db: TestDb) {
    let app = demo_app(db).await;
    // Card: BAS answers eidas3 although eidas1 was asked; accepted and recorded.
    let c = app.client();
    let r = c.get(app.url("/auth/psc/login")).send().await.unwrap();
    let authorize = reqwest::Url::parse(location(&r)).unwrap();
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "openid scope_all");
    assert_eq!(q["acr_values"], "eidas1");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(
        q["state"].len() >= 22 && q["nonce"].len() >= 22,
        "128 bits at least"
    );
    assert_ne!(
        authorize.port(),
        reqwest::Url::parse(sandbox(&app).issuer()).unwrap().port(),
        "authorization lives on another host than the issuer"
    );
    let r = psc_callback(&app, &c, CLAIRE, "carte").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/usagers");
    let (_, page) = text(c.get(app.url("/usagers")).send().await.unwrap()).await;
    assert!(
        page.contains("carte CPS") && page.contains("eidas3"),
        "{page}"
    );
    // The profile shows what PSC said: profession and workplace, suggested roles.
    let (status, profile) = text(c.get(app.url("/profil")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        profile.contains("Médecin") && profile.contains("CSAPA LE PHARE"),
        "{profile}"
    );
    assert!(profile.contains("640000014"), "{profile}");
    // e-CPS: eidas2; an RPPS+ social worker with role 326 lands in their structure.
    let c2 = app.client();
    let r = psc_callback(&app, &c2, THOMAS, "ecps").await;
    assert_eq!(location(&r), "/usagers");
    let (_, page) = text(c2.get(app.url("/usagers")).send().await.unwrap()).await;
    assert!(page.contains("e-CPS") && page.contains("eidas2"), "{page}");
    assert!(page.contains("CAARUD"), "{page}");
    let (_, profile) = text(c2.get(app.url("/profil")).send().await.unwrap()).await;
    assert!(
        profile.contains("326") || profile.contains("Educateur spécialisé"),
        "{profile}"
    );
    // Whatever acr comes back is accepted (eidas2 for a card, as production does now).
    sandbox(&app).set_acr(Some("eidas2"));
    let c3 = app.client();
    let r = psc_callback(&app, &c3, CLAIRE, "carte").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let logins: Vec<_> = journal(&app)
        .await
        .into_iter()
        .filter(|e| e.action == "connexion")
        .map(|e| e.details)
        .collect();
    assert!(
        logins
            .iter()
            .any(|d| d.contains("carte CPS") && d.contains("eidas3")),
        "{logins:?}"
    );
    assert!(
        logins
            .iter()
            .any(|d| d.contains("e-CPS") && d.contains("eidas2")),
        "{logins:?}"
    );
    assert!(
        logins
            .iter()
            .any(|d| d.contains("carte CPS") && d.contains("eidas2")),
        "{logins:?}"
    );
}
both_backends!(card_and_ecps_logins_record_the_means_and_the_acr);

async fn several_structures_means_a_choice(db: TestDb) {
    let app = demo_app(db).await;
    let c = app.client();
    let r = psc_callback(&app, &c, JULIEN, "carte").await;
    let (status, page) = text(r).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("plusieurs structures") && page.contains("CAARUD"),
        "{page}"
    );
    let caarud = app
        .db
        .store
        .find_structure_by_finess(escale::sandbox::demo::CAARUD_FINESS)
        .await
        .unwrap()
        .unwrap();
    let marker = format!(r#"name="structure_id" value="{}""#, caarud.id);
    let form = &page[page[..page.find(&marker).unwrap()].rfind("<form").unwrap()..];
    let fields = [
        ("_csrf", crate::common::app::csrf_in(form)),
        ("choix", crate::common::app::hidden_value(form, "choix")),
        ("structure_id", caarud.id.to_string()),
    ];
    // Another browser cannot use this choice.
    let other = app.client();
    let r = other
        .post(app.url("/auth/psc/structure"))
        .header("Cookie", format!("escale_csrf={}", fields[0].1))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The browser that logged in can (the other attempt consumed nothing of it? it did: single use).
    let r = c
        .post(app.url("/auth/psc/structure"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "a choice is single use, even when misused"
    );
    let r = psc_callback(&app, &c, JULIEN, "carte").await;
    let page = r.text().await.unwrap();
    let form = &page[page[..page.find(&marker).unwrap()].rfind("<form").unwrap()..];
    let r = c
        .post(app.url("/auth/psc/structure"))
        .form(&[
            ("_csrf", crate::common::app::csrf_in(form)),
            ("choix", crate::common::app::hidden_value(form, "choix")),
            ("structure_id", caarud.id.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, home) = text(c.get(app.url("/usagers")).send().await.unwrap()).await;
    assert!(home.contains("CAARUD"), "{home}");
}
both_backends!(several_structures_means_a_choice);

async fn unknown_professional_sees_a_french_page_then_an_invitation_ties_them(db: TestDb) {
    let app = demo_app(db).await;
    let c = app.client();
    // A BAS test card unknown to Escale: a clear page, not an error.
    let (status, page) = text(psc_callback(&app, &c, KIT, "carte").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("rattaché à aucune structure") && page.contains("directeur"),
        "{page}"
    );
    assert!(c.get(app.url("/usagers")).send().await.unwrap().status() == StatusCode::SEE_OTHER);
    // Inès was pre-registered by the director before her RPPS existed.
    let store = &app.db.store;
    let csapa = store
        .find_structure_by_finess(escale::sandbox::demo::CSAPA_FINESS)
        .await
        .unwrap()
        .unwrap();
    let director = store
        .find_professional_by_national_id("899900000052")
        .await
        .unwrap()
        .unwrap();
    let tenant = store
        .tenant_for(director.id, csapa.id)
        .await
        .unwrap()
        .unwrap();
    let ines = crate::common::db::create_professional(
        store,
        "Inès",
        "Moreau",
        None,
        "Éducatrice spécialisée",
    )
    .await;
    store
        .set_roles(
            &tenant,
            ines.id,
            &[escale::domain::roles::Role::Educateur],
            &[],
        )
        .await
        .unwrap();
    let code = invitation::generate(&[7; 12]);
    store
        .create_invitation(
            &tenant,
            &NewInvitation {
                code_hash: escale::web::hash_token(&invitation::normalize(&code)),
                professional_id: ines.id,
                expires_at: chrono::Utc::now() + chrono::Duration::days(30),
            },
            &[],
        )
        .await
        .unwrap();
    let c = app.client();
    let (status, page) = text(psc_callback(&app, &c, INES, "ecps").await).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = crate::common::app::csrf_in(&page);
    let pending = crate::common::app::hidden_value(&page, "attente");
    // A wrong code: said in French, what was typed is kept.
    let r = c
        .post(app.url("/auth/psc/invitation"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("attente", &pending),
            ("code", "FAUX-CODE"),
        ])
        .send()
        .await
        .unwrap();
    let (status, page) = text(r).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Code inconnu") && page.contains("FAUX-CODE"),
        "{page}"
    );
    let csrf = crate::common::app::csrf_in(&page);
    let typed = code.to_lowercase().replace('-', " ");
    let r = c
        .post(app.url("/auth/psc/invitation"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("attente", &pending),
            ("code", &typed),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let tied = store.get_professional(ines.id).await.unwrap().unwrap();
    assert_eq!(tied.national_id.as_deref(), Some(INES));
    // The code served once.
    let c2 = app.client();
    let page = psc_callback(&app, &c2, KIT, "carte")
        .await
        .text()
        .await
        .unwrap();
    let r = c2
        .post(app.url("/auth/psc/invitation"))
        .form(&[
            ("_csrf", crate::common::app::csrf_in(&page)),
            (
                "attente",
                crate::common::app::hidden_value(&page, "attente"),
            ),
            ("code", code.clone()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
both_backends!(unknown_professional_sees_a_french_page_then_an_invitation_ties_them);

async fn wrong_state_other_browser_and_replayed_code_are_refused(db: TestDb) {
    let app = demo_app(db).await;
    let c = app.client();
    let (status, page) = text(
        c.get(app.url("/auth/psc/callback?state=invente&code=abc"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("inconnue") && page.contains("Recommencer"),
        "{page}"
    );
    // A callback URL opened in another browser (the login was started elsewhere).
    let callback = psc_authorize(&app, &c, CLAIRE, "carte").await;
    let thief = app.client();
    let r = thief.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let used_once = c.get(&callback).send().await.unwrap();
    assert_eq!(
        used_once.status(),
        StatusCode::BAD_REQUEST,
        "the state was consumed by the thief's attempt"
    );
    // A code that served once, replayed with a fresh state of the right browser: PSC refuses it.
    let callback = psc_authorize(&app, &c, CLAIRE, "carte").await;
    let used_code = query_param(&callback, "code");
    assert_eq!(
        c.get(&callback).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let r = c.get(app.url("/auth/psc/login")).send().await.unwrap();
    let fresh_state = query_param(location(&r), "state");
    let r = c
        .get(app.url(&format!(
            "/auth/psc/callback?state={fresh_state}&code={used_code}"
        )))
        .send()
        .await
        .unwrap();
    let (status, page) = text(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("refusé") && page.contains("Code not valid"),
        "{page}"
    );
    // PSC's own error comes back as a French page too.
    let r = c.get(app.url("/auth/psc/login")).send().await.unwrap();
    let state = query_param(location(&r), "state");
    let (status, page) = text(
        c.get(app.url(&format!(
            "/auth/psc/callback?state={state}&error=access_denied&error_description=annul%C3%A9"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("annulé") && page.contains("recommencez"),
        "{page}"
    );
}
both_backends!(wrong_state_other_browser_and_replayed_code_are_refused);

async fn bad_tokens_and_a_down_provider_open_no_session(db: TestDb) {
    let app = demo_app(db).await;
    for (fault, words, status) in [
        (PscFault::WrongNonce, "nonce", StatusCode::BAD_REQUEST),
        (PscFault::ExpiredIdToken, "expiré", StatusCode::BAD_REQUEST),
        (
            PscFault::TokenDown,
            "ne répond pas",
            StatusCode::BAD_GATEWAY,
        ),
    ] {
        sandbox(&app).set_fault(fault);
        let c = app.client();
        let r = psc_callback(&app, &c, CLAIRE, "carte").await;
        assert!(
            r.headers()
                .get_all("set-cookie")
                .iter()
                .all(|v| !v.to_str().unwrap().starts_with("escale_session=")),
            "{fault:?}: no session"
        );
        let (s, page) = text(r).await;
        assert_eq!(s, status, "{fault:?}: {page}");
        assert!(page.contains(words), "{fault:?}: {page}");
        assert!(c.get(app.url("/usagers")).send().await.unwrap().status() == StatusCode::SEE_OTHER);
    }
    sandbox(&app).set_fault(PscFault::None);
    let c = app.client();
    assert_eq!(
        psc_callback(&app, &c, CLAIRE, "carte").await.status(),
        StatusCode::SEE_OTHER
    );
}
both_backends!(bad_tokens_and_a_down_provider_open_no_session);

async fn logout_ends_the_local_session_and_the_psc_session(db: TestDb) {
    let app = demo_app(db).await;
    let c = app.client();
    crate::common::app::login_as(&app, &c, CLAIRE).await;
    let (_, home) = text(c.get(app.url("/usagers")).send().await.unwrap()).await;
    let csrf = crate::common::app::csrf_in(&home);
    let r = c
        .post(app.url("/deconnexion"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let refresh = r.headers()["refresh"].to_str().unwrap().to_string();
    let url = refresh.strip_prefix("0;url=").unwrap().to_string();
    assert!(url.starts_with(sandbox(&app).issuer()), "{url}");
    assert!(
        url.contains("id_token_hint=") && url.contains("post_logout_redirect_uri="),
        "{url}"
    );
    assert!(c.get(app.url("/usagers")).send().await.unwrap().status() == StatusCode::SEE_OTHER);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).starts_with(&app.url("/connexion?deconnecte=1")),
        "{}",
        location(&r)
    );
    assert_eq!(sandbox(&app).logouts(), 1);
    let (_, page) = text(c.get(location(&r)).send().await.unwrap()).await;
    assert!(page.contains("déconnecté"), "{page}");
    // The same hint cannot log out twice.
    assert_eq!(
        c.get(&url).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}
both_backends!(logout_ends_the_local_session_and_the_psc_session);

/// Explicit PSC settings in sandbox mode point the login at that provider
/// (here a second sandbox, as any OpenID Connect provider would be); the
/// userinfo comes as a signed JWT when so configured.
async fn configured_provider_and_signed_userinfo(db: TestDb) {
    escale::sandbox::demo::seed(db.store.as_ref())
        .await
        .expect("seed");
    let provider = PscSandboxHandle::start(PscSandboxOptions {
        client_id: "escale-test".into(),
        client_secret: "autre-secret".into(),
        redirect_uris: Vec::new(),
    })
    .await
    .unwrap();
    provider.set_userinfo_jwt(true);
    let mut config = test_config(&db, escale::config::Mode::Sandbox);
    config.psc.issuer = Some(provider.issuer().to_string());
    config.psc.client_id = Some("escale-test".into());
    config.psc.client_secret = Some("autre-secret".into());
    config.psc.userinfo_jwt = true;
    let app = spawn_with_config(db, config).await;
    assert!(
        app.sandboxes.psc.as_ref().is_none(),
        "no local sandbox when a provider is configured"
    );
    let c = app.client();
    let r = c.get(app.url("/auth/psc/login")).send().await.unwrap();
    assert!(location(&r).starts_with(provider.wallet_url()));
    let r = psc_callback(&app, &c, THOMAS, "ecps").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(provider.token_requests(), 1);
    let (_, page) = text(c.get(app.url("/usagers")).send().await.unwrap()).await;
    assert!(page.contains("Thomas Girard"), "{page}");
}
both_backends!(configured_provider_and_signed_userinfo);

/// The browser-binding cookie of a PSC login is always a new value: one
/// brought by the request may have been planted by someone who started their
/// own login with it (login CSRF: the victim's browser would finish the
/// planter's login). Over HTTPS its name carries the `__Secure-` prefix.
async fn psc_login_never_adopts_a_planted_browser_cookie(db: TestDb) {
    let planted = "A".repeat(43);
    let set_cookie = |r: &reqwest::Response| -> String {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.contains("escale_psc="))
            .expect("the login sets its browser cookie")
    };
    let app = demo_app(db).await;
    let r = app
        .client()
        .get(app.url("/auth/psc/login"))
        .header("cookie", format!("escale_psc={planted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&r);
    assert!(cookie.starts_with("escale_psc="), "{cookie}");
    assert!(
        !cookie.contains(&planted),
        "planted value adopted: {cookie}"
    );
    // The login still completes in the browser that started it.
    let r = psc_callback(&app, &app.client(), CLAIRE, "carte").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
both_backends!(psc_login_never_adopts_a_planted_browser_cookie);

async fn psc_browser_cookie_is_secure_prefixed_over_https(db: TestDb) {
    let planted = "A".repeat(43);
    let mut https = test_config(&db, Mode::Sandbox);
    https.public_url = Some("https://escale.test".into());
    let secure = spawn_with_config(db, https).await;
    let r = secure
        .client()
        .get(secure.url("/auth/psc/login"))
        .header("cookie", format!("__Secure-escale_psc={planted}"))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.contains("escale_psc="))
        .expect("the login sets its browser cookie");
    assert!(
        cookie.starts_with("__Secure-escale_psc=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(&planted),
        "planted value adopted: {cookie}"
    );
}
both_backends!(psc_browser_cookie_is_secure_prefixed_over_https);

/// Issue 11, finding 10: each anonymous `GET /auth/psc/login` writes a
/// pending login; past `MAX_PENDING_LOGINS` started in the last ten minutes
/// the next one is refused (429, French page) instead of filling the
/// database; older, dead ones do not count.
async fn pending_psc_logins_are_capped(db: TestDb) {
    use escale::store::access::PendingPscLogin;
    let app = demo_app(db).await;
    let store = app.db.store.clone();
    let fill = |minutes_ago: i64| {
        let store = store.clone();
        async move {
            let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
            let far = at - chrono::Duration::days(1);
            let mut set = tokio::task::JoinSet::new();
            for i in 0..escale::web::MAX_PENDING_LOGINS {
                let store = store.clone();
                set.spawn(async move {
                    store
                        .save_psc_login(
                            &PendingPscLogin {
                                state_hash: format!("{minutes_ago}-{i}"),
                                browser_hash: "b".into(),
                                nonce: "n".into(),
                                pkce_verifier: "v".into(),
                                created_at: at,
                            },
                            far,
                            i64::MAX,
                        )
                        .await
                        .unwrap()
                });
            }
            assert!(set.join_all().await.into_iter().all(|saved| saved));
        }
    };
    // Dead logins (older than ten minutes) do not count.
    fill(11).await;
    let r = app
        .client()
        .get(app.url("/auth/psc/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    fill(1).await;
    let (status, page) = text(
        app.client()
            .get(app.url("/auth/psc/login"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    assert!(
        page.contains("Trop de connexions") && page.contains("réessayez"),
        "{page}"
    );
}
both_backends!(pending_psc_logins_are_capped);
