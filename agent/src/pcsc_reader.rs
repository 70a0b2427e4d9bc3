//! The PC/SC side of the card reader (feature `pcsc`): pcscd on Linux.

use std::ffi::CStr;
use std::time::Duration;

use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};

use crate::card::{CardError, CardReader, Transport, read_card};
use crate::vitale::Beneficiary;

/// How long a failed read waits for pcscd to notice a removed card.
const REMOVAL_GRACE: Duration = Duration::from_millis(1500);

/// Reads the card through pcscd, fresh on every call.
#[derive(Debug, Clone, Default)]
pub struct PcscReader {
    /// Exact PC/SC reader name; `None`: every reader, in pcscd's order, until
    /// one holds a Carte Vitale (dual-slot readers also hold the CPS card).
    pub reader: Option<String>,
}

impl CardReader for PcscReader {
    fn read_beneficiaries(&self) -> Result<Vec<Beneficiary>, CardError> {
        let ctx = Context::establish(Scope::User).map_err(service_error)?;
        let readers = match ctx.list_readers_owned() {
            Ok(readers) => readers,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => return Err(service_error(e)),
        };
        if readers.is_empty() {
            return Err(CardError::AucunLecteur);
        }
        let candidates: Vec<&CStr> = match &self.reader {
            Some(wanted) => {
                let found = readers
                    .iter()
                    .find(|r| r.to_bytes() == wanted.as_bytes())
                    .ok_or_else(|| CardError::LecteurIntrouvable(wanted.clone()))?;
                vec![found.as_c_str()]
            }
            None => readers.iter().map(|r| r.as_c_str()).collect(),
        };
        // A reader without a card, with another card or busy does not hide a
        // Carte Vitale in the next one; the most telling error is kept.
        let mut error = CardError::AucuneCarte;
        for name in candidates {
            match read_reader(&ctx, name) {
                Ok(list) => return Ok(list),
                Err(CardError::AucuneCarte) => {}
                Err(
                    e @ (CardError::PasUneVitale
                    | CardError::CarteMuette
                    | CardError::LecteurOccupe),
                ) => error = e,
                Err(e) => return Err(e),
            }
        }
        Err(error)
    }
}

fn read_reader(ctx: &Context, name: &CStr) -> Result<Vec<Beneficiary>, CardError> {
    let mut card = ctx
        .connect(name, ShareMode::Shared, Protocols::ANY)
        .map_err(connect_error)?;
    tracing::debug!(lecteur = %name.to_string_lossy(), "carte présente");
    let result = match read_in_transaction(&mut card) {
        // pcscd notices a removal by polling: a card pulled out just before
        // or during the read first shows up as a failed transmit.
        Err(CardError::Communication(e)) if card_left(ctx, name) => {
            tracing::debug!(erreur = ?e, "carte retirée pendant la lecture");
            Err(CardError::CarteRetiree)
        }
        result => result,
    };
    // Dropping a `pcsc::Card` resets the card, which would break the session
    // of any other application sharing it (billing software): leave it as is.
    if let Err((_, e)) = card.disconnect(Disposition::LeaveCard) {
        tracing::debug!(erreur = ?e, "déconnexion de la carte");
    }
    result
}

/// The transaction keeps other PC/SC clients off the card between our
/// SELECTs and READ BINARYs; it ends (card left as is) when dropped.
fn read_in_transaction(card: &mut pcsc::Card) -> Result<Vec<Beneficiary>, CardError> {
    let tx = card.transaction().map_err(transmit_error)?;
    read_card(&mut PcscTransport(&tx))
}

/// Waits up to [`REMOVAL_GRACE`] for the reader to report its slot empty.
fn card_left(ctx: &Context, name: &CStr) -> bool {
    let mut states = [pcsc::ReaderState::new(name, pcsc::State::PRESENT)];
    let _ = ctx.get_status_change(REMOVAL_GRACE, &mut states);
    states[0].event_state().contains(pcsc::State::EMPTY)
}

struct PcscTransport<'a>(&'a pcsc::Card);

impl Transport for PcscTransport<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];
        self.0
            .transmit(apdu, &mut buf)
            .map(<[u8]>::to_vec)
            .map_err(transmit_error)
    }
}

fn service_error(e: pcsc::Error) -> CardError {
    match e {
        pcsc::Error::NoReadersAvailable => CardError::AucunLecteur,
        e => CardError::ServiceIndisponible(format!("{e:?}")),
    }
}

fn connect_error(e: pcsc::Error) -> CardError {
    use pcsc::Error as E;
    match e {
        E::NoSmartcard | E::RemovedCard => CardError::AucuneCarte,
        E::UnresponsiveCard | E::UnpoweredCard | E::UnsupportedCard | E::InvalidAtr => {
            CardError::CarteMuette
        }
        E::SharingViolation => CardError::LecteurOccupe,
        // Unplugged between the listing and the connection.
        E::ReaderUnavailable | E::UnknownReader => CardError::AucunLecteur,
        E::NoService | E::ServiceStopped => CardError::ServiceIndisponible(format!("{e:?}")),
        e => CardError::Communication(format!("{e:?}")),
    }
}

fn transmit_error(e: pcsc::Error) -> CardError {
    use pcsc::Error as E;
    match e {
        E::RemovedCard | E::NoSmartcard => CardError::CarteRetiree,
        E::UnresponsiveCard | E::UnpoweredCard => CardError::CarteMuette,
        E::SharingViolation => CardError::LecteurOccupe,
        E::NoService | E::ServiceStopped => CardError::ServiceIndisponible(format!("{e:?}")),
        e => CardError::Communication(format!("{e:?}")),
    }
}
