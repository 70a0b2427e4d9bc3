//! The identity-vigilance desk: duplicate pairs and merges, collisions,
//! batch jobs (duplicate finder, INSi re-verification), referent tasks,
//! indicators, and the structure's procedure (read, acknowledge, configure).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::parse_id;
use super::structure::require_director;
use crate::domain::audit::AuditAction;
use crate::domain::care::Confidentiality;
use crate::domain::duplicates::{Collision, PairStatus};
use crate::domain::merge::Side;
use crate::domain::procedure::{IdentityAction, IdentityPolicy};
use crate::domain::roles::Role;
use crate::domain::text;
use crate::identity_quality::{self, BATCH_KIND, MergeError};
use crate::reverification;
use crate::store::{NewProcedure, StoreError};
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::{AppError, AppState};

/// The referent's desk: the identity-vigilance referent, the director, and
/// whoever the procedure lets merge.
pub fn is_referent(ctx: &Ctx) -> bool {
    ctx.tenant
        .roles
        .any(&[Role::ReferentIdentitovigilance, Role::Directeur])
        || ctx.tenant.may(IdentityAction::Merge)
}

fn require_referent(ctx: &Ctx) -> Result<(), AppError> {
    if is_referent(ctx) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "L'identitovigilance de la structure (doublons, fusions, traitements de masse) est réservée au référent identitovigilance et à la direction.",
        ))
    }
}

fn require(ctx: &Ctx, action: IdentityAction, why: &'static str) -> Result<(), AppError> {
    if ctx.tenant.may(action) {
        Ok(())
    } else {
        Err(AppError::Forbidden(why))
    }
}

const MERGE_FORBIDDEN: &str = "La procédure d'identitovigilance de la structure ne permet pas à vos rôles de fusionner des dossiers : adressez la paire au référent identitovigilance.";

fn page(st: &AppState, ctx: &Ctx, title: &str, body: maud::Markup) -> Response {
    views::layout::page(ctx, st.config.is_sandbox(), title, body).into_response()
}

pub async fn desk(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let t = &ctx.tenant;
    let (counts, months, tasks, pairs, jobs, reverif, procedure) = tokio::try_join!(
        st.store.identity_counts(t),
        st.store.insi_months(t, 12),
        st.store.open_identity_tasks(t),
        st.store
            .duplicate_pairs(t, Some(PairStatus::Ouvert), None, 100),
        st.store.recent_jobs(t, BATCH_KIND, 5),
        st.store.recent_jobs(t, reverification::JOB_KIND, 5),
        st.store.current_procedure(t),
    )?;
    let readers = match &procedure {
        Some(p) => Some(st.store.procedure_readers(t, p.version).await?),
        None => None,
    };
    let mut all_jobs = jobs;
    all_jobs.extend(reverif);
    all_jobs.sort_by_key(|j| std::cmp::Reverse(j.started_at));
    let body = views::vigilance::hub(&views::vigilance::Hub {
        counts: &counts,
        months: &months,
        tasks: &tasks,
        pairs: &pairs,
        jobs: &all_jobs,
        procedure: procedure.as_ref().zip(readers.as_ref()),
        can_merge: t.may(IdentityAction::Merge),
        can_run: t
            .roles
            .any(&[Role::ReferentIdentitovigilance, Role::Directeur]),
        csrf: &ctx.session.csrf_token,
    });
    Ok(page(&st, &ctx, "Identitovigilance", body))
}

#[derive(Deserialize)]
pub struct PairsQuery {
    #[serde(default)]
    statut: String,
}

pub async fn pairs(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PairsQuery>,
) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let status = PairStatus::parse(&q.statut);
    let pairs = st
        .store
        .duplicate_pairs(&ctx.tenant, status, None, 500)
        .await?;
    let body = maud::html! {
        nav aria-label="Filtrer" {
            a href="/identitovigilance/doublons" { "Toutes" }
            @for s in PairStatus::ALL { " · " a href={ "/identitovigilance/doublons?statut=" (s.code()) } { (s.label()) } }
        }
        @if pairs.is_empty() { p.muted { "Aucune paire." } }
        @else { (views::vigilance::pairs_table(&pairs, None, ctx.tenant.may(IdentityAction::Merge), &ctx.session.csrf_token)) }
    };
    Ok(page(&st, &ctx, "Doublons potentiels", body))
}

fn form_id(form: &RawForm, name: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(form.get(name)).map_err(|_| {
        AppError::BadRequest(
            "dossier non désigné : revenez à la liste des doublons et recommencez".into(),
        )
    })
}

pub async fn decide_pair(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require(&ctx, IdentityAction::Merge, MERGE_FORBIDDEN)?;
    let (a, b) = (form_id(&form, "first")?, form_id(&form, "second")?);
    let status = PairStatus::parse(form.get("status"))
        .filter(|s| identity_quality::decidable(*s))
        .ok_or_else(|| AppError::BadRequest("décision inconnue".into()))?;
    st.store.set_pair_status(&ctx.tenant, a, b, status).await?;
    for id in [a, b] {
        crate::audit::record(
            st.store.as_ref(),
            &ctx.tenant,
            AuditAction::DuplicateDecided,
            Some(id),
            status.label(),
        )
        .await?;
    }
    Ok(Redirect::to("/identitovigilance#h-doublons").into_response())
}

pub async fn start_batch(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let t = ctx.tenant.clone();
    let total = st.store.count_usagers(&t).await?;
    let job = st.store.create_job(&t, BATCH_KIND, total).await?;
    crate::audit::record(
        st.store.as_ref(),
        &t,
        AuditAction::JobStarted,
        None,
        "recherche de doublons",
    )
    .await?;
    tokio::spawn(identity_quality::run_duplicate_batch(
        st.store.clone(),
        t,
        job.id,
    ));
    Ok(Redirect::to(&format!("/identitovigilance/traitements/{}", job.id)).into_response())
}

pub async fn start_reverification(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    let only_due = form.get("dues") == "on";
    if only_due && ctx.tenant.policy.reverify_after_months.is_none() {
        return Err(AppError::Refused(
            "La procédure de la structure ne fixe pas de délai de revérification : choisissez-en un (paramètres de la procédure) ou revérifiez toutes les identités.".into(),
        ));
    }
    if !ctx
        .tenant
        .roles
        .any(&[Role::ReferentIdentitovigilance, Role::Directeur])
    {
        return Err(AppError::Forbidden(
            "La revérification de masse est lancée par le référent identitovigilance ou la direction.",
        ));
    }
    let t = ctx.tenant.clone();
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = st
            .store
            .identity_ids(&t, &reverification::STATUSES, after, 1000)
            .await?;
        let Some(last) = page.last().copied() else {
            break;
        };
        ids.extend(page);
        after = Some(last);
    }
    let job = st
        .store
        .create_job(&t, reverification::JOB_KIND, ids.len() as i64)
        .await?;
    crate::audit::record(
        st.store.as_ref(),
        &t,
        AuditAction::JobStarted,
        None,
        format!(
            "revérification INSi de {} identité(s) (certificat INSI-AUTO){}",
            ids.len(),
            if only_due {
                ", seulement celles dues selon la procédure"
            } else {
                ""
            }
        ),
    )
    .await?;
    tokio::spawn(reverification::run(
        st.store.clone(),
        st.insi.clone(),
        t,
        job.id,
        ids,
        reverification::DEFAULT_RATE_PER_SECOND,
        only_due,
    ));
    Ok(Redirect::to(&format!("/identitovigilance/traitements/{}", job.id)).into_response())
}

#[derive(Deserialize)]
pub struct JobQuery {
    #[serde(default)]
    fragment: Option<String>,
}

pub async fn job(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
    Query(q): Query<JobQuery>,
) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let id = parse_id(&raw)?;
    let job = st
        .store
        .job(&ctx.tenant, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let report = job_report(&job);
    let status = views::vigilance::job_status(&job, report);
    if q.fragment.is_some() {
        let mut r = status.into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(r);
    }
    let body = maud::html! {
        (status)
        p { a href="/identitovigilance" { "Retour à l'identitovigilance" } }
    };
    Ok(page(
        &st,
        &ctx,
        views::vigilance::job_label(&job.kind),
        body,
    ))
}

fn job_report(job: &crate::store::Job) -> maud::Markup {
    if job.kind == reverification::JOB_KIND {
        let r: reverification::Report = serde_json::from_str(&job.report).unwrap_or_default();
        maud::html! {
            @if let Some(e) = &r.error { p.error-text { "Interrompue : " (e) } }
            p { (r.checked) " vérifiée(s) : " (r.unchanged) " inchangée(s), " (r.ins_changed) " INS modifié(s), "
                (r.downgraded) " repassée(s) provisoire(s) (tâche pour le référent), " (r.failed) " en échec."
                @if r.skipped > 0 { " " (r.skipped) " pas encore due(s) selon la procédure." } }
            @if !r.changes.is_empty() {
                ul { @for (id, what) in &r.changes { li { a href={ "/usagers/" (id) } { (what) } } } }
            }
        }
    } else {
        let r: identity_quality::BatchReport =
            serde_json::from_str(&job.report).unwrap_or_default();
        maud::html! {
            @if let Some(e) = &r.error { p.error-text { "Interrompue : " (e) } }
            p { (r.files) " dossier(s) examiné(s), " (r.pairs) " rapprochement(s) enregistré(s), " (r.same_ins) " INS porté(s) par plusieurs dossiers." }
            p { a href="/identitovigilance/doublons?statut=ouvert" { "Voir les doublons potentiels" } }
        }
    }
}

#[derive(Deserialize)]
pub struct MergeQuery {
    #[serde(default)]
    survivant: String,
    #[serde(default)]
    fusionne: String,
}

pub async fn merge_preview(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<MergeQuery>,
) -> Result<Response, AppError> {
    require(&ctx, IdentityAction::Merge, MERGE_FORBIDDEN)?;
    let t = &ctx.tenant;
    let (s_id, m_id) = (parse_id(&q.survivant)?, parse_id(&q.fusionne)?);
    let (survivor, merged) =
        tokio::try_join!(st.store.get_usager(t, s_id), st.store.get_usager(t, m_id))?;
    let (survivor, merged) = (
        survivor.ok_or(AppError::NotFound)?,
        merged.ok_or(AppError::NotFound)?,
    );
    let moved = st.store.merge_preview(t, m_id).await?;
    let (data, vigilance) = crate::domain::merge::survivor_state(
        &Side {
            data: &survivor.data,
            vigilance: &survivor.vigilance,
        },
        &Side {
            data: &merged.data,
            vigilance: &merged.vigilance,
        },
    );
    for id in [s_id, m_id] {
        crate::audit::record(
            st.store.as_ref(),
            t,
            AuditAction::FileOpened,
            Some(id),
            "aperçu de fusion",
        )
        .await?;
    }
    let body = views::vigilance::merge_preview(&views::vigilance::MergePreview {
        survivor: &survivor,
        merged: &merged,
        moved: &moved,
        kept_name: data.identity.display_name(),
        kept_status: vigilance.status().label(),
        csrf: &ctx.session.csrf_token,
    });
    Ok(page(&st, &ctx, "Fusionner deux dossiers", body))
}

pub async fn merge(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require(&ctx, IdentityAction::Merge, MERGE_FORBIDDEN)?;
    let (s_id, m_id) = (form_id(&form, "survivant")?, form_id(&form, "fusionne")?);
    let record = identity_quality::merge_files(st.store.as_ref(), &ctx.tenant, s_id, m_id)
        .await
        .map_err(|e| match e {
            MergeError::Refused(r) => AppError::Refused(r.to_string()),
            MergeError::Store(StoreError::Conflict(m)) => AppError::Refused(m),
            MergeError::Store(e) => AppError::Store(e),
        })?;
    for (id, what) in [(s_id, "dossier conservé"), (m_id, "dossier fusionné")] {
        crate::audit::record(
            st.store.as_ref(),
            &ctx.tenant,
            AuditAction::FilesMerged,
            Some(id),
            format!(
                "{what} ; fusion {} ; {} objet(s) déplacé(s)",
                record.id,
                record.moved.count()
            ),
        )
        .await?;
    }
    Ok(Redirect::to(&format!("/usagers/{s_id}#qualite")).into_response())
}

pub async fn unmerge(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    require(&ctx, IdentityAction::Merge, MERGE_FORBIDDEN)?;
    let id = parse_id(&raw)?;
    let record = st
        .store
        .unmerge(&ctx.tenant, id)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => AppError::Refused(m),
            e => AppError::Store(e),
        })?;
    for uid in [record.survivor_id, record.merged_id] {
        crate::audit::record(
            st.store.as_ref(),
            &ctx.tenant,
            AuditAction::FilesUnmerged,
            Some(uid),
            format!(
                "fusion {} annulée : les deux dossiers sont rétablis",
                record.id
            ),
        )
        .await?;
    }
    Ok(Redirect::to(&format!("/usagers/{}#qualite", record.survivor_id)).into_response())
}

pub async fn close_task(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let id = parse_id(&raw)?;
    st.store.close_identity_task(&ctx.tenant, id).await?;
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::TaskClosed,
        None,
        id.to_string(),
    )
    .await?;
    Ok(Redirect::to("/identitovigilance#h-taches").into_response())
}

pub async fn flag_collision(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    require(
        &ctx,
        IdentityAction::MarkDoubtful,
        "La procédure d'identitovigilance de la structure ne permet pas à vos rôles de signaler une collision.",
    )?;
    let id = parse_id(&raw)?;
    super::require_live(&st, &ctx, id).await?;
    let note = text::single_line(form.get("note"), 300)
        .map_err(|e| AppError::BadRequest(format!("motif : {e}")))?;
    let referent = is_referent(&ctx);
    let collision = match form.get("collision") {
        "COLV" if referent => Some(Collision::Verifiee),
        "" if referent => None,
        _ => Some(Collision::Potentielle),
    };
    st.store
        .set_collision(&ctx.tenant, id, collision, Some(&note))
        .await?;
    if collision == Some(Collision::Potentielle) {
        st.store
            .add_identity_task(
                &ctx.tenant,
                id,
                "collision",
                &format!("Collision signalée : {note}"),
            )
            .await?;
    }
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::CollisionFlagged,
        Some(id),
        collision.map(|c| c.label()).unwrap_or("signalement levé"),
    )
    .await?;
    Ok(Redirect::to(&format!("/usagers/{id}#qualite")).into_response())
}

/// The file and everything attached, as JSON (right of access), without the
/// note classes the reader may not see.
pub async fn export(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw)?;
    let mut export = st.store.export_usager(&ctx.tenant, id).await?;
    let readable: Vec<&str> = ctx
        .tenant
        .readable_classes()
        .iter()
        .map(|c: &Confidentiality| c.code())
        .collect();
    if let Some(notes) = export.get_mut("notes").and_then(|n| n.as_array_mut()) {
        notes.retain(|n| {
            n.get("confidentiality")
                .and_then(|c| c.as_str())
                .is_some_and(|c| readable.contains(&c))
        });
    }
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::FileExported,
        Some(id),
        "export JSON",
    )
    .await?;
    let body = serde_json::to_string_pretty(&export).map_err(|e| AppError::Internal(e.into()))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"dossier-escale.json\"",
            ),
        ],
        body,
    )
        .into_response())
}

pub async fn procedure(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let p = st.store.current_procedure(&ctx.tenant).await?;
    let acknowledged = match &p {
        Some(p) => st.store.has_acknowledged(&ctx.tenant, p.version).await?,
        None => false,
    };
    let body = views::vigilance::procedure(p.as_ref(), acknowledged, &ctx.session.csrf_token);
    Ok(page(&st, &ctx, "Procédure d'identitovigilance", body))
}

pub async fn acknowledge(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    let version: i64 = form
        .get("version")
        .parse()
        .map_err(|_| AppError::BadRequest("version non désignée".into()))?;
    let current = st
        .store
        .current_procedure(&ctx.tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    if current.version != version {
        return Err(AppError::Refused(
            "Une nouvelle version de la procédure a été publiée entre-temps : lisez-la avant de confirmer.".into(),
        ));
    }
    st.store.acknowledge_procedure(&ctx.tenant, version).await?;
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::ProcedureAcknowledged,
        None,
        format!("version {version}"),
    )
    .await?;
    Ok(Redirect::to("/identitovigilance/procedure").into_response())
}

#[derive(Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    ok: Option<String>,
}

pub async fn settings(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    settings_page(&st, &ctx, q.ok.is_some(), None, StatusCode::OK).await
}

/// The settings page; with a draft and its error when publishing failed
/// (nothing typed is lost).
async fn settings_page(
    st: &AppState,
    ctx: &Ctx,
    saved: bool,
    failed: Option<(&NewProcedure, &str)>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let p = st.store.current_procedure(&ctx.tenant).await?;
    let readers = match &p {
        Some(p) => Some(st.store.procedure_readers(&ctx.tenant, p.version).await?),
        None => None,
    };
    let body = views::vigilance::settings(&views::vigilance::Settings {
        policy: &ctx.tenant.policy,
        procedure: p.as_ref(),
        readers: readers.as_ref(),
        csrf: &ctx.session.csrf_token,
        saved,
        draft: failed.map(|(d, _)| d),
        error: failed.map(|(_, e)| e),
    });
    Ok((
        status,
        page(st, ctx, "Procédure d'identitovigilance — paramètres", body),
    )
        .into_response())
}

pub async fn save_settings(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    let t = &ctx.tenant;
    let details = if form.get("part") == "procedure" {
        let draft = NewProcedure {
            body: form.get("body").to_string(),
            guidance_01: form.get("guidance_01").to_string(),
            guidance_02: form.get("guidance_02").to_string(),
        };
        let checked = (|| {
            let field = |label: &str, value: &str, max: usize| {
                text::multi_line(value, max).map_err(|e| format!("{label} : {e}"))
            };
            Ok::<_, String>(NewProcedure {
                body: field("texte de la procédure", &draft.body, 20_000)?,
                guidance_01: field("conduite à tenir sur 01", &draft.guidance_01, 2_000)?,
                guidance_02: field("conduite à tenir sur 02", &draft.guidance_02, 2_000)?,
            })
        })();
        let p: NewProcedure = match checked {
            Ok(p) => p,
            Err(e) => {
                return settings_page(
                    &st,
                    &ctx,
                    false,
                    Some((&draft, &e)),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        };
        let published = st.store.publish_procedure(t, &p).await?;
        crate::audit::record(
            st.store.as_ref(),
            t,
            AuditAction::ProcedurePublished,
            None,
            format!("version {}", published.version),
        )
        .await?;
        return Ok(Redirect::to("/structure/identitovigilance?ok=1").into_response());
    } else {
        let mut policy = IdentityPolicy {
            reverify_on_new_episode: form.get("reverify_on_new_episode") == "on",
            reverify_after_months: match form.get("reverify_after_months").trim() {
                "" => None,
                v => Some(v.parse::<u32>().ok().filter(|m| (1..=120).contains(m)).ok_or_else(|| {
                    AppError::BadRequest(
                        "durée de revérification : un nombre de mois entre 1 et 120, ou rien".into(),
                    )
                })?),
            },
            ..t.policy.clone()
        };
        for action in IdentityAction::ALL {
            let roles: Vec<Role> = Role::ALL
                .into_iter()
                .filter(|r| form.all(action.code()).contains(&r.code()))
                .collect();
            if roles.is_empty() {
                return Err(AppError::Refused(format!(
                    "« {} » : gardez au moins un rôle, sinon plus personne ne pourrait le faire.",
                    action.label()
                )));
            }
            policy.set_roles(action, roles);
        }
        st.store.set_identity_policy(t, &policy).await?;
        let labels = |rs: &[Role]| rs.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ");
        format!(
            "identitovigilance : création {} ; doute/collision {} ; fusion {} ; revérification nouvelle prise en charge {} ; après {} mois",
            labels(&policy.create_roles),
            labels(&policy.doubt_roles),
            labels(&policy.merge_roles),
            if policy.reverify_on_new_episode {
                "oui"
            } else {
                "non"
            },
            policy
                .reverify_after_months
                .map(|m| m.to_string())
                .unwrap_or_else(|| "—".into())
        )
    };
    crate::audit::record(
        st.store.as_ref(),
        t,
        AuditAction::ConfigurationChanged,
        None,
        details,
    )
    .await?;
    Ok(Redirect::to("/structure/identitovigilance?ok=1").into_response())
}

/// The identity sheet (PDF/A): traits, status, and for a qualified identity
/// the matricule INS and its DataMatrix. Printing is traced.
pub async fn identity_sheet(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw)?;
    let u = st
        .store
        .get_usager(&ctx.tenant, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let sheet = crate::identity_sheet::for_file(
        &u.data.identity,
        &u.vigilance,
        &ctx.session.structure_name,
        &ctx.tenant.actor_label,
        chrono::Utc::now(),
    )
    .ok_or_else(|| {
        AppError::Refused(
            "Un dossier anonyme n'a pas de fiche d'identité : seul le pseudonyme est enregistré."
                .into(),
        )
    })?;
    let pdf = crate::identity_sheet::render(&sheet).map_err(|e| AppError::Internal(e.into()))?;
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::IdentitySheetPrinted,
        Some(id),
        if sheet.datamatrix.is_some() {
            "avec INS et DataMatrix"
        } else {
            "sans INS (identité non qualifiée)"
        },
    )
    .await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/pdf"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_DISPOSITION,
                "inline; filename=\"fiche-identite.pdf\"",
            ),
        ],
        pdf,
    )
        .into_response())
}
