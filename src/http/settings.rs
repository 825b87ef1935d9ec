//! `[server]` and `[ui]`: where the service listens and what its pages say about the organisation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{ConfigError, HumanDuration, IpNet, Mode, require_https_unless_loopback};

/// The most `server.max_connections` may be: far above any open-files limit.
const MAX_CONNECTIONS: usize = 1_000_000;

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The address people and brokers reach the service at; every absolute URL comes from here.
    pub public_url: Option<Url>,
    /// Peers whose `X-Forwarded-For` is believed: addresses or CIDR blocks.
    pub trusted_proxies: Vec<IpNet>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_grace: HumanDuration,
    /// How long a connection may take to send a request's line and headers, and stay idle between
    /// requests; then it is closed. Cuts off clients that send a byte at a time (slowloris).
    pub header_read_timeout: HumanDuration,
    /// How long a client may take to send a request's whole body (the forms are small); then the
    /// request is refused and the connection closed. Cuts off clients that drip a body a byte at a
    /// time.
    pub body_read_timeout: HumanDuration,
    /// Connections open at once. Further ones wait until one closes. Keep it under the process's
    /// open-files limit.
    pub max_connections: usize,
    /// `production` (the default) or `test`: only a test installation may accept test identities
    /// or keep its accounts in memory.
    pub environment: Environment,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            trusted_proxies: Vec::new(),
            max_body_bytes: 16 * 1024,
            shutdown_grace: HumanDuration(Duration::from_secs(20)),
            header_read_timeout: HumanDuration(Duration::from_secs(10)),
            body_read_timeout: HumanDuration(Duration::from_secs(10)),
            max_connections: 1024,
            environment: Environment::Production,
        }
    }
}

/// What kind of installation this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Real people and real accounts: test identities and the in-memory directory are refused.
    #[default]
    Production,
    /// A test installation: `serve` accepts `broker.test_identities` and the memory directory.
    Test,
}

impl ServerSettings {
    /// The public URL of a service bound to `local`: `public_url`, or `http://` + the bound
    /// address (development and tests, where the port may have been chosen by the system).
    pub fn public_url_on(&self, local: SocketAddr) -> Url {
        self.public_url.clone().unwrap_or_else(|| {
            // A socket address always makes a valid URL host and port.
            Url::parse(&format!("http://{local}/"))
                .unwrap_or_else(|_| Url::parse("http://127.0.0.1/").expect("literal URL parses"))
        })
    }

    /// Rejects server settings that cannot work, naming the key.
    pub fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        if mode == Mode::Serve && self.public_url.is_none() {
            return Err(ConfigError::invalid("server.public_url", "is required"));
        }
        let public_url = self.public_url_on(self.listen);
        require_https_unless_loopback("server.public_url", &public_url)?;
        if public_url.path() != "/" || public_url.query().is_some() {
            return Err(ConfigError::invalid(
                "server.public_url",
                "must be an origin such as https://tunnus.example.fi/ (serving under a path is not supported)",
            ));
        }
        let header_read_timeout = self.header_read_timeout.get();
        if header_read_timeout < Duration::from_secs(1)
            || header_read_timeout > Duration::from_secs(300)
        {
            return Err(ConfigError::invalid(
                "server.header_read_timeout",
                "must be between 1 second and 5 minutes",
            ));
        }
        let body_read_timeout = self.body_read_timeout.get();
        if body_read_timeout < Duration::from_secs(1)
            || body_read_timeout > Duration::from_secs(300)
        {
            return Err(ConfigError::invalid(
                "server.body_read_timeout",
                "must be between 1 second and 5 minutes",
            ));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(ConfigError::invalid(
                "server.max_connections",
                format!("must be between 1 and {MAX_CONNECTIONS}"),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "server.max_body_bytes",
                "must be at least 1024",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// Organisation name shown on every page, per language (`fi`, `sv`, `en`).
    pub organisation: BTreeMap<String, String>,
    /// Where people get help (the helpdesk's page).
    pub helpdesk_url: Option<Url>,
    /// The service-request system, for asking the helpdesk to deliver a password to a janitor.
    pub service_request_url: Option<Url>,
    /// The helpdesk's service points and their opening hours.
    pub service_points_url: Option<Url>,
    /// HR services, where staff get a new password.
    pub hr_url: Option<Url>,
    /// A logo (PNG, SVG, JPEG or WebP file) shown in the page header, served by the service itself.
    pub logo: Option<PathBuf>,
    /// Colours of the pages.
    pub colours: Colours,
    /// Language used when neither the link, a cookie nor the browser says otherwise.
    pub default_language: String,
    /// Where people may be sent back to afterwards: absolute URLs; a `return_to` must have the same
    /// scheme, host and port and a path under one of these.
    pub return_to_allowlist: Vec<Url>,
    /// The IT rules of use that activation asks people to accept.
    pub terms_url: Option<Url>,
    /// Where the success page sends people when they came without a `return_to` (the campus login).
    pub login_url: Option<Url>,
    /// Any page text reworded, per language: `[ui.texts.fi] landing_title = "..."`.
    pub texts: crate::i18n::TextOverrides,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            organisation: BTreeMap::new(),
            helpdesk_url: None,
            service_request_url: None,
            service_points_url: None,
            hr_url: None,
            logo: None,
            colours: Colours::default(),
            default_language: "fi".to_owned(),
            return_to_allowlist: Vec::new(),
            terms_url: None,
            login_url: None,
            texts: BTreeMap::new(),
        }
    }
}

/// `[ui.colours]`: `#rrggbb` values. Text on them must stay readable (WCAG AA contrast 4.5:1), so
/// a combination that is too faint is refused at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Colours {
    /// Buttons and links (white text on buttons).
    pub primary: String,
    /// The page header's background.
    pub header_background: String,
    /// The page header's text.
    pub header_text: String,
}

impl Default for Colours {
    fn default() -> Self {
        Self {
            primary: "#005a9c".to_owned(),
            header_background: "#0b3d63".to_owned(),
            header_text: "#ffffff".to_owned(),
        }
    }
}

/// The red, green and blue of a `#rrggbb` colour.
pub fn parse_colour(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// The WCAG 2.1 contrast ratio of two colours (1 to 21).
pub fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let luminance = |rgb: [u8; 3]| {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2])
    };
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

impl UiSettings {
    /// Rejects page settings that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for url in &self.return_to_allowlist {
            if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
                return Err(ConfigError::invalid(
                    "ui.return_to_allowlist",
                    format!("`{url}` is not an absolute http(s) URL"),
                ));
            }
            require_https_unless_loopback("ui.return_to_allowlist", url)?;
        }
        if !crate::i18n::Lang::ALL
            .iter()
            .any(|lang| lang.code() == self.default_language)
        {
            return Err(ConfigError::invalid(
                "ui.default_language",
                "must be \"fi\", \"sv\" or \"en\"",
            ));
        }
        if let Some(lang) = self
            .organisation
            .keys()
            .find(|l| crate::i18n::Lang::from_code(l).is_none())
        {
            return Err(ConfigError::invalid(
                "ui.organisation",
                format!("`{lang}` is not one of fi, sv, en"),
            ));
        }
        let colours = &self.colours;
        let white = [255, 255, 255];
        let parsed = [
            ("ui.colours.primary", &colours.primary),
            ("ui.colours.header_background", &colours.header_background),
            ("ui.colours.header_text", &colours.header_text),
        ]
        .map(|(key, value)| {
            parse_colour(value).ok_or_else(|| {
                ConfigError::invalid(key, format!("`{value}` is not a #rrggbb colour"))
            })
        });
        let [primary, header_background, header_text] = parsed;
        let (primary, header_background, header_text) =
            (primary?, header_background?, header_text?);
        if contrast(primary, white) < 4.5 {
            return Err(ConfigError::invalid(
                "ui.colours.primary",
                "white text on it would be too faint (contrast under 4.5:1); choose a darker colour",
            ));
        }
        if contrast(header_background, header_text) < 4.5 {
            return Err(ConfigError::invalid(
                "ui.colours.header_text",
                "too faint on ui.colours.header_background (contrast under 4.5:1)",
            ));
        }
        if let Some(logo) = &self.logo {
            if super::assets::logo_type(logo).is_none() {
                return Err(ConfigError::invalid(
                    "ui.logo",
                    "must be a .png, .svg, .jpg or .webp file",
                ));
            }
            if !logo.is_file() {
                return Err(ConfigError::invalid(
                    "ui.logo",
                    format!("{} does not exist", logo.display()),
                ));
            }
        }
        if let Err(error) = crate::i18n::Catalog::with_overrides(&self.texts) {
            return Err(ConfigError::invalid("ui.texts", error.to_string()));
        }
        Ok(())
    }
}
