//! Invitation codes: a director pre-registers a professional whose RPPS
//! number does not exist yet (RPPS+ registration pending) and hands them a
//! code; at their first Pro Santé Connect login the code ties their national
//! id to the pre-registered record.

/// No 0/O, 1/I/L: codes are read aloud and typed from paper.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A new code, shown once: `ABCD-EFGH-JKMN` (60 bits).
pub fn generate(random: &[u8; 12]) -> String {
    let chars: Vec<char> = random
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// What is compared (hashed): case, spaces and hyphens do not matter.
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_survive_sloppy_typing() {
        let code = generate(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        let typed = format!("  {}  ", code.to_lowercase().replace('-', " "));
        assert_eq!(normalize(&typed), normalize(&code));
        assert!(!code.contains('O') && !code.contains('0') && !code.contains('I'));
    }
}
