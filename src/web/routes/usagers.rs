//! Search, create and edit user files.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use super::parse_id;
use crate::domain::audit::AuditAction;
use crate::domain::usager::{Identity, UsagerForm};
use crate::services::files::{self, Edit, Rejection};
use crate::services::identity_quality;
use crate::services::reception::{self, Creation};
use crate::web::extract::FormData;
use crate::web::session::Ctx;
use crate::web::views::{self, components::Errors};
use crate::web::{AppError, AppState};

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    date: String,
    /// How many files to show (« Afficher plus de dossiers »); anything
    /// else than a number shows the first page.
    #[serde(default)]
    n: String,
}

fn parse_search_date(input: &str) -> Result<Option<NaiveDate>, &'static str> {
    let v = input.trim();
    if v.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(v, "%d/%m/%Y")
        .or_else(|_| NaiveDate::parse_from_str(v, "%Y-%m-%d"))
        .map(Some)
        .map_err(|_| "date invalide : saisissez-la sous la forme JJ/MM/AAAA")
}

pub async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SearchQuery>,
) -> Result<Response, AppError> {
    let (birth_date, error) = match parse_search_date(&q.date) {
        Ok(d) => (d, None),
        Err(e) => (None, Some(e)),
    };
    let size = reception::list_size(q.n.trim().parse().ok());
    let found = reception::search(st.store.as_ref(), &ctx.tenant, &q.q, birth_date, size).await?;
    let form = views::usagers::SearchForm {
        q: &q.q,
        birth_date: &q.date,
        error,
    };
    let body = views::usagers::list(&form, &found.files, found.more, found.next);
    Ok(views::layout::page(&ctx, st.config.is_sandbox(), "Usagers", body).into_response())
}

fn render_form(
    st: &AppState,
    ctx: &Ctx,
    id: Option<uuid::Uuid>,
    form: &UsagerForm,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let title = if id.is_some() {
        "Modifier le dossier"
    } else {
        "Nouveau dossier"
    };
    let body = views::usagers::form(
        id,
        form,
        errors,
        &ctx.session.csrf_token,
        ctx.tenant.structure_kind.allows_anonymity(),
    );
    (
        status,
        views::layout::page(ctx, st.config.is_sandbox(), title, body),
    )
        .into_response()
}

#[derive(Deserialize, Default)]
pub struct AnteriorityQuery {
    #[serde(default)]
    ant_date: String,
    #[serde(default)]
    ant_nom: String,
    #[serde(default)]
    ant_prenom: String,
}

/// The creation page: an anteriority search first (RNIV: birth date, then the
/// first letters of the name and first name), then the form, prefilled.
pub async fn new_form(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<AnteriorityQuery>,
) -> Result<Response, AppError> {
    let searched = !(q.ant_date.trim().is_empty()
        && q.ant_nom.trim().is_empty()
        && q.ant_prenom.trim().is_empty());
    let (birth_date, error) = match parse_search_date(&q.ant_date) {
        Ok(d) => (d, None),
        Err(e) => (None, Some(e)),
    };
    let results = if searched && error.is_none() {
        Some(
            reception::anteriority(
                st.store.as_ref(),
                &ctx.tenant,
                birth_date,
                &q.ant_nom,
                &q.ant_prenom,
            )
            .await?,
        )
    } else {
        None
    };
    let form = UsagerForm {
        birth_name: q.ant_nom.trim().to_string(),
        first_names: q.ant_prenom.trim().to_string(),
        birth_date: birth_date
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        ..UsagerForm::default()
    };
    let agent_token = crate::web::card_agent::token(&st, &ctx);
    let search = views::usagers::anteriority(&views::usagers::Anteriority {
        date: &q.ant_date,
        name: &q.ant_nom,
        first_name: &q.ant_prenom,
        error,
        results: results.as_deref(),
        csrf: &ctx.session.csrf_token,
        agent_token: agent_token.as_deref(),
        scan: "",
        scan_error: None,
    });
    Ok(new_page(&st, &ctx, StatusCode::OK, search, None, &form))
}

fn new_page(
    st: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    search: maud::Markup,
    above_form: Option<maud::Markup>,
    form: &UsagerForm,
) -> Response {
    let body = views::usagers::form(
        None,
        form,
        &Errors::new(),
        &ctx.session.csrf_token,
        ctx.tenant.structure_kind.allows_anonymity(),
    );
    (
        status,
        views::layout::page(
            ctx,
            st.config.is_sandbox(),
            "Nouveau dossier",
            maud::html! { (search) @if let Some(a) = above_form { (a) } (body) },
        ),
    )
        .into_response()
}

/// A scanned INS DataMatrix prefills the traits (a capture channel: the
/// identity stays provisional until INSi and a document vouch for it). Files
/// already holding that INS, and look-alikes, are shown first.
pub async fn scan(
    State(st): State<AppState>,
    ctx: Ctx,
    form: crate::web::extract::RawForm,
) -> Result<Response, AppError> {
    let typed = form.get("scan").to_string();
    let agent_token = crate::web::card_agent::token(&st, &ctx);
    let anteriority = |scan_error: Option<&str>| {
        views::usagers::anteriority(&views::usagers::Anteriority {
            date: "",
            name: "",
            first_name: "",
            error: None,
            results: None,
            csrf: &ctx.session.csrf_token,
            agent_token: agent_token.as_deref(),
            scan: &typed,
            scan_error,
        })
    };
    let scanned = match crate::domain::datamatrix::parse(&typed) {
        Ok(s) => s,
        Err(e) => {
            let message = format!(
                "{e}. Rescannez le code (curseur dans la zone, douchette en mode clavier), ou saisissez les traits à la main ci-dessous."
            );
            let search = anteriority(Some(&message));
            return Ok(new_page(
                &st,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                search,
                None,
                &UsagerForm::default(),
            ));
        }
    };
    let prefilled = UsagerForm {
        birth_name: scanned.birth_name.clone(),
        first_names: scanned.first_names.clone(),
        birth_date: scanned.birth_date.format("%Y-%m-%d").to_string(),
        sex: scanned.sex.code().to_string(),
        birth_place_code: scanned.birth_place.clone().unwrap_or_default(),
        ..UsagerForm::default()
    };
    let t = &ctx.tenant;
    let holders = st
        .store
        .usagers_with_ins(t, &scanned.matricule.as_string())
        .await?;
    let identity = Identity::Traits {
        birth_name: scanned.birth_name.clone(),
        first_names: scanned.first_names.clone(),
        used_name: None,
        used_first_name: None,
        birth_date: scanned.birth_date,
        sex: scanned.sex,
        birth_place_code: scanned.birth_place.clone(),
    };
    let found = identity_quality::candidates(st.store.as_ref(), t, &identity, None).await?;
    let above = maud::html! {
        p.notice role="status" {
            "DataMatrix lu : " (scanned.oid.type_label()) " " (scanned.matricule.formatted())
            ". Les traits ci-dessous viennent du code ; vérifiez-les sur la pièce d'identité. "
            "Le code ne qualifie pas l'identité : après la création, lancez « Rechercher l'INS »."
        }
        @if !holders.is_empty() {
            section.warning role="alert" {
                h2 { "Cet INS est déjà dans un dossier" }
                ul { @for u in &holders { li { a href={ "/usagers/" (u.id) } { (u.data.identity.display_name()) } " — " (u.vigilance.status().label()) } } }
                p { "Ouvrez ce dossier au lieu d'en créer un nouveau." }
            }
        } @else if !found.is_empty() {
            (views::usagers::duplicate_warning(&found))
        }
    };
    Ok(new_page(
        &st,
        &ctx,
        StatusCode::OK,
        anteriority(None),
        Some(above),
        &prefilled,
    ))
}

fn file_url(id: uuid::Uuid, converted: bool) -> String {
    if converted {
        format!("/usagers/{id}?traits=format-ins")
    } else {
        format!("/usagers/{id}")
    }
}

pub async fn create(
    State(st): State<AppState>,
    ctx: Ctx,
    FormData(form): FormData<UsagerForm>,
) -> Result<Response, AppError> {
    match reception::create(st.store.as_ref(), &ctx.tenant, form).await? {
        Creation::Created { id, converted } => {
            Ok(Redirect::to(&file_url(id, converted)).into_response())
        }
        Creation::Invalid { form, errors } => Ok(render_form(
            &st,
            &ctx,
            None,
            &form,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Creation::LookAlikes { form, found } => {
            let body = views::usagers::form(
                None,
                &form,
                &Errors::new(),
                &ctx.session.csrf_token,
                ctx.tenant.structure_kind.allows_anonymity(),
            );
            let page = maud::html! { (views::usagers::duplicate_warning(&found)) (body) };
            Ok((
                StatusCode::CONFLICT,
                views::layout::page(&ctx, st.config.is_sandbox(), "Nouveau dossier", page),
            )
                .into_response())
        }
    }
}

pub async fn edit_form(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    files::require_editor(&ctx.tenant)?;
    super::require_live(&st, &ctx, id).await?;
    let u = st
        .store
        .get_usager(&ctx.tenant, id)
        .await?
        .ok_or(AppError::NotFound)?;
    crate::services::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::FileOpened,
        Some(id),
        "formulaire de modification",
    )
    .await?;
    let form = UsagerForm {
        version: Some(u.version.to_string()),
        ..UsagerForm::from_data(&u.data)
    };
    Ok(render_form(
        &st,
        &ctx,
        Some(id),
        &form,
        &Errors::new(),
        StatusCode::OK,
    ))
}

pub async fn update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    FormData(form): FormData<UsagerForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    super::require_live(&st, &ctx, id).await?;
    match files::update(st.store.as_ref(), &ctx.tenant, id, form).await? {
        Edit::Saved { converted } => Ok(Redirect::to(&file_url(id, converted)).into_response()),
        Edit::Rejected { form, errors, why } => {
            let status = match why {
                Rejection::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                Rejection::StrictTraits | Rejection::Stale => StatusCode::CONFLICT,
            };
            Ok(render_form(&st, &ctx, Some(id), &form, &errors, status))
        }
    }
}
