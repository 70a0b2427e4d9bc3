//! The audit journal's actions and its hash chain (pure part).

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Hash that precedes the first entry of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    Login,
    Logout,
    FileOpened,
    FileCreated,
    FileUpdated,
    EpisodeAdded,
    EpisodeUpdated,
    ActivityAdded,
    NoteAdded,
    ConfigurationChanged,
    StructureCreated,
    ProfessionalCreated,
    ProfessionalRenamed,
    RoleGranted,
    InsiQueried,
    IdentityConfirmed,
    IdentityNotMatched,
    DocumentChecked,
    IdentityAttributeChanged,
    AnonymityLiftRequested,
    AnonymityLifted,
    DuplicateDecided,
    FilesMerged,
    FilesUnmerged,
    CollisionFlagged,
    ProcedurePublished,
    ProcedureAcknowledged,
    JobStarted,
    FileExported,
    IdentitySheetPrinted,
    TaskClosed,
    AdminCreated,
    AdminLogin,
    AdminLoginRefused,
    AdminReset,
    AdminLogout,
    DocumentAdded,
    DocumentVersionAdded,
    DocumentRead,
    DmpConsentRecorded,
    DmpRequested,
    DmpAccepted,
    DmpRefused,
    DmpRetried,
    DmpCancelled,
    MssRequested,
    MssSent,
    MssFailed,
    MssRetried,
    MssCancelled,
    MssReceived,
    MssNotice,
    MssAttached,
    MssOpened,
}

impl AuditAction {
    pub const ALL: [AuditAction; 54] = [
        AuditAction::Login,
        AuditAction::Logout,
        AuditAction::FileOpened,
        AuditAction::FileCreated,
        AuditAction::FileUpdated,
        AuditAction::EpisodeAdded,
        AuditAction::EpisodeUpdated,
        AuditAction::ActivityAdded,
        AuditAction::NoteAdded,
        AuditAction::ConfigurationChanged,
        AuditAction::StructureCreated,
        AuditAction::ProfessionalCreated,
        AuditAction::ProfessionalRenamed,
        AuditAction::RoleGranted,
        AuditAction::InsiQueried,
        AuditAction::IdentityConfirmed,
        AuditAction::IdentityNotMatched,
        AuditAction::DocumentChecked,
        AuditAction::IdentityAttributeChanged,
        AuditAction::AnonymityLiftRequested,
        AuditAction::AnonymityLifted,
        AuditAction::DuplicateDecided,
        AuditAction::FilesMerged,
        AuditAction::FilesUnmerged,
        AuditAction::CollisionFlagged,
        AuditAction::ProcedurePublished,
        AuditAction::ProcedureAcknowledged,
        AuditAction::JobStarted,
        AuditAction::FileExported,
        AuditAction::IdentitySheetPrinted,
        AuditAction::TaskClosed,
        AuditAction::AdminCreated,
        AuditAction::AdminLogin,
        AuditAction::AdminLoginRefused,
        AuditAction::AdminReset,
        AuditAction::AdminLogout,
        AuditAction::DocumentAdded,
        AuditAction::DocumentVersionAdded,
        AuditAction::DocumentRead,
        AuditAction::DmpConsentRecorded,
        AuditAction::DmpRequested,
        AuditAction::DmpAccepted,
        AuditAction::DmpRefused,
        AuditAction::DmpRetried,
        AuditAction::DmpCancelled,
        AuditAction::MssRequested,
        AuditAction::MssSent,
        AuditAction::MssFailed,
        AuditAction::MssRetried,
        AuditAction::MssCancelled,
        AuditAction::MssReceived,
        AuditAction::MssNotice,
        AuditAction::MssAttached,
        AuditAction::MssOpened,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AuditAction::Login => "connexion",
            AuditAction::Logout => "deconnexion",
            AuditAction::FileOpened => "dossier.ouverture",
            AuditAction::FileCreated => "dossier.creation",
            AuditAction::FileUpdated => "dossier.modification",
            AuditAction::EpisodeAdded => "episode.ajout",
            AuditAction::EpisodeUpdated => "episode.modification",
            AuditAction::ActivityAdded => "activite.ajout",
            AuditAction::NoteAdded => "note.ajout",
            AuditAction::ConfigurationChanged => "configuration.modification",
            AuditAction::StructureCreated => "structure.creation",
            AuditAction::ProfessionalCreated => "professionnel.creation",
            AuditAction::ProfessionalRenamed => "professionnel.nom",
            AuditAction::RoleGranted => "role.attribution",
            AuditAction::InsiQueried => "insi.appel",
            AuditAction::IdentityConfirmed => "identite.insi_confirmee",
            AuditAction::IdentityNotMatched => "identite.insi_ecartee",
            AuditAction::DocumentChecked => "identite.piece_verifiee",
            AuditAction::IdentityAttributeChanged => "identite.attribut",
            AuditAction::AnonymityLiftRequested => "anonymat.demande_levee",
            AuditAction::AnonymityLifted => "anonymat.levee",
            AuditAction::DuplicateDecided => "identite.doublon",
            AuditAction::FilesMerged => "identite.fusion",
            AuditAction::FilesUnmerged => "identite.defusion",
            AuditAction::CollisionFlagged => "identite.collision",
            AuditAction::ProcedurePublished => "procedure.publication",
            AuditAction::ProcedureAcknowledged => "procedure.lecture",
            AuditAction::JobStarted => "traitement.lancement",
            AuditAction::FileExported => "dossier.export",
            AuditAction::IdentitySheetPrinted => "identite.fiche",
            AuditAction::TaskClosed => "identite.tache",
            AuditAction::AdminCreated => "administration.creation",
            AuditAction::AdminLogin => "administration.connexion",
            AuditAction::AdminLoginRefused => "administration.connexion_refusee",
            AuditAction::AdminReset => "administration.reinitialisation",
            AuditAction::AdminLogout => "administration.deconnexion",
            AuditAction::DocumentAdded => "document.ajout",
            AuditAction::DocumentVersionAdded => "document.nouvelle_version",
            AuditAction::DocumentRead => "document.lecture",
            AuditAction::DmpConsentRecorded => "dmp.information",
            AuditAction::DmpRequested => "dmp.demande",
            AuditAction::DmpAccepted => "dmp.accepte",
            AuditAction::DmpRefused => "dmp.refuse",
            AuditAction::DmpRetried => "dmp.relance",
            AuditAction::DmpCancelled => "dmp.annulation",
            AuditAction::MssRequested => "mss.demande",
            AuditAction::MssSent => "mss.envoi",
            AuditAction::MssFailed => "mss.echec",
            AuditAction::MssRetried => "mss.relance",
            AuditAction::MssCancelled => "mss.annulation",
            AuditAction::MssReceived => "mss.reception",
            AuditAction::MssNotice => "mss.avis",
            AuditAction::MssAttached => "mss.rattachement",
            AuditAction::MssOpened => "mss.lecture",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AuditAction::Login => "Connexion",
            AuditAction::Logout => "Déconnexion",
            AuditAction::FileOpened => "Ouverture d'un dossier",
            AuditAction::FileCreated => "Création d'un dossier",
            AuditAction::FileUpdated => "Modification d'un dossier",
            AuditAction::EpisodeAdded => "Ajout d'une prise en charge",
            AuditAction::EpisodeUpdated => "Modification d'une prise en charge",
            AuditAction::ActivityAdded => "Ajout d'une activité",
            AuditAction::NoteAdded => "Ajout d'une note",
            AuditAction::ConfigurationChanged => "Modification de la configuration",
            AuditAction::StructureCreated => "Création de la structure",
            AuditAction::ProfessionalCreated => "Création d'un professionnel",
            AuditAction::ProfessionalRenamed => "Nom d'un professionnel mis à jour",
            AuditAction::RoleGranted => "Attribution d'un rôle",
            AuditAction::InsiQueried => "Appel au téléservice INSi",
            AuditAction::IdentityConfirmed => "INS confirmé (même personne)",
            AuditAction::IdentityNotMatched => "Réponse INSi écartée (autre personne)",
            AuditAction::DocumentChecked => "Pièce d'identité vérifiée",
            AuditAction::IdentityAttributeChanged => "Attribut d'identité modifié",
            AuditAction::AnonymityLiftRequested => "Demande de levée d'anonymat",
            AuditAction::AnonymityLifted => "Levée d'anonymat (lien vers une identité réelle)",
            AuditAction::DuplicateDecided => "Décision sur un doublon potentiel",
            AuditAction::FilesMerged => "Fusion de deux dossiers",
            AuditAction::FilesUnmerged => "Annulation d'une fusion",
            AuditAction::CollisionFlagged => "Signalement de collision",
            AuditAction::ProcedurePublished => "Publication de la procédure d'identitovigilance",
            AuditAction::ProcedureAcknowledged => "Lecture de la procédure d'identitovigilance",
            AuditAction::JobStarted => "Lancement d'un traitement de masse",
            AuditAction::FileExported => "Export d'un dossier",
            AuditAction::IdentitySheetPrinted => "Impression de la fiche d'identité",
            AuditAction::TaskClosed => "Tâche d'identitovigilance traitée",
            AuditAction::AdminCreated => "Création de l'administrateur de l'instance",
            AuditAction::AdminLogin => "Connexion de secours de l'administrateur",
            AuditAction::AdminLoginRefused => "Connexion de secours refusée",
            AuditAction::AdminReset => "Nouveaux secrets de l'administrateur de l'instance",
            AuditAction::AdminLogout => "Fin de session de l'administrateur de l'instance",
            AuditAction::DocumentAdded => "Ajout d'un document",
            AuditAction::DocumentVersionAdded => "Nouvelle version d'un document",
            AuditAction::DocumentRead => "Lecture d'un document",
            AuditAction::DmpConsentRecorded => {
                "Information ou opposition (DMP, messagerie Mon espace santé) enregistrée"
            }
            AuditAction::DmpRequested => "Envoi ou retrait DMP demandé",
            AuditAction::DmpAccepted => "Dépôt, remplacement ou retrait accepté par le DMP",
            AuditAction::DmpRefused => "Demande refusée par le DMP ou par Escale",
            AuditAction::DmpRetried => "Demande DMP relancée",
            AuditAction::DmpCancelled => "Demande DMP annulée",
            AuditAction::MssRequested => "Message MSSanté écrit (mis en file d'envoi)",
            AuditAction::MssSent => "Message MSSanté remis au serveur de l'opérateur",
            AuditAction::MssFailed => "Message MSSanté refusé ou en échec",
            AuditAction::MssRetried => "Message MSSanté relancé",
            AuditAction::MssCancelled => "Message MSSanté annulé",
            AuditAction::MssReceived => "Message MSSanté reçu (relève de la boîte)",
            AuditAction::MssNotice => "Avis de remise ou de lecture MSSanté reçu",
            AuditAction::MssAttached => "Message MSSanté rattaché à un dossier",
            AuditAction::MssOpened => "Message MSSanté ouvert",
        }
    }

    pub fn from_code(code: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// One entry as stored (what the hash covers, plus the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub usager_id: Option<Uuid>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// SHA-256 over the previous hash and every field, each length-prefixed so
/// that no two different entries can serialise to the same bytes.
#[allow(clippy::too_many_arguments)] // one argument per hashed field, in hash order
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: &DateTime<Utc>,
    actor_id: Option<Uuid>,
    actor_label: &str,
    action: &str,
    usager_id: Option<Uuid>,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    let at = at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let actor = actor_id.map(|u| u.to_string()).unwrap_or_default();
    let usager = usager_id.map(|u| u.to_string()).unwrap_or_default();
    let seq = seq.to_string();
    for field in [
        prev_hash,
        &seq,
        &at,
        &actor,
        actor_label,
        action,
        &usager,
        details,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

impl AuditRecord {
    pub fn computed_hash(&self) -> String {
        entry_hash(
            &self.prev_hash,
            self.seq,
            &self.at,
            self.actor_id,
            &self.actor_label,
            &self.action,
            self.usager_id,
            &self.details,
        )
    }
}

/// Where a chain stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The entry's own hash does not match its content.
    Tampered { seq: i64 },
    /// The entry does not point to the previous entry's hash.
    Unlinked { seq: i64 },
    /// A sequence number is missing (an entry was deleted).
    Gap { expected: i64, found: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Tampered { seq } => {
                write!(f, "entrée n° {seq} : contenu modifié (empreinte invalide)")
            }
            ChainBreak::Unlinked { seq } => {
                write!(f, "entrée n° {seq} : ne suit pas l'entrée précédente")
            }
            ChainBreak::Gap { expected, found } => {
                write!(
                    f,
                    "entrée n° {expected} manquante (suivante trouvée : n° {found})"
                )
            }
        }
    }
}

/// Incremental verifier: feed entries in sequence order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            checked: 0,
        }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, r: &AuditRecord) -> Result<(), ChainBreak> {
        if r.seq != self.expected_seq {
            return Err(ChainBreak::Gap {
                expected: self.expected_seq,
                found: r.seq,
            });
        }
        if r.prev_hash != self.prev_hash {
            return Err(ChainBreak::Unlinked { seq: r.seq });
        }
        if r.computed_hash() != r.hash {
            return Err(ChainBreak::Tampered { seq: r.seq });
        }
        self.expected_seq += 1;
        self.prev_hash = r.hash.clone();
        self.checked += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let mut r = AuditRecord {
                    seq,
                    at: DateTime::from_timestamp(1_700_000_000 + seq, 0).unwrap(),
                    actor_id: Some(Uuid::nil()),
                    actor_label: "Dr Test".into(),
                    action: AuditAction::FileOpened.code().into(),
                    usager_id: None,
                    details: format!("n{seq}"),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                r.hash = r.computed_hash();
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    fn verify(rs: &[AuditRecord]) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for r in rs {
            v.check(r)?;
        }
        Ok(v.checked)
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn detects_tamper_gap_and_relink() {
        let mut c = chain(5);
        c[2].details = "autre".into();
        assert_eq!(verify(&c), Err(ChainBreak::Tampered { seq: 3 }));

        let mut c = chain(5);
        c.remove(1);
        assert_eq!(
            verify(&c),
            Err(ChainBreak::Gap {
                expected: 2,
                found: 3
            })
        );

        let mut c = chain(5);
        c[3].prev_hash = GENESIS_HASH.into();
        c[3].hash = c[3].computed_hash();
        assert_eq!(verify(&c), Err(ChainBreak::Unlinked { seq: 4 }));
    }

    #[test]
    fn action_codes_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::from_code(a.code()), Some(a));
        }
    }
}
