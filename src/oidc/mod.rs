//! The relying party.

pub mod claims;
pub mod jwe;
