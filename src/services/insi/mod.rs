//! INSi: the structures' clients and the exchanges with the téléservice.

mod clients;
mod exchange;

pub use clients::*;
pub use exchange::*;
