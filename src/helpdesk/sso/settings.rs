//! `[helpdesk.sso]`: the campus SSO that helpdesk staff sign in with, and the staff sessions it
//! opens.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::config::{ConfigError, HumanDuration, require_https_unless_loopback};

/// How the service authenticates itself at the campus SSO's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// The client secret of `client_secret_file`, in HTTP Basic (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// A JWT signed with the service's signing key (`keys.dir`'s `signing.pem`), whose public key
    /// the SSO reads from `{public_url}.well-known/jwks.json` or has registered.
    PrivateKeyJwt,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::ClientSecretBasic => "client_secret_basic",
            ClientAuth::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// Where a staff member's groups come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupsFrom {
    /// The ID token's `groups_claim` (an array of names, or one name).
    Claim,
    /// The directory: the effective groups of the account whose username the SSO gave.
    Directory,
}

/// `[helpdesk.sso]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsoSettings {
    /// The campus SSO's issuer; discovery is read from `{issuer}/.well-known/openid-configuration`.
    /// `tunnus dev` fills in the mock broker's campus realm when it is left out.
    pub issuer: Option<Url>,
    /// The client id the campus SSO gave the service's staff sign-in.
    pub client_id: String,
    /// `client_secret_basic` (with `client_secret_file`) or `private_key_jwt`.
    pub client_auth: ClientAuth,
    /// A file holding the client secret, readable by the service alone.
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The ID token claim holding the staff member's username.
    pub username_claim: String,
    /// The ID token claim holding the name shown on the pages; the username when missing.
    pub name_claim: String,
    /// Where the staff member's groups come from.
    pub groups_from: GroupsFrom,
    /// The ID token claim holding the groups, with `groups_from = "claim"`.
    pub groups_claim: String,
    /// Members of these groups may sign in at all; everyone else is refused. What each may do is
    /// decided by `[[helpdesk.rules]]` and `privileged_staff_groups`.
    pub staff_groups: Vec<String>,
    /// Clock difference tolerated in ID token times.
    pub clock_skew: HumanDuration,
    /// Timeout of every call to the campus SSO.
    pub http_timeout: HumanDuration,
    /// A staff session nobody used for this long ends.
    pub session_idle_timeout: HumanDuration,
    /// A staff session ends this long after sign-in, however busy.
    pub session_lifetime: HumanDuration,
}

impl Default for SsoSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: String::new(),
            client_auth: ClientAuth::ClientSecretBasic,
            client_secret_file: None,
            scopes: vec!["profile".to_owned()],
            username_claim: "preferred_username".to_owned(),
            name_claim: "name".to_owned(),
            groups_from: GroupsFrom::Claim,
            groups_claim: "groups".to_owned(),
            staff_groups: Vec::new(),
            clock_skew: HumanDuration(Duration::from_secs(60)),
            http_timeout: HumanDuration(Duration::from_secs(10)),
            session_idle_timeout: HumanDuration(Duration::from_secs(30 * 60)),
            session_lifetime: HumanDuration(Duration::from_secs(8 * 3600)),
        }
    }
}

impl SsoSettings {
    /// Rejects settings that cannot work, naming the key. Called when the helpdesk channel is on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let issuer = self.issuer.as_ref().ok_or_else(|| {
            ConfigError::invalid(
                "helpdesk.sso.issuer",
                "is required when the helpdesk channel is on: the campus SSO staff sign in with",
            )
        })?;
        require_https_unless_loopback("helpdesk.sso.issuer", issuer)?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::invalid(
                "helpdesk.sso.issuer",
                "must not have a query or fragment",
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                "helpdesk.sso.client_id",
                "is required: the client id the campus SSO gave the staff sign-in",
            ));
        }
        match (self.client_auth, &self.client_secret_file) {
            (ClientAuth::ClientSecretBasic, None) => {
                return Err(ConfigError::invalid(
                    "helpdesk.sso.client_secret_file",
                    "is required with client_auth = \"client_secret_basic\" (or set client_auth = \
                     \"private_key_jwt\" to sign in with the service's key)",
                ));
            }
            (ClientAuth::PrivateKeyJwt, Some(_)) => {
                return Err(ConfigError::invalid(
                    "helpdesk.sso.client_secret_file",
                    "is not used with client_auth = \"private_key_jwt\": remove it",
                ));
            }
            _ => {}
        }
        if self
            .scopes
            .iter()
            .any(|scope| scope.is_empty() || scope.contains(char::is_whitespace))
        {
            return Err(ConfigError::invalid(
                "helpdesk.sso.scopes",
                "each scope must be one word",
            ));
        }
        for (key, claim) in [
            ("helpdesk.sso.username_claim", &self.username_claim),
            ("helpdesk.sso.name_claim", &self.name_claim),
            ("helpdesk.sso.groups_claim", &self.groups_claim),
        ] {
            if claim.trim().is_empty() {
                return Err(ConfigError::invalid(key, "must name a claim"));
            }
        }
        if self.staff_groups.is_empty() || self.staff_groups.iter().any(|g| g.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "helpdesk.sso.staff_groups",
                "must list the groups whose members may sign in at /helpdesk (e.g. [\"helpdesk\"])",
            ));
        }
        if self.clock_skew.get() > Duration::from_secs(300) {
            return Err(ConfigError::invalid(
                "helpdesk.sso.clock_skew",
                "must be at most 5 minutes",
            ));
        }
        if self.http_timeout.get().is_zero() {
            return Err(ConfigError::invalid(
                "helpdesk.sso.http_timeout",
                "must be more than zero",
            ));
        }
        let lifetime = self.session_lifetime.get();
        if lifetime < Duration::from_secs(10 * 60) || lifetime > Duration::from_secs(24 * 3600) {
            return Err(ConfigError::invalid(
                "helpdesk.sso.session_lifetime",
                "must be between 10m and 24h",
            ));
        }
        let idle = self.session_idle_timeout.get();
        if idle < Duration::from_secs(60) || idle > lifetime {
            return Err(ConfigError::invalid(
                "helpdesk.sso.session_idle_timeout",
                "must be at least 1m and at most helpdesk.sso.session_lifetime",
            ));
        }
        Ok(())
    }

    /// Reads the client secret file, as the service will at start.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.client_auth == ClientAuth::ClientSecretBasic
            && let Some(path) = &self.client_secret_file
        {
            crate::config::read_secret_file(path).map_err(|problem| {
                ConfigError::invalid("helpdesk.sso.client_secret_file", problem)
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        issuer = "https://sso.example.fi/realms/staff"
        client_id = "tunnus-helpdesk"
        client_secret_file = "/etc/tunnus/helpdesk-sso-secret"
        staff_groups = ["helpdesk", "hr"]
    "#;

    fn settings(toml: &str) -> SsoSettings {
        toml::from_str(toml).unwrap()
    }

    /// The key `toml` (GOOD with `changes` applied line by line) is refused for.
    fn refused(changes: &[(&str, &str)]) -> &'static str {
        let mut toml = GOOD.to_owned();
        for (from, to) in changes {
            assert!(toml.contains(from), "{from}");
            toml = toml.replace(from, to);
        }
        match settings(&toml).validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a refusal of {toml}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_read_the_usual_claims_and_keep_sessions_half_an_hour_idle_and_eight_hours_at_most()
    {
        let sso = settings(GOOD);
        sso.validate().unwrap();
        assert_eq!(sso.client_auth, ClientAuth::ClientSecretBasic);
        assert_eq!(sso.username_claim, "preferred_username");
        assert_eq!(sso.name_claim, "name");
        assert_eq!(sso.groups_from, GroupsFrom::Claim);
        assert_eq!(sso.groups_claim, "groups");
        assert_eq!(sso.scopes, ["profile"]);
        assert_eq!(sso.session_idle_timeout.get(), Duration::from_secs(30 * 60));
        assert_eq!(sso.session_lifetime.get(), Duration::from_secs(8 * 3600));
    }

    #[test]
    fn the_issuer_must_be_https_outside_this_machine() {
        assert_eq!(
            refused(&[("issuer = \"https://sso.example.fi/realms/staff\"\n", "")]),
            "helpdesk.sso.issuer"
        );
        assert_eq!(
            refused(&[("https://sso.example.fi", "http://sso.example.fi")]),
            "helpdesk.sso.issuer"
        );
        assert_eq!(
            refused(&[("realms/staff", "realms/staff?x=1")]),
            "helpdesk.sso.issuer"
        );
        let local = GOOD.replace("https://sso.example.fi", "http://127.0.0.1:8081");
        settings(&local).validate().unwrap();
    }

    #[test]
    fn the_client_authenticates_with_a_secret_file_or_the_service_key_not_both() {
        assert_eq!(
            refused(&[("client_id = \"tunnus-helpdesk\"", "client_id = \" \"")]),
            "helpdesk.sso.client_id"
        );
        assert_eq!(
            refused(&[(
                "client_secret_file = \"/etc/tunnus/helpdesk-sso-secret\"",
                ""
            )]),
            "helpdesk.sso.client_secret_file"
        );
        assert_eq!(
            refused(&[(
                "client_id = \"tunnus-helpdesk\"",
                "client_id = \"tunnus-helpdesk\"\nclient_auth = \"private_key_jwt\""
            )]),
            "helpdesk.sso.client_secret_file"
        );
        let key_only = GOOD
            .replace(
                "client_secret_file = \"/etc/tunnus/helpdesk-sso-secret\"",
                "",
            )
            .replace(
                "client_id = \"tunnus-helpdesk\"",
                "client_id = \"tunnus-helpdesk\"\nclient_auth = \"private_key_jwt\"",
            );
        settings(&key_only).validate().unwrap();
        assert!(toml::from_str::<SsoSettings>("client_auth = \"client_secret_post\"").is_err());
    }

    #[test]
    fn someone_must_be_allowed_in_and_claims_must_be_named() {
        assert_eq!(
            refused(&[("staff_groups = [\"helpdesk\", \"hr\"]", "")]),
            "helpdesk.sso.staff_groups"
        );
        assert_eq!(
            refused(&[("[\"helpdesk\", \"hr\"]", "[\"helpdesk\", \"\"]")]),
            "helpdesk.sso.staff_groups"
        );
        for key in ["username_claim", "name_claim", "groups_claim"] {
            let refusal = refused(&[("staff_groups", &format!("{key} = \"\"\nstaff_groups"))]);
            assert_eq!(refusal, format!("helpdesk.sso.{key}"));
        }
        assert_eq!(
            refused(&[("staff_groups", "scopes = [\"profile email\"]\nstaff_groups")]),
            "helpdesk.sso.scopes"
        );
        let directory = format!("{GOOD}\ngroups_from = \"directory\"");
        assert_eq!(settings(&directory).groups_from, GroupsFrom::Directory);
    }

    #[test]
    fn times_are_bounded() {
        for (setting, key) in [
            ("clock_skew = \"10m\"", "helpdesk.sso.clock_skew"),
            ("http_timeout = \"0s\"", "helpdesk.sso.http_timeout"),
            ("session_lifetime = \"5m\"", "helpdesk.sso.session_lifetime"),
            ("session_lifetime = \"2d\"", "helpdesk.sso.session_lifetime"),
            (
                "session_idle_timeout = \"30s\"",
                "helpdesk.sso.session_idle_timeout",
            ),
            (
                "session_idle_timeout = \"9h\"",
                "helpdesk.sso.session_idle_timeout",
            ),
        ] {
            assert_eq!(
                refused(&[("staff_groups", &format!("{setting}\nstaff_groups"))]),
                key,
                "{setting}"
            );
        }
    }

    #[test]
    fn the_secret_file_must_be_its_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "tunnus-sso-secret-{}-{}",
            std::process::id(),
            crate::random::short_id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "campus secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let sso = SsoSettings {
            client_secret_file: Some(path.clone()),
            ..settings(GOOD)
        };
        match sso.check() {
            Err(ConfigError::Invalid { key, problem }) => {
                assert_eq!(key, "helpdesk.sso.client_secret_file");
                assert!(problem.contains("chmod 600"), "{problem}");
                assert!(!problem.contains("campus secret"), "{problem}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        sso.check().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
