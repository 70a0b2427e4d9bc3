//! Demonstration data for the sandbox: two structures, a team, a few users.
//! Everything here is fictitious. Never loaded in production mode.

use chrono::{Days, NaiveDate, Utc};

use crate::domain::audit::AuditAction;
use crate::domain::care::{ActivityKind, Confidentiality, EpisodeKind};
use crate::domain::roles::Role;
use crate::domain::structure::StructureKind;
use crate::domain::usager::{Contact, Identity, Sex, UsagerData};
use crate::store::{
    AuditChain, NewActivity, NewEpisode, NewNote, NewProfessional, NewStructure, Store, StoreResult,
};

pub const CSAPA_FINESS: &str = "640000014";
pub const CSAPA_NAME: &str = "CSAPA Le Phare (démo)";
pub const CAARUD_FINESS: &str = "640000022";
/// The demo CSAPA's MSSanté mailbox, at the sandbox operator.
pub const CSAPA_MAILBOX: &str = "accueil.csapa-le-phare@escale-demo.mssante.fr";

struct DemoPro {
    first: &'static str,
    last: &'static str,
    rpps: Option<&'static str>,
    profession: &'static str,
    csapa: &'static [Role],
    caarud: &'static [Role],
}

const TEAM: &[DemoPro] = &[
    DemoPro {
        first: "Claire",
        last: "Martin",
        rpps: Some("99900000011"),
        profession: "Médecin addictologue",
        csapa: &[Role::Medecin],
        caarud: &[],
    },
    DemoPro {
        first: "Julien",
        last: "Petit",
        rpps: Some("99900000029"),
        profession: "Infirmier",
        csapa: &[Role::Infirmier],
        caarud: &[Role::Infirmier],
    },
    DemoPro {
        first: "Sofia",
        last: "Benali",
        rpps: Some("99900000037"),
        profession: "Psychologue",
        csapa: &[Role::Psychologue],
        caarud: &[],
    },
    DemoPro {
        first: "Karim",
        last: "Haddad",
        rpps: Some("99900000045"),
        profession: "Assistant de service social",
        csapa: &[Role::TravailleurSocial],
        caarud: &[Role::TravailleurSocial],
    },
    DemoPro {
        first: "Lucie",
        last: "Bernard",
        rpps: Some("99900000078"),
        profession: "Secrétaire d'accueil",
        csapa: &[Role::Accueil, Role::ReferentIdentitovigilance],
        caarud: &[],
    },
    DemoPro {
        first: "Anne",
        last: "Roussel",
        rpps: Some("99900000052"),
        profession: "Directrice",
        csapa: &[Role::Directeur],
        caarud: &[Role::Directeur],
    },
    DemoPro {
        first: "Thomas",
        last: "Girard",
        rpps: Some("99900000060"),
        profession: "Éducateur spécialisé",
        csapa: &[],
        caarud: &[Role::Educateur, Role::Accueil],
    },
];

/// The national ids (idNat_PS) of the demo CSAPA's team, for load tests that
/// log in through the PSC sandbox.
pub fn csapa_team_national_ids() -> Vec<String> {
    TEAM.iter()
        .filter(|p| !p.csapa.is_empty())
        .filter_map(|p| p.rpps.map(|r| format!("8{r}")))
        .collect()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid demo date")
}

fn person(
    birth: &str,
    first: &str,
    used: Option<&str>,
    born: NaiveDate,
    sex: Sex,
    place: &str,
) -> UsagerData {
    UsagerData {
        identity: Identity::Traits {
            birth_name: birth.into(),
            first_names: first.into(),
            used_name: used.map(str::to_string),
            used_first_name: None,
            birth_date: born,
            sex,
            birth_place_code: Some(place.into()),
        },
        contact: Contact {
            phone: Some("06 00 00 00 00".into()),
            email: None,
            address: Some("Pau".into()),
        },
    }
}

fn alias(name: &str, sex: Option<Sex>, year: Option<i32>) -> UsagerData {
    UsagerData {
        identity: Identity::Anonymous {
            alias: name.into(),
            sex,
            birth_year: year,
        },
        contact: Contact::default(),
    }
}

/// Creates the demo data unless the instance already has a structure. Returns
/// whether anything was created.
pub async fn seed(store: &dyn Store) -> StoreResult<bool> {
    if !store.list_structures().await?.is_empty() {
        return Ok(false);
    }
    // Each structure's creation in the instance's journal and its own.
    let journal = |s: &crate::store::Structure| {
        [AuditChain::Instance, AuditChain::Structure(s.id)]
            .map(|chain| {
                crate::services::audit::instance_event(
                    chain,
                    "données de démonstration",
                    AuditAction::StructureCreated,
                    s.name.clone(),
                )
            })
            .to_vec()
    };
    let csapa = store
        .create_structure(
            &NewStructure {
                name: CSAPA_NAME.into(),
                kind: StructureKind::Csapa,
                finess_geo: CSAPA_FINESS.into(),
                finess_juridique: "640000121".into(),
            },
            &journal,
        )
        .await?;
    let caarud = store
        .create_structure(
            &NewStructure {
                name: "CAARUD L'Escale mobile (démo)".into(),
                kind: StructureKind::Caarud,
                finess_geo: CAARUD_FINESS.into(),
                finess_juridique: "640000139".into(),
            },
            &journal,
        )
        .await?;
    let admin = crate::services::administration::create_sandbox_administrator(store).await?;
    let mut ids = Vec::new();
    for p in TEAM {
        let pro = store
            .create_professional(
                &NewProfessional {
                    first_name: p.first.into(),
                    last_name: p.last.into(),
                    national_id: p.rpps.map(|r| format!("8{r}")),
                    profession: p.profession.into(),
                    instance_admin: false,
                },
                &|_| Vec::new(),
            )
            .await?;
        for r in p.csapa {
            store.grant_role(csapa.id, pro.id, *r, &[]).await?;
        }
        for r in p.caarud {
            store.grant_role(caarud.id, pro.id, *r, &[]).await?;
        }
        ids.push(pro.id);
    }
    // Production refuses a database holding these (the administrator's secrets are public).
    store
        .mark_sandbox(&[csapa.id, caarud.id], &[&ids[..], &[admin]].concat())
        .await?;
    let doctor = store
        .tenant_for(ids[0], csapa.id)
        .await?
        .expect("demo doctor");
    let social = store
        .tenant_for(ids[3], csapa.id)
        .await?
        .expect("demo social worker");
    let director = store
        .tenant_for(ids[5], csapa.id)
        .await?
        .expect("demo director");
    store
        .set_mss_mailbox(&director, Some(CSAPA_MAILBOX), &[])
        .await?;
    let educ = store
        .tenant_for(ids[6], caarud.id)
        .await?
        .expect("demo educator");
    let today = Utc::now().date_naive();
    let ago = |d: u64| today.checked_sub_days(Days::new(d)).unwrap_or(today);

    let marie = store
        .create_usager(
            &doctor,
            &person(
                "DURAND",
                "Marie Louise",
                Some("DUPONT"),
                date(1984, 3, 12),
                Sex::F,
                "64445",
            ),
            &[],
        )
        .await?;
    store
        .create_usager(
            &doctor,
            &person("LEROY", "Kévin", None, date(1996, 11, 2), Sex::M, "33063"),
            &[],
        )
        .await?;
    store
        .create_usager(
            &doctor,
            &person(
                "NGUYEN",
                "Thi Hoa",
                None,
                date(1979, 7, 30),
                Sex::F,
                "99243",
            ),
            &[],
        )
        .await?;
    store
        .create_usager(&doctor, &alias("Zébulon", Some(Sex::M), Some(1990)), &[])
        .await?;
    store
        .create_usager(&doctor, &alias("Le Marin", None, None), &[])
        .await?;
    store
        .add_episode(
            &doctor,
            marie.id,
            &NewEpisode {
                kind: EpisodeKind::Ambulatoire,
                start_date: ago(120),
                end_date: None,
                referent_id: Some(ids[0]),
            },
            &[],
        )
        .await?;
    store
        .add_activity(
            &doctor,
            marie.id,
            &NewActivity {
                kind: ActivityKind::ConsultationMedicale,
                date: ago(7),
                duration_minutes: Some(30),
                participant_ids: vec![ids[0], ids[1]],
                comment: Some("Renouvellement du traitement".into()),
            },
            &[],
        )
        .await?;
    store
        .add_activity(
            &social,
            marie.id,
            &NewActivity {
                kind: ActivityKind::AccompagnementSocial,
                date: ago(3),
                duration_minutes: Some(45),
                participant_ids: vec![ids[3]],
                comment: Some("Dossier de logement".into()),
            },
            &[],
        )
        .await?;
    store
        .add_note(
            &doctor,
            marie.id,
            &NewNote {
                confidentiality: Confidentiality::Medicale,
                body: "Traitement de substitution stabilisé ; bilan hépatique à prévoir.".into(),
            },
            &[],
        )
        .await?;
    store
        .add_note(
            &social,
            marie.id,
            &NewNote {
                confidentiality: Confidentiality::Sociale,
                body: "Demande de logement déposée auprès du SIAO.".into(),
            },
            &[],
        )
        .await?;
    store
        .add_note(
            &social,
            marie.id,
            &NewNote {
                confidentiality: Confidentiality::Partagee,
                body: "Préfère être appelée le matin.".into(),
            },
            &[],
        )
        .await?;

    let anon = store
        .create_usager(&educ, &alias("Rocky", Some(Sex::M), Some(1988)), &[])
        .await?;
    store
        .create_usager(&educ, &alias("Mistral", Some(Sex::F), None), &[])
        .await?;
    store
        .create_usager(
            &educ,
            &person("MOREAU", "Léa", None, date(2001, 5, 9), Sex::F, "64102"),
            &[],
        )
        .await?;
    store
        .add_episode(
            &educ,
            anon.id,
            &NewEpisode {
                kind: EpisodeKind::Caarud,
                start_date: ago(60),
                end_date: None,
                referent_id: Some(ids[6]),
            },
            &[],
        )
        .await?;
    store
        .add_activity(
            &educ,
            anon.id,
            &NewActivity {
                kind: ActivityKind::DistributionMateriel,
                date: ago(1),
                duration_minutes: Some(10),
                participant_ids: vec![ids[6]],
                comment: Some("Kits d'injection, préservatifs".into()),
            },
            &[],
        )
        .await?;
    Ok(true)
}
