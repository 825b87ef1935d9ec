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
//! - [`helpdesk`]: the helpdesk channel's activation codes; its printable letters and slips;
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
//! - [`helpdesk`]: the helpdesk channel's codes, and staff sign-in through the campus SSO
//!   ([`helpdesk::sso`]);
//! - [`mock_idp`]: a Keycloak-shaped FTN mock broker for development and tests, with a second realm
//!   that plays the campus SSO.
//!
//! Errors: each module has one `thiserror` enum whose messages say what to fix. A message includes
//! the text of what caused it, and `source()` is `None`, so a log line's `{}` and the command line's
//! `{:#}` both show every cause exactly once. A message that wraps another error therefore comes with
//! a hand-written `From`, not `#[from]`, `#[source]` or a field named `source` (each of those makes the
//! wrapped error the `source` as well); `#[error(transparent)]` passes an error on unchanged.

pub mod account;
pub mod app;
pub mod audit;
pub mod clock;
pub mod config;
pub mod dev;
pub mod directory;
pub mod helpdesk;
pub mod http;
pub mod i18n;
pub mod identity;
pub mod keys;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod mock_idp;
pub mod notify;
pub mod oidc;
pub mod random;
pub mod secret;
pub mod store;

/// Files of the unit tests.
#[cfg(test)]
pub(crate) mod test_files {
    /// A fresh folder for one test's files under `target/tmp/unit`: the build's own scratch space,
    /// gone with `cargo clean`, rather than the machine's temp folder.
    pub(crate) fn fresh_dir(name: &str) -> std::path::PathBuf {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/tmp/unit")
            .join(format!(
                "{name}-{}-{}",
                std::process::id(),
                crate::random::short_id()
            ));
        std::fs::create_dir_all(&dir).expect("a folder under target/tmp");
        dir
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::net::{Ipv4Addr, SocketAddr};

    use crate::account::password::PolicyError;
    use crate::app::StartError;
    use crate::audit::AuditError;
    use crate::config::ConfigError;
    use crate::dev::DevError;
    use crate::directory::DirectoryError;
    use crate::i18n::CatalogError;
    use crate::keys::KeyError;
    use crate::mock_idp::MockIdpError;
    use crate::oidc::OidcError;
    use crate::oidc::id_token::IdTokenError;
    use crate::oidc::jwe::JweError;

    /// What `main` prints for `error`: its message, then each `source` (anyhow's `{:#}`).
    fn printed(error: impl Error + Send + Sync + 'static) -> String {
        format!("{:#}", anyhow::Error::from(error))
    }

    fn shows_once(error: impl Error + Send + Sync + 'static, cause: &str) {
        assert!(error.source().is_none(), "{error} has a source");
        let printed = printed(error);
        assert_eq!(printed.matches(cause).count(), 1, "{printed}");
    }

    const CAUSE: &str = "the disk is on fire";

    fn io() -> std::io::Error {
        std::io::Error::other(CAUSE)
    }

    fn addr() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 8080))
    }

    #[test]
    fn errors_that_wrap_a_cause_show_it_once_and_have_no_source() {
        let key = || KeyError::Unreadable {
            path: "signing.pem".into(),
            error: io(),
        };
        shows_once(IdTokenError::from(JweError::CriticalHeader), "(`crit`)");
        shows_once(OidcError::from(key()), CAUSE);
        shows_once(
            OidcError::from(IdTokenError::from(JweError::CriticalHeader)),
            "(`crit`)",
        );
        let config = || ConfigError::File {
            key: "--config",
            path: "tunnus.toml".into(),
            error: io(),
        };
        shows_once(config(), CAUSE);
        let policy = || PolicyError::DenyList {
            path: "words.txt".into(),
            error: io(),
        };
        shows_once(policy(), CAUSE);
        let toml_error = toml::from_str::<toml::Table>("= 1").expect_err("not TOML");
        let toml_message = toml_error.message().to_owned();
        let catalog = CatalogError::BuiltIn {
            lang: "fi",
            error: toml_error,
        };
        let mock = [
            MockIdpError::Read {
                path: "persons.toml".into(),
                error: io(),
            },
            MockIdpError::Bind {
                addr: addr(),
                error: io(),
            },
            MockIdpError::SigningKey { error: key() },
        ];

        let start = vec![
            StartError::Listen {
                addr: addr(),
                error: io(),
            },
            StartError::from(OidcError::from(key())),
            StartError::from(DirectoryError::Unavailable {
                detail: CAUSE.to_owned(),
            }),
            StartError::from(policy()),
            StartError::from(AuditError::Path(CAUSE.to_owned())),
        ];
        shows_once(StartError::from(catalog), &toml_message);
        for error in start {
            shows_once(error, CAUSE);
        }
        let mut dev = vec![
            DevError::from(config()),
            DevError::from(key()),
            DevError::from(StartError::from(policy())),
            DevError::Listen {
                addr: addr(),
                error: io(),
            },
            DevError::Serve(io()),
        ];
        dev.extend(mock.into_iter().map(DevError::from));
        for error in dev {
            shows_once(error, CAUSE);
        }
    }
}
