//! What the connectors read of an X.509 certificate: its subject (the INSi
//! connector checks the CN), validity, issuer and serial (XAdES), key usage
//! (the DMP tells a SIGN certificate from an AUTH one).
//!
//! Only these are read, with a minimal DER walker
//! (X.509: RFC 5280 §4.1) instead of a full X.509 crate: it saves ~85 s of
//! cold build (nom, asn1-rs, der-parser, oid-registry, num-bigint…) on the
//! 2-core machines. Signatures and chains are verified by rustls/webpki,
//! never here.

use chrono::{NaiveDateTime, Utc};

/// What the connector needs from a certificate's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSubject {
    pub common_name: Option<String>,
    pub organizational_unit: Option<String>,
    /// `notBefore <= now <= notAfter`.
    pub currently_valid: bool,
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xA0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// id-at-commonName 2.5.4.3 and id-at-organizationalUnitName 2.5.4.11 (RFC 5280 §4.1.2.4).
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_OU: &[u8] = &[0x55, 0x04, 0x0B];

/// One DER TLV: tag, content, rest of the input.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "certificat X.509 illisible (DER tronqué ou invalide)".to_owned();
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), String> {
    let (t, content, rest) = tlv(input)?;
    if t != tag {
        return Err(format!(
            "certificat X.509 illisible (balise DER {t:#04x} au lieu de {tag:#04x})"
        ));
    }
    Ok((content, rest))
}

/// Subject of a DER certificate (as rustls hands peer certificates over).
pub fn subject_from_der(der: &[u8]) -> Result<CertificateSubject, String> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    rest = expect(rest, INTEGER)?.1; // serialNumber
    rest = expect(rest, SEQUENCE)?.1; // signature AlgorithmIdentifier
    rest = expect(rest, SEQUENCE)?.1; // issuer
    let (validity, rest) = expect(rest, SEQUENCE)?;
    let (subject, _) = expect(rest, SEQUENCE)?;
    let (not_before, v) = time(validity)?;
    let (not_after, _) = time(v)?;
    let now = Utc::now().naive_utc();
    Ok(CertificateSubject {
        common_name: attribute(subject, OID_CN)?,
        organizational_unit: attribute(subject, OID_OU)?,
        currently_valid: not_before <= now && now <= not_after,
    })
}

/// The issuer's name (RFC 4514 string, as XML-DSig's `X509IssuerName`
/// writes it) and the serial number in decimal, of a DER certificate.
pub fn issuer_and_serial(der: &[u8]) -> Result<(String, String), String> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    let (serial, rest) = expect(rest, INTEGER)?;
    let rest = expect(rest, SEQUENCE)?.1; // signature AlgorithmIdentifier
    let (issuer, _) = expect(rest, SEQUENCE)?;
    Ok((rfc4514(issuer)?, decimal(serial)))
}

/// The key usages of a certificate that matter here (RFC 5280 §4.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsage {
    pub digital_signature: bool,
    /// `nonRepudiation` (`contentCommitment`): what an IGC-Santé SIGN
    /// certificate carries and an AUTH (TLS) certificate does not.
    pub non_repudiation: bool,
    pub key_encipherment: bool,
}

/// id-ce-keyUsage 2.5.29.15.
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x0F];
const EXTENSIONS: u8 = 0xA3;
const OCTET_STRING: u8 = 0x04;
const BIT_STRING: u8 = 0x03;
const BOOLEAN: u8 = 0x01;

/// The key usage extension of a DER certificate (`None`: no such extension).
pub fn key_usage(der: &[u8]) -> Result<Option<KeyUsage>, String> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    while !rest.is_empty() {
        let (tag, content, next) = tlv(rest)?;
        rest = next;
        if tag != EXTENSIONS {
            continue;
        }
        let (mut extensions, _) = expect(content, SEQUENCE)?;
        while !extensions.is_empty() {
            let (extension, next) = expect(extensions, SEQUENCE)?;
            extensions = next;
            let (oid, mut value) = expect(extension, OID)?;
            if value.first() == Some(&BOOLEAN) {
                value = tlv(value)?.2; // critical
            }
            if oid != OID_KEY_USAGE {
                continue;
            }
            let (octets, _) = expect(value, OCTET_STRING)?;
            let (bits, _) = expect(octets, BIT_STRING)?;
            // First byte: unused bits; then bit 0 = most significant bit.
            let first = bits.get(1).copied().unwrap_or(0);
            return Ok(Some(KeyUsage {
                digital_signature: first & 0x80 != 0,
                non_repudiation: first & 0x40 != 0,
                key_encipherment: first & 0x20 != 0,
            }));
        }
    }
    Ok(None)
}

/// The subject's name (RFC 4514 string) of a DER certificate: the VIHF's
/// `Issuer` in `X509SubjectName` format.
pub fn subject_dn(der: &[u8]) -> Result<String, String> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    rest = expect(rest, INTEGER)?.1;
    rest = expect(rest, SEQUENCE)?.1;
    rest = expect(rest, SEQUENCE)?.1; // issuer
    rest = expect(rest, SEQUENCE)?.1; // validity
    let (subject, _) = expect(rest, SEQUENCE)?;
    rfc4514(subject)
}

/// A `Name` as RFC 4514 writes it: the last RDN first, known types by
/// their short names, others as their dotted OID.
fn rfc4514(mut name: &[u8]) -> Result<String, String> {
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (set, rest) = expect(name, SET)?;
        name = rest;
        let mut set = set;
        let mut parts = Vec::new();
        while !set.is_empty() {
            let (atv, rest) = expect(set, SEQUENCE)?;
            set = rest;
            let (ty, value) = expect(atv, OID)?;
            let (tag, content, _) = tlv(value)?;
            let short = match ty {
                [0x55, 0x04, 0x03] => "CN".to_string(),
                [0x55, 0x04, 0x06] => "C".to_string(),
                [0x55, 0x04, 0x07] => "L".to_string(),
                [0x55, 0x04, 0x08] => "ST".to_string(),
                [0x55, 0x04, 0x0A] => "O".to_string(),
                [0x55, 0x04, 0x0B] => "OU".to_string(),
                other => dotted(other),
            };
            let value = directory_string(tag, content)?;
            parts.push(format!("{short}={}", escape_dn(&value)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

/// RFC 4514 §2.4: `,` `+` `"` `\` `<` `>` `;` escaped, and a leading `#` or
/// space, a trailing space.
fn escape_dn(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An OID's dotted form.
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value = 0u64;
    for (i, b) in oid.iter().enumerate() {
        value = (value << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            if i == 0 || arcs.is_empty() {
                arcs.push((value / 40).min(2));
                arcs.push(value - 40 * (value / 40).min(2));
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A DER INTEGER's big-endian bytes (non-negative, as serial numbers are)
/// in decimal.
fn decimal(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0];
    for &b in bytes {
        // digits (little-endian base 10) = digits * 256 + b
        let mut carry = u32::from(b);
        for d in digits.iter_mut() {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// First value of this attribute type in a `Name` (RDNSequence).
fn attribute(mut name: &[u8], oid: &[u8]) -> Result<Option<String>, String> {
    while !name.is_empty() {
        let (set, rest) = expect(name, SET)?;
        name = rest;
        let mut set = set;
        while !set.is_empty() {
            let (atv, rest) = expect(set, SEQUENCE)?;
            set = rest;
            let (ty, value) = expect(atv, OID)?;
            if ty == oid {
                let (tag, content, _) = tlv(value)?;
                return Ok(Some(directory_string(tag, content)?));
            }
        }
    }
    Ok(None)
}

/// DirectoryString: UTF8String, PrintableString, IA5String, TeletexString
/// (read as Latin-1) or BMPString (UTF-16BE).
fn directory_string(tag: u8, content: &[u8]) -> Result<String, String> {
    match tag {
        0x0C | 0x13 | 0x16 => String::from_utf8(content.to_vec())
            .map_err(|_| "nom du certificat non UTF-8".to_owned()),
        0x14 => Ok(content.iter().map(|b| char::from(*b)).collect()),
        0x1E if content.len().is_multiple_of(2) => {
            let units: Vec<u16> = content
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).map_err(|_| "nom du certificat illisible".to_owned())
        }
        _ => Err(format!(
            "type de chaîne {tag:#04x} inattendu dans le nom du certificat"
        )),
    }
}

/// `Time ::= UTCTime | GeneralizedTime`, both `…Z` in DER (RFC 5280 §4.1.2.5).
fn time(input: &[u8]) -> Result<(NaiveDateTime, &[u8]), String> {
    let (tag, content, rest) = tlv(input)?;
    let text =
        std::str::from_utf8(content).map_err(|_| "date du certificat illisible".to_owned())?;
    let full = match tag {
        // RFC 5280: YY >= 50 → 19YY, else 20YY.
        UTC_TIME if text.len() == 13 => {
            let yy: u32 = text[..2]
                .parse()
                .map_err(|_| "date du certificat illisible".to_owned())?;
            format!("{}{text}", if yy >= 50 { "19" } else { "20" })
        }
        GENERALIZED_TIME if text.len() == 15 => text.to_owned(),
        _ => return Err("date de validité du certificat illisible".to_owned()),
    };
    let parsed = NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%SZ")
        .map_err(|_| "date de validité du certificat illisible".to_owned())?;
    Ok((parsed, rest))
}

/// Subject of the first certificate of a PEM text.
pub fn subject_from_pem(pem: &str) -> Result<CertificateSubject, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| "aucun certificat PEM (« BEGIN CERTIFICATE ») dans le fichier".to_owned())?
        .map_err(|_| "fichier PEM illisible".to_owned())?;
    subject_from_der(&der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_names_and_serials_as_xml_dsig_writes_them() {
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        assert_eq!(
            decimal(&[0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            "18446744073709551615"
        );
        assert_eq!(decimal(&[]), "0");
        assert_eq!(dotted(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(
            dotted(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D]),
            "1.2.840.113549"
        );
        assert_eq!(escape_dn("A, B+C \"d\" "), "A\\, B\\+C \\\"d\\\"\\ ");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CountryName, "FR");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "PKI, DE TEST");
        params
            .distinguished_name
            .push(DnType::CommonName, "TEST AC");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0x02, 0x03]));
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (issuer, serial) = issuer_and_serial(cert.der()).unwrap();
        // rcgen chooses the order of the RDNs; openssl's reading of the same
        // names is compared in tests/it/vihf.rs.
        let mut parts: Vec<&str> = issuer.split(',').collect();
        parts.sort();
        assert_eq!(parts, [" DE TEST", "C=FR", "CN=TEST AC", "O=PKI\\"]);
        assert_eq!(serial, "66051");
    }
    use rcgen::{CertificateParams, DnType, KeyPair};
    use rustls::pki_types::pem::PemObject;

    /// A self-signed certificate with this CN (and OU), as PEM.
    fn certificate(cn: &str, ou: Option<&str>) -> String {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CountryName, "FR");
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(ou) = ou {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, ou);
        }
        params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .pem()
    }

    #[test]
    fn reads_cn_ou_and_validity_of_generated_certificates() {
        let s = subject_from_pem(&certificate("INSI-AUTO", Some("FINESS 750000001"))).unwrap();
        assert_eq!(s.common_name.as_deref(), Some("INSI-AUTO"));
        assert_eq!(s.organizational_unit.as_deref(), Some("FINESS 750000001"));
        assert!(s.currently_valid);
        let ca = subject_from_pem(&certificate("AC de test", None)).unwrap();
        assert_eq!(ca.common_name.as_deref(), Some("AC de test"));
        assert_eq!(ca.organizational_unit, None);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(subject_from_der(&[]).is_err());
        assert!(subject_from_der(&[0x30, 0x82, 0xFF]).is_err());
        assert!(subject_from_der(&[0x30, 0x80, 0x00, 0x00]).is_err());
        assert!(subject_from_pem("pas un PEM").is_err());
        let pem = certificate("AC de test", None);
        let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        for cut in [1, 10, 100, der.len() / 2] {
            assert!(subject_from_der(&der[..cut]).is_err(), "{cut}");
        }
    }

    #[test]
    fn expired_utc_time_is_not_valid() {
        let (t, _) = time(&[
            UTC_TIME, 13, b'2', b'0', b'0', b'1', b'0', b'1', b'0', b'0', b'0', b'0', b'0', b'0',
            b'Z',
        ])
        .unwrap();
        assert_eq!(t.to_string(), "2020-01-01 00:00:00");
        let (t, _) = time(&[
            UTC_TIME, 13, b'7', b'5', b'0', b'1', b'0', b'1', b'0', b'0', b'0', b'0', b'0', b'0',
            b'Z',
        ])
        .unwrap();
        assert_eq!(t.to_string(), "1975-01-01 00:00:00");
    }
}
