//! Renderers of what Escale hands out: the identity sheet (PDF/A), the INS
//! DataMatrix symbol.

pub mod datamatrix;
pub mod identity_sheet;
