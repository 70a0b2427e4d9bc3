//! A local Pro Santé Connect: a Keycloak-shaped OpenID Connect provider
//! (realm `esante-wallet`, discovery at the non-standard
//! `/.well-known/wallet-openid-configuration`, authorization on another host
//! — here another port —, JWKS, RS256 ID tokens, userinfo with PSC's claim
//! names) and a page where a newcomer picks a test professional and card or
//! e-CPS. As strict as PSC on what it receives: registered client and
//! redirect URIs, PKCE S256, single-use codes valid 60 s, Basic client
//! authentication, bearer tokens valid 120 s. Faults on demand.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::{Duration, Utc};
use maud::{DOCTYPE, Markup, html};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationContextClass, EndUserFamilyName,
    EndUserGivenName, IdToken, IdTokenClaims, IssuerUrl, JsonWebKeyId, LocalizedClaim, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier, UserInfoClaims, UserInfoJsonWebToken,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::professionals::{SandboxProfessional, test_professionals};

pub const REALM_PATH: &str = "/auth/realms/esante-wallet";
pub const SANDBOX_CLIENT_ID: &str = "escale-bac-a-sable";
pub const SANDBOX_CLIENT_SECRET: &str = "secret-du-bac-a-sable-psc";

/// What the sandbox does wrong on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PscFault {
    #[default]
    None,
    /// The ID token carries another nonce than the one requested.
    WrongNonce,
    /// The ID token expired before it was issued.
    ExpiredIdToken,
    /// The token endpoint answers 503.
    TokenDown,
}

#[derive(Debug, Clone)]
pub struct PscSandboxOptions {
    pub client_id: String,
    pub client_secret: String,
    /// Exact redirect URIs accepted (empty: any `http://127.0.0.1:*` or
    /// `http://localhost:*` URI ending in `/auth/psc/callback`).
    pub redirect_uris: Vec<String>,
}

impl Default for PscSandboxOptions {
    fn default() -> Self {
        PscSandboxOptions {
            client_id: SANDBOX_CLIENT_ID.into(),
            client_secret: SANDBOX_CLIENT_SECRET.into(),
            redirect_uris: Vec::new(),
        }
    }
}

/// `authMode` travels in PSC's ID token too.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdExtra {
    #[serde(rename = "authMode", skip_serializing_if = "Option::is_none")]
    auth_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_state: Option<String>,
}
impl AdditionalClaims for IdExtra {}

/// The userinfo claims exactly as PSC names them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserinfoExtra(serde_json::Map<String, serde_json::Value>);
impl AdditionalClaims for UserinfoExtra {}

#[derive(Debug, Clone)]
struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
    professional: String,
    card: bool,
    issued: chrono::DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Bearer {
    professional: String,
    card: bool,
    expires: chrono::DateTime<Utc>,
}

#[derive(Default)]
struct Inner {
    codes: HashMap<String, Grant>,
    used_codes: HashSet<String>,
    tokens: HashMap<String, Bearer>,
    id_tokens: HashSet<String>,
    fault: PscFault,
    acr_override: Option<String>,
    userinfo_jwt: bool,
    token_requests: u64,
    logouts: u64,
}

struct Shared {
    opts: PscSandboxOptions,
    issuer: String,
    wallet: String,
    key: CoreRsaPrivateSigningKey,
    jwks: CoreJsonWebKeySet,
    people: Mutex<Vec<SandboxProfessional>>,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn people(&self) -> Vec<SandboxProfessional> {
        self.people
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    fn person(&self, id_nat: &str) -> Option<SandboxProfessional> {
        self.people()
            .into_iter()
            .find(|p| p.person.id_nat_ps == id_nat)
    }
}

pub struct PscSandboxHandle {
    shared: Arc<Shared>,
    stops: Vec<oneshot::Sender<()>>,
}

impl Drop for PscSandboxHandle {
    fn drop(&mut self) {
        for tx in self.stops.drain(..) {
            let _ = tx.send(());
        }
    }
}

/// One RSA key per process (2048-bit generation is slow): PSC signs RS256.
fn signing_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation");
        key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .expect("PEM encoding")
            .to_string()
    })
}

impl PscSandboxHandle {
    /// Starts the provider (issuer) and the wallet (authorization page) on two ports.
    pub async fn start(opts: PscSandboxOptions) -> std::io::Result<PscSandboxHandle> {
        let issuer_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let wallet_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let issuer = format!("http://{}{REALM_PATH}", issuer_listener.local_addr()?);
        let wallet = format!("http://{}/auth", wallet_listener.local_addr()?);
        let key = CoreRsaPrivateSigningKey::from_pem(
            signing_pem(),
            Some(JsonWebKeyId::new("bac-a-sable-psc-1".into())),
        )
        .map_err(std::io::Error::other)?;
        let jwks = CoreJsonWebKeySet::new(vec![key.as_verification_key()]);
        let shared = Arc::new(Shared {
            opts,
            issuer,
            wallet,
            key,
            jwks,
            people: Mutex::new(test_professionals()),
            inner: Mutex::default(),
        });
        let provider = Router::new()
            .route(
                &format!("{REALM_PATH}/.well-known/wallet-openid-configuration"),
                get(discovery),
            )
            .route(
                &format!("{REALM_PATH}/protocol/openid-connect/certs"),
                get(certs),
            )
            .route(
                &format!("{REALM_PATH}/protocol/openid-connect/token"),
                post(token),
            )
            .route(
                &format!("{REALM_PATH}/protocol/openid-connect/userinfo"),
                get(userinfo),
            )
            .route(
                &format!("{REALM_PATH}/protocol/openid-connect/logout"),
                get(logout),
            )
            .with_state(shared.clone());
        let wallet_router = Router::new()
            .route("/auth", get(authorize))
            .route("/auth/choix", post(choose))
            .with_state(shared.clone());
        let mut stops = Vec::new();
        for (listener, router) in [
            (issuer_listener, provider),
            (wallet_listener, wallet_router),
        ] {
            let (tx, rx) = oneshot::channel::<()>();
            stops.push(tx);
            tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
            });
        }
        Ok(PscSandboxHandle { shared, stops })
    }

    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }
    pub fn wallet_url(&self) -> &str {
        &self.shared.wallet
    }
    pub fn client_id(&self) -> &str {
        &self.shared.opts.client_id
    }
    pub fn client_secret(&self) -> &str {
        &self.shared.opts.client_secret
    }
    pub fn set_fault(&self, fault: PscFault) {
        self.shared.lock().fault = fault;
    }
    /// Returns this `acr` instead of the usual one (eidas3 card, eidas2 e-CPS).
    pub fn set_acr(&self, acr: Option<&str>) {
        self.shared.lock().acr_override = acr.map(str::to_string);
    }
    /// Userinfo as a signed JWT (`application/jwt`) instead of JSON.
    pub fn set_userinfo_jwt(&self, on: bool) {
        self.shared.lock().userinfo_jwt = on;
    }
    /// Makes another professional known (as a test card would be provisioned).
    pub fn register(&self, p: SandboxProfessional) {
        let mut people = self.shared.people.lock().unwrap_or_else(|e| e.into_inner());
        people.retain(|x| x.person.id_nat_ps != p.person.id_nat_ps);
        people.push(p);
    }
    pub fn token_requests(&self) -> u64 {
        self.shared.lock().token_requests
    }
    pub fn logouts(&self) -> u64 {
        self.shared.lock().logouts
    }
}

fn random() -> String {
    crate::web::random_token()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response()
}

async fn discovery(State(s): State<Arc<Shared>>) -> Response {
    let i = &s.issuer;
    let p = format!("{i}/protocol/openid-connect");
    axum::Json(json!({
        "issuer": i,
        "authorization_endpoint": s.wallet,
        "token_endpoint": format!("{p}/token"),
        "introspection_endpoint": format!("{p}/token/introspect"),
        "userinfo_endpoint": format!("{p}/userinfo"),
        "end_session_endpoint": format!("{p}/logout"),
        "jwks_uri": format!("{p}/certs"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "urn:openid:params:grant-type:ciba"],
        // PSC publishes junk here; clients must not rely on it.
        "acr_values_supported": ["0", "0"],
        "response_types_supported": ["code", "none", "id_token", "code id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "userinfo_signing_alg_values_supported": ["RS256", "none"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post", "tls_client_auth", "client_secret_jwt"],
        "scopes_supported": ["openid", "scope_all", "eidas1", "eidas2", "rpps", "identity", "profile", "email"],
        "claims_supported": ["aud", "sub", "iss", "auth_time", "name", "given_name", "family_name", "preferred_username", "email", "acr"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "frontchannel_logout_supported": true,
        "tls_client_certificate_bound_access_tokens": true,
    }))
    .into_response()
}

async fn certs(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(&s.jwks).into_response()
}

/// The parameters of an authorization request, as PSC checks them.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
struct AuthRequest {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    #[serde(default)]
    acr_values: String,
}

fn redirect_allowed(s: &Shared, uri: &str) -> bool {
    if s.opts.redirect_uris.is_empty() {
        let local = uri.starts_with("http://127.0.0.1:") || uri.starts_with("http://localhost:");
        local && uri.ends_with("/auth/psc/callback")
    } else {
        s.opts.redirect_uris.iter().any(|u| u == uri)
    }
}

fn page(title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                title { (title) " — Pro Santé Connect (bac à sable)" }
                style { "body{font-family:sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b35}
                    header{border-bottom:3px solid #000091;margin-bottom:1rem}li{margin:.6rem 0}
                    button{margin-right:.4rem;padding:.3rem .7rem}.muted{color:#555;font-size:.9rem}" }
            }
            body {
                header { p { strong { "Pro Santé Connect" } " — bac à sable local d'Escale (aucun service national n'est contacté)" } }
                main { h1 { (title) } (body) }
            }
        }
    };
    markup.into_response()
}

fn refusal(title: &str, what: &str, value: &str) -> Box<Response> {
    Box::new(
        (
            StatusCode::BAD_REQUEST,
            page(title, html! { p { (what) code { (value) } } }),
        )
            .into_response(),
    )
}

/// Checks an authorization request; `Err` is the response to send.
fn check_request(s: &Shared, q: &AuthRequest) -> Result<(), Box<Response>> {
    // Without a valid client and redirect URI, never redirect (open redirector).
    if q.client_id != s.opts.client_id {
        return Err(refusal(
            "Client inconnu",
            "Client non enregistré : ",
            &q.client_id,
        ));
    }
    if !redirect_allowed(s, &q.redirect_uri) {
        return Err(refusal(
            "Adresse de retour invalide",
            "redirect_uri non enregistrée : ",
            &q.redirect_uri,
        ));
    }
    let problem = if q.response_type != "code" {
        Some("response_type doit valoir code")
    } else if !q.scope.split(' ').any(|x| x == "openid")
        || !q.scope.split(' ').any(|x| x == "scope_all")
    {
        Some("scope doit contenir openid et scope_all")
    } else if q.state.len() < 16 {
        Some("state absent ou trop court")
    } else if q.nonce.len() < 16 {
        Some("nonce absent ou trop court")
    } else if q.code_challenge_method != "S256" || q.code_challenge.len() < 43 {
        Some("PKCE S256 obligatoire")
    } else if q.acr_values.is_empty() {
        Some("acr_values absent")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => {
            let mut url = q.redirect_uri.clone();
            url.push_str(if url.contains('?') { "&" } else { "?" });
            url.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .append_pair("error", "invalid_request")
                    .append_pair("error_description", p)
                    .append_pair("state", &q.state)
                    .finish(),
            );
            Err(Box::new(Redirect::to(&url).into_response()))
        }
    }
}

async fn authorize(State(s): State<Arc<Shared>>, Query(q): Query<AuthRequest>) -> Response {
    if let Err(r) = check_request(&s, &q) {
        return *r;
    }
    let pros = s.people();
    page(
        "Choisissez un professionnel de test",
        html! {
            p { "En production, Pro Santé Connect demande ici la carte CPS (lecteur) ou la validation dans l'application e-CPS. Dans le bac à sable, choisissez qui vous êtes et comment vous vous authentifiez." }
            ul {
                @for p in &pros {
                    li { (chooser_form(&q, p)) }
                }
            }
        },
    )
}

fn chooser_form(q: &AuthRequest, p: &SandboxProfessional) -> Markup {
    let hidden = [
        ("response_type", &q.response_type),
        ("client_id", &q.client_id),
        ("redirect_uri", &q.redirect_uri),
        ("scope", &q.scope),
        ("state", &q.state),
        ("nonce", &q.nonce),
        ("code_challenge", &q.code_challenge),
        ("code_challenge_method", &q.code_challenge_method),
        ("acr_values", &q.acr_values),
    ];
    html! {
        form method="post" action="/auth/choix" {
            @for (k, v) in hidden { input type="hidden" name=(k) value=(v); }
            input type="hidden" name="professional" value=(p.person.id_nat_ps);
            strong { (p.person.first_name) " " (p.person.last_name) }
            " "
            span.muted { "(" (p.person.id_nat_ps) ") " (p.blurb) }
            br;
            @if p.has_card {
                button type="submit" name="mode" value="carte" data-pro=(p.person.id_nat_ps) { "Carte CPS" }
            }
            button type="submit" name="mode" value="ecps" data-pro=(p.person.id_nat_ps) { "e-CPS" }
        }
    }
}

#[derive(Deserialize)]
struct Choice {
    #[serde(flatten)]
    request: AuthRequest,
    professional: String,
    mode: String,
}

async fn choose(State(s): State<Arc<Shared>>, Form(c): Form<Choice>) -> Response {
    if let Err(r) = check_request(&s, &c.request) {
        return *r;
    }
    let Some(pro) = s.person(&c.professional) else {
        return (
            StatusCode::BAD_REQUEST,
            page("Professionnel inconnu", html! {}),
        )
            .into_response();
    };
    let card = c.mode == "carte";
    if card && !pro.has_card {
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Pas de carte",
                html! { p { "Ce professionnel n'a pas de carte CPS : utilisez l'e-CPS." } },
            ),
        )
            .into_response();
    }
    let code = random();
    s.lock().codes.insert(
        code.clone(),
        Grant {
            redirect_uri: c.request.redirect_uri.clone(),
            challenge: c.request.code_challenge.clone(),
            nonce: c.request.nonce.clone(),
            professional: pro.person.id_nat_ps.clone(),
            card,
            issued: Utc::now(),
        },
    );
    let mut url = c.request.redirect_uri.clone();
    url.push_str(if url.contains('?') { "&" } else { "?" });
    url.push_str(
        &form_urlencoded::Serializer::new(String::new())
            .append_pair("state", &c.request.state)
            .append_pair("session_state", &random())
            .append_pair("iss", &s.issuer)
            .append_pair("code", &code)
            .finish(),
    );
    Redirect::to(&url).into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |x: &str| {
        form_urlencoded::parse(format!("a={x}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let digest = Sha256::digest(verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == challenge
}

async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let fault = {
        let mut g = s.lock();
        g.token_requests += 1;
        g.fault
    };
    if fault == PscFault::TokenDown {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "service indisponible",
        );
    }
    let (client_id, secret) = match basic_credentials(&headers) {
        Some(c) => c,
        None => (
            f.get("client_id").cloned().unwrap_or_default(),
            f.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if client_id != s.opts.client_id || secret != s.opts.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client or Invalid client credentials",
        );
    }
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        );
    }
    let code = f.get("code").cloned().unwrap_or_default();
    let grant = {
        let mut g = s.lock();
        if !g.used_codes.insert(code.clone()) {
            // A replayed code is refused (and, as in Keycloak, stays refused).
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Code not valid");
        }
        g.codes.remove(&code)
    };
    let Some(grant) = grant else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Code not valid");
    };
    if Utc::now() - grant.issued > Duration::seconds(60) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Code is expired");
    }
    if f.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Incorrect redirect_uri",
        );
    }
    if !pkce_ok(
        f.get("code_verifier").map(String::as_str).unwrap_or(""),
        &grant.challenge,
    ) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed",
        );
    }
    let now = Utc::now();
    let access = random();
    let (acr_override, fault) = {
        let g = s.lock();
        (g.acr_override.clone(), g.fault)
    };
    // BAS tokens carried eidas3 for a card; production answers eidas2.
    let acr = acr_override.unwrap_or_else(|| if grant.card { "eidas3" } else { "eidas2" }.into());
    let nonce = if fault == PscFault::WrongNonce {
        "un-autre-nonce-que-celui-demande".to_string()
    } else {
        grant.nonce.clone()
    };
    let (iat, exp) = if fault == PscFault::ExpiredIdToken {
        (now - Duration::minutes(10), now - Duration::minutes(8))
    } else {
        (now, now + Duration::seconds(120))
    };
    let session_state = uuid::Uuid::new_v4().to_string();
    let claims = IdTokenClaims::new(
        match IssuerUrl::new(s.issuer.clone()) {
            Ok(i) => i,
            Err(e) => {
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    &e.to_string(),
                );
            }
        },
        vec![Audience::new(s.opts.client_id.clone())],
        exp,
        iat,
        StandardClaims::new(subject(&grant.professional)),
        IdExtra {
            auth_mode: Some(auth_mode(grant.card).into()),
            session_state: Some(session_state.clone()),
        },
    )
    .set_nonce(Some(Nonce::new(nonce)))
    .set_auth_time(Some(iat))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(acr)));
    let id_token = match IdToken::<
        IdExtra,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(
        claims,
        &s.key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&AccessToken::new(access.clone())),
        None,
    ) {
        Ok(t) => t.to_string(),
        Err(e) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                &e.to_string(),
            );
        }
    };
    {
        let mut g = s.lock();
        g.tokens.insert(
            access.clone(),
            Bearer {
                professional: grant.professional.clone(),
                card: grant.card,
                expires: now + Duration::seconds(120),
            },
        );
        g.id_tokens.insert(id_token.clone());
    }
    axum::Json(json!({
        "access_token": access,
        "expires_in": 120,
        "refresh_expires_in": 1800,
        "refresh_token": random(),
        "token_type": "Bearer",
        "id_token": id_token,
        "not-before-policy": 0,
        "session_state": session_state,
        "scope": "openid scope_all",
    }))
    .into_response()
}

fn subject(id_nat: &str) -> SubjectIdentifier {
    // Keycloak federated id `f:<provider uuid>:<idNat>`: not to be parsed.
    SubjectIdentifier::new(format!("f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:{id_nat}"))
}

fn auth_mode(card: bool) -> &'static str {
    if card { "CARD" } else { "MOBILE" }
}

/// PSC's userinfo for a test professional (claim names of the BAS samples).
fn userinfo_claims(
    p: &SandboxProfessional,
    card: bool,
) -> serde_json::Map<String, serde_json::Value> {
    let person = &p.person;
    let exercices: Vec<_> = person
        .professions
        .iter()
        .map(|prof| {
            let activities: Vec<_> = person
                .situations
                .iter()
                .map(|s| {
                    let w = &s.workplace;
                    json!({
                        "codeModeExercice": s.mode.clone().unwrap_or_default(),
                        "codeSecteurDactivite": s.sector.clone().unwrap_or_default(),
                        "codeSectionPharmacien": "",
                        "codeRole": s.role.as_ref().map(|r| r.code.clone()).unwrap_or_default(),
                        "codeGenreActivite": "GENR01",
                        "numeroSiretSite": "",
                        "numeroSirenSite": "",
                        "numeroFinessSite": w.finess.clone().unwrap_or_default(),
                        "numeroFinessetablissementJuridique": w.finess_legal.clone().unwrap_or_default(),
                        "identifiantTechniqueDeLaStructure": w.finess.as_ref().map(|f| format!("F{f}")).unwrap_or_default(),
                        "raisonSocialeSite": w.name,
                        "enseigneCommercialeSite": "",
                        "complementDestinataire": "",
                        "numeroVoie": "",
                        "codeTypeDeVoie": "",
                        "libelleVoie": "",
                        "bureauCedex": format!("{} {}", w.postal_code.clone().unwrap_or_default(), w.city.clone().unwrap_or_default()).trim().to_string(),
                        "codePostal": w.postal_code.clone().unwrap_or_default(),
                        "codeCommune": "",
                        "codePays": "",
                        "telephone": "",
                        "adresseEMail": "",
                        "ancienIdentifiantDeLaStructure": w.id_nat_struct.clone().unwrap_or_default(),
                        "autoriteDenregistrement": "RPPS/RPPS/RPPS",
                    })
                })
                .collect();
            json!({
                "codeProfession": prof.code,
                "codeCategorieProfessionnelle": "C",
                "codeCiviliteDexercice": person.civility.clone().unwrap_or_default(),
                "nomDexercice": person.last_name,
                "prenomDexercice": person.first_name,
                "codeTypeSavoirFaire": "",
                "codeSavoirFaire": "",
                "activities": activities,
            })
        })
        .collect();
    let first_org = person.situations.first().map(|s| &s.workplace);
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        m.insert(k.to_string(), v);
    };
    put(
        "Secteur_Activite",
        json!(format!(
            "{}^1.2.250.1.71.4.2.4",
            person
                .situations
                .first()
                .and_then(|s| s.sector.clone())
                .unwrap_or_default()
        )),
    );
    put(
        "SubjectOrganization",
        json!(first_org.map(|w| w.name.clone()).unwrap_or_default()),
    );
    put(
        "SubjectOrganizationID",
        json!(
            first_org
                .and_then(|w| w.finess.as_ref().map(|f| format!("F{f}")))
                .unwrap_or_default()
        ),
    );
    put("Mode_Acces_Raison", json!(""));
    put("preferred_username", json!(person.id_nat_ps));
    put("Acces_Regulation_Medicale", json!("FAUX"));
    put("UITVersion", json!("1.0"));
    put("authMode", json!(auth_mode(card)));
    put(
        "Palier_Authentification",
        json!("APPPRIP3^1.2.250.1.213.1.5.1.1.1"),
    );
    put(
        "SubjectRefPro",
        json!({"codeCivilite": p.civility, "exercices": exercices}),
    );
    put(
        "SubjectRole",
        json!(
            person
                .professions
                .iter()
                .map(|p| format!("{}^1.2.250.1.213.1.1.5.5", p.code))
                .collect::<Vec<_>>()
        ),
    );
    put("SubjectNameID", json!(person.id_nat_ps));
    put("codeCivilite", json!(p.civility));
    put(
        "otherIds",
        json!([{"identifiant": person.id_nat_ps, "origine": "RPPS", "qualite": 1}]),
    );
    put("PSI_Locale", json!("1.2.250.1.213.1.3.1.1"));
    put("email_verified", json!(false));
    m
}

async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (bearer, jwt) = {
        let g = s.lock();
        (g.tokens.get(token).cloned(), g.userinfo_jwt)
    };
    let Some(b) = bearer.filter(|b| b.expires > Utc::now()) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Token verification failed",
        );
    };
    let Some(p) = s.person(&b.professional) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", "user not found");
    };
    let mut std = StandardClaims::new(subject(&p.person.id_nat_ps));
    std = std
        .set_given_name(Some(LocalizedClaim::from(EndUserGivenName::new(
            p.person.first_name.to_uppercase(),
        ))))
        .set_family_name(Some(LocalizedClaim::from(EndUserFamilyName::new(
            p.person.last_name.clone(),
        ))));
    let claims = UserInfoClaims::new(std, UserinfoExtra(userinfo_claims(&p, b.card)));
    if jwt {
        let Ok(issuer) = IssuerUrl::new(s.issuer.clone()) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let claims = claims
            .set_issuer(Some(issuer))
            .set_audiences(Some(vec![Audience::new(s.opts.client_id.clone())]));
        return match UserInfoJsonWebToken::<
            UserinfoExtra,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >::new(
            claims,
            &s.key,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ) {
            Ok(t) => (
                [(header::CONTENT_TYPE, "application/jwt")],
                serde_json::to_value(&t)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            )
                .into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
    }
    axum::Json(claims).into_response()
}

#[derive(Deserialize)]
struct LogoutQuery {
    #[serde(default)]
    id_token_hint: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    post_logout_redirect_uri: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

async fn logout(State(s): State<Arc<Shared>>, Query(q): Query<LogoutQuery>) -> Response {
    let known = match &q.id_token_hint {
        Some(t) => s.lock().id_tokens.remove(t),
        None => q.client_id.as_deref() == Some(s.opts.client_id.as_str()),
    };
    if !known {
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Déconnexion refusée",
                html! { p { "id_token_hint inconnu ou client absent." } },
            ),
        )
            .into_response();
    }
    s.lock().logouts += 1;
    match q.post_logout_redirect_uri {
        Some(uri)
            if uri.starts_with("http://127.0.0.1:")
                || uri.starts_with("http://localhost:")
                || s.opts.redirect_uris.iter().any(|r| {
                    let base = r.trim_end_matches("/auth/psc/callback");
                    uri.starts_with(base)
                }) =>
        {
            let mut url = uri;
            if let Some(st) = q.state {
                url.push_str(if url.contains('?') { "&" } else { "?" });
                url.push_str(
                    &form_urlencoded::Serializer::new(String::new())
                        .append_pair("state", &st)
                        .finish(),
                );
            }
            Redirect::to(&url).into_response()
        }
        Some(_) => (
            StatusCode::BAD_REQUEST,
            page(
                "Déconnexion",
                html! { p { "post_logout_redirect_uri non enregistrée." } },
            ),
        )
            .into_response(),
        None => page("Vous êtes déconnecté de Pro Santé Connect", html! {}),
    }
}
