//! The relying party.

pub mod jwe;
