//! Reading the beneficiaries of a Carte Vitale: the APDU sequence over any
//! [`Transport`] (PC/SC in `pcsc_reader`, feature `pcsc`).
//!
//! Everything here blocks (PC/SC calls go to pcscd and the card): call it from
//! `tokio::task::spawn_blocking`. The APDU sequence is cardpeek's (see
//! [`super::vitale`] for what is sourced and what is assumed); the transport
//! is a trait so that the sequence is unit-tested without a reader.

use thiserror::Error;

use super::vitale::{
    AID_VITALE, Beneficiary, EF_POINTEURS, ParseError, TAG_BENEFICIAIRE, is_raw_file,
    parse_beneficiaries, parse_beneficiary, parse_directory, parse_tlvs, starts_with_beneficiary,
};

/// Why the beneficiaries could not be read. Messages are shown to users.
#[derive(Debug, Error)]
pub enum CardError {
    #[error("Le service de cartes à puce (pcscd) ne répond pas")]
    ServiceIndisponible(String),
    #[error("Aucun lecteur de carte n'est branché")]
    AucunLecteur,
    #[error("Le lecteur « {0} » n'est pas branché")]
    LecteurIntrouvable(String),
    #[error("Aucune carte Vitale dans le lecteur")]
    AucuneCarte,
    #[error("Le lecteur est utilisé par un autre logiciel : réessayez dans un instant")]
    LecteurOccupe,
    #[error("La carte ne répond pas : retirez-la puis insérez-la de nouveau")]
    CarteMuette,
    #[error("La carte a été retirée pendant la lecture")]
    CarteRetiree,
    #[error("La carte insérée n'est pas une carte Vitale")]
    PasUneVitale,
    #[error("Aucun bénéficiaire n'a été trouvé sur la carte Vitale")]
    AucunBeneficiaire,
    #[error("La carte a refusé la commande {commande} (statut {sw:04X})")]
    Refus { commande: &'static str, sw: u16 },
    #[error("Réponse incomplète de la carte")]
    ReponseIncomplete,
    #[error("Erreur de communication avec le lecteur ({0})")]
    Communication(String),
    #[error("Carte Vitale illisible : {0}")]
    Donnees(#[from] ParseError),
}

impl CardError {
    /// Stable machine-readable code for the Escale page.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ServiceIndisponible(_) => "service_indisponible",
            Self::AucunLecteur => "aucun_lecteur",
            Self::LecteurIntrouvable(_) => "lecteur_introuvable",
            Self::AucuneCarte => "aucune_carte",
            Self::LecteurOccupe => "lecteur_occupe",
            Self::CarteMuette => "carte_muette",
            Self::CarteRetiree => "carte_retiree",
            Self::PasUneVitale => "pas_une_vitale",
            Self::AucunBeneficiaire => "aucun_beneficiaire",
            Self::Refus { .. } => "commande_refusee",
            Self::ReponseIncomplete => "reponse_incomplete",
            Self::Communication(_) => "communication",
            Self::Donnees(_) => "donnees_illisibles",
        }
    }
}

/// A source of beneficiaries (blocking). `pcsc_reader::PcscReader` in production; tests
/// substitute their own.
pub trait CardReader: Send + Sync + 'static {
    fn read_beneficiaries(&self) -> Result<Vec<Beneficiary>, CardError>;
}

/// Sends one APDU, returns the response with its status word.
pub trait Transport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError>;
}

struct Response {
    data: Vec<u8>,
    sw: u16,
}

const SW_OK: u16 = 0x9000;
const CHUNK: usize = 256;
/// READ BINARY P1 holds 15 offset bits.
const MAX_EF_SIZE: usize = 0x8000;

/// The cardpeek traversal: SELECT VITALE, read `2001`, then every EF it lists
/// under each application; keeps every `65` template.
pub fn read_card(t: &mut dyn Transport) -> Result<Vec<Beneficiary>, CardError> {
    if command(t, &select(0x04, AID_VITALE))?.sw != SW_OK {
        return Err(CardError::PasUneVitale);
    }
    expect_ok(command(t, &select(0x02, &EF_POINTEURS))?, "SELECT 2001")?;
    let directory = parse_directory(&read_binary(t)?)?;

    let mut found = Vec::new();
    for app in directory.iter().filter(|a| !a.files.is_empty()) {
        expect_ok(command(t, &select(0x04, &app.aid))?, "SELECT AID")?;
        for file in &app.files {
            if app.aid == AID_VITALE && file.fid == EF_POINTEURS {
                continue;
            }
            let selected = command(t, &select(0x02, &file.fid))?;
            let content = match selected.sw {
                SW_OK => read_binary(t),
                sw => Err(CardError::Refus {
                    commande: "SELECT",
                    sw,
                }),
            };
            let content = match content {
                Ok(content) => content,
                // Protected or absent files hold no identity data we need.
                Err(CardError::Refus { sw, .. }) => {
                    tracing::debug!(fichier = %file.name, sw = format!("{sw:04X}"), "fichier ignoré");
                    continue;
                }
                Err(e) => return Err(e),
            };
            found.extend(beneficiaries_in(&content, found.len() + 1)?);
        }
    }
    if found.is_empty() {
        return Err(CardError::AucunBeneficiaire);
    }
    Ok(found)
}

/// Strict for files that start with a `65` template; other TLV files are only
/// searched when they parse (a certificate or an unknown layout is skipped).
fn beneficiaries_in(content: &[u8], first_index: usize) -> Result<Vec<Beneficiary>, ParseError> {
    if is_raw_file(content) {
        return Ok(Vec::new());
    }
    if starts_with_beneficiary(content) {
        return parse_beneficiaries(content, first_index);
    }
    let Ok(tlvs) = parse_tlvs(content) else {
        return Ok(Vec::new());
    };
    tlvs.iter()
        .filter(|t| t.tag == TAG_BENEFICIAIRE)
        .enumerate()
        .map(|(i, t)| parse_beneficiary(t.value, first_index + i))
        .collect()
}

/// SELECT with FCI requested (P2=00) and Le=00, as cardpeek sends it.
fn select(p1: u8, id: &[u8]) -> Vec<u8> {
    let lc = u8::try_from(id.len()).expect("an AID or file id is short");
    let mut apdu = vec![0x00, 0xA4, p1, 0x00, lc];
    apdu.extend_from_slice(id);
    apdu.push(0x00);
    apdu
}

/// READ BINARY of the current EF in 256-byte chunks. Ends on a short chunk,
/// on `6282` (end of file before Le bytes) or on `6B00` past the first chunk
/// (offset beyond the end: the size is a multiple of 256).
fn read_binary(t: &mut dyn Transport) -> Result<Vec<u8>, CardError> {
    let mut content = Vec::new();
    while content.len() < MAX_EF_SIZE {
        let offset = content.len();
        // offset < MAX_EF_SIZE = 0x8000: fits in 15 bits.
        let [hi, lo] = (offset as u16).to_be_bytes();
        let r = command(t, &[0x00, 0xB0, hi, lo, 0x00])?;
        match r.sw {
            SW_OK => {
                let short = r.data.len() < CHUNK;
                content.extend(r.data);
                if short {
                    break;
                }
            }
            0x6282 => {
                content.extend(r.data);
                break;
            }
            0x6B00 if offset > 0 => break,
            sw => {
                return Err(CardError::Refus {
                    commande: "READ BINARY",
                    sw,
                });
            }
        }
    }
    Ok(content)
}

/// One command, with the T=0 follow-ups: `6Cxx` (resend with Le=xx) and
/// `61xx` (GET RESPONSE until done). Every APDU sent here ends with Le.
fn command(t: &mut dyn Transport, apdu: &[u8]) -> Result<Response, CardError> {
    let mut r = split(t.transmit(apdu)?)?;
    if r.sw >> 8 == 0x6C {
        let mut again = apdu.to_vec();
        if let Some(le) = again.last_mut() {
            *le = (r.sw & 0xFF) as u8;
        }
        r = split(t.transmit(&again)?)?;
    }
    for _ in 0..MAX_EF_SIZE / CHUNK {
        if r.sw >> 8 != 0x61 {
            break;
        }
        let next = split(t.transmit(&[0x00, 0xC0, 0x00, 0x00, (r.sw & 0xFF) as u8])?)?;
        r.data.extend(next.data);
        r.sw = next.sw;
    }
    Ok(r)
}

fn split(mut raw: Vec<u8>) -> Result<Response, CardError> {
    if raw.len() < 2 {
        return Err(CardError::ReponseIncomplete);
    }
    let sw = u16::from_be_bytes([raw[raw.len() - 2], raw[raw.len() - 1]]);
    raw.truncate(raw.len() - 2);
    Ok(Response { data: raw, sw })
}

fn expect_ok(r: Response, commande: &'static str) -> Result<Response, CardError> {
    match r.sw {
        SW_OK => Ok(r),
        sw => Err(CardError::Refus { commande, sw }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vitale::AID_VITALE_MF;

    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match value.len() {
            n @ 0..=0x7F => out.push(n as u8),
            n @ 0x80..=0xFF => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(value);
        out
    }

    fn beneficiary(nom: &str, nir: &str) -> Vec<u8> {
        let fields = [
            tlv(0x80, nom.as_bytes()),
            tlv(0x81, b"A"),
            tlv(0x82, b"19800131"),
            tlv(0x93, nir.as_bytes()),
        ]
        .concat();
        tlv(0x65, &fields)
    }

    /// A T=0-like card: answers SELECT with 61xx, and a READ BINARY asking
    /// for more than what is left with 6Cxx.
    struct FakeCard {
        selected: Option<[u8; 2]>,
        vitale: bool,
        files: Vec<([u8; 2], Vec<u8>)>,
        pending: Vec<u8>,
        log: Vec<Vec<u8>>,
    }

    impl FakeCard {
        fn new(files: Vec<([u8; 2], Vec<u8>)>) -> Self {
            Self {
                selected: None,
                vitale: true,
                files,
                pending: Vec::new(),
                log: Vec::new(),
            }
        }
    }

    impl Transport for FakeCard {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
            self.log.push(apdu.to_vec());
            let ok = |mut d: Vec<u8>| {
                d.extend([0x90, 0x00]);
                Ok(d)
            };
            match apdu[1] {
                0xA4 if apdu[2] == 0x04 => {
                    let aid = &apdu[5..apdu.len() - 1];
                    if !self.vitale || (aid != AID_VITALE && aid != AID_VITALE_MF) {
                        return Ok(vec![0x6A, 0x82]);
                    }
                    self.pending = vec![0x6F, 0x00];
                    Ok(vec![0x61, 0x02])
                }
                0xA4 => {
                    let fid = [apdu[5], apdu[6]];
                    if !self.files.iter().any(|(f, _)| *f == fid) {
                        return Ok(vec![0x6A, 0x82]);
                    }
                    self.selected = Some(fid);
                    ok(Vec::new())
                }
                0xC0 => ok(std::mem::take(&mut self.pending)),
                0xB0 => {
                    let fid = self.selected.expect("an EF is selected");
                    let data = &self.files.iter().find(|(f, _)| *f == fid).unwrap().1;
                    let offset = usize::from(apdu[2]) << 8 | usize::from(apdu[3]);
                    let le = if apdu[4] == 0 {
                        256
                    } else {
                        usize::from(apdu[4])
                    };
                    let left = data.len().saturating_sub(offset);
                    if offset >= data.len() {
                        Ok(vec![0x6B, 0x00])
                    } else if left < le {
                        Ok(vec![0x6C, left as u8])
                    } else {
                        ok(data[offset..offset + le].to_vec())
                    }
                }
                _ => Ok(vec![0x6D, 0x00]),
            }
        }
    }

    fn directory(files: &[(&[u8; 8], [u8; 2])]) -> Vec<u8> {
        let app = tlv(
            0x82,
            &[[0x00, 0x02, 0x00, 0x00].as_slice(), AID_VITALE].concat(),
        );
        let mut root = tlv(0xA0, &app);
        for (name, fid) in files {
            root.extend(tlv(0x80, &[name.as_slice(), &[0x00, 0x02], fid].concat()));
        }
        tlv(0xE0, &root)
    }

    #[test]
    fn reads_across_files_with_t0_follow_ups() {
        // Padded to exactly 512 bytes: two full chunks, then 6B00.
        let mut benef = [
            beneficiary("UN", "2800175123456"),
            beneficiary("DEUX", "1150675123457"),
        ]
        .concat();
        benef.resize(512, 0xFF);
        let card = tlv(0x66, &tlv(0x80, b"20240115"));
        let other = [tlv(0x66, b""), beneficiary("TROIS", "2800175123456")].concat();
        let mut fake = FakeCard::new(vec![
            (
                [0x20, 0x01],
                directory(&[
                    (b"CARTE   ", [0x20, 0x02]),
                    (b"BENEF   ", [0x20, 0x04]),
                    (b"AUTRE   ", [0x20, 0x06]),
                    (b"ABSENT  ", [0x20, 0x08]),
                ]),
            ),
            ([0x20, 0x02], card),
            ([0x20, 0x04], benef),
            ([0x20, 0x06], other),
        ]);
        let list = read_card(&mut fake).unwrap();
        let names: Vec<_> = list.iter().map(|b| b.nom.as_str()).collect();
        assert_eq!(names, ["UN", "DEUX", "TROIS"]);
        // The first SELECT is cardpeek's: 00 A4 04 00 0B <AID> 00, then GET RESPONSE.
        assert_eq!(fake.log[0][..5], [0x00, 0xA4, 0x04, 0x00, 0x0B]);
        assert_eq!(fake.log[1], [0x00, 0xC0, 0x00, 0x00, 0x02]);
        assert!(fake.log.contains(&vec![0x00, 0xB0, 0x02, 0x00, 0x00]));
    }

    #[test]
    fn another_card_is_not_a_vitale() {
        let mut fake = FakeCard::new(Vec::new());
        fake.vitale = false;
        assert!(matches!(read_card(&mut fake), Err(CardError::PasUneVitale)));
    }

    #[test]
    fn truncated_beneficiary_file_is_an_error() {
        let benef = beneficiary("UN", "2800175123456");
        let cut = benef[..benef.len() - 3].to_vec();
        let mut fake = FakeCard::new(vec![
            ([0x20, 0x01], directory(&[(b"BENEF   ", [0x20, 0x04])])),
            ([0x20, 0x04], cut),
        ]);
        let err = read_card(&mut fake).unwrap_err();
        assert!(
            matches!(err, CardError::Donnees(ParseError::Tronque { .. })),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("Carte Vitale illisible : données tronquées")
        );
    }

    #[test]
    fn empty_card_has_no_beneficiary() {
        let mut fake = FakeCard::new(vec![([0x20, 0x01], directory(&[]))]);
        assert!(matches!(
            read_card(&mut fake),
            Err(CardError::AucunBeneficiaire)
        ));
    }
}
