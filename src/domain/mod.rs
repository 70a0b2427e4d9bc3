//! Pure rules and types of Escale: no I/O, no database, no HTTP.
//! Everything that holds one of these types holds a valid value.

pub mod audit;
pub mod care;
pub mod datamatrix;
pub mod directory;
pub mod dmp;
pub mod dmp_codes;
pub mod document;
pub mod duplicates;
pub mod identifiers;
pub mod identity;
pub mod ins;
pub mod invitation;
pub mod lexical;
pub mod login_guard;
pub mod merge;
pub mod mss;
pub mod mss_message;
pub mod procedure;
pub mod roles;
pub mod search;
pub mod sharing;
#[cfg(test)]
mod spec_table;
pub mod structure;
pub mod template;
pub mod tenant;
pub mod terminology;
pub mod text;
pub mod totp;
pub mod usager;
