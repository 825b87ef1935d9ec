//! The helpdesk channel: for people who cannot use strong electronic identification, staff check who
//! they are and issue a one-time activation code, delivered in person, through a campus janitor or
//! by registered letter. The person then types their username and the code into the service and
//! chooses their own password; a password is never sent anywhere.
//!
//! - [`letter`]: the printable documents that carry a code (PDF), free of HTTP and storage.

pub mod letter;
