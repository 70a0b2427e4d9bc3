//! Duplicate detection (RNIV: « doublon » = one person with two files).
//!
//! Two halves: [`blocking_keys`], computed when a file is written and indexed,
//! so that candidates are fetched without a full scan; and [`score`], which
//! compares two identities and says why they look alike. Both work on folded
//! text (accents, case, hyphens and apostrophes ignored).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::search::fold;
use super::usager::{Identity, Sex};

/// At or above: « doublon probable ».
pub const PROBABLE: u8 = 70;
/// At or above: shown as « à vérifier » (homonyms, twins, weak matches).
pub const TO_CHECK: u8 = 50;
/// No warning lists more candidates than this.
pub const MAX_CANDIDATES: usize = 20;
/// Blocked rows scored at most per check (the index keeps blocks small).
pub const MAX_BLOCK: i64 = 400;

/// Why two identities look alike; each reason is shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    SameBirthName,
    BirthUsedSwap,
    PhoneticName,
    CompoundName,
    CloseName,
    SameFirstName,
    FirstNamesInverted,
    FirstNamesPartial,
    PhoneticFirstName,
    SameBirthDate,
    DayMonthSwapped,
    CloseBirthDate,
    SameBirthYear,
    SameSex,
    DifferentSex,
    SameBirthPlace,
    SameIns,
    PossibleHomonym,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::SameBirthName => "même nom de naissance",
            Reason::BirthUsedSwap => "nom de naissance et nom d'usage inversés",
            Reason::PhoneticName => "noms phonétiquement proches",
            Reason::CompoundName => "nom composé partiel",
            Reason::CloseName => "noms à une lettre près",
            Reason::SameFirstName => "même premier prénom",
            Reason::FirstNamesInverted => "prénoms dans un autre ordre",
            Reason::FirstNamesPartial => "prénoms en partie communs",
            Reason::PhoneticFirstName => "prénoms phonétiquement proches",
            Reason::SameBirthDate => "même date de naissance",
            Reason::DayMonthSwapped => "jour et mois de naissance inversés",
            Reason::CloseBirthDate => "dates de naissance à un chiffre près",
            Reason::SameBirthYear => "même année de naissance",
            Reason::SameSex => "même sexe",
            Reason::DifferentSex => "sexe différent",
            Reason::SameBirthPlace => "même lieu de naissance",
            Reason::SameIns => "même matricule INS",
            Reason::PossibleHomonym => "homonyme possible (autre date de naissance)",
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Reason::SameBirthName => "nom",
            Reason::BirthUsedSwap => "nom-usage",
            Reason::PhoneticName => "nom-phon",
            Reason::CompoundName => "nom-compose",
            Reason::CloseName => "nom-proche",
            Reason::SameFirstName => "prenom",
            Reason::FirstNamesInverted => "prenoms-ordre",
            Reason::FirstNamesPartial => "prenoms-partiel",
            Reason::PhoneticFirstName => "prenom-phon",
            Reason::SameBirthDate => "date",
            Reason::DayMonthSwapped => "date-inversee",
            Reason::CloseBirthDate => "date-proche",
            Reason::SameBirthYear => "annee",
            Reason::SameSex => "sexe",
            Reason::DifferentSex => "sexe-diff",
            Reason::SameBirthPlace => "lieu",
            Reason::SameIns => "ins",
            Reason::PossibleHomonym => "homonyme",
        }
    }
    pub const ALL: [Reason; 18] = [
        Reason::SameBirthName,
        Reason::BirthUsedSwap,
        Reason::PhoneticName,
        Reason::CompoundName,
        Reason::CloseName,
        Reason::SameFirstName,
        Reason::FirstNamesInverted,
        Reason::FirstNamesPartial,
        Reason::PhoneticFirstName,
        Reason::SameBirthDate,
        Reason::DayMonthSwapped,
        Reason::CloseBirthDate,
        Reason::SameBirthYear,
        Reason::SameSex,
        Reason::DifferentSex,
        Reason::SameBirthPlace,
        Reason::SameIns,
        Reason::PossibleHomonym,
    ];
    pub fn parse(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// Reasons as stored (`nom,date-inversee,…`).
pub fn reasons_csv(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| r.code())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn reasons_from_csv(csv: &str) -> Vec<Reason> {
    csv.split(',').filter_map(Reason::parse).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub score: u8,
    pub reasons: Vec<Reason>,
}

impl Match {
    pub fn level(&self) -> Level {
        if self.score >= PROBABLE {
            Level::Probable
        } else {
            Level::ToCheck
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Probable,
    ToCheck,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Probable => "doublon probable",
            Level::ToCheck => "à vérifier",
        }
    }
}

/// Status of a candidate pair (batch finder, warnings kept for review).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairStatus {
    /// RNIV « doublon potentiel » (DPOT) until someone decides.
    Ouvert,
    /// RNIV « doublon avéré » (DOUA): to merge.
    Avere,
    /// Not the same person.
    Ecarte,
    Fusionne,
}

impl PairStatus {
    pub const ALL: [PairStatus; 4] = [
        PairStatus::Ouvert,
        PairStatus::Avere,
        PairStatus::Ecarte,
        PairStatus::Fusionne,
    ];
    pub fn code(self) -> &'static str {
        match self {
            PairStatus::Ouvert => "ouvert",
            PairStatus::Avere => "avere",
            PairStatus::Ecarte => "ecarte",
            PairStatus::Fusionne => "fusionne",
        }
    }
    pub fn parse(code: &str) -> Option<PairStatus> {
        PairStatus::ALL.into_iter().find(|s| s.code() == code)
    }
    pub fn label(self) -> &'static str {
        match self {
            PairStatus::Ouvert => "doublon potentiel (DPOT)",
            PairStatus::Avere => "doublon avéré (DOUA)",
            PairStatus::Ecarte => "écarté (personnes différentes)",
            PairStatus::Fusionne => "fusionné",
        }
    }
    /// The RNIV marker the pair puts on both files, if any.
    pub fn marker(self) -> Option<&'static str> {
        match self {
            PairStatus::Ouvert => Some("DPOT"),
            PairStatus::Avere => Some("DOUA"),
            _ => None,
        }
    }
}

/// RNIV collision markers: two people in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collision {
    /// COLP: suspected (by staff, or the same INS on files that do not match).
    Potentielle,
    /// COLV: verified by the referent.
    Verifiee,
}

impl Collision {
    pub fn code(self) -> &'static str {
        match self {
            Collision::Potentielle => "COLP",
            Collision::Verifiee => "COLV",
        }
    }
    pub fn parse(code: &str) -> Option<Collision> {
        match code {
            "COLP" => Some(Collision::Potentielle),
            "COLV" => Some(Collision::Verifiee),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Collision::Potentielle => "collision potentielle (COLP)",
            Collision::Verifiee => "collision vérifiée (COLV)",
        }
    }
}

/// Ranks blocked candidates for a probe: best first, at most [`MAX_CANDIDATES`].
pub fn rank<T>(probe: &Probe, candidates: impl IntoIterator<Item = (T, Probe)>) -> Vec<(T, Match)> {
    let mut scored: Vec<(T, Match)> = candidates
        .into_iter()
        .filter_map(|(item, p)| score(probe, &p).map(|m| (item, m)))
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.1.score));
    scored.truncate(MAX_CANDIDATES);
    scored
}

/// Name particles: too common to relate two names on their own.
const PARTICLES: &[&str] = &[
    "DE", "DU", "DES", "LA", "LE", "LES", "DI", "DA", "DOS", "DAS", "VAN", "VON", "EL", "AL",
    "BEN", "BIN", "MC", "MAC", "ST", "STE",
];

/// The comparable, folded form of an identity with traits.
#[derive(Debug, Clone)]
pub struct Probe {
    birth_name: String,
    used_name: Option<String>,
    name_tokens: Vec<String>,
    first_names: Vec<String>,
    used_first_name: Option<String>,
    birth_date: NaiveDate,
    sex: Sex,
    birth_place: Option<String>,
}

impl Probe {
    /// `None` for an anonymous file: anonymity is never matched against identities.
    pub fn of(identity: &Identity) -> Option<Probe> {
        let Identity::Traits {
            birth_name,
            first_names,
            used_name,
            used_first_name,
            birth_date,
            sex,
            birth_place_code,
        } = identity
        else {
            return None;
        };
        let compact = |s: &str| fold(s).replace(' ', "");
        let birth = compact(birth_name);
        let used = used_name
            .as_deref()
            .map(compact)
            .filter(|u| !u.is_empty() && *u != birth);
        let mut name_tokens: Vec<String> = fold(birth_name)
            .split(' ')
            .chain(
                used_name
                    .as_deref()
                    .map(fold)
                    .unwrap_or_default()
                    .split(' '),
            )
            .filter(|t| t.len() >= 2 && !PARTICLES.contains(t))
            .map(str::to_string)
            .collect();
        name_tokens.sort();
        name_tokens.dedup();
        Some(Probe {
            birth_name: birth,
            used_name: used,
            name_tokens,
            // A hyphenated first name is one name: MARIE-CLAIRE is not MARIE.
            first_names: first_names
                .split_whitespace()
                .map(|unit| fold(unit).replace(' ', ""))
                .filter(|t| !t.is_empty())
                .collect(),
            used_first_name: used_first_name
                .as_deref()
                .map(fold)
                .filter(|f| !f.is_empty()),
            birth_date: *birth_date,
            sex: *sex,
            birth_place: birth_place_code.clone().filter(|p| p != "99999"),
        })
    }
}

/// Keys written with each identity (table `identity_keys`): the birth date,
/// each name token's phonetic code with the birth year, and the phonetic
/// name + first name pair (homonyms born another year).
pub fn blocking_keys(identity: &Identity) -> Vec<String> {
    let Some(p) = Probe::of(identity) else {
        return Vec::new();
    };
    let mut keys = vec![date_key(p.birth_date)];
    let year = p.birth_date.year();
    let first = p.first_names.first().map(|f| phonetic(f));
    for t in &p.name_tokens {
        let ph = phonetic(t);
        keys.push(format!("N{ph}{year}"));
        if let Some(f) = &first {
            keys.push(format!("P{ph}:{f}"));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// What the duplicate warning was shown for: creating « anyway » holds only
/// for these traits; changed traits are checked again.
pub fn fingerprint(identity: &Identity) -> String {
    use sha2::{Digest, Sha256};
    let mut keys = lookup_keys(identity);
    if let Some(p) = Probe::of(identity) {
        keys.push(p.first_names.join(" "));
        keys.push(p.sex.code().to_string());
    }
    hex::encode(&Sha256::digest(keys.join("|").as_bytes())[..8])
}

/// Keys to look up for a probe: its own keys plus the day/month-swapped date.
pub fn lookup_keys(identity: &Identity) -> Vec<String> {
    let mut keys = blocking_keys(identity);
    if let Some(p) = Probe::of(identity)
        && let Some(swapped) = swap_day_month(p.birth_date)
    {
        keys.push(date_key(swapped));
    }
    keys.sort();
    keys.dedup();
    keys
}

fn date_key(d: NaiveDate) -> String {
    format!("D{}", d.format("%Y%m%d"))
}

fn swap_day_month(d: NaiveDate) -> Option<NaiveDate> {
    if d.day() == d.month() {
        return None;
    }
    NaiveDate::from_ymd_opt(d.year(), d.day(), d.month())
}

/// Scores a pair; `None` below [`TO_CHECK`].
pub fn score(a: &Probe, b: &Probe) -> Option<Match> {
    let mut reasons = Vec::new();
    let mut total: i32 = 0;
    let (name, name_reason) = name_score(a, b);
    total += i32::from(name);
    reasons.extend(name_reason);
    let (first, first_reason) = first_names_score(a, b);
    total += i32::from(first);
    reasons.extend(first_reason);
    let (date, date_reason) = date_score(a.birth_date, b.birth_date);
    total += i32::from(date);
    reasons.extend(date_reason);
    if a.sex == b.sex {
        total += 5;
        reasons.push(Reason::SameSex);
    } else {
        total -= 15;
        reasons.push(Reason::DifferentSex);
    }
    if let (Some(pa), Some(pb)) = (&a.birth_place, &b.birth_place) {
        if pa == pb {
            total += 5;
            reasons.push(Reason::SameBirthPlace);
        } else {
            total -= 5;
        }
    }
    // Twins share name and date: unless the first names are the same ones
    // (possibly reordered), never « probable ».
    let same_first_names = match first_reason {
        Some(Reason::FirstNamesInverted) => true,
        Some(Reason::SameFirstName) => {
            a.first_names.concat() == b.first_names.concat()
                || a.first_names.len() == 1
                || b.first_names.len() == 1
        }
        // Some of the first names only: the same person if one list holds
        // the other (PIERRE ⊂ JEAN PIERRE); twins each have their own
        // (PAUL JEAN / PIERRE JEAN).
        Some(Reason::FirstNamesPartial) => {
            let within = |x: &[String], y: &[String]| x.iter().all(|n| y.contains(n));
            within(&a.first_names, &b.first_names) || within(&b.first_names, &a.first_names)
        }
        _ => false,
    };
    if first == 0 || (date == 35 && name >= 28 && !same_first_names) {
        total = total.min(i32::from(PROBABLE) - 5);
    }
    if name >= 28 && first >= 15 && date <= 6 {
        reasons.push(Reason::PossibleHomonym);
    }
    let score = total.clamp(0, 100) as u8;
    (score >= TO_CHECK).then_some(Match { score, reasons })
}

/// Two files with the same INS: the same person, whatever the traits say.
pub fn same_ins() -> Match {
    Match {
        score: 100,
        reasons: vec![Reason::SameIns],
    }
}

fn name_score(a: &Probe, b: &Probe) -> (u8, Option<Reason>) {
    if a.birth_name == b.birth_name {
        return (35, Some(Reason::SameBirthName));
    }
    let swap = |x: &Probe, y: &Probe| x.used_name.as_deref() == Some(y.birth_name.as_str());
    if swap(a, b) || swap(b, a) || (a.used_name.is_some() && a.used_name == b.used_name) {
        return (32, Some(Reason::BirthUsedSwap));
    }
    if phonetic(&a.birth_name) == phonetic(&b.birth_name) {
        return (28, Some(Reason::PhoneticName));
    }
    if a.name_tokens.iter().any(|t| b.name_tokens.contains(t)) {
        return (24, Some(Reason::CompoundName));
    }
    if a.birth_name.len() >= 4 && edit_distance_at_most_one(&a.birth_name, &b.birth_name) {
        return (22, Some(Reason::CloseName));
    }
    (0, None)
}

fn first_names_score(a: &Probe, b: &Probe) -> (u8, Option<Reason>) {
    let (fa, fb) = (&a.first_names, &b.first_names);
    if fa.is_empty() || fb.is_empty() {
        return (0, None);
    }
    if fa[0] == fb[0] || fa.concat() == fb.concat() {
        return (20, Some(Reason::SameFirstName));
    }
    let mut sa = fa.clone();
    let mut sb = fb.clone();
    sa.sort();
    sb.sort();
    if sa == sb {
        return (18, Some(Reason::FirstNamesInverted));
    }
    let all_a = fa.iter().chain(a.used_first_name.iter());
    let b_has = |t: &String| fb.contains(t) || b.used_first_name.as_ref() == Some(t);
    if all_a.clone().any(b_has) {
        return (16, Some(Reason::FirstNamesPartial));
    }
    if phonetic(&fa[0]) == phonetic(&fb[0]) {
        return (15, Some(Reason::PhoneticFirstName));
    }
    (0, None)
}

fn date_score(a: NaiveDate, b: NaiveDate) -> (u8, Option<Reason>) {
    if a == b {
        return (35, Some(Reason::SameBirthDate));
    }
    if swap_day_month(a) == Some(b) {
        return (28, Some(Reason::DayMonthSwapped));
    }
    let same_year = a.year() == b.year();
    let same_day_month = a.day() == b.day() && a.month() == b.month();
    if (same_year && (a.day() == b.day() || a.month() == b.month()))
        || (same_day_month && (a.year() - b.year()).abs() <= 10 && one_digit_apart(a, b))
    {
        return (18, Some(Reason::CloseBirthDate));
    }
    if same_year {
        return (6, Some(Reason::SameBirthYear));
    }
    (0, None)
}

fn one_digit_apart(a: NaiveDate, b: NaiveDate) -> bool {
    let (x, y) = (a.year().to_string(), b.year().to_string());
    x.len() == y.len() && x.bytes().zip(y.bytes()).filter(|(p, q)| p != q).count() == 1
}

/// True when one insertion, deletion, substitution or adjacent transposition
/// turns `a` into `b` (typing errors).
fn edit_distance_at_most_one(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    if ra.is_empty() || rb.is_empty() {
        return ra.len() + rb.len() <= 1;
    }
    ra[1..] == rb[1..]
        || ra[1..] == *rb
        || *ra == rb[1..]
        || (ra.len() >= 2
            && rb.len() >= 2
            && ra[0] == rb[1]
            && ra[1] == rb[0]
            && ra[2..] == rb[2..])
}

/// A French phonetic code (in the spirit of Soundex-FR / Phonex): letters that
/// sound alike collapse, silent endings and doubled letters disappear.
/// « Lefèvre », « LEFEBVRE » and « Lefeuvre » give the same code.
pub fn phonetic(word: &str) -> String {
    let w: String = fold(word)
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect();
    if w.is_empty() {
        return String::new();
    }
    let rules: &[(&str, &str)] = &[
        ("EAUX", "O"),
        ("EAU", "O"),
        ("AUX", "O"),
        ("AU", "O"),
        ("OUX", "U"),
        ("OU", "U"),
        ("PH", "F"),
        ("QU", "K"),
        ("CK", "K"),
        ("SCH", "X"),
        ("CH", "X"),
        ("GU", "G"),
        ("GN", "N"),
        ("AI", "E"),
        ("EI", "E"),
        ("ER", "E"),
        ("EZ", "E"),
        ("ET", "E"),
        ("EU", "E"),
        ("OE", "E"),
        ("BV", "V"),
        ("W", "V"),
        ("Y", "I"),
        ("Z", "S"),
        ("TH", "T"),
        ("CE", "SE"),
        ("CI", "SI"),
        ("C", "K"),
        ("Q", "K"),
        ("H", ""),
    ];
    let mut s = w;
    for (from, to) in rules {
        s = s.replace(from, to);
    }
    // Nasal vowels.
    for (from, to) in [("AN", "E"), ("EN", "E"), ("AM", "E"), ("EM", "E")] {
        if s.len() > 3 {
            s = s.replace(from, to);
        }
    }
    // Doubled letters.
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !out.ends_with(c) {
            out.push(c);
        }
    }
    // Silent endings.
    while out.len() > 2 && (out.ends_with(['E', 'S', 'T', 'X', 'D', 'P'])) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traits(name: &str, used: Option<&str>, firsts: &str, date: &str, sex: Sex) -> Identity {
        Identity::Traits {
            birth_name: name.into(),
            first_names: firsts.into(),
            used_name: used.map(str::to_string),
            used_first_name: None,
            birth_date: NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
            sex,
            birth_place_code: None,
        }
    }

    fn s(a: &Identity, b: &Identity) -> Option<Match> {
        score(&Probe::of(a).unwrap(), &Probe::of(b).unwrap())
    }

    #[test]
    fn phonetic_collapses_french_spellings() {
        assert_eq!(phonetic("Lefèvre"), phonetic("LEFEBVRE"));
        assert_eq!(phonetic("Philippe"), phonetic("FILIPE"));
        assert_eq!(phonetic("Thomas"), phonetic("TOMA"));
        assert_eq!(phonetic("Renaud"), phonetic("RENO"));
        assert_eq!(phonetic("Gauthier"), phonetic("GAUTIER"));
        assert_ne!(phonetic("MARTIN"), phonetic("DURAND"));
        assert_eq!(phonetic(""), "");
    }

    #[test]
    fn accents_case_and_hyphens_are_ignored() {
        let a = traits("DUPONT-MORETTI", None, "Zoé Léa", "1980-03-12", Sex::F);
        let b = traits("dupont moretti", None, "ZOE LEA", "1980-03-12", Sex::F);
        let m = s(&a, &b).unwrap();
        assert!(m.score >= PROBABLE, "{m:?}");
        assert!(m.reasons.contains(&Reason::SameBirthName));
    }

    #[test]
    fn finds_birth_and_used_name_swaps() {
        let a = traits("MARTIN", Some("DURAND"), "MARIE", "1975-06-01", Sex::F);
        let b = traits("DURAND", None, "MARIE", "1975-06-01", Sex::F);
        let m = s(&a, &b).unwrap();
        assert!(m.reasons.contains(&Reason::BirthUsedSwap), "{m:?}");
        assert!(m.score >= PROBABLE);
    }

    #[test]
    fn finds_inverted_and_partial_first_names() {
        let a = traits("BERNARD", None, "JEAN PIERRE", "1962-11-30", Sex::M);
        let b = traits("BERNARD", None, "PIERRE JEAN", "1962-11-30", Sex::M);
        assert!(
            s(&a, &b)
                .unwrap()
                .reasons
                .contains(&Reason::FirstNamesInverted)
        );
        let c = traits("BERNARD", None, "PIERRE", "1962-11-30", Sex::M);
        let m = s(&a, &c).unwrap();
        assert!(m.reasons.contains(&Reason::FirstNamesPartial));
        assert!(m.score >= PROBABLE);
    }

    #[test]
    fn finds_swapped_day_and_month() {
        let a = traits("PETIT", None, "LUC", "1990-04-07", Sex::M);
        let b = traits("PETIT", None, "LUC", "1990-07-04", Sex::M);
        let m = s(&a, &b).unwrap();
        assert!(m.reasons.contains(&Reason::DayMonthSwapped));
        assert!(m.score >= PROBABLE);
        assert!(lookup_keys(&a).contains(&"D19900704".to_string()));
    }

    #[test]
    fn homonyms_are_to_check_not_probable() {
        let a = traits("MARTIN", None, "PAUL", "1950-01-15", Sex::M);
        let b = traits("MARTIN", None, "PAUL", "1983-09-02", Sex::M);
        let m = s(&a, &b).unwrap();
        assert_eq!(m.level(), Level::ToCheck);
        assert!(m.reasons.contains(&Reason::PossibleHomonym));
        // Twins: same name and date, other first name.
        let t1 = traits("ROUX", None, "ANNA", "2001-02-03", Sex::F);
        let t2 = traits("ROUX", None, "ELSA", "2001-02-03", Sex::F);
        assert!(s(&t1, &t2).is_none_or(|m| m.level() == Level::ToCheck));
    }

    #[test]
    fn twins_with_compound_or_shared_first_names_stay_to_check() {
        let a = traits("ROUX", None, "MARIE-CLAIRE", "2001-02-03", Sex::F);
        let b = traits("ROUX", None, "MARIE-HÉLÈNE", "2001-02-03", Sex::F);
        assert!(s(&a, &b).is_none_or(|m| m.level() == Level::ToCheck));
        let c = traits("PETIT", None, "PAUL JEAN", "2001-02-03", Sex::M);
        let d = traits("PETIT", None, "PIERRE JEAN", "2001-02-03", Sex::M);
        assert!(s(&c, &d).is_none_or(|m| m.level() == Level::ToCheck));
        // The same first names written with a hyphen are the same person.
        let e = traits("PETIT", None, "ANNE MARIE", "2001-02-03", Sex::F);
        let f = traits("petit", None, "Anne-Marie", "2001-02-03", Sex::F);
        assert_eq!(s(&e, &f).unwrap().level(), Level::Probable);
    }

    #[test]
    fn particles_alone_do_not_relate_names() {
        let a = traits("DE SOUSA", None, "ANA", "1970-01-01", Sex::F);
        let b = traits("DE OLIVEIRA", None, "ANA", "1970-01-01", Sex::F);
        let m = s(&a, &b);
        assert!(
            m.as_ref()
                .is_none_or(|m| !m.reasons.contains(&Reason::CompoundName)),
            "{m:?}"
        );
    }

    #[test]
    fn different_people_do_not_match() {
        let a = traits("MARTIN", None, "PAUL", "1950-01-15", Sex::M);
        let b = traits("DURAND", None, "JULIE", "1950-01-15", Sex::F);
        assert!(s(&a, &b).is_none());
    }

    #[test]
    fn anonymous_files_have_no_keys() {
        let anon = Identity::Anonymous {
            alias: "Zorro".into(),
            sex: None,
            birth_year: None,
        };
        assert!(blocking_keys(&anon).is_empty());
        assert!(Probe::of(&anon).is_none());
    }

    #[test]
    fn edit_distance() {
        assert!(edit_distance_at_most_one("MARTIN", "MARTYN"));
        assert!(edit_distance_at_most_one("MARTIN", "MATRIN"));
        assert!(edit_distance_at_most_one("MARTIN", "MARTINE"));
        assert!(!edit_distance_at_most_one("MARTIN", "MORTON"));
    }

    #[test]
    fn fingerprint_follows_the_traits() {
        let a = traits("PETIT", None, "LUC", "1990-04-07", Sex::M);
        let b = traits("petit", None, "Luc", "1990-04-07", Sex::M);
        let c = traits("PETIT", None, "LUCIEN", "1990-04-07", Sex::M);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn reasons_round_trip() {
        let r = vec![Reason::SameIns, Reason::DayMonthSwapped];
        assert_eq!(reasons_from_csv(&reasons_csv(&r)), r);
    }
}
