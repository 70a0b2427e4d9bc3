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

mod logout;
mod token;
mod userinfo;
mod wallet;

use logout::*;
use token::*;
use userinfo::*;
use wallet::*;

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

/// 256 random bits, URL-safe (codes, access tokens).
fn random() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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
