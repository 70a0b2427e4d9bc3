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
    fn terms_split() {
        assert_eq!(terms("  dupont   Zoé "), vec!["DUPONT", "ZOE"]);
        assert!(terms("%%%").is_empty());
        assert_eq!(terms("a b c d e f g h i j").len(), 8);
    }
}
