//! tunnus: self-service activation and password reset for campus accounts, proven with Finnish
//! strong electronic identification.
//!
//! A person proves who they are at a national identification broker of the Finnish Trust Network
//! (bank credentials or mobile certificate), spoken to over OpenID Connect. The verified national
//! identity code finds exactly one campus account, and the person then activates it or sets a new
//! password, written through a pluggable directory backend.
//!
//! The path of one request:
//!
//! 1. `GET /` shows the landing page; `POST /login` creates a login transaction (state, nonce, PKCE
//!    verifier) in the [`store::Store`], binds it to the browser with a cookie, and redirects to the
//!    broker with a signed request object ([`oidc::request`]).
//! 2. The broker sends the browser back to `GET /callback`. The transaction is taken exactly once, the
//!    code is exchanged with `private_key_jwt` ([`oidc::token`]), the ID token is decrypted
//!    ([`oidc::jwe`]) and validated ([`oidc::id_token`]) into an [`identity::VerifiedIdentity`].
//! 3. The account use case ([`account::AccountService`]) finds exactly one account for the verified
//!    identity code, decides whether it may use self-service, and opens a session with a grant to
//!    write its password once; `POST /account` checks the password, re-reads the account, writes it
//!    through the [`directory::Directory`], and records the success.
//!
//! Modules:
//! - [`config`]: loads the settings (defaults → TOML → `TUNNUS_` environment) and composes each
//!   module's own section and its validation into one check;
//! - [`account`]: the account use case every channel calls: eligibility, password rules, sealed
//!   sessions and grants, writes, audit;
//! - [`directory`]: the accounts (memory or LDAP), behind a decorator that times every call;
//! - [`limits`]: rate limits counted in the store;
//! - [`app`]: [`app::App`] builds the state and the router and serves it;
//! - [`http`]: one handler module per page, middleware, and [`http::AppError`];
//! - [`oidc`]: the relying party (discovery, request objects, client assertions, JWE, ID tokens);
//! - [`keys`]: the service's own keys, JWKS, signed JWKS and entity statement;
//! - [`identity`]: [`identity::NationalId`] (the Finnish identity code) and the verified identity;
//! - [`store`]: short-lived state with TTLs and single-use takes;
//! - [`secret`]: fingerprints and constant-time comparison of the browser's secret values;
//! - [`logging`]: the `[log]` section and starting the log;
//! - [`metrics`]: counters and latency histograms for `/metrics`;
//! - [`audit`]: audit events that never carry a plain identity code;
//! - [`clock`]: the only reader of wall time;
//! - [`i18n`]: Finnish, Swedish and English texts;
//! - [`dev`]: `tunnus dev`, the service and the mock broker in one process;
//! - [`mock_idp`]: a Keycloak-shaped FTN mock broker for development and tests.

pub mod account;
pub mod app;
pub mod audit;
pub mod clock;
pub mod config;
pub mod dev;
pub mod directory;
pub mod http;
pub mod i18n;
pub mod identity;
pub mod keys;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod mock_idp;
pub mod oidc;
pub mod random;
pub mod secret;
pub mod store;
