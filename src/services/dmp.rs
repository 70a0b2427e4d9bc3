//! The user's DMP (Mon espace santé): recording what they were told and
//! their opposition; sending a document version to it (or taking it back)
//! through the outbox (`jobs::dmp` runs [`perform`]); each structure's DMP
//! client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveTime, Utc};

use crate::config::Config;
use crate::connectors::dmp::requests::{STATUS_APPROVED, STATUS_DELETED, StatusChange};
use crate::connectors::dmp::response::{EntryStatus, RegistryEntry};
use crate::connectors::dmp::vihf::{AuthenticationMode, Software};
use crate::connectors::dmp::xds::{Author, PatientInfo, Submission};
use crate::connectors::dmp::{Caller, DmpClient, DmpClientConfig, DmpError};
use crate::documents::cda::{self, Cda, Organization, Professional, uuid_oid};
use crate::domain::dmp::{
    ConsentEvent, DepositState, DmpConsent, DmpOperation, DmpVisibility, StructureCodes,
    may_request, professional_id, structure_codes, vihf_role,
};
use crate::domain::document::{DocumentType, document_type};
use crate::domain::sharing::ShareableIdentity;
use crate::domain::terminology::Code;

use uuid::Uuid;

use super::audit;
use super::error::{ServiceError, ServiceResult};
use crate::domain::audit::AuditAction;
use crate::domain::tenant::Tenant;
use crate::store::{DmpDeposit, Document, Store, Structure};

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
            "accueil anonyme : aucun document ne part vers un DMP pour cette personne, rien n'est à enregistrer".into(),
        ));
    }
    let consent = DmpConsent::from_records(&store.dmp_consent(t, usager_id).await?);
    if !consent.next_events().contains(&event) {
        return Err(ServiceError::Refused(match event {
            ConsentEvent::Opposition => "une opposition est déjà enregistrée".into(),
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
}

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
        }
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
    let idnps = professional_id(
        professional.national_id.as_deref(),
        &structure.finess_geo,
        &professional.id.simple().to_string(),
    );
    let name = professional.display_name();
    let idnst = format!("1{}", structure.finess_geo);
    let codes = structure_codes();
    let sending = Sending {
        client: &client,
        caller: Caller {
            professional_id: &idnps,
            professional_name: &name,
            roles: vec![vihf_role(&professional.profession)],
            structure_id: &idnst,
            sector: &codes.sector.code,
            mode: AuthenticationMode::Indirecte,
        },
        author: Author {
            idnps: &idnps,
            family: &professional.last_name,
            given: &professional.first_name,
            specialty: None,
            institution: &structure.name,
            idnst: &idnst,
        },
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

/// The DMP's source id of Escale's submissions (the DMP package's example
/// value, until the DMP registers Escale's own OID).
const SOURCE_ID: &str = "1.2.250.1.999.1.1.7898";

/// One request on its way: who sends, for whom, what.
struct Sending<'a> {
    client: &'a DmpClient,
    caller: Caller<'a>,
    author: Author<'a>,
    structure: &'a Structure,
    codes: &'a StructureCodes,
    patient: ShareableIdentity<'a>,
    doc: &'a Document,
    doc_type: &'a DocumentType,
    pdf: &'a [u8],
    /// The document's earlier versions.
    older: &'a [Document],
    visibility: DmpVisibility,
}

impl Sending<'_> {
    /// The patient's documents in the DMP (`found`: already searched).
    async fn entries(
        &self,
        found: Option<Vec<RegistryEntry>>,
    ) -> Result<Vec<RegistryEntry>, DmpError> {
        match found {
            Some(f) => Ok(f),
            None => {
                self.client
                    .find_documents(&self.caller, self.patient.ins)
                    .await
            }
        }
    }

    /// TD2.1, replacing the earlier version the DMP holds (RPLC), unless
    /// this version is there already.
    async fn deposit(&self, found: Option<Vec<RegistryEntry>>) -> Result<&'static str, DmpError> {
        let doc = self.doc;
        let unique_id = uuid_oid(doc.id);
        if found
            .as_ref()
            .is_some_and(|f| f.iter().any(|e| e.unique_id == unique_id))
        {
            return Ok("déjà présent dans le DMP (réponse précédente perdue)");
        }
        let previous = if self.older.is_empty() {
            None
        } else {
            let entries = self.entries(found).await?;
            self.older.iter().rev().find_map(|v| {
                let id = uuid_oid(v.id);
                entries
                    .iter()
                    .find(|e| e.status == EntryStatus::Approved && e.unique_id == id)
                    .map(|e| (v.id, e.entry_uuid.clone()))
            })
        };
        let author = Professional {
            idnps: self.author.idnps,
            given: self.author.given,
            family: self.author.family,
            specialty: None,
        };
        let service_time = doc
            .date
            .and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default())
            .and_utc();
        let codes = self.codes;
        let xml = cda::render(&Cda {
            id: doc.id,
            set_id: doc.set_id,
            version: doc.version,
            replaces: previous.as_ref().map(|(version, _)| *version),
            doc_type: self.doc_type,
            title: &doc.title,
            effective_time: doc.created_at,
            service_time,
            patient: self.patient.clone(),
            author: author.clone(),
            legal_authenticator: author,
            structure: Organization {
                finess: &self.structure.finess_geo,
                name: &self.structure.name,
                facility_type: codes.facility_type.clone(),
                practice_setting: codes.practice_setting.clone(),
            },
            pdf: self.pdf,
        });
        let mut confidentiality = vec![Code::new("N", "2.16.840.1.113883.5.25", "Normal")];
        if let Some(c) = self.visibility.xds_code() {
            confidentiality.push(Code::new(
                c,
                "1.2.250.1.213.1.1.4.13",
                self.visibility.label(),
            ));
        }
        let t = self.doc_type;
        let patient = &self.patient;
        let submission = Submission {
            submission_id: uuid_oid(Uuid::new_v4()),
            source_id: SOURCE_ID,
            submitted_at: Utc::now(),
            patient: patient.ins,
            patient_info: PatientInfo {
                family: patient.birth_name,
                given: patient.first_names,
                birth_date: patient.birth_date,
                sex: patient.sex.code(),
            },
            author: self.author.clone(),
            content_type: codes.content_type.clone(),
            document_id: unique_id,
            title: &doc.title,
            created_at: doc.created_at,
            service_start: service_time,
            type_code: Code::new(&t.code, &t.system, &t.label),
            class_code: Code::new(&t.class_code, "1.2.250.1.213.1.1.4.1", "Classe"),
            confidentiality,
            facility_type: codes.facility_type.clone(),
            practice_setting: codes.practice_setting.clone(),
            replaces: previous.as_ref().map(|(_, entry)| entry.as_str()),
            cda: xml.as_bytes(),
            signature: None,
        };
        self.client.deposit(&self.caller, &submission).await?;
        Ok(if previous.is_some() {
            "déposé dans le DMP, en remplacement de la version précédente"
        } else {
            "déposé dans le DMP"
        })
    }

    /// TD3.3c on the entry of this version, if the DMP holds it.
    async fn withdraw(&self, found: Option<Vec<RegistryEntry>>) -> Result<&'static str, DmpError> {
        let unique_id = uuid_oid(self.doc.id);
        let entries = self.entries(found).await?;
        let Some(entry) = entries.into_iter().find(|e| e.unique_id == unique_id) else {
            return Ok("absent du DMP (déjà retiré)");
        };
        self.client
            .update_status(
                &self.caller,
                &StatusChange {
                    ins: self.patient.ins,
                    entry_uuid: &entry.entry_uuid,
                    from: STATUS_APPROVED,
                    to: STATUS_DELETED,
                    submission_id: &uuid_oid(Uuid::new_v4()),
                    source_id: SOURCE_ID,
                    at: Utc::now(),
                    author: &self.author.person(),
                },
            )
            .await?;
        Ok("retiré du DMP")
    }
}
