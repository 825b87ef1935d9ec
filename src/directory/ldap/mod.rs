//! An LDAP directory: OpenLDAP, or Active Directory (`flavour = "active_directory"`).
//!
//! The service binds as its own account on one shared connection (multiplexed by ldap3, driven by a
//! spawned task); a closed or failing connection is dropped and the next call opens and binds a new
//! one. Every connection attempt and every operation has the configured timeout.
//!
//! - Lookup: a subtree search under `base_dn` for `(&{user_filter}({national_id_attribute}={value}))`
//!   where the value is `national_id_format` with the code in it, escaped as RFC 4515 requires.
//! - Writes first read the account again (a base search with `user_filter`): a missing, filtered-out
//!   or disabled account is [`DirectoryError::AccountNotFound`] and nothing is written.
//! - OpenLDAP: the password is set with the RFC 3062 password modify operation (the server hashes it
//!   and applies its password policy, whose response control refines a refusal); activation then
//!   sets the state and terms attributes in one modify.
//! - Active Directory: one modify replaces `unicodePwd` (and, for activation, the state and terms
//!   attributes); `userAccountControl`'s ACCOUNTDISABLE flag marks disabled accounts.
//! - Retries: when the directory refuses a password as recently used or changed too recently, a bind
//!   as the account with that password tells whether it is already the account's password (a
//!   repeated request whose first answer was lost); then the write counts as done and an activation
//!   is completed.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use ldap3::exop::PasswordModify;
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapResult, Mod, Scope, SearchEntry, SearchOptions,
};
use secrecy::ExposeSecret;

use super::{
    Account, AccountId, AccountState, Directory, DirectoryError, NewPassword, PolicyRefusal,
};
use crate::clock::Clock;
use crate::identity::NationalId;
use outcome::{Step, from_error, from_result};
use settings::Config;

mod encode;
mod outcome;
mod settings;

pub use settings::{Flavour, LdapSettings, StateValues};

/// A lookup returning more than this many entries is cut short: more than one is already ambiguous.
const MAX_MATCHES: i32 = 10;

/// Active Directory's `userAccountControl` flag of a disabled account.
const ACCOUNTDISABLE: i64 = 0x2;

/// A [`Directory`] on an LDAP server. Account ids are entry DNs.
pub struct LdapDirectory {
    config: Config,
    clock: Arc<dyn Clock>,
    shared: tokio::sync::Mutex<Option<Ldap>>,
}

impl LdapDirectory {
    /// Checks the settings and reads the files they name; the server is contacted at the first call.
    /// Settings that cannot work are [`DirectoryError::Misconfigured`] naming the key.
    pub fn new(settings: &LdapSettings, clock: Arc<dyn Clock>) -> Result<Self, DirectoryError> {
        Ok(Self {
            config: Config::from_settings(settings)?,
            clock,
            shared: tokio::sync::Mutex::new(None),
        })
    }

    /// The shared connection, bound as the service account; opened if there is none or it closed.
    async fn connection(&self) -> Result<Ldap, DirectoryError> {
        let mut shared = self.shared.lock().await;
        if let Some(ldap) = shared.as_mut()
            && !ldap.is_closed()
        {
            return Ok(ldap.clone());
        }
        *shared = None;
        let config = &self.config;
        let ldap = open(
            config,
            &config.bind_dn,
            config.bind_password.expose_secret(),
        )
        .await?;
        *shared = Some(ldap.clone());
        Ok(ldap)
    }

    /// Drops the shared connection after a failure that may have broken it; operations still
    /// running on it keep their handles.
    async fn forget_if_broken<T>(
        &self,
        result: Result<T, DirectoryError>,
    ) -> Result<T, DirectoryError> {
        if let Err(DirectoryError::Unavailable { .. }) = &result {
            *self.shared.lock().await = None;
        }
        result
    }

    fn read_attributes(&self) -> Vec<&str> {
        let config = &self.config;
        let mut attributes = vec![
            config.username_attribute.as_str(),
            config.given_name_attribute.as_str(),
            config.family_name_attribute.as_str(),
            config.category_attribute.as_str(),
            config.group_attribute.as_str(),
        ];
        attributes.extend(self.state_attributes());
        attributes
    }

    /// The attributes that decide an account's state (none: every account is active).
    fn state_attributes(&self) -> Vec<&str> {
        let mut attributes = Vec::new();
        if let Some((attribute, _)) = &self.config.state {
            attributes.push(attribute.as_str());
        }
        if self.config.flavour == Flavour::ActiveDirectory {
            attributes.push("userAccountControl");
        }
        attributes
    }

    async fn search_accounts(
        &self,
        ldap: &mut Ldap,
        filter: &str,
    ) -> Result<Vec<Account>, DirectoryError> {
        let config = &self.config;
        let found = ldap
            .with_timeout(config.timeout)
            .with_search_options(SearchOptions::new().sizelimit(MAX_MATCHES))
            .search(
                &config.base_dn,
                Scope::Subtree,
                filter,
                self.read_attributes(),
            )
            .await
            .map_err(|error| from_error(Step::Search, error))?;
        let (entries, result) = (found.0, found.1);
        // sizeLimitExceeded still returns the first entries, which is all an ambiguity needs.
        if result.rc != 0 && result.rc != 4 {
            return Err(failed(Step::Search, &result, None));
        }
        entries
            .into_iter()
            .map(|entry| self.account_from(&SearchEntry::construct(entry)))
            .collect()
    }

    fn account_from(&self, entry: &SearchEntry) -> Result<Account, DirectoryError> {
        let config = &self.config;
        let first = |attribute: &str| values(entry, attribute).first().cloned();
        let username = first(&config.username_attribute).ok_or_else(|| {
            DirectoryError::misconfigured(format!(
                "an account entry has no {}; check directory.ldap.username_attribute",
                config.username_attribute
            ))
        })?;
        Ok(Account {
            id: AccountId::new(entry.dn.clone()),
            username,
            given_name: first(&config.given_name_attribute).unwrap_or_default(),
            family_name: first(&config.family_name_attribute).unwrap_or_default(),
            category: first(&config.category_attribute).unwrap_or_default(),
            state: self.state_of(entry),
            groups: values(entry, &config.group_attribute).to_vec(),
        })
    }

    fn state_of(&self, entry: &SearchEntry) -> AccountState {
        let config = &self.config;
        if config.flavour == Flavour::ActiveDirectory {
            let flags = values(entry, "userAccountControl")
                .first()
                .and_then(|value| value.trim().parse::<i64>().ok())
                .unwrap_or(0);
            if flags & ACCOUNTDISABLE != 0 {
                return AccountState::Disabled;
            }
        }
        match &config.state {
            Some((attribute, states)) => values(entry, attribute)
                .first()
                .map_or(AccountState::Active, |value| states.state_of(value)),
            None => AccountState::Active,
        }
    }

    /// The entry `dn` as an account, if it exists and matches the user filter.
    async fn read_account(
        &self,
        ldap: &mut Ldap,
        dn: &str,
    ) -> Result<Option<Account>, DirectoryError> {
        let config = &self.config;
        let found = ldap
            .with_timeout(config.timeout)
            .search(dn, Scope::Base, &config.user_filter, self.read_attributes())
            .await
            .map_err(|error| from_error(Step::ReadAccount, error))?;
        match found.1.rc {
            0 => {}
            // noSuchObject: the entry is gone (deleted or moved).
            32 => return Ok(None),
            _ => return Err(failed(Step::ReadAccount, &found.1, None)),
        }
        found
            .0
            .into_iter()
            .next()
            .map(|entry| self.account_from(&SearchEntry::construct(entry)))
            .transpose()
    }

    /// Reads the account about to be written: it must still exist, match the user filter, and not
    /// be disabled.
    async fn check_writable(&self, ldap: &mut Ldap, dn: &str) -> Result<(), DirectoryError> {
        let config = &self.config;
        let mut attributes = self.state_attributes();
        if attributes.is_empty() {
            // "1.1" asks for no attributes at all (RFC 4511).
            attributes.push("1.1");
        }
        let found = ldap
            .with_timeout(config.timeout)
            .search(dn, Scope::Base, &config.user_filter, attributes)
            .await
            .map_err(|error| from_error(Step::ReadAccount, error))?;
        if found.1.rc != 0 {
            return Err(failed(Step::ReadAccount, &found.1, None));
        }
        let entry = found
            .0
            .into_iter()
            .next()
            .ok_or(DirectoryError::AccountNotFound)?;
        if self.state_of(&SearchEntry::construct(entry)) == AccountState::Disabled {
            return Err(DirectoryError::AccountNotFound);
        }
        Ok(())
    }

    /// OpenLDAP: RFC 3062 password modify on the account, as the service account.
    async fn password_modify(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        password: &str,
    ) -> Result<(), DirectoryError> {
        let request = PasswordModify {
            user_id: Some(dn),
            old_pass: None,
            new_pass: Some(password),
        };
        let answer = ldap
            .with_timeout(self.config.timeout)
            .with_controls(encode::ppolicy_request())
            .extended(request)
            .await
            .map_err(|error| from_error(Step::WritePassword, error))?;
        succeeded(Step::WritePassword, &answer.1, Some(password))
    }

    /// Active Directory: `unicodePwd` replaced, with the activation attributes when activating.
    async fn unicode_pwd_modify(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        password: &str,
        activate: bool,
    ) -> Result<(), DirectoryError> {
        let result = ldap
            .with_timeout(self.config.timeout)
            .modify(dn, self.unicode_pwd_changes(password, activate))
            .await
            .map_err(|error| from_error(Step::WritePassword, error))?;
        succeeded(Step::WritePassword, &result, Some(password))
    }

    /// Active Directory's one modify: the new `unicodePwd`, with the activation attributes when
    /// activating, so the account is never left active without its password or the reverse.
    fn unicode_pwd_changes(&self, password: &str, activate: bool) -> Vec<Mod<Vec<u8>>> {
        let mut changes = vec![Mod::Replace(
            b"unicodePwd".to_vec(),
            HashSet::from([encode::unicode_pwd(password)]),
        )];
        if activate {
            changes.extend(self.activation_changes());
        }
        changes
    }

    /// The state set to active and the terms marked accepted now, for the attributes configured.
    fn activation_changes(&self) -> Vec<Mod<Vec<u8>>> {
        let config = &self.config;
        let mut changes = Vec::new();
        if let Some((attribute, states)) = &config.state {
            changes.push(Mod::Replace(
                attribute.as_bytes().to_vec(),
                HashSet::from([states.active.as_bytes().to_vec()]),
            ));
        }
        if let Some(attribute) = &config.terms_accepted_attribute {
            let now = encode::generalized_time(self.clock.now());
            changes.push(Mod::Replace(
                attribute.as_bytes().to_vec(),
                HashSet::from([now.into_bytes()]),
            ));
        }
        changes
    }

    async fn mark_active(&self, ldap: &mut Ldap, dn: &str) -> Result<(), DirectoryError> {
        let changes = self.activation_changes();
        if changes.is_empty() {
            return Ok(());
        }
        let result = ldap
            .with_timeout(self.config.timeout)
            .modify(dn, changes)
            .await
            .map_err(|error| from_error(Step::WriteState, error))?;
        succeeded(Step::WriteState, &result, None)
    }

    /// Whether `password` already is the account's password: a bind as the account on a connection
    /// of its own, closed right after.
    async fn has_password(&self, dn: &str, password: &str) -> bool {
        // A bind with an empty password is an unauthenticated bind, which some servers accept.
        if password.is_empty() {
            return false;
        }
        match open(&self.config, dn, password).await {
            Ok(mut ldap) => {
                // The answer is already known: a failed or slow unbind changes nothing.
                let _ = tokio::time::timeout(self.config.timeout, ldap.unbind()).await;
                true
            }
            Err(_) => false,
        }
    }

    async fn write(&self, dn: &str, password: &str, activate: bool) -> Result<(), DirectoryError> {
        let mut ldap = self.connection().await?;
        self.check_writable(&mut ldap, dn).await?;
        let written = match self.config.flavour {
            Flavour::OpenLdap => self.password_modify(&mut ldap, dn, password).await,
            Flavour::ActiveDirectory => {
                self.unicode_pwd_modify(&mut ldap, dn, password, activate)
                    .await
            }
        };
        let state_written = match written {
            Ok(()) => self.config.flavour == Flavour::ActiveDirectory,
            Err(DirectoryError::PolicyRejected {
                refusal: PolicyRefusal::RecentlyUsed | PolicyRefusal::ChangedTooRecently,
                ..
            }) if self.has_password(dn, password).await => false,
            Err(error) => return Err(error),
        };
        if activate && !state_written {
            self.mark_active(&mut ldap, dn).await?;
        }
        Ok(())
    }

    async fn health_check(&self) -> Result<(), DirectoryError> {
        let mut ldap = self.connection().await?;
        let found = ldap
            .with_timeout(self.config.timeout)
            .search(
                &self.config.base_dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["1.1"],
            )
            .await
            .map_err(|error| from_error(Step::Health, error))?;
        if found.1.rc != 0 {
            return Err(failed(Step::Health, &found.1, None));
        }
        Ok(())
    }
}

/// Opens a connection (StartTLS or LDAPS as configured) and binds as `dn`.
async fn open(config: &Config, dn: &str, password: &str) -> Result<Ldap, DirectoryError> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(config.timeout)
        .set_starttls(config.starttls);
    if let Some(tls) = &config.tls {
        settings = settings.set_config(tls.clone());
    }
    let (connection, mut ldap) = LdapConnAsync::with_settings(settings, config.url.as_str())
        .await
        .map_err(|error| from_error(Step::Connect, error))?;
    tokio::spawn(async move {
        if let Err(error) = connection.drive().await {
            tracing::debug!(%error, "LDAP connection ended");
        }
    });
    let result = ldap
        .with_timeout(config.timeout)
        .simple_bind(dn, password)
        .await
        .map_err(|error| from_error(Step::Bind, error))?;
    succeeded(Step::Bind, &result, None)?;
    Ok(ldap)
}

fn failed(step: Step, result: &LdapResult, password: Option<&str>) -> DirectoryError {
    from_result(step, result.rc, &result.text, &result.ctrls, password)
}

fn succeeded(
    step: Step,
    result: &LdapResult,
    password: Option<&str>,
) -> Result<(), DirectoryError> {
    if result.rc == 0 {
        Ok(())
    } else {
        Err(failed(step, result, password))
    }
}

/// The values of `attribute` in `entry`; attribute names compare without case.
fn values<'e>(entry: &'e SearchEntry, attribute: &str) -> &'e [String] {
    entry
        .attrs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .map_or(&[], |(_, values)| values.as_slice())
}

#[async_trait]
impl Directory for LdapDirectory {
    fn kind(&self) -> &'static str {
        "ldap"
    }

    async fn find_by_national_id(&self, id: &NationalId) -> Result<Vec<Account>, DirectoryError> {
        let config = &self.config;
        let value = encode::national_id_value(&config.national_id_format, id);
        let filter =
            encode::search_filter(&config.user_filter, &config.national_id_attribute, &value);
        let result = match self.connection().await {
            Ok(mut ldap) => self.search_accounts(&mut ldap, &filter).await,
            Err(error) => Err(error),
        };
        self.forget_if_broken(result).await
    }

    async fn account(&self, id: &AccountId) -> Result<Option<Account>, DirectoryError> {
        let result = match self.connection().await {
            Ok(mut ldap) => self.read_account(&mut ldap, id.as_str()).await,
            Err(error) => Err(error),
        };
        self.forget_if_broken(result).await
    }

    async fn activate(
        &self,
        account: &AccountId,
        password: &NewPassword,
    ) -> Result<(), DirectoryError> {
        let result = self.write(account.as_str(), password.expose(), true).await;
        self.forget_if_broken(result).await
    }

    async fn reset_password(
        &self,
        account: &AccountId,
        password: &NewPassword,
    ) -> Result<(), DirectoryError> {
        let result = self.write(account.as_str(), password.expose(), false).await;
        self.forget_if_broken(result).await
    }

    async fn health(&self) -> Result<(), DirectoryError> {
        let result = self.health_check().await;
        self.forget_if_broken(result).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use crate::clock::ManualClock;

    fn directory(settings: LdapSettings) -> LdapDirectory {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("tunnus-ldap-mod-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let password_file = dir.join(format!("bind-password-{n}"));
        std::fs::write(&password_file, "x").unwrap();
        std::fs::set_permissions(
            &password_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let settings = LdapSettings {
            url: Some(url::Url::parse("ldaps://ldap.example.org").unwrap()),
            bind_dn: "cn=tunnus,dc=example,dc=org".to_owned(),
            bind_password_file: Some(password_file),
            base_dn: "dc=example,dc=org".to_owned(),
            ..settings
        };
        LdapDirectory::new(&settings, Arc::new(ManualClock::new())).unwrap()
    }

    fn entry(attributes: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: "uid=tetyra,ou=people,dc=example,dc=org".to_owned(),
            attrs: attributes
                .iter()
                .map(|(name, values)| {
                    (
                        (*name).to_owned(),
                        values.iter().map(|v| (*v).to_owned()).collect(),
                    )
                })
                .collect::<HashMap<_, _>>(),
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn an_entry_becomes_an_account_whatever_the_case_of_its_attribute_names() {
        let directory = directory(LdapSettings {
            state_attribute: Some("tunnusAccountState".to_owned()),
            ..LdapSettings::default()
        });
        let account = directory
            .account_from(&entry(&[
                ("UID", &["tetyra"]),
                ("givenname", &["Tero Testi"]),
                ("sn", &["Äyrämö"]),
                ("employeeType", &["student"]),
                (
                    "memberOf",
                    &["cn=students,ou=groups,dc=example,dc=org", "cn=x"],
                ),
                ("tunnusaccountstate", &["pending"]),
            ]))
            .unwrap();
        assert_eq!(
            account.id,
            AccountId::new("uid=tetyra,ou=people,dc=example,dc=org")
        );
        assert_eq!(account.username, "tetyra");
        assert_eq!(account.given_name, "Tero Testi");
        assert_eq!(account.family_name, "Äyrämö");
        assert_eq!(account.category, "student");
        assert_eq!(account.state, AccountState::PendingActivation);
        assert_eq!(account.groups.len(), 2);
    }

    #[test]
    fn missing_optional_attributes_are_empty_and_a_missing_state_is_active() {
        let directory = directory(LdapSettings {
            state_attribute: Some("tunnusAccountState".to_owned()),
            ..LdapSettings::default()
        });
        let account = directory.account_from(&entry(&[("uid", &["x"])])).unwrap();
        assert_eq!(account.category, "");
        assert_eq!(account.given_name, "");
        assert!(account.groups.is_empty());
        assert_eq!(account.state, AccountState::Active);
    }

    #[test]
    fn an_entry_without_a_username_points_at_the_setting() {
        let directory = directory(LdapSettings::default());
        match directory.account_from(&entry(&[("cn", &["x"])])) {
            Err(DirectoryError::Misconfigured { detail }) => {
                assert!(
                    detail.contains("directory.ldap.username_attribute"),
                    "{detail}"
                )
            }
            other => panic!("expected Misconfigured, got {other:?}"),
        }
    }

    #[test]
    fn active_directory_s_disable_flag_wins_over_the_state_attribute() {
        let directory = directory(LdapSettings {
            flavour: Flavour::ActiveDirectory,
            state_attribute: Some("extensionAttribute2".to_owned()),
            ..LdapSettings::default()
        });
        let disabled = entry(&[
            ("sAMAccountName", &["tetyra"]),
            ("userAccountControl", &["514"]),
            ("extensionAttribute2", &["active"]),
        ]);
        assert_eq!(directory.state_of(&disabled), AccountState::Disabled);
        let enabled = entry(&[
            ("sAMAccountName", &["tetyra"]),
            ("userAccountControl", &["512"]),
            ("extensionAttribute2", &["pending"]),
        ]);
        assert_eq!(
            directory.state_of(&enabled),
            AccountState::PendingActivation
        );
    }

    #[test]
    fn activation_changes_set_the_state_and_the_terms_time() {
        let clock = Arc::new(ManualClock::at(
            time::macros::datetime!(2026-05-04 03:02:01 UTC),
        ));
        let mut directory = directory(LdapSettings {
            state_attribute: Some("tunnusAccountState".to_owned()),
            terms_accepted_attribute: Some("tunnusTermsAccepted".to_owned()),
            ..LdapSettings::default()
        });
        directory.clock = clock;
        assert_eq!(
            replaced(directory.activation_changes()),
            vec![
                (b"tunnusAccountState".to_vec(), vec![b"active".to_vec()]),
                (
                    b"tunnusTermsAccepted".to_vec(),
                    vec![b"20260504030201Z".to_vec()]
                ),
            ]
        );
    }

    /// Each change as (attribute, values); every change the backend makes is a replace.
    fn replaced(changes: Vec<Mod<Vec<u8>>>) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
        changes
            .into_iter()
            .map(|change| match change {
                Mod::Replace(attribute, values) => (attribute, values.into_iter().collect()),
                _ => panic!("only replaces are expected"),
            })
            .collect()
    }

    #[test]
    fn active_directory_activation_is_one_modify_with_the_password_and_the_state() {
        let mut directory = directory(LdapSettings {
            flavour: Flavour::ActiveDirectory,
            state_attribute: Some("extensionAttribute2".to_owned()),
            terms_accepted_attribute: Some("extensionAttribute3".to_owned()),
            ..LdapSettings::default()
        });
        directory.clock = Arc::new(ManualClock::at(time::macros::datetime!(
            2026-05-04 03:02:01 UTC
        )));
        let quoted_password = vec![0x22, 0x00, 0x78, 0x00, 0x22, 0x00];
        assert_eq!(
            replaced(directory.unicode_pwd_changes("x", true)),
            vec![
                (b"unicodePwd".to_vec(), vec![quoted_password.clone()]),
                (b"extensionAttribute2".to_vec(), vec![b"active".to_vec()]),
                (
                    b"extensionAttribute3".to_vec(),
                    vec![b"20260504030201Z".to_vec()]
                ),
            ]
        );
        assert_eq!(
            replaced(directory.unicode_pwd_changes("x", false)),
            vec![(b"unicodePwd".to_vec(), vec![quoted_password])]
        );
    }

    #[test]
    fn without_state_or_terms_attributes_activation_changes_nothing_else() {
        let directory = directory(LdapSettings::default());
        assert!(directory.activation_changes().is_empty());
        assert!(directory.state_attributes().is_empty());
    }
}
