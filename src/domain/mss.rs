//! MSSanté (issue 14): who a structure may write to, and what its messages
//! say about themselves (the `X-MSS-*` headers of the Référentiel socle
//! MSSanté #2, ECO.2.4.x and ECO.2.2.8; the subject convention of the
//! CI-SIS e-mail transport of CDA documents).
//!
//! A message to the user's own Mon espace santé mailbox goes only with a
//! qualified INS (`domain::sharing`: never an anonymous user), never when
//! the user opposed it, and never carries a document made invisible to
//! them; a document masked from professionals never goes to one (CI-SIS
//! restriction matrix when a document goes to the DMP and by MSSanté).

use chrono::NaiveDate;
use thiserror::Error;

use super::dmp::DmpVisibility;
use super::identity::Vigilance;
use super::ins::Ins;
use super::sharing::{ShareableIdentity, SharingRefusal, shareable};
use super::usager::Identity;

/// The domain of the users' Mon espace santé mailboxes.
pub const PATIENT_DOMAIN: &str = "patient.mssante.fr";

/// The user's Mon espace santé mailbox: `<matricule INS>@patient.mssante.fr`
/// (the 15 characters, key included). Two files with the same INS write to
/// the same mailbox: the address names no structure.
pub fn patient_address(ins: &Ins) -> String {
    format!("{}@{PATIENT_DOMAIN}", ins.matricule.as_string())
}

/// Is this a Mon espace santé mailbox (whatever the case of the domain)?
pub fn is_patient_address(address: &str) -> bool {
    address
        .trim()
        .rsplit_once('@')
        .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(PATIENT_DOMAIN))
}

/// Why a message may not go.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MssRefusal {
    #[error("{0}")]
    Identity(#[from] SharingRefusal),
    #[error(
        "la personne s'est opposée aux messages dans sa messagerie de santé : rien ne lui est envoyé"
    )]
    Opposed,
    #[error(
        "un document déposé « invisible pour la personne » ne peut pas lui être envoyé par messagerie"
    )]
    InvisibleToPatient,
    #[error(
        "un document déposé « masqué aux professionnels » ne peut pas être envoyé à un professionnel"
    )]
    MaskedFromProfessionals,
}

/// A message to the user's Mon espace santé mailbox: the identity it may
/// carry, or why not. `documents`: the visibility chosen for each document
/// attached (its DMP deposit's, `Normale` when never deposited).
pub fn may_write_to_patient<'a>(
    identity: &'a Identity,
    vigilance: &'a Vigilance,
    opposed: bool,
    documents: &[DmpVisibility],
) -> Result<ShareableIdentity<'a>, MssRefusal> {
    let shared = shareable(identity, vigilance)?;
    if opposed {
        return Err(MssRefusal::Opposed);
    }
    if documents.contains(&DmpVisibility::InvisiblePatient) {
        return Err(MssRefusal::InvisibleToPatient);
    }
    Ok(shared)
}

/// Documents to a professional: never one masked from professionals.
pub fn may_send_to_professional(documents: &[DmpVisibility]) -> Result<(), MssRefusal> {
    if documents.contains(&DmpVisibility::MasquePs) {
        return Err(MssRefusal::MaskedFromProfessionals);
    }
    Ok(())
}

/// What a message says about itself to the MSSanté operator and reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MssHeaders {
    /// `X-MSS-NIL`: the product reference given by convergence.esante.gouv.fr,
    /// on every message.
    pub nil: String,
    /// `X-MSS-CODECDA`: the `ClinicalDocument/code/@code` of each CDA of the
    /// XDM archive; absent without one.
    pub code_cda: Option<String>,
    /// `X-MSS-INS`: `O` when the archive carries a qualified INS, `N`
    /// otherwise; absent without a CDA.
    pub ins: Option<&'static str>,
    /// `X-MSS-MES: FIN`: to a patient who may not reply.
    pub no_reply: bool,
}

impl MssHeaders {
    /// `cda_codes`: the codes of the CDA in the archive (none: no archive);
    /// `qualified_ins`: the archive's CDA carry a qualified INS;
    /// `reply_allowed`: for a message to a patient, whether they may reply.
    pub fn new(
        nil: &str,
        cda_codes: &[&str],
        qualified_ins: bool,
        to_patient: bool,
        reply_allowed: bool,
    ) -> MssHeaders {
        let with_cda = !cda_codes.is_empty();
        MssHeaders {
            nil: nil.trim().to_string(),
            code_cda: with_cda.then(|| cda_codes.join(",")),
            ins: with_cda.then_some(if qualified_ins { "O" } else { "N" }),
            no_reply: to_patient && !reply_allowed,
        }
    }

    /// The headers in the order they are written.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("X-MSS-NIL", self.nil.clone())];
        if let Some(c) = &self.code_cda {
            out.push(("X-MSS-CODECDA", c.clone()));
        }
        if let Some(i) = self.ins {
            out.push(("X-MSS-INS", i.to_string()));
        }
        if self.no_reply {
            out.push(("X-MSS-MES", "FIN".to_string()));
        }
        out
    }
}

/// The subject prefix of a message with an IHE XDM archive.
pub const XDM_SUBJECT_PREFIX: &str = "XDM/1.0/DDM+";

/// `XDM/1.0/DDM+<titre> <NOM> <prénom> <date de naissance>`, the
/// convention of the ANS examples for a message carrying a document.
pub fn xdm_subject(
    title: &str,
    birth_name: &str,
    first_name: &str,
    birth_date: NaiveDate,
) -> String {
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "{XDM_SUBJECT_PREFIX}{} {} {} {}",
        one_line(title),
        one_line(birth_name),
        one_line(first_name),
        birth_date.format("%d/%m/%Y")
    )
}

/// What a reader is shown of a subject: the XDM prefix hidden (Ségur
/// SC.MSS/UX.28).
pub fn display_subject(subject: &str) -> &str {
    let s = subject.trim();
    match s.get(..XDM_SUBJECT_PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(XDM_SUBJECT_PREFIX) => s[p.len()..].trim_start(),
        _ => s,
    }
}

/// An SMTP reply code in French: what it means and what to do (the ANS
/// table of SMTP codes, `reference/mss_smtp_errors.csv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpAnswer {
    pub code: u16,
    pub meaning: String,
    pub advice: String,
}

fn smtp_answers() -> &'static [SmtpAnswer] {
    static ANSWERS: std::sync::OnceLock<Vec<SmtpAnswer>> = std::sync::OnceLock::new();
    ANSWERS.get_or_init(|| {
        include_str!("../../reference/mss_smtp_errors.csv")
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let f: Vec<&str> = line.splitn(3, ',').collect();
                let [code, meaning, advice] = f.as_slice() else {
                    panic!("reference/mss_smtp_errors.csv: three columns in « {line} »");
                };
                SmtpAnswer {
                    code: code.parse().unwrap_or_else(|_| panic!("code « {code} »")),
                    meaning: meaning.to_string(),
                    advice: advice.to_string(),
                }
            })
            .collect()
    })
}

pub fn smtp_answer(code: u16) -> Option<&'static SmtpAnswer> {
    smtp_answers().iter().find(|a| a.code == code)
}

/// A server's refusal as a person reads it: the code's meaning and what to
/// do, then what the server said.
pub fn explain_smtp(code: u16, server_said: &str) -> String {
    let said: String = server_said.chars().take(300).collect();
    match smtp_answer(code) {
        Some(a) => format!(
            "{code} : {} — {} (réponse du serveur : {})",
            a.meaning,
            a.advice,
            said.trim()
        ),
        None => format!(
            "{code} : réponse inattendue du serveur de messagerie ({})",
            said.trim()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sharing::tests::{document, retrieval, zoe};

    fn qualified() -> Vigilance {
        Vigilance::provisional()
            .confirm_insi(retrieval())
            .and_then(|v| v.record_document(document()))
            .unwrap()
    }

    #[test]
    fn only_a_qualified_unopposed_user_and_never_an_invisible_document() {
        let identity = zoe();
        let v = qualified();
        let shared = may_write_to_patient(&identity, &v, false, &[DmpVisibility::Normale]).unwrap();
        assert_eq!(
            patient_address(shared.ins),
            format!("{}@patient.mssante.fr", shared.ins.matricule.as_string())
        );
        assert_eq!(
            patient_address(shared.ins).split('@').next().unwrap().len(),
            15
        );
        assert_eq!(
            may_write_to_patient(&identity, &v, true, &[]).unwrap_err(),
            MssRefusal::Opposed
        );
        assert_eq!(
            may_write_to_patient(&identity, &v, false, &[DmpVisibility::InvisiblePatient])
                .unwrap_err(),
            MssRefusal::InvisibleToPatient
        );
        // Masked from professionals: the patient may still read it.
        assert!(may_write_to_patient(&identity, &v, false, &[DmpVisibility::MasquePs]).is_ok());
        // Provisional, and anonymous even with a qualified vigilance: refused.
        let provisional = Vigilance::provisional();
        assert!(matches!(
            may_write_to_patient(&identity, &provisional, false, &[]),
            Err(MssRefusal::Identity(SharingRefusal::NotQualified(_)))
        ));
        let alias = Identity::Anonymous {
            alias: "Papillon".into(),
            sex: None,
            birth_year: None,
        };
        assert!(may_write_to_patient(&alias, &v, false, &[]).is_err());
        assert_eq!(
            may_send_to_professional(&[DmpVisibility::Normale, DmpVisibility::MasquePs]),
            Err(MssRefusal::MaskedFromProfessionals)
        );
        assert!(may_send_to_professional(&[DmpVisibility::InvisiblePatient]).is_ok());
    }

    #[test]
    fn patient_addresses_are_recognised_whatever_the_case() {
        assert!(is_patient_address("279035121518989@patient.mssante.fr"));
        assert!(is_patient_address(" 279035121518989@Patient.MSSante.fr "));
        assert!(!is_patient_address("dr.martin@medecin.mssante.fr"));
        assert!(!is_patient_address("patient.mssante.fr"));
    }

    #[test]
    fn headers_follow_the_socle() {
        let to_pro = MssHeaders::new("NIL-123", &["11488-4"], true, false, false);
        assert_eq!(
            to_pro.lines(),
            vec![
                ("X-MSS-NIL", "NIL-123".to_string()),
                ("X-MSS-CODECDA", "11488-4".to_string()),
                ("X-MSS-INS", "O".to_string()),
            ]
        );
        let plain_to_patient = MssHeaders::new(" NIL-123 ", &[], true, true, false);
        assert_eq!(
            plain_to_patient.lines(),
            vec![
                ("X-MSS-NIL", "NIL-123".to_string()),
                ("X-MSS-MES", "FIN".to_string()),
            ]
        );
        let two = MssHeaders::new("N", &["11488-4", "88348-8"], false, true, true);
        assert_eq!(two.code_cda.as_deref(), Some("11488-4,88348-8"));
        assert_eq!(two.ins, Some("N"));
        assert!(!two.no_reply);
    }

    #[test]
    fn every_smtp_code_of_the_ans_table_is_explained() {
        let said = explain_smtp(550, "5.1.1 <x@y.mssante.fr>: user unknown");
        assert!(
            said.starts_with("550 : la boîte du destinataire n'existe pas"),
            "{said}"
        );
        assert!(said.contains("Annuaire Santé") && said.contains("user unknown"));
        assert!(explain_smtp(299, "ok").contains("réponse inattendue"));
        let Some(table) = crate::domain::spec_table::load(
            "../shared/spec/dmp-mss/mss/ANS_SMTPERRORCODE_table.csv",
        ) else {
            return;
        };
        for row in table {
            let code: u16 = row["code"].parse().unwrap();
            assert!(
                smtp_answer(code).is_some(),
                "code {code} of the ANS table not explained"
            );
        }
    }

    #[test]
    fn the_xdm_subject_is_written_and_hidden() {
        let s = xdm_subject(
            "Lettre de liaison\nd'entrée",
            "ADRTROIS",
            "DOMINIQUE",
            NaiveDate::from_ymd_opt(1997, 2, 26).unwrap(),
        );
        assert_eq!(
            s,
            "XDM/1.0/DDM+Lettre de liaison d'entrée ADRTROIS DOMINIQUE 26/02/1997"
        );
        assert_eq!(
            display_subject(&s),
            "Lettre de liaison d'entrée ADRTROIS DOMINIQUE 26/02/1997"
        );
        assert_eq!(display_subject("xdm/1.0/ddm+Courrier"), "Courrier");
        assert_eq!(display_subject("Bonjour"), "Bonjour");
        assert_eq!(display_subject("XDM"), "XDM");
    }
}
