//! The DMP (Mon espace santé) client (issue 13, in progress): the VIHF
//! assertion every call carries, signed with the structure's SIGN
//! certificate, written in canonical form (`c14n`) and signed (`xmldsig`);
//! the XDS metadata of a deposit (`xds`). The SOAP transactions, MTOM, the
//! XAdES signature of the submission set and the sandbox come next.

pub mod c14n;
pub mod vihf;
pub mod xds;
pub mod xmldsig;
