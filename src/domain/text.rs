//! Validation of free text typed by people (names, notes, aliases).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    #[error("ce champ est obligatoire")]
    Empty,
    #[error("ce champ est trop long ({len} caractères, {max} au plus)")]
    TooLong { len: usize, max: usize },
    #[error("ce champ contient des caractères de contrôle interdits")]
    ControlCharacter,
}

/// Trims and checks a single-line text: not empty, at most `max` characters,
/// no control characters. HTML, SQL or emoji are accepted as text: escaping is
/// the job of the views and of bound parameters, never of the data.
pub fn single_line(input: &str, max: usize) -> Result<String, TextError> {
    let value = input.trim();
    if value.is_empty() {
        return Err(TextError::Empty);
    }
    check_len_and_controls(value, max, false)?;
    Ok(value.to_string())
}

/// Like [`single_line`] but an empty input is `None`.
pub fn optional_line(input: &str, max: usize) -> Result<Option<String>, TextError> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    single_line(input, max).map(Some)
}

/// A multi-line text (notes): newlines and tabs allowed, other controls refused.
pub fn multi_line(input: &str, max: usize) -> Result<String, TextError> {
    let value = input.trim();
    if value.is_empty() {
        return Err(TextError::Empty);
    }
    check_len_and_controls(value, max, true)?;
    Ok(value.replace("\r\n", "\n"))
}

fn check_len_and_controls(value: &str, max: usize, multiline: bool) -> Result<(), TextError> {
    let len = value.chars().count();
    if len > max {
        return Err(TextError::TooLong { len, max });
    }
    let bad = value
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t')));
    if bad {
        return Err(TextError::ControlCharacter);
    }
    Ok(())
}

/// Compares secrets (tokens, codes) without stopping at the first difference.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keeps_hostile_text_as_text() {
        assert_eq!(
            single_line("  <script>alert(1)</script> ", 100).unwrap(),
            "<script>alert(1)</script>"
        );
        assert_eq!(
            single_line("Robert'); DROP TABLE usagers;--", 100).unwrap(),
            "Robert'); DROP TABLE usagers;--"
        );
        assert_eq!(single_line("Zoé 🌈", 100).unwrap(), "Zoé 🌈");
    }

    #[test]
    fn refuses_empty_long_and_control() {
        assert_eq!(single_line("   ", 10), Err(TextError::Empty));
        assert_eq!(
            single_line(&"a".repeat(11), 10),
            Err(TextError::TooLong { len: 11, max: 10 })
        );
        assert_eq!(single_line("a\u{0}b", 10), Err(TextError::ControlCharacter));
        assert_eq!(single_line("a\nb", 10), Err(TextError::ControlCharacter));
        assert_eq!(multi_line("a\r\nb\tc", 10).unwrap(), "a\nb\tc");
        assert_eq!(multi_line("a\u{7}", 10), Err(TextError::ControlCharacter));
    }

    #[test]
    fn optional_empty_is_none() {
        assert_eq!(optional_line("  ", 10), Ok(None));
        assert_eq!(optional_line(" x ", 10), Ok(Some("x".into())));
    }
}
