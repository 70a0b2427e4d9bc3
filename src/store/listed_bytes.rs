//! A listed file (what a search page shows of it) in a few dozen bytes, as
//! the index in memory keeps it next to its key: the page of a big
//! structure is then read from memory, the database asked only whether the
//! structure was written since (issue 12, BENCHMARKS.md §5). Pure.
//!
//! Layout: one byte (the identity's kind in the high half, its status in
//! the low), one byte of sex, four of date (days from the Common Era) or
//! year, then the names, each as its length (two bytes, little-endian;
//! `u16::MAX` for none) and its UTF-8 bytes.

use chrono::{Datelike, NaiveDate};
use uuid::Uuid;

use crate::domain::identity::IdentityStatus;
use crate::domain::usager::{Identity, Sex};
use crate::store::Listed;

const TRAITS: u8 = 0;
const ANONYMOUS: u8 = 1 << 4;
const NO_SEX: u8 = u8::MAX;
const NONE: u16 = u16::MAX;
const NO_YEAR: i32 = i32::MIN;
const SEXES: [Sex; 3] = [Sex::M, Sex::F, Sex::I];

/// The file's listed columns but its id and key (the index holds them).
pub fn encode(l: &Listed) -> Box<[u8]> {
    let status = IdentityStatus::ALL
        .iter()
        .position(|s| *s == l.status)
        .expect("a status of ALL") as u8;
    let mut out = Vec::with_capacity(48);
    let sex = |s: Option<Sex>| s.and_then(|s| SEXES.iter().position(|x| *x == s));
    match &l.identity {
        Identity::Traits {
            birth_name,
            first_names,
            used_name,
            used_first_name,
            birth_date,
            sex: s,
            birth_place_code,
        } => {
            out.push(TRAITS | status);
            out.push(sex(Some(*s)).map_or(NO_SEX, |i| i as u8));
            out.extend_from_slice(&birth_date.num_days_from_ce().to_le_bytes());
            for name in [
                Some(birth_name),
                Some(first_names),
                used_name.as_ref(),
                used_first_name.as_ref(),
                birth_place_code.as_ref(),
            ] {
                put_text(&mut out, name.map(String::as_str));
            }
        }
        Identity::Anonymous {
            alias,
            sex: s,
            birth_year,
        } => {
            out.push(ANONYMOUS | status);
            out.push(sex(*s).map_or(NO_SEX, |i| i as u8));
            out.extend_from_slice(&birth_year.unwrap_or(NO_YEAR).to_le_bytes());
            put_text(&mut out, Some(alias));
        }
    }
    out.into_boxed_slice()
}

/// The file written by [`encode`]; `None` if the bytes are not such a file
/// (the caller asks the database instead).
pub fn decode(id: Uuid, search_key: &str, bytes: &[u8]) -> Option<Listed> {
    let (&head, rest) = bytes.split_first()?;
    let status = *IdentityStatus::ALL.get(usize::from(head & 0x0f))?;
    let (&sex, rest) = rest.split_first()?;
    let sex = SEXES.get(usize::from(sex)).copied();
    let (number, mut rest) = rest.split_first_chunk::<4>()?;
    let number = i32::from_le_bytes(*number);
    let mut text = || take_text(&mut rest);
    let identity = match head & 0xf0 {
        TRAITS => Identity::Traits {
            birth_name: text()??,
            first_names: text()??,
            used_name: text()?,
            used_first_name: text()?,
            birth_date: NaiveDate::from_num_days_from_ce_opt(number)?,
            sex: sex?,
            birth_place_code: text()?,
        },
        ANONYMOUS => Identity::Anonymous {
            alias: text()??,
            sex,
            birth_year: (number != NO_YEAR).then_some(number),
        },
        _ => return None,
    };
    Some(Listed {
        id,
        identity,
        status,
        search_key: search_key.to_string(),
    })
}

fn put_text(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        // Names are at most a hundred characters (`NAME_MAX`); a longer
        // one is cut at a character's edge rather than lost.
        Some(t) => {
            let mut end = t.len().min(usize::from(NONE - 1));
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            out.extend_from_slice(&(end as u16).to_le_bytes());
            out.extend_from_slice(&t.as_bytes()[..end]);
        }
        None => out.extend_from_slice(&NONE.to_le_bytes()),
    }
}

/// The next name: `None` if the bytes end too soon, `Some(None)` for none.
fn take_text(rest: &mut &[u8]) -> Option<Option<String>> {
    let (len, tail) = rest.split_first_chunk::<2>()?;
    let len = u16::from_le_bytes(*len);
    if len == NONE {
        *rest = tail;
        return Some(None);
    }
    let (text, tail) = tail.split_at_checked(usize::from(len))?;
    *rest = tail;
    Some(Some(std::str::from_utf8(text).ok()?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(identity: Identity, status: IdentityStatus) -> Listed {
        Listed {
            id: Uuid::from_u128(9),
            search_key: identity.search_key(),
            identity,
            status,
        }
    }

    fn round_trip(l: &Listed) -> Option<Listed> {
        decode(l.id, &l.search_key, &encode(l))
    }

    #[test]
    fn every_kind_of_file_comes_back_as_it_was() {
        let files = [
            listed(
                Identity::Traits {
                    birth_name: "D'ARTAGNAN-LÉVÊQUE".into(),
                    first_names: "Zoé Marie-Ange".into(),
                    used_name: Some("<b>O'Brien</b> & ' \" ; DROP".into()),
                    used_first_name: None,
                    birth_date: NaiveDate::from_ymd_opt(1899, 12, 31).unwrap(),
                    sex: Sex::I,
                    birth_place_code: Some("99134".into()),
                },
                IdentityStatus::Qual,
            ),
            listed(
                Identity::Traits {
                    birth_name: "X".into(),
                    first_names: String::new(),
                    used_name: None,
                    used_first_name: Some("Jo".into()),
                    birth_date: NaiveDate::from_ymd_opt(2026, 2, 28).unwrap(),
                    sex: Sex::F,
                    birth_place_code: None,
                },
                IdentityStatus::Recup,
            ),
            listed(
                Identity::Anonymous {
                    alias: "Kiwi 🥝".into(),
                    sex: None,
                    birth_year: None,
                },
                IdentityStatus::Prov,
            ),
            listed(
                Identity::Anonymous {
                    alias: String::new(),
                    sex: Some(Sex::M),
                    birth_year: Some(1970),
                },
                IdentityStatus::Vali,
            ),
        ];
        for f in &files {
            assert_eq!(round_trip(f).as_ref(), Some(f));
        }
    }

    #[test]
    fn a_name_too_long_is_cut_at_a_character() {
        // Its bytes cut at 65,534 would split an « é » (odd offsets).
        let long = format!("a{}", "é".repeat(40_000));
        let f = listed(
            Identity::Anonymous {
                alias: long,
                sex: None,
                birth_year: None,
            },
            IdentityStatus::Prov,
        );
        let Identity::Anonymous { alias, .. } = round_trip(&f).unwrap().identity else {
            panic!("anonymous");
        };
        assert_eq!(alias.len(), usize::from(NONE - 1) - 1);
        assert!(alias[1..].chars().all(|c| c == 'é'));
    }

    #[test]
    fn bytes_that_are_no_file_say_so() {
        let good = encode(&listed(
            Identity::Anonymous {
                alias: "Kiwi".into(),
                sex: None,
                birth_year: None,
            },
            IdentityStatus::Prov,
        ));
        for cut in 0..good.len() {
            assert_eq!(decode(Uuid::nil(), "", &good[..cut]), None, "cut at {cut}");
        }
        let mut kind = good.to_vec();
        kind[0] = 0x20;
        assert_eq!(decode(Uuid::nil(), "", &kind), None);
        let mut status = good.to_vec();
        status[0] = ANONYMOUS | 7;
        assert_eq!(decode(Uuid::nil(), "", &status), None);
    }
}
