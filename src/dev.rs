//! `tunnus dev`: the service and the mock broker in one process, with fresh keys, in-memory state
//! and the test persons, so that `cargo run` shows the whole flow on a laptop; with the helpdesk
//! channel on, the mock broker's campus realm is the campus SSO staff sign in with.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use url::Url;

use crate::app::{App, Dependencies, StartError};
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, Mode, Settings};
use crate::helpdesk::sso::settings::ClientAuth;
use crate::keys::{KeyError, ServiceKeys};
use crate::mock_idp::{
    self, CampusSettings, IdTokenEncryption, MockClientSettings, MockIdp, MockIdpError,
};

/// The development settings built into the program (`config/dev.toml` of the source): what
/// `tunnus dev` uses without `--config` when the working directory has no `config/dev.toml`.
pub const DEV_SETTINGS: &str = include_str!("../config/dev.toml");

/// Dev mode could not start; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("keys: {0}")]
    Keys(KeyError),
    #[error("mock broker: {0}")]
    Mock(MockIdpError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

// By hand rather than `#[from]`, which would also make the wrapped error the `source` and so print
// its text twice under `{:#}`: the message above already includes it.
impl From<KeyError> for DevError {
    fn from(error: KeyError) -> Self {
        DevError::Keys(error)
    }
}

impl From<MockIdpError> for DevError {
    fn from(error: MockIdpError) -> Self {
        DevError::Mock(error)
    }
}

/// The two servers of dev mode, bound and ready to serve.
pub struct DevServers {
    pub app: App,
    pub mock: MockIdp,
    pub persons: Vec<mock_idp::Person>,
    /// The staff persons of the campus realm, when it is served.
    pub staff: Vec<mock_idp::StaffPerson>,
}

/// Binds the service and the mock broker and wires them to each other: the broker trusts the
/// service's keys and redirect URI, the service uses the broker as its issuer and accepts the test
/// identities. With the helpdesk channel on and no `helpdesk.sso.issuer`, the broker's campus
/// realm is the campus SSO: it trusts the service's keys (or its client secret) and staff redirect
/// URI, and the service signs staff in there.
pub async fn prepare(mut settings: Settings) -> Result<DevServers, DevError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let keys = Arc::new(match &settings.keys.dir {
        Some(dir) => ServiceKeys::load(dir, settings.broker.signing_alg)?,
        None => ServiceKeys::generate(settings.broker.signing_alg)?,
    });
    let addr = settings.server.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| DevError::Listen { addr, error })?;
    let local = listener
        .local_addr()
        .map_err(|error| DevError::Listen { addr, error })?;
    let public_url = settings.public_url_on(local);

    let mut mock_settings = settings.mock_idp.clone();
    if mock_settings.clients.is_empty() {
        mock_settings.clients.push(MockClientSettings::default());
    }
    // The service is the client registered with `broker.client_id`, else the first one.
    let service_client = mock_settings
        .clients
        .iter()
        .position(|client| client.client_id == settings.broker.client_id)
        .unwrap_or(0);
    let client = &mut mock_settings.clients[service_client];
    if !settings.broker.client_id.is_empty() {
        client.client_id = settings.broker.client_id.clone();
    }
    if client.redirect_uris.is_empty() {
        client.redirect_uris.push(
            public_url
                .join("/callback")
                .map_or_else(|_| String::new(), String::from),
        );
    }
    if client.jwks.is_none() && client.jwks_url.is_none() {
        client.jwks = Some(keys.public_jwks(settings.broker.id_token_encryption.alg));
    }
    if client.id_token_encryption.is_some() || settings.broker.id_token_encryption.required {
        client.id_token_encryption = Some(IdTokenEncryption {
            alg: settings.broker.id_token_encryption.alg,
            enc: settings.broker.id_token_encryption.enc,
        });
    }
    let campus_sso = settings.helpdesk.enabled && settings.helpdesk.sso.issuer.is_none();
    if campus_sso && mock_settings.campus.is_none() {
        mock_settings.campus = Some(CampusSettings::default());
    }
    if let Some(campus) = &mut mock_settings.campus {
        let sso = &settings.helpdesk.sso;
        let client = &mut campus.client;
        if !sso.client_id.is_empty() {
            client.client_id = sso.client_id.clone();
        }
        if client.redirect_uris.is_empty() {
            client.redirect_uris.push(
                public_url
                    .join("/helpdesk/callback")
                    .map_or_else(|_| String::new(), String::from),
            );
        }
        if let (ClientAuth::ClientSecretBasic, Some(path), None) = (
            sso.client_auth,
            &sso.client_secret_file,
            &client.client_secret,
        ) {
            use secrecy::ExposeSecret;
            let secret = crate::config::read_secret_file(path).map_err(|problem| {
                ConfigError::invalid("helpdesk.sso.client_secret_file", problem)
            })?;
            client.client_secret = Some(secret.expose_secret().to_owned());
        }
        if client.jwks.is_none() && client.jwks_url.is_none() {
            client.jwks = Some(keys.public_jwks(settings.broker.id_token_encryption.alg));
        }
    }
    let persons = mock_settings.test_persons()?;
    let mock = MockIdp::bind(mock_settings.clone(), persons.clone(), clock.clone()).await?;
    let staff = mock.campus_staff();
    if campus_sso {
        let sso = &mut settings.helpdesk.sso;
        sso.issuer = mock
            .campus_issuer()
            .and_then(|issuer| Url::parse(&issuer).ok());
        if sso.client_id.is_empty()
            && let Some(campus) = &mock_settings.campus
        {
            sso.client_id = campus.client.client_id.clone();
        }
    }

    let broker = &mut settings.broker;
    if broker.issuer.is_none() {
        broker.issuer = Url::parse(&mock.issuer()).ok();
    }
    if broker.client_id.is_empty() {
        broker.client_id = mock_settings.clients[service_client].client_id.clone();
    }
    broker.test_identities = true;
    if !broker.accepted_acr.contains(&mock_settings.acr) {
        broker.accepted_acr.push(mock_settings.acr.clone());
    }
    settings.validate(Mode::Dev)?;

    let app = App::build_on(
        listener,
        settings,
        Dependencies {
            clock,
            keys,
            store: None,
            directory: None,
            audit: None,
        },
    )
    .await?;
    Ok(DevServers {
        app,
        mock,
        persons,
        staff,
    })
}

impl DevServers {
    /// What a developer needs to start clicking: both URLs and who can log in.
    pub fn banner(&self) -> String {
        let mut text = format!(
            "tunnus (dev mode)\n  service:     {}\n  mock broker: {}\n  test persons (pick one on the broker's page):\n",
            self.app.state().public_url,
            self.mock.issuer()
        );
        for person in &self.persons {
            text.push_str(&format!(
                "    {:<12} {}\n",
                person.masked_national_id(),
                person.full_name()
            ));
        }
        let state = self.app.state();
        if let (Some(_), Some(sso)) = (&state.staff_sign_in, &state.settings.helpdesk.sso.issuer) {
            text.push_str(&format!(
                "  helpdesk:    {}\n  campus SSO:  {}\n  staff (pick one on the campus SSO's page):\n",
                state.url("/helpdesk"),
                sso.as_str().trim_end_matches('/')
            ));
            for staff in &self.staff {
                text.push_str(&format!(
                    "    {:<12} {:<20} {}\n",
                    staff.username,
                    staff.full_name(),
                    staff.groups.join(", ")
                ));
            }
        }
        text
    }

    /// Serves both until `shutdown` resolves.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DevError> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut mock_stopped = stopped.clone();
        let mut app_stopped = stopped;
        let mock = tokio::spawn(self.mock.serve(async move {
            let _ = mock_stopped.wait_for(|stop| *stop).await;
        }));
        let app = self.app.serve(async move {
            let _ = app_stopped.wait_for(|stop| *stop).await;
        });
        let trigger = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        let (served, ()) = tokio::join!(app, trigger);
        served.map_err(DevError::Serve)?;
        match mock.await {
            Ok(result) => result.map_err(DevError::Serve),
            Err(join) => Err(DevError::Serve(std::io::Error::other(join.to_string()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_dev_settings_are_the_shipped_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dev.toml");
        assert_eq!(DEV_SETTINGS, std::fs::read_to_string(path).unwrap());
    }

    /// Files named in the dev settings would be looked for in the working directory; left out, they
    /// are the built-in ones, so `tunnus dev` runs from any folder.
    #[test]
    fn the_built_in_dev_settings_name_no_files() {
        let settings = Settings::from_toml(DEV_SETTINGS).unwrap();
        assert_eq!(settings.directory.seed, None);
        assert_eq!(settings.password.deny_list, None);
        assert_eq!(settings.mock_idp.persons, None);
        assert_eq!(settings.keys.dir, None);
        assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.helpdesk.sso.client_secret_file, None);
    }

    /// `cargo run` shows the whole helpdesk channel: the campus realm is served, the service signs
    /// staff in there with its own key, and the banner says who can sign in.
    #[tokio::test]
    async fn the_built_in_dev_settings_sign_staff_in_at_the_campus_realm() {
        let mut settings = Settings::from_toml(DEV_SETTINGS).unwrap();
        settings.server.listen = "127.0.0.1:0".parse().unwrap();
        settings.mock_idp.listen = "127.0.0.1:0".parse().unwrap();
        assert!(settings.helpdesk.enabled);
        assert_eq!(settings.helpdesk.sso.issuer, None);
        let servers = prepare(settings).await.unwrap();
        let state = servers.app.state();
        assert!(state.helpdesk.is_some() && state.staff_sign_in.is_some());
        let campus = servers.mock.campus_issuer().unwrap();
        assert!(campus.ends_with("/realms/campus"), "{campus}");
        assert_eq!(
            state.settings.helpdesk.sso.issuer.as_ref().map(Url::as_str),
            Some(campus.as_str())
        );
        assert_eq!(
            state.settings.helpdesk.sso.client_auth,
            ClientAuth::PrivateKeyJwt
        );
        let banner = servers.banner();
        let lines: Vec<&str> = banner.lines().collect();
        assert!(lines[1].contains(&state.public_url.to_string()), "{banner}");
        assert!(lines[2].ends_with("/realms/ftn"), "{banner}");
        assert!(
            banner.contains(&format!("campus SSO:  {campus}")),
            "{banner}"
        );
        for staff in ["hd-anna", "hd-ilkka", "kalle"] {
            assert!(banner.contains(staff), "{banner}");
        }
    }
}
