//! The DMP samples of `escale samples`: a letter of a qualified demo user as
//! PDF/A, its CDA R2 N1, and every piece of its TD2.1 deposit, built by the
//! same code as a real deposit ([`DepositPackage`], [`DmpClient`]).
//!
//! The SIGN and AUTH certificates come from a test PKI made for the run: the
//! certificate and the signatures differ between runs, nothing else does
//! except the identifiers the client draws for each message.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::connectors::dmp::vihf::{AuthenticationMode, Software};
use crate::connectors::dmp::xds::Author;
use crate::connectors::dmp::{Caller, DmpClient, DmpClientConfig};
use crate::documents::letter::{self, Letter};
use crate::domain::care::Confidentiality;
use crate::domain::dmp::{DmpVisibility, professional_id, vihf_role};
use crate::domain::dmp_codes::structure_codes;
use crate::domain::identity::Vigilance;
use crate::domain::sharing;
use crate::domain::structure::StructureKind;
use crate::domain::template::templates;
use crate::domain::usager::Identity;
use crate::sandbox::demo::{CSAPA_FINESS, CSAPA_NAME};
use crate::sandbox::pki::{TestPki, write_pair};
use crate::services::dmp::DepositPackage;
use crate::store::{Document, Structure};

use super::samples::write_sample;

/// File names of the DMP samples: stable, other tools rely on them.
pub const SAMPLE_DOCUMENT_PDF: &str = "document.pdf";
pub const SAMPLE_CDA: &str = "cda-r2-n1.xml";
pub const SAMPLE_TD21_INLINE: &str = "dmp-td21-provide-and-register.xml";
pub const SAMPLE_TD21_MIME: &str = "dmp-td21-request.mime";
pub const SAMPLE_VIHF: &str = "vihf-assertion.xml";
pub const SAMPLE_VIHF_CERT: &str = "vihf-signing-cert.pem";
pub const SAMPLE_XADES: &str = "xades-signature.xml";

/// The demo doctor who writes and sends the letter.
const DOCTOR: (&str, &str, &str, &str) =
    ("Claire", "Martin", "899900000011", "Médecin addictologue");

/// Writes the DMP samples for the qualified `identity`.
pub fn dmp_samples(
    out: &Path,
    identity: &Identity,
    vigilance: &Vigilance,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (first, last, idnat, profession) = DOCTOR;
    let structure = Structure {
        id: Uuid::from_u128(0x0e5ca1e0_0000_4000_8000_000000000010),
        name: CSAPA_NAME.into(),
        kind: StructureKind::Csapa,
        finess_geo: CSAPA_FINESS.into(),
        finess_juridique: "640000121".into(),
        medical_roles: vec![],
        qualifier_roles: vec![],
        identity_documents: vec![],
        insi: None,
        dmp_codes: Default::default(),
        mss_mailbox: None,
        created_at: at,
    };
    let template = templates()
        .iter()
        .find(|t| t.id == "lettre-liaison-entree")
        .ok_or_else(|| anyhow::anyhow!("modèle lettre-liaison-entree absent"))?;
    let date = at.date_naive();
    let values = HashMap::from([
        ("structure", CSAPA_NAME.to_string()),
        ("date", date.format("%d/%m/%Y").to_string()),
        ("usager", identity.display_name()),
        (
            "date_naissance",
            match identity {
                Identity::Traits { birth_date, .. } => birth_date.format("%d/%m/%Y").to_string(),
                Identity::Anonymous { .. } => "—".into(),
            },
        ),
        (
            "texte",
            "Accueillie ce jour au CSAPA pour un accompagnement ambulatoire.".to_string(),
        ),
        ("auteur", format!("{first} {last}")),
    ]);
    let pdf = letter::render(&Letter {
        title: template.title.clone(),
        banner: letter::banner(identity, vigilance, CSAPA_NAME),
        text: template.fill(&values),
        made_by: format!("{first} {last}"),
        made_at: at,
    })?;
    write_sample(out, SAMPLE_DOCUMENT_PDF, &pdf)?;

    let id = Uuid::from_u128(0x0e5ca1e0_0000_4000_8000_000000000011);
    let doc = Document {
        id,
        usager_id: Uuid::from_u128(0x0e5ca1e0_0000_4000_8000_000000000012),
        set_id: id,
        version: 1,
        type_code: template.doc_type.code.clone(),
        title: template.title.clone(),
        date: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or(date),
        confidentiality: Confidentiality::Medicale,
        author_id: Uuid::from_u128(0x0e5ca1e0_0000_4000_8000_000000000013),
        author_name: format!("{first} {last}"),
        media_type: "application/pdf".into(),
        size_bytes: pdf.len() as i64,
        sha256: crate::domain::document::sha256_hex(&pdf),
        created_at: at,
        superseded_at: None,
    };
    let idnps = professional_id(Some(idnat), CSAPA_FINESS, "");
    let idnst = format!("1{CSAPA_FINESS}");
    let codes = structure_codes(structure.kind, &structure.dmp_codes);
    let author = Author {
        idnps: &idnps,
        family: last,
        given: first,
        specialty: None,
        institution: CSAPA_NAME,
        idnst: &idnst,
    };
    let patient = sharing::shareable(identity, vigilance)
        .map_err(|why| anyhow::anyhow!("identité non partageable : {why}"))?;
    let package = DepositPackage {
        structure: &structure,
        codes: &codes,
        author,
        patient: patient.clone(),
        doc: &doc,
        doc_type: template.doc_type,
        pdf: &pdf,
        visibility: DmpVisibility::Normale,
        previous: None,
    };
    let cda = package.cda();
    write_sample(out, SAMPLE_CDA, cda.as_bytes())?;

    let pki = TestPki::generate()?;
    let keys = KeyDir::new()?;
    let d = keys.path();
    write_pair(
        &d.join("auth.pem"),
        &d.join("auth.key"),
        &pki.client_cert("ESCALE-DMP-AUTH", CSAPA_FINESS)?,
    )?;
    write_pair(
        &d.join("sign.pem"),
        &d.join("sign.key"),
        &pki.signing_cert("ESCALE-DMP-SIGN", CSAPA_FINESS)?,
    )?;
    std::fs::write(d.join("ca.pem"), pki.ca_pem())?;
    let client = DmpClient::new(DmpClientConfig {
        base_url: "https://localhost/si-dmp-server/v2/services".into(),
        auth_cert_pem: d.join("auth.pem"),
        auth_key_pem: d.join("auth.key"),
        sign_cert_pem: d.join("sign.pem"),
        sign_key_pem: d.join("sign.key"),
        ca_bundle_pem: d.join("ca.pem"),
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(30),
        software: Software {
            id: "escale".into(),
            name: "Escale".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            homologation: "BAC-A-SABLE".into(),
        },
    })?;
    let name = format!("{first} {last}");
    let caller = Caller {
        professional_id: &idnps,
        professional_name: &name,
        roles: vec![vihf_role(profession)],
        structure_id: &idnst,
        sector: &codes.sector.code,
        mode: AuthenticationMode::Indirecte,
    };
    let submission = package.submission(
        cda.as_bytes(),
        Uuid::from_u128(0x0e5ca1e0_0000_4000_8000_000000000014),
        at,
    );
    let request = client.deposit_request(&caller, &submission, at)?;
    write_sample(out, SAMPLE_TD21_INLINE, request.inline.as_bytes())?;
    // A MIME entity a MIME parser reads as is: its headers (the boundary is
    // in Content-Type), a blank line, then the body sent over HTTP.
    let mut mime = format!(
        "MIME-Version: 1.0\r\nContent-Type: {}\r\n\r\n",
        request.mtom.content_type
    )
    .into_bytes();
    mime.extend_from_slice(&request.mtom.body);
    write_sample(out, SAMPLE_TD21_MIME, &mime)?;
    write_sample(out, SAMPLE_VIHF, request.vihf.as_bytes())?;
    write_sample(out, SAMPLE_VIHF_CERT, &std::fs::read(d.join("sign.pem"))?)?;
    write_sample(out, SAMPLE_XADES, request.xades.as_bytes())?;
    super::samples_mss::mss_samples(out, &submission, &pdf, &patient, at)
}

/// A private directory for the run's keys, removed at the end.
struct KeyDir(std::path::PathBuf);

impl KeyDir {
    fn new() -> std::io::Result<KeyDir> {
        let dir = std::env::temp_dir().join(format!(
            "escale-samples-{}-{}",
            std::process::id(),
            Uuid::new_v4().simple()
        ));
        crate::config::data_dir::create(&dir)?;
        Ok(KeyDir(dir))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for KeyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
