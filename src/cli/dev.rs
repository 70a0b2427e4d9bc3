//! `escale dev seed`: a generated population for measurements (sandbox mode
//! only): N files in the demo CSAPA (the demo data is made first on a new
//! database) and, with `--structures K`, K−1 more CSAPA of N files each.
//! Every file goes through the store like a real creation (identity keys and
//! journal entry in its transaction), with episodes, activities and notes in
//! realistic proportions, each batch of files and then its care rows in one
//! transaction. Rows per second are printed.

use std::process::ExitCode;
use std::time::Instant;

use chrono::Utc;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::domain::audit::AuditAction;
use crate::domain::care::{ActivityKind, Confidentiality, EpisodeKind};
use crate::domain::identifiers::luhn_valid;
use crate::domain::roles::Role;
use crate::domain::structure::StructureKind;
use crate::domain::tenant::Tenant;
use crate::sandbox::generator::Generator;
use crate::store::{
    DynStore, NewActivity, NewCare, NewEpisode, NewNote, NewProfessional, NewStructure,
};

#[derive(Subcommand)]
pub enum DevCommand {
    /// Ajoute des usagers générés (bac à sable seulement), pour les mesures.
    Seed(SeedArgs),
}

#[derive(Args)]
pub struct SeedArgs {
    /// Nombre d'usagers générés par structure.
    #[arg(long, value_name = "N")]
    pub users: u32,
    /// Nombre de structures : le CSAPA de démonstration et K−1 CSAPA générés.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub structures: u32,
}

pub async fn dev(config: Config, cmd: DevCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DevCommand::Seed(a) => seed(config, a).await,
    }
}

async fn seed(config: Config, a: SeedArgs) -> anyhow::Result<ExitCode> {
    if !config.is_sandbox() {
        anyhow::bail!(
            "« escale dev seed » ne fonctionne qu'en mode bac à sable (ESCALE_MODE=sandbox) : il écrit des usagers fictifs"
        );
    }
    if a.structures == 0 {
        anyhow::bail!("--structures : au moins 1 (le CSAPA de démonstration)");
    }
    let store = super::open(&config).await?;
    crate::sandbox::demo::seed(store.as_ref()).await?;
    let started = Instant::now();
    let mut written = 0u64;
    for k in 0..a.structures {
        let t = tenant(&store, k).await?;
        let mut g = Generator::new(u64::from(k) * 1_000_003 + 17);
        written += population(&store, &t, &mut g, a.users, k == 0).await?;
        let seconds = started.elapsed().as_secs_f64().max(0.001);
        println!(
            "structure {}/{} : {} usagers ajoutés ({written} lignes en {seconds:.1} s, {:.0} lignes/s)",
            k + 1,
            a.structures,
            a.users,
            written as f64 / seconds
        );
    }
    let started = Instant::now();
    store.settle_after_bulk_load().await?;
    println!(
        "statistiques et index de recherche mis à jour en {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The k-th structure's tenant: the demo CSAPA's doctor for k = 0, else a
/// generated CSAPA (made once) and its doctor.
async fn tenant(store: &DynStore, k: u32) -> anyhow::Result<Tenant> {
    let finess = if k == 0 {
        crate::sandbox::demo::CSAPA_FINESS.to_string()
    } else {
        generated_finess(k)
    };
    let structure = match store.find_structure_by_finess(&finess).await? {
        Some(s) => s,
        None => {
            store
                .create_structure(
                    &NewStructure {
                        name: format!("CSAPA généré n° {k}"),
                        kind: StructureKind::Csapa,
                        finess_geo: finess.clone(),
                        finess_juridique: "640000121".into(),
                    },
                    &|_| Vec::new(),
                )
                .await?
        }
    };
    // The structure's doctor: the demo's, or one made for the generated structure.
    let national_id = if k == 0 {
        crate::sandbox::demo::csapa_team_national_ids()[0].clone()
    } else {
        format!("89998{k:07}")
    };
    let doctor = match store.find_professional_by_national_id(&national_id).await? {
        Some(p) => p.id,
        None => {
            let p = store
                .create_professional(
                    &NewProfessional {
                        first_name: "Médecin".into(),
                        last_name: format!("GÉNÉRÉ {k}"),
                        national_id: Some(national_id),
                        profession: "Médecin".into(),
                        instance_admin: false,
                    },
                    &|_| Vec::new(),
                )
                .await?;
            store
                .grant_role(structure.id, p.id, Role::Medecin, &[])
                .await?;
            p.id
        }
    };
    store
        .tenant_for(doctor, structure.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("aucun médecin dans {}", structure.name))
}

/// A FINESS of the generated structures: `64` + 6 digits + its key (Luhn).
fn generated_finess(k: u32) -> String {
    let body = format!("64{:06}", 100_000 + k);
    (0..10)
        .map(|key| format!("{body}{key}"))
        .find(|f| luhn_valid(f))
        .expect("one key digit makes a Luhn-valid number")
}

/// Files written per transaction.
const BATCH: u32 = 500;

/// `n` files in the tenant's structure, in batches; returns the rows written.
async fn population(
    store: &DynStore,
    t: &Tenant,
    g: &mut Generator,
    n: u32,
    mut settle_first: bool,
) -> anyhow::Result<u64> {
    let today = Utc::now().date_naive();
    let entry = crate::services::audit::event(
        t,
        AuditAction::FileCreated,
        None,
        "dossier généré (escale dev seed)",
    );
    let mut rows = 0u64;
    let mut previous = None;
    let mut left = n;
    while left > 0 {
        let size = left.min(BATCH);
        left -= size;
        let members: Vec<_> = (0..size)
            .map(|_| {
                let m = g.member(previous.as_ref());
                if !m.data.identity.is_anonymous() {
                    previous = Some(m.data.clone());
                }
                m
            })
            .collect();
        let data: Vec<_> = members.iter().map(|m| m.data.clone()).collect();
        let created = store
            .create_usagers(t, &data, std::slice::from_ref(&entry))
            .await?;
        rows += created.len() as u64;
        let care: Vec<NewCare> = created
            .iter()
            .zip(&members)
            .flat_map(|(u, m)| care(t, u.id, m, today))
            .collect();
        rows += store.add_care(t, &care, &[]).await?;
        if std::mem::take(&mut settle_first) {
            // Statistics of the tables as they start to fill: without them,
            // a prepared statement's plan, made while they were empty, may
            // find a file by id through an index of the whole structure
            // (PostgreSQL without autovacuum, as on this project's machines).
            store.settle_after_bulk_load().await?;
        }
    }
    Ok(rows)
}

/// The member's episode, activities and note.
fn care(
    t: &Tenant,
    id: uuid::Uuid,
    m: &crate::sandbox::generator::Member,
    today: chrono::NaiveDate,
) -> Vec<NewCare> {
    let mut rows = Vec::new();
    if m.episode {
        let e = NewEpisode {
            kind: EpisodeKind::Ambulatoire,
            start_date: today,
            end_date: None,
            referent_id: Some(t.professional_id),
        };
        rows.push(NewCare::Episode(id, e));
    }
    for _ in 0..m.activities {
        let a = NewActivity {
            kind: ActivityKind::Entretien,
            date: today,
            duration_minutes: Some(30),
            participant_ids: vec![t.professional_id],
            comment: None,
        };
        rows.push(NewCare::Activity(id, a));
    }
    if m.note {
        let n = NewNote {
            confidentiality: Confidentiality::Partagee,
            body: "Note générée.".into(),
        };
        rows.push(NewCare::Note(id, n));
    }
    rows
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_finess_numbers_are_valid() {
        for k in [1, 2, 299] {
            let f = super::generated_finess(k);
            assert!(
                crate::domain::structure::Finess::parse(&f)
                    .is_ok_and(|f| f.key_matches() == Some(true)),
                "{f}"
            );
        }
    }
}
