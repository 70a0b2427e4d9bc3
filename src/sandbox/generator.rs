//! Synthetic identities with known near-duplicates, for duplicate-detection
//! tests (precision, recall), benchmarks and `escale dev seed`.
//! Deterministic for a given seed. Names are common French names; no real
//! person is described.

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::usager::{Contact, Identity, Sex, UsagerData};

const SURNAMES: &[&str] = &[
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFEVRE",
    "FAURE",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANCOIS",
    "LEGRAND",
    "GAUTHIER",
    "GARCIA",
    "PERRIN",
    "ROBIN",
    "CLEMENT",
    "MORIN",
    "NICOLAS",
    "HENRY",
    "ROUSSEL",
    "MATHIEU",
    "GAUTIER",
    "MASSON",
    "MARCHAND",
    "DUVAL",
    "DENIS",
    "DUMONT",
    "MARIE",
    "LEMAIRE",
    "NOEL",
    "MEYER",
    "DUFOUR",
    "MEUNIER",
    "BRUN",
    "BLANCHARD",
    "GIRAUD",
    "JOLY",
    "RIVIERE",
    "LUCAS",
    "BRUNET",
    "GAILLARD",
    "BARBIER",
    "ARNAUD",
    "MARTINEZ",
    "GERARD",
    "ROCHE",
    "RENARD",
    "SCHMITT",
    "ROY",
    "LEROUX",
    "COLIN",
    "VIDAL",
    "CARON",
    "PICARD",
    "ROGER",
    "FABRE",
    "AUBERT",
    "LEMOINE",
    "RENAUD",
    "DUMAS",
    "LACROIX",
    "OLIVIER",
    "PHILIPPE",
    "BOURGEOIS",
    "PIERRE",
    "BENOIT",
    "REY",
    "LECLERC",
    "PAYET",
    "ROLLAND",
    "LECLERCQ",
    "GUILLAUME",
    "LECOMTE",
    "LOPEZ",
    "JEAN",
    "DUPUY",
    "GUILLOT",
    "HUBERT",
    "BERGER",
    "CARPENTIER",
    "SANCHEZ",
    "DUPUIS",
    "MOULIN",
    "LOUIS",
    "DESCHAMPS",
    "HUET",
    "VASSEUR",
    "PEREZ",
    "BOUCHER",
    "FLEURY",
    "ROYER",
    "KLEIN",
    "JACQUET",
    "ADAM",
    "PARIS",
    "POIRIER",
    "MARTY",
    "AUBRY",
    "GUYOT",
    "CARRE",
    "CHARLES",
    "RENAULT",
    "CHARPENTIER",
    "MENARD",
    "MAILLARD",
    "BARON",
    "BERTIN",
    "BAILLY",
    "HERVE",
    "SCHNEIDER",
    "FERNANDEZ",
    "LE GALL",
    "COLLET",
    "LEGER",
    "BOUVIER",
    "JULIEN",
    "PREVOST",
    "MILLET",
    "PERROT",
    "DANIEL",
    "LE ROUX",
    "COUSIN",
    "GERMAIN",
    "BRETON",
    "BESSON",
    "LANGLOIS",
    "REMY",
    "LE GOFF",
    "PELLETIER",
    "LEVEQUE",
    "PERRIER",
    "LEBLANC",
    "BARRE",
    "LEBRUN",
];

const FEMALE: &[&str] = &[
    "MARIE",
    "JEANNE",
    "FRANCOISE",
    "MONIQUE",
    "CATHERINE",
    "NATHALIE",
    "ISABELLE",
    "JACQUELINE",
    "ANNE",
    "SYLVIE",
    "MARTINE",
    "MADELEINE",
    "NICOLE",
    "SUZANNE",
    "HELENE",
    "CHRISTINE",
    "MARGUERITE",
    "DENISE",
    "LOUISE",
    "CHRISTIANE",
    "YVONNE",
    "VALERIE",
    "SOPHIE",
    "STEPHANIE",
    "CELINE",
    "SANDRINE",
    "VERONIQUE",
    "CAROLINE",
    "CHANTAL",
    "ELODIE",
    "AURELIE",
    "JULIE",
    "EMILIE",
    "CLAIRE",
    "LAURE",
    "CAMILLE",
    "LEA",
    "MANON",
    "CHLOE",
    "EMMA",
    "INES",
    "SARAH",
    "LUCIE",
    "PAULINE",
    "MATHILDE",
    "AGATHE",
    "ROSE",
    "ALICE",
    "ZOE",
    "JADE",
    "LOUNA",
    "NINA",
    "ELSA",
    "ANNA",
    "MARGOT",
    "CLARA",
    "JULIETTE",
    "EVA",
    "LOLA",
    "OCEANE",
];

const MALE: &[&str] = &[
    "JEAN",
    "PIERRE",
    "MICHEL",
    "ANDRE",
    "PHILIPPE",
    "RENE",
    "LOUIS",
    "ALAIN",
    "JACQUES",
    "BERNARD",
    "MARCEL",
    "DANIEL",
    "ROGER",
    "ROBERT",
    "PAUL",
    "CLAUDE",
    "CHRISTIAN",
    "HENRI",
    "GEORGES",
    "NICOLAS",
    "FRANCOIS",
    "PATRICK",
    "GERARD",
    "CHRISTOPHE",
    "JOSEPH",
    "JULIEN",
    "LAURENT",
    "FREDERIC",
    "ERIC",
    "STEPHANE",
    "DAVID",
    "PASCAL",
    "SEBASTIEN",
    "THIERRY",
    "OLIVIER",
    "DOMINIQUE",
    "THOMAS",
    "ANTOINE",
    "MAXIME",
    "ALEXANDRE",
    "KEVIN",
    "LUCAS",
    "HUGO",
    "THEO",
    "NATHAN",
    "ENZO",
    "LEO",
    "GABRIEL",
    "RAPHAEL",
    "ARTHUR",
    "LOUKA",
    "MATHIS",
    "NOAH",
    "ADAM",
    "SACHA",
    "YANIS",
    "KARIM",
    "MEHDI",
    "SAMIR",
    "OMAR",
];

/// How a near-duplicate differs from the file it duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variation {
    /// Lower case, accents, hyphen instead of space: « Dupont-Moretti Zoé ».
    AccentCaseHyphen,
    /// The used name typed as the birth name.
    BirthUsedSwap,
    /// First names in another order.
    InvertedFirstNames,
    /// Only some of the first names.
    PartialFirstNames,
    /// Day and month of the birth date swapped.
    DayMonthSwap,
    /// One letter of the birth name mistyped.
    Typo,
}

impl Variation {
    pub const ALL: [Variation; 6] = [
        Variation::AccentCaseHyphen,
        Variation::BirthUsedSwap,
        Variation::InvertedFirstNames,
        Variation::PartialFirstNames,
        Variation::DayMonthSwap,
        Variation::Typo,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Variation::AccentCaseHyphen => "accents, casse, tirets",
            Variation::BirthUsedSwap => "nom de naissance / nom d'usage",
            Variation::InvertedFirstNames => "prénoms inversés",
            Variation::PartialFirstNames => "prénoms partiels",
            Variation::DayMonthSwap => "jour / mois inversés",
            Variation::Typo => "faute de frappe sur le nom",
        }
    }
}

pub struct Generator {
    rng: StdRng,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn pick<'a>(&mut self, list: &'a [&'a str]) -> &'a str {
        list[self.rng.random_range(0..list.len())]
    }

    /// A plausible identity: 1–3 first names, a used name for some women.
    pub fn identity(&mut self) -> UsagerData {
        let sex = if self.rng.random_bool(0.5) {
            Sex::F
        } else {
            Sex::M
        };
        let pool = if sex == Sex::F { FEMALE } else { MALE };
        let count = match self.rng.random_range(0..10) {
            0..=4 => 1,
            5..=8 => 2,
            _ => 3,
        };
        let mut firsts: Vec<&str> = Vec::new();
        while firsts.len() < count {
            let f = self.pick(pool);
            if !firsts.contains(&f) {
                firsts.push(f);
            }
        }
        let birth_name = self.pick(SURNAMES).to_string();
        let used_name = (sex == Sex::F && self.rng.random_bool(0.35))
            .then(|| self.pick(SURNAMES).to_string())
            .filter(|u| *u != birth_name);
        let start = NaiveDate::from_ymd_opt(1950, 1, 1).expect("date");
        let birth_date = start + chrono::Days::new(self.rng.random_range(0..21_000));
        UsagerData {
            identity: Identity::Traits {
                birth_name,
                first_names: firsts.join(" "),
                used_name,
                used_first_name: None,
                birth_date,
                sex,
                birth_place_code: None,
            },
            contact: Contact::default(),
        }
    }

    /// The near-duplicate of `base` for `v`, or `None` when `base` does not
    /// lend itself to it (no used name, one first name, day above 12…).
    pub fn variant(&mut self, base: &UsagerData, v: Variation) -> Option<UsagerData> {
        let Identity::Traits {
            birth_name,
            first_names,
            used_name,
            used_first_name,
            birth_date,
            sex,
            birth_place_code,
        } = base.identity.clone()
        else {
            return None;
        };
        let firsts: Vec<&str> = first_names.split(' ').collect();
        let (mut b, mut f, mut u, mut d) = (
            birth_name.clone(),
            first_names.clone(),
            used_name,
            birth_date,
        );
        match v {
            Variation::AccentCaseHyphen => {
                b = accentuate(&birth_name).to_lowercase().replace(' ', "-");
                f = accentuate(&first_names)
                    .to_lowercase()
                    .replacen(' ', "-", 1);
            }
            Variation::BirthUsedSwap => {
                b = u.take()?;
            }
            Variation::InvertedFirstNames => {
                if firsts.len() < 2 {
                    return None;
                }
                let mut r = firsts.clone();
                r.reverse();
                f = r.join(" ");
            }
            Variation::PartialFirstNames => {
                if firsts.len() < 2 {
                    return None;
                }
                f = firsts[self.rng.random_range(0..firsts.len())].to_string();
            }
            Variation::DayMonthSwap => {
                if birth_date.day() > 12 || birth_date.day() == birth_date.month() {
                    return None;
                }
                d = NaiveDate::from_ymd_opt(
                    birth_date.year(),
                    birth_date.day(),
                    birth_date.month(),
                )?;
            }
            Variation::Typo => {
                let bytes = birth_name.as_bytes();
                if bytes.len() < 5 || birth_name.contains(' ') {
                    return None;
                }
                let i = self.rng.random_range(1..bytes.len() - 1);
                let mut s = bytes.to_vec();
                s[i] = if s[i] == b'E' { b'A' } else { b'E' };
                b = String::from_utf8(s).ok()?;
            }
        }
        Some(UsagerData {
            identity: Identity::Traits {
                birth_name: b,
                first_names: f,
                used_name: u,
                used_first_name,
                birth_date: d,
                sex,
                birth_place_code,
            },
            contact: Contact::default(),
        })
    }

    /// Same name and first names, another person (born another year).
    pub fn homonym(&mut self, base: &UsagerData) -> Option<UsagerData> {
        let Identity::Traits {
            birth_name,
            first_names,
            birth_date,
            sex,
            ..
        } = &base.identity
        else {
            return None;
        };
        let shift = self.rng.random_range(2..30) * 365;
        Some(UsagerData {
            identity: Identity::Traits {
                birth_name: birth_name.clone(),
                first_names: first_names.clone(),
                used_name: None,
                used_first_name: None,
                birth_date: birth_date.checked_sub_days(chrono::Days::new(shift))?,
                sex: *sex,
                birth_place_code: None,
            },
            contact: Contact::default(),
        })
    }
}

/// Surnames with particles, apostrophes and spaces (RNIV: kept as written).
const PARTICLE_SURNAMES: &[&str] = &[
    "DE LA FONTAINE",
    "LE GALL",
    "N'DIAYE",
    "D'ALMEIDA",
    "DU PONT",
    "VAN DER BERG",
    "DE SOUSA",
    "LE BRIS",
    "DA SILVA",
    "SAINT-MARTIN",
];
const COMPOUND_FIRST_NAMES: &[&str] = &[
    "JEAN-PIERRE",
    "MARIE-CLAIRE",
    "ANNE-SOPHIE",
    "PIERRE-YVES",
    "JEAN-BAPTISTE",
    "MARIE-NOËLLE",
];
const PSEUDONYMS: &[&str] = &[
    "Le Marin",
    "La Brune",
    "Zébulon",
    "Gavroche",
    "Mistral",
    "Loulou",
    "Petite Plume",
    "Le Grand",
    "Tintin",
    "Barbe Rousse",
    "Coquelicot",
    "Sirius",
];

/// One generated file of a population, with what comes with it.
pub struct Member {
    pub data: UsagerData,
    /// A care episode (most files have one).
    pub episode: bool,
    /// Activities recorded (0 for most, a few for some).
    pub activities: u32,
    /// A shared note.
    pub note: bool,
}

impl Generator {
    /// A file as a structure's reception sees them over the years:
    /// 8 % anonymous under a pseudonym, particles and compound names,
    /// homonyms and near-duplicates of earlier files (`earlier`).
    pub fn member(&mut self, earlier: Option<&UsagerData>) -> Member {
        let roll = self.rng.random_range(0..100);
        let data = match (roll, earlier) {
            (0..=7, _) => {
                let alias = self.pick(PSEUDONYMS).to_string();
                let sex = self.rng.random_bool(0.6).then_some(Sex::M);
                UsagerData {
                    identity: Identity::Anonymous {
                        alias,
                        sex,
                        birth_year: self
                            .rng
                            .random_bool(0.5)
                            .then(|| self.rng.random_range(1955..2008)),
                    },
                    contact: Contact::default(),
                }
            }
            (8..=10, Some(base)) => self.homonym(base).unwrap_or_else(|| self.identity()),
            (11..=15, Some(base)) => {
                let v = Variation::ALL[self.rng.random_range(0..Variation::ALL.len())];
                self.variant(base, v).unwrap_or_else(|| self.identity())
            }
            _ => {
                let mut data = self.identity();
                if let Identity::Traits {
                    birth_name,
                    first_names,
                    ..
                } = &mut data.identity
                {
                    match self.rng.random_range(0..100) {
                        0..=9 => *birth_name = self.pick(PARTICLE_SURNAMES).to_string(),
                        10..=17 => *birth_name = format!("{}-{}", birth_name, self.pick(SURNAMES)),
                        _ => {}
                    }
                    if self.rng.random_range(0..10) == 0 {
                        *first_names = self.pick(COMPOUND_FIRST_NAMES).to_string();
                    }
                }
                data
            }
        };
        Member {
            data,
            episode: self.rng.random_range(0..10) < 7,
            activities: match self.rng.random_range(0..10) {
                0..=5 => 0,
                6..=8 => 1,
                _ => 3,
            },
            note: self.rng.random_range(0..10) < 2,
        }
    }
}

fn accentuate(s: &str) -> String {
    s.replacen('E', "É", 1).replacen('A', "À", 1)
}
