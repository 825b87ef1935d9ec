//! The helpdesk staff pages under `/helpdesk`, behind the campus SSO.
//!
//! Every staff page starts with [`staff`] (or takes the [`SignedInStaff`] extractor): it answers
//! 404 while the helpdesk channel is off, and "your helpdesk session has ended" (403, with a way to
//! sign in again) without a live staff session; else it gives the [`StaffSession`]: the staff member
//! ([`crate::helpdesk::Staff`]: username, name, groups) for [`crate::helpdesk::Helpdesk`]'s use
//! cases, and the CSRF token every staff form carries in a `csrf` field. Every staff form post
//! passes [`check_csrf`] before it changes anything. `templates/helpdesk/sign_out.html` is the
//! sign-out form to include on every staff page (it needs `csrf` in the template).
//!
//! - [`sign_in`]: `GET /helpdesk` (the sign-in page, or the staff home page when signed in),
//!   `POST /helpdesk/login`, `GET /helpdesk/callback` (the redirect URI registered at the campus
//!   SSO) and `POST /helpdesk/logout`;
//! - [`accounts`]: the signed-in staff member's pages: the search (home) page, issuing, printing
//!   and revoking codes;
//! - [`requests`]: the service-request queue, for members of `helpdesk.requests.staff_groups`.

pub mod accounts;
pub mod requests;
pub mod sign_in;

pub use crate::helpdesk::sso::session::StaffSession;
pub use sign_in::{SignedInStaff, check_csrf, staff};
