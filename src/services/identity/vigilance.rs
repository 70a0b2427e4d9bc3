//! Changes of a file's vigilance state other than INSi: the identity document
//! checked, a doubt raised or lifted, the homonym attribute, and the lifting
//! of anonymity (RNIV: each is journaled with the resulting status).

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::identity::{DocumentCheck, Vigilance, document_label};
use crate::domain::procedure::IdentityAction;
use crate::domain::roles::Role;
use crate::domain::tenant::Tenant;
use crate::domain::usager::Identity;
use crate::services::audit;
use crate::services::error::{ServiceError, ServiceResult};
use crate::services::identity::require_qualifier;
use crate::store::{Store, StoreError, Usager};

/// Roles that decide to link an anonymous history to a real identity.
const LIFT_ROLES: [Role; 3] = [
    Role::ReferentIdentitovigilance,
    Role::Directeur,
    Role::Medecin,
];

pub fn may_link(t: &Tenant) -> bool {
    LIFT_ROLES.iter().any(|r| t.roles.contains(*r))
}

/// Writes the identity and its vigilance state with the entry « {details} ;
/// statut : … », in one transaction, if the file is still as `usager` was
/// read (else `Stale`: nothing written).
pub async fn set_vigilance(
    store: &dyn Store,
    t: &Tenant,
    usager: &Usager,
    identity: &Identity,
    v: &Vigilance,
    details: &str,
) -> ServiceResult<Usager> {
    let entry = audit::event(
        t,
        AuditAction::IdentityAttributeChanged,
        Some(usager.id),
        format!("{details} ; statut : {}", v.status().label()),
    );
    Ok(store
        .set_vigilance(t, usager.id, usager.version, identity, v, &[entry])
        .await?)
}

/// « Vérifier une pièce d'identité »: a document from the structure's list.
pub async fn check_document(
    store: &dyn Store,
    t: &Tenant,
    usager: &Usager,
    kind: &str,
) -> ServiceResult<()> {
    usager.vigilance.may_call_insi()?;
    require_qualifier(t)?;
    if !t.identity_documents.iter().any(|d| d == kind) {
        return Err(ServiceError::Refused(
            "Cette pièce ne fait pas partie des pièces à haut niveau de confiance retenues par la structure.".into(),
        ));
    }
    let v = usager.vigilance.record_document(DocumentCheck {
        kind: kind.to_string(),
        checked_by: t.actor_label.clone(),
        checked_at: Utc::now(),
    })?;
    let entry = audit::event(
        t,
        AuditAction::DocumentChecked,
        Some(usager.id),
        format!(
            "{} ; statut : {}",
            document_label(kind).unwrap_or(kind),
            v.status().label()
        ),
    );
    store
        .set_vigilance(
            t,
            usager.id,
            usager.version,
            &usager.data.identity,
            &v,
            &[entry],
        )
        .await?;
    Ok(())
}

/// Raises a doubt (open to the roles the procedure names; the INS is
/// invalidated), or lifts it (vouching for the identity again: qualifiers only).
pub async fn set_doubt(
    store: &dyn Store,
    t: &Tenant,
    usager: &Usager,
    doubtful: bool,
) -> ServiceResult<()> {
    let (v, details) = if doubtful {
        if !t.may(IdentityAction::MarkDoubtful) {
            return Err(ServiceError::Forbidden(
                "La procédure d'identitovigilance de la structure ne permet pas à vos rôles de signaler une identité douteuse : prévenez le référent.",
            ));
        }
        (
            usager.vigilance.mark_doubtful()?,
            "attribut « identité douteuse » ajouté (INS invalidé)",
        )
    } else {
        require_qualifier(t)?;
        (usager.vigilance.clear_doubt()?, "doute levé")
    };
    set_vigilance(store, t, usager, &usager.data.identity, &v, details).await?;
    Ok(())
}

pub async fn set_homonym(
    store: &dyn Store,
    t: &Tenant,
    usager: &Usager,
    homonym: bool,
) -> ServiceResult<()> {
    require_qualifier(t)?;
    let v = usager.vigilance.set_homonym(homonym)?;
    let details = if homonym {
        "attribut « homonyme » ajouté"
    } else {
        "attribut « homonyme » retiré"
    };
    set_vigilance(store, t, usager, &usager.data.identity, &v, details).await?;
    Ok(())
}

/// The user asks to lift anonymity: the request and its date are recorded.
pub async fn request_anonymity_lift(
    store: &dyn Store,
    t: &Tenant,
    usager: &Usager,
    requested_on: NaiveDate,
) -> ServiceResult<()> {
    if !usager.vigilance.is_fictitious() {
        return Err(ServiceError::Refused(
            "Ce dossier n'est pas anonyme.".into(),
        ));
    }
    let entry = audit::event(
        t,
        AuditAction::AnonymityLiftRequested,
        Some(usager.id),
        format!("demande du {}", requested_on.format("%d/%m/%Y")),
    );
    store
        .request_anonymity_lift(t, usager.id, requested_on, &[entry])
        .await?;
    Ok(())
}

/// The authorised decision linking the anonymous history to a real identity
/// (never a promotion of the pseudonym). `real` is the real file's address
/// or its identifier, as typed.
pub async fn lift_anonymity(
    store: &dyn Store,
    t: &Tenant,
    usager: &Usager,
    real: &str,
) -> ServiceResult<()> {
    if !may_link(t) {
        return Err(ServiceError::Forbidden(
            "La levée d'anonymat est décidée par le référent en identitovigilance, la direction ou un médecin.",
        ));
    }
    let typed = real.trim().trim_end_matches('/');
    let real_id = Uuid::parse_str(typed.rsplit('/').next().unwrap_or("")).map_err(|_| {
        ServiceError::Refused(
            "Dossier de l'identité réelle introuvable : collez l'adresse du dossier (…/usagers/…)."
                .into(),
        )
    })?;
    let journal = [usager.id, real_id].map(|id| {
        audit::event(
            t,
            AuditAction::AnonymityLifted,
            Some(id),
            format!(
                "historique anonyme {} relié à l'identité réelle {}",
                usager.id, real_id
            ),
        )
    });
    store
        .decide_anonymity_lift(t, usager.id, real_id, &journal)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::Refused(
                "Liaison impossible : la demande doit être enregistrée, et le dossier cible doit être une identité réelle de la structure.".into(),
            ),
            e => e.into(),
        })?;
    Ok(())
}
