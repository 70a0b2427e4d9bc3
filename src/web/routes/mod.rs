//! Routes, one module per area. Handlers extract, call domain/store, render.

pub mod admin;
pub mod auth;
pub mod correspondants;
pub mod documents;
pub mod dossier;
pub mod equipe;
pub mod health;
pub mod identite;
pub mod journal;
pub mod messages;
pub mod profil;
pub mod structure;
pub mod usagers;
pub mod vigilance;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::uploads::UPLOAD_BODY_BYTES;
use super::{AppError, AppState};
use crate::config::Config;

pub fn routes(_config: &Config) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/usagers") }))
        .route("/connexion", get(auth::login_page))
        .route("/auth/psc/login", get(auth::psc_login))
        .route("/auth/psc/callback", get(auth::psc_callback))
        .route("/auth/psc/structure", post(auth::choose_structure))
        .route("/auth/psc/invitation", post(auth::redeem_invitation))
        .route("/deconnexion", post(auth::logout))
        .route("/usagers", get(usagers::list).post(usagers::create))
        .route("/usagers/nouveau", get(usagers::new_form))
        .route("/usagers/nouveau/scan", post(usagers::scan))
        .route("/usagers/{id}", get(dossier::show).post(usagers::update))
        .route("/usagers/{id}/modifier", get(usagers::edit_form))
        .route("/usagers/{id}/prises-en-charge", post(dossier::add_episode))
        .route(
            "/usagers/{id}/prises-en-charge/{episode}/cloture",
            post(dossier::close_episode),
        )
        .route("/usagers/{id}/activites", post(dossier::add_activity))
        .route("/usagers/{id}/notes", post(dossier::add_note))
        .route(
            "/usagers/{id}/documents",
            post(documents::add).layer(DefaultBodyLimit::max(UPLOAD_BODY_BYTES)),
        )
        .route("/usagers/{id}/documents/redaction", post(documents::write))
        .route("/usagers/{id}/documents/{doc}", get(documents::show))
        .route("/usagers/{id}/dmp", post(documents::dmp_consent))
        .route("/usagers/{id}/dmp/envoi", post(documents::dmp_send))
        .route(
            "/usagers/{id}/documents/{doc}/dmp",
            post(documents::dmp_document),
        )
        .route(
            "/usagers/{id}/dmp/envois/{deposit}/relancer",
            post(documents::dmp_retry),
        )
        .route(
            "/usagers/{id}/dmp/envois/{deposit}/annuler",
            post(documents::dmp_cancel),
        )
        .route("/dmp/echecs", get(documents::dmp_failures))
        .route("/usagers/{id}/messages", post(messages::send))
        .route(
            "/usagers/{id}/messages/{message}/relancer",
            post(messages::retry),
        )
        .route(
            "/usagers/{id}/messages/{message}/annuler",
            post(messages::cancel),
        )
        .route("/messagerie", get(messages::attention))
        .route("/messagerie/releve", post(messages::read_now))
        .route("/usagers/{id}/messages/{message}", get(messages::open))
        .route("/usagers/{id}/messages/rattacher", post(messages::attach))
        .route("/usagers/{id}/insi", post(identite::search))
        .route("/usagers/{id}/insi/confirmation", post(identite::confirm))
        .route("/usagers/{id}/insi/vitale", post(identite::search_vitale))
        .route("/usagers/{id}/piece", post(identite::document))
        .route(
            "/usagers/{id}/ins-datamatrix.svg",
            get(identite::datamatrix),
        )
        .route("/usagers/{id}/doute", post(identite::doubt))
        .route("/usagers/{id}/homonyme", post(identite::homonym))
        .route(
            "/usagers/{id}/anonymat/demande",
            post(identite::request_lift),
        )
        .route("/usagers/{id}/anonymat/levee", post(identite::lift))
        .route("/usagers/{id}/collision", post(vigilance::flag_collision))
        .route("/usagers/{id}/export.json", get(vigilance::export))
        .route(
            "/usagers/{id}/fiche-identite.pdf",
            get(vigilance::identity_sheet),
        )
        .route("/identitovigilance", get(vigilance::desk))
        .route("/identitovigilance/doublons", get(vigilance::pairs))
        .route(
            "/identitovigilance/doublons/decision",
            post(vigilance::decide_pair),
        )
        .route(
            "/identitovigilance/doublons/recherche",
            post(vigilance::start_batch),
        )
        .route(
            "/identitovigilance/reverification",
            post(vigilance::start_reverification),
        )
        .route("/identitovigilance/traitements/{id}", get(vigilance::job))
        .route(
            "/identitovigilance/fusion",
            get(vigilance::merge_preview).post(vigilance::merge),
        )
        .route(
            "/identitovigilance/fusions/{id}/annulation",
            post(vigilance::unmerge),
        )
        .route(
            "/identitovigilance/taches/{id}/fait",
            post(vigilance::close_task),
        )
        .route("/identitovigilance/procedure", get(vigilance::procedure))
        .route(
            "/identitovigilance/procedure/lecture",
            post(vigilance::acknowledge),
        )
        .route(
            "/structure/identitovigilance",
            get(vigilance::settings).post(vigilance::save_settings),
        )
        .route("/profil", get(profil::show))
        .route("/structure/equipe", get(equipe::show))
        .route("/structure/equipe/ajout", post(equipe::add))
        .route(
            "/structure/equipe/preinscription",
            post(equipe::preregister),
        )
        .route("/structure/equipe/{id}/roles", post(equipe::set_roles))
        .route("/correspondants", get(correspondants::list))
        .route("/correspondants/ajout", post(correspondants::add))
        .route(
            "/correspondants/{id}/suppression",
            post(correspondants::remove),
        )
        .route("/journal", get(journal::list))
        .route("/journal/verification", get(journal::verify))
        .route(
            "/structure/parametres",
            get(structure::show).post(structure::save),
        )
        .route("/structure/parametres/dmp", post(structure::save_dmp))
        .route("/structure/parametres/mss", post(structure::save_mss))
        .route("/structure/parametres/mss/test", post(structure::test_mss))
}

pub async fn not_found() -> Response {
    AppError::NotFound.into_response()
}

/// Ids in URLs are UUIDs; anything else is simply not found.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(raw).map_err(|_| AppError::NotFound)
}

/// A merged file is read-only: work continues in the file that was kept
/// (its link is at the top of the merged file).
pub async fn require_live(
    st: &AppState,
    ctx: &crate::web::session::Ctx,
    id: uuid::Uuid,
) -> Result<crate::store::Usager, AppError> {
    Ok(crate::services::identity::live_usager(st.store.as_ref(), &ctx.tenant, id).await?)
}
