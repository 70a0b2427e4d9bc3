//! The team of a structure, as the file page shows it (referent choices,
//! names), kept in memory for a few seconds: it is read on every file opened
//! and changes a few times a year. A change made through this process
//! forgets it at once; one made elsewhere (another process of a regional
//! instance, a login that redeems an invitation) shows within `TTL`.
//! Access rights never come from here: they are the session's tenant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::domain::tenant::Tenant;
use crate::store::{Store, StoreResult, TeamMember};

const TTL: Duration = Duration::from_secs(10);

/// Structure → (read at, its team).
type Teams = HashMap<Uuid, (Instant, Arc<Vec<TeamMember>>)>;

#[derive(Default)]
pub struct TeamCache {
    entries: Mutex<Teams>,
}

impl TeamCache {
    /// The tenant's structure's team, from memory when it is fresh.
    pub async fn team(&self, store: &dyn Store, t: &Tenant) -> StoreResult<Arc<Vec<TeamMember>>> {
        if let Some((at, team)) = self.lock().get(&t.structure_id)
            && at.elapsed() < TTL
        {
            return Ok(team.clone());
        }
        let team = Arc::new(store.team(t).await?);
        self.lock()
            .insert(t.structure_id, (Instant::now(), team.clone()));
        Ok(team)
    }

    /// After a change of the structure's team.
    pub fn forget(&self, structure_id: Uuid) {
        self.lock().remove(&structure_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Teams> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Changes of a structure's team by its director: who joins (from the
/// Annuaire Santé, never from what a form says about them) and with which
/// roles. The rule that a structure keeps a director is the store's
/// (`set_roles`, in the change's transaction).
pub mod members {
    use uuid::Uuid;

    use crate::domain::audit::AuditAction;
    use crate::domain::identifiers::NationalId;
    use crate::domain::roles::{Role, RoleSet};
    use crate::domain::tenant::Tenant;
    use crate::services::annuaire::DirectoryService;
    use crate::services::audit;
    use crate::services::error::{ServiceError, ServiceResult};
    use crate::store::{AuditChain, AuditEvent, NewProfessional, Store, StoreError};

    /// The journal entry of a change of roles, written with it.
    pub fn roles_entry(t: &Tenant, who: &str, before: &RoleSet, after: &[Role]) -> AuditEvent {
        let after = RoleSet::new(after.to_vec());
        let details = if after.is_empty() {
            format!("accès de {who} retiré (rôles : {})", before.labels())
        } else {
            format!(
                "rôles de {who} : {} → {}",
                if before.is_empty() {
                    "aucun".to_string()
                } else {
                    before.labels()
                },
                after.labels()
            )
        };
        audit::event(t, AuditAction::RoleGranted, None, details)
    }

    async fn current_roles(store: &dyn Store, t: &Tenant, id: Uuid) -> ServiceResult<RoleSet> {
        Ok(store
            .team_entries(t)
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .map(|e| e.roles)
            .unwrap_or_else(|| RoleSet::new(Vec::new())))
    }

    fn refused(e: StoreError) -> ServiceError {
        match e {
            // The store's rules (the last director) speak French already.
            StoreError::Conflict(m) => ServiceError::Refused(m),
            e => e.into(),
        }
    }

    /// `national_id` joins the team with `roles`. Someone Escale does not
    /// know yet is read from the Annuaire Santé (local copy or API): their
    /// names and profession are the Annuaire's, journaled on the structure's
    /// chain; professionals are shared by every structure of the instance.
    pub async fn add(
        store: &dyn Store,
        directory: &DirectoryService,
        t: &Tenant,
        national_id: &str,
        roles: &[Role],
    ) -> ServiceResult<()> {
        let id =
            NationalId::parse(national_id).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        if roles.is_empty() {
            return Err(ServiceError::Invalid(
                "Cochez au moins un rôle pour ajouter ce professionnel à l'équipe.".into(),
            ));
        }
        let id_nat = id.id_nat_ps();
        let professional = match store.find_professional_by_national_id(&id_nat).await? {
            Some(p) => p,
            None => {
                let found = directory
                    .person(store, &id_nat)
                    .await
                    .map_err(|e| {
                        ServiceError::Refused(format!(
                            "L'Annuaire Santé n'a pas pu confirmer ce professionnel ({e}) : réessayez dans un moment."
                        ))
                    })?
                    .ok_or_else(|| {
                        ServiceError::Refused(format!(
                            "{} n'est pas dans l'Annuaire Santé : vérifiez le numéro, ou pré-inscrivez la personne si son enregistrement est en cours.",
                            id.label()
                        ))
                    })?;
                let profession = found.headline();
                let journal = |p: &crate::store::Professional| {
                    vec![audit::instance_event(
                        AuditChain::Structure(t.structure_id),
                        &t.actor_label,
                        AuditAction::ProfessionalCreated,
                        format!(
                            "{} ({}), d'après l'Annuaire Santé",
                            p.display_name(),
                            id.label()
                        ),
                    )]
                };
                store
                    .create_professional(
                        &NewProfessional {
                            first_name: found.first_name,
                            last_name: found.last_name,
                            national_id: Some(id_nat.clone()),
                            profession,
                            instance_admin: false,
                        },
                        &journal,
                    )
                    .await?
            }
        };
        let before = current_roles(store, t, professional.id).await?;
        let entry = roles_entry(t, &professional.display_name(), &before, roles);
        store
            .set_roles(t, professional.id, roles, &[entry])
            .await
            .map_err(refused)
    }

    /// New roles for a member of the team, or none (their access ends).
    pub async fn change_roles(
        store: &dyn Store,
        t: &Tenant,
        id: Uuid,
        roles: &[Role],
    ) -> ServiceResult<()> {
        let team = store.team_entries(t).await?;
        let member = team
            .iter()
            .find(|e| e.id == id)
            .ok_or(ServiceError::NotFound)?;
        let who = format!("{} {}", member.first_name, member.last_name);
        let entry = roles_entry(t, &who, &member.roles, roles);
        store
            .set_roles(t, id, roles, &[entry])
            .await
            .map_err(refused)
    }
}
