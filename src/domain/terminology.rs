//! A coded value of a national terminology (NOS): what a CDA header, an
//! XDS metadata entry or a VIHF attribute carries.

/// Code, code system (OID or URN) and label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub code: String,
    pub system: String,
    pub label: String,
}

impl Code {
    pub fn new(code: &str, system: &str, label: &str) -> Code {
        Code {
            code: code.into(),
            system: system.into(),
            label: label.into(),
        }
    }
}
