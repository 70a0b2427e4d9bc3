//! One MSSanté message of a structure (issue 14): where it stands
//! (en attente → envoyé → délivré → lu, or en échec with the reason),
//! whom it may be addressed to, and what the author typed.
//!
//! States only move forward: a delivery notice (DSN) that arrives after the
//! read receipt (MDN) does not take a message back to « délivré ».

use thiserror::Error;

use super::mss::is_patient_address;

/// The MSSanté space: every mailbox of it is under this domain
/// (`…@<opérateur>.mssante.fr`, the patients' `…@patient.mssante.fr`).
pub const MSS_SPACE: &str = "mssante.fr";

/// At most this many professionals for one message.
pub const MAX_RECIPIENTS: usize = 20;
/// At most this many documents of the file in one message (one PDF each,
/// and their CDA together in the one `IHE_XDM.ZIP`).
pub const MAX_DOCUMENTS: usize = 5;
pub const MAX_SUBJECT: usize = 200;
pub const MAX_BODY: usize = 20_000;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// Waiting for its job (new, or after a failed attempt).
    EnAttente,
    /// Handed to the operator's submission server.
    Envoye,
    /// The recipient's server says it was delivered (DSN).
    Delivre,
    /// The recipient read it (MDN).
    Lu,
    /// Refused, undeliverable or given up: the reason says why.
    Echec,
    /// Cancelled before it went out.
    Annule,
    /// A message the structure received.
    Recu,
}

impl MessageState {
    pub const ALL: [MessageState; 7] = [
        MessageState::EnAttente,
        MessageState::Envoye,
        MessageState::Delivre,
        MessageState::Lu,
        MessageState::Echec,
        MessageState::Annule,
        MessageState::Recu,
    ];
    pub fn code(self) -> &'static str {
        match self {
            MessageState::EnAttente => "en_attente",
            MessageState::Envoye => "envoye",
            MessageState::Delivre => "delivre",
            MessageState::Lu => "lu",
            MessageState::Echec => "echec",
            MessageState::Annule => "annule",
            MessageState::Recu => "recu",
        }
    }
    pub fn from_code(code: &str) -> Option<MessageState> {
        MessageState::ALL.into_iter().find(|s| s.code() == code)
    }
    pub fn label(self) -> &'static str {
        match self {
            MessageState::EnAttente => "en attente",
            MessageState::Envoye => "envoyé",
            MessageState::Delivre => "délivré",
            MessageState::Lu => "lu",
            MessageState::Echec => "en échec",
            MessageState::Annule => "annulé",
            MessageState::Recu => "reçu",
        }
    }
    /// The order of an outgoing message's life (none for the others).
    fn rank(self) -> Option<u8> {
        match self {
            MessageState::EnAttente => Some(0),
            MessageState::Envoye => Some(1),
            MessageState::Delivre => Some(2),
            MessageState::Lu => Some(3),
            _ => None,
        }
    }
    /// What a notice saying `next` makes of a message in this state: `None`
    /// when it changes nothing (late, repeated, or the message is closed).
    /// A failure is taken while the message is not yet read; a message in
    /// failure is only taken up again by a retry.
    pub fn advance(self, next: MessageState) -> Option<MessageState> {
        match (self.rank(), next) {
            (Some(now), MessageState::Echec) if now < 3 => Some(MessageState::Echec),
            (Some(now), n) => n.rank().filter(|r| *r > now).map(|_| n),
            _ => None,
        }
    }
    /// May be sent again.
    pub fn may_retry(self) -> bool {
        self == MessageState::Echec
    }
    /// Nothing went out yet (or it failed): may be cancelled.
    pub fn may_cancel(self) -> bool {
        matches!(self, MessageState::EnAttente | MessageState::Echec)
    }
    /// Its job still has work to do.
    pub fn is_pending(self) -> bool {
        matches!(self, MessageState::EnAttente | MessageState::Envoye)
    }
}

/// Why an address typed for a professional is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressRefusal {
    #[error("« {0} » n'est pas une adresse de messagerie valide")]
    Invalid(String),
    #[error(
        "« {0} » n'est pas une adresse de l'espace de confiance MSSanté (…@….mssante.fr) : rien ne part hors de cet espace"
    )]
    OutsideMssSpace(String),
    #[error(
        "« {0} » est une messagerie Mon espace santé : pour écrire à la personne, choisissez « La personne »"
    )]
    PatientMailbox(String),
}

/// An address typed for a professional, lower-cased: of the MSSanté space,
/// never a patient's mailbox (a message to the user goes through the
/// patient gate, not a typed address).
pub fn professional_address(typed: &str) -> Result<String, AddressRefusal> {
    let a = typed.trim().to_ascii_lowercase();
    let shown: String = typed.trim().chars().take(80).collect();
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Err(AddressRefusal::Invalid(shown));
    };
    let valid = !local.is_empty()
        && local.len() <= 64
        && a.len() <= 254
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+'".contains(c))
        && !domain.is_empty()
        && domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid {
        return Err(AddressRefusal::Invalid(shown));
    }
    if is_patient_address(&a) {
        return Err(AddressRefusal::PatientMailbox(shown));
    }
    if !domain.ends_with(&format!(".{MSS_SPACE}")) {
        return Err(AddressRefusal::OutsideMssSpace(shown));
    }
    Ok(a)
}

/// The addresses of a text box: separated by commas, semicolons, spaces or
/// lines; each checked, duplicates once.
pub fn typed_addresses(text: &str) -> Result<Vec<String>, AddressRefusal> {
    let mut out: Vec<String> = Vec::new();
    for part in text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let a = professional_address(part)?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

/// The consumer error codes a recipient's software reports in a processing
/// MDN (CI-SIS transmission guide, codes 900–906), in French.
pub fn consumer_error(code: u16) -> Option<&'static str> {
    Some(match code {
        900 => "version du document incorrecte pour un remplacement ou une suppression",
        901 => "auteur non autorisé à remplacer ou supprimer ce document",
        902 => "patient inconnu du logiciel du destinataire",
        903 => "INS absent du document",
        904 => {
            "l'INS transmis ne correspond pas exactement à celui que connaît le destinataire (matricule ou traits)"
        }
        905 => "INS incomplet : des traits d'identité manquent",
        906 => "autre erreur d'intégration",
        _ => return None,
    })
}

/// A processing error reported by the recipient's software, as the desk reads it.
pub fn explain_processing_error(code: Option<u16>, label: &str) -> String {
    let label: String = label.chars().take(200).collect();
    match code.and_then(|c| consumer_error(c).map(|m| (c, m))) {
        Some((c, meaning)) => format!(
            "le logiciel du destinataire n'a pas pu intégrer le document ({c} : {meaning}) ; vérifiez l'identité de la personne avec le destinataire, puis renvoyez-le"
        ),
        None => format!(
            "le logiciel du destinataire n'a pas pu intégrer le message ({})",
            label.trim()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageState::*;

    #[test]
    fn every_consumer_error_code_of_the_guide_is_explained() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/spec/dmp-mss/dmp/ANS_consumer_applicationErrorCondition_900.csv");
        let Ok(table) = std::fs::read_to_string(&path) else {
            eprintln!("DID NOT RUN: {} absent", path.display());
            return;
        };
        for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let code: u16 = line.split(',').next().unwrap().parse().unwrap();
            assert!(consumer_error(code).is_some(), "{code}");
        }
        assert!(explain_processing_error(Some(902), "x").contains("patient inconnu"));
        assert!(explain_processing_error(None, "<b>").contains("<b>"));
    }

    #[test]
    fn states_only_move_forward_and_a_failure_until_read() {
        assert_eq!(EnAttente.advance(Envoye), Some(Envoye));
        assert_eq!(Envoye.advance(Delivre), Some(Delivre));
        assert_eq!(Delivre.advance(Lu), Some(Lu));
        // A read receipt before the delivery notice: read.
        assert_eq!(Envoye.advance(Lu), Some(Lu));
        // A late delivery notice changes nothing.
        assert_eq!(Lu.advance(Delivre), None);
        assert_eq!(Delivre.advance(Delivre), None);
        assert_eq!(Envoye.advance(Echec), Some(Echec));
        assert_eq!(Delivre.advance(Echec), Some(Echec));
        assert_eq!(Lu.advance(Echec), None);
        assert_eq!(Echec.advance(Delivre), None);
        assert_eq!(Annule.advance(Envoye), None);
        assert_eq!(Recu.advance(Lu), None);
        for s in MessageState::ALL {
            assert_eq!(MessageState::from_code(s.code()), Some(s));
        }
        assert!(Echec.may_retry() && !Envoye.may_retry());
        assert!(EnAttente.may_cancel() && !Envoye.may_cancel());
    }

    #[test]
    fn a_typed_address_stays_in_the_mss_space_and_is_never_a_patients() {
        assert_eq!(
            professional_address(" Dr.Martin@Hopital.MSSante.fr ").unwrap(),
            "dr.martin@hopital.mssante.fr"
        );
        assert!(matches!(
            professional_address("martin@gmail.com"),
            Err(AddressRefusal::OutsideMssSpace(_))
        ));
        assert!(matches!(
            professional_address("martin@evilmssante.fr"),
            Err(AddressRefusal::OutsideMssSpace(_))
        ));
        assert!(matches!(
            professional_address("275126308100265@PATIENT.mssante.fr"),
            Err(AddressRefusal::PatientMailbox(_))
        ));
        for bad in [
            "",
            "martin",
            "@x.mssante.fr",
            "a b@x.mssante.fr",
            "<script>@x.mssante.fr",
            "a@x.mssante.fr>\r\nRCPT TO:<b@y.fr",
            "a@-x.mssante.fr",
        ] {
            assert!(
                matches!(professional_address(bad), Err(AddressRefusal::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(
            typed_addresses("a@x.mssante.fr; b@y.mssante.fr,\na@X.mssante.fr").unwrap(),
            vec!["a@x.mssante.fr", "b@y.mssante.fr"]
        );
        assert!(typed_addresses("a@x.mssante.fr, b@gmail.com").is_err());
        assert!(typed_addresses("").unwrap().is_empty());
    }
}
