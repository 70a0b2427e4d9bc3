//! The MSSanté samples of `escale samples`: the letter of the DMP samples
//! sent to a professional (the PDF and the `IHE_XDM.ZIP`) and to the
//! user's own Mon espace santé mailbox (reply forbidden), and the archive
//! alone. The MIME boundaries are drawn for each run; everything else is
//! fixed.

use std::path::Path;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::connectors::dmp::xds::Submission;
use crate::connectors::mss::message::{Attached, Outgoing, compose};
use crate::connectors::mss::xdm::{self, Producer};
use crate::domain::mss::{MssHeaders, patient_address, xdm_subject};
use crate::domain::sharing::ShareableIdentity;
use crate::sandbox::demo::CSAPA_NAME;
use crate::services::mss::SANDBOX_NIL;

use super::samples::write_sample;

/// File names of the MSSanté samples: stable, other tools rely on them.
pub const SAMPLE_MSS_PRO: &str = "mss-message-pro.eml";
pub const SAMPLE_MSS_PATIENT: &str = "mss-message-patient.eml";
pub const SAMPLE_XDM: &str = "ihe_xdm.zip";

/// The demo structure's mailbox and a correspondent's (fictitious domains
/// of the MSSanté space).
const STRUCTURE_MAILBOX: &str = crate::sandbox::demo::CSAPA_MAILBOX;
const CORRESPONDENT: &str = "medecin.traitant@test.mssante.fr";

/// Writes the three files for the document of `submission` (its CDA) and
/// its readable `pdf`.
pub fn mss_samples(
    out: &Path,
    submission: &Submission<'_>,
    pdf: &[u8],
    patient: &ShareableIdentity<'_>,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let producer = Producer {
        software: "Escale",
        version: env!("CARGO_PKG_VERSION"),
        structure: CSAPA_NAME,
        mailbox: STRUCTURE_MAILBOX,
    };
    let to_pro = vec![CORRESPONDENT.to_string()];
    let archive = xdm::archive(std::slice::from_ref(submission), &to_pro, &producer)?;
    write_sample(out, SAMPLE_XDM, &archive)?;
    let subject = xdm_subject(
        submission.title,
        patient.birth_name,
        patient.first_names,
        patient.birth_date,
    );
    let code = submission.type_code.code.as_str();
    let write = |name: &str,
                 to: &[String],
                 body: &str,
                 mss: MssHeaders,
                 id: u128,
                 archive: &[u8]|
     -> anyhow::Result<()> {
        let attached = [
            Attached {
                file_name: "DOC0001.PDF",
                content_type: "application/pdf",
                bytes: pdf,
            },
            Attached {
                file_name: xdm::ARCHIVE_NAME,
                content_type: "application/zip",
                bytes: archive,
            },
        ];
        let bytes = compose(&Outgoing {
            from: STRUCTURE_MAILBOX,
            from_name: CSAPA_NAME,
            to,
            subject: &subject,
            body,
            message_id: &format!("<{}@escale>", Uuid::from_u128(id)),
            in_reply_to: None,
            references: &[],
            read_receipt_to: Some(STRUCTURE_MAILBOX),
            mss: &mss,
            attachments: &attached,
            date: at,
        })?;
        write_sample(out, name, &bytes)
    };
    write(
        SAMPLE_MSS_PRO,
        &to_pro,
        "Bonjour,\n\nVeuillez trouver ci-joint la lettre de liaison d'entrée de votre patiente.\n\nBien cordialement,\nL'équipe du CSAPA",
        MssHeaders::new(SANDBOX_NIL, &[code], true, false, true),
        0x0e5ca1e0_0000_4000_8000_000000000020,
        &archive,
    )?;
    let to_patient = vec![patient_address(patient.ins)];
    let archive = xdm::archive(std::slice::from_ref(submission), &to_patient, &producer)?;
    write(
        SAMPLE_MSS_PATIENT,
        &to_patient,
        "Bonjour,\n\nVoici le courrier remis lors de votre accueil au CSAPA. Ce message ne permet pas de répondre : pour nous joindre, appelez l'accueil.\n\nL'équipe du CSAPA",
        MssHeaders::new(SANDBOX_NIL, &[code], true, true, false),
        0x0e5ca1e0_0000_4000_8000_000000000021,
        &archive,
    )?;
    Ok(())
}
