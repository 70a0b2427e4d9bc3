//! The command-line actions behind `escale serve|migrate|admin|annuaire|audit`.

use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Config;
use crate::domain::audit::AuditAction;
use crate::domain::identifiers::NationalId;
use crate::domain::roles::Role;
use crate::domain::structure::Finess;
use crate::domain::text;
use crate::store::{self, AuditChain, DynStore, NewProfessional};

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

#[derive(Subcommand)]
pub enum AnnuaireCommand {
    /// Importe des fichiers en libre accès de l'Annuaire Santé dans la copie
    /// locale : PS_LibreAcces_Personne_activite_*.txt (professionnels et
    /// activités) et Extraction_Correspondance_MSSante_*.txt (BAL MSSanté),
    /// décompressés. Le type de fichier est reconnu à son en-tête.
    Import {
        /// Fichiers à importer, dans l'ordre donné.
        #[arg(required = true, value_name = "FICHIER")]
        files: Vec<PathBuf>,
    },
    /// Affiche le contenu de la copie locale et la date du dernier import.
    Status,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Vérifie le chaînage du journal et signale le premier maillon rompu.
    Verify {
        /// FINESS géographique d'une structure (par défaut : toutes les chaînes).
        #[arg(long)]
        structure: Option<String>,
    },
}

const CLI_ACTOR: &str = "ligne de commande";

async fn open(config: &Config) -> anyhow::Result<DynStore> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let store = store::connect(&config.database_url()).await?;
    store.migrate().await?;
    Ok(store)
}

pub async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let listen = config.listen;
    let sandbox = config.is_sandbox();
    let app = crate::app::prepare(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("impossible d'écouter sur {listen} : {e}"))?;
    let addr = listener.local_addr()?;
    let mode = if sandbox { " (bac à sable)" } else { "" };
    println!(
        "Escale{mode} : http://{addr}/ — base {}",
        app.store.backend().name()
    );
    crate::app::serve(app, listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub async fn migrate(config: Config) -> anyhow::Result<ExitCode> {
    let store = open(&config).await?;
    println!("Migrations appliquées (base {}).", store.backend().name());
    Ok(ExitCode::SUCCESS)
}

pub async fn admin(config: Config, cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    let store = open(&config).await?;
    match cmd {
        AdminCommand::Bootstrap(a) => {
            let done = crate::instance_admin::bootstrap(
                store.as_ref(),
                &crate::instance_admin::BootstrapRequest {
                    first_name: a.first_name,
                    last_name: a.last_name,
                    login: a.login,
                    issuer: crate::instance_admin::totp_issuer(config.public_url.as_deref()),
                },
            )
            .await?;
            print_credential(&config, "Administrateur de l'instance créé", &done);
        }
        AdminCommand::ResetCredential(a) => {
            let done = crate::instance_admin::reset_credential(
                store.as_ref(),
                &a.login,
                &crate::instance_admin::totp_issuer(config.public_url.as_deref()),
            )
            .await?;
            print_credential(
                &config,
                "Nouveaux secrets de l'administrateur de l'instance (l'ancien mot de passe et l'ancien secret ne valent plus)",
                &done,
            );
        }
        AdminCommand::CreateStructure(a) => {
            let created = crate::instance_admin::create_structure(
                store.as_ref(),
                &crate::instance_admin::StructureRequest {
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
            let p = store
                .create_professional(&NewProfessional {
                    first_name: text::single_line(&a.first_name, 100)
                        .map_err(|e| anyhow::anyhow!("prénom : {e}"))?,
                    last_name: text::single_line(&a.last_name, 100)
                        .map_err(|e| anyhow::anyhow!("nom : {e}"))?,
                    national_id: national_id.as_ref().map(NationalId::id_nat_ps),
                    profession: text::single_line(&a.profession, 100)
                        .map_err(|e| anyhow::anyhow!("profession : {e}"))?,
                    instance_admin: a.instance_admin,
                })
                .await?;
            crate::audit::record_instance(
                store.as_ref(),
                AuditChain::Instance,
                CLI_ACTOR,
                AuditAction::ProfessionalCreated,
                p.display_name(),
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
            let subject = crate::connectors::insi::certificate::subject_from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("certificat {} : {e}", a.certificate.display()))?;
            if !crate::connectors::insi::certificate::is_allowed_cn(subject.common_name.as_deref())
            {
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
                )
                .await?;
            crate::audit::record_instance(
                store.as_ref(),
                AuditChain::Structure(s.id),
                CLI_ACTOR,
                AuditAction::ConfigurationChanged,
                "certificat INSi et numéro d'autorisation enregistrés",
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

fn print_credential(config: &Config, title: &str, c: &crate::instance_admin::Bootstrapped) {
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

async fn find_structure(store: &DynStore, finess: &str) -> anyhow::Result<store::Structure> {
    let f = Finess::parse(finess)?;
    store
        .find_structure_by_finess(f.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("aucune structure avec le FINESS géographique {f}"))
}

async fn grant(
    store: &DynStore,
    s: &store::Structure,
    p: &store::Professional,
    roles: &[Role],
) -> anyhow::Result<()> {
    for r in roles {
        store.grant_role(s.id, p.id, *r).await?;
        crate::audit::record_instance(
            store.as_ref(),
            AuditChain::Structure(s.id),
            CLI_ACTOR,
            AuditAction::RoleGranted,
            format!("{} : {}", p.display_name(), r.label()),
        )
        .await?;
        println!(
            "Rôle attribué : {} — {} — {}",
            p.display_name(),
            r.label(),
            s.name
        );
    }
    Ok(())
}

pub async fn audit(config: Config, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let store = open(&config).await?;
    let AuditCommand::Verify { structure } = cmd;
    let chains = match structure {
        Some(f) => vec![AuditChain::Structure(find_structure(&store, &f).await?.id)],
        None => store.audit_chains().await?,
    };
    let mut broken = false;
    for chain in chains {
        let v = crate::audit::verify_chain(store.as_ref(), chain).await?;
        let name = match chain {
            AuditChain::Instance => "instance".to_string(),
            AuditChain::Structure(id) => match store.get_structure(id).await? {
                Some(s) => format!("{} ({})", s.name, s.finess_geo),
                None => id.to_string(),
            },
        };
        match v.first_break {
            None => println!("OK      {name} : {} entrées vérifiées", v.checked),
            Some(b) => {
                broken = true;
                println!("ROMPU   {name} : {} entrées intègres, puis {b}", v.checked);
            }
        }
    }
    Ok(if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn annuaire(config: Config, cmd: AnnuaireCommand) -> anyhow::Result<ExitCode> {
    use crate::annuaire_import::{BAD_LINES_KEPT, import_file, plural, thousands};
    let store = open(&config).await?;
    match cmd {
        AnnuaireCommand::Import { files } => {
            let mut failed = false;
            for path in files {
                let mut bar = ProgressBar::new(&path);
                let result = import_file(store.as_ref(), &path, &mut |p| bar.draw(p)).await;
                bar.clear();
                match result {
                    Ok(summary) => {
                        println!("{}", summary.french());
                        // The summary line lists the first five; the rest kept are detailed here.
                        if summary.bad_line_samples.len() > 5 {
                            for b in &summary.bad_line_samples {
                                println!("  ligne {} : {}", b.line, b.reason);
                            }
                            if summary.bad_lines > BAD_LINES_KEPT as u64 {
                                println!(
                                    "  … et {} autres lignes ignorées",
                                    thousands(summary.bad_lines - BAD_LINES_KEPT as u64)
                                );
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("escale : {e}");
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        AnnuaireCommand::Status => {
            let c = store.directory_counts().await?;
            let n = |v: i64, one: &str, many: &str| {
                let v = v.max(0) as u64;
                format!("{} {}", thousands(v), plural(v, one, many))
            };
            if !c.is_present() {
                println!(
                    "Annuaire local : vide. Importez les fichiers en libre accès avec « escale annuaire import FICHIER… »."
                );
            } else {
                println!(
                    "Annuaire local : {}, {}, {}.",
                    n(c.persons, "professionnel", "professionnels"),
                    n(c.situations, "activité", "activités"),
                    n(c.mailboxes, "BAL MSSanté", "BAL MSSanté")
                );
            }
            for i in &c.last_imports {
                let at = i.finished_at.unwrap_or(i.started_at);
                println!(
                    "Dernier import, {} : {} le {} ({}, {}, {}).",
                    i.kind.label(),
                    i.file_name,
                    at.with_timezone(&chrono::Local).format("%d/%m/%Y à %H:%M"),
                    n(i.rows_read, "ligne lue", "lignes lues"),
                    n(i.bad_lines, "ignorée", "ignorées"),
                    n(i.removed, "absent supprimé", "absents supprimés")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A progress bar on stderr, redrawn in place at most five times a second,
/// only when stderr is a terminal (not in logs or pipes).
struct ProgressBar {
    name: String,
    enabled: bool,
    drawn_at: Option<std::time::Instant>,
}

impl ProgressBar {
    const WIDTH: usize = 30;

    fn new(path: &Path) -> ProgressBar {
        use std::io::IsTerminal;
        ProgressBar {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            enabled: std::io::stderr().is_terminal(),
            drawn_at: None,
        }
    }

    fn draw(&mut self, p: crate::annuaire_import::Progress) {
        if !self.enabled
            || self
                .drawn_at
                .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(200))
        {
            return;
        }
        self.drawn_at = Some(std::time::Instant::now());
        let fraction = match p.total_bytes {
            Some(total) if total > 0 => (p.bytes as f64 / total as f64).min(1.0),
            _ => 0.0,
        };
        let full = (fraction * Self::WIDTH as f64) as usize;
        eprint!(
            "\r{} [{}{}] {:>3} % — {} lignes",
            self.name,
            "#".repeat(full),
            " ".repeat(Self::WIDTH - full),
            (fraction * 100.0) as u32,
            crate::annuaire_import::thousands(p.lines)
        );
    }

    fn clear(&self) {
        if self.drawn_at.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}

/// File names of `escale samples`: stable, other tools rely on them.
pub const SAMPLE_INSI_TRAITS: &str = "insi-rechercher-traits.xml";
pub const SAMPLE_DATAMATRIX_TXT: &str = "ins-datamatrix.txt";
pub const SAMPLE_DATAMATRIX_PNG: &str = "ins-datamatrix.png";
pub const SAMPLE_IDENTITY_SHEET: &str = "fiche-identite.pdf";

/// Writes one example of each artefact Escale emits, from the sandbox demo
/// data, with fixed identifiers and dates so that two runs give the same bytes.
pub fn samples(out: &Path) -> anyhow::Result<ExitCode> {
    use crate::connectors::insi::{LpsContext, TraitsQuery, rechercher_traits};
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("impossible de créer {} : {e}", out.display()))?;
    let at = chrono::DateTime::parse_from_rfc3339("2026-01-05T09:30:00Z")
        .expect("fixed date")
        .to_utc();
    let lps = LpsContext {
        idam: crate::sandbox::SANDBOX_IDAM.into(),
        software_name: crate::insi_service::SOFTWARE_NAME.into(),
        software_version: env!("CARGO_PKG_VERSION").into(),
        instance: uuid::Uuid::from_u128(0x0e5ca1e0_0000_4000_8000_000000000001),
        emitter: crate::demo::CSAPA_FINESS.into(),
    };
    // CNDA test person ADRUN ZOE (INSi qualification environment).
    let query = TraitsQuery {
        birth_name: "ADRUN".into(),
        first_name: "ZOE".into(),
        sex: "F".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1975, 12, 31).expect("date"),
        birth_place: None,
    };
    let xml = rechercher_traits(
        &lps,
        &query,
        uuid::Uuid::from_u128(0x0e5ca1e0_0000_4000_8000_000000000002),
        at,
    );
    write_sample(out, SAMPLE_INSI_TRAITS, xml.as_bytes())?;
    let payload = datamatrix_sample(at);
    write_sample(out, SAMPLE_DATAMATRIX_TXT, payload.as_bytes())?;
    // 6 pixels per module, quiet zone included (ANS: at least 4 for printing).
    let png = crate::datamatrix_symbol::png(&payload, 6)?;
    write_sample(out, SAMPLE_DATAMATRIX_PNG, &png)?;
    let (identity, vigilance) = qualified_sample(at);
    let sheet = crate::identity_sheet::for_file(
        &identity,
        &vigilance,
        crate::demo::CSAPA_NAME,
        CLI_ACTOR,
        at,
    )
    .expect("an identity with traits");
    write_sample(
        out,
        SAMPLE_IDENTITY_SHEET,
        &crate::identity_sheet::render(&sheet)?,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn write_sample(out: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = out.join(name);
    std::fs::write(&path, bytes)
        .map_err(|e| anyhow::anyhow!("impossible d'écrire {} : {e}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

/// The INS DataMatrix payload (GS as byte 0x1D) of CNDA test person ADRTROIS
/// DOMINIQUE, qualified through the domain's own transitions: the payload
/// can only be built from a shareable identity.
fn datamatrix_sample(at: chrono::DateTime<chrono::Utc>) -> String {
    let (identity, vigilance) = qualified_sample(at);
    let shared = crate::domain::sharing::shareable(&identity, &vigilance)
        .expect("a qualified identity is shareable");
    crate::domain::datamatrix::payload(&shared)
}

fn qualified_sample(
    at: chrono::DateTime<chrono::Utc>,
) -> (
    crate::domain::usager::Identity,
    crate::domain::identity::Vigilance,
) {
    use crate::domain::identity::{DocumentCheck, InsRetrieval, Vigilance};
    use crate::domain::ins::{Ins, InsOid, Matricule};
    use crate::domain::usager::{Identity, Sex};
    let identity = Identity::Traits {
        birth_name: "ADRTROIS".into(),
        first_names: "DOMINIQUE".into(),
        used_name: None,
        used_first_name: None,
        birth_date: chrono::NaiveDate::from_ymd_opt(1997, 2, 26).expect("date"),
        sex: Sex::F,
        birth_place_code: Some("2A020".into()),
    };
    let (matricule, _) = Matricule::from_insi("297022A020778", "78").expect("test matricule");
    let vigilance = Vigilance::provisional()
        .confirm_insi(InsRetrieval {
            ins: Ins {
                matricule,
                oid: InsOid::Nir,
            },
            history: vec![],
            retrieved_at: at,
            retrieved_by: CLI_ACTOR.into(),
            key_mismatch: false,
        })
        .and_then(|v| {
            v.record_document(DocumentCheck {
                kind: "PA".into(),
                checked_by: CLI_ACTOR.into(),
                checked_at: at,
            })
        })
        .expect("a qualified sample identity");
    (identity, vigilance)
}
