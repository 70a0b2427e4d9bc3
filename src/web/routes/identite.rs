//! Identity vigilance actions on a file: INSi search and confirmation,
//! identity document, doubt, homonym, anonymity lifting. Each handler reads
//! the form, calls one use case of `services::identity` (where the rules and
//! the journal are) and renders.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use super::parse_id;
use crate::connectors::insi::Individu;
use crate::domain::audit::AuditAction;
use crate::domain::ins::{InsOid, KeyCheck, Matricule};
use crate::domain::usager::{Identity, parse_event_date};
use crate::services::identity::insi_search::{
    self, CardBeneficiary, Decision, SearchOutcome, SearchReport,
};
use crate::services::identity::vigilance;
use crate::store::Usager;
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views::identite::{Comparison, Found, TraitRow, local_traits};
use crate::web::views::{self};
use crate::web::{AppError, AppState};

async fn load(st: &AppState, ctx: &Ctx, raw_id: &str) -> Result<Usager, AppError> {
    let id = parse_id(raw_id)?;
    super::require_live(st, ctx, id).await
}

/// The file as the page that sent `form` showed it: the version the form
/// carries (when it carries one) is the one the write must still find, so
/// that a page read before someone else's change is refused (`Stale`), not
/// applied over it.
async fn load_as_shown(
    st: &AppState,
    ctx: &Ctx,
    raw_id: &str,
    form: &RawForm,
) -> Result<Usager, AppError> {
    let mut usager = load(st, ctx, raw_id).await?;
    if let Ok(version) = form.get("version").trim().parse() {
        usager.version = version;
    }
    Ok(usager)
}

pub fn may_link(ctx: &Ctx) -> bool {
    vigilance::may_link(&ctx.tenant)
}

fn back(id: Uuid) -> Response {
    Redirect::to(&format!("/usagers/{id}#identitovigilance")).into_response()
}

/// The comparison page of a search: what was called, and what came of it.
fn report_page(st: &AppState, ctx: &Ctx, usager: &Usager, report: SearchReport) -> Response {
    let mut view = Comparison {
        usager,
        steps: report.steps,
        found: None,
        message: None,
        csrf: &ctx.session.csrf_token,
    };
    let status = match report.outcome {
        SearchOutcome::Found { call_id, individu } => {
            view.found = Some(found(call_id, &usager.data.identity, &individu));
            StatusCode::OK
        }
        SearchOutcome::Told(m) => {
            view.message = Some(m);
            StatusCode::OK
        }
        SearchOutcome::TraitsRejected(m) => {
            view.message = Some(m);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        SearchOutcome::Unavailable(m) => {
            view.message = Some(m);
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (
        status,
        views::layout::page(
            ctx,
            st.config.is_sandbox(),
            "Recherche de l'INS",
            views::identite::comparison(&view),
        ),
    )
        .into_response()
}

/// « Rechercher l'INS »: the search strategy, every call kept and audited.
pub async fn search(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load_as_shown(&st, &ctx, &raw_id, &form).await?;
    let report =
        insi_search::search_by_traits(st.store.as_ref(), &st.insi, &ctx.tenant, &usager).await?;
    Ok(report_page(&st, &ctx, &usager, report))
}

/// « Rechercher avec la carte Vitale »: the beneficiary chosen on the card
/// read by the card agent is sent to INSi (`rechercherInsAvecCarteVitale`).
pub async fn search_vitale(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load(&st, &ctx, &raw_id).await?;
    let card = CardBeneficiary {
        nir: form.get("nir").to_string(),
        nir_ouvrant_droit: form.get("nir_ouvrant_droit").to_string(),
        nom: form.get("nom").to_string(),
        date_naissance: form.get("date_naissance").to_string(),
        rang: form.get("rang").to_string(),
    };
    let report =
        insi_search::search_by_card(st.store.as_ref(), &st.insi, &ctx.tenant, &usager, &card)
            .await?;
    Ok(report_page(&st, &ctx, &usager, report))
}

fn found(call_id: Uuid, local: &Identity, individu: &Individu) -> Found {
    let r = &individu.traits;
    let [l_name, l_first, l_sex, l_date, l_place] = local_traits(local);
    let returned_date = NaiveDate::parse_from_str(&r.birth_date, "%Y-%m-%d")
        .map(views::date_fr)
        .unwrap_or_else(|_| r.birth_date.clone());
    let place = r.birth_place.clone().unwrap_or_else(|| "—".into());
    // First names compared with hyphens and apostrophes as spaces (Guide INS EXI ID 10).
    let norm = |s: &str| {
        s.replace(['-', '\''], " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let rows = vec![
        TraitRow {
            label: "Nom de naissance",
            differs: l_name != r.birth_name,
            local: l_name,
            returned: r.birth_name.clone(),
        },
        TraitRow {
            label: "Prénoms de naissance",
            differs: norm(&l_first) != norm(&r.first_names),
            local: l_first,
            returned: r.first_names.clone(),
        },
        TraitRow {
            label: "Sexe",
            differs: l_sex != r.sex,
            local: l_sex,
            returned: r.sex.clone(),
        },
        TraitRow {
            label: "Date de naissance",
            differs: l_date != returned_date,
            local: l_date,
            returned: returned_date,
        },
        TraitRow {
            label: "Lieu de naissance (INSEE)",
            differs: l_place != place,
            local: l_place,
            returned: place,
        },
    ];
    let a = &individu.active;
    let parsed = Matricule::from_insi(&a.number, &a.key);
    let ins_label = match (&parsed, InsOid::from_oid(&a.oid)) {
        (Ok((m, _)), Some(oid)) => format!("{} {}", oid.type_label(), m.formatted()),
        _ => format!("matricule {} {} (OID {})", a.number, a.key, a.oid),
    };
    let key_warning = match parsed {
        Ok((_, KeyCheck::Mismatch { expected })) => Some(format!(
            "La clé renvoyée ({}) ne correspond pas au matricule (clé calculée : {expected}). La réponse est conservée telle quelle ; signalez-le au référent en identitovigilance.",
            a.key
        )),
        _ => None,
    };
    Found {
        call_id,
        ins_label,
        key_warning,
        rows,
        history: individu.history.len(),
    }
}

/// « C'est la même personne » / « Ce n'est pas la même personne ».
pub async fn confirm(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load_as_shown(&st, &ctx, &raw_id, &form).await?;
    let call_id = Uuid::parse_str(form.get("call_id")).ok();
    let decision = if form.get("decision") == "meme" {
        Decision::Same
    } else {
        Decision::NotSame {
            doubt: form.get("doute") == "oui",
        }
    };
    insi_search::confirm(st.store.as_ref(), &ctx.tenant, &usager, call_id, decision).await?;
    Ok(back(usager.id))
}

/// « Vérifier une pièce d'identité »: a document from the structure's list.
pub async fn document(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load_as_shown(&st, &ctx, &raw_id, &form).await?;
    vigilance::check_document(st.store.as_ref(), &ctx.tenant, &usager, form.get("kind")).await?;
    Ok(back(usager.id))
}

/// Signal or lift a doubt.
pub async fn doubt(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load_as_shown(&st, &ctx, &raw_id, &form).await?;
    let doubtful = form.get("action") != "lever";
    vigilance::set_doubt(st.store.as_ref(), &ctx.tenant, &usager, doubtful).await?;
    Ok(back(usager.id))
}

pub async fn homonym(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load_as_shown(&st, &ctx, &raw_id, &form).await?;
    let on = form.get("homonyme") == "oui";
    vigilance::set_homonym(st.store.as_ref(), &ctx.tenant, &usager, on).await?;
    Ok(back(usager.id))
}

/// The user asks to lift anonymity: the request and its date are recorded.
pub async fn request_lift(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load(&st, &ctx, &raw_id).await?;
    let on = parse_event_date(form.get("requested_on"), Utc::now().date_naive())
        .map_err(|e| AppError::Refused(format!("Date de la demande : {e}.")))?;
    vigilance::request_anonymity_lift(st.store.as_ref(), &ctx.tenant, &usager, on).await?;
    Ok(back(usager.id))
}

/// The authorised decision linking the anonymous history to a real identity
/// (never a promotion of the pseudonym).
pub async fn lift(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load(&st, &ctx, &raw_id).await?;
    vigilance::lift_anonymity(st.store.as_ref(), &ctx.tenant, &usager, form.get("real")).await?;
    Ok(back(usager.id))
}

/// The INS DataMatrix of a shareable identity, as SVG. Anything else
/// (provisional, doubtful, fictitious) is refused by the sharing gate.
pub async fn datamatrix(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
) -> Result<Response, AppError> {
    let usager = load(&st, &ctx, &raw_id).await?;
    let shared = crate::domain::sharing::shareable(&usager.data.identity, &usager.vigilance)
        .map_err(|r| AppError::Refused(r.to_string()))?;
    let payload = crate::domain::datamatrix::payload(&shared);
    let svg =
        crate::documents::datamatrix::svg(&payload).map_err(|e| AppError::Internal(e.into()))?;
    crate::services::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::FileOpened,
        Some(usager.id),
        "DataMatrix INS",
    )
    .await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
