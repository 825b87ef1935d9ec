//! The helpdesk channel: one-time activation codes that staff issue after checking a person's
//! identity document, delivered in person, through a janitor or by registered letter, and redeemed
//! by the person on the code page, which opens the same account page as strong identification.
//!
//! - [`code`]: the codes themselves (generation, reading what people type, keyed hashes);
//! - [`codes`]: issued codes in the store: issue, revoke, redeem, and what became of each;
//! - [`service`]: [`Helpdesk`], the channel's use cases, handing redeemed codes to the account
//!   use case;
//! - [`sso`]: staff sign-in through the campus SSO ([`sso::StaffSignIn`]) and the staff sessions
//!   it opens ([`sso::session::StaffSessions`]).

pub mod code;
pub mod codes;
pub mod service;
pub mod settings;
pub mod sso;

pub use service::{Helpdesk, HelpdeskError, HelpdeskParts, NotAllowed, Redemption, Staff};
pub use settings::HelpdeskSettings;
