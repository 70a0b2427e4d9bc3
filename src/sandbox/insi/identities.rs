//! Test identities the sandbox answers from: facts of
//! `shared/spec/ins/insi/test_identities.csv` (INSi qualification identities
//! and CNDA cases, keys as published) turned into Rust. Where the CSV has no
//! INS, a plausible one with a valid key (97 − n mod 97) is invented and
//! marked so.

/// How `TIQ` carries the first names in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TiqFirstNames {
    /// `ListePrenom` only (most qualification answers).
    List,
    /// `Prenom` only (DMP LPS package example, PATB-QUATRE LAURENCE).
    PrenomOnly,
    /// `Prenom` (first one) then `ListePrenom` (CNDA 2.05, 2.08 files).
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub number: &'static str,
    pub key: &'static str,
    pub oid: &'static str,
    pub start: Option<&'static str>,
    pub end: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestIdentity {
    pub case: &'static str,
    pub birth_name: &'static str,
    /// Returned `ListePrenom` (space separated).
    pub first_names: &'static str,
    pub sex: &'static str,
    pub birth_date: &'static str,
    pub birth_place: &'static str,
    pub number: &'static str,
    pub key: &'static str,
    pub oid: &'static str,
    pub history: &'static [HistoryEntry],
    pub tiq: TiqFirstNames,
    /// Writes `DateDeb`/`DateFin` before `IdIndividu` in `INSHISTO`, like the
    /// CNDA 2.04 cas 2 file (violates the XSD order on purpose).
    pub history_dates_first: bool,
}

/// INS-NIR OID returned by the qualification service (ins_oids.csv).
pub const OID_NIR: &str = "1.2.250.1.213.1.4.8";
/// INS-NIA OID (CNDA 1.10 / 2.05).
pub const OID_NIA: &str = "1.2.250.1.213.1.4.9";

/// `traits` = birth name, first-name list, sex, birth date, birthplace;
/// `ins` = matricule (13) and key, as published.
const fn id(
    case: &'static str,
    traits: [&'static str; 5],
    ins: (&'static str, &'static str),
) -> TestIdentity {
    let [birth_name, first_names, sex, birth_date, birth_place] = traits;
    TestIdentity {
        case,
        birth_name,
        first_names,
        sex,
        birth_date,
        birth_place,
        number: ins.0,
        key: ins.1,
        oid: OID_NIR,
        history: &[],
        tiq: TiqFirstNames::List,
        history_dates_first: false,
    }
}

pub static IDENTITIES: &[TestIdentity] = &[
    // padoa README + AdrunZoeVirtualMode.ts
    id(
        "ADRUN-ZOE",
        ["ADRUN", "ZOE", "F", "1975-12-31", "63220"],
        ("2751263220749", "74"),
    ),
    // GIE C# TLSi kit sample: key 40 (an ABAK fixture says 42, which does not verify)
    id(
        "ADRDEUX-LAURENT",
        ["ADRDEUX", "LAURENT", "M", "1981-01-01", "75056"],
        ("1810163220751", "40"),
    ),
    // padoa adrtrois-dominique.fixture.ts — Corsica 2A
    id(
        "ADRTROIS-DOMINIQUE",
        ["ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "2A020"],
        ("297022A020778", "78"),
    ),
    // CNDA 2.03 cas 2 — Corsica 2B
    id(
        "ADRTROIS-TOUSSAINT",
        ["ADRTROIS", "TOUSSAINT", "M", "1960-01-01", "2B020"],
        ("160012B020777", "13"),
    ),
    // CNDA 2.03 cas 1 (lexical: apostrophes, spaces, hyphen). INVENTED INS
    // (not published): 1010663220512, key 11 computed.
    id(
        "DARTAGNAN-PIERRE-ALAIN",
        [
            "D'ARTAGNAN DE L'HERAULT",
            "PIERRE-ALAIN",
            "M",
            "2001-06-17",
            "63220",
        ],
        ("1010663220512", "11"),
    ),
    // CNDA 2.04 cas 2 (overridden response, padoa TEST_2.04_cas2.xml): two
    // INSHISTO, the first with DateDeb > DateFin, dates before IdIndividu.
    TestIdentity {
        history: &[
            HistoryEntry {
                number: "2090763220834",
                key: "39",
                oid: OID_NIR,
                start: Some("2019-03-01"),
                end: Some("2019-02-28"),
            },
            HistoryEntry {
                number: "2090663220123",
                key: "55",
                oid: OID_NIR,
                start: None,
                end: None,
            },
        ],
        history_dates_first: true,
        ..id(
            "ECETINSI-PIERRE-ALAIN",
            [
                "ECETINSI",
                "PIERRE-ALAIN MURIEL FLORIANT",
                "M",
                "2009-07-14",
                "63220",
            ],
            ("1090763220834", "89"),
        )
    },
    // CNDA 2.05 (padoa TEST_2.05.xml): NIA, OID .9, Prenom + ListePrenom.
    TestIdentity {
        oid: OID_NIA,
        tiq: TiqFirstNames::Both,
        ..id(
            "PROVISOIRE-MATRICULE",
            ["PROVISOIRE", "MATRICULE", "M", "2009-07-01", "63220"],
            ("1090763220888", "35"),
        )
    },
    // CNDA 2.06: two homonyms → 02 without birthplace, 00 with 63220.
    // INVENTED INS for both (none published): 1140263220123 key 87 (born
    // 63220) and 1140275056321 key 23 (born 75056).
    id(
        "DEVINCI-LEONARDO-COG",
        ["DE VINCI", "LEONARDO", "M", "2014-02-01", "63220"],
        ("1140263220123", "87"),
    ),
    id(
        "DEVINCI-LEONARDO-HOMONYME",
        ["DE VINCI", "LEONARDO", "M", "2014-02-01", "75056"],
        ("1140275056321", "23"),
    ),
    // CNDA 2.07 cas 1 (padoa tchitchi-ola-catarina.fixture.ts): OLA is not in
    // the list → 01; CATARINA → 00 with "CATARINA BELLA".
    id(
        "TCHITCHI-CATARINA",
        ["TCHITCHI", "CATARINA BELLA", "F", "1936-06-21", "63220"],
        ("2360663220836", "56"),
    ),
    // CNDA 2.07 cas 2: HOUILLES PIERRE PAUL JACQUES is deliberately absent
    // (always 01).
    // CNDA 2.08 cas 1 (padoa TEST_2.08_cas1.xml): INSHISTO repeats the active INS.
    TestIdentity {
        history: &[HistoryEntry {
            number: "180032B020401",
            key: "23",
            oid: OID_NIR,
            start: None,
            end: None,
        }],
        tiq: TiqFirstNames::Both,
        ..id(
            "CORSE-ANTHONY",
            ["CORSE", "ANTHONY", "M", "1980-03-02", "2B020"],
            ("180032B020401", "23"),
        )
    },
    // CNDA 2.08 cas 2 (padoa TEST_2.08_cas2.xml): keys as in the CNDA file,
    // which do NOT verify (computed 76 and 26) — answered as published.
    TestIdentity {
        history: &[
            HistoryEntry {
                number: "1810363220456",
                key: "60",
                oid: OID_NIR,
                start: None,
                end: None,
            },
            HistoryEntry {
                number: "2810363220456",
                key: "10",
                oid: OID_NIR,
                start: None,
                end: None,
            },
        ],
        tiq: TiqFirstNames::Both,
        ..id(
            "HERMANN-GATIEN",
            ["HERMANN", "GATIEN", "M", "1981-03-24", "63220"],
            ("1810363220456", "60"),
        )
    },
    // padoa NessiMichelangeloVirtualMode.ts
    id(
        "NESSI-MICHELANGELO",
        ["NESSI", "MICHELANGELO ANTHONY", "M", "2010-08-07", "63220"],
        ("1100863220830", "60"),
    ),
    // CNDA 3.05 cas 3 (SAPA TEST_3.05_cas3.xml)
    id(
        "NESSI-NATHALIE",
        ["NESSI", "NATHALIE", "F", "1977-07-14", "63220"],
        ("2770763220829", "10"),
    ),
    // DMP LPS package example: TIQ carries Prenom, not ListePrenom.
    TestIdentity {
        tiq: TiqFirstNames::PrenomOnly,
        ..id(
            "PATB-QUATRE-LAURENCE",
            ["PATB-QUATRE", "LAURENCE", "F", "1907-05-25", "85756"],
            ("2070585756270", "97"),
        )
    },
];

/// What the sandbox received, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTraits {
    pub birth_name: String,
    /// Every `Prenom` element (each may hold several space-separated names).
    pub first_names: Vec<String>,
    pub sex: String,
    pub birth_date: String,
    pub birth_place: Option<String>,
}

/// A `RECVITALE` request, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentBeneficiary {
    pub nir: Option<String>,
    pub nir_ouvrant_droit: Option<String>,
    pub birth_name: Option<String>,
    pub birth_date: Option<String>,
    pub rank: Option<String>,
}

/// The beneficiary's own NIR designates the identity (date and name, when
/// sent, must agree); without it, the birth name and date among the test
/// identities (a child on a parent's card).
pub fn lookup_vitale(sent: &SentBeneficiary) -> Lookup {
    let agrees = |i: &&TestIdentity| {
        sent.birth_date.as_deref().is_none_or(|d| d == i.birth_date)
            && sent.birth_name.as_deref().is_none_or(|n| n == i.birth_name)
    };
    let mut found: Box<dyn Iterator<Item = &'static TestIdentity>> = match &sent.nir {
        Some(nir) => Box::new(
            IDENTITIES
                .iter()
                .filter(move |i| i.number == nir)
                .filter(agrees),
        ),
        None => Box::new(
            IDENTITIES
                .iter()
                .filter(|i| sent.birth_name.as_deref() == Some(i.birth_name))
                .filter(agrees),
        ),
    };
    match (found.next(), found.next()) {
        (None, _) => Lookup::None,
        (Some(one), None) => Lookup::One(one),
        (Some(_), Some(_)) => Lookup::Several,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    None,
    One(&'static TestIdentity),
    Several,
}

/// Birth name, sex and birth date equal; every sent first-name word is in the
/// identity's first-name list; birthplace, when sent, equal.
pub fn lookup(sent: &SentTraits) -> Lookup {
    let mut found = IDENTITIES.iter().filter(|i| matches(i, sent));
    match (found.next(), found.next()) {
        (None, _) => Lookup::None,
        (Some(one), None) => Lookup::One(one),
        (Some(_), Some(_)) => Lookup::Several,
    }
}

fn matches(identity: &TestIdentity, sent: &SentTraits) -> bool {
    let list: Vec<&str> = identity.first_names.split(' ').collect();
    identity.birth_name == sent.birth_name
        && identity.sex == sent.sex
        && identity.birth_date == sent.birth_date
        && sent
            .birth_place
            .as_deref()
            .is_none_or(|p| p == identity.birth_place)
        && sent
            .first_names
            .iter()
            .flat_map(|p| p.split(' '))
            .all(|word| list.contains(&word))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIR/NIA key: 97 − (n mod 97), 2A → 19, 2B → 18 (ins.md §2).
    fn key(number: &str) -> String {
        let digits = number.replace("2A", "19").replace("2B", "18");
        let n: u64 = digits.parse().unwrap();
        format!("{:02}", 97 - n % 97)
    }

    #[test]
    fn every_key_verifies_except_the_cnda_hermann_file() {
        for i in IDENTITIES {
            if i.case == "HERMANN-GATIEN" {
                assert_ne!(key(i.number), i.key);
                continue;
            }
            assert_eq!(key(i.number), i.key, "{}", i.case);
        }
    }

    #[test]
    fn de_vinci_needs_the_birthplace() {
        let mut s = SentTraits {
            birth_name: "DE VINCI".into(),
            first_names: vec!["LEONARDO".into()],
            sex: "M".into(),
            birth_date: "2014-02-01".into(),
            birth_place: None,
        };
        assert_eq!(lookup(&s), Lookup::Several);
        s.birth_place = Some("63220".into());
        assert!(matches!(lookup(&s), Lookup::One(i) if i.number == "1140263220123"));
    }
}
