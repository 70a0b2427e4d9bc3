//! OpenID Connect client of Pro Santé Connect (the `openidconnect` crate over
//! our own reqwest client): provider metadata from PSC's non-standard
//! discovery path, authorization code + PKCE (S256) + state + nonce,
//! `scope=openid scope_all`, `acr_values=eidas1`, ID token checked against the
//! JWKS (refetched once on an unknown key), userinfo as JSON or signed JWT,
//! client authentication by secret (Basic) or by certificate (mutual TLS).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdToken, CoreJsonWebKeySet,
};
use openidconnect::{
    AccessTokenHash, AsyncHttpClient, AuthType, AuthenticationContextClass, AuthorizationCode,
    ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    TokenResponse, UserInfoClaims, UserInfoError, UserInfoResponseType,
};
use tokio::sync::RwLock;

use super::claims::{AuthMeans, PscClaims};
use crate::domain::directory::DirectoryPerson;

/// PSC's discovery document is not at the standard place (Keycloak realm
/// `esante-wallet`; research note §1.1).
pub const PSC_DISCOVERY_SUFFIX: &str = "/.well-known/wallet-openid-configuration";
pub const STANDARD_DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";
/// Requested level; PSC answers eidas1, eidas2 or eidas3 and all are accepted.
pub const REQUESTED_ACR: &str = "eidas1";
/// Provider metadata and keys are kept this long before being fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// `Debug` hides the client secret (settings end up in logs and panics).
#[derive(Clone)]
pub struct PscSettings {
    pub issuer: String,
    /// Explicit discovery document; otherwise PSC's path, then the standard one.
    pub discovery_url: Option<String>,
    pub client_id: String,
    /// `client_secret_basic`; `None` with a client certificate (`tls_client_auth`).
    pub client_secret: Option<String>,
    pub redirect_url: String,
    /// Where PSC sends the browser back after logout (registered at PSC).
    pub post_logout_redirect_url: Option<String>,
    /// PEM file holding the structure's certificate and its key, for mutual TLS.
    pub client_identity_pem: Option<PathBuf>,
    /// Extra CA certificates (PEM) trusted for PSC's servers.
    pub extra_ca_pem: Option<PathBuf>,
    /// Ask for the userinfo as a signed JWT (and refuse a plain JSON one).
    pub userinfo_jwt: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PscError {
    #[error(
        "Pro Santé Connect ne répond pas ({0}) : réessayez dans quelques minutes. Si cela dure, prévenez l'administrateur de l'instance."
    )]
    Unavailable(String),
    #[error(
        "Pro Santé Connect est mal configuré sur cette instance ({0}) : prévenez l'administrateur de l'instance."
    )]
    Configuration(String),
    #[error(
        "Pro Santé Connect a refusé de terminer la connexion ({0}) : le lien de connexion a peut-être déjà servi ou expiré. Recommencez la connexion."
    )]
    Rejected(String),
    #[error(
        "La réponse de Pro Santé Connect n'a pas pu être vérifiée ({0}) : recommencez la connexion ; si cela se reproduit, prévenez l'administrateur de l'instance."
    )]
    InvalidToken(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// Our reqwest client as `openidconnect`'s HTTP client (no redirects followed: SSRF).
struct Http<'a>(&'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for Http<'_> {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let req = reqwest::Request::try_from(request).map_err(|e| HttpError(e.to_string()))?;
            let resp = self.0.execute(req).await.map_err(|e| {
                HttpError(if e.is_timeout() {
                    "délai dépassé".to_string()
                } else if e.is_connect() {
                    "connexion impossible".to_string()
                } else {
                    e.to_string()
                })
            })?;
            let mut builder = openidconnect::http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                builder = builder.header(k, v);
            }
            let body = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?;
            builder
                .body(body.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        })
    }
}

/// What must be kept (server-side) between the redirect to PSC and the callback.
#[derive(Debug, Clone)]
pub struct LoginStart {
    pub authorization_url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A professional authenticated by PSC. `Debug` hides the ID token (a
/// bearer credential until it expires: it would let its holder end the
/// session at PSC, or be replayed where it is accepted as a hint).
#[derive(Clone)]
pub struct PscIdentity {
    pub person: DirectoryPerson,
    /// The `acr` PSC returned (any level is accepted and recorded).
    pub acr: Option<String>,
    pub means: AuthMeans,
    /// Kept in memory only, for `id_token_hint` at logout.
    pub id_token: String,
    pub sub: String,
}

const HIDDEN: &str = "<masqué>";

impl std::fmt::Debug for PscSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PscSettings")
            .field("issuer", &self.issuer)
            .field("discovery_url", &self.discovery_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| HIDDEN),
            )
            .field("redirect_url", &self.redirect_url)
            .field("post_logout_redirect_url", &self.post_logout_redirect_url)
            .field("client_identity_pem", &self.client_identity_pem)
            .field("extra_ca_pem", &self.extra_ca_pem)
            .field("userinfo_jwt", &self.userinfo_jwt)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl std::fmt::Debug for PscIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PscIdentity")
            .field("person", &self.person)
            .field("acr", &self.acr)
            .field("means", &self.means)
            .field("id_token", &HIDDEN)
            .field("sub", &self.sub)
            .finish()
    }
}

/// The client as built from provider metadata: authorization endpoint set,
/// token and userinfo endpoints as announced.
type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Provider {
    metadata: ProviderMetadataWithLogout,
    fetched: Instant,
}

pub struct PscClient {
    settings: PscSettings,
    http: reqwest::Client,
    provider: RwLock<Option<Arc<Provider>>>,
}

impl PscClient {
    pub fn new(settings: PscSettings) -> Result<PscClient, PscError> {
        crate::install_crypto_provider();
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)));
        if let Some(path) = &settings.extra_ca_pem {
            let pem = std::fs::read(path).map_err(|e| {
                PscError::Configuration(format!("{} illisible : {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                PscError::Configuration(format!(
                    "{} : certificats PEM attendus ({e})",
                    path.display()
                ))
            })?;
            b = b.tls_certs_merge(certs);
        }
        if let Some(path) = &settings.client_identity_pem {
            let pem = std::fs::read(path).map_err(|e| {
                PscError::Configuration(format!("{} illisible : {e}", path.display()))
            })?;
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                PscError::Configuration(format!(
                    "{} : certificat et clé privée PEM attendus dans le même fichier ({e})",
                    path.display()
                ))
            })?;
            b = b.identity(id);
        }
        let http = b
            .build()
            .map_err(|e| PscError::Configuration(e.to_string()))?;
        Ok(PscClient {
            settings,
            http,
            provider: RwLock::new(None),
        })
    }

    pub fn settings(&self) -> &PscSettings {
        &self.settings
    }

    fn discovery_urls(&self) -> Vec<String> {
        match &self.settings.discovery_url {
            Some(u) => vec![u.clone()],
            None => {
                let issuer = self.settings.issuer.trim_end_matches('/');
                vec![
                    format!("{issuer}{PSC_DISCOVERY_SUFFIX}"),
                    format!("{issuer}{STANDARD_DISCOVERY_SUFFIX}"),
                ]
            }
        }
    }

    async fn fetch_provider(&self) -> Result<Arc<Provider>, PscError> {
        let mut last = String::new();
        for url in self.discovery_urls() {
            let resp = match self.http.get(&url).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{url} : {e}");
                    continue;
                }
            };
            if !resp.status().is_success() {
                last = format!("{url} : HTTP {}", resp.status().as_u16());
                continue;
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| PscError::Unavailable(e.to_string()))?;
            let mut metadata: ProviderMetadataWithLogout =
                serde_json::from_slice(&body).map_err(|e| {
                    PscError::Configuration(format!("document de découverte {url} illisible : {e}"))
                })?;
            let expected = self.settings.issuer.trim_end_matches('/');
            if metadata.issuer().as_str().trim_end_matches('/') != expected {
                return Err(PscError::Configuration(format!(
                    "le document de découverte annonce l'émetteur {} au lieu de {expected}",
                    metadata.issuer().as_str()
                )));
            }
            let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &Http(&self.http))
                .await
                .map_err(|e| PscError::Unavailable(format!("clés publiques (JWKS) : {e}")))?;
            metadata = metadata.set_jwks(jwks);
            return Ok(Arc::new(Provider {
                metadata,
                fetched: Instant::now(),
            }));
        }
        Err(PscError::Unavailable(last))
    }

    async fn provider(&self, refresh: bool) -> Result<Arc<Provider>, PscError> {
        if !refresh
            && let Some(p) = self.provider.read().await.as_ref()
            && p.fetched.elapsed() < METADATA_TTL
        {
            return Ok(p.clone());
        }
        let p = self.fetch_provider().await?;
        *self.provider.write().await = Some(p.clone());
        Ok(p)
    }

    fn client(&self, p: &Provider) -> Result<OidcClient, PscError> {
        let redirect = RedirectUrl::new(self.settings.redirect_url.clone())
            .map_err(|e| PscError::Configuration(format!("ESCALE_PSC_REDIRECT_URL : {e}")))?;
        let client = CoreClient::from_provider_metadata(
            p.metadata.clone(),
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect);
        // With a certificate and no secret (`tls_client_auth`), the client id goes in the body.
        Ok(if self.settings.client_secret.is_none() {
            client.set_auth_type(AuthType::RequestBody)
        } else {
            client.set_auth_type(AuthType::BasicAuth)
        })
    }

    /// The URL to send the browser to, and what to keep until the callback.
    pub async fn start_login(&self) -> Result<LoginStart, PscError> {
        let p = self.provider(false).await?;
        let client = self.client(&p)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("scope_all".into()))
            .add_auth_context_value(AuthenticationContextClass::new(REQUESTED_ACR.into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(LoginStart {
            authorization_url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code, checks the ID token and reads the userinfo.
    pub async fn finish_login(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<PscIdentity, PscError> {
        let http = Http(&self.http);
        let p = self.provider(false).await?;
        let client = self.client(&p)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| PscError::Configuration(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r)
                    if matches!(
                        r.error().as_ref(),
                        "temporarily_unavailable" | "server_error"
                    ) =>
                {
                    PscError::Unavailable(r.error().as_ref().to_string())
                }
                RequestTokenError::ServerResponse(r) => PscError::Rejected(format!(
                    "{}{}",
                    r.error().as_ref(),
                    r.error_description()
                        .map(|d| format!(" : {d}"))
                        .unwrap_or_default()
                )),
                RequestTokenError::Request(e) => PscError::Unavailable(e.to_string()),
                RequestTokenError::Parse(e, _) => {
                    PscError::InvalidToken(format!("réponse du jeton illisible : {e}"))
                }
                RequestTokenError::Other(e) => PscError::Unavailable(e),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| PscError::InvalidToken("aucun jeton d'identité".into()))?;
        let nonce = Nonce::new(nonce.to_string());
        // A key rotation at PSC shows up as an unknown `kid`: refetch the keys once.
        let (client, claims) = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => (client.clone(), c.clone()),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let p = self.provider(true).await?;
                let client = self.client(&p)?;
                let c = id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|e| PscError::InvalidToken(explain(&e)))?
                    .clone();
                (client, c)
            }
            Err(e) => return Err(PscError::InvalidToken(explain(&e))),
        };
        if let Some(expected) = claims.access_token_hash() {
            let verifier = client.id_token_verifier();
            let alg = id_token
                .signing_alg()
                .map_err(|e| PscError::InvalidToken(e.to_string()))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| PscError::InvalidToken(e.to_string()))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| PscError::InvalidToken(e.to_string()))?;
            if actual != *expected {
                return Err(PscError::InvalidToken(
                    "le jeton d'accès ne correspond pas au jeton d'identité".into(),
                ));
            }
        }
        let acr = claims.auth_context_ref().map(|a| a.as_str().to_string());
        let mut request = client
            .user_info(token.access_token().clone(), Some(claims.subject().clone()))
            .map_err(|e| PscError::Configuration(e.to_string()))?;
        if self.settings.userinfo_jwt {
            request = request
                .set_response_type(UserInfoResponseType::Jwt)
                .require_signed_response(true);
        }
        let info: UserInfoClaims<PscClaims, CoreGenderClaim> =
            request.request_async(&http).await.map_err(|e| match e {
                UserInfoError::Request(e) => PscError::Unavailable(e.to_string()),
                UserInfoError::Response(status, _, _) => {
                    PscError::Unavailable(format!("informations du professionnel : HTTP {status}"))
                }
                other => PscError::InvalidToken(format!("informations du professionnel : {other}")),
            })?;
        let extra = info.additional_claims();
        let given = info
            .given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str());
        let family = info
            .family_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str());
        let mut person = extra.person(given, family);
        if person.id_nat_ps.is_empty() {
            // Some tokens only carry `preferred_username` (same value).
            person.id_nat_ps = info
                .preferred_username()
                .map(|u| u.as_str().to_string())
                .unwrap_or_default();
        }
        if person.id_nat_ps.is_empty() {
            return Err(PscError::InvalidToken(
                "identifiant national (SubjectNameID) absent".into(),
            ));
        }
        Ok(PscIdentity {
            person,
            acr,
            means: AuthMeans::from_auth_mode(extra.auth_mode.as_deref()),
            id_token: id_token.to_string(),
            sub: claims.subject().as_str().to_string(),
        })
    }

    /// PSC's end-session URL (RP-initiated logout), when the provider has one.
    pub async fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        state: &str,
    ) -> Option<String> {
        let p = self.provider(false).await.ok()?;
        let end = p
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut req = LogoutRequest::from(EndSessionUrl::from_url(end.url().clone()))
            .set_state(CsrfToken::new(state.to_string()));
        match id_token_hint.and_then(|t| CoreIdToken::from_str(t).ok()) {
            Some(t) => req = req.set_id_token_hint(&t),
            None => req = req.set_client_id(ClientId::new(self.settings.client_id.clone())),
        }
        if let Some(u) = &self.settings.post_logout_redirect_url
            && let Ok(u) = PostLogoutRedirectUrl::new(u.clone())
        {
            req = req.set_post_logout_redirect_uri(u);
        }
        Some(req.http_get_url().to_string())
    }
}

/// An ID-token check failure in words (never the token itself).
fn explain(e: &ClaimsVerificationError) -> String {
    match e {
        ClaimsVerificationError::Expired(_) => "jeton d'identité expiré".into(),
        ClaimsVerificationError::InvalidNonce(_) => {
            "le jeton d'identité ne correspond pas à cette demande de connexion (nonce)".into()
        }
        ClaimsVerificationError::InvalidIssuer(_) => "émetteur du jeton inattendu".into(),
        ClaimsVerificationError::InvalidAudience(_) => {
            "jeton d'identité destiné à une autre application".into()
        }
        ClaimsVerificationError::SignatureVerification(s) => {
            format!("signature du jeton d'identité invalide ({s})")
        }
        other => format!("jeton d'identité refusé ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psc_settings_and_identity_debug_hide_secrets() {
        let settings = PscSettings {
            issuer: "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet".into(),
            discovery_url: None,
            client_id: "escale-csapa".into(),
            client_secret: Some("s3cr3t-du-client-PSC".into()),
            redirect_url: "https://escale.test/auth/psc/callback".into(),
            post_logout_redirect_url: None,
            client_identity_pem: None,
            extra_ca_pem: None,
            userinfo_jwt: true,
            timeout: Duration::from_secs(10),
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            shown.contains("escale-csapa") && shown.contains("<masqué>"),
            "{shown}"
        );
        let identity = PscIdentity {
            person: DirectoryPerson {
                id_nat_ps: "899900000011".into(),
                ..DirectoryPerson::default()
            },
            acr: Some("eidas1".into()),
            means: AuthMeans::Card,
            id_token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl".into(),
            sub: "f:550dc1c8".into(),
        };
        let shown = format!("{identity:?}");
        assert!(!shown.contains("eyJ"), "{shown}");
        assert!(
            shown.contains("899900000011") && shown.contains("eidas1"),
            "{shown}"
        );
    }

    #[test]
    fn psc_discovery_document_is_read() {
        let path = std::path::Path::new(
            "../shared/spec/psc-annuaire/psc/discovery-mock-ansforge-psc-edc-proxy.json",
        );
        if !path.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} missing under CI",
                path.display()
            );
            eprintln!("did NOT run: {} absent", path.display());
            return;
        }
        let m: ProviderMetadataWithLogout =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        // The authorization endpoint lives on another host than the issuer.
        assert!(m.authorization_endpoint().url().host_str() != m.issuer().url().host_str());
        assert!(m.additional_metadata().end_session_endpoint.is_some());
        assert!(m.token_endpoint().is_some() && m.userinfo_endpoint().is_some());
    }
}
