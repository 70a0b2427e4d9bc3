//! XML the sandbox answers: `RESULTAT` (XSD `INSi_RESULTAT_INS.xsd`, shaped
//! like the CNDA files: `soap:Envelope` / `S:Body`, default namespace on
//! `RESULTAT`) and SOAP 1.2 faults shaped like the real
//! `fault_siram_100_desir_550_idam_inconnu.xml`.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::identities::{HistoryEntry, TestIdentity, TiqFirstNames};
use crate::connectors::insi::{NS_RESULTAT, NS_SIRAM, NS_SOAP12};

type W = Writer<Vec<u8>>;
type R = std::io::Result<()>;

fn start(w: &mut W, name: &str) -> R {
    w.write_event(Event::Start(BytesStart::new(name)))
}
fn end(w: &mut W, name: &str) -> R {
    w.write_event(Event::End(BytesEnd::new(name)))
}
fn leaf(w: &mut W, name: &str, text: &str) -> R {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

fn document(body: impl FnOnce(&mut W) -> R) -> String {
    let mut w = Writer::new(Vec::new());
    let r = (|| -> R {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.write_event(Event::Start(
            BytesStart::new("soap:Envelope").with_attributes([("xmlns:soap", NS_SOAP12)]),
        ))?;
        w.write_event(Event::Start(
            BytesStart::new("S:Body").with_attributes([("xmlns:S", NS_SOAP12)]),
        ))?;
        body(&mut w)?;
        end(&mut w, "S:Body")?;
        end(&mut w, "soap:Envelope")
    })();
    r.expect("écriture XML en mémoire");
    String::from_utf8(w.into_inner()).expect("UTF-8")
}

/// `CR` only (01, 02).
pub fn resultat_without_individu(code: &str, label: &str) -> String {
    document(|w| {
        w.write_event(Event::Start(
            BytesStart::new("RESULTAT").with_attributes([("xmlns", NS_RESULTAT)]),
        ))?;
        cr(w, code, label)?;
        end(w, "RESULTAT")
    })
}

fn cr(w: &mut W, code: &str, label: &str) -> R {
    start(w, "CR")?;
    leaf(w, "CodeCR", code)?;
    leaf(w, "LibelleCR", label)?;
    end(w, "CR")
}

/// 00 with `INDIVIDU`.
pub fn resultat_found(i: &TestIdentity) -> String {
    document(|w| {
        w.write_event(Event::Start(
            BytesStart::new("RESULTAT").with_attributes([("xmlns", NS_RESULTAT)]),
        ))?;
        cr(w, "00", "OK")?;
        start(w, "INDIVIDU")?;
        start(w, "INSACTIF")?;
        id_individu(w, i.number, i.key)?;
        leaf(w, "OID", i.oid)?;
        end(w, "INSACTIF")?;
        for h in i.history {
            histo(w, h, i.history_dates_first)?;
        }
        start(w, "TIQ")?;
        leaf(w, "NomNaissance", i.birth_name)?;
        let first = i.first_names.split(' ').next().unwrap_or_default();
        match i.tiq {
            TiqFirstNames::List => leaf(w, "ListePrenom", i.first_names)?,
            TiqFirstNames::PrenomOnly => leaf(w, "Prenom", first)?,
            TiqFirstNames::Both => {
                leaf(w, "Prenom", first)?;
                leaf(w, "ListePrenom", i.first_names)?;
            }
        }
        leaf(w, "Sexe", i.sex)?;
        leaf(w, "DateNaissance", i.birth_date)?;
        leaf(w, "LieuNaissance", i.birth_place)?;
        end(w, "TIQ")?;
        end(w, "INDIVIDU")?;
        end(w, "RESULTAT")
    })
}

fn id_individu(w: &mut W, number: &str, key: &str) -> R {
    start(w, "IdIndividu")?;
    leaf(w, "NumIdentifiant", number)?;
    leaf(w, "Cle", key)?;
    end(w, "IdIndividu")
}

fn histo(w: &mut W, h: &HistoryEntry, dates_first: bool) -> R {
    start(w, "INSHISTO")?;
    let dates = |w: &mut W| -> R {
        if let Some(d) = h.start {
            leaf(w, "DateDeb", d)?;
        }
        if let Some(d) = h.end {
            leaf(w, "DateFin", d)?;
        }
        Ok(())
    };
    if dates_first {
        dates(w)?;
    }
    id_individu(w, h.number, h.key)?;
    leaf(w, "OID", h.oid)?;
    if !dates_first {
        dates(w)?;
    }
    end(w, "INSHISTO")
}

/// A SOAP 1.2 fault. `code` is `Sender`, `Receiver`, `VersionMismatch` or
/// `MustUnderstand`; `detail` = (`siram:Erreur@code`, `@severite`, text).
pub fn fault(
    code: &str,
    subcode: Option<&str>,
    reason: &str,
    detail: Option<(&str, &str, &str)>,
    message_id: Option<&str>,
) -> String {
    document(|w| {
        start(w, "soap:Fault")?;
        start(w, "soap:Code")?;
        leaf(w, "soap:Value", &format!("soap:{code}"))?;
        if let Some(sub) = subcode {
            start(w, "soap:Subcode")?;
            leaf(w, "soap:Value", &format!("soap:{sub}"))?;
            end(w, "soap:Subcode")?;
        }
        end(w, "soap:Code")?;
        start(w, "soap:Reason")?;
        w.write_event(Event::Start(
            BytesStart::new("soap:Text").with_attributes([("xml:lang", "fr")]),
        ))?;
        w.write_event(Event::Text(BytesText::new(reason)))?;
        end(w, "soap:Text")?;
        end(w, "soap:Reason")?;
        if let Some((err_code, severity, text)) = detail {
            start(w, "soap:Detail")?;
            let mut erreur = BytesStart::new("siram:Erreur");
            erreur.push_attribute(("code", err_code));
            if let Some(mid) = message_id {
                erreur.push_attribute(("messageID", mid));
            }
            erreur.push_attribute(("severite", severity));
            erreur.push_attribute(("xmlns:siram", NS_SIRAM));
            w.write_event(Event::Start(erreur))?;
            w.write_event(Event::Text(BytesText::new(text)))?;
            end(w, "siram:Erreur")?;
            end(w, "soap:Detail")?;
        }
        end(w, "soap:Fault")
    })
}
