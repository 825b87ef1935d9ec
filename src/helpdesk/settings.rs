//! `[helpdesk]`: whether the channel is on, how long codes live, who may issue codes for which
//! accounts, and (`[helpdesk.sso]`) the campus SSO staff sign in with.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::codes::Delivery;
use super::sso::settings::SsoSettings;
use crate::config::{ConfigError, HumanDuration, Mode};

/// `[helpdesk]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HelpdeskSettings {
    /// Turns the channel on: staff pages at `/helpdesk`, the code page at `/code`.
    pub enabled: bool,
    /// A file of at least 32 random bytes that keys the hashes of codes and seals their records.
    /// Required by `serve` when the channel is on; the same on every replica, and kept: a new key
    /// makes every open code unusable.
    pub code_key_file: Option<PathBuf>,
    /// How long a code is valid, per delivery way.
    pub validity: Validity,
    /// Wrong codes typed for one username after which its open code is revoked.
    pub max_wrong_tries: u64,
    /// Which staff groups may issue codes for which account categories.
    pub rules: Vec<IssueRule>,
    /// Members of these staff groups may also issue codes for privileged accounts (members of
    /// `accounts.refused_groups`).
    pub privileged_staff_groups: Vec<String>,
    /// `[helpdesk.letters]`: the printed documents (fonts, sender, organisation).
    pub letters: super::letter::LetterSettings,
    /// `[helpdesk.sso]`: the campus SSO staff sign in with at `/helpdesk`.
    pub sso: SsoSettings,
    /// `[helpdesk.requests]`: service requests for a code by janitor or registered letter.
    pub requests: super::requests::RequestSettings,
}

impl Default for HelpdeskSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            code_key_file: None,
            validity: Validity::default(),
            max_wrong_tries: 5,
            rules: Vec::new(),
            privileged_staff_groups: Vec::new(),
            letters: super::letter::LetterSettings::default(),
            sso: SsoSettings::default(),
            requests: super::requests::RequestSettings::default(),
        }
    }
}

/// `[helpdesk.validity]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Validity {
    pub in_person: HumanDuration,
    pub janitor: HumanDuration,
    pub letter: HumanDuration,
}

impl Default for Validity {
    fn default() -> Self {
        let days = |n: u64| HumanDuration(Duration::from_secs(n * 24 * 3600));
        Self {
            in_person: days(7),
            janitor: days(14),
            letter: days(30),
        }
    }
}

impl Validity {
    pub fn of(&self, delivery: Delivery) -> Duration {
        match delivery {
            Delivery::InPerson => self.in_person.get(),
            Delivery::Janitor => self.janitor.get(),
            Delivery::Letter => self.letter.get(),
        }
    }
}

/// `[[helpdesk.rules]]`: members of `staff_group` may issue codes for accounts in `categories`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRule {
    pub staff_group: String,
    pub categories: Vec<String>,
}

impl HelpdeskSettings {
    /// Rejects helpdesk settings that cannot work, naming the key.
    pub fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        if !self.enabled {
            if self.requests.enabled {
                return Err(ConfigError::invalid(
                    "helpdesk.requests.enabled",
                    "service requests need the helpdesk channel: set helpdesk.enabled = true",
                ));
            }
            return Ok(());
        }
        if mode == Mode::Serve && self.code_key_file.is_none() {
            return Err(ConfigError::invalid(
                "helpdesk.code_key_file",
                "is required when the helpdesk channel is on: a file of at least 32 random bytes, \
                 the same on every replica",
            ));
        }
        for (key, validity) in [
            ("helpdesk.validity.in_person", self.validity.in_person),
            ("helpdesk.validity.janitor", self.validity.janitor),
            ("helpdesk.validity.letter", self.validity.letter),
        ] {
            let days = validity.get().as_secs() / (24 * 3600);
            if validity.get() < Duration::from_secs(3600) || days > 90 {
                return Err(ConfigError::invalid(key, "must be between 1h and 90d"));
            }
        }
        if self.max_wrong_tries == 0 {
            return Err(ConfigError::invalid(
                "helpdesk.max_wrong_tries",
                "must be at least 1: guessing must end somewhere",
            ));
        }
        if self.rules.is_empty() {
            return Err(ConfigError::invalid(
                "helpdesk.rules",
                "must name at least one staff group and the account categories it may issue codes for",
            ));
        }
        self.letters.validate()?;
        self.requests.validate()?;
        if let Some(rule) = self
            .rules
            .iter()
            .find(|rule| rule.staff_group.trim().is_empty() || rule.categories.is_empty())
        {
            return Err(ConfigError::invalid(
                "helpdesk.rules",
                format!(
                    "each rule needs a staff_group and categories (`{}`)",
                    rule.staff_group
                ),
            ));
        }
        self.sso.validate()
    }

    /// Reads the code key, as the service will at start.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(path) = &self.code_key_file {
            crate::config::read_key_file(path, 32)
                .map_err(|problem| ConfigError::invalid("helpdesk.code_key_file", problem))?;
        }
        self.sso.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> HelpdeskSettings {
        #[derive(Deserialize)]
        struct File {
            helpdesk: HelpdeskSettings,
        }
        toml::from_str::<File>(toml).unwrap().helpdesk
    }

    fn refused(toml: &str, mode: Mode) -> &'static str {
        match settings(toml).validate(mode) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a refusal of {toml}, got {other:?}"),
        }
    }

    const ON: &str = "[helpdesk]\nenabled = true\ncode_key_file = \"/etc/tunnus/code-key\"\n\
                      [[helpdesk.rules]]\nstaff_group = \"helpdesk\"\ncategories = [\"student\"]\n\
                      [helpdesk.sso]\nissuer = \"https://sso.example.fi/realms/staff\"\n\
                      client_id = \"tunnus-helpdesk\"\nclient_auth = \"private_key_jwt\"\n\
                      staff_groups = [\"helpdesk\"]\n";

    #[test]
    fn defaults_are_off_with_the_documented_validities() {
        let settings = HelpdeskSettings::default();
        assert!(!settings.enabled);
        assert_eq!(
            settings.validity.of(Delivery::InPerson).as_secs(),
            7 * 86400
        );
        assert_eq!(
            settings.validity.of(Delivery::Janitor).as_secs(),
            14 * 86400
        );
        assert_eq!(settings.validity.of(Delivery::Letter).as_secs(), 30 * 86400);
        settings.validate(Mode::Serve).unwrap();
    }

    #[test]
    fn a_channel_that_is_on_needs_its_key_and_rules() {
        settings(ON).validate(Mode::Serve).unwrap();
        assert_eq!(
            refused(
                &ON.replace("code_key_file = \"/etc/tunnus/code-key\"\n", ""),
                Mode::Serve
            ),
            "helpdesk.code_key_file"
        );
        settings(&ON.replace("code_key_file = \"/etc/tunnus/code-key\"\n", ""))
            .validate(Mode::Dev)
            .unwrap();
        assert_eq!(
            refused("[helpdesk]\nenabled = true", Mode::Dev),
            "helpdesk.rules"
        );
        assert_eq!(
            refused(
                &ON.replace("issuer = \"https://sso.example.fi/realms/staff\"\n", ""),
                Mode::Dev
            ),
            "helpdesk.sso.issuer"
        );
        assert_eq!(
            refused(
                &format!("{ON}[helpdesk.validity]\nletter = \"200d\""),
                Mode::Dev
            ),
            "helpdesk.validity.letter"
        );
    }
}
