//! Campus accounts: finding them by national identity code and writing their passwords.
//!
//! [`Directory`] is the small contract the account use cases code against; [`build`] makes one
//! from the `[directory]` settings. Two backends exist:
//!
//! - [`memory::MemoryDirectory`]: accounts from a TOML seed file, kept in this process, with fault
//!   injection for tests (development and tests only);
//! - [`ldap::LdapDirectory`]: an OpenLDAP server (RFC 3062 password modify) or Active Directory
//!   (`unicodePwd` over LDAPS), over TLS.
//!
//! Every [`DirectoryError`] message is safe to log: it never carries a password, a search filter, a
//! searched value or a plain identity code.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock::SystemClock;
use crate::identity::NationalId;

pub mod dn;
pub mod ldap;
pub mod memory;
pub mod metered;

pub use ldap::{LdapDirectory, LdapSettings};
pub use memory::{MemoryDirectory, WriteFault};
pub use metered::Metered;

/// Opaque id of an account inside its directory: the entry DN for LDAP, the username for memory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountId(String);

impl AccountId {
    /// Wraps a directory's own id (a DN or a username); only directories should make these.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as the directory knows it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an account is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// In use: the person may reset its password.
    Active,
    /// Created but never taken into use: the person activates it (first password, terms of use).
    PendingActivation,
    /// Closed by the organisation: nothing may be written to it.
    Disabled,
}

/// A campus account as the directory describes it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub username: String,
    /// The name the person signs in with, where the directory keeps it apart from `username` and
    /// is configured to show it (Active Directory's `userPrincipalName`, `name@example.fi`): the
    /// pages show it instead of `username`.
    pub login_name: Option<String>,
    /// The account's e-mail addresses, from the attributes `[notify.mail] address_attributes`
    /// names (none when e-mail notices are off).
    pub emails: Vec<String>,
    /// The account's postal address, line by line, from the attributes `[helpdesk.letters]
    /// address_lines` names (none when it names none).
    pub postal_address: Vec<String>,
    pub given_name: String,
    pub family_name: String,
    /// The birth date the account's identity code encodes, where the directory holds one; the code
    /// itself is not kept. For matching a typed service request to its candidate accounts.
    pub birth_date: Option<time::Date>,
    /// The category as stored, e.g. `student`, `staff`, `partner`, `external`; empty if missing.
    pub category: String,
    pub state: AccountState,
    /// Whether the directory has locked the account (too many failed logins, or an administrator's
    /// lock): the person cannot log in until it is unlocked. A lock is not a [`AccountState`]: it
    /// comes and goes by itself, and a password write may remove it (see [`IfLocked`]).
    pub locked: bool,
    /// The account's effective groups, each once: those it is a member of directly and those it is
    /// a member of through groups in groups, as far as the backend follows them (an account whose
    /// groups nest deeper than that is an error, never a shorter list). Group names for memory; for
    /// LDAP the DNs as the directory spells them.
    pub groups: Vec<String>,
}

/// What a password write does with an account the directory has locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfLocked {
    /// Write nothing: a locked account is [`DirectoryError::AccountNotFound`].
    Refuse,
    /// Write the password and remove the lock, so the person can log in with it at once.
    Unlock,
}

/// A password the service's own policy has already accepted. It has a redacted `Debug` and no
/// `Display`; the plain text is reachable only through [`NewPassword::expose`].
pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn new(password: String) -> Self {
        Self(SecretString::from(password))
    }

    /// The plain password, for the write to the directory only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// What a directory's password policy said no to, in categories safe to show the person. The
/// directory's own text is never shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyRefusal {
    /// Shorter than the directory allows.
    TooShort,
    /// Fails the directory's quality or complexity rules.
    TooSimple,
    /// The current password or one used recently.
    RecentlyUsed,
    /// The password was changed a moment ago and may not change again yet.
    ChangedTooRecently,
    /// Active Directory's password rule, whose refusal does not say which part failed: the length,
    /// the complexity (three kinds of characters, not the account's name) or the history.
    LengthComplexityOrHistory,
    /// Refused for a reason the directory did not make clear.
    Other,
}

/// Why a directory call failed. The messages are safe to log (no passwords, filters or identity
/// codes); none of them is meant for the person's page.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory is down, busy or did not answer in time: show "try again later" (503); the person
    /// may retry.
    #[error("directory unavailable: {detail}")]
    Unavailable { detail: String },
    /// The directory's own password policy refused the password: answer 422 with the hint for
    /// `refusal`; `detail` is for the log only.
    #[error("directory refused the password ({refusal:?}): {detail}")]
    PolicyRejected {
        refusal: PolicyRefusal,
        detail: String,
    },
    /// The account is gone or no longer writable (deleted, moved, disabled, or locked when the
    /// write may not unlock it, since it was found): refer the person to the helpdesk.
    #[error("account not found in the directory")]
    AccountNotFound,
    /// The service's directory settings or rights are wrong (bind refused, access denied, bad DN or
    /// filter, untrusted certificate): answer 500; an operator must fix the named setting.
    #[error("directory misconfigured: {detail}")]
    Misconfigured { detail: String },
}

impl DirectoryError {
    pub(crate) fn misconfigured(detail: impl Into<String>) -> Self {
        DirectoryError::Misconfigured {
            detail: detail.into(),
        }
    }

    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        DirectoryError::Unavailable {
            detail: detail.into(),
        }
    }
}

/// Where campus accounts live. Implementations must be safe to share between requests.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// The backend's name for logs and readiness (`memory`, `ldap`).
    fn kind(&self) -> &'static str;

    /// Exactly the accounts whose national-id attribute matches. 0 or >1 is the caller's problem.
    async fn find_by_national_id(&self, id: &NationalId) -> Result<Vec<Account>, DirectoryError>;

    /// Exactly the accounts whose username matches, without regard to case (normally 0 or 1). For
    /// the helpdesk's search, and for staff members' groups.
    async fn find_by_username(&self, username: &str) -> Result<Vec<Account>, DirectoryError>;

    /// The accounts whose family name is `family_name` and one of whose given names contains
    /// `given_name`, both without regard to case; at most ten. For the candidates of a service
    /// request: typed names are not proof, staff confirm the match.
    async fn find_by_name(
        &self,
        given_name: &str,
        family_name: &str,
    ) -> Result<Vec<Account>, DirectoryError>;

    /// The account `id` as the directory describes it now; `None` when it is gone or no longer
    /// matches the directory's account filter. Writes re-read the account through this, so that a
    /// session opened before the account was disabled, locked or made privileged cannot write to it.
    async fn account(&self, id: &AccountId) -> Result<Option<Account>, DirectoryError>;

    /// Sets the first password and marks the account active (terms accepted) in one step; a locked
    /// account is unlocked in the same step when `if_locked` is [`IfLocked::Unlock`].
    ///
    /// Calling it again with the same password after a failure, or after a success whose answer was
    /// lost, completes the activation and succeeds. A disabled or missing account, or a locked one
    /// with [`IfLocked::Refuse`], is [`DirectoryError::AccountNotFound`] and nothing is written.
    async fn activate(
        &self,
        account: &AccountId,
        password: &NewPassword,
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError>;

    /// Replaces the password; the account's state is left as it is, and a lock is removed when
    /// `if_locked` is [`IfLocked::Unlock`]. A disabled or missing account, or a locked one with
    /// [`IfLocked::Refuse`], is [`DirectoryError::AccountNotFound`] and nothing is written. Repeating
    /// a reset with the password the account already has succeeds.
    async fn reset_password(
        &self,
        account: &AccountId,
        password: &NewPassword,
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError>;

    /// Whether the directory answers with the service's credentials.
    async fn health(&self) -> Result<(), DirectoryError>;
}

/// `[directory]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySettings {
    pub kind: DirectoryKind,
    /// The seed file of `kind = "memory"`; `None` (the key left out) is the built-in development
    /// accounts, [`memory::DEV_ACCOUNTS`].
    pub seed: Option<PathBuf>,
    /// `[directory.ldap]`, for `kind = "ldap"`.
    pub ldap: LdapSettings,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        Self {
            kind: DirectoryKind::Memory,
            seed: None,
            ldap: LdapSettings::default(),
        }
    }
}

/// Which backend holds the accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectoryKind {
    /// Accounts from the seed file, in this process (development and tests).
    Memory,
    /// An LDAP server: OpenLDAP or Active Directory.
    Ldap,
}

/// Makes the configured directory. Settings that cannot work are
/// [`DirectoryError::Misconfigured`] naming the key; an LDAP server is not contacted yet (see
/// [`Directory::health`]).
pub async fn build(settings: &DirectorySettings) -> Result<Arc<dyn Directory>, DirectoryError> {
    Ok(match settings.kind {
        DirectoryKind::Memory => Arc::new(match &settings.seed {
            Some(path) => MemoryDirectory::from_seed_file(path)?,
            None => MemoryDirectory::from_toml(memory::DEV_ACCOUNTS)?,
        }),
        DirectoryKind::Ldap => Arc::new(LdapDirectory::new(&settings.ldap, Arc::new(SystemClock))?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_password_debug_hides_the_password() {
        let password = NewPassword::new("Sekret-Salasana-1".to_owned());
        assert_eq!(format!("{password:?}"), "NewPassword(***)");
        assert_eq!(password.expose(), "Sekret-Salasana-1");
    }

    #[test]
    fn settings_default_to_the_memory_directory_and_the_dev_seed() {
        let settings: DirectorySettings = toml::from_str("").unwrap();
        assert_eq!(settings.kind, DirectoryKind::Memory);
        assert_eq!(settings.seed, None);
    }

    #[test]
    fn the_built_in_dev_seed_is_the_shipped_file() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/dev-accounts.toml");
        assert_eq!(memory::DEV_ACCOUNTS, std::fs::read_to_string(path).unwrap());
    }

    #[tokio::test]
    async fn without_a_seed_file_the_memory_directory_holds_the_built_in_accounts() {
        let directory = build(&DirectorySettings::default()).await.unwrap();
        let tero = NationalId::parse("010170-999R", true).unwrap();
        let found = directory.find_by_national_id(&tero).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].username, "tetyra");
    }

    #[test]
    fn settings_refuse_unknown_keys() {
        let error = toml::from_str::<DirectorySettings>("kind = \"memory\"\nseeds = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("seeds"), "{error}");
    }

    #[tokio::test]
    async fn build_makes_the_memory_directory_from_the_dev_seed() {
        let settings = DirectorySettings {
            seed: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/dev-accounts.toml")),
            ..DirectorySettings::default()
        };
        let directory = build(&settings).await.unwrap();
        assert_eq!(directory.kind(), "memory");
        directory.health().await.unwrap();
    }

    #[tokio::test]
    async fn build_names_the_seed_key_when_the_file_is_missing() {
        let settings = DirectorySettings {
            seed: Some(PathBuf::from("/nonexistent/accounts.toml")),
            ..DirectorySettings::default()
        };
        match build(&settings).await {
            Err(DirectoryError::Misconfigured { detail }) => {
                assert!(detail.contains("directory.seed"), "{detail}")
            }
            other => panic!("expected Misconfigured, got {:?}", other.err()),
        }
    }
}
