//! Enveloped XML signatures (XML-DSig 1.0) of what Escale sends to the DMP:
//! the VIHF assertion (and the submission set's XAdES document, later),
//! RSA-SHA256 over the exclusive canonical form, with the signing
//! certificate in `KeyInfo`. The key is the structure's **SIGN** certificate,
//! never its AUTH (TLS) one (research/dmp-mss.md §7.1: a VIHF signed with the
//! TLS key is refused with `DMPInvalidCertificate`).

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::c14n::Element;

pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

#[derive(Debug, Error)]
pub enum SignError {
    #[error("certificat de signature illisible : un fichier PEM « BEGIN CERTIFICATE » est attendu")]
    Certificate,
    #[error("clé de signature illisible : une clé RSA PKCS#8 (« BEGIN PRIVATE KEY ») est attendue")]
    Key,
    #[error("signature impossible : {0}")]
    Sign(String),
}

/// The structure's signing certificate and its RSA key.
pub struct Signer {
    key: RsaKeyPair,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    // Never print a private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Signer, SignError> {
        let cert = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .next()
            .ok_or(SignError::Certificate)?
            .map_err(|_| SignError::Certificate)?;
        let key =
            PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| SignError::Key)?;
        let key = RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()).map_err(|_| SignError::Key)?;
        Ok(Signer {
            key,
            cert_der: cert.to_vec(),
        })
    }

    /// The certificate, DER.
    pub fn certificate(&self) -> &[u8] {
        &self.cert_der
    }

    /// RSA-SHA256 (PKCS#1 v1.5) of these bytes: a canonical SignedInfo.
    pub fn sign_bytes(&self, bytes: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                bytes,
                &mut signature,
            )
            .map_err(|_| SignError::Sign("clé RSA refusée par la bibliothèque".into()))?;
        Ok(signature)
    }

    /// Signs `element` (identified by its `ID` attribute) and puts the
    /// signature at child position `at` (for a SAML assertion: after its
    /// issuer). The digest covers the element without the signature
    /// (enveloped-signature transform, then exclusive canonicalisation).
    pub fn sign_enveloped(&self, element: &mut Element, at: usize) -> Result<(), SignError> {
        let id = element
            .attribute("ID")
            .ok_or_else(|| SignError::Sign("élément sans attribut ID".into()))?
            .to_string();
        let b64 = base64::engine::general_purpose::STANDARD;
        let digest = Sha256::digest(element.canonical().as_bytes());
        let ds = Element::new("ds:Signature", &[("ds", NS_DS)]);
        let signed_info = ds
            .child("ds:SignedInfo")
            .push(
                ds.child("ds:CanonicalizationMethod")
                    .attr("Algorithm", EXC_C14N),
            )
            .push(ds.child("ds:SignatureMethod").attr("Algorithm", RSA_SHA256))
            .push(
                ds.child("ds:Reference")
                    .attr("URI", &format!("#{id}"))
                    .push(
                        ds.child("ds:Transforms")
                            .push(ds.child("ds:Transform").attr("Algorithm", ENVELOPED))
                            .push(ds.child("ds:Transform").attr("Algorithm", EXC_C14N)),
                    )
                    .push(ds.child("ds:DigestMethod").attr("Algorithm", SHA256))
                    .push(ds.child("ds:DigestValue").text(&b64.encode(digest))),
            );
        // SignedInfo canonicalised as the root of its own subtree (its ds
        // namespace declared on it), as a verifier canonicalises it.
        let signature = self.sign_bytes(signed_info.canonical().as_bytes())?;
        let signature = ds
            .clone()
            .push(signed_info)
            .push(ds.child("ds:SignatureValue").text(&b64.encode(&signature)))
            .push(
                ds.child("ds:KeyInfo").push(
                    ds.child("ds:X509Data").push(
                        ds.child("ds:X509Certificate")
                            .text(&b64.encode(&self.cert_der)),
                    ),
                ),
            );
        element.insert(at, signature);
        Ok(())
    }
}

/// Verifies the enveloped signature of `signed` (a child `ds:Signature`
/// whose one reference is `#<ID>` of `signed`): the algorithms Escale
/// uses (exclusive c14n, RSA-SHA256, SHA-256), the digest of the element
/// without its signature, the signature of the canonical `SignedInfo` by
/// the key of the certificate in `KeyInfo`. Returns that certificate (DER):
/// whether it may sign is the caller's question.
fn algorithm(e: Option<&Element>) -> &str {
    e.and_then(|e| e.attribute("Algorithm")).unwrap_or("")
}

pub fn verify_enveloped(signed: &Element) -> Result<Vec<u8>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let signature = signed
        .element(NS_DS, "Signature")
        .ok_or("élément non signé (pas de ds:Signature)")?;
    let signed_info = signature
        .element(NS_DS, "SignedInfo")
        .ok_or("ds:SignedInfo absent")?;
    if algorithm(signed_info.element(NS_DS, "CanonicalizationMethod")) != EXC_C14N {
        return Err("canonicalisation autre que exc-c14n".into());
    }
    if algorithm(signed_info.element(NS_DS, "SignatureMethod")) != RSA_SHA256 {
        return Err("algorithme de signature autre que RSA-SHA256".into());
    }
    let references: Vec<&Element> = signed_info
        .elements()
        .filter(|e| e.local_name() == "Reference")
        .collect();
    let [reference] = references.as_slice() else {
        return Err("une seule ds:Reference attendue".into());
    };
    let id = signed
        .attribute("ID")
        .ok_or("élément signé sans attribut ID")?;
    if reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err("la référence ne désigne pas l'élément signé".into());
    }
    let transforms: Vec<&str> = reference
        .element(NS_DS, "Transforms")
        .map(|t| {
            t.elements()
                .map(|e| e.attribute("Algorithm").unwrap_or(""))
                .collect()
        })
        .unwrap_or_default();
    if transforms != [ENVELOPED, EXC_C14N] {
        return Err("transformations attendues : enveloped-signature puis exc-c14n".into());
    }
    if algorithm(reference.element(NS_DS, "DigestMethod")) != SHA256 {
        return Err("empreinte autre que SHA-256".into());
    }
    let expected = b64
        .decode(
            reference
                .element(NS_DS, "DigestValue")
                .map(|d| d.text_content())
                .unwrap_or_default()
                .trim(),
        )
        .map_err(|_| "DigestValue illisible")?;
    let content = signed
        .without(NS_DS, "Signature")
        .ok_or("ds:Signature absent")?;
    if Sha256::digest(content.canonical().as_bytes())[..] != expected[..] {
        return Err("empreinte différente : l'élément a été modifié après signature".into());
    }
    signature_value(signature)
}

/// The `ds:SignatureValue` of `signature` verified (RSA-SHA256) over its
/// canonical `ds:SignedInfo` with the key of the certificate in its
/// `ds:KeyInfo`; that certificate (DER). The references are the caller's.
pub fn signature_value(signature: &Element) -> Result<Vec<u8>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = |local: &str| -> Result<String, String> {
        signature
            .descendant(NS_DS, local)
            .map(|e| e.text_content().split_whitespace().collect())
            .ok_or_else(|| format!("ds:{local} absent"))
    };
    let signed_info = signature
        .element(NS_DS, "SignedInfo")
        .ok_or("ds:SignedInfo absent")?;
    let cert = b64
        .decode(text("X509Certificate")?)
        .map_err(|_| "certificat de ds:KeyInfo illisible")?;
    let value = b64
        .decode(text("SignatureValue")?)
        .map_err(|_| "ds:SignatureValue illisible")?;
    let der = CertificateDer::from(cert.as_slice());
    webpki::EndEntityCert::try_from(&der)
        .map_err(|e| format!("certificat de signature illisible ({e})"))?
        .verify_signature(
            webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            signed_info.canonical().as_bytes(),
            &value,
        )
        .map_err(|_| "signature invalide pour la clé du certificat".to_string())?;
    Ok(cert)
}
