//! Typed settings.
//!
//! Layers, later ones winning: built-in defaults → a TOML file → `TUNNUS_` environment variables, where
//! `__` separates nested keys (`TUNNUS_BROKER__CLIENT_ID=...`). [`Settings::validate`] then rejects
//! combinations that cannot work, with a message that names the key. The names are a contract with the
//! people who run the service: keys are added, never renamed.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use crate::account::eligibility::AccountSettings;
use crate::account::password::PasswordSettings;
use crate::audit::AuditSettings;
use crate::directory::DirectorySettings;
use crate::http::limits::LimitSettings;
use crate::keys::SigningAlg;
use crate::mock_idp::MockIdpSettings;
use crate::oidc::claims::{ClaimOverrides, Preset};
use crate::oidc::jwe::{ContentEncryption, KeyManagementAlg};
pub use crate::store::{StoreKind, StoreSettings};

/// Assurance level "substantial" (bank credentials, mobile certificate).
pub const ACR_SUBSTANTIAL: &str = "http://ftn.ficora.fi/2017/loa2";
/// Assurance level "high".
pub const ACR_HIGH: &str = "http://ftn.ficora.fi/2017/loa3";

/// A setting that cannot be used. The message always names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read as settings; fix the named key.
    #[error("{0}")]
    Parse(Box<figment::Error>),
    /// A value was read but does not work with the others; fix the named key.
    #[error("`{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
    /// A file the settings point at could not be read.
    #[error("`{key}`: cannot read {path}: {error}")]
    File {
        key: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
}

impl ConfigError {
    fn invalid(key: &'static str, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key,
            problem: problem.into(),
        }
    }
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        ConfigError::Parse(Box::new(error))
    }
}

/// All settings of the service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub broker: BrokerSettings,
    pub keys: KeySettings,
    pub store: StoreSettings,
    pub directory: DirectorySettings,
    pub accounts: AccountSettings,
    pub password: PasswordSettings,
    pub audit: AuditSettings,
    pub limits: LimitSettings,
    pub ui: UiSettings,
    pub log: LogSettings,
    /// Only read by `tunnus dev` and `tunnus mock-idp`; `serve` never starts the mock broker.
    pub mock_idp: MockIdpSettings,
}

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
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            trusted_proxies: Vec::new(),
            max_body_bytes: 16 * 1024,
            shutdown_grace: HumanDuration(Duration::from_secs(20)),
        }
    }
}

/// `[broker]`: the identification broker and how the service is registered there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSettings {
    /// The broker's issuer identifier; discovery is read from `{issuer}/.well-known/openid-configuration`.
    pub issuer: Option<Url>,
    /// The client id the broker gave this service.
    pub client_id: String,
    /// Which broker's claim names to expect.
    pub preset: Preset,
    /// Scopes besides `openid` (OP needs `weak` for services that hand out passwords).
    pub scopes: Vec<String>,
    /// Assurance levels asked for.
    pub acr_values: Vec<String>,
    /// Assurance levels accepted in the ID token.
    pub accepted_acr: Vec<String>,
    /// Send the authorization request as a signed request object (RFC 9101).
    pub request_object: bool,
    /// Tell the broker the person's language.
    pub ui_locales: bool,
    /// Send a PKCE challenge (S256).
    pub pkce: bool,
    /// `prompt` sent to the broker; empty for none.
    pub prompt: String,
    /// Algorithm of request objects and client assertions.
    pub signing_alg: SigningAlg,
    /// The `aud` of client assertions: the token endpoint URL (most brokers) or the issuer (Idura).
    pub client_assertion_audience: AssertionAudience,
    /// How the broker encrypts ID tokens to this service.
    pub id_token_encryption: IdTokenEncryption,
    /// Clock difference tolerated in token times.
    pub clock_skew: HumanDuration,
    /// Oldest ID token (by `iat`) accepted.
    pub max_token_age: HumanDuration,
    /// Accept temporary and test identity codes (individual numbers 900–999). Test environments only.
    pub test_identities: bool,
    /// Timeout of every call to the broker.
    pub http_timeout: HumanDuration,
    /// How long discovery is cached before it is read again.
    pub discovery_refresh: HumanDuration,
    /// Claim names that override the preset.
    pub claims: ClaimOverrides,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: String::new(),
            preset: Preset::Keycloak,
            scopes: Vec::new(),
            acr_values: vec![ACR_SUBSTANTIAL.to_owned()],
            accepted_acr: vec![ACR_SUBSTANTIAL.to_owned(), ACR_HIGH.to_owned()],
            request_object: true,
            ui_locales: true,
            pkce: true,
            prompt: "login".to_owned(),
            signing_alg: SigningAlg::RS256,
            client_assertion_audience: AssertionAudience::TokenEndpoint,
            id_token_encryption: IdTokenEncryption::default(),
            clock_skew: HumanDuration(Duration::from_secs(60)),
            max_token_age: HumanDuration(Duration::from_secs(600)),
            test_identities: false,
            http_timeout: HumanDuration(Duration::from_secs(10)),
            discovery_refresh: HumanDuration(Duration::from_secs(3600)),
            claims: ClaimOverrides::default(),
        }
    }
}

/// `[broker.id_token_encryption]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdTokenEncryption {
    /// Refuse ID tokens that are not encrypted. Leave on for every real broker.
    pub required: bool,
    /// Key management algorithm registered at the broker.
    pub alg: KeyManagementAlg,
    /// Content encryption registered at the broker.
    pub enc: ContentEncryption,
}

impl Default for IdTokenEncryption {
    fn default() -> Self {
        Self {
            required: true,
            alg: KeyManagementAlg::RsaOaep,
            enc: ContentEncryption::A128CbcHs256,
        }
    }
}

/// What client assertions name as their audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionAudience {
    TokenEndpoint,
    Issuer,
}

/// `[keys]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// Folder with `signing.pem`, `encryption.pem`, `entity.pem` (and older `encryption-*.pem`).
    /// Without it (development only) fresh keys are made at every start.
    pub dir: Option<PathBuf>,
}

/// `[ui]`: what the pages say about the organisation.
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

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `json` (one object per line, for log collectors) or `text`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `tunnus=debug,info`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

/// A duration written as `500ms`, `60s`, `10m` or `1h` (a bare number is seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let amount: u64 = digits
            .parse()
            .map_err(|_| format!("`{input}` is not a duration such as 30s, 10m or 1h"))?;
        let duration = match unit.trim() {
            "ms" => Duration::from_millis(amount),
            "" | "s" => Duration::from_secs(amount),
            "m" | "min" => Duration::from_secs(amount.saturating_mul(60)),
            "h" => Duration::from_secs(amount.saturating_mul(3600)),
            _ => return Err(format!("`{input}` has an unknown unit (use ms, s, m or h)")),
        };
        Ok(HumanDuration(duration))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(secs) => Ok(HumanDuration(Duration::from_secs(secs))),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// An address block such as `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// True when `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{input}` is not an address or a block such as 10.0.0.0/8");
        let (addr, prefix) = match input.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (input, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(IpNet { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// How the settings will be used: `serve` demands production settings, `dev` fills in development ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `tunnus serve`: a real broker, keys from files.
    Serve,
    /// `tunnus dev`: the mock broker in the same process, fresh keys, test identities.
    Dev,
}

impl Settings {
    /// Reads defaults, then `file` (if given), then `TUNNUS_` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, Env::prefixed("TUNNUS_").split("__"))
    }

    /// Like [`Settings::load`] with an explicit environment provider (tests use this).
    pub fn load_from(file: Option<&Path>, env: Env) -> Result<Settings, ConfigError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::File {
                    key: "--config",
                    path: file.to_owned(),
                    error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                });
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        Ok(figment.merge(env).extract()?)
    }

    /// Like [`Settings::load`] with the file's content given as text (the built-in dev settings).
    pub fn load_text(text: &str) -> Result<Settings, ConfigError> {
        Ok(Figment::new()
            .merge(Toml::string(text))
            .merge(Env::prefixed("TUNNUS_").split("__"))
            .extract()?)
    }

    /// Reads settings from TOML text over the defaults (tests and `check-config` of inline text).
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        Ok(Figment::new().merge(Toml::string(text)).extract()?)
    }

    /// The public URL, from `server.public_url` or, in development, from the listen address.
    pub fn public_url(&self) -> Url {
        self.public_url_on(self.server.listen)
    }

    /// The public URL of a service bound to `local`: `server.public_url`, or `http://` + the bound
    /// address (development and tests, where the port may have been chosen by the system).
    pub fn public_url_on(&self, local: SocketAddr) -> Url {
        self.server.public_url.clone().unwrap_or_else(|| {
            // A socket address always makes a valid URL host and port.
            Url::parse(&format!("http://{local}/"))
                .unwrap_or_else(|_| Url::parse("http://127.0.0.1/").expect("literal URL parses"))
        })
    }

    /// Rejects settings that cannot work, naming the key.
    pub fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        let broker = &self.broker;
        let issuer = broker
            .issuer
            .as_ref()
            .ok_or_else(|| ConfigError::invalid("broker.issuer", "is required"))?;
        require_https_unless_loopback("broker.issuer", issuer)?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::invalid(
                "broker.issuer",
                "must not have a query or fragment",
            ));
        }
        if broker.client_id.trim().is_empty() {
            return Err(ConfigError::invalid("broker.client_id", "is required"));
        }
        if broker.accepted_acr.is_empty() {
            return Err(ConfigError::invalid(
                "broker.accepted_acr",
                "must list at least one assurance level",
            ));
        }
        if broker
            .scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(' '))
        {
            return Err(ConfigError::invalid(
                "broker.scopes",
                "each scope must be one word",
            ));
        }
        if broker.clock_skew.get() > Duration::from_secs(300) {
            return Err(ConfigError::invalid(
                "broker.clock_skew",
                "must be at most 5 minutes",
            ));
        }
        if broker.http_timeout.get().is_zero() {
            return Err(ConfigError::invalid(
                "broker.http_timeout",
                "must be more than zero",
            ));
        }
        if !matches!(broker.prompt.as_str(), "" | "login" | "consent" | "none") {
            return Err(ConfigError::invalid(
                "broker.prompt",
                "must be \"\", \"login\", \"consent\" or \"none\"",
            ));
        }
        if mode == Mode::Serve {
            if !broker.id_token_encryption.required {
                return Err(ConfigError::invalid(
                    "broker.id_token_encryption.required",
                    "must be true outside development: FTN brokers encrypt ID tokens",
                ));
            }
            if self.keys.dir.is_none() {
                return Err(ConfigError::invalid(
                    "keys.dir",
                    "is required (create keys with `tunnus keys generate --out DIR`)",
                ));
            }
            if self.server.public_url.is_none() {
                return Err(ConfigError::invalid("server.public_url", "is required"));
            }
        }
        let public_url = self.public_url();
        require_https_unless_loopback("server.public_url", &public_url)?;
        if public_url.path() != "/" || public_url.query().is_some() {
            return Err(ConfigError::invalid(
                "server.public_url",
                "must be an origin such as https://tunnus.example.fi/ (serving under a path is not supported)",
            ));
        }
        for url in &self.ui.return_to_allowlist {
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
            .any(|lang| lang.code() == self.ui.default_language)
        {
            return Err(ConfigError::invalid(
                "ui.default_language",
                "must be \"fi\", \"sv\" or \"en\"",
            ));
        }
        for (key, texts) in [("ui.organisation", &self.ui.organisation)] {
            if let Some(lang) = texts
                .keys()
                .find(|l| crate::i18n::Lang::from_code(l).is_none())
            {
                return Err(ConfigError::invalid(
                    key,
                    format!("`{lang}` is not one of fi, sv, en"),
                ));
            }
        }
        let colours = &self.ui.colours;
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
        if let Some(logo) = &self.ui.logo {
            if crate::http::assets::logo_type(logo).is_none() {
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
        if let Err(error) = crate::i18n::Catalog::with_overrides(&self.ui.texts) {
            return Err(ConfigError::invalid("ui.texts", error.to_string()));
        }
        if let Err((key, problem)) = self.store.validate() {
            return Err(ConfigError::invalid(key, problem));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "server.max_body_bytes",
                "must be at least 1024",
            ));
        }
        if let Err(problem) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(ConfigError::invalid("log.level", problem.to_string()));
        }
        Ok(())
    }
}

/// The secret held in the file at `path` (read at start): its text without the line break that
/// `echo` and editors leave at the end. An empty file is refused, since an empty password can make a
/// server treat the login as an anonymous one. The error is the problem, for the caller to name its key.
pub fn read_secret_file(path: &Path) -> Result<secrecy::SecretString, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(secrecy::SecretString::from(secret))
}

fn require_https_unless_loopback(key: &'static str, url: &Url) -> Result<(), ConfigError> {
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(ConfigError::invalid(
            key,
            format!("`{url}` must be an https URL (plain http only for localhost)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_toml() -> &'static str {
        r#"
        [server]
        public_url = "https://tunnus.example.fi/"
        [broker]
        issuer = "https://broker.example.fi/oidc"
        client_id = "tunnus-test"
        [keys]
        dir = "/etc/tunnus/keys"
        "#
    }

    #[test]
    fn production_settings_validate() {
        let settings = Settings::from_toml(valid_toml()).unwrap();
        settings.validate(Mode::Serve).unwrap();
        assert_eq!(settings.broker.acr_values, vec![ACR_SUBSTANTIAL]);
    }

    fn problem_key(toml: &str, mode: Mode) -> String {
        match Settings::from_toml(toml) {
            Err(error) => error.to_string(),
            Ok(settings) => match settings.validate(mode) {
                Err(ConfigError::Invalid { key, .. }) => key.to_owned(),
                other => panic!("expected a validation error, got {other:?}"),
            },
        }
    }

    #[test]
    fn missing_issuer_names_the_key() {
        assert_eq!(
            problem_key("[broker]\nclient_id = \"x\"", Mode::Dev),
            "broker.issuer"
        );
    }

    #[test]
    fn plain_http_broker_is_refused_outside_localhost() {
        let toml = valid_toml().replace("https://broker", "http://broker");
        assert_eq!(problem_key(&toml, Mode::Serve), "broker.issuer");
    }

    #[test]
    fn serve_without_keys_dir_is_refused() {
        let toml = valid_toml().replace("dir = \"/etc/tunnus/keys\"", "");
        assert_eq!(problem_key(&toml, Mode::Serve), "keys.dir");
    }

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let toml = format!("{}\nclient_secret = \"x\"", valid_toml());
        let message = problem_key(&toml, Mode::Serve);
        assert!(message.contains("client_secret"), "{message}");
    }

    #[test]
    fn bad_value_names_the_key() {
        let toml = valid_toml().replace(
            "client_id = \"tunnus-test\"",
            "client_id = \"x\"\nclock_skew = \"soon\"",
        );
        let message = problem_key(&toml, Mode::Serve);
        assert!(message.contains("clock_skew"), "{message}");
    }

    #[test]
    fn unencrypted_id_tokens_are_refused_in_production() {
        let toml = format!(
            "{}\n[broker.id_token_encryption]\nrequired = false",
            valid_toml()
        );
        assert_eq!(
            problem_key(&toml, Mode::Serve),
            "broker.id_token_encryption.required"
        );
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("tunnus.toml", valid_toml())?;
            jail.set_env("TUNNUS_BROKER__CLIENT_ID", "from-env");
            let settings = Settings::load(Some(Path::new("tunnus.toml"))).unwrap();
            assert_eq!(settings.broker.client_id, "from-env");
            Ok(())
        });
    }

    #[test]
    fn faint_colours_are_refused() {
        let toml = format!("{}\n[ui.colours]\nprimary = \"#77aaff\"", valid_toml());
        assert_eq!(problem_key(&toml, Mode::Serve), "ui.colours.primary");
        let toml = format!("{}\n[ui.colours]\nheader_text = \"#0b3d64\"", valid_toml());
        assert_eq!(problem_key(&toml, Mode::Serve), "ui.colours.header_text");
        let toml = format!("{}\n[ui.colours]\nprimary = \"blue\"", valid_toml());
        assert_eq!(problem_key(&toml, Mode::Serve), "ui.colours.primary");
        assert!((contrast([0, 0, 0], [255, 255, 255]) - 21.0).abs() < 0.01);
    }

    #[test]
    fn durations_read_units() {
        assert_eq!(
            "90s".parse::<HumanDuration>().unwrap().get(),
            Duration::from_secs(90)
        );
        assert_eq!(
            "10m".parse::<HumanDuration>().unwrap().get(),
            Duration::from_secs(600)
        );
        assert!("10 days".parse::<HumanDuration>().is_err());
        assert!("".parse::<HumanDuration>().is_err());
    }

    #[test]
    fn address_blocks_match_members_only() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let single: IpNet = "192.0.2.7".parse().unwrap();
        assert!(single.contains("192.0.2.7".parse().unwrap()));
        assert!(!single.contains("192.0.2.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
    }
}
