//! The helpdesk channel: for people who cannot use strong electronic identification, staff check who
//! they are and issue a one-time activation code, delivered in person, through a campus janitor or
//! by registered letter. The person then types their username and the code into the code page, which
//! opens the same account page as strong identification, and chooses their own password; a password
//! is never sent anywhere.
//!
//! - [`code`]: the codes themselves (generation, reading what people type, keyed hashes);
//! - [`codes`]: issued codes in the store: issue, revoke, redeem, and what became of each;
//! - [`service`]: [`Helpdesk`], the channel's use cases, handing redeemed codes to the account
//!   use case;
//! - [`requests`]: service requests, in which a person asks from afar for a code by janitor or
//!   registered letter, and the staff queue that acts on them (the use cases are
//!   [`Helpdesk`]'s, in `service_requests.rs`);
//! - [`letter`]: the printable documents that carry a code (PDF), free of HTTP and storage.
//! - [`sso`]: staff sign-in through the campus SSO ([`sso::StaffSignIn`]) and the staff sessions
//!   it opens ([`sso::session::StaffSessions`]).

pub mod code;
pub mod codes;
pub mod letter;
pub mod requests;
pub mod service;
pub mod service_requests;
pub mod settings;
pub mod sso;

pub use service::{
    Found, Helpdesk, HelpdeskError, HelpdeskParts, NotAllowed, Redemption, Search, SearchError,
    Staff, Standing,
};
pub use settings::HelpdeskSettings;
