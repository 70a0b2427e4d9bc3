//! Request envelope of `rechercherInsAvecTraitsIdentite` (WSDL
//! `DESIR_ICIR_EXP_1.5.0.wsdl`, SOAP 1.2 document/literal), mTLS mode: headers
//! `ContexteBAM`, `ContexteLPS`, `wsa:Action`, `wsa:MessageID`; no `wsse:Security`
//! (research ins.md §1.2, §1.4). Written with quick-xml, which escapes text and
//! attribute values.

use chrono::{DateTime, NaiveDate, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use uuid::Uuid;

use super::{
    ACTION_TRAITS, ACTION_VITALE, CTXBAM_VERSION, CTXLPS_VERSION, NS_CTXBAM, NS_CTXLPS, NS_RECSANS,
    NS_RECVIT, NS_SOAP12, NS_WSA,
};

/// What the software says about itself in `ContexteLPS` / `ContexteBAM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LpsContext {
    /// CNDA authorisation number of the software (`LPS/IDAM R="4"`).
    pub idam: String,
    /// `LPS/Nom` is written `urn:lps:<software_name>:<software_version>` (padoa `lps.class.ts`).
    pub software_name: String,
    /// `LPS/Version`.
    pub software_version: String,
    /// `LPS/Instance`: UUID of this installation.
    pub instance: Uuid,
    /// `Emetteur`: in mTLS mode, the OU of the client certificate (padoa `emitter.helper.ts`).
    pub emitter: String,
}

/// One traits search (`RECSANSVITALE`, XSD `INSi_RECSANS_INS.xsd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraitsQuery {
    pub birth_name: String,
    /// One `Prenom` element; may hold several names separated by spaces
    /// (the "liste des prénoms" step of the strategy).
    pub first_name: String,
    /// `"F"` or `"M"`.
    pub sex: String,
    /// Written `AAAA-MM-JJ`.
    pub birth_date: NaiveDate,
    /// COG of the birthplace.
    pub birth_place: Option<String>,
}

/// `xs:dateTime` in UTC with milliseconds, as in the illustrative request.
pub fn format_time(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The whole SOAP 1.2 envelope. Deterministic: same inputs, same bytes.
/// The `ContexteBAM/Id` and `ContexteLPS/Id` reuse `message_id` (they are
/// free identifiers, XSD `IdentiteString`), so one UUID ties the three headers
/// to the traced exchange.
pub fn rechercher_traits(
    ctx: &LpsContext,
    q: &TraitsQuery,
    message_id: Uuid,
    now: DateTime<Utc>,
) -> String {
    envelope(
        ctx,
        ACTION_TRAITS,
        ("xmlns:ins", NS_RECSANS),
        message_id,
        now,
        |w| {
            // Body RECSANSVITALE, in XSD sequence order: NomNaissance, Prenom,
            // Sexe, DateNaissance, LieuNaissance (XSD `INSi_RECSANS_INS.xsd`).
            start(w, "ins:RECSANSVITALE")?;
            leaf(w, "ins:NomNaissance", &q.birth_name)?;
            leaf(w, "ins:Prenom", &q.first_name)?;
            leaf(w, "ins:Sexe", &q.sex)?;
            leaf(
                w,
                "ins:DateNaissance",
                &q.birth_date.format("%Y-%m-%d").to_string(),
            )?;
            if let Some(place) = &q.birth_place {
                leaf(w, "ins:LieuNaissance", place)?;
            }
            end(w, "ins:RECSANSVITALE")
        },
    )
}

/// One Carte Vitale search (`RECVITALE`, XSD `INSi_RECVITALE_INS.xsd`, type
/// `Beneficiaire`): the beneficiary read on the card. The card is a key to
/// query INSi, never a proof of identity (RNIV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VitaleQuery {
    /// NIR of the beneficiary (13 characters) when the card carries one.
    pub nir: Option<String>,
    /// NIR of the « ouvrant droit » (the insured person).
    pub nir_ouvrant_droit: Option<String>,
    pub birth_name: Option<String>,
    /// `AAAA-MM-JJ`, or a lunar date as read (`DateLunaire`).
    pub birth_date: Option<String>,
    pub rank: Option<u8>,
}

/// The `rechercherInsAvecCarteVitale` envelope: same headers as the traits search.
pub fn rechercher_carte_vitale(
    ctx: &LpsContext,
    q: &VitaleQuery,
    message_id: Uuid,
    now: DateTime<Utc>,
) -> String {
    envelope(
        ctx,
        ACTION_VITALE,
        ("xmlns:ins", NS_RECVIT),
        message_id,
        now,
        |w| {
            // XSD sequence: MatriculeIndividu, MatriculeOD, NomNaissance, DateNaissance, RangNaissance.
            start(w, "ins:RECVITALE")?;
            for (element, nir) in [
                ("ins:MatriculeIndividu", &q.nir),
                ("ins:MatriculeOD", &q.nir_ouvrant_droit),
            ] {
                if let Some(nir) = nir {
                    start(w, element)?;
                    leaf(
                        w,
                        "ins:NumIdentifiant",
                        &nir.chars().take(13).collect::<String>(),
                    )?;
                    end(w, element)?;
                }
            }
            if let Some(name) = &q.birth_name {
                leaf(w, "ins:NomNaissance", name)?;
            }
            if let Some(date) = &q.birth_date {
                leaf(w, "ins:DateNaissance", date)?;
            }
            if let Some(rank) = q.rank {
                leaf(w, "ins:RangNaissance", &rank.to_string())?;
            }
            end(w, "ins:RECVITALE")
        },
    )
}

fn envelope(
    ctx: &LpsContext,
    action: &str,
    body_ns: (&str, &str),
    message_id: Uuid,
    now: DateTime<Utc>,
    body: impl FnOnce(&mut Writer<Vec<u8>>) -> std::io::Result<()>,
) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let time = format_time(now);
    let id = message_id.to_string();
    let r = (|| -> std::io::Result<()> {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let envelope = BytesStart::new("soap:Envelope").with_attributes([
            ("xmlns:soap", NS_SOAP12),
            ("xmlns:wsa", NS_WSA),
            ("xmlns:ctxbam", NS_CTXBAM),
            ("xmlns:ctxlps", NS_CTXLPS),
            body_ns,
        ]);
        w.write_event(Event::Start(envelope))?;
        start(&mut w, "soap:Header")?;

        // ContexteBAM (XSD CTXBAM V01_02): Id, Temps, Emetteur, COUVERTURE
        // (required, empty for the traits search — padoa `bam-context.class.ts`).
        w.write_event(Event::Start(
            BytesStart::new("ctxbam:ContexteBAM").with_attributes([("Version", CTXBAM_VERSION)]),
        ))?;
        leaf(&mut w, "ctxbam:Id", &id)?;
        leaf(&mut w, "ctxbam:Temps", &time)?;
        leaf(&mut w, "ctxbam:Emetteur", &ctx.emitter)?;
        w.write_event(Event::Empty(BytesStart::new("ctxbam:COUVERTURE")))?;
        end(&mut w, "ctxbam:ContexteBAM")?;

        // ContexteLPS (XSD CTXLPS V01_00): Id, Temps, Emetteur, LPS/{IDAM R="4",
        // Version, Instance, Nom} (padoa `lps.class.ts`; DMP LPS package example).
        w.write_event(Event::Start(
            BytesStart::new("ctxlps:ContexteLPS")
                .with_attributes([("Nature", "CTXLPS"), ("Version", CTXLPS_VERSION)]),
        ))?;
        leaf(&mut w, "ctxlps:Id", &id)?;
        leaf(&mut w, "ctxlps:Temps", &time)?;
        leaf(&mut w, "ctxlps:Emetteur", &ctx.emitter)?;
        start(&mut w, "ctxlps:LPS")?;
        w.write_event(Event::Start(
            BytesStart::new("ctxlps:IDAM").with_attributes([("R", "4")]),
        ))?;
        w.write_event(Event::Text(BytesText::new(&ctx.idam)))?;
        end(&mut w, "ctxlps:IDAM")?;
        leaf(&mut w, "ctxlps:Version", &ctx.software_version)?;
        leaf(&mut w, "ctxlps:Instance", &ctx.instance.to_string())?;
        leaf(
            &mut w,
            "ctxlps:Nom",
            &format!("urn:lps:{}:{}", ctx.software_name, ctx.software_version),
        )?;
        end(&mut w, "ctxlps:LPS")?;
        end(&mut w, "ctxlps:ContexteLPS")?;

        // WS-Addressing (WSDL `wsaw:Action`, part `NO1_MessageID`).
        leaf(&mut w, "wsa:Action", action)?;
        leaf(&mut w, "wsa:MessageID", &format!("uuid:{message_id}"))?;
        end(&mut w, "soap:Header")?;

        start(&mut w, "soap:Body")?;
        body(&mut w)?;
        end(&mut w, "soap:Body")?;
        end(&mut w, "soap:Envelope")?;
        Ok(())
    })();
    // Writing into a Vec<u8> cannot fail.
    r.expect("écriture XML en mémoire");
    String::from_utf8(w.into_inner()).expect("quick-xml écrit de l'UTF-8")
}

fn start(w: &mut Writer<Vec<u8>>, name: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))
}

fn end(w: &mut Writer<Vec<u8>>, name: &str) -> std::io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn leaf(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ctx() -> LpsContext {
        LpsContext {
            idam: "IDAM<&>".into(),
            software_name: "escale".into(),
            software_version: "0.1.0".into(),
            instance: Uuid::nil(),
            emitter: "123456789".into(),
        }
    }

    fn query() -> TraitsQuery {
        TraitsQuery {
            birth_name: "D'ARTAGNAN DE L'HERAULT".into(),
            first_name: "PIERRE-ALAIN".into(),
            sex: "M".into(),
            birth_date: NaiveDate::from_ymd_opt(2001, 6, 17).unwrap(),
            birth_place: Some("63220".into()),
        }
    }

    #[test]
    fn deterministic_escaped_and_shaped_like_the_wsdl() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        let id = Uuid::from_u128(0x2a8f4b1e_7c3d_4e5f_9a0b_1c2d3e4f5a6b);
        let a = rechercher_traits(&ctx(), &query(), id, now);
        assert_eq!(a, rechercher_traits(&ctx(), &query(), id, now));
        assert!(a.contains("<ctxlps:IDAM R=\"4\">IDAM&lt;&amp;&gt;</ctxlps:IDAM>"));
        assert!(a.contains("<ctxbam:Temps>2026-11-23T10:00:00.000Z</ctxbam:Temps>"));
        assert!(
            a.contains("<wsa:MessageID>uuid:2a8f4b1e-7c3d-4e5f-9a0b-1c2d3e4f5a6b</wsa:MessageID>")
        );
        assert!(a.contains("<ins:DateNaissance>2001-06-17</ins:DateNaissance>"));
        assert!(a.contains("<ins:LieuNaissance>63220</ins:LieuNaissance>"));
        assert!(!a.contains("Security"));
        // Parsed back, the apostrophes are intact.
        let root = crate::connectors::xml::parse(&a).unwrap();
        let body = root.child("Body").unwrap().child("RECSANSVITALE").unwrap();
        assert!(body.is(NS_RECSANS, "RECSANSVITALE"));
        assert_eq!(
            body.child_text("NomNaissance").unwrap(),
            "D'ARTAGNAN DE L'HERAULT"
        );
    }

    #[test]
    fn birth_place_is_optional() {
        let mut q = query();
        q.birth_place = None;
        let a = rechercher_traits(&ctx(), &q, Uuid::nil(), Utc::now());
        assert!(!a.contains("LieuNaissance"));
    }
}
