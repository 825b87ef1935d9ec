//! Who may use self-service: exactly one account for the verified identity code, in an allowed
//! category, not disabled, not locked (unless a reset may unlock it), and not privileged.
//!
//! Privilege is membership of a group named in `accounts.refused_groups`, counting groups in groups:
//! the directory gives an account's effective groups ([`Account::groups`]), so the rules here stay a
//! pure function of the account. Names and DNs compare as DNs and without case ([`crate::directory::dn`]).

use serde::Deserialize;

use crate::config::ConfigError;
use crate::directory::dn::{Dn, DnError, caseless, unescape_value};
use crate::directory::{Account, AccountState, Directory, DirectoryError};
use crate::identity::NationalId;

/// `[accounts]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountSettings {
    /// Categories that may activate or reset by themselves.
    pub eligible_categories: Vec<String>,
    /// Members of these groups (privileged accounts), directly or through groups in groups, are
    /// always sent to the helpdesk. A DN (`cn=it-admins,ou=groups,dc=example,dc=fi`) names that one
    /// group; a bare name (`it-admins`, `admins, tier 0`) names every group whose DN's first RDN has
    /// that value. Both compare without case, Unicode included.
    pub refused_groups: Vec<String>,
    /// Categories whose people get a new password from HR services rather than the helpdesk.
    pub staff_categories: Vec<String>,
    /// Whether a person may reset (or activate) an account the directory has locked, which unlocks
    /// it. Off: a locked account is refused like a disabled one.
    pub reset_unlocks: bool,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            eligible_categories: vec!["student".into(), "staff".into(), "partner".into()],
            refused_groups: Vec::new(),
            staff_categories: vec!["staff".into()],
            reset_unlocks: false,
        }
    }
}

impl AccountSettings {
    /// Every `refused_groups` entry must be a bare name or a DN; an entry that has a `=` but does not
    /// parse as a DN would match nothing, so it is refused rather than let privileged accounts through.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (index, entry) in self.refused_groups.iter().enumerate() {
            GroupRule::parse(entry).map_err(|problem| {
                ConfigError::invalid(
                    "accounts.refused_groups",
                    format!("entry {} (`{entry}`): {problem}", index + 1),
                )
            })?;
        }
        Ok(())
    }
}

/// One `refused_groups` entry, ready to compare.
#[derive(Debug)]
enum GroupRule {
    /// A bare name, [`caseless`]: the value of a group DN's first RDN, or a group name.
    Name(String),
    /// A whole DN; `text` is the entry [`caseless`], for group values that are not DNs.
    Dn { dn: Dn, text: String },
}

/// Why a `refused_groups` entry cannot be used.
#[derive(Debug, thiserror::Error)]
enum RuleError {
    #[error("is empty")]
    Empty,
    #[error("has a `=` but is not a DN: {0}")]
    NotDn(DnError),
    #[error("is not a name: {0}")]
    BadName(DnError),
}

impl GroupRule {
    /// An entry with a `=` is a DN; any other is a name, in which DN escapes (`\,`, `\2C`) may be
    /// used.
    fn parse(entry: &str) -> Result<GroupRule, RuleError> {
        let entry = entry.trim();
        if entry.contains('=') {
            let dn = Dn::parse(entry).map_err(RuleError::NotDn)?;
            if dn.is_empty() {
                return Err(RuleError::Empty);
            }
            return Ok(GroupRule::Dn {
                dn,
                text: caseless(entry),
            });
        }
        let name = caseless(&unescape_value(entry).map_err(RuleError::BadName)?);
        if name.is_empty() {
            return Err(RuleError::Empty);
        }
        Ok(GroupRule::Name(name))
    }

    /// Whether `group`, one of [`Account::groups`], is the group (or one of the groups) this rule
    /// names.
    fn matches(&self, group: &Group) -> bool {
        match (self, group) {
            (GroupRule::Name(name), Group::Dn(dn)) => dn.first_values().any(|value| value == name),
            (GroupRule::Name(name), Group::Other { text, first_value }) => {
                text == name || first_value.as_deref() == Some(name.as_str())
            }
            (GroupRule::Dn { dn: rule, .. }, Group::Dn(dn)) => rule == dn,
            (GroupRule::Dn { text: rule, .. }, Group::Other { text, .. }) => rule == text,
        }
    }
}

/// A value of [`Account::groups`], ready to compare.
enum Group {
    Dn(Dn),
    /// A group name (the memory directory), or a value that does not parse as a DN: compared as
    /// text, and by what follows its first `=` up to the next `,` in case it was meant as a DN.
    Other {
        text: String,
        first_value: Option<String>,
    },
}

impl Group {
    fn parse(group: &str) -> Group {
        match Dn::parse(group) {
            Ok(dn) if !dn.is_empty() => Group::Dn(dn),
            _ => Group::Other {
                text: caseless(group),
                first_value: group
                    .split_once('=')
                    .map(|(_, rest)| caseless(rest.split(',').next().unwrap_or_default())),
            },
        }
    }
}

/// Whether any of `groups` is named by any of `refused`. An entry that does not parse (which
/// [`AccountSettings::validate`] refuses at start) is compared as a name.
fn privileged(groups: &[String], refused: &[String]) -> bool {
    if refused.is_empty() {
        return false;
    }
    let rules: Vec<GroupRule> = refused
        .iter()
        .map(|entry| GroupRule::parse(entry).unwrap_or_else(|_| GroupRule::Name(caseless(entry))))
        .collect();
    groups
        .iter()
        .map(|group| Group::parse(group))
        .any(|group| rules.iter().any(|rule| rule.matches(&group)))
}

/// What the person may do with their account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The account is not activated yet: accept the terms and set the first password.
    Activate,
    /// The account is active: set a new password.
    Reset,
}

/// Why self-service is refused; each has its own page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No account carries this identity code.
    NoAccount,
    /// More than one account carries it: only the helpdesk can tell which is meant.
    Ambiguous { count: usize },
    /// The account exists but may not use self-service.
    NotEligible {
        reason: Ineligible,
        staff: bool,
        username: String,
    },
    /// The account was found at identification but is gone from the directory when its password
    /// is about to be written (deleted or moved meanwhile).
    AccountGone,
}

/// Why an existing account may not use self-service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    Category,
    Disabled,
    /// Locked by the directory, and `accounts.reset_unlocks` is off.
    Locked,
    Privileged,
}

impl Ineligible {
    /// A short name for audit events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Ineligible::Category => "category",
            Ineligible::Disabled => "disabled",
            Ineligible::Locked => "locked",
            Ineligible::Privileged => "privileged",
        }
    }
}

impl Refusal {
    /// The account concerned, when there is exactly one.
    pub fn username(&self) -> Option<&str> {
        match self {
            Refusal::NotEligible { username, .. } => Some(username),
            _ => None,
        }
    }

    /// A short name for audit events and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Refusal::NoAccount => "no_account",
            Refusal::Ambiguous { .. } => "ambiguous",
            Refusal::NotEligible { reason, .. } => reason.as_str(),
            Refusal::AccountGone => "account_gone",
        }
    }
}

/// The account the person may activate or reset, and which of the two.
#[derive(Debug, Clone)]
pub struct Eligible {
    pub account: Account,
    pub purpose: Purpose,
}

/// Finds the one account of `national_id` and decides what its owner may do.
pub async fn resolve(
    directory: &dyn Directory,
    national_id: &NationalId,
    settings: &AccountSettings,
) -> Result<Result<Eligible, Refusal>, DirectoryError> {
    let mut accounts = directory.find_by_national_id(national_id).await?;
    Ok(match accounts.len() {
        0 => Err(Refusal::NoAccount),
        1 => decide(accounts.remove(0), settings),
        count => Err(Refusal::Ambiguous { count }),
    })
}

/// The eligibility rules for one account. Privilege is checked before anything else, so that a
/// privileged account is never offered self-service whatever its category or state; then a closed
/// account, a locked one (unless a reset may unlock it), and the category.
pub fn decide(account: Account, settings: &AccountSettings) -> Result<Eligible, Refusal> {
    let staff = settings
        .staff_categories
        .iter()
        .any(|c| c.eq_ignore_ascii_case(&account.category));
    let refuse = |reason| {
        Err(Refusal::NotEligible {
            reason,
            staff,
            username: account.username.clone(),
        })
    };
    if is_privileged(&account, settings) {
        return refuse(Ineligible::Privileged);
    }
    if account.state == AccountState::Disabled {
        return refuse(Ineligible::Disabled);
    }
    if account.locked && !settings.reset_unlocks {
        return refuse(Ineligible::Locked);
    }
    if !settings
        .eligible_categories
        .iter()
        .any(|c| c.eq_ignore_ascii_case(&account.category))
    {
        return refuse(Ineligible::Category);
    }
    let purpose = match account.state {
        AccountState::PendingActivation => Purpose::Activate,
        _ => Purpose::Reset,
    };
    Ok(Eligible { account, purpose })
}

/// Whether `account` is a member of one of `accounts.refused_groups` (directly or, as the
/// directory reports it, through nested groups).
pub fn is_privileged(account: &Account, settings: &AccountSettings) -> bool {
    privileged(&account.groups, &settings.refused_groups)
}

/// Whether the group `group` (a name or a DN, as the directory or the SSO gives it) is the group
/// `configured` names, compared as [`decide`] compares them: parsed DNs, caseless.
pub fn same_group(group: &str, configured: &str) -> bool {
    privileged(&[group.to_owned()], &[configured.to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::AccountId;

    fn account(category: &str, state: AccountState, groups: &[&str]) -> Account {
        Account {
            id: AccountId::new("x".to_owned()),
            username: "x".into(),
            login_name: None,
            emails: Vec::new(),
            postal_address: Vec::new(),
            given_name: "X".into(),
            family_name: "Y".into(),
            birth_date: None,
            category: category.into(),
            state,
            locked: false,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn settings() -> AccountSettings {
        AccountSettings {
            refused_groups: vec!["it-admins".into()],
            ..AccountSettings::default()
        }
    }

    #[test]
    fn an_active_student_may_reset_and_a_pending_one_may_activate() {
        let active = decide(account("student", AccountState::Active, &[]), &settings()).unwrap();
        assert_eq!(active.purpose, Purpose::Reset);
        let pending = decide(
            account("partner", AccountState::PendingActivation, &[]),
            &settings(),
        )
        .unwrap();
        assert_eq!(pending.purpose, Purpose::Activate);
    }

    #[test]
    fn external_disabled_and_privileged_accounts_are_refused() {
        let refused = |a| decide(a, &settings()).unwrap_err();
        assert_eq!(
            refused(account("external", AccountState::Active, &[])),
            Refusal::NotEligible {
                reason: Ineligible::Category,
                staff: false,
                username: "x".into()
            }
        );
        assert_eq!(
            refused(account("staff", AccountState::Disabled, &[])),
            Refusal::NotEligible {
                reason: Ineligible::Disabled,
                staff: true,
                username: "x".into()
            }
        );
        assert_eq!(
            refused(account(
                "staff",
                AccountState::Active,
                &["cn=IT-Admins,ou=groups,dc=example,dc=fi"]
            )),
            Refusal::NotEligible {
                reason: Ineligible::Privileged,
                staff: true,
                username: "x".into()
            }
        );
    }

    #[test]
    fn privilege_wins_over_every_other_reason() {
        let refusal = decide(
            account("external", AccountState::Disabled, &["it-admins"]),
            &settings(),
        )
        .unwrap_err();
        assert!(matches!(
            refusal,
            Refusal::NotEligible {
                reason: Ineligible::Privileged,
                ..
            }
        ));
    }

    /// Whether an account in `group` is privileged when `refused_groups` is `[rule]`.
    fn refused_by(group: &str, rule: &str) -> bool {
        privileged(&[group.to_owned()], &[rule.to_owned()])
    }

    #[test]
    fn group_names_match_whole_names_only() {
        assert!(refused_by("it-admins", "IT-admins"));
        assert!(refused_by("cn=it-admins,ou=g", "it-admins"));
        assert!(!refused_by("cn=it-admins-old,ou=g", "it-admins"));
        assert!(!refused_by("it-admins2", "it-admins"));
        assert!(!refused_by("ou=it,cn=it-admins", "it-admins"));
    }

    #[test]
    fn a_bare_name_matches_the_first_rdn_with_unicode_case_folding() {
        let group = "cn=Ylläpitäjät,ou=groups,dc=example,dc=fi";
        assert!(refused_by(group, "YLLÄPITÄJÄT"));
        assert!(refused_by(group, "ylläpitäjät"));
        assert!(refused_by(
            r"cn=Yll\C3\A4pit\C3\A4j\C3\A4t,ou=groups",
            "YLLÄPITÄJÄT"
        ));
        assert!(refused_by("Ylläpitäjät", "YLLÄPITÄJÄT"));
        assert!(!refused_by(group, "yllapitajat"));
        // Any value of a multi-valued first RDN.
        assert!(refused_by("ou=staff+cn=admins,dc=fi", "admins"));
    }

    #[test]
    fn a_bare_name_with_a_comma_matches_an_escaped_comma() {
        for group in [
            r"cn=admins\, tier 0,ou=groups,dc=example,dc=fi",
            r"CN=Admins\2C Tier 0,OU=Groups,DC=example,DC=fi",
            "admins, tier 0",
        ] {
            assert!(refused_by(group, "admins, tier 0"), "{group}");
            assert!(refused_by(group, r"Admins\, Tier 0"), "{group}");
        }
        assert!(!refused_by("cn=admins,ou=tier 0,dc=fi", "admins, tier 0"));
        assert!(!refused_by(
            r"cn=admins\, tier 1,ou=groups",
            "admins, tier 0"
        ));
    }

    #[test]
    fn a_configured_dn_matches_the_whole_dn_however_it_is_spelled() {
        let rule = "cn=it-admins,ou=groups,dc=example,dc=fi";
        assert!(refused_by(
            "CN=IT-Admins, OU=Groups, DC=Example, DC=FI",
            rule
        ));
        assert!(refused_by(
            "commonName=it-admins,ou=groups,dc=example,dc=fi",
            rule
        ));
        assert!(!refused_by("cn=it-admins,ou=other,dc=example,dc=fi", rule));
        assert!(!refused_by("cn=it-admins", rule));
        assert!(!refused_by("it-admins", rule));
        assert!(refused_by(
            "cn=Ylläpitäjät,ou=groups,dc=example,dc=fi",
            "CN=YLLÄPITÄJÄT,OU=GROUPS,DC=EXAMPLE,DC=FI"
        ));
        assert!(refused_by(
            "cn=admins\\, tier 0,ou=groups,dc=fi",
            r"cn=admins\2c tier 0,ou=groups,dc=fi"
        ));
    }

    #[test]
    fn a_group_value_that_is_not_a_dn_is_still_compared() {
        // An unfinished escape: not a DN, yet plainly the group `it-admins`.
        assert!(refused_by(r"cn=it-admins,ou=bad\", "it-admins"));
        assert!(refused_by(r"cn=it-admins,ou=bad\", r"cn=it-admins,ou=bad\"));
    }

    #[test]
    fn settings_refuse_entries_that_would_match_nothing() {
        let validate = |entries: &[&str]| {
            AccountSettings {
                refused_groups: entries.iter().map(|e| e.to_string()).collect(),
                ..AccountSettings::default()
            }
            .validate()
        };
        validate(&[
            "it-admins",
            "admins, tier 0",
            r"admins\, tier 0",
            "cn=it-admins,ou=groups,dc=example,dc=fi",
            "YLLÄPITÄJÄT",
        ])
        .unwrap();
        for bad in ["", "  ", "cn=a,,dc=fi", "=admins", "cn=a\\", "x\\q"] {
            let error = validate(&["it-admins", bad]).unwrap_err().to_string();
            assert!(
                error.contains("accounts.refused_groups"),
                "{bad:?}: {error}"
            );
            assert!(error.contains("entry 2"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn nested_groups_count_because_the_directory_lists_them() {
        // The directory gives direct and nested groups alike; the rules see them all.
        let account = account(
            "student",
            AccountState::Active,
            &["cn=lab,ou=groups,dc=fi", "cn=it-admins,ou=groups,dc=fi"],
        );
        assert!(matches!(
            decide(account, &settings()),
            Err(Refusal::NotEligible {
                reason: Ineligible::Privileged,
                ..
            })
        ));
    }

    #[test]
    fn a_locked_account_is_refused_unless_a_reset_may_unlock_it() {
        let locked = Account {
            locked: true,
            ..account("student", AccountState::Active, &[])
        };
        assert_eq!(
            decide(locked.clone(), &settings()).unwrap_err(),
            Refusal::NotEligible {
                reason: Ineligible::Locked,
                staff: false,
                username: "x".into()
            }
        );
        assert_eq!(Ineligible::Locked.as_str(), "locked");
        let unlocking = AccountSettings {
            reset_unlocks: true,
            ..settings()
        };
        let eligible = decide(locked.clone(), &unlocking).unwrap();
        assert_eq!(eligible.purpose, Purpose::Reset);
        // Privilege and a closed account still win.
        let privileged = Account {
            groups: vec!["it-admins".into()],
            ..locked.clone()
        };
        assert!(matches!(
            decide(privileged, &unlocking),
            Err(Refusal::NotEligible {
                reason: Ineligible::Privileged,
                ..
            })
        ));
        let closed = Account {
            state: AccountState::Disabled,
            ..locked
        };
        assert!(matches!(
            decide(closed, &unlocking),
            Err(Refusal::NotEligible {
                reason: Ineligible::Disabled,
                ..
            })
        ));
    }
}
