//! The fictitious professionals and structures known to the sandboxes (Pro
//! Santé Connect and the Annuaire Santé): the demo team, RPPS+ social workers
//! with their role codes, a newcomer not yet attached to any structure, and
//! the BAS test identities seen in ANS fixtures (RPPS 997…). RPPS numbers are
//! Luhn-valid; FINESS numbers match the demo structures.

use crate::domain::directory::{
    Coded, DirectoryOrganization, DirectoryPerson, Mailbox, MailboxKind, Situation, Workplace,
};

/// How a test professional may authenticate at the PSC sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxProfessional {
    pub person: DirectoryPerson,
    /// Holds a physical CPS card (RPPS+ social workers only have an e-CPS).
    pub has_card: bool,
    /// Civility (`M`, `MME`) as PSC's `codeCivilite`.
    pub civility: &'static str,
    /// One line shown on the sandbox's chooser page.
    pub blurb: &'static str,
}

const CSAPA_FINESS: &str = "640000014";
const CSAPA_EJ: &str = "640000121";
const CAARUD_FINESS: &str = "640000022";
const CAARUD_EJ: &str = "640000139";

fn coded(code: &str, label: &str) -> Coded {
    Coded {
        code: code.into(),
        label: label.into(),
    }
}

fn workplace(finess: &str, ej: &str, name: &str) -> Workplace {
    Workplace {
        name: name.into(),
        finess: Some(finess.into()),
        finess_legal: Some(ej.into()),
        id_nat_struct: Some(format!("1{finess}")),
        postal_code: Some("64000".into()),
        city: Some("PAU".into()),
    }
}

fn csapa() -> Workplace {
    workplace(CSAPA_FINESS, CSAPA_EJ, "CSAPA LE PHARE")
}

fn caarud() -> Workplace {
    workplace(CAARUD_FINESS, CAARUD_EJ, "CAARUD LA BOUSSOLE")
}

fn situation(role: Option<(&str, &str)>, sector: &str, w: Workplace) -> Situation {
    Situation {
        role: role.map(|(c, l)| coded(c, l)),
        mode: Some("S".into()),
        sector: Some(sector.into()),
        workplace: w,
    }
}

fn per(address: &str) -> Mailbox {
    Mailbox {
        address: address.into(),
        kind: MailboxKind::Personnelle,
        description: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn pro(
    rpps: &str,
    civility: &'static str,
    first: &str,
    last: &str,
    profession: (&str, &str),
    situations: Vec<Situation>,
    mailboxes: Vec<Mailbox>,
    has_card: bool,
    blurb: &'static str,
) -> SandboxProfessional {
    SandboxProfessional {
        person: DirectoryPerson {
            id_nat_ps: format!("8{rpps}"),
            rpps: Some(rpps.into()),
            civility: Some(if profession.0 == "10" {
                "DR".into()
            } else {
                civility.into()
            }),
            last_name: last.into(),
            first_name: first.into(),
            professions: vec![coded(profession.0, profession.1)],
            situations,
            mailboxes,
        },
        has_card,
        civility,
        blurb,
    }
}

/// Every professional the sandboxes know, demo team first.
pub fn test_professionals() -> Vec<SandboxProfessional> {
    vec![
        pro(
            "99900000011",
            "MME",
            "Claire",
            "MARTIN",
            ("10", "Médecin"),
            vec![situation(None, "SA05", csapa())],
            vec![per("claire.martin@csapa-lephare.demo.mssante.fr")],
            true,
            "Médecin addictologue au CSAPA (carte CPS)",
        ),
        pro(
            "99900000029",
            "M",
            "Julien",
            "PETIT",
            ("60", "Infirmier"),
            vec![
                situation(None, "SA05", csapa()),
                situation(None, "SA05", caarud()),
            ],
            vec![per("julien.petit@csapa-lephare.demo.mssante.fr")],
            true,
            "Infirmier au CSAPA et au CAARUD",
        ),
        pro(
            "99900000037",
            "MME",
            "Sofia",
            "BENALI",
            ("93", "Psychologue"),
            vec![situation(Some(("305", "Psychologue")), "SA05", csapa())],
            vec![],
            false,
            "Psychologue au CSAPA (RPPS+, e-CPS)",
        ),
        pro(
            "99900000045",
            "M",
            "Karim",
            "HADDAD",
            ("41", "Assistant de service social"),
            vec![
                situation(
                    Some(("300", "Assistant de service social (PAERPA)")),
                    "SA05",
                    csapa(),
                ),
                situation(
                    Some(("300", "Assistant de service social (PAERPA)")),
                    "SA05",
                    caarud(),
                ),
            ],
            vec![per("karim.haddad@csapa-lephare.demo.mssante.fr")],
            false,
            "Assistant de service social, RPPS+ (e-CPS), deux structures",
        ),
        pro(
            "99900000078",
            "MME",
            "Lucie",
            "BERNARD",
            ("312", "Autre professionnel"),
            vec![situation(
                Some(("331", "Secrétaire médicale")),
                "SA05",
                csapa(),
            )],
            vec![],
            false,
            "Secrétaire d'accueil, RPPS+ rôle 331 (e-CPS)",
        ),
        pro(
            "99900000052",
            "MME",
            "Anne",
            "ROUSSEL",
            ("312", "Autre professionnel"),
            vec![
                situation(Some(("312", "Autre professionnel")), "SA05", csapa()),
                situation(Some(("312", "Autre professionnel")), "SA05", caarud()),
            ],
            vec![per("anne.roussel@csapa-lephare.demo.mssante.fr")],
            true,
            "Directrice du CSAPA et du CAARUD (carte CPE)",
        ),
        pro(
            "99900000060",
            "M",
            "Thomas",
            "GIRARD",
            ("51", "Éducateur spécialisé"),
            vec![situation(
                Some(("326", "Educateur spécialisé")),
                "SA05",
                caarud(),
            )],
            vec![],
            false,
            "Éducateur spécialisé au CAARUD, RPPS+ rôle 326 (e-CPS)",
        ),
        pro(
            "99900000086",
            "MME",
            "Inès",
            "MOREAU",
            ("51", "Éducateur spécialisé"),
            vec![situation(
                Some(("326", "Educateur spécialisé")),
                "SA05",
                csapa(),
            )],
            vec![],
            false,
            "Nouvelle éducatrice spécialisée, RPPS+ (e-CPS), pas encore rattachée dans Escale",
        ),
        pro(
            "99700427885",
            "M",
            "KIT",
            "DOC0042788",
            ("10", "Médecin"),
            vec![
                Situation {
                    role: None,
                    mode: Some("L".into()),
                    sector: Some("SA07".into()),
                    workplace: Workplace {
                        name: "CABINET M DOC0042788".into(),
                        id_nat_struct: Some("499700427885006".into()),
                        postal_code: Some("75009".into()),
                        city: Some("PARIS".into()),
                        ..Default::default()
                    },
                },
                Situation {
                    role: None,
                    mode: Some("S".into()),
                    sector: Some("SA01".into()),
                    workplace: Workplace {
                        name: "HOPITAL GENERIQUE  FIN VARI".into(),
                        finess: Some("0B0193488".into()),
                        finess_legal: Some("1B0064166".into()),
                        id_nat_struct: Some("10B0193488".into()),
                        postal_code: Some("75009".into()),
                        city: Some("PARIS".into()),
                    },
                },
            ],
            vec![per("kit.doc0042788@test.mssante.fr")],
            true,
            "Carte de test du bac à sable PSC (médecin libéral et hospitalier)",
        ),
        pro(
            "99700218896",
            "M",
            "ROBERT",
            "SPECIALISTE0021889",
            ("10", "Médecin"),
            vec![situation(None, "SA07", Workplace::default())],
            vec![],
            true,
            "Identité de test du bac à sable PSC (médecin)",
        ),
    ]
}

/// The structures the sandboxes know, with their organisational mailboxes.
pub fn test_organizations() -> Vec<DirectoryOrganization> {
    let org = |finess: &str, name: &str, cat: (&str, &str), boxes: &[(&str, &str)]| {
        DirectoryOrganization {
            finess: Some(finess.into()),
            id_nat_struct: Some(format!("1{finess}")),
            name: name.into(),
            category: Some(coded(cat.0, cat.1)),
            postal_code: Some("64000".into()),
            city: Some("PAU".into()),
            mailboxes: boxes
                .iter()
                .map(|(a, d)| Mailbox {
                    address: (*a).into(),
                    kind: MailboxKind::Organisationnelle,
                    description: Some((*d).into()),
                })
                .collect(),
        }
    };
    vec![
        org(
            CSAPA_FINESS,
            "CSAPA LE PHARE",
            (
                "197",
                "Centre soins accompagnement prévention addictologie (CSAPA)",
            ),
            &[("accueil@csapa-lephare.demo.mssante.fr", "Secrétariat")],
        ),
        org(
            CAARUD_FINESS,
            "CAARUD LA BOUSSOLE",
            (
                "178",
                "Centre Accueil/Accomp. Réduc. Risq. Usag. Drogues (CAARUD)",
            ),
            &[("equipe@caarud-laboussole.demo.mssante.fr", "Équipe")],
        ),
        org(
            "640780417",
            "CENTRE HOSPITALIER DE PAU",
            ("355", "Centre Hospitalier (C.H.)"),
            &[
                (
                    "addictologie@ch-pau.demo.mssante.fr",
                    "Service d'addictologie (ELSA)",
                ),
                ("urgences@ch-pau.demo.mssante.fr", "Urgences"),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identifiers::luhn_valid;

    #[test]
    fn identifiers_are_well_formed() {
        let pros = test_professionals();
        for p in &pros {
            let rpps = p.person.rpps.as_deref().unwrap();
            assert!(luhn_valid(rpps), "{rpps}");
            assert_eq!(p.person.id_nat_ps, format!("8{rpps}"));
        }
        let mut ids: Vec<_> = pros.iter().map(|p| &p.person.id_nat_ps).collect();
        ids.dedup();
        assert_eq!(ids.len(), pros.len());
        for o in test_organizations() {
            assert!(crate::domain::structure::Finess::parse(o.finess.as_deref().unwrap()).is_ok());
        }
    }
}
