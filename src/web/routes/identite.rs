//! Identity vigilance actions on a file: INSi search and confirmation,
//! identity document, doubt, homonym, anonymity lifting. Every rule is in
//! `domain::identity`; a fictitious identity is refused there, whatever the
//! request.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::parse_id;
use crate::connectors::insi::{
    CodeCr, Individu, VitaleQuery, parse_response, rechercher_avec_strategie,
};
use crate::domain::audit::AuditAction;
use crate::domain::identity::{DocumentCheck, Refusal, Vigilance};
use crate::domain::ins::{InsOid, KeyCheck, Matricule};
use crate::domain::procedure::IdentityAction;
use crate::domain::roles::Role;
use crate::domain::usager::{Identity, parse_event_date};
use crate::identity_quality;
use crate::insi_identity::{integrate, local_traits_for_insi, record_exchange};
use crate::store::Usager;
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views::identite::{Comparison, Found, TraitRow, local_traits};
use crate::web::views::{self};
use crate::web::{AppError, AppState};

/// An INSi answer may be integrated within this delay after the call.
const CONFIRMATION_WINDOW_MINUTES: i64 = 30;

/// Roles that decide to link an anonymous history to a real identity.
const LIFT_ROLES: [Role; 3] = [
    Role::ReferentIdentitovigilance,
    Role::Directeur,
    Role::Medecin,
];

async fn load(st: &AppState, ctx: &Ctx, raw_id: &str) -> Result<Usager, AppError> {
    let id = parse_id(raw_id)?;
    super::require_live(st, ctx, id).await
}

pub fn may_link(ctx: &Ctx) -> bool {
    LIFT_ROLES.iter().any(|r| ctx.tenant.roles.contains(*r))
}

fn require_qualifier(ctx: &Ctx) -> Result<(), AppError> {
    if ctx.tenant.may_qualify() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Votre rôle ne permet pas de qualifier les identités dans cette structure.",
        ))
    }
}

fn refused(r: Refusal) -> AppError {
    AppError::Refused(r.to_string())
}

fn back(id: Uuid) -> Response {
    Redirect::to(&format!("/usagers/{id}#identitovigilance")).into_response()
}

fn page(st: &AppState, ctx: &Ctx, status: StatusCode, c: &Comparison<'_>) -> Response {
    (
        status,
        views::layout::page(
            ctx,
            st.config.is_sandbox(),
            "Recherche de l'INS",
            views::identite::comparison(c),
        ),
    )
        .into_response()
}

/// The birth date read on the card, for INSi's `DateLunaire`: a calendar
/// date (`AAAA-MM-JJ`), or the card's raw `AAAAMMJJ` where a lunar date
/// (00 for an unknown day or month) is kept as it is.
fn card_date(raw: &str) -> Option<String> {
    let v = raw.trim();
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Some(d.format("%Y-%m-%d").to_string());
    }
    let b = v.as_bytes();
    if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        let (month, day): (u32, u32) = (v[4..6].parse().ok()?, v[6..8].parse().ok()?);
        if month <= 12 && day <= 31 {
            return Some(format!("{}-{}-{}", &v[..4], &v[4..6], &v[6..8]));
        }
    }
    None
}

/// The structure's INSi client, or why it cannot call INSi now (in French).
async fn structure_client(
    st: &AppState,
    t: &crate::domain::tenant::Tenant,
) -> Result<Result<std::sync::Arc<crate::connectors::insi::InsiClient>, String>, AppError> {
    let structure = st
        .store
        .get_structure(t.structure_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(st
        .insi
        .client_for(st.store.as_ref(), &structure)
        .await
        .map_err(|e| e.to_string()))
}

/// What the structure's procedure says to do on this INSi answer (director's text).
async fn structure_guidance(
    st: &AppState,
    t: &crate::domain::tenant::Tenant,
    pick: impl Fn(&crate::store::Procedure) -> &String,
) -> Result<String, AppError> {
    Ok(st
        .store
        .current_procedure(t)
        .await?
        .map(|p| pick(&p).trim().to_string())
        .filter(|g| !g.is_empty())
        .map(|g| format!(" Procédure de la structure : {g}"))
        .unwrap_or_default())
}

/// « Rechercher l'INS »: the search strategy, every call kept and audited.
pub async fn search(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
) -> Result<Response, AppError> {
    let usager = load(&st, &ctx, &raw_id).await?;
    // Anonymity first: a fictitious identity never reaches INSi, whoever asks.
    usager.vigilance.may_call_insi().map_err(refused)?;
    require_qualifier(&ctx)?;
    let t = &ctx.tenant;
    let mut view = Comparison {
        usager: &usager,
        steps: vec![],
        found: None,
        message: None,
        csrf: &ctx.session.csrf_token,
    };
    let local = match local_traits_for_insi(&usager.data.identity) {
        Ok(l) => l,
        Err(m) => {
            view.message = Some(m);
            return Ok(page(&st, &ctx, StatusCode::UNPROCESSABLE_ENTITY, &view));
        }
    };
    let client = match structure_client(&st, t).await? {
        Ok(c) => c,
        Err(m) => {
            view.message = Some(m);
            return Ok(page(&st, &ctx, StatusCode::SERVICE_UNAVAILABLE, &view));
        }
    };
    let outcome = rechercher_avec_strategie(&client, &local).await;
    for (n, step) in outcome.steps.iter().enumerate() {
        let text = record_exchange(
            st.store.as_ref(),
            t,
            usager.id,
            &step.label,
            &format!("étape {}", n + 1),
            &step.exchange,
        )
        .await?;
        view.steps.push((step.label.clone(), text));
    }
    match outcome.final_response() {
        Ok(r) if r.code == CodeCr::Found && r.individu.is_some() => {
            let individu = r.individu.as_ref().expect("checked");
            let calls = st.store.insi_calls(t, usager.id).await?;
            let call_id = calls.last().map(|c| c.id).ok_or(AppError::NotFound)?;
            view.found = Some(found(call_id, &usager.data.identity, individu));
        }
        Ok(r) if r.code == CodeCr::NotFound && usager.vigilance.ins().is_some() => {
            // Re-query of an identity holding an INS: an inconsistent answer
            // downgrades to PROV and invalidates the INS (Guide INS EXI ID 26).
            let v = usager.vigilance.insi_inconsistent().map_err(refused)?;
            set(
                &st,
                &ctx,
                &usager,
                &usager.data.identity,
                &v,
                "INS invalidé : INSi ne retrouve plus l'identité (01)",
            )
            .await?;
            view.message = Some(
                "INSi ne retrouve plus cette identité (01) : l'INS est invalidé et l'identité redevient provisoire. Vérifiez les traits avec la personne et sa pièce d'identité, puis relancez la recherche.".into(),
            );
        }
        Ok(r) if r.code == CodeCr::NotFound => {
            let guidance = structure_guidance(&st, t, |p| &p.guidance_01).await?;
            view.message = Some(format!(
                "Aucune identité trouvée (01), même en essayant chaque prénom, la liste des prénoms et le lieu de naissance. Vérifiez les traits sur la pièce d'identité ; l'identité reste provisoire.{guidance}"
            ));
        }
        Ok(r) if r.code == CodeCr::Several => {
            let guidance = structure_guidance(&st, t, |p| &p.guidance_02).await?;
            view.message = Some(format!(
                "Plusieurs identités correspondent (02), même avec les autres prénoms et le lieu de naissance. Saisissez le lieu de naissance (code INSEE) ou tous les prénoms de la pièce d'identité, puis relancez ; l'identité reste provisoire.{guidance}"
            ));
        }
        Ok(r) => {
            view.message = Some(format!(
                "Réponse INSi inattendue (code {} « {} ») : rien n'a été intégré.",
                r.code.as_code(),
                r.label
            ));
        }
        Err(e) => view.message = Some(e.french_message()),
    }
    Ok(page(&st, &ctx, StatusCode::OK, &view))
}

/// « Rechercher avec la carte Vitale »: the beneficiary chosen on the card
/// read by `escale agent` is sent to INSi (`rechercherInsAvecCarteVitale`).
/// The card is a key to query INSi, not a proof of identity: the answer goes
/// through the same comparison and confirmation as a traits search.
pub async fn search_vitale(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load(&st, &ctx, &raw_id).await?;
    // Anonymity first: a fictitious identity never reaches INSi, whoever asks.
    usager.vigilance.may_call_insi().map_err(refused)?;
    require_qualifier(&ctx)?;
    let t = &ctx.tenant;
    let nir = |name: &str, label: &str| -> Result<Option<String>, AppError> {
        let v = form.get(name).trim().to_ascii_uppercase();
        if v.is_empty() {
            return Ok(None);
        }
        let b = v.as_bytes();
        let ok = (b.len() == 13 || b.len() == 15)
            && b.iter()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || (i == 6 && (*c == b'A' || *c == b'B')));
        if ok {
            Ok(Some(v[..13].to_string()))
        } else {
            Err(AppError::BadRequest(format!(
                "{label} lu sur la carte illisible : relisez la carte ou recherchez par les traits"
            )))
        }
    };
    let query = VitaleQuery {
        nir: nir("nir", "NIR du bénéficiaire")?,
        nir_ouvrant_droit: nir("nir_ouvrant_droit", "NIR de l'ouvrant droit")?,
        birth_name: Some(form.get("nom").trim().to_string()).filter(|n| !n.is_empty()),
        birth_date: card_date(form.get("date_naissance")),
        rank: form
            .get("rang")
            .trim()
            .parse()
            .ok()
            .filter(|r| (1..=9).contains(r)),
    };
    if query.nir.is_none() && (query.nir_ouvrant_droit.is_none() || query.birth_date.is_none()) {
        return Err(AppError::BadRequest(
            "la carte ne désigne pas le bénéficiaire (ni son NIR, ni celui de l'ouvrant droit avec sa date de naissance) : recherchez par les traits".into(),
        ));
    }
    let mut view = Comparison {
        usager: &usager,
        steps: vec![],
        found: None,
        message: None,
        csrf: &ctx.session.csrf_token,
    };
    let client = match structure_client(&st, t).await? {
        Ok(c) => c,
        Err(m) => {
            view.message = Some(m);
            return Ok(page(&st, &ctx, StatusCode::SERVICE_UNAVAILABLE, &view));
        }
    };
    let x = client.rechercher_vitale(&query).await;
    let text = record_exchange(
        st.store.as_ref(),
        t,
        usager.id,
        "carte Vitale",
        "carte Vitale",
        &x,
    )
    .await?;
    view.steps.push(("carte Vitale".into(), text));
    match &x.outcome {
        Ok(r) if r.code == CodeCr::Found && r.individu.is_some() => {
            let individu = r.individu.as_ref().expect("checked");
            let calls = st.store.insi_calls(t, usager.id).await?;
            let call_id = calls.last().map(|c| c.id).ok_or(AppError::NotFound)?;
            view.found = Some(found(call_id, &usager.data.identity, individu));
        }
        Ok(r) => {
            view.message = Some(format!(
                "INSi n'a pas trouvé une identité unique pour ce bénéficiaire (code {} « {} ») : recherchez par les traits de la pièce d'identité.",
                r.code.as_code(),
                r.label
            ));
        }
        Err(e) => view.message = Some(e.french_message()),
    }
    Ok(page(&st, &ctx, StatusCode::OK, &view))
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
    let usager = load(&st, &ctx, &raw_id).await?;
    usager.vigilance.may_call_insi().map_err(refused)?;
    require_qualifier(&ctx)?;
    let t = &ctx.tenant;
    let call_id = Uuid::parse_str(form.get("call_id"))
        .map_err(|_| AppError::BadRequest("réponse INSi non désignée".into()))?;
    // Only an answer received for this very file, recently, can be integrated.
    let calls = st.store.insi_calls(t, usager.id).await?;
    let call = calls
        .iter()
        .find(|c| c.id == call_id)
        .ok_or(AppError::NotFound)?;
    if Utc::now() - call.at > Duration::minutes(CONFIRMATION_WINDOW_MINUTES) {
        return Err(AppError::Refused(
            "Cette réponse INSi date de plus de 30 minutes : relancez la recherche de l'INS."
                .into(),
        ));
    }
    if form.get("decision") != "meme" {
        crate::audit::record(
            st.store.as_ref(),
            t,
            AuditAction::IdentityNotMatched,
            Some(usager.id),
            "réponse INSi écartée : rien n'a été intégré",
        )
        .await?;
        if form.get("doute") == "oui" {
            let v = usager.vigilance.mark_doubtful().map_err(refused)?;
            set(
                &st,
                &ctx,
                &usager,
                &usager.data.identity,
                &v,
                "attribut « identité douteuse » ajouté",
            )
            .await?;
        }
        return Ok(back(usager.id));
    }
    let individu = call
        .response_xml
        .as_deref()
        .and_then(|x| parse_response(x).ok())
        .filter(|r| r.code == CodeCr::Found)
        .and_then(|r| r.individu)
        .ok_or_else(|| {
            AppError::Refused("Cette réponse INSi ne contient pas d'identité à intégrer.".into())
        })?;
    let (retrieval, identity) =
        integrate(&individu, &usager.data.identity, &t.actor_label).map_err(AppError::Refused)?;
    let label = format!("{} récupéré", retrieval.ins.oid.type_label());
    let matricule = retrieval.ins.matricule.as_string();
    let v = usager.vigilance.confirm_insi(retrieval).map_err(refused)?;
    let updated = st.store.set_vigilance(t, usager.id, &identity, &v).await?;
    // RNIV: the same INS on another file is a duplicate or a collision.
    let others = st.store.usagers_with_ins(t, &matricule).await?;
    if others.len() > 1 {
        identity_quality::same_ins_found(st.store.as_ref(), t, &updated, &others).await?;
    }
    crate::audit::record(
        st.store.as_ref(),
        t,
        AuditAction::IdentityConfirmed,
        Some(usager.id),
        format!("{label} ; statut : {}", v.status().label()),
    )
    .await?;
    Ok(back(usager.id))
}

async fn set(
    st: &AppState,
    ctx: &Ctx,
    usager: &Usager,
    identity: &Identity,
    v: &Vigilance,
    details: &str,
) -> Result<(), AppError> {
    st.store
        .set_vigilance(&ctx.tenant, usager.id, identity, v)
        .await?;
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::IdentityAttributeChanged,
        Some(usager.id),
        format!("{details} ; statut : {}", v.status().label()),
    )
    .await?;
    Ok(())
}

/// « Vérifier une pièce d'identité »: a document from the structure's list.
pub async fn document(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load(&st, &ctx, &raw_id).await?;
    usager.vigilance.may_call_insi().map_err(refused)?;
    require_qualifier(&ctx)?;
    let kind = form.get("kind");
    if !ctx.tenant.identity_documents.iter().any(|d| d == kind) {
        return Err(AppError::Refused(
            "Cette pièce ne fait pas partie des pièces à haut niveau de confiance retenues par la structure.".into(),
        ));
    }
    let v = usager
        .vigilance
        .record_document(DocumentCheck {
            kind: kind.to_string(),
            checked_by: ctx.tenant.actor_label.clone(),
            checked_at: Utc::now(),
        })
        .map_err(refused)?;
    st.store
        .set_vigilance(&ctx.tenant, usager.id, &usager.data.identity, &v)
        .await?;
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::DocumentChecked,
        Some(usager.id),
        format!(
            "{} ; statut : {}",
            crate::domain::identity::document_label(kind).unwrap_or(kind),
            v.status().label()
        ),
    )
    .await?;
    Ok(back(usager.id))
}

/// Signal or lift a doubt.
pub async fn doubt(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load(&st, &ctx, &raw_id).await?;
    // Raising a doubt is open to the roles the procedure names; clearing it
    // means vouching for the identity again: qualifiers only.
    if form.get("action") == "lever" {
        require_qualifier(&ctx)?;
    } else if !ctx.tenant.may(IdentityAction::MarkDoubtful) {
        return Err(AppError::Forbidden(
            "La procédure d'identitovigilance de la structure ne permet pas à vos rôles de signaler une identité douteuse : prévenez le référent.",
        ));
    }
    let (v, details) = if form.get("action") == "lever" {
        (usager.vigilance.clear_doubt(), "doute levé")
    } else {
        (
            usager.vigilance.mark_doubtful(),
            "attribut « identité douteuse » ajouté (INS invalidé)",
        )
    };
    let v = v.map_err(refused)?;
    set(&st, &ctx, &usager, &usager.data.identity, &v, details).await?;
    Ok(back(usager.id))
}

pub async fn homonym(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw_id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let usager = load(&st, &ctx, &raw_id).await?;
    require_qualifier(&ctx)?;
    let on = form.get("homonyme") == "oui";
    let v = usager.vigilance.set_homonym(on).map_err(refused)?;
    let details = if on {
        "attribut « homonyme » ajouté"
    } else {
        "attribut « homonyme » retiré"
    };
    set(&st, &ctx, &usager, &usager.data.identity, &v, details).await?;
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
    if !usager.vigilance.is_fictitious() {
        return Err(AppError::Refused("Ce dossier n'est pas anonyme.".into()));
    }
    let on = parse_event_date(form.get("requested_on"), Utc::now().date_naive())
        .map_err(|e| AppError::Refused(format!("Date de la demande : {e}.")))?;
    st.store
        .request_anonymity_lift(&ctx.tenant, usager.id, on)
        .await?;
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::AnonymityLiftRequested,
        Some(usager.id),
        format!("demande du {}", views::date_fr(on)),
    )
    .await?;
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
    if !may_link(&ctx) {
        return Err(AppError::Forbidden(
            "La levée d'anonymat est décidée par le référent en identitovigilance, la direction ou un médecin.",
        ));
    }
    // The field accepts the file's address or its identifier.
    let typed = form.get("real").trim().trim_end_matches('/');
    let real_raw = typed.rsplit('/').next().unwrap_or("");
    let real_id = Uuid::parse_str(real_raw).map_err(|_| {
        AppError::Refused(
            "Dossier de l'identité réelle introuvable : collez l'adresse du dossier (…/usagers/…)."
                .into(),
        )
    })?;
    st.store
        .decide_anonymity_lift(&ctx.tenant, usager.id, real_id)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => AppError::Refused(
                "Liaison impossible : la demande doit être enregistrée, et le dossier cible doit être une identité réelle de la structure.".into(),
            ),
            e => e.into(),
        })?;
    for id in [usager.id, real_id] {
        crate::audit::record(
            st.store.as_ref(),
            &ctx.tenant,
            AuditAction::AnonymityLifted,
            Some(id),
            format!(
                "historique anonyme {} relié à l'identité réelle {}",
                usager.id, real_id
            ),
        )
        .await?;
    }
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
    let svg = crate::datamatrix_symbol::svg(&payload).map_err(|e| AppError::Internal(e.into()))?;
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::FileOpened,
        Some(usager.id),
        "DataMatrix INS",
    )
    .await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
