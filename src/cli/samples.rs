//! `escale samples --out DIR`: one example of each artefact Escale emits.

use std::path::Path;
use std::process::ExitCode;

use super::CLI_ACTOR;

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
        software_name: crate::services::insi::SOFTWARE_NAME.into(),
        software_version: env!("CARGO_PKG_VERSION").into(),
        instance: uuid::Uuid::from_u128(0x0e5ca1e0_0000_4000_8000_000000000001),
        emitter: crate::sandbox::demo::CSAPA_FINESS.into(),
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
    let png = crate::documents::datamatrix::png(&payload, 6)?;
    write_sample(out, SAMPLE_DATAMATRIX_PNG, &png)?;
    let (identity, vigilance) = qualified_sample(at);
    let sheet = crate::documents::identity_sheet::for_file(
        &identity,
        &vigilance,
        crate::sandbox::demo::CSAPA_NAME,
        CLI_ACTOR,
        at,
    )
    .expect("an identity with traits");
    write_sample(
        out,
        SAMPLE_IDENTITY_SHEET,
        &crate::documents::identity_sheet::render(&sheet)?,
    )?;
    super::samples_dmp::dmp_samples(out, &identity, &vigilance, at)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn write_sample(out: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
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
