//! Client of the CNAM INSi téléservice (`ICIR-v1`, SOAP 1.2 document/literal,
//! WSDL `DESIR_ICIR_EXP_1.5.0.wsdl`), operation `rechercherInsAvecTraitsIdentite`,
//! authenticated by mutual TLS with an IGC-Santé software certificate
//! (CN `INSI-MANU` / `INSI-AUTO`, no `wsse:Security`).
//!
//! - [`envelope`]: builds the request envelope;
//! - [`response`]: parses `RESULTAT` and SOAP faults leniently;
//! - [`certificate`]: reads the CN/OU of a certificate and checks the CN;
//! - [`client`]: the HTTPS client (timeouts, no retries, traceable exchange);
//! - [`strategy`]: the first-names / birthplace search strategy;
//! - [`error`]: typed errors with French messages saying what to fix.

pub mod client;
pub mod envelope;
pub mod error;
pub mod response;
pub mod strategy;

pub use client::{Exchange, InsiClient, InsiClientConfig};
pub use envelope::{
    LpsContext, TraitsQuery, VitaleQuery, rechercher_carte_vitale, rechercher_traits,
};
pub use error::InsiError;
pub use response::{CodeCr, Individu, InsEntry, InsiResponse, ReturnedTraits, parse_response};
pub use strategy::{LocalTraits, StrategyOutcome, StrategyStep, rechercher_avec_strategie};

/// SOAP 1.2 envelope namespace (WSDL: `soap12:binding`).
pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// SOAP 1.1 envelope namespace, refused by the service (WSDL: SOAP 1.2 only).
pub const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Addressing 1.0 (WSDL: `xmlns:wsa`).
pub const NS_WSA: &str = "http://www.w3.org/2005/08/addressing";
/// `ContexteBAM` header (XSD `ROOT_ctxbam_CTXBAM_V01_02.xsd`).
pub const NS_CTXBAM: &str = "urn:siram:bam:ctxbam";
/// `ContexteLPS` header (XSD `ROOT_ctxlps_CTXLPS_V01_00.xsd`).
pub const NS_CTXLPS: &str = "urn:siram:lps:ctxlps";
/// Request body `RECSANSVITALE` (XSD `INSi_RECSANS_INS.xsd`).
pub const NS_RECSANS: &str = "http://www.cnamts.fr/INSiRecSans";
/// Response body `RESULTAT` (XSD `INSi_RESULTAT_INS.xsd`).
pub const NS_RESULTAT: &str = "http://www.cnamts.fr/INSiResultat";
/// Fault detail `siram:Erreur` (XSD `schema_faultSOAP_V01_01.xsd`).
pub const NS_SIRAM: &str = "urn:siram";

/// `wsa:Action` / soapAction of the traits search (WSDL `wsaw:Action`).
pub const ACTION_TRAITS: &str =
    "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite";
/// `wsa:Action` / soapAction of the Carte Vitale search (WSDL `wsaw:Action`).
pub const ACTION_VITALE: &str = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale";
/// Body namespace of `RECVITALE` (XSD `INSi_RECVITALE_INS.xsd`).
pub const NS_RECVIT: &str = "http://www.cnamts.fr/INSiRecVit";
/// `wsa:Action` of its response (WSDL `wsdl:output wsaw:Action`).
pub const ACTION_TRAITS_RESPONSE: &str =
    "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentiteResponse";
/// `ContexteBAM@Version` (XSD CTXBAM V01_02; padoa `bam-context.class.ts`).
pub const CTXBAM_VERSION: &str = "01_02";
/// `ContexteLPS@Version` (XSD CTXLPS V01_00; padoa `lps.class.ts`).
pub const CTXLPS_VERSION: &str = "01_00";
/// The only certificate CNs the mTLS endpoint accepts (padoa README "Notes";
/// otherwise fault `DESIR_560`).
pub const ALLOWED_CNS: [&str; 2] = ["INSI-MANU", "INSI-AUTO"];

/// True for `INSI-MANU` / `INSI-AUTO`, exactly (upper case, hyphen): the mTLS
/// endpoint only accepts IGC-Santé software certificates with that CN (padoa
/// README "Notes"; otherwise fault `DESIR_560`).
pub fn is_allowed_cn(cn: Option<&str>) -> bool {
    cn.is_some_and(|cn| ALLOWED_CNS.contains(&cn))
}
