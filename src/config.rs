//! Typed settings, composed of each module's own section.
//!
//! Layers, later ones winning: built-in defaults → a TOML file → `TUNNUS_` environment variables, where
//! `__` separates nested keys (`TUNNUS_BROKER__CLIENT_ID=...`). Each module owns its section's type
//! and its validation; [`Settings::validate`] runs them all and [`Settings::check`] also reads the
//! files the settings name. Every problem is reported with the key it is about. The names are a contract with the
//! people who run the service: keys are added, never renamed.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::account::eligibility::AccountSettings;
use crate::account::password::PasswordSettings;
use crate::account::session::SessionSettings;
use crate::audit::AuditSettings;
use crate::directory::{DirectoryKind, DirectorySettings};
pub use crate::http::settings::{
    Colours, Environment, ServerSettings, UiSettings, contrast, parse_colour,
};
pub use crate::keys::KeySettings;
use crate::limits::LimitSettings;
pub use crate::logging::{LogFormat, LogSettings};
use crate::mock_idp::MockIdpSettings;
pub use crate::oidc::settings::{
    ACR_HIGH, ACR_SUBSTANTIAL, AssertionAudience, BrokerSettings, IdTokenEncryption,
};
pub use crate::store::{StoreKind, StoreSettings};

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
    /// The value of `key` cannot be used because of `problem`.
    pub fn invalid(key: &'static str, problem: impl Into<String>) -> Self {
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
    pub session: SessionSettings,
    pub password: PasswordSettings,
    pub audit: AuditSettings,
    pub limits: LimitSettings,
    pub ui: UiSettings,
    pub log: LogSettings,
    pub helpdesk: crate::helpdesk::HelpdeskSettings,
    /// `[notify]`: e-mail notices and webhooks after each change.
    pub notify: crate::notify::NotifySettings,
    /// Only read by `tunnus dev` and `tunnus mock-idp`; `serve` never starts the mock broker.
    pub mock_idp: MockIdpSettings,
}

/// A duration written as `500ms`, `60s`, `10m`, `1h` or `7d` (a bare number is seconds).
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
            "d" => Duration::from_secs(amount.saturating_mul(24 * 3600)),
            _ => {
                return Err(format!(
                    "`{input}` has an unknown unit (use ms, s, m, h or d)"
                ));
            }
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
            figment = match with_credentials(file)? {
                Some(text) => figment.merge(Toml::string(&text)),
                None => figment.merge(Toml::file_exact(file)),
            };
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
        self.server.public_url_on(self.server.listen)
    }

    /// The public URL of a service bound to `local` (see [`ServerSettings::public_url_on`]).
    pub fn public_url_on(&self, local: SocketAddr) -> Url {
        self.server.public_url_on(local)
    }

    /// Rejects settings that cannot work, naming the key. Each module checks its own section; the
    /// checks that join sections are here.
    pub fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        self.server.validate(mode)?;
        self.broker.validate(mode)?;
        self.keys.validate(mode)?;
        self.store.validate(mode)?;
        self.accounts.validate()?;
        self.session.validate(mode)?;
        self.password.validate()?;
        self.audit.validate(mode)?;
        self.limits.validate()?;
        self.ui.validate()?;
        self.log.validate()?;
        self.helpdesk.validate(mode)?;
        self.notify.validate(mode)?;
        if mode == Mode::Serve && self.server.environment != Environment::Test {
            if self.broker.test_identities {
                return Err(ConfigError::invalid(
                    "broker.test_identities",
                    "accepts test identity codes (individual numbers 900–999), which only a test \
                     installation may do: set server.environment = \"test\" there, or remove it",
                ));
            }
            if self.directory.kind == DirectoryKind::Memory {
                return Err(ConfigError::invalid(
                    "directory.kind",
                    "\"memory\" keeps development accounts in the process and forgets every \
                     password at restart: use \"ldap\", or set server.environment = \"test\" \
                     for a test installation",
                ));
            }
        }
        Ok(())
    }

    /// Everything [`Settings::validate`] checks, and the files the settings name, read as the
    /// service will read them (keys, secret and key files, the directory's seed and CA, the deny
    /// list), without contacting any server. `serve` runs this before it starts and `check-config`
    /// runs exactly this, so the two cannot disagree.
    pub async fn check(&self, mode: Mode) -> Result<(), ConfigError> {
        match self.problems(mode).await.into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// What [`Settings::check`] finds, every problem rather than the first: a value that does not
    /// work ends the check (the files may depend on it), but each file named is read, so that an
    /// operator sees every file still to be put in place at once.
    pub async fn problems(&self, mode: Mode) -> Vec<ConfigError> {
        if let Err(problem) = self.validate(mode) {
            return vec![problem];
        }
        let mut problems = Vec::new();
        if let Some(dir) = &self.keys.dir
            && let Err(error) = crate::keys::ServiceKeys::load(dir, self.broker.signing_alg)
        {
            problems.push(ConfigError::invalid("keys.dir", error.to_string()));
        }
        if let Err(error) =
            crate::store::build(&self.store, std::sync::Arc::new(crate::clock::SystemClock))
        {
            problems.push(match error {
                crate::store::StoreError::Config { key, problem } => {
                    ConfigError::invalid(key, problem)
                }
                other => ConfigError::invalid("store", other.to_string()),
            });
        }
        if let Err(error) = crate::directory::build(&self.directory).await {
            problems.push(ConfigError::invalid("directory", error.to_string()));
        }
        if let Err(error) = crate::account::password::PasswordPolicy::from_settings(&self.password)
        {
            problems.push(ConfigError::invalid(error.key(), error.to_string()));
        }
        for check in [
            self.session.check(),
            self.audit.check(),
            self.helpdesk.check(),
            self.notify.check(),
        ] {
            if let Err(problem) = check {
                problems.push(problem);
            }
        }
        problems
    }
}

/// The placeholder a settings file may use for the folder of systemd's credentials
/// (`LoadCredential=`), e.g. `key_file = "${CREDENTIALS_DIRECTORY}/session-key"`.
pub const CREDENTIALS_PLACEHOLDER: &str = "${CREDENTIALS_DIRECTORY}";

/// The text of the settings file `file` with [`CREDENTIALS_PLACEHOLDER`] replaced by the
/// `CREDENTIALS_DIRECTORY` that systemd sets for a unit with credentials; `None` for a file that
/// does not use it (read as it is). A file that uses it where the variable is not set is refused,
/// naming the variable.
fn with_credentials(file: &Path) -> Result<Option<String>, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|error| ConfigError::File {
        key: "--config",
        path: file.to_owned(),
        error,
    })?;
    if !text.contains(CREDENTIALS_PLACEHOLDER) {
        return Ok(None);
    }
    match std::env::var("CREDENTIALS_DIRECTORY") {
        Ok(folder) if !folder.trim().is_empty() && !folder.contains(['"', '\\', '\n']) => Ok(Some(
            text.replace(CREDENTIALS_PLACEHOLDER, folder.trim_end_matches('/')),
        )),
        _ => Err(ConfigError::invalid(
            "CREDENTIALS_DIRECTORY",
            format!(
                "{} names files in {CREDENTIALS_PLACEHOLDER}, which systemd sets for a unit with \
                 LoadCredential=; outside the unit, set CREDENTIALS_DIRECTORY to the folder that \
                 holds those files",
                file.display()
            ),
        )),
    }
}

/// The secret held in the file at `path` (read at start): its text without the line break that
/// `echo` and editors leave at the end. An empty file is refused, since an empty password can make a
/// server treat the login as an anonymous one, and so is a file open to others than its owner (see
/// [`read_private_file`]). The error is the problem, for the caller to name its key.
pub fn read_secret_file(path: &Path) -> Result<secrecy::SecretString, String> {
    let bytes = read_private_file(path)?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{} is not text", path.display()))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(secrecy::SecretString::from(secret))
}

/// The key held in the file at `path` (read at start), at least `min_len` bytes. A text key
/// (printable ASCII) is read without surrounding whitespace, such as the newline an editor adds; any
/// other key is read whole, since a binary key (`head -c 32 /dev/urandom`) may begin or end with a
/// byte that looks like whitespace and is part of the key. A file open to others than its owner is
/// refused (see [`read_private_file`]). The error is the problem, for the caller to name its key.
pub fn read_key_file(path: &Path, min_len: usize) -> Result<Vec<u8>, String> {
    let bytes = read_private_file(path)?;
    let text = bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    let key = if text { bytes.trim_ascii() } else { &bytes };
    if key.len() < min_len {
        return Err(format!(
            "{} must hold at least {min_len} bytes",
            path.display()
        ));
    }
    Ok(key.to_vec())
}

/// The bytes of the file at `path`, which holds a secret: refused, unread, when its group or others
/// may read or write it, since then other accounts on the machine (or a copy of the folder) hold the
/// secret too. The mode is that of the file actually opened (through any symlink). The error is the
/// problem and how to fix it, for the caller to name its key.
pub fn read_private_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let unreadable = |error: std::io::Error| format!("cannot read {}: {error}", path.display());
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mode = file.metadata().map_err(unreadable)?.permissions().mode();
    if open_to_others(mode) {
        return Err(open_to_others_problem(path, mode));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    Ok(bytes)
}

/// Whether a file with permissions `mode` gives its group or others any access: a file holding a
/// secret must be its owner's alone.
pub fn open_to_others(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// What is wrong with the secret file at `path` with permissions `mode`, and how to fix it.
pub fn open_to_others_problem(path: &Path, mode: u32) -> String {
    format!(
        "{path} may be read or written by others than its owner (mode {mode:03o}); make it the \
         owner's alone with `chmod 600 {path}`",
        path = path.display(),
        mode = mode & 0o777,
    )
}

/// Whether the URL's host is this machine: `localhost` or a loopback address. URLs of schemes the
/// URL standard does not know (`redis://`) keep their host as text, which is read as an address here.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            domain.eq_ignore_ascii_case("localhost")
                || domain
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `url` must be https, or plain http to this machine only.
pub fn require_https_unless_loopback(key: &'static str, url: &Url) -> Result<(), ConfigError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
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
        [session]
        key_file = "/etc/tunnus/session-key"
        [audit]
        pseudonym_key_file = "/etc/tunnus/audit-key"
        [directory]
        kind = "ldap"
        "#
    }

    #[test]
    fn serve_refuses_settings_made_for_development_or_tests() {
        for (key, toml) in [
            (
                "session.key_file",
                valid_toml().replace("key_file = \"/etc/tunnus/session-key\"", ""),
            ),
            (
                "audit.pseudonym_key_file",
                valid_toml().replace("pseudonym_key_file = \"/etc/tunnus/audit-key\"", ""),
            ),
            (
                "directory.kind",
                valid_toml().replace("kind = \"ldap\"", ""),
            ),
            (
                "broker.test_identities",
                valid_toml().replace(
                    "client_id = \"tunnus-test\"",
                    "client_id = \"tunnus-test\"\ntest_identities = true",
                ),
            ),
        ] {
            assert_eq!(problem_key(&toml, Mode::Serve), key);
            let settings = Settings::from_toml(&toml).unwrap();
            settings.validate(Mode::Dev).unwrap();
        }
    }

    #[test]
    fn a_test_installation_may_serve_test_identities_from_the_memory_directory() {
        let toml = valid_toml()
            .replace("kind = \"ldap\"", "kind = \"memory\"")
            .replace(
                "client_id = \"tunnus-test\"",
                "client_id = \"tunnus-test\"\ntest_identities = true",
            )
            .replace(
                "public_url = \"https://tunnus.example.fi/\"",
                "public_url = \"https://tunnus.example.fi/\"\nenvironment = \"test\"",
            );
        Settings::from_toml(&toml)
            .unwrap()
            .validate(Mode::Serve)
            .unwrap();
    }

    #[test]
    fn loopback_hosts_are_recognised_in_every_scheme() {
        for url in [
            "http://localhost:8080/",
            "http://127.0.0.1/",
            "http://[::1]/",
            "redis://127.0.0.1:6379",
            "redis://[::1]:6379",
            "redis://LOCALHOST",
        ] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://10.0.0.1/",
            "redis://redis.example.fi",
            "redis://192.0.2.1",
        ] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
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
    #[allow(clippy::result_large_err)]
    fn secret_files_may_live_in_systemd_s_credentials_folder() {
        figment::Jail::expect_with(|jail| {
            let toml = valid_toml().replace(
                "\"/etc/tunnus/session-key\"",
                "\"${CREDENTIALS_DIRECTORY}/session-key\"",
            );
            jail.create_file("tunnus.toml", &toml)?;
            let file = Path::new("tunnus.toml");
            // Outside the unit the variable is missing: the error names it.
            match Settings::load(Some(file)) {
                Err(ConfigError::Invalid { key, problem }) => {
                    assert_eq!(key, "CREDENTIALS_DIRECTORY");
                    assert!(problem.contains("LoadCredential"), "{problem}");
                }
                other => panic!("expected a refusal naming the variable, got {other:?}"),
            }
            jail.set_env("CREDENTIALS_DIRECTORY", "/run/credentials/tunnus.service/");
            let settings = Settings::load(Some(file)).unwrap();
            assert_eq!(
                settings.session.key_file.as_deref(),
                Some(Path::new("/run/credentials/tunnus.service/session-key"))
            );
            // A folder that would change the TOML around it is refused.
            jail.set_env("CREDENTIALS_DIRECTORY", "/tmp/x\"\nkey = 1");
            assert!(Settings::load(Some(file)).is_err());
            Ok(())
        });
    }

    #[test]
    fn connection_limits_have_defaults_and_bounds() {
        let settings = Settings::from_toml(valid_toml()).unwrap();
        assert_eq!(
            settings.server.header_read_timeout.get(),
            Duration::from_secs(10)
        );
        assert_eq!(settings.server.max_connections, 1024);
        for (key, setting) in [
            ("server.header_read_timeout", "header_read_timeout = \"0s\""),
            (
                "server.header_read_timeout",
                "header_read_timeout = \"500ms\"",
            ),
            (
                "server.header_read_timeout",
                "header_read_timeout = \"10m\"",
            ),
            ("server.max_connections", "max_connections = 0"),
            ("server.max_connections", "max_connections = 5000000"),
        ] {
            let toml = valid_toml().replace("[server]", &format!("[server]\n{setting}"));
            assert_eq!(problem_key(&toml, Mode::Serve), key, "{setting}");
        }
        let toml = valid_toml().replace(
            "[server]",
            "[server]\nheader_read_timeout = \"3s\"\nmax_connections = 64",
        );
        Settings::from_toml(&toml)
            .unwrap()
            .validate(Mode::Serve)
            .unwrap();
    }

    #[test]
    fn broker_keys_are_read_again_hourly_unless_set_within_a_minute_and_a_day() {
        let settings = Settings::from_toml(valid_toml()).unwrap();
        assert_eq!(
            settings.broker.jwks_refresh.get(),
            Duration::from_secs(3600)
        );
        for refresh in ["30s", "25h"] {
            let toml = valid_toml().replace(
                "client_id = \"tunnus-test\"",
                &format!("client_id = \"tunnus-test\"\njwks_refresh = \"{refresh}\""),
            );
            assert_eq!(problem_key(&toml, Mode::Serve), "broker.jwks_refresh");
        }
        let toml = valid_toml().replace(
            "client_id = \"tunnus-test\"",
            "client_id = \"tunnus-test\"\njwks_refresh = \"10m\"",
        );
        let settings = Settings::from_toml(&toml).unwrap();
        settings.validate(Mode::Serve).unwrap();
        assert_eq!(settings.broker.jwks_refresh.get(), Duration::from_secs(600));
    }

    /// A file in a folder of its own with `contents` and permissions `mode`.
    fn secret_file(name: &str, contents: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = crate::test_files::fresh_dir("config").join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_text_key_loses_its_surrounding_whitespace_and_a_binary_key_is_read_whole() {
        let bytes_of = |contents: &[u8]| {
            let path = crate::test_files::fresh_dir("key").join("key");
            std::fs::write(&path, contents).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            read_key_file(&path, 32)
        };
        // A text key: the newline is not part of it.
        let text = format!("{}\n", "k".repeat(44));
        assert_eq!(
            bytes_of(text.as_bytes()).unwrap(),
            "k".repeat(44).as_bytes()
        );
        // Binary keys from /dev/urandom that begin or end with a whitespace byte are whole keys.
        for (first, last) in [(b' ', b'x'), (b'x', b'\n'), (b'\t', b'\r')] {
            let mut key = vec![0x9c_u8; 32];
            key[0] = first;
            key[31] = last;
            assert_eq!(bytes_of(&key).unwrap(), key, "{first:#x} .. {last:#x}");
        }
        // Too short either way.
        assert!(
            bytes_of(&[0x9c_u8; 31])
                .unwrap_err()
                .contains("at least 32 bytes")
        );
        assert!(bytes_of(format!("{}\n", "k".repeat(31)).as_bytes()).is_err());
    }

    #[test]
    fn secret_files_open_to_group_or_others_are_refused_with_the_fix() {
        let secret = "0123456789abcdef0123456789abcdef\n";
        for mode in [
            0o644,
            0o640,
            0o604,
            0o620,
            0o602,
            0o660,
            0o666,
            0o700 | 0o010,
        ] {
            let path = secret_file("secret", secret, mode);
            for problem in [
                read_secret_file(&path).map(|_| ()).unwrap_err(),
                read_key_file(&path, 32).map(|_| ()).unwrap_err(),
            ] {
                assert!(problem.contains(&format!("{:03o}", mode)), "{problem}");
                assert!(
                    problem.contains(&format!("chmod 600 {}", path.display())),
                    "{problem}"
                );
                assert!(
                    !problem.contains("0123456789"),
                    "the secret leaked: {problem}"
                );
            }
        }
        for mode in [0o600, 0o400, 0o700] {
            let path = secret_file("secret", secret, mode);
            assert!(read_secret_file(&path).is_ok(), "{mode:o}");
            assert_eq!(read_key_file(&path, 32).unwrap().len(), 32, "{mode:o}");
        }
    }

    #[test]
    fn the_mode_check_looks_at_group_and_other_bits_only() {
        assert!(!open_to_others(0o100600));
        assert!(!open_to_others(0o100400));
        assert!(!open_to_others(0o100700));
        assert!(open_to_others(0o100640));
        assert!(open_to_others(0o100604));
        assert!(open_to_others(0o100601));
    }

    #[tokio::test]
    async fn check_names_the_key_of_a_secret_file_others_may_read() {
        let session_key = secret_file("session-key", &"s".repeat(32), 0o644);
        let audit_key = secret_file("audit-key", &"a".repeat(32), 0o600);
        let toml = format!(
            "[server]\npublic_url = \"https://tunnus.example.fi/\"\n\
             [broker]\nissuer = \"https://broker.example.fi/oidc\"\nclient_id = \"tunnus-test\"\n\
             [session]\nkey_file = \"{}\"\n[audit]\npseudonym_key_file = \"{}\"\n",
            session_key.display(),
            audit_key.display()
        );
        let settings = Settings::from_toml(&toml).unwrap();
        match settings.check(Mode::Dev).await {
            Err(ConfigError::Invalid { key, problem }) => {
                assert_eq!(key, "session.key_file");
                assert!(problem.contains("chmod 600"), "{problem}");
            }
            other => panic!("expected session.key_file to be refused, got {other:?}"),
        }
        std::fs::set_permissions(
            &session_key,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        settings.check(Mode::Dev).await.unwrap();
        std::fs::set_permissions(
            &audit_key,
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
        match settings.check(Mode::Dev).await {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "audit.pseudonym_key_file"),
            other => panic!("expected audit.pseudonym_key_file to be refused, got {other:?}"),
        }
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
        assert_eq!(
            "7d".parse::<HumanDuration>().unwrap().get(),
            Duration::from_secs(7 * 24 * 3600)
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
