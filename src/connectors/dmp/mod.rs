//! The DMP (Mon espace santé) client (issue 13, in progress): the VIHF
//! assertion every call carries, signed with the structure's SIGN
//! certificate, written in canonical form (`c14n`) and signed (`xmldsig`);
//! the XDS metadata of a deposit (`xds`); the SOAP 1.2 envelope and the
//! MTOM/XOP package (`soap`). Sending over mutual TLS, the responses, the
//! XAdES signature of the submission set and the sandbox come next.

pub mod c14n;
pub mod soap;
pub mod vihf;
pub mod xades;
pub mod xds;
pub mod xmldsig;
