//! `escale admin …`: structures, professionals, roles, INSi credentials, break-glass administrators.

use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Config;
use crate::domain::audit::AuditAction;
use crate::domain::identifiers::NationalId;
use crate::domain::roles::Role;
use crate::domain::text;
use crate::store::{self, AuditChain, DynStore, NewProfessional};

use super::{CLI_ACTOR, find_structure, open};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Crée le premier administrateur de l'instance (une seule fois) : affiche
    /// son mot de passe et son secret TOTP pour la connexion de secours
    /// (/admin/connexion), réservée à l'administration de l'instance.
    Bootstrap(Bootstrap),
    /// Nouveau mot de passe et nouveau secret TOTP pour un administrateur de
    /// l'instance (téléphone ou mot de passe perdu) ; lève le blocage.
    ResetCredential(ResetCredential),
    /// Crée une structure (CSAPA, CAARUD, ACT, LHSS, LAM).
    CreateStructure(CreateStructure),
    /// Crée un professionnel, avec ses rôles éventuels dans une structure.
    CreateProfessional(CreateProfessional),
    /// Attribue un rôle à un professionnel dans une structure.
    GrantRole(GrantRole),
    /// Liste les structures de l'instance.
    ListStructures,
    /// Enregistre le certificat logiciel INSi et le numéro d'autorisation d'une structure.
    SetInsi(SetInsi),
}

#[derive(Args)]
pub struct Bootstrap {
    #[arg(long)]
    pub first_name: String,
    #[arg(long)]
    pub last_name: String,
    /// Identifiant de connexion (lettres, chiffres, . - _ @) ; évitez « admin » :
    /// un identifiant deviné permet de bloquer le compte par des essais répétés.
    #[arg(long)]
    pub login: String,
}

#[derive(Args)]
pub struct ResetCredential {
    /// Identifiant de connexion de l'administrateur.
    #[arg(long)]
    pub login: String,
}

#[derive(Args)]
pub struct SetInsi {
    /// FINESS géographique de la structure.
    #[arg(long)]
    pub structure: String,
    /// Fichier PEM du certificat logiciel IGC-Santé (CN INSI-MANU ou INSI-AUTO).
    #[arg(long, value_name = "FICHIER")]
    pub certificate: PathBuf,
    /// Fichier PEM de la clé privée (par défaut : dans le fichier du certificat).
    #[arg(long, value_name = "FICHIER")]
    pub key: Option<PathBuf>,
    /// Numéro d'autorisation CNDA du logiciel (IDAM).
    #[arg(long)]
    pub idam: String,
}

#[derive(Args)]
pub struct CreateStructure {
    /// Nom de la structure.
    #[arg(long)]
    pub name: String,
    /// Type : csapa, csapa_hebergement, caarud, act, lhss, lam.
    #[arg(long)]
    pub kind: String,
    /// FINESS géographique (9 caractères).
    #[arg(long)]
    pub finess_geo: String,
    /// FINESS juridique (9 caractères).
    #[arg(long)]
    pub finess_juridique: String,
}

#[derive(Args)]
pub struct CreateProfessional {
    #[arg(long)]
    pub first_name: String,
    #[arg(long)]
    pub last_name: String,
    /// RPPS (11 chiffres), ADELI (9 caractères) ou idNat_PS.
    #[arg(long)]
    pub national_id: Option<String>,
    /// Profession, en clair (ex. « Infirmier »).
    #[arg(long)]
    pub profession: String,
    /// Administrateur de l'instance (GRADeS).
    #[arg(long)]
    pub instance_admin: bool,
    /// FINESS géographique de la structure où attribuer les rôles.
    #[arg(long, requires = "role")]
    pub structure: Option<String>,
    /// Rôle(s) : accueil, travailleur_social, infirmier, medecin, psychologue, educateur, directeur, referent_identitovigilance.
    #[arg(long, requires = "structure")]
    pub role: Vec<String>,
}

#[derive(Args)]
pub struct GrantRole {
    /// Identifiant national (RPPS, ADELI, idNat_PS) du professionnel.
    #[arg(long)]
    pub national_id: String,
    /// FINESS géographique de la structure.
    #[arg(long)]
    pub structure: String,
    #[arg(long)]
    pub role: Vec<String>,
}

pub async fn admin(config: Config, cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    let store = open(&config).await?;
    match cmd {
        AdminCommand::Bootstrap(a) => {
            let secrets = crate::services::admin_secrets::AdminSecrets::load(&config)?;
            let done = crate::services::administration::bootstrap(
                store.as_ref(),
                &secrets,
                &crate::services::administration::BootstrapRequest {
                    first_name: a.first_name,
                    last_name: a.last_name,
                    login: a.login,
                    issuer: crate::services::administration::totp_issuer(
                        config.public_url.as_deref(),
                    ),
                },
            )
            .await?;
            print_credential(&config, "Administrateur de l'instance créé", &done);
        }
        AdminCommand::ResetCredential(a) => {
            let secrets = crate::services::admin_secrets::AdminSecrets::load(&config)?;
            let done = crate::services::administration::reset_credential(
                store.as_ref(),
                &secrets,
                &a.login,
                &crate::services::administration::totp_issuer(config.public_url.as_deref()),
            )
            .await?;
            print_credential(
                &config,
                "Nouveaux secrets de l'administrateur de l'instance (l'ancien mot de passe et l'ancien secret ne valent plus)",
                &done,
            );
        }
        AdminCommand::CreateStructure(a) => {
            let created = crate::services::administration::create_structure(
                store.as_ref(),
                &crate::services::administration::StructureRequest {
                    name: a.name,
                    kind: a.kind,
                    finess_geo: a.finess_geo,
                    finess_juridique: a.finess_juridique,
                },
                CLI_ACTOR,
            )
            .await
            .map_err(|errors| {
                anyhow::anyhow!(
                    "{}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" ; ")
                )
            })?;
            for w in &created.warnings {
                eprintln!("attention : {w}");
            }
            let s = created.structure;
            println!(
                "Structure créée : {} — {} — FINESS {} — id {}",
                s.name,
                s.kind.label(),
                s.finess_geo,
                s.id
            );
        }
        AdminCommand::CreateProfessional(a) => {
            let national_id = a
                .national_id
                .as_deref()
                .map(NationalId::parse)
                .transpose()?;
            if let Some(w) = national_id.as_ref().and_then(NationalId::key_warning) {
                eprintln!("attention : {w}");
            }
            let roles = parse_roles(&a.role)?;
            let structure = match &a.structure {
                Some(f) => Some(find_structure(&store, f).await?),
                None => None,
            };
            let journal = |p: &store::Professional| {
                vec![crate::services::audit::instance_event(
                    AuditChain::Instance,
                    CLI_ACTOR,
                    AuditAction::ProfessionalCreated,
                    p.display_name(),
                )]
            };
            let p = store
                .create_professional(
                    &NewProfessional {
                        first_name: text::single_line(&a.first_name, 100)
                            .map_err(|e| anyhow::anyhow!("prénom : {e}"))?,
                        last_name: text::single_line(&a.last_name, 100)
                            .map_err(|e| anyhow::anyhow!("nom : {e}"))?,
                        national_id: national_id.as_ref().map(NationalId::id_nat_ps),
                        profession: text::single_line(&a.profession, 100)
                            .map_err(|e| anyhow::anyhow!("profession : {e}"))?,
                        instance_admin: a.instance_admin,
                    },
                    &journal,
                )
                .await?;
            if let Some(s) = structure {
                grant(&store, &s, &p, &roles).await?;
            }
            println!("Professionnel créé : {} — id {}", p.display_name(), p.id);
        }
        AdminCommand::GrantRole(a) => {
            let nid = NationalId::parse(&a.national_id)?;
            let p = store
                .find_professional_by_national_id(&nid.id_nat_ps())
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("aucun professionnel avec l'identifiant {}", nid.label())
                })?;
            let s = find_structure(&store, &a.structure).await?;
            grant(&store, &s, &p, &parse_roles(&a.role)?).await?;
        }
        AdminCommand::SetInsi(a) => {
            let s = store
                .find_structure_by_finess(&a.structure)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("aucune structure avec le FINESS {}", a.structure)
                })?;
            if a.certificate
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx"))
            {
                anyhow::bail!(
                    "les fichiers PKCS#12 ne sont pas encore lus directement : convertissez-le en PEM avec « openssl pkcs12 -in {} -out insi.pem -nodes » (protégez ce fichier : il contient la clé), puis passez --certificate insi.pem",
                    a.certificate.display()
                );
            }
            // Checked now rather than at the first call: CN, validity, readable key.
            let pem = std::fs::read_to_string(&a.certificate).map_err(|e| {
                anyhow::anyhow!("certificat {} illisible : {e}", a.certificate.display())
            })?;
            let subject = crate::connectors::certificate::subject_from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("certificat {} : {e}", a.certificate.display()))?;
            if !crate::connectors::insi::is_allowed_cn(subject.common_name.as_deref()) {
                anyhow::bail!(
                    "le certificat a pour CN « {} » : INSi n'accepte que INSI-MANU ou INSI-AUTO (sinon DESIR_560)",
                    subject.common_name.unwrap_or_default()
                );
            }
            let idam = text::single_line(&a.idam, 64)
                .map_err(|e| anyhow::anyhow!("numéro d'autorisation : {e}"))?;
            let absolute = |p: &Path| {
                std::path::absolute(p)
                    .unwrap_or(p.to_path_buf())
                    .display()
                    .to_string()
            };
            store
                .set_structure_insi(
                    s.id,
                    &crate::store::StructureInsi {
                        certificate: absolute(&a.certificate),
                        key: a.key.as_deref().map(absolute),
                        idam,
                    },
                    &[crate::services::audit::instance_event(
                        AuditChain::Structure(s.id),
                        CLI_ACTOR,
                        AuditAction::ConfigurationChanged,
                        "certificat INSi et numéro d'autorisation enregistrés",
                    )],
                )
                .await?;
            println!(
                "Certificat INSi enregistré pour {} ({}).",
                s.name, s.finess_geo
            );
        }
        AdminCommand::ListStructures => {
            for s in store.list_structures().await? {
                println!("{}\t{}\t{}\t{}", s.finess_geo, s.kind.label(), s.name, s.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_credential(
    config: &Config,
    title: &str,
    c: &crate::services::administration::Bootstrapped,
) {
    println!(
        "{title} : {}\n\
         \n  Identifiant             : {}\n  Mot de passe            : {}\n  Secret TOTP (base32)    : {}\n  URI pour l'application  : {}\n\n\
         Le mot de passe et le secret ne seront plus jamais affichés : notez-les hors ligne, \
         enregistrez le secret dans une application d'authentification (TOTP, 6 chiffres, 30 s).\n\
         Connexion de secours : {}/admin/connexion — réservée à l'administration de l'instance \
         (structures, directeurs), jamais aux dossiers des usagers.",
        c.display_name,
        c.login,
        c.password,
        c.totp_secret,
        c.otpauth_uri,
        config.base_url().trim_end_matches('/')
    );
}

fn parse_roles(codes: &[String]) -> anyhow::Result<Vec<Role>> {
    codes
        .iter()
        .map(|c| c.parse::<Role>().map_err(anyhow::Error::from))
        .collect()
}

async fn grant(
    store: &DynStore,
    s: &store::Structure,
    p: &store::Professional,
    roles: &[Role],
) -> anyhow::Result<()> {
    for r in roles {
        let entry = crate::services::audit::instance_event(
            AuditChain::Structure(s.id),
            CLI_ACTOR,
            AuditAction::RoleGranted,
            format!("{} : {}", p.display_name(), r.label()),
        );
        store.grant_role(s.id, p.id, *r, &[entry]).await?;
        println!(
            "Rôle attribué : {} — {} — {}",
            p.display_name(),
            r.label(),
            s.name
        );
    }
    Ok(())
}
