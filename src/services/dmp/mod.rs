//! The user's DMP (Mon espace santé): recording what they were told and
//! their opposition; sending a document version to it (or taking it back)
//! through the outbox (`jobs::dmp` runs [`perform`]); each structure's DMP
//! client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod sending;

use crate::config::Config;
use crate::connectors::dmp::vihf::{AuthenticationMode, Software};
use crate::connectors::dmp::xds::Author;
use crate::connectors::dmp::{Caller, DmpClient, DmpClientConfig, DmpError};
use crate::domain::dmp::{
    ConsentEvent, DepositState, DmpConsent, DmpOperation, DmpVisibility, may_request,
    professional_id, vihf_role,
};
use crate::domain::dmp_codes::structure_codes;
use crate::domain::document::document_type;
use crate::domain::identity::Vigilance;
use crate::domain::usager::Identity;

use uuid::Uuid;

use super::audit;
use super::error::{ServiceError, ServiceResult};
use crate::domain::audit::AuditAction;
use crate::domain::tenant::Tenant;
use crate::store::{DmpDeposit, Document, Professional, Store, Structure};

use sending::Sending;
pub use sending::{DepositPackage, SOURCE_ID};

/// Records one event, journaled with it. An anonymous user has no DMP here
/// (nothing about one is recorded); an event that does not follow from the
/// current state (a second opposition, lifting none) is refused.
pub async fn record_consent(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    event: ConsentEvent,
) -> ServiceResult<()> {
    let u = super::identity::live_usager(store, t, usager_id).await?;
    if u.data.identity.is_anonymous() {
        return Err(ServiceError::Refused(
            "accueil anonyme : rien ne part vers un DMP ni vers une messagerie de santé pour cette personne, rien n'est à enregistrer".into(),
        ));
    }
    let consent = DmpConsent::from_records(&store.dmp_consent(t, usager_id).await?);
    if !consent.allows(event) {
        return Err(ServiceError::Refused(match event {
            ConsentEvent::Opposition | ConsentEvent::MssOpposition => {
                "une opposition est déjà enregistrée".into()
            }
            _ => "aucune opposition n'est enregistrée".into(),
        }));
    }
    let entry = audit::event(
        t,
        AuditAction::DmpConsentRecorded,
        Some(usager_id),
        event.label(),
    );
    store
        .record_dmp_consent(t, usager_id, event, &[entry])
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------
// Sending documents: the request (with its outbox job), retry, cancel,
// failures; and what the job does (`perform`).

/// Asks for a document version to go to (or leave) the user's DMP: the
/// rules first (a qualified INS, never an anonymous user, no opposition,
/// the user informed, a type the DMP takes), then the request and its job
/// in one transaction. The job checks them again when it sends.
pub async fn request(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    document_id: Uuid,
    operation: DmpOperation,
    visibility: DmpVisibility,
) -> ServiceResult<(DmpDeposit, bool)> {
    let u = super::identity::live_usager(store, t, usager_id).await?;
    let docs = store.documents(t, usager_id).await?;
    let doc = docs
        .iter()
        .find(|d| d.id == document_id)
        .ok_or(ServiceError::NotFound)?;
    let consent = DmpConsent::from_records(&store.dmp_consent(t, usager_id).await?);
    let doc_type = document_type(&doc.type_code)
        .ok_or_else(|| ServiceError::Refused("type de document inconnu".into()))?;
    may_request(
        operation,
        &u.data.identity,
        &u.vigilance,
        &consent,
        doc_type,
    )
    .map_err(|r| ServiceError::Refused(r.to_string()))?;
    if operation == DmpOperation::Depot && doc.superseded_at.is_some() {
        return Err(ServiceError::Refused(
            "une version plus récente de ce document existe : envoyez la dernière".into(),
        ));
    }
    if operation == DmpOperation::Suppression {
        let deposits = store.dmp_deposits(t, usager_id).await?;
        if !deposits.iter().any(|d| {
            d.document_id == document_id
                && d.operation == DmpOperation::Depot
                && d.state == DepositState::Accepte
        }) {
            return Err(ServiceError::Refused(
                "ce document n'a pas été accepté par le DMP : il n'y a rien à retirer".into(),
            ));
        }
    }
    let entry = audit::event(
        t,
        AuditAction::DmpRequested,
        Some(usager_id),
        format!(
            "{} : {} « {} », version {} ({})",
            operation.label(),
            doc.type_code,
            doc.title,
            doc.version,
            visibility.label()
        ),
    );
    Ok(store
        .request_dmp(t, usager_id, document_id, operation, visibility, &[entry])
        .await?)
}

pub async fn retry(store: &dyn Store, t: &Tenant, usager_id: Uuid, id: Uuid) -> ServiceResult<()> {
    let entry = audit::event(
        t,
        AuditAction::DmpRetried,
        Some(usager_id),
        format!("demande {id}"),
    );
    store.retry_dmp(t, usager_id, id, &[entry]).await?;
    Ok(())
}

pub async fn cancel(store: &dyn Store, t: &Tenant, usager_id: Uuid, id: Uuid) -> ServiceResult<()> {
    let entry = audit::event(
        t,
        AuditAction::DmpCancelled,
        Some(usager_id),
        format!("demande {id}"),
    );
    store.cancel_dmp(t, usager_id, id, &[entry]).await?;
    Ok(())
}

/// The structure's refused and given-up requests.
pub async fn failures(store: &dyn Store, t: &Tenant) -> ServiceResult<Vec<DmpDeposit>> {
    Ok(store.dmp_failures(t, 200).await?)
}

/// The director's codes for the structure's DMP metadata (an empty field:
/// the default of its kind), journaled with the codes before and after.
pub async fn set_structure_codes(
    store: &dyn Store,
    t: &Tenant,
    facility_type: &str,
    practice_setting: &str,
    content_type: &str,
) -> ServiceResult<()> {
    super::director_only(t)?;
    let before = store
        .get_structure(t.structure_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let choice = crate::domain::dmp_codes::choose(facility_type, practice_setting, content_type)
        .map_err(|e| ServiceError::Invalid(e.to_string()))?
        .without_defaults(before.kind);
    if before.dmp_codes == choice {
        return Ok(());
    }
    let show = |c: &crate::domain::dmp_codes::StructureCodes| {
        format!(
            "{} / {} / {}",
            c.facility_type.code, c.practice_setting.code, c.content_type.code
        )
    };
    let entry = audit::event(
        t,
        AuditAction::ConfigurationChanged,
        None,
        format!(
            "codes DMP (secteur / cadre / modalité) : {} → {}",
            show(&structure_codes(before.kind, &before.dmp_codes)),
            show(&structure_codes(before.kind, &choice))
        ),
    );
    store.set_dmp_codes(t, &choice, &[entry]).await?;
    Ok(())
}

/// A structure's DMP certificates (files).
#[derive(Debug, Clone)]
pub struct DmpCredentials {
    pub auth_cert: PathBuf,
    pub auth_key: PathBuf,
    pub sign_cert: PathBuf,
    pub sign_key: PathBuf,
}

impl DmpCredentials {
    /// `data_dir/dmp/<FINESS>/{auth,sign}.{pem,key}`.
    pub fn under(data_dir: &std::path::Path, finess: &str) -> DmpCredentials {
        let dir = data_dir.join("dmp").join(finess);
        DmpCredentials {
            auth_cert: dir.join("auth.pem"),
            auth_key: dir.join("auth.key"),
            sign_cert: dir.join("sign.pem"),
            sign_key: dir.join("sign.key"),
        }
    }
    fn present(&self) -> bool {
        [
            &self.auth_cert,
            &self.auth_key,
            &self.sign_cert,
            &self.sign_key,
        ]
        .iter()
        .all(|p| p.exists())
    }
}

/// Makes a structure's certificates where none are (the sandbox's test PKI).
pub trait DmpCredentialIssuer: Send + Sync {
    fn issue(&self, finess: &str, to: &DmpCredentials) -> Result<(), String>;
}

/// The DMP of this instance: its address and each structure's client.
pub struct DmpService {
    endpoint: Option<(String, PathBuf)>,
    data_dir: PathBuf,
    timeout: Duration,
    software: Software,
    issuer: Option<Arc<dyn DmpCredentialIssuer>>,
    clients: Mutex<HashMap<Uuid, Arc<DmpClient>>>,
    patient_view: Option<PatientViewLink>,
}

/// The address of the page showing what a patient (`INS^^^&OID&ISO^NH`)
/// sees of their DMP, where there is one (a sandbox).
pub type PatientViewLink = Box<dyn Fn(&str) -> String + Send + Sync>;

impl DmpService {
    /// The configured DMP (`dmp_url`, `dmp_ca`), if any.
    pub fn from_config(config: &Config) -> Option<DmpService> {
        let url = config.dmp.url.clone()?;
        let ca = config.dmp.ca.clone()?;
        Some(DmpService::new(config, url, ca, None))
    }

    pub fn new(
        config: &Config,
        url: String,
        ca: PathBuf,
        issuer: Option<Arc<dyn DmpCredentialIssuer>>,
    ) -> DmpService {
        DmpService {
            endpoint: Some((url, ca)),
            data_dir: config.data_dir.clone(),
            timeout: Duration::from_secs(config.dmp.timeout_seconds),
            software: Software {
                id: "escale".into(),
                name: "Escale".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                homologation: config
                    .dmp
                    .homologation
                    .clone()
                    .unwrap_or_else(|| "BAC-A-SABLE".into()),
            },
            issuer,
            clients: Mutex::default(),
            patient_view: None,
        }
    }

    /// Links each qualified user's file to `link` (their DMP as they see it).
    pub fn with_patient_view(mut self, link: PatientViewLink) -> DmpService {
        self.patient_view = Some(link);
        self
    }

    /// The page of what the user's Mon espace santé shows, when this DMP
    /// has one and the identity may be shared (qualified INS).
    pub fn patient_view(&self, identity: &Identity, vigilance: &Vigilance) -> Option<String> {
        let link = self.patient_view.as_ref()?;
        let shared = crate::domain::sharing::shareable(identity, vigilance).ok()?;
        Some(link(&crate::connectors::dmp::vihf::patient_id(shared.ins)))
    }

    /// No DMP configured (production without `dmp_url`).
    pub fn disabled(config: &Config) -> DmpService {
        DmpService {
            endpoint: None,
            ..DmpService::new(config, String::new(), PathBuf::new(), None)
        }
    }

    /// The structure's client (built once).
    pub fn client(&self, s: &Structure) -> Result<Arc<DmpClient>, DmpError> {
        if let Some(c) = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&s.id)
        {
            return Ok(c.clone());
        }
        let Some((url, ca)) = &self.endpoint else {
            return Err(DmpError::Configuration(
                "aucun DMP configuré sur cette instance (clés dmp_url et dmp_ca)".into(),
            ));
        };
        let files = DmpCredentials::under(&self.data_dir, &s.finess_geo);
        if !files.present() {
            match &self.issuer {
                Some(issuer) => issuer
                    .issue(&s.finess_geo, &files)
                    .map_err(DmpError::Configuration)?,
                None => {
                    return Err(DmpError::Configuration(format!(
                        "certificats DMP de la structure absents : placez auth.pem, auth.key, sign.pem et sign.key (IGC-Santé) dans {}",
                        files
                            .auth_cert
                            .parent()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    )));
                }
            }
        }
        let client = Arc::new(DmpClient::new(DmpClientConfig {
            base_url: url.clone(),
            auth_cert_pem: files.auth_cert,
            auth_key_pem: files.auth_key,
            sign_cert_pem: files.sign_cert,
            sign_key_pem: files.sign_key,
            ca_bundle_pem: ca.clone(),
            connect_timeout: Duration::from_secs(5).min(self.timeout),
            timeout: self.timeout,
            software: self.software.clone(),
        })?);
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(s.id, client.clone());
        Ok(client)
    }
}

/// What one attempt of a request came to.
#[derive(Debug)]
pub enum Attempt {
    /// Accepted (or found already there), refused, or nothing to do.
    Finished,
    /// Try again later: why.
    Later(String),
    /// Refused for good: why (already recorded on the request).
    Refused(String),
}

/// One attempt of a request, by its job: the rules again, then the DMP.
/// Idempotent: a document the DMP already holds (an answer lost, a process
/// killed after sending) is found by its uniqueId and not sent twice.
pub async fn perform(
    store: &dyn Store,
    dmp: &DmpService,
    t: &Tenant,
    deposit_id: Uuid,
    attempt: i32,
) -> ServiceResult<Attempt> {
    let Some(d) = store.dmp_deposit(t.structure_id, deposit_id).await? else {
        return Ok(Attempt::Refused("demande introuvable".into()));
    };
    if !matches!(d.state, DepositState::EnAttente | DepositState::Envoye) {
        return Ok(Attempt::Finished);
    }
    let refuse = |why: String| async move {
        let entry = audit::event(t, AuditAction::DmpRefused, Some(d.usager_id), why.clone());
        store
            .set_dmp_state(t, deposit_id, DepositState::Refuse, Some(&why), &[entry])
            .await?;
        Ok::<_, ServiceError>(Attempt::Refused(why))
    };
    let u = match super::identity::live_usager(store, t, d.usager_id).await {
        Ok(u) => u,
        Err(ServiceError::Refused(why)) => return refuse(why).await,
        Err(e) => return Err(e),
    };
    let Some((doc, pdf)) = store
        .document_content(t, d.usager_id, d.document_id)
        .await?
    else {
        return refuse("document introuvable ou illisible pour la personne qui l'a envoyé".into())
            .await;
    };
    let consent = DmpConsent::from_records(&store.dmp_consent(t, d.usager_id).await?);
    let Some(doc_type) = document_type(&doc.type_code) else {
        return refuse("type de document inconnu".into()).await;
    };
    let patient = match may_request(
        d.operation,
        &u.data.identity,
        &u.vigilance,
        &consent,
        doc_type,
    ) {
        Ok(p) => p,
        Err(r) => return refuse(r.to_string()).await,
    };
    let Some(structure) = store.get_structure(t.structure_id).await? else {
        return refuse("structure introuvable".into()).await;
    };
    let client = match dmp.client(&structure) {
        Ok(c) => c,
        Err(e) => return Ok(Attempt::Later(e.to_string())),
    };
    let professional = store
        .get_professional(t.professional_id)
        .await?
        .ok_or_else(|| ServiceError::Refused("l'auteur de l'envoi n'existe plus".into()))?;
    // The earlier versions: the DMP may hold one this version replaces.
    let older: Vec<Document> = if doc.version > 1 {
        store
            .documents(t, d.usager_id)
            .await?
            .into_iter()
            .filter(|v| v.set_id == doc.set_id && v.version < doc.version)
            .collect()
    } else {
        Vec::new()
    };
    let signatory = Signatory::of(&professional, &structure);
    let name = professional.display_name();
    let codes = structure_codes(structure.kind, &structure.dmp_codes);
    let sending = Sending {
        client: &client,
        caller: Caller {
            professional_id: &signatory.idnps,
            professional_name: &name,
            roles: vec![vihf_role(&professional.profession)],
            structure_id: &signatory.idnst,
            sector: &codes.sector.code,
            mode: AuthenticationMode::Indirecte,
        },
        author: signatory.author(&professional, &structure),
        structure: &structure,
        codes: &codes,
        patient,
        doc: &doc,
        doc_type,
        pdf: &pdf,
        older: &older,
        visibility: d.visibility,
    };
    let outcome = async {
        // Already there? (a retry, or an answer that never came back)
        let found = if attempt > 1 || d.state == DepositState::Envoye {
            Some(sending.entries(None).await?)
        } else {
            None
        };
        match d.operation {
            DmpOperation::Depot => sending.deposit(found).await,
            DmpOperation::Suppression => sending.withdraw(found).await,
        }
    };
    // What went out may have arrived: a retry searches first.
    store
        .set_dmp_state(t, deposit_id, DepositState::Envoye, None, &[])
        .await?;
    match outcome.await {
        Ok(what) => {
            let entry = audit::event(
                t,
                AuditAction::DmpAccepted,
                Some(d.usager_id),
                format!(
                    "{} « {} », version {} : {what}",
                    doc.type_code, doc.title, doc.version
                ),
            );
            store
                .set_dmp_state(t, deposit_id, DepositState::Accepte, Some(what), &[entry])
                .await?;
            Ok(Attempt::Finished)
        }
        Err(e) if e.is_transient() => Ok(Attempt::Later(format!("{e} ({})", e.advice()))),
        Err(e) => refuse(format!("{e} ({})", e.advice())).await,
    }
}

/// Who signs a document in XDS metadata (a DMP deposit, the XDM archive of
/// an MSSanté message): the professional's IDNPS and the structure's IDNST.
pub(crate) struct Signatory {
    pub idnps: String,
    /// `1` + FINESS.
    pub idnst: String,
}

impl Signatory {
    pub(crate) fn of(professional: &Professional, structure: &Structure) -> Self {
        Signatory {
            idnps: professional_id(
                professional.national_id.as_deref(),
                &structure.finess_geo,
                &professional.id.simple().to_string(),
            ),
            idnst: format!("1{}", structure.finess_geo),
        }
    }

    pub(crate) fn author<'a>(
        &'a self,
        professional: &'a Professional,
        structure: &'a Structure,
    ) -> Author<'a> {
        Author {
            idnps: &self.idnps,
            family: &professional.last_name,
            given: &professional.first_name,
            specialty: None,
            institution: &structure.name,
            idnst: &self.idnst,
        }
    }
}
