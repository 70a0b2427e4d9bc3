//! Feeding the user's DMP (Mon espace santé): what the user was told and
//! whether they opposed it, and the one gate every deposit goes through
//! (issue 13), checked when the deposit is asked for and again by the job
//! when it sends.
//!
//! The user must have been informed that the structure feeds their DMP, and
//! may oppose it (CSP L.1111-15 and R.1111-47: the opposition of a person
//! informed, for a legitimate reason); only a qualified identity travels with
//! its INS (`domain::sharing`), so an anonymous user never reaches the DMP.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::terminology::Code;

use super::document::DocumentType;
use super::identity::Vigilance;
use super::sharing::{ShareableIdentity, SharingRefusal, shareable};
use super::usager::Identity;

/// What is recorded about the user and their Mon espace santé (the
/// feeding of their DMP, the messages to their mailbox), as it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentEvent {
    /// The user was told that the structure feeds their DMP.
    Information,
    /// The user opposes it.
    Opposition,
    /// The user lifts their opposition.
    OppositionLifted,
    /// The user opposes messages to their Mon espace santé mailbox
    /// (Ségur MSS/va1.20).
    MssOpposition,
    MssOppositionLifted,
}

impl ConsentEvent {
    pub const ALL: [ConsentEvent; 5] = [
        ConsentEvent::Information,
        ConsentEvent::Opposition,
        ConsentEvent::OppositionLifted,
        ConsentEvent::MssOpposition,
        ConsentEvent::MssOppositionLifted,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ConsentEvent::Information => "information",
            ConsentEvent::Opposition => "opposition",
            ConsentEvent::OppositionLifted => "retrait_opposition",
            ConsentEvent::MssOpposition => "opposition_messagerie",
            ConsentEvent::MssOppositionLifted => "retrait_opposition_messagerie",
        }
    }

    pub fn from_code(code: &str) -> Option<ConsentEvent> {
        ConsentEvent::ALL.into_iter().find(|e| e.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            ConsentEvent::Information => "Information sur l'alimentation du DMP donnée",
            ConsentEvent::Opposition => "Opposition à l'alimentation du DMP",
            ConsentEvent::OppositionLifted => "Opposition à l'alimentation du DMP levée",
            ConsentEvent::MssOpposition => {
                "Opposition aux messages dans sa messagerie Mon espace santé"
            }
            ConsentEvent::MssOppositionLifted => {
                "Opposition aux messages dans sa messagerie Mon espace santé levée"
            }
        }
    }
}

/// One recorded event: what, when, by whom (as the team knows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub event: ConsentEvent,
    pub at: DateTime<Utc>,
    pub by: String,
}

/// Where the user stands, from their records in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmpConsent {
    /// The last time they were informed.
    pub informed: Option<ConsentRecord>,
    /// Their opposition, when it stands (not lifted since).
    pub opposed: Option<ConsentRecord>,
    /// Their opposition to messages in their Mon espace santé mailbox.
    pub mss_opposed: Option<ConsentRecord>,
}

impl DmpConsent {
    pub fn from_records(records: &[ConsentRecord]) -> DmpConsent {
        let mut sorted: Vec<&ConsentRecord> = records.iter().collect();
        sorted.sort_by_key(|r| r.at);
        let mut consent = DmpConsent::default();
        for r in sorted {
            match r.event {
                ConsentEvent::Information => consent.informed = Some(r.clone()),
                ConsentEvent::Opposition => consent.opposed = Some(r.clone()),
                ConsentEvent::OppositionLifted => consent.opposed = None,
                ConsentEvent::MssOpposition => consent.mss_opposed = Some(r.clone()),
                ConsentEvent::MssOppositionLifted => consent.mss_opposed = None,
            }
        }
        consent
    }

    /// The events a professional may record now (no opposition twice, no
    /// lifting of an opposition that does not stand).
    pub fn next_events(&self) -> Vec<ConsentEvent> {
        let mut events = vec![ConsentEvent::Information];
        events.push(if self.opposed.is_some() {
            ConsentEvent::OppositionLifted
        } else {
            ConsentEvent::Opposition
        });
        events
    }

    /// The messaging event a professional may record now.
    pub fn next_mss_event(&self) -> ConsentEvent {
        if self.mss_opposed.is_some() {
            ConsentEvent::MssOppositionLifted
        } else {
            ConsentEvent::MssOpposition
        }
    }

    /// May `event` be recorded now (no opposition twice, no lifting of one
    /// that does not stand)?
    pub fn allows(&self, event: ConsentEvent) -> bool {
        self.next_events().contains(&event) || self.next_mss_event() == event
    }
}

/// Who may see a document in the DMP, as its author chooses (XDS
/// confidentialityCode, JDV_J08, besides the CDA's own « N »).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmpVisibility {
    Normale,
    /// Hidden from health professionals (MASQUE_PS).
    MasquePs,
    /// Not shown to the user until a professional has told them
    /// (INVISIBLE_PATIENT).
    InvisiblePatient,
    /// Not shown to the user's legal representatives.
    InvisibleRepresentantsLegaux,
}

impl DmpVisibility {
    pub const ALL: [DmpVisibility; 4] = [
        DmpVisibility::Normale,
        DmpVisibility::MasquePs,
        DmpVisibility::InvisiblePatient,
        DmpVisibility::InvisibleRepresentantsLegaux,
    ];

    /// The code sent in the metadata (`None`: the « N » alone).
    pub fn xds_code(self) -> Option<&'static str> {
        match self {
            DmpVisibility::Normale => None,
            DmpVisibility::MasquePs => Some("MASQUE_PS"),
            DmpVisibility::InvisiblePatient => Some("INVISIBLE_PATIENT"),
            DmpVisibility::InvisibleRepresentantsLegaux => Some("INVISIBLE_REPRESENTANTS_LEGAUX"),
        }
    }

    pub fn code(self) -> &'static str {
        self.xds_code().unwrap_or("N")
    }

    pub fn from_code(code: &str) -> Option<DmpVisibility> {
        DmpVisibility::ALL.into_iter().find(|v| v.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            DmpVisibility::Normale => "Visible de la personne et des professionnels autorisés",
            DmpVisibility::MasquePs => "Masqué aux professionnels de santé",
            DmpVisibility::InvisiblePatient => {
                "Invisible pour la personne tant qu'un professionnel ne le lui a pas présenté"
            }
            DmpVisibility::InvisibleRepresentantsLegaux => {
                "Invisible pour les représentants légaux"
            }
        }
    }
}

/// Why a document may not go to the DMP, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DmpRefusal {
    #[error("{0}")]
    Identity(SharingRefusal),
    #[error(
        "la personne s'est opposée à l'alimentation de son DMP (le {}) : aucun document n'y est envoyé",
        .0.format("%d/%m/%Y")
    )]
    Opposed(DateTime<Utc>),
    #[error(
        "la personne n'a pas été informée de l'alimentation de son DMP : informez-la, enregistrez-le dans son dossier, puis envoyez le document"
    )]
    NotInformed,
    #[error("un document de type « {0} » ne se dépose pas dans le DMP")]
    TypeNotForDmp(String),
}

/// May this document of this user go to their DMP? The identity that goes
/// with it when yes (qualified, with its INS and traits).
pub fn may_deposit<'a>(
    identity: &'a Identity,
    vigilance: &'a Vigilance,
    consent: &DmpConsent,
    doc_type: &DocumentType,
) -> Result<ShareableIdentity<'a>, DmpRefusal> {
    // An anonymous user is refused here, before anything else is looked at.
    let shared = shareable(identity, vigilance).map_err(DmpRefusal::Identity)?;
    if let Some(o) = &consent.opposed {
        return Err(DmpRefusal::Opposed(o.at));
    }
    if consent.informed.is_none() {
        return Err(DmpRefusal::NotInformed);
    }
    if !doc_type.dmp {
        return Err(DmpRefusal::TypeNotForDmp(doc_type.label.clone()));
    }
    Ok(shared)
}

/// May this request about a document reach the user's DMP? A deposit
/// goes through [`may_deposit`]; a withdrawal needs only the identity the
/// DMP knows (an opposition is no reason to keep a document there).
pub fn may_request<'a>(
    operation: DmpOperation,
    identity: &'a Identity,
    vigilance: &'a Vigilance,
    consent: &DmpConsent,
    doc_type: &DocumentType,
) -> Result<ShareableIdentity<'a>, DmpRefusal> {
    match operation {
        DmpOperation::Depot => may_deposit(identity, vigilance, consent, doc_type),
        DmpOperation::Suppression => shareable(identity, vigilance).map_err(DmpRefusal::Identity),
    }
}

/// What is asked of the DMP for one document version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmpOperation {
    /// TD2.1 (with RPLC when an earlier version is in the DMP).
    Depot,
    /// TD3.3c: the document is removed from the DMP.
    Suppression,
}

impl DmpOperation {
    pub const ALL: [DmpOperation; 2] = [DmpOperation::Depot, DmpOperation::Suppression];
    pub fn code(self) -> &'static str {
        match self {
            DmpOperation::Depot => "depot",
            DmpOperation::Suppression => "suppression",
        }
    }
    pub fn from_code(code: &str) -> Option<DmpOperation> {
        DmpOperation::ALL.into_iter().find(|o| o.code() == code)
    }
    pub fn label(self) -> &'static str {
        match self {
            DmpOperation::Depot => "Envoi au DMP",
            DmpOperation::Suppression => "Retrait du DMP",
        }
    }
}

/// Where a request to the DMP stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepositState {
    /// Waiting for its job (new, or after a failed attempt).
    EnAttente,
    /// The request went out; its answer is awaited (or was lost).
    Envoye,
    /// The DMP accepted it.
    Accepte,
    /// The DMP (or Escale's gate) refused it: the reason says why.
    Refuse,
    /// Given up after every attempt (the job's last error says why).
    Echec,
    /// Cancelled before it went out.
    Annule,
}

impl DepositState {
    pub const ALL: [DepositState; 6] = [
        DepositState::EnAttente,
        DepositState::Envoye,
        DepositState::Accepte,
        DepositState::Refuse,
        DepositState::Echec,
        DepositState::Annule,
    ];
    pub fn code(self) -> &'static str {
        match self {
            DepositState::EnAttente => "en_attente",
            DepositState::Envoye => "envoye",
            DepositState::Accepte => "accepte",
            DepositState::Refuse => "refuse",
            DepositState::Echec => "echec",
            DepositState::Annule => "annule",
        }
    }
    pub fn from_code(code: &str) -> Option<DepositState> {
        DepositState::ALL.into_iter().find(|s| s.code() == code)
    }
    pub fn label(self) -> &'static str {
        match self {
            DepositState::EnAttente => "en attente",
            DepositState::Envoye => "envoyé",
            DepositState::Accepte => "accepté",
            DepositState::Refuse => "refusé",
            DepositState::Echec => "en échec",
            DepositState::Annule => "annulé",
        }
    }
    /// Holds the document's place (no second request of the same kind).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            DepositState::EnAttente | DepositState::Envoye | DepositState::Accepte
        )
    }
    /// May be sent again.
    pub fn may_retry(self) -> bool {
        matches!(self, DepositState::Refuse | DepositState::Echec)
    }
    /// May still be cancelled (nothing went out yet, or nothing came back).
    pub fn may_cancel(self) -> bool {
        matches!(self, DepositState::EnAttente | DepositState::Echec)
    }
}

/// The VIHF role of a professional from the profession written in their
/// profile: a health profession (TRE_G15), otherwise their role in the care
/// (TRE_R85) or social profession (TRE_R94, only code 41 still open).
/// Escale's reading of free text: the profile should carry the code.
pub fn vihf_role(profession: &str) -> Code {
    let p = deunicode::deunicode(profession).to_lowercase();
    let g15 = |code: &str, label: &str| Code::new(code, "1.2.250.1.71.1.2.7", label);
    let r85 = |code: &str, label: &str| Code::new(code, "1.2.250.1.213.1.6.1.107", label);
    if p.contains("medecin") {
        g15("10", "Médecin")
    } else if p.contains("pharmacien") {
        g15("21", "Pharmacien")
    } else if p.contains("infirmi") {
        g15("60", "Infirmier")
    } else if p.contains("sage-femme") || p.contains("sage femme") {
        g15("50", "Sage-Femme")
    } else if p.contains("service social") {
        Code::new("41", "1.2.250.1.213.1.6.1.4", "Assistant de service social")
    } else if p.contains("psycholog") {
        r85("305", "Psychologue (Expérimentation MAIA)")
    } else if p.contains("educateur specialise") {
        r85("326", "Educateur spécialisé")
    } else if p.contains("moniteur") {
        r85("324", "Moniteur éducateur")
    } else if p.contains("secretaire") {
        r85("331", "Secrétaire assistante médico-administrative")
    } else {
        r85("312", "Autre professionnel")
    }
}

/// The national identifier of a professional in the CDA, the XDS metadata
/// and the VIHF: their RPPS-based idNat_PS, or for staff without one the
/// structure's form `3` + FINESS + `/` + internal id (ANS convention).
pub fn professional_id(national_id: Option<&str>, finess: &str, internal: &str) -> String {
    match national_id {
        Some(id) if !id.trim().is_empty() => id.trim().to_string(),
        _ => format!("3{finess}/{internal}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::document_type;
    use crate::domain::sharing::tests::{document, retrieval, zoe};
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap()
    }

    fn record(event: ConsentEvent, day: u32) -> ConsentRecord {
        ConsentRecord {
            event,
            at: at(day),
            by: "Claire Bernard".into(),
        }
    }

    fn recovered() -> Vigilance {
        Vigilance::provisional().confirm_insi(retrieval()).unwrap()
    }

    fn qualified() -> Vigilance {
        recovered().record_document(document()).unwrap()
    }

    #[test]
    fn the_consent_follows_the_records_in_time_order() {
        let c = DmpConsent::from_records(&[
            record(ConsentEvent::OppositionLifted, 20),
            record(ConsentEvent::Information, 2),
            record(ConsentEvent::Opposition, 10),
        ]);
        assert_eq!(c.informed.unwrap().at, at(2));
        assert!(c.opposed.is_none(), "lifted on the 20th");
        let c = DmpConsent::from_records(&[
            record(ConsentEvent::Information, 2),
            record(ConsentEvent::Opposition, 21),
            record(ConsentEvent::OppositionLifted, 20),
        ]);
        assert_eq!(c.opposed.as_ref().unwrap().at, at(21));
        assert_eq!(
            c.next_events(),
            [ConsentEvent::Information, ConsentEvent::OppositionLifted]
        );
        assert_eq!(
            DmpConsent::default().next_events(),
            [ConsentEvent::Information, ConsentEvent::Opposition]
        );
        for e in ConsentEvent::ALL {
            assert_eq!(ConsentEvent::from_code(e.code()), Some(e));
        }
    }

    #[test]
    fn only_a_qualified_informed_unopposed_user_and_a_dmp_type() {
        let letter = document_type("88348-8").unwrap();
        let informed = DmpConsent::from_records(&[record(ConsentEvent::Information, 2)]);
        let (identity, vigilance) = (zoe(), qualified());
        let shared = may_deposit(&identity, &vigilance, &informed, letter).unwrap();
        assert_eq!(shared.birth_name, "ADRUN");

        // Not qualified (no identity document checked).
        assert!(matches!(
            may_deposit(&identity, &recovered(), &informed, letter),
            Err(DmpRefusal::Identity(SharingRefusal::NotQualified(_)))
        ));
        // Anonymous, even with a qualified vigilance attached to it.
        let alias = Identity::Anonymous {
            alias: "Papillon".into(),
            sex: None,
            birth_year: None,
        };
        assert!(matches!(
            may_deposit(&alias, &vigilance, &informed, letter),
            Err(DmpRefusal::Identity(SharingRefusal::Fictitious))
        ));
        // Opposed, whatever was said before.
        let opposed = DmpConsent::from_records(&[
            record(ConsentEvent::Information, 2),
            record(ConsentEvent::Opposition, 3),
        ]);
        let refusal = may_deposit(&identity, &vigilance, &opposed, letter).unwrap_err();
        assert_eq!(refusal, DmpRefusal::Opposed(at(3)));
        assert!(refusal.to_string().contains("03/11/2026"));
        // Never informed.
        assert_eq!(
            may_deposit(&identity, &vigilance, &DmpConsent::default(), letter).unwrap_err(),
            DmpRefusal::NotInformed
        );
        // A type the DMP does not take.
        let internal = DocumentType {
            dmp: false,
            ..letter.clone()
        };
        assert!(matches!(
            may_deposit(&identity, &vigilance, &informed, &internal),
            Err(DmpRefusal::TypeNotForDmp(_))
        ));
    }

    #[test]
    fn visibility_codes() {
        assert_eq!(DmpVisibility::Normale.xds_code(), None);
        assert_eq!(DmpVisibility::MasquePs.code(), "MASQUE_PS");
        for v in DmpVisibility::ALL {
            assert_eq!(DmpVisibility::from_code(v.code()), Some(v));
        }
        let Some(flags) = crate::domain::spec_table::load(
            "../shared/spec/dmp-mss/terminology/JDV_J08_XdsConfidentialityCode_CISIS.csv",
        ) else {
            return;
        };
        for v in DmpVisibility::ALL {
            assert!(
                flags.iter().any(|r| r["code"] == v.code()),
                "{} not in JDV_J08",
                v.code()
            );
        }
    }

    #[test]
    fn a_withdrawal_needs_the_identity_not_the_consent() {
        let id = zoe();
        let qualified = qualified();
        let t = document_type("88348-8").unwrap();
        let opposed = DmpConsent::from_records(&[
            record(ConsentEvent::Information, 1),
            record(ConsentEvent::Opposition, 2),
        ]);
        assert!(may_request(DmpOperation::Depot, &id, &qualified, &opposed, t).is_err());
        assert!(may_request(DmpOperation::Suppression, &id, &qualified, &opposed, t).is_ok());
        let provisional = Vigilance::provisional();
        assert!(may_request(DmpOperation::Suppression, &id, &provisional, &opposed, t).is_err());
    }
}
