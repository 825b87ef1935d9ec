//! Who may use self-service: exactly one account for the verified identity code, in an allowed
//! category, not disabled, and not privileged.

use serde::Deserialize;

use crate::directory::{Account, AccountState, Directory, DirectoryError};
use crate::identity::NationalId;

/// `[accounts]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountSettings {
    /// Categories that may activate or reset by themselves.
    pub eligible_categories: Vec<String>,
    /// Members of these groups (privileged accounts) are always sent to the helpdesk.
    pub refused_groups: Vec<String>,
    /// Categories whose people get a new password from HR services rather than the helpdesk.
    pub staff_categories: Vec<String>,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            eligible_categories: vec!["student".into(), "staff".into(), "partner".into()],
            refused_groups: Vec::new(),
            staff_categories: vec!["staff".into()],
        }
    }
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
    Privileged,
}

impl Ineligible {
    /// A short name for audit events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Ineligible::Category => "category",
            Ineligible::Disabled => "disabled",
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
/// privileged account is never offered self-service whatever its category or state.
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

/// Whether `account` is a member of one of `accounts.refused_groups`.
pub fn is_privileged(account: &Account, settings: &AccountSettings) -> bool {
    account.groups.iter().any(|group| {
        settings
            .refused_groups
            .iter()
            .any(|refused| group_matches(group, refused))
    })
}

/// Whether two group names (or DNs) name the same group, as [`decide`] compares them.
pub fn same_group(group: &str, configured: &str) -> bool {
    group_matches(group, configured)
}

/// A group matches a configured name exactly (case-insensitive), or as the first RDN value of a group
/// DN (`cn=it-admins,ou=groups,...` matches `it-admins`).
fn group_matches(group: &str, configured: &str) -> bool {
    if group.eq_ignore_ascii_case(configured) {
        return true;
    }
    group
        .split_once(',')
        .map(|(rdn, _)| rdn)
        .and_then(|rdn| rdn.split_once('='))
        .is_some_and(|(_, value)| value.trim().eq_ignore_ascii_case(configured))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::AccountId;

    fn account(category: &str, state: AccountState, groups: &[&str]) -> Account {
        Account {
            id: AccountId::new("x".to_owned()),
            username: "x".into(),
            given_name: "X".into(),
            family_name: "Y".into(),
            category: category.into(),
            state,
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

    #[test]
    fn group_names_match_whole_names_only() {
        assert!(group_matches("it-admins", "IT-admins"));
        assert!(group_matches("cn=it-admins,ou=g", "it-admins"));
        assert!(!group_matches("cn=it-admins-old,ou=g", "it-admins"));
        assert!(!group_matches("it-admins2", "it-admins"));
    }
}
