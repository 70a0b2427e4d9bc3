//! Renderers of what Escale hands out: the identity sheet (PDF/A), the INS
//! DataMatrix symbol, the CDA R2 level 1 of a document.

pub mod cda;
pub mod datamatrix;
pub mod identity_sheet;
pub mod letter;
pub mod pdfa;
