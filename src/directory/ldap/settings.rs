//! `[directory.ldap]` and its validation into the [`Config`] the backend runs on.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::HumanDuration;
use crate::directory::{AccountState, DirectoryError};

/// The placeholder in `national_id_format` that the identity code replaces.
pub const HETU_PLACEHOLDER: &str = "{hetu}";

/// `group_nesting_depth` unless set: deeper than campus directories nest groups.
pub const DEFAULT_GROUP_NESTING_DEPTH: usize = 8;

/// The deepest `group_nesting_depth` accepted: every level is one more round of reads.
const MAX_GROUP_NESTING_DEPTH: usize = 64;

/// `[directory.ldap]`: where the directory is, how the service signs in, and how accounts are stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapSettings {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: Option<Url>,
    /// Upgrade `ldap://` connections with StartTLS (default: on). Plain LDAP is allowed only to
    /// the loopback interface, and never for Active Directory.
    pub starttls: Option<bool>,
    /// PEM file of the CA certificates that sign the directory's certificate; without it, the
    /// system's roots.
    pub ca_file: Option<PathBuf>,
    /// Limit of every connection attempt and every operation (a bare number is seconds).
    pub timeout: HumanDuration,
    /// The service account.
    pub bind_dn: String,
    /// File holding the service account's password (a trailing newline is ignored).
    pub bind_password_file: Option<PathBuf>,
    /// Where accounts are searched (the whole subtree).
    pub base_dn: String,
    /// Which entries are accounts, in parentheses, e.g. `(objectClass=inetOrgPerson)`.
    pub user_filter: String,
    /// The attribute holding the national identity code.
    pub national_id_attribute: String,
    /// How the code is stored, with `{hetu}` where the code goes, e.g.
    /// `urn:schac:personalUniqueID:fi:FIC:{hetu}` or `{hetu}`.
    pub national_id_format: String,
    /// Default `uid` (OpenLDAP) or `sAMAccountName` (Active Directory).
    pub username_attribute: Option<String>,
    /// The attribute shown to the person as the name to sign in with, when that is not
    /// `username_attribute`: e.g. `userPrincipalName` where people sign in as `name@example.fi`.
    /// Accounts without it show `username_attribute`.
    pub shown_username_attribute: Option<String>,
    pub given_name_attribute: String,
    pub family_name_attribute: String,
    /// Holds the account category (`student`, `staff`, …).
    pub category_attribute: String,
    /// Holds the account's groups (`memberOf`), and on group entries the groups they are in.
    pub group_attribute: String,
    /// How many levels of groups in groups are followed by reading `group_attribute` of each group
    /// (default 8); an account whose groups nest deeper is an error. 0 reads only the account's own
    /// attribute, for a directory that already lists nested groups there. Not used for Active
    /// Directory, whose in-chain matching rule follows groups at any depth.
    pub group_nesting_depth: usize,
    /// Active Directory: where the groups are searched for the account's groups (the in-chain
    /// matching rule); default the domain (the server's `defaultNamingContext`).
    pub group_base_dn: Option<String>,
    /// Holds the account's state; without it every account is active (Active Directory's disabled
    /// flag still counts).
    pub state_attribute: Option<String>,
    /// The values of `state_attribute`.
    pub state_values: StateValues,
    /// Set to the activation time (generalized time, UTC) when an account is activated.
    pub terms_accepted_attribute: Option<String>,
    /// Active Directory: accounts waiting for activation are kept disabled (`userAccountControl`'s
    /// ACCOUNTDISABLE flag). With this on, a disabled account whose `state_attribute` says
    /// `pending_activation` is waiting for activation rather than closed, and its activation enables
    /// it in the same write as its first password. Needs `state_attribute`, so that a closed account
    /// is never enabled.
    pub enable_on_activation: bool,
    /// Active Directory: leave the account in "must change password at next logon"
    /// (`pwdLastSet` 0) after a reset or activation. Off: the person logs in with the password they
    /// chose, as it is.
    pub must_change_at_next_logon: bool,
    pub flavour: Flavour,
    /// The attributes the account's e-mail addresses are read from: `[notify.mail]
    /// address_attributes`, set by the service when e-mail notices are on.
    #[serde(skip)]
    pub mail_attributes: Vec<String>,
    /// The postal address's lines, each the attributes that make it: `[helpdesk.letters]
    /// address_lines`, set by the service when the helpdesk channel is on.
    #[serde(skip)]
    pub address_lines: Vec<String>,
}

impl Default for LdapSettings {
    fn default() -> Self {
        Self {
            url: None,
            starttls: None,
            ca_file: None,
            timeout: HumanDuration(Duration::from_secs(5)),
            bind_dn: String::new(),
            bind_password_file: None,
            base_dn: String::new(),
            user_filter: "(objectClass=inetOrgPerson)".to_owned(),
            national_id_attribute: "schacPersonalUniqueID".to_owned(),
            national_id_format: format!("urn:schac:personalUniqueID:fi:FIC:{HETU_PLACEHOLDER}"),
            username_attribute: None,
            shown_username_attribute: None,
            given_name_attribute: "givenName".to_owned(),
            family_name_attribute: "sn".to_owned(),
            category_attribute: "employeeType".to_owned(),
            group_attribute: "memberOf".to_owned(),
            group_nesting_depth: DEFAULT_GROUP_NESTING_DEPTH,
            group_base_dn: None,
            state_attribute: None,
            state_values: StateValues::default(),
            terms_accepted_attribute: None,
            enable_on_activation: false,
            must_change_at_next_logon: false,
            flavour: Flavour::OpenLdap,
            mail_attributes: Vec::new(),
            address_lines: Vec::new(),
        }
    }
}

/// `[directory.ldap.state_values]`: what `state_attribute` holds for each state. Comparison ignores
/// case; a value that is none of these counts as disabled, so nothing is written to it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateValues {
    pub active: String,
    pub pending_activation: String,
    pub disabled: String,
}

impl Default for StateValues {
    fn default() -> Self {
        Self {
            active: "active".to_owned(),
            pending_activation: "pending".to_owned(),
            disabled: "disabled".to_owned(),
        }
    }
}

impl StateValues {
    /// The state a stored value stands for (unknown values fail closed as disabled).
    pub(super) fn state_of(&self, value: &str) -> AccountState {
        let value = value.trim();
        if value.eq_ignore_ascii_case(&self.active) {
            AccountState::Active
        } else if value.eq_ignore_ascii_case(&self.pending_activation) {
            AccountState::PendingActivation
        } else {
            AccountState::Disabled
        }
    }
}

/// Which kind of server, which decides how passwords are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavour {
    /// RFC 3062 password modify: the server hashes the password and applies its policy.
    #[serde(rename = "openldap")]
    OpenLdap,
    /// `unicodePwd` replaced in a modify, over LDAPS or StartTLS only; `userAccountControl`
    /// disables accounts, `lockoutTime` locks them, and groups are found with the in-chain matching
    /// rule and the primary group.
    ActiveDirectory,
}

/// Validated settings with the files they name already read.
pub(super) struct Config {
    pub url: Url,
    pub starttls: bool,
    /// `None`: ldap3's default configuration with the system's roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub timeout: Duration,
    pub bind_dn: String,
    pub bind_password: SecretString,
    pub base_dn: String,
    pub user_filter: String,
    pub national_id_attribute: String,
    pub national_id_format: String,
    pub username_attribute: String,
    pub shown_username_attribute: Option<String>,
    pub given_name_attribute: String,
    pub family_name_attribute: String,
    pub category_attribute: String,
    pub group_attribute: String,
    pub group_nesting_depth: usize,
    pub group_base_dn: Option<String>,
    pub state: Option<(String, StateValues)>,
    pub terms_accepted_attribute: Option<String>,
    pub enable_on_activation: bool,
    pub must_change_at_next_logon: bool,
    pub flavour: Flavour,
    pub mail_attributes: Vec<String>,
    pub address_lines: Vec<Vec<String>>,
}

fn invalid(key: &str, problem: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::misconfigured(format!("directory.ldap.{key}: {problem}"))
}

impl Config {
    /// Checks every setting and reads the password and CA files. Errors name the key.
    pub fn from_settings(settings: &LdapSettings) -> Result<Self, DirectoryError> {
        let url = check_url(settings)?;
        let starttls = check_starttls(settings, &url)?;
        let timeout = settings.timeout.get();
        if timeout.is_zero() {
            return Err(invalid("timeout", "must be longer than zero"));
        }
        let bind_dn = required("bind_dn", &settings.bind_dn)?;
        let bind_password = read_password(settings.bind_password_file.as_deref())?;
        let base_dn = required("base_dn", &settings.base_dn)?;
        let user_filter = check_filter(&settings.user_filter)?;
        let national_id_format = check_format(&settings.national_id_format)?;
        let username_attribute = settings.username_attribute.clone().unwrap_or_else(|| {
            match settings.flavour {
                Flavour::OpenLdap => "uid",
                Flavour::ActiveDirectory => "sAMAccountName",
            }
            .to_owned()
        });
        let state = match &settings.state_attribute {
            Some(attribute) => Some((
                attribute_name("state_attribute", attribute)?,
                check_state_values(&settings.state_values)?,
            )),
            None => None,
        };
        let terms_accepted_attribute = match &settings.terms_accepted_attribute {
            Some(attribute) => Some(attribute_name("terms_accepted_attribute", attribute)?),
            None => None,
        };
        let shown_username_attribute = match &settings.shown_username_attribute {
            Some(attribute) => Some(attribute_name("shown_username_attribute", attribute)?),
            None => None,
        };
        check_active_directory_only(settings)?;
        if settings.enable_on_activation && state.is_none() {
            return Err(invalid(
                "enable_on_activation",
                "needs directory.ldap.state_attribute: only an account whose state says it waits \
                 for activation may be enabled, never a closed one",
            ));
        }
        let group_base_dn = match &settings.group_base_dn {
            Some(dn) => Some(required("group_base_dn", dn)?),
            None => None,
        };
        if settings.group_nesting_depth > MAX_GROUP_NESTING_DEPTH {
            return Err(invalid(
                "group_nesting_depth",
                format!("must be at most {MAX_GROUP_NESTING_DEPTH}"),
            ));
        }
        let tls = match &settings.ca_file {
            Some(path) => Some(tls_config(path)?),
            None => None,
        };
        Ok(Self {
            url,
            starttls,
            tls,
            timeout,
            bind_dn,
            bind_password,
            base_dn,
            user_filter,
            national_id_attribute: attribute_name(
                "national_id_attribute",
                &settings.national_id_attribute,
            )?,
            national_id_format,
            username_attribute: attribute_name("username_attribute", &username_attribute)?,
            shown_username_attribute,
            given_name_attribute: attribute_name(
                "given_name_attribute",
                &settings.given_name_attribute,
            )?,
            family_name_attribute: attribute_name(
                "family_name_attribute",
                &settings.family_name_attribute,
            )?,
            category_attribute: attribute_name("category_attribute", &settings.category_attribute)?,
            group_attribute: attribute_name("group_attribute", &settings.group_attribute)?,
            group_nesting_depth: settings.group_nesting_depth,
            group_base_dn,
            state,
            terms_accepted_attribute,
            enable_on_activation: settings.enable_on_activation,
            must_change_at_next_logon: settings.must_change_at_next_logon,
            flavour: settings.flavour,
            mail_attributes: settings
                .mail_attributes
                .iter()
                .map(|attribute| attribute_name("notify.mail.address_attributes", attribute))
                .collect::<Result<_, _>>()?,
            address_lines: settings
                .address_lines
                .iter()
                .map(|line| {
                    line.split_whitespace()
                        .map(|attribute| {
                            attribute_name("helpdesk.letters.address_lines", attribute)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

fn check_url(settings: &LdapSettings) -> Result<Url, DirectoryError> {
    let url = settings
        .url
        .clone()
        .ok_or_else(|| invalid("url", "is required for kind = \"ldap\""))?;
    if !matches!(url.scheme(), "ldap" | "ldaps") {
        return Err(invalid("url", "must start with ldap:// or ldaps://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url", "must name a host"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "url",
            "must be only scheme, host and port (the base DN is directory.ldap.base_dn)",
        ));
    }
    Ok(url)
}

/// Settings that only Active Directory has are refused for OpenLDAP rather than ignored.
fn check_active_directory_only(settings: &LdapSettings) -> Result<(), DirectoryError> {
    if settings.flavour == Flavour::ActiveDirectory {
        return Ok(());
    }
    let only_ad = [
        ("enable_on_activation", settings.enable_on_activation),
        (
            "must_change_at_next_logon",
            settings.must_change_at_next_logon,
        ),
        ("group_base_dn", settings.group_base_dn.is_some()),
    ];
    match only_ad.into_iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(invalid(key, "is for flavour = \"active_directory\" only")),
        None => Ok(()),
    }
}

fn check_starttls(settings: &LdapSettings, url: &Url) -> Result<bool, DirectoryError> {
    if settings.flavour == Flavour::ActiveDirectory
        && url.scheme() == "ldap"
        && settings.starttls == Some(false)
    {
        return Err(invalid(
            "starttls",
            "Active Directory takes passwords only over an encrypted connection: use ldaps:// \
             or StartTLS",
        ));
    }
    match (url.scheme(), settings.starttls) {
        ("ldaps", Some(true)) => Err(invalid(
            "starttls",
            "ldaps:// is TLS already; StartTLS is for ldap:// URLs",
        )),
        ("ldaps", _) => Ok(false),
        (_, Some(false)) if !is_loopback(url) => Err(invalid(
            "starttls",
            "passwords must not cross the network in plain text: use StartTLS or ldaps://",
        )),
        (_, starttls) => Ok(starttls.unwrap_or(true)),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

fn required(key: &str, value: &str) -> Result<String, DirectoryError> {
    let value = value.trim();
    if value.is_empty() {
        Err(invalid(key, "is required for kind = \"ldap\""))
    } else {
        Ok(value.to_owned())
    }
}

fn read_password(path: Option<&Path>) -> Result<SecretString, DirectoryError> {
    let path = path.ok_or_else(|| invalid("bind_password_file", "is required"))?;
    // An empty password would make the bind an unauthenticated one, which servers accept.
    crate::config::read_secret_file(path).map_err(|problem| invalid("bind_password_file", problem))
}

/// The filter is pasted into `(&{filter}(…))`, so it must be one complete parenthesised filter.
fn check_filter(filter: &str) -> Result<String, DirectoryError> {
    let filter = filter.trim();
    if !filter.starts_with('(') || !filter.ends_with(')') {
        return Err(invalid(
            "user_filter",
            "must be one filter in parentheses, e.g. (objectClass=inetOrgPerson)",
        ));
    }
    if ldap3::parse_filter(filter).is_err() {
        return Err(invalid("user_filter", "is not a valid LDAP filter"));
    }
    Ok(filter.to_owned())
}

fn check_format(format: &str) -> Result<String, DirectoryError> {
    if format.matches(HETU_PLACEHOLDER).count() != 1 {
        return Err(invalid(
            "national_id_format",
            format!("must contain {HETU_PLACEHOLDER} exactly once"),
        ));
    }
    Ok(format.to_owned())
}

/// An attribute description as RFC 4512 allows it: a name (letter, then letters, digits and
/// hyphens) or a numeric OID. Anything else could change the filters it is pasted into.
fn attribute_name(key: &str, name: &str) -> Result<String, DirectoryError> {
    let is_descr = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let is_oid = !name.is_empty()
        && name
            .split('.')
            .all(|arc| !arc.is_empty() && arc.chars().all(|c| c.is_ascii_digit()));
    if is_descr || is_oid {
        Ok(name.to_owned())
    } else {
        Err(invalid(key, "is not an attribute name"))
    }
}

fn check_state_values(values: &StateValues) -> Result<StateValues, DirectoryError> {
    let all = [&values.active, &values.pending_activation, &values.disabled];
    if all.iter().any(|value| value.trim().is_empty()) {
        return Err(invalid("state_values", "no value may be empty"));
    }
    let distinct = all.iter().enumerate().all(|(i, a)| {
        all[i + 1..]
            .iter()
            .all(|b| !a.trim().eq_ignore_ascii_case(b.trim()))
    });
    if !distinct {
        return Err(invalid("state_values", "the three values must differ"));
    }
    Ok(StateValues {
        active: values.active.trim().to_owned(),
        pending_activation: values.pending_activation.trim().to_owned(),
        disabled: values.disabled.trim().to_owned(),
    })
}

fn tls_config(path: &Path) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let problem = |what: String| invalid("ca_file", format!("{}: {what}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    let certificates =
        CertificateDer::pem_file_iter(path).map_err(|error| problem(error.to_string()))?;
    for certificate in certificates {
        let certificate = certificate.map_err(|error| problem(error.to_string()))?;
        roots
            .add(certificate)
            .map_err(|error| problem(error.to_string()))?;
    }
    if roots.is_empty() {
        return Err(problem("holds no PEM certificate".to_owned()));
    }
    // The provider is named rather than taken from the process default, which would be ambiguous
    // if another crate in the build enabled a second one.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| problem(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with `contents` in a fresh folder of the unit tests.
    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let path = crate::test_files::fresh_dir("ldap-settings").join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        path
    }

    fn valid() -> LdapSettings {
        LdapSettings {
            url: Some(Url::parse("ldap://ldap.example.org").unwrap()),
            bind_dn: "cn=tunnus,ou=services,dc=example,dc=org".to_owned(),
            bind_password_file: Some(temp_file("bind-password", "service-secret\n")),
            base_dn: "ou=people,dc=example,dc=org".to_owned(),
            ..LdapSettings::default()
        }
    }

    fn refused(settings: LdapSettings) -> String {
        match Config::from_settings(&settings) {
            Err(DirectoryError::Misconfigured { detail }) => detail,
            Err(other) => panic!("expected Misconfigured, got {other:?}"),
            Ok(_) => panic!("expected the settings to be refused"),
        }
    }

    #[test]
    fn defaults_give_openldap_with_starttls_and_schac_codes() {
        let config = Config::from_settings(&valid()).unwrap();
        assert!(config.starttls);
        assert!(config.tls.is_none());
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.user_filter, "(objectClass=inetOrgPerson)");
        assert_eq!(config.national_id_attribute, "schacPersonalUniqueID");
        assert_eq!(
            config.national_id_format,
            "urn:schac:personalUniqueID:fi:FIC:{hetu}"
        );
        assert_eq!(config.username_attribute, "uid");
        assert_eq!(config.category_attribute, "employeeType");
        assert_eq!(config.group_attribute, "memberOf");
        assert!(config.state.is_none());
        assert_eq!(config.flavour, Flavour::OpenLdap);
    }

    #[test]
    fn the_bind_password_loses_only_its_trailing_newline() {
        use secrecy::ExposeSecret;
        let settings = LdapSettings {
            bind_password_file: Some(temp_file("password", " spaced secret \r\n")),
            ..valid()
        };
        let config = Config::from_settings(&settings).unwrap();
        assert_eq!(config.bind_password.expose_secret(), " spaced secret ");
    }

    #[test]
    fn settings_read_from_toml_use_the_documented_names() {
        let settings: LdapSettings = toml::from_str(
            r#"
            url = "ldaps://dc1.example.org"
            bind_dn = "CN=tunnus,OU=Services,DC=example,DC=org"
            base_dn = "OU=People,DC=example,DC=org"
            user_filter = "(objectClass=user)"
            national_id_attribute = "employeeID"
            national_id_format = "{hetu}"
            category_attribute = "extensionAttribute1"
            flavour = "active_directory"
            timeout = "3s"
            state_attribute = "extensionAttribute2"
            state_values = { active = "A", pending_activation = "P", disabled = "D" }
            "#,
        )
        .unwrap();
        let settings = LdapSettings {
            bind_password_file: Some(temp_file("password", "x")),
            ..settings
        };
        let config = Config::from_settings(&settings).unwrap();
        assert_eq!(config.flavour, Flavour::ActiveDirectory);
        assert_eq!(config.username_attribute, "sAMAccountName");
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert!(!config.starttls);
        let (attribute, values) = config.state.unwrap();
        assert_eq!(attribute, "extensionAttribute2");
        assert_eq!(values.state_of("p"), AccountState::PendingActivation);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = toml::from_str::<LdapSettings>("uri = \"ldap://x\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("uri"), "{error}");
    }

    #[test]
    fn active_directory_without_encryption_is_refused_and_starttls_is_accepted() {
        for url in ["ldap://dc1.example.org", "ldap://127.0.0.1"] {
            let detail = refused(LdapSettings {
                flavour: Flavour::ActiveDirectory,
                url: Some(Url::parse(url).unwrap()),
                starttls: Some(false),
                ..valid()
            });
            assert!(detail.starts_with("directory.ldap.starttls:"), "{detail}");
            assert!(detail.contains("encrypted"), "{detail}");
        }
        let config = Config::from_settings(&LdapSettings {
            flavour: Flavour::ActiveDirectory,
            ..valid()
        })
        .unwrap();
        assert!(config.starttls);
        assert_eq!(config.url.scheme(), "ldap");
    }

    #[test]
    fn active_directory_s_own_settings_are_refused_for_openldap() {
        for (settings, key) in [
            (
                LdapSettings {
                    enable_on_activation: true,
                    state_attribute: Some("tunnusAccountState".to_owned()),
                    ..valid()
                },
                "enable_on_activation",
            ),
            (
                LdapSettings {
                    must_change_at_next_logon: true,
                    ..valid()
                },
                "must_change_at_next_logon",
            ),
            (
                LdapSettings {
                    group_base_dn: Some("dc=example,dc=org".to_owned()),
                    ..valid()
                },
                "group_base_dn",
            ),
        ] {
            let detail = refused(settings);
            assert!(
                detail.starts_with(&format!("directory.ldap.{key}:")),
                "{detail}"
            );
        }
    }

    #[test]
    fn enabling_at_activation_needs_a_state_attribute() {
        let active_directory = LdapSettings {
            flavour: Flavour::ActiveDirectory,
            url: Some(Url::parse("ldaps://dc1.example.org").unwrap()),
            enable_on_activation: true,
            ..valid()
        };
        let detail = refused(active_directory.clone());
        assert!(
            detail.starts_with("directory.ldap.enable_on_activation:"),
            "{detail}"
        );
        let config = Config::from_settings(&LdapSettings {
            state_attribute: Some("extensionAttribute2".to_owned()),
            shown_username_attribute: Some("userPrincipalName".to_owned()),
            ..active_directory
        })
        .unwrap();
        assert!(config.enable_on_activation);
        assert_eq!(
            config.shown_username_attribute.as_deref(),
            Some("userPrincipalName")
        );
    }

    #[test]
    fn a_format_without_the_placeholder_is_refused() {
        for format in [
            "urn:schac:personalUniqueID:fi:FIC:",
            "{hetu}{hetu}",
            "{HETU}",
        ] {
            let detail = refused(LdapSettings {
                national_id_format: format.to_owned(),
                ..valid()
            });
            assert!(
                detail.starts_with("directory.ldap.national_id_format:"),
                "{detail}"
            );
        }
    }

    #[test]
    fn filters_that_are_not_one_parenthesised_filter_are_refused() {
        for filter in [
            "objectClass=person",
            "(objectClass=person",
            "(objectClass=person))(|(uid=*)",
            "(objectClass=person)(uid=x)",
            "(&(objectClass=person)",
            "",
        ] {
            let detail = refused(LdapSettings {
                user_filter: filter.to_owned(),
                ..valid()
            });
            assert!(
                detail.starts_with("directory.ldap.user_filter:"),
                "{detail}"
            );
        }
    }

    #[test]
    fn a_complex_filter_is_accepted() {
        let config = Config::from_settings(&LdapSettings {
            user_filter: "(&(objectClass=person)(!(employeeType=robot)))".to_owned(),
            ..valid()
        })
        .unwrap();
        assert_eq!(
            config.user_filter,
            "(&(objectClass=person)(!(employeeType=robot)))"
        );
    }

    #[test]
    fn attribute_names_that_could_change_a_filter_are_refused() {
        for name in ["uid)(uid=*", "uid=", "", "1uid", "a b", "1..2"] {
            let detail = refused(LdapSettings {
                national_id_attribute: name.to_owned(),
                ..valid()
            });
            assert!(
                detail.starts_with("directory.ldap.national_id_attribute:"),
                "{name}: {detail}"
            );
        }
        for name in [
            "schacPersonalUniqueID",
            "x-hetu",
            "1.3.6.1.4.1.25178.1.2.15",
        ] {
            attribute_name("national_id_attribute", name).unwrap();
        }
    }

    #[test]
    fn plain_ldap_is_allowed_only_to_loopback() {
        let detail = refused(LdapSettings {
            starttls: Some(false),
            ..valid()
        });
        assert!(detail.starts_with("directory.ldap.starttls:"), "{detail}");
        for url in [
            "ldap://127.0.0.1:3389",
            "ldap://localhost",
            "ldap://[::1]:389",
        ] {
            let config = Config::from_settings(&LdapSettings {
                url: Some(Url::parse(url).unwrap()),
                starttls: Some(false),
                ..valid()
            })
            .unwrap();
            assert!(!config.starttls, "{url}");
        }
    }

    #[test]
    fn starttls_on_ldaps_is_refused() {
        let detail = refused(LdapSettings {
            url: Some(Url::parse("ldaps://ldap.example.org").unwrap()),
            starttls: Some(true),
            ..valid()
        });
        assert!(detail.starts_with("directory.ldap.starttls:"), "{detail}");
    }

    #[test]
    fn urls_that_are_not_ldap_or_carry_more_than_a_host_are_refused() {
        for url in [
            "http://ldap.example.org",
            "ldap://ldap.example.org/dc=example,dc=org",
            "ldap://user@ldap.example.org",
            "ldapi://%2Fvar%2Frun%2Fslapd.sock",
        ] {
            let detail = refused(LdapSettings {
                url: Some(Url::parse(url).unwrap()),
                ..valid()
            });
            assert!(detail.starts_with("directory.ldap.url:"), "{url}: {detail}");
        }
        let detail = refused(LdapSettings {
            url: None,
            ..valid()
        });
        assert!(detail.starts_with("directory.ldap.url:"), "{detail}");
    }

    #[test]
    fn missing_or_empty_credentials_are_refused() {
        let detail = refused(LdapSettings {
            bind_password_file: Some(temp_file("empty", "\n")),
            ..valid()
        });
        assert!(
            detail.starts_with("directory.ldap.bind_password_file:"),
            "{detail}"
        );
        let detail = refused(LdapSettings {
            bind_password_file: None,
            ..valid()
        });
        assert!(
            detail.starts_with("directory.ldap.bind_password_file:"),
            "{detail}"
        );
        let detail = refused(LdapSettings {
            bind_dn: " ".to_owned(),
            ..valid()
        });
        assert!(detail.starts_with("directory.ldap.bind_dn:"), "{detail}");
        let detail = refused(LdapSettings {
            base_dn: String::new(),
            ..valid()
        });
        assert!(detail.starts_with("directory.ldap.base_dn:"), "{detail}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let detail = refused(LdapSettings {
            ca_file: Some(temp_file("ca.pem", "not a certificate\n")),
            ..valid()
        });
        assert!(detail.starts_with("directory.ldap.ca_file:"), "{detail}");
        let detail = refused(LdapSettings {
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..valid()
        });
        assert!(detail.starts_with("directory.ldap.ca_file:"), "{detail}");
    }

    #[test]
    fn group_nesting_depth_defaults_to_8_and_has_a_ceiling() {
        assert_eq!(
            Config::from_settings(&valid()).unwrap().group_nesting_depth,
            8
        );
        for depth in [0, 64] {
            let config = Config::from_settings(&LdapSettings {
                group_nesting_depth: depth,
                ..valid()
            })
            .unwrap();
            assert_eq!(config.group_nesting_depth, depth);
        }
        let detail = refused(LdapSettings {
            group_nesting_depth: 65,
            ..valid()
        });
        assert!(
            detail.starts_with("directory.ldap.group_nesting_depth:"),
            "{detail}"
        );
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let detail = refused(LdapSettings {
            timeout: HumanDuration(Duration::ZERO),
            ..valid()
        });
        assert!(detail.starts_with("directory.ldap.timeout:"), "{detail}");
    }

    #[test]
    fn state_values_must_be_distinct_and_not_empty() {
        let with_values = |active: &str, pending: &str, disabled: &str| LdapSettings {
            state_attribute: Some("tunnusAccountState".to_owned()),
            state_values: StateValues {
                active: active.to_owned(),
                pending_activation: pending.to_owned(),
                disabled: disabled.to_owned(),
            },
            ..valid()
        };
        let detail = refused(with_values("on", "ON", "off"));
        assert!(
            detail.starts_with("directory.ldap.state_values:"),
            "{detail}"
        );
        let detail = refused(with_values("on", "", "off"));
        assert!(
            detail.starts_with("directory.ldap.state_values:"),
            "{detail}"
        );
        Config::from_settings(&with_values("on", "new", "off")).unwrap();
    }

    #[test]
    fn unknown_state_values_count_as_disabled() {
        let values = StateValues::default();
        assert_eq!(values.state_of("Active"), AccountState::Active);
        assert_eq!(values.state_of("pending"), AccountState::PendingActivation);
        assert_eq!(values.state_of("disabled"), AccountState::Disabled);
        assert_eq!(values.state_of("archived"), AccountState::Disabled);
    }
}
