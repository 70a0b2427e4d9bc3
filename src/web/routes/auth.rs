//! Login through Pro Santé Connect, structure choice, invitations, logout.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;

use crate::connectors::psc::{PscError, PscIdentity};
use crate::domain::audit::AuditAction;
use crate::store::StoreError;
use crate::store::access::{PendingChoice, PendingPscLogin, ProfessionalProfile};
use crate::web::extract::FormData;
use crate::web::session::{self, Ctx, SessionState, hash_token, random_token};
use crate::web::views;
use crate::web::views::auth::LoginNotice;
use crate::web::{AppError, AppState};

/// Binds a login in progress to the browser that started it.
const BROWSER_COOKIE: &str = "escale_psc";
/// Its name over HTTPS: a `__Secure-` cookie cannot be planted by a page
/// served over plain HTTP or set without `Secure`.
const BROWSER_COOKIE_SECURE: &str = "__Secure-escale_psc";
/// A login must come back from PSC within this time.
const LOGIN_TTL_MINUTES: i64 = 10;
/// Logins started within that time and still pending, at most: each
/// anonymous request writes one, so a script must not fill the database.
/// A regional instance sees a few hundred logins in ten minutes.
pub const MAX_PENDING_LOGINS: i64 = 2_000;

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    expiree: Option<String>,
    #[serde(default)]
    deconnecte: Option<String>,
}

pub async fn login_page(
    State(st): State<AppState>,
    state: SessionState,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    if state.ctx.is_some() {
        return Ok(Redirect::to("/usagers").into_response());
    }
    let notice = LoginNotice {
        expired: q.expiree.is_some() || state.expired,
        logged_out: q.deconnecte.is_some(),
        error: None,
    };
    Ok(
        views::auth::login(st.config.is_sandbox(), st.psc.client().is_some(), &notice)
            .into_response(),
    )
}

fn browser_cookie_name(st: &AppState) -> &'static str {
    if st.config.secure_cookies() {
        BROWSER_COOKIE_SECURE
    } else {
        BROWSER_COOKIE
    }
}

fn browser_cookie(st: &AppState, value: &str) -> HeaderValue {
    session::scoped_cookie(
        &st.config,
        browser_cookie_name(st),
        value,
        "/auth/psc",
        Some(1800),
    )
}

fn browser_value(st: &AppState, headers: &HeaderMap) -> Option<String> {
    session::cookie_value(headers, browser_cookie_name(st)).map(str::to_string)
}

fn failed(st: &AppState, status: StatusCode, message: &str) -> Response {
    (
        status,
        views::auth::login_failed(st.config.is_sandbox(), message),
    )
        .into_response()
}

fn psc_failure(st: &AppState, e: &PscError) -> Response {
    let status = match e {
        PscError::Unavailable(_) => StatusCode::BAD_GATEWAY,
        PscError::Configuration(_) => StatusCode::SERVICE_UNAVAILABLE,
        PscError::Rejected(_) | PscError::InvalidToken(_) => StatusCode::BAD_REQUEST,
    };
    tracing::warn!(error = %e, "connexion Pro Santé Connect impossible");
    failed(st, status, &e.to_string())
}

/// `GET /auth/psc/login`: off to Pro Santé Connect.
pub async fn psc_login(State(st): State<AppState>) -> Result<Response, AppError> {
    let Some(client) = st.psc.client() else {
        return Ok(failed(
            &st,
            StatusCode::SERVICE_UNAVAILABLE,
            "Pro Santé Connect n'est pas configuré sur cette instance : contactez l'administrateur de l'instance.",
        ));
    };
    let start = match client.start_login().await {
        Ok(s) => s,
        Err(e) => return Ok(psc_failure(&st, &e)),
    };
    // Always a new value: a value brought by the request could have been
    // planted, binding the planter's login to this browser (login CSRF).
    let browser = random_token();
    let now = Utc::now();
    let saved = st
        .store
        .save_psc_login(
            &PendingPscLogin {
                state_hash: hash_token(&start.state),
                browser_hash: hash_token(&browser),
                nonce: start.nonce,
                pkce_verifier: start.pkce_verifier,
                created_at: now,
            },
            now - Duration::minutes(LOGIN_TTL_MINUTES),
            MAX_PENDING_LOGINS,
        )
        .await?;
    if !saved {
        tracing::warn!(
            max = MAX_PENDING_LOGINS,
            "trop de connexions PSC en cours : nouvelle connexion refusée"
        );
        return Ok(failed(
            &st,
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de connexions sont en cours sur cette instance : réessayez dans quelques minutes.",
        ));
    }
    let mut resp = Redirect::to(&start.authorization_url).into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, browser_cookie(&st, &browser));
    Ok(resp)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// `GET /auth/psc/callback`: PSC sends the browser back with a code.
pub async fn psc_callback(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let unknown = "Cette demande de connexion est inconnue, a déjà servi ou vient d'un autre navigateur : recommencez la connexion.";
    let pending = match &q.state {
        Some(s) => st.store.take_psc_login(&hash_token(s)).await?,
        None => None,
    };
    let Some(pending) = pending else {
        return Ok(failed(&st, StatusCode::BAD_REQUEST, unknown));
    };
    if browser_value(&st, &headers).map(|b| hash_token(&b)) != Some(pending.browser_hash.clone()) {
        return Ok(failed(&st, StatusCode::BAD_REQUEST, unknown));
    }
    if let Some(err) = &q.error {
        let detail = q.error_description.as_deref().unwrap_or(err);
        return Ok(failed(
            &st,
            StatusCode::BAD_REQUEST,
            &format!(
                "Pro Santé Connect n'a pas terminé la connexion ({detail}) : recommencez, ou vérifiez votre carte ou votre application e-CPS."
            ),
        ));
    }
    if Utc::now() - pending.created_at > Duration::minutes(LOGIN_TTL_MINUTES) {
        return Ok(failed(
            &st,
            StatusCode::BAD_REQUEST,
            "La connexion a pris trop de temps : recommencez.",
        ));
    }
    let Some(client) = st.psc.client() else {
        return Ok(failed(
            &st,
            StatusCode::SERVICE_UNAVAILABLE,
            "Pro Santé Connect n'est pas configuré.",
        ));
    };
    let code = q.code.unwrap_or_default();
    let identity = match client
        .finish_login(&code, &pending.nonce, &pending.pkce_verifier)
        .await
    {
        Ok(i) => i,
        Err(e) => return Ok(psc_failure(&st, &e)),
    };
    let browser = browser_value(&st, &headers).unwrap_or_default();
    continue_login(&st, &headers, &browser, identity).await
}

fn auth_label(identity: &PscIdentity) -> String {
    format!(
        "Pro Santé Connect · {} · {}",
        identity.means.label(),
        identity.acr.as_deref().unwrap_or("acr non précisé")
    )
}

/// After PSC: tie the national id to a professional and open a session
/// (or ask which structure, or explain that no structure has them).
async fn continue_login(
    st: &AppState,
    headers: &HeaderMap,
    browser: &str,
    identity: PscIdentity,
) -> Result<Response, AppError> {
    let id_nat = identity.person.id_nat_ps.clone();
    let professional = st
        .store
        .find_professional_by_national_id(&id_nat)
        .await?
        .filter(|p| p.active);
    let memberships = match &professional {
        Some(p) => st.store.memberships_of(p.id).await?,
        None => Vec::new(),
    };
    let (Some(professional), false) = (professional, memberships.is_empty()) else {
        tracing::info!("professionnel authentifié par PSC sans structure dans Escale");
        let token = random_token();
        let name = identity.person.display_name();
        st.psc.remember_pending(&hash_token(&token), identity);
        let csrf = random_token();
        let mut resp = views::auth::unattached(
            st.config.is_sandbox(),
            &name,
            &id_nat,
            &token,
            &csrf,
            "",
            None,
        )
        .into_response();
        resp.headers_mut()
            .append(header::SET_COOKIE, session::pre_login_cookie(st, &csrf));
        return Ok(resp);
    };
    crate::services::psc::refresh_names(
        st.store.as_ref(),
        &professional,
        &identity.person,
        &memberships,
    )
    .await?;
    st.store
        .save_profile(
            professional.id,
            &ProfessionalProfile {
                person: identity.person.clone(),
                auth_mode: identity.means.label().to_string(),
                acr: identity.acr.clone(),
                last_login_at: Utc::now(),
            },
        )
        .await?;
    let label = auth_label(&identity);
    if let [only] = memberships.as_slice() {
        return open(
            st,
            headers,
            professional.id,
            only.structure_id,
            &label,
            Some(identity.id_token),
        )
        .await;
    }
    let token = random_token();
    st.store
        .save_login_choice(&PendingChoice {
            token_hash: hash_token(&token),
            browser_hash: hash_token(browser),
            professional_id: professional.id,
            auth_label: label,
            created_at: Utc::now(),
        })
        .await?;
    st.psc
        .remember_id_token(&hash_token(&token), identity.id_token);
    let csrf = random_token();
    let mut resp = views::auth::choose_structure(
        st.config.is_sandbox(),
        &professional.display_name(),
        &memberships,
        &token,
        &csrf,
    )
    .into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, session::pre_login_cookie(st, &csrf));
    Ok(resp)
}

async fn open(
    st: &AppState,
    headers: &HeaderMap,
    professional_id: uuid::Uuid,
    structure_id: uuid::Uuid,
    label: &str,
    id_token: Option<String>,
) -> Result<Response, AppError> {
    let tenant = st
        .store
        .tenant_for(professional_id, structure_id)
        .await?
        .ok_or(AppError::Forbidden(
            "vous n'avez pas de rôle dans cette structure",
        ))?;
    // A new session replaces any previous one of this browser.
    session::close_session(st, headers).await?;
    let (cookie, session_hash) =
        session::open_session(st, professional_id, structure_id, label).await?;
    if let Some(t) = id_token {
        st.psc.remember_id_token(&session_hash, t);
    }
    crate::services::audit::record(st.store.as_ref(), &tenant, AuditAction::Login, None, label)
        .await?;
    let mut resp = Redirect::to("/usagers").into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

#[derive(Deserialize)]
pub struct StructureChoice {
    choix: String,
    structure_id: String,
}

/// `POST /auth/psc/structure`: the structure picked after login.
pub async fn choose_structure(
    State(st): State<AppState>,
    headers: HeaderMap,
    FormData(f): FormData<StructureChoice>,
) -> Result<Response, AppError> {
    let key = hash_token(&f.choix);
    let choice = st.store.take_login_choice(&key).await?;
    let browser = browser_value(&st, &headers).map(|b| hash_token(&b));
    let Some(choice) = choice.filter(|c| Some(&c.browser_hash) == browser.as_ref()) else {
        return Ok(failed(
            &st,
            StatusCode::BAD_REQUEST,
            "Ce choix de structure a expiré ou a déjà servi : reconnectez-vous.",
        ));
    };
    let sid = crate::web::routes::parse_id(&f.structure_id)?;
    let id_token = st.psc.take_id_token(&key);
    open(
        &st,
        &headers,
        choice.professional_id,
        sid,
        &choice.auth_label,
        id_token,
    )
    .await
}

#[derive(Deserialize)]
pub struct InvitationForm {
    attente: String,
    #[serde(default)]
    code: String,
}

/// `POST /auth/psc/invitation`: a pre-registered professional ties their PSC account.
pub async fn redeem_invitation(
    State(st): State<AppState>,
    headers: HeaderMap,
    state: SessionState,
    FormData(f): FormData<InvitationForm>,
) -> Result<Response, AppError> {
    let key = hash_token(&f.attente);
    let Some(identity) = st.psc.take_pending(&key) else {
        return Ok(failed(
            &st,
            StatusCode::BAD_REQUEST,
            "Cette page a expiré : reconnectez-vous avec Pro Santé Connect, puis saisissez à nouveau le code.",
        ));
    };
    let code = crate::domain::invitation::normalize(&f.code);
    let outcome = st
        .store
        .redeem_invitation(&hash_token(&code), &identity.person.id_nat_ps, Utc::now())
        .await;
    let error = match outcome {
        Ok(Some(_)) => None,
        Ok(None) => Some(
            "Code inconnu, déjà utilisé ou expiré : vérifiez-le auprès de votre directeur."
                .to_string(),
        ),
        Err(StoreError::Conflict(why)) => Some(format!(
            "Rattachement impossible : {why}. Contactez votre directeur."
        )),
        Err(e) => return Err(e.into()),
    };
    if let Some(error) = error {
        let name = identity.person.display_name();
        let id_nat = identity.person.id_nat_ps.clone();
        st.psc.remember_pending(&key, identity);
        let csrf = state.pre_csrf.clone().unwrap_or_else(random_token);
        let mut resp = (
            StatusCode::UNPROCESSABLE_ENTITY,
            views::auth::unattached(
                st.config.is_sandbox(),
                &name,
                &id_nat,
                &f.attente,
                &csrf,
                &f.code,
                Some(&error),
            ),
        )
            .into_response();
        resp.headers_mut()
            .append(header::SET_COOKIE, session::pre_login_cookie(&st, &csrf));
        return Ok(resp);
    }
    let browser = browser_value(&st, &headers).unwrap_or_default();
    continue_login(&st, &headers, &browser, identity).await
}

pub async fn logout(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    crate::services::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::Logout,
        None,
        "",
    )
    .await?;
    let id_token = st.psc.take_id_token(&ctx.session.token_hash);
    let cookie = session::close_session(&st, &headers).await?;
    // PSC's rules: « déconnexion » logs out of PSC too (not the idle timeout).
    let end = match (
        st.psc.client(),
        ctx.session.auth_method.starts_with("Pro Santé Connect"),
    ) {
        (Some(client), true) => {
            client
                .end_session_url(id_token.as_deref(), &random_token())
                .await
        }
        _ => None,
    };
    let mut resp = match end {
        Some(url) => {
            let mut r = views::auth::leaving_for_psc(&url).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("0;url={url}")) {
                r.headers_mut().insert("refresh", v);
            }
            r
        }
        None => Redirect::to("/connexion?deconnecte=1").into_response(),
    };
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}
