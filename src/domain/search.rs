//! Accent- and case-insensitive search keys.

/// Folds a text to upper-case ASCII letters and digits separated by single
/// spaces: "Zoé-Léa  d'Aubigné" → "ZOE LEA D AUBIGNE". Used both when a file
/// is written (stored key) and when a search is typed, so they always agree.
pub fn fold(input: &str) -> String {
    let ascii = deunicode::deunicode(input);
    let mut out = String::with_capacity(ascii.len());
    let mut pending_space = false;
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c.to_ascii_uppercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// The terms of a search box, folded; empty terms dropped, at most 8 kept.
pub fn terms(query: &str) -> Vec<String> {
    fold(query)
        .split(' ')
        .filter(|t| !t.is_empty())
        .take(8)
        .map(str::to_string)
        .collect()
}

/// Terms this long or longer are found anywhere in a name (a trigram index
/// serves them); shorter ones only at the start of a word: one or two letters
/// are initials, and an index of three-letter pieces cannot serve them.
pub const ANYWHERE_FROM: usize = 3;

/// Whether a folded term is found anywhere in a name (else at a word's start).
pub fn found_anywhere(term: &str) -> bool {
    term.len() >= ANYWHERE_FROM
}

/// The smallest key greater than every key starting with `prefix` (a folded
/// term: ASCII letters and digits), so that `prefix <= key < next` is the
/// range of an index holding the keys that start with it.
pub fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0x7f {
            end.push(last + 1);
            return String::from_utf8(end).expect("ASCII stays ASCII");
        }
    }
    // Only DEL characters (never in a folded key): no upper bound needed,
    // but one above any ASCII key keeps the range well formed.
    "\u{80}".to_string()
}

/// The trigrams a term of three letters or more holds wherever it stands in
/// a word, as pg_trgm writes them (lower case): "ONTA" → ["ont", "nta"].
/// A folded term has no space, so none of them spans two words.
pub fn trigrams(term: &str) -> Vec<String> {
    let lower = term.to_ascii_lowercase();
    let mut grams: Vec<String> = lower
        .as_bytes()
        .windows(3)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    grams.sort();
    grams.dedup();
    grams
}

/// The receptionist's order within a search for `first` (the first term
/// typed): 0 when the key starts with it (the birth name, or the pseudonym),
/// 1 when another name starts with it (first name, name of use), 2 when it
/// is found inside a name. Ties go by key.
pub fn rank(first: &str, key: &str) -> u8 {
    if key.starts_with(first) {
        0
    } else if key.split(' ').any(|word| word.starts_with(first)) {
        1
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_case_and_punctuation() {
        assert_eq!(fold("Zoé-Léa  d’Aubigné"), "ZOE LEA D AUBIGNE");
        assert_eq!(fold("ŒUVRE Ærø"), "OEUVRE AERO");
        assert_eq!(fold("  "), "");
        assert_eq!(fold("<b>x</b>"), "B X B");
        assert_eq!(fold("50% DROP;--"), "50 DROP");
    }

    #[test]
    fn trigrams_of_a_term() {
        assert_eq!(trigrams("ONTA"), vec!["nta", "ont"]);
        assert_eq!(trigrams("AAAA"), vec!["aaa"]);
        assert_eq!(trigrams("ON"), Vec::<String>::new());
    }

    #[test]
    fn rank_puts_the_birth_name_first() {
        assert_eq!(rank("DUP", "DUPONT MARC"), 0);
        assert_eq!(rank("DUP", "DURAND ZOE DUPONT"), 1);
        assert_eq!(rank("DUP", "LEDUPUIS ANNE"), 2);
    }

    #[test]
    fn short_terms_are_word_starts() {
        assert!(!found_anywhere("JE"));
        assert!(found_anywhere("ONT"));
    }

    #[test]
    fn prefix_end_bounds_the_range() {
        assert_eq!(prefix_end("DUP"), "DUQ");
        assert_eq!(prefix_end("AZ"), "A[");
        assert_eq!(prefix_end("19"), "1:");
        for key in ["DUP", "DUPONT MARIE", "DUPZZZ"] {
            assert!(key >= "DUP" && key < prefix_end("DUP").as_str());
        }
        assert!("DUQ" >= prefix_end("DUP").as_str());
    }

    #[test]
    fn terms_split() {
        assert_eq!(terms("  dupont   Zoé "), vec!["DUPONT", "ZOE"]);
        assert!(terms("%%%").is_empty());
        assert_eq!(terms("a b c d e f g h i j").len(), 8);
    }
}
