//! The signature document of a deposit (TD2.1): an XML-DSig signature with
//! XAdES 1.1.1 qualifying properties over a manifest naming the submission
//! set and each document by their uniqueId, signed with the structure's SIGN
//! certificate (research/dmp-mss.md §1.5, the DMP package's
//! `TD2.1-SignatureXades.xml`). The DMP requires it in every deposit.
//!
//! Written, like the VIHF, in exclusive canonical form (`c14n`): the manifest
//! and the signed properties are digested as the verifier canonicalises
//! them. A document's reference digests its bytes as sent (no transform).

use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::c14n::Element;
use super::xmldsig::{NS_DS, SignError, Signer};
use crate::connectors::certificate::issuer_and_serial;

pub const NS_XADES: &str = "http://uri.etsi.org/01903/v1.1.1#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// ISO/TS 17090 « source » purpose of a signature (the DMP example).
pub const PURPOSE_SOURCE: &str = "1.2.840.10065.1.12.1.14";

/// The signature document: the submission set's uniqueId and, for each
/// document, its uniqueId and bytes.
pub fn signature_document(
    signer: &Signer,
    id: Uuid,
    at: DateTime<Utc>,
    submission_set: &str,
    documents: &[(&str, &[u8])],
) -> Result<String, SignError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let ns = [("ds", NS_DS), ("xad", NS_XADES)];
    let ds = Element::new("ds:Signature", &ns);
    let signature_id = format!("sig-{id}");
    let digest_method = |tag: &str| ds.child(tag).attr("Algorithm", SHA256);

    // The manifest: the submission set (no content to digest: « AA== » as
    // in the DMP example) and each document.
    let mut manifest = ds.child("ds:Manifest").attr("Id", "IHEManifest").push(
        ds.child("ds:Reference")
            .attr("URI", &format!("urn:oid:{submission_set}"))
            .push(digest_method("ds:DigestMethod"))
            .push(ds.child("ds:DigestValue").text("AA==")),
    );
    for (unique_id, bytes) in documents {
        manifest = manifest.push(
            ds.child("ds:Reference")
                .attr("URI", &format!("urn:oid:{unique_id}"))
                .push(digest_method("ds:DigestMethod"))
                .push(
                    ds.child("ds:DigestValue")
                        .text(&b64.encode(Sha256::digest(bytes))),
                ),
        );
    }

    let (issuer, serial) = issuer_and_serial(signer.certificate()).map_err(SignError::Sign)?;
    let signed_properties =
        ds.child("xad:SignedProperties")
            .attr("Id", "S0-SignedProperties")
            .push(
                ds.child("xad:SignedSignatureProperties")
                    .push(
                        ds.child("xad:SigningTime")
                            .text(&at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                    )
                    .push(
                        ds.child("xad:SigningCertificate").push(
                            ds.child("xad:Cert")
                                .push(
                                    ds.child("xad:CertDigest")
                                        .push(digest_method("xad:DigestMethod"))
                                        .push(ds.child("xad:DigestValue").text(
                                            &b64.encode(Sha256::digest(signer.certificate())),
                                        )),
                                )
                                .push(
                                    ds.child("xad:IssuerSerial")
                                        .push(ds.child("ds:X509IssuerName").text(&issuer))
                                        .push(ds.child("ds:X509SerialNumber").text(&serial)),
                                ),
                        ),
                    )
                    .push(
                        ds.child("xad:SignaturePolicyIdentifier")
                            .push(ds.child("xad:SignaturePolicyImplied")),
                    ),
            );

    let reference = |uri: &str, kind: &str, target: &Element| {
        ds.child("ds:Reference")
            .attr("Type", kind)
            .attr("URI", uri)
            .push(
                ds.child("ds:Transforms")
                    .push(ds.child("ds:Transform").attr("Algorithm", EXC_C14N)),
            )
            .push(digest_method("ds:DigestMethod"))
            .push(
                ds.child("ds:DigestValue")
                    .text(&b64.encode(Sha256::digest(target.canonical().as_bytes()))),
            )
    };
    let signed_info = ds
        .child("ds:SignedInfo")
        .push(
            ds.child("ds:CanonicalizationMethod")
                .attr("Algorithm", EXC_C14N),
        )
        .push(ds.child("ds:SignatureMethod").attr(
            "Algorithm",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        ))
        .push(reference(
            "#IHEManifest",
            "http://www.w3.org/2000/09/xmldsig#Manifest",
            &manifest,
        ))
        .push(reference(
            "#S0-SignedProperties",
            "http://uri.etsi.org/01903/v1.1.1#SignedProperties",
            &signed_properties,
        ));
    let value = signer.sign_bytes(signed_info.canonical().as_bytes())?;
    let document = ds
        .clone()
        .attr("Id", &signature_id)
        .push(signed_info)
        .push(ds.child("ds:SignatureValue").text(&b64.encode(value)))
        .push(
            ds.child("ds:KeyInfo").push(
                ds.child("ds:X509Data").push(
                    ds.child("ds:X509Certificate")
                        .text(&b64.encode(signer.certificate())),
                ),
            ),
        )
        .push(ds.child("ds:Object").push(manifest))
        .push(
            ds.child("ds:Object").push(
                ds.child("ds:SignatureProperties").push(
                    ds.child("ds:SignatureProperty")
                        .attr("Id", "purposeOfSignature")
                        .attr("Target", &format!("#{signature_id}"))
                        .text(PURPOSE_SOURCE),
                ),
            ),
        )
        .push(
            ds.child("ds:Object").push(
                ds.child("xad:QualifyingProperties")
                    .attr("Target", &format!("#{signature_id}"))
                    .push(signed_properties),
            ),
        );
    Ok(document.canonical())
}
