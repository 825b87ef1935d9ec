//! The helpdesk channel: one-time activation codes that staff issue after checking a person's
//! identity document, delivered in person, through a janitor or by registered letter, and redeemed
//! by the person on the code page, which opens the same account page as strong identification.
//!
//! - [`code`]: the codes themselves (generation, reading what people type, keyed hashes);
//! - [`codes`]: issued codes in the store: issue, revoke, redeem, and what became of each;
//! - [`service`]: [`Helpdesk`], the channel's use cases, handing redeemed codes to the account
//!   use case.

pub mod code;
pub mod codes;
pub mod service;
pub mod settings;

pub use service::{
    Found, Helpdesk, HelpdeskError, HelpdeskParts, NotAllowed, Redemption, Search, SearchError,
    Staff,
};
pub use settings::HelpdeskSettings;
