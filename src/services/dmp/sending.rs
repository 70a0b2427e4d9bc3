//! One request on its way to the DMP ([`Sending`]), and what a deposit
//! carries ([`DepositPackage`]): the CDA R2 N1 around the PDF and its XDS
//! metadata, also written by `escale samples`.

use chrono::{DateTime, NaiveTime, Utc};
use uuid::Uuid;

use crate::connectors::dmp::requests::{STATUS_APPROVED, STATUS_DELETED, StatusChange};
use crate::connectors::dmp::response::{EntryStatus, RegistryEntry};
use crate::connectors::dmp::xds::{Author, PatientInfo, Submission};
use crate::connectors::dmp::{Caller, DmpClient, DmpError};
use crate::documents::cda::{self, Cda, Organization, Professional, uuid_oid};
use crate::domain::dmp::DmpVisibility;
use crate::domain::dmp_codes::StructureCodes;
use crate::domain::document::DocumentType;
use crate::domain::sharing::ShareableIdentity;
use crate::domain::terminology::Code;
use crate::store::{Document, Structure};

/// The DMP's source id of Escale's submissions (the DMP package's example
/// value, until the DMP registers Escale's own OID).
pub const SOURCE_ID: &str = "1.2.250.1.999.1.1.7898";

/// One request on its way: who sends, for whom, what.
pub(super) struct Sending<'a> {
    pub(super) client: &'a DmpClient,
    pub(super) caller: Caller<'a>,
    pub(super) author: Author<'a>,
    pub(super) structure: &'a Structure,
    pub(super) codes: &'a StructureCodes,
    pub(super) patient: ShareableIdentity<'a>,
    pub(super) doc: &'a Document,
    pub(super) doc_type: &'a DocumentType,
    pub(super) pdf: &'a [u8],
    /// The document's earlier versions.
    pub(super) older: &'a [Document],
    pub(super) visibility: DmpVisibility,
}

impl Sending<'_> {
    /// The patient's documents in the DMP (`found`: already searched).
    pub(super) async fn entries(
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
    pub(super) async fn deposit(
        &self,
        found: Option<Vec<RegistryEntry>>,
    ) -> Result<&'static str, DmpError> {
        let unique_id = uuid_oid(self.doc.id);
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
        let package = DepositPackage {
            structure: self.structure,
            codes: self.codes,
            author: self.author.clone(),
            patient: self.patient.clone(),
            doc: self.doc,
            doc_type: self.doc_type,
            pdf: self.pdf,
            visibility: self.visibility,
            previous: previous.as_ref().map(|(id, entry)| (*id, entry.as_str())),
        };
        let cda = package.cda();
        let submission = package.submission(cda.as_bytes(), Uuid::new_v4(), Utc::now());
        self.client.deposit(&self.caller, &submission).await?;
        Ok(if previous.is_some() {
            "déposé dans le DMP, en remplacement de la version précédente"
        } else {
            "déposé dans le DMP"
        })
    }

    /// TD3.3c on the entry of this version, if the DMP holds it.
    pub(super) async fn withdraw(
        &self,
        found: Option<Vec<RegistryEntry>>,
    ) -> Result<&'static str, DmpError> {
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

/// What one deposit carries, from the structure, the document, its author
/// and the user's shareable identity.
pub struct DepositPackage<'a> {
    pub structure: &'a Structure,
    pub codes: &'a StructureCodes,
    pub author: Author<'a>,
    pub patient: ShareableIdentity<'a>,
    pub doc: &'a Document,
    pub doc_type: &'a DocumentType,
    pub pdf: &'a [u8],
    pub visibility: DmpVisibility,
    /// The earlier version this one replaces: its id, and its entryUUID in
    /// the DMP (found by TD3.1).
    pub previous: Option<(Uuid, &'a str)>,
}

impl<'a> DepositPackage<'a> {
    /// The act's date: the document's, at noon (the form asks for a day).
    fn service_time(&self) -> DateTime<Utc> {
        self.doc
            .date
            .and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default())
            .and_utc()
    }

    /// The CDA R2 N1 wrapping the PDF.
    pub fn cda(&self) -> String {
        let author = Professional {
            idnps: self.author.idnps,
            given: self.author.given,
            family: self.author.family,
            specialty: None,
        };
        let codes = self.codes;
        cda::render(&Cda {
            id: self.doc.id,
            set_id: self.doc.set_id,
            version: self.doc.version,
            replaces: self.previous.map(|(version, _)| version),
            doc_type: self.doc_type,
            title: &self.doc.title,
            effective_time: self.doc.created_at,
            service_time: self.service_time(),
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
        })
    }

    /// The XDS metadata of the submission of `cda` (a new `submission_id`
    /// at each attempt; the document's uniqueId never changes).
    pub fn submission(
        &'a self,
        cda: &'a [u8],
        submission_id: Uuid,
        at: DateTime<Utc>,
    ) -> Submission<'a> {
        let mut confidentiality = vec![Code::new("N", "2.16.840.1.113883.5.25", "Normal")];
        if let Some(c) = self.visibility.xds_code() {
            confidentiality.push(Code::new(
                c,
                "1.2.250.1.213.1.1.4.13",
                self.visibility.label(),
            ));
        }
        let (t, codes, patient) = (self.doc_type, self.codes, &self.patient);
        Submission {
            submission_id: uuid_oid(submission_id),
            source_id: SOURCE_ID,
            submitted_at: at,
            patient: patient.ins,
            patient_info: PatientInfo {
                family: patient.birth_name,
                given: patient.first_names,
                birth_date: patient.birth_date,
                sex: patient.sex.code(),
            },
            author: self.author.clone(),
            content_type: codes.content_type.clone(),
            document_id: uuid_oid(self.doc.id),
            title: &self.doc.title,
            created_at: self.doc.created_at,
            service_start: self.service_time(),
            type_code: Code::new(&t.code, &t.system, &t.label),
            class_code: Code::new(&t.class_code, "1.2.250.1.213.1.1.4.1", "Classe"),
            confidentiality,
            facility_type: codes.facility_type.clone(),
            practice_setting: codes.practice_setting.clone(),
            replaces: self.previous.map(|(_, entry)| entry),
            cda,
            signature: None,
        }
    }
}
