//! A user file: opening it (what its page shows, always journaled), and
//! editing its identity and contact details (the form « Modifier le
//! dossier »): the RNIV rules on strict traits, the optimistic check (the
//! form carries the version it was read at) and the journal entry written
//! with the change.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::identity::IdentityStatus;
use crate::domain::lexical;
use crate::domain::procedure::IdentityAction;
use crate::domain::tenant::Tenant;
use crate::domain::usager::{FieldErrors, Identity, Sex, UsagerData, UsagerForm};
use crate::services::audit;
use crate::services::error::{ServiceError, ServiceResult};
use crate::services::identity::{live_usager, live_usager_or};
use crate::services::identity_quality;
use crate::services::team::TeamCache;
use crate::store::{FileContents, Store, StoreError, TeamMember};

/// A file as its page shows it.
#[derive(Debug)]
pub struct OpenedFile {
    pub contents: FileContents,
    /// The structure's team (the referent choices).
    pub team: Arc<Vec<TeamMember>>,
    /// Its requests to the user's DMP, newest first.
    pub dmp_deposits: Vec<crate::store::DmpDeposit>,
    /// Its MSSanté messages, newest first.
    pub messages: Vec<crate::store::MssMessage>,
    /// The structure's address book (whom a message may go to).
    pub correspondents: Vec<crate::store::access::Correspondent>,
    /// Received messages no file was found for (« à rattacher »).
    pub unattached: Vec<crate::store::MssMessage>,
    /// The structure's MSSanté mailbox, if set.
    pub structure_mailbox: Option<String>,
    /// The identity-quality markers (candidate pairs, collision).
    pub markers: Vec<&'static str>,
    /// Why the identity is due for a new INSi check, if it is (the
    /// structure's policy, RNIV: the INS is checked again after a while).
    pub reverification_due: Option<String>,
}

/// Opens the tenant's file `id`: reads what its page shows, then journals
/// the access (with `details`) before anything is shown: no trace, no file.
pub async fn open(
    store: &dyn Store,
    team: &TeamCache,
    t: &Tenant,
    id: Uuid,
    details: &str,
) -> ServiceResult<OpenedFile> {
    let (contents, team, dmp_deposits, messages, correspondents, structure, unattached) = tokio::try_join!(
        store.file_contents(t, id),
        team.team(store, t),
        store.dmp_deposits(t, id),
        store.mss_messages(t, id),
        store.correspondents(t),
        store.get_structure(t.structure_id),
        store.mss_unattached(t, 20)
    )?;
    let contents = contents.ok_or(ServiceError::NotFound)?;
    let usager = &contents.usager;
    let markers = identity_quality::markers(&contents.pairs, usager.collision);
    let last_retrieval = usager.vigilance.ins().map(|r| r.retrieved_at.date_naive());
    let new_episode_since =
        last_retrieval.is_some_and(|d| contents.episodes.iter().any(|e| e.start_date > d));
    let reverification_due = t
        .policy
        .reverification_due(last_retrieval, Utc::now().date_naive(), new_episode_since)
        .map(|r| r.label());
    audit::record(store, t, AuditAction::FileOpened, Some(id), details).await?;
    Ok(OpenedFile {
        contents,
        team,
        dmp_deposits,
        messages,
        correspondents,
        unattached,
        structure_mailbox: structure.and_then(|s| s.mss_mailbox),
        markers,
        reverification_due,
    })
}

/// The identity sheet (PDF/A, with the INS DataMatrix when the identity
/// is qualified) of a live file, journaled. A merged file has none: its
/// identity may be the one the merge set aside, and a printed sheet would
/// carry it on (RNIV: one identity, one file).
pub async fn identity_sheet(
    store: &dyn Store,
    t: &Tenant,
    id: Uuid,
    structure_name: &str,
) -> ServiceResult<Vec<u8>> {
    let u = live_usager_or(
        store,
        t,
        id,
        "Ce dossier a été fusionné dans un autre : sa fiche d'identité ne s'imprime plus. Imprimez celle du dossier conservé (lien en haut de ce dossier).",
    )
    .await?;
    let sheet = crate::documents::identity_sheet::for_file(
        &u.data.identity,
        &u.vigilance,
        structure_name,
        &t.actor_label,
        Utc::now(),
    )
    .ok_or_else(|| {
        ServiceError::Refused(
            "Un dossier anonyme n'a pas de fiche d'identité : seul le pseudonyme est enregistré."
                .into(),
        )
    })?;
    let pdf = crate::documents::identity_sheet::render(&sheet)
        .map_err(|e| ServiceError::Internal(format!("fiche d'identité : {e}")))?;
    let details = if sheet.datamatrix.is_some() {
        "avec INS et DataMatrix"
    } else {
        "sans INS (identité non qualifiée)"
    };
    audit::record(
        store,
        t,
        AuditAction::IdentitySheetPrinted,
        Some(id),
        details,
    )
    .await?;
    Ok(pdf)
}

const EXPORT_FORBIDDEN: &str = "La procédure d'identitovigilance de la structure réserve l'export complet d'un dossier à d'autres rôles (page « Procédure »).";

/// The whole file as JSON (the user's right of access), for the roles the
/// procedure names: the identity through the sharing gate (the INS only when
/// qualified), the notes the reader's roles read (filtered in the query), the
/// INSi exchanges' XML for the roles that qualify identities; journaled as an
/// export. A merged file exports nothing (its content is in the kept file).
pub async fn export(store: &dyn Store, t: &Tenant, id: Uuid) -> ServiceResult<serde_json::Value> {
    if !t.may(IdentityAction::Export) {
        return Err(ServiceError::Forbidden(EXPORT_FORBIDDEN));
    }
    let u = live_usager_or(
        store,
        t,
        id,
        "Ce dossier a été fusionné dans un autre : son contenu a rejoint le dossier conservé. Exportez celui-ci (lien en haut de ce dossier).",
    )
    .await?;
    let insi_xml = t.may_qualify();
    let mut export = store.export_usager(t, id, insi_xml).await?;
    let identity = match crate::domain::sharing::shareable(&u.data.identity, &u.vigilance) {
        Ok(s) => serde_json::json!({
            "ins": s.ins.matricule.as_string(),
            "oid": s.ins.oid.oid(),
            "nom_naissance": s.birth_name,
            "prenoms": s.first_names,
            "date_naissance": s.birth_date,
            "sexe": s.sex.code(),
            "lieu_naissance": s.birth_place_code,
        }),
        Err(refusal) => serde_json::json!({ "non_partageable": refusal.to_string() }),
    };
    if let Some(file) = export.get_mut("dossier").and_then(|d| d.as_object_mut()) {
        // The raw INS and the INSi retrieval go out only through the gate above.
        file.remove("ins_matricule");
        file.remove("vigilance");
        file.insert("identite_ins".into(), identity);
        file.insert(
            "statut_identite".into(),
            u.vigilance.status().label().into(),
        );
    }
    let classes: Vec<&str> = t.readable_classes().iter().map(|c| c.label()).collect();
    audit::record(
        store,
        t,
        AuditAction::FileExported,
        Some(id),
        &format!(
            "export JSON complet (notes : {} ; échanges INSi : {})",
            if classes.is_empty() {
                "aucune".to_string()
            } else {
                classes.join(", ")
            },
            if insi_xml { "avec XML" } else { "sans XML" }
        ),
    )
    .await?;
    Ok(export)
}

/// The structure's procedure says who changes identities and contact details.
pub fn require_editor(t: &Tenant) -> ServiceResult<()> {
    if t.may(IdentityAction::Edit) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "la procédure d'identitovigilance de la structure ne confie pas à votre rôle la modification des dossiers",
        ))
    }
}

/// What became of an edit.
#[derive(Debug)]
pub enum Edit {
    /// Saved; `converted`: strict traits were put in the INSi format.
    Saved { converted: bool },
    /// Nothing saved: the form is shown again, as typed, with the reasons.
    Rejected {
        form: Box<UsagerForm>,
        errors: FieldErrors,
        why: Rejection,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A field is missing or malformed.
    Invalid,
    /// Strict traits of a vouched identity change only through the vigilance process.
    StrictTraits,
    /// Someone else changed the file since the form was read. The form now
    /// carries the current version: sent again, it applies what was typed.
    Stale,
}

/// Applies the form to the file, if the file is still at the form's version
/// (or, for a form without one, at the version read now).
pub async fn update(
    store: &dyn Store,
    t: &Tenant,
    id: Uuid,
    mut form: UsagerForm,
) -> ServiceResult<Edit> {
    require_editor(t)?;
    let existing = live_usager(store, t, id).await?;
    // A page read before a change is caught by its version; a form without
    // one (an old page) is checked against the version read here.
    let version = form
        .version
        .as_deref()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(existing.version);
    // An anonymous file stays anonymous and an identified one stays identified:
    // lifting anonymity is an explicit, separate decision.
    form.anonymous = existing
        .data
        .identity
        .is_anonymous()
        .then(|| "on".to_string());
    let today = Utc::now().date_naive();
    let mut data: UsagerData = match form.validate(today, true) {
        Ok(d) => d,
        Err(errors) => return Ok(rejected(form, errors, Rejection::Invalid)),
    };
    let converted = normalise_strict_traits(&mut data);
    // RNIV: once INSi or a document vouched for them, strict traits change only
    // through the vigilance process (doubt, then a new verification).
    if existing.vigilance.status() != IdentityStatus::Prov
        && strict_traits(&existing.data.identity) != strict_traits(&data.identity)
    {
        let mut errors = FieldErrors::new();
        errors.insert(
            "birth_name",
            format!(
                "{} : les traits stricts (nom de naissance, prénoms, date, sexe, lieu de naissance) ne se modifient pas directement. Signalez un doute sur l'identité, corrigez, puis vérifiez-la à nouveau.",
                existing.vigilance.status().label()
            ),
        );
        return Ok(rejected(form, errors, Rejection::StrictTraits));
    }
    let entry = audit::event(
        t,
        AuditAction::FileUpdated,
        Some(id),
        "identité ou coordonnées",
    );
    match store.update_usager(t, id, version, &data, &[entry]).await {
        Ok(_) => Ok(Edit::Saved { converted }),
        Err(StoreError::Stale(_)) => {
            let current = live_usager(store, t, id).await?;
            form.version = Some(current.version.to_string());
            let mut errors = FieldErrors::new();
            errors.insert(
                "version",
                format!(
                    "Ce dossier a été modifié par quelqu'un d'autre pendant votre saisie (identité actuelle : {}, {}) : rien n'a été enregistré. Vos saisies sont conservées ci-dessous. Ouvrez le dossier dans un autre onglet pour voir ce qui a changé ; si vos modifications restent justes, envoyez à nouveau ce formulaire : elles remplaceront la version actuelle.",
                    current.data.identity.display_name(),
                    current.vigilance.status().label()
                ),
            );
            Ok(rejected(form, errors, Rejection::Stale))
        }
        Err(e) => Err(e.into()),
    }
}

fn rejected(form: UsagerForm, errors: FieldErrors, why: Rejection) -> Edit {
    Edit::Rejected {
        form: Box::new(form),
        errors,
        why,
    }
}

/// Strict traits are kept in the INSi format (SEL-MP-043 §3.4.1): upper case,
/// no diacritics, Œ→OE, ’→'. Returns whether anything was converted, so that
/// the operator sees it.
pub fn normalise_strict_traits(data: &mut UsagerData) -> bool {
    let Identity::Traits {
        birth_name,
        first_names,
        ..
    } = &mut data.identity
    else {
        return false;
    };
    let name = lexical::normalise_capture(birth_name);
    let firsts = lexical::normalise_first_names(first_names).join(" ");
    let changed = name != *birth_name || firsts != *first_names;
    *birth_name = name;
    *first_names = firsts;
    changed
}

fn strict_traits(i: &Identity) -> Option<(&str, &str, NaiveDate, Sex, Option<&str>)> {
    match i {
        Identity::Traits {
            birth_name,
            first_names,
            birth_date,
            sex,
            birth_place_code,
            ..
        } => Some((
            birth_name,
            first_names,
            *birth_date,
            *sex,
            birth_place_code.as_deref(),
        )),
        Identity::Anonymous { .. } => None,
    }
}
