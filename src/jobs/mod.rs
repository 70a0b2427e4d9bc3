//! Background work.

pub mod reverification;
