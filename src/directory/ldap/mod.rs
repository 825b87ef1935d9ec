//! An LDAP directory: OpenLDAP, or Active Directory (`flavour = "active_directory"`).
//!
//! The service binds as its own account on one shared connection (multiplexed by ldap3, driven by a
//! spawned task); a closed or failing connection is dropped and the next call opens and binds a new
//! one. Every connection attempt and every operation has the configured timeout. Search result
//! references (Active Directory sends them for its other partitions when a search starts at the
//! domain) are not followed.
//!
//! - Lookup: a subtree search under `base_dn` for `(&{user_filter}({national_id_attribute}={value}))`
//!   where the value is `national_id_format` with the code in it, escaped as RFC 4515 requires.
//! - Groups (OpenLDAP): the account's `group_attribute` (`memberOf`) names its direct groups; the
//!   groups those are in are read from the same attribute of each group entry (the memberof overlay
//!   keeps it on groups too), level by level, concurrently within a level, up to
//!   `group_nesting_depth` levels. Cycles end the walk; a group entry that is gone or hidden adds
//!   nothing; nesting deeper than the setting is [`DirectoryError::Misconfigured`], never a shorter
//!   list of groups. Depth 0 reads only the account's own attribute, for directories that already
//!   list nested groups there.
//! - Groups (Active Directory): one search under the domain (or `group_base_dn`) with the in-chain
//!   matching rule finds every group the account is in at any depth, together with its primary
//!   group (`primaryGroupID`, which `member` never lists: Domain Users, or Domain Admins for an
//!   administrator made so) and the groups that one is in.
//! - Locks: an account with `pwdAccountLockedTime` (OpenLDAP ppolicy's lock) is
//!   [`Account::locked`]; `000001010000Z`, ppolicy's "locked until an administrator unlocks it", is
//!   [`AccountState::Disabled`] instead, so that no password write ever unlocks it. In Active
//!   Directory an account is locked out while `msDS-User-Account-Control-Computed` says so (or,
//!   where that is not given, while `lockoutTime` is not 0).
//! - Writes first read the account again (a base search with `user_filter`): a missing,
//!   filtered-out or disabled account, or a locked one with [`IfLocked::Refuse`], is
//!   [`DirectoryError::AccountNotFound`] and nothing is written.
//! - OpenLDAP: the password is set with the RFC 3062 password modify operation (the server hashes it
//!   and applies its password policy, whose response control refines a refusal); activation then
//!   sets the state and terms attributes in one modify. With [`IfLocked::Unlock`], ppolicy removes
//!   the lock itself in the password modify; if the lock is still there afterwards (a database
//!   without the ppolicy overlay, or with `ppolicy_disable_write`), the backend deletes
//!   `pwdAccountLockedTime`, which needs write access to it.
//! - Active Directory: one modify, which the server applies whole or not at all, holds everything:
//!   the administrative replace of `unicodePwd`; for an activation the state and terms attributes
//!   and, with `enable_on_activation`, `userAccountControl` without ACCOUNTDISABLE; `lockoutTime` 0
//!   when unlocking; `pwdLastSet` 0 with `must_change_at_next_logon`. The domain controller sets
//!   `pwdLastSet` to the time of the write otherwise, so the person is not asked to change the
//!   password they chose.
//! - Retries: when the directory refuses a password as recently used or changed too recently, a bind
//!   as the account with that password tells whether it is already the account's password (a
//!   repeated request whose first answer was lost); then the write counts as done and an activation
//!   is completed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use ldap3::controls::RawControl;
use ldap3::exop::PasswordModify;
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapResult, Mod, ResultEntry, Scope, SearchEntry,
    SearchOptions,
};
use secrecy::ExposeSecret;

use super::dn::{Dn, caseless};
use super::{
    Account, AccountId, AccountState, Directory, DirectoryError, IfLocked, NewPassword,
    PolicyRefusal,
};
use crate::clock::Clock;
use crate::identity::NationalId;
use outcome::{Step, from_error, from_ldap_result};
use settings::Config;

mod acl;
mod ad;
mod encode;
mod outcome;
pub mod probe;
mod settings;

pub use settings::{Flavour, LdapSettings, StateValues};

/// A lookup returning more than this many entries is cut short: more than one is already ambiguous.
const MAX_MATCHES: i32 = 10;

/// OpenLDAP ppolicy's lock: when the account was locked.
const PPOLICY_LOCK: &str = "pwdAccountLockedTime";

/// The `pwdAccountLockedTime` that ppolicy reads as "locked until an administrator unlocks it".
const PPOLICY_LOCKED_FOR_GOOD: &str = "000001010000Z";

/// How many group reads one level of the group walk has in flight at once.
const GROUP_READS_IN_FLIGHT: usize = 32;

/// More groups than this for one account is taken for a loop the walk cannot see (or a directory
/// shaped unlike a campus's) rather than read on.
const MAX_GROUPS: usize = 4096;

/// A [`Directory`] on an LDAP server. Account ids are entry DNs.
pub struct LdapDirectory {
    config: Config,
    clock: Arc<dyn Clock>,
    shared: tokio::sync::Mutex<Option<Ldap>>,
    /// Active Directory: where groups are searched, `group_base_dn` or the server's
    /// `defaultNamingContext`, once read.
    group_base: OnceLock<String>,
    /// Active Directory: the DN of each primary group met so far, by SID (these do not move).
    primary_groups: std::sync::Mutex<HashMap<String, String>>,
}

/// What a write needs to know of the account it is about to write.
struct Writable {
    locked: bool,
    /// Active Directory: `userAccountControl`.
    account_control: Option<u32>,
}

impl LdapDirectory {
    /// Checks the settings and reads the files they name; the server is contacted at the first call.
    /// Settings that cannot work are [`DirectoryError::Misconfigured`] naming the key.
    pub fn new(settings: &LdapSettings, clock: Arc<dyn Clock>) -> Result<Self, DirectoryError> {
        let config = Config::from_settings(settings)?;
        let group_base = OnceLock::new();
        if let Some(dn) = &config.group_base_dn {
            let _ = group_base.set(dn.clone());
        }
        Ok(Self {
            config,
            clock,
            shared: tokio::sync::Mutex::new(None),
            group_base,
            primary_groups: std::sync::Mutex::new(HashMap::new()),
        })
    }

    fn active_directory(&self) -> bool {
        self.config.flavour == Flavour::ActiveDirectory
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
        ];
        if let Some(attribute) = &config.shown_username_attribute {
            attributes.push(attribute);
        }
        if self.active_directory() {
            attributes.extend([ad::OBJECT_SID, ad::PRIMARY_GROUP_ID]);
        } else {
            attributes.push(config.group_attribute.as_str());
        }
        attributes.extend(self.state_attributes());
        attributes.extend(config.mail_attributes.iter().map(String::as_str));
        attributes.extend(config.address_lines.iter().flatten().map(String::as_str));
        attributes.push(config.national_id_attribute.as_str());
        attributes
    }

    /// The attributes that decide an account's state and lock (none: every account is active and
    /// unlocked).
    fn state_attributes(&self) -> Vec<&str> {
        let mut attributes = Vec::new();
        if let Some((attribute, _)) = &self.config.state {
            attributes.push(attribute.as_str());
        }
        match self.config.flavour {
            Flavour::OpenLdap => attributes.push(PPOLICY_LOCK),
            Flavour::ActiveDirectory => attributes.extend([
                ad::ACCOUNT_CONTROL,
                ad::ACCOUNT_CONTROL_COMPUTED,
                ad::LOCKOUT_TIME,
            ]),
        }
        attributes
    }

    /// Whether the directory has locked the account of `entry`.
    fn locked(&self, entry: &SearchEntry) -> bool {
        match self.config.flavour {
            Flavour::OpenLdap => !values(entry, PPOLICY_LOCK).is_empty(),
            Flavour::ActiveDirectory => match number(entry, ad::ACCOUNT_CONTROL_COMPUTED) {
                Some(flags) => flags & i64::from(ad::UF_LOCKOUT) != 0,
                None => number(entry, ad::LOCKOUT_TIME).is_some_and(|time| time != 0),
            },
        }
    }

    async fn search_accounts(
        &self,
        ldap: &mut Ldap,
        filter: &str,
    ) -> Result<Vec<Account>, DirectoryError> {
        let config = &self.config;
        let ldap = ldap
            .with_timeout(config.timeout)
            .with_search_options(SearchOptions::new().sizelimit(MAX_MATCHES));
        if config.flavour == Flavour::ActiveDirectory {
            ldap.with_controls(RawControl {
                ctype: DOMAIN_SCOPE.to_owned(),
                crit: false,
                val: None,
            });
        }
        let found = ldap
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
        let entries = account_entries(&config.base_dn, entries, &result)?;
        let mut accounts = Vec::with_capacity(entries.len());
        for entry in entries {
            accounts.push(self.account_with_groups(ldap, &entry).await?);
        }
        Ok(accounts)
    }

    /// The account of `entry` with its effective groups.
    async fn account_with_groups(
        &self,
        ldap: &Ldap,
        entry: &SearchEntry,
    ) -> Result<Account, DirectoryError> {
        let account = self.account_from(entry)?;
        match self.config.flavour {
            Flavour::OpenLdap => self.with_nested_groups(ldap, account).await,
            Flavour::ActiveDirectory => {
                let groups = self.groups_in_chain(ldap, entry).await?;
                Ok(Account { groups, ..account })
            }
        }
    }

    /// Active Directory: every group the account of `entry` is in, through groups in groups and
    /// through its primary group (see the module's documentation), each once.
    async fn groups_in_chain(
        &self,
        ldap: &Ldap,
        entry: &SearchEntry,
    ) -> Result<Vec<String>, DirectoryError> {
        let base = self.group_base(ldap).await?;
        let mut members = vec![entry.dn.clone()];
        let mut groups = Vec::new();
        if let Some(primary) = self.primary_group(ldap, entry, &base).await? {
            members.push(primary.clone());
            groups.push(primary);
        }
        let filter = format!(
            "(|{})",
            members
                .iter()
                .map(|dn| format!("(member:{}:={})", ad::IN_CHAIN, ldap3::ldap_escape(dn)))
                .collect::<String>()
        );
        let found = ldap
            .clone()
            .with_timeout(self.config.timeout)
            .with_search_options(SearchOptions::new().sizelimit(MAX_GROUPS as i32 + 1))
            .search(&base, Scope::Subtree, &filter, vec!["1.1"])
            .await
            .map_err(|error| from_error(Step::ReadGroup, error))?;
        match found.1.rc {
            0 => {}
            4 => {
                return Err(DirectoryError::misconfigured(format!(
                    "an account is in more than {MAX_GROUPS} groups, counting groups in groups"
                )));
            }
            32 => {
                return Err(DirectoryError::misconfigured(
                    "group search: no such object; check directory.ldap.group_base_dn",
                ));
            }
            _ => return Err(failed(Step::ReadGroup, &found.1, None)),
        }
        let mut seen: HashSet<String> = groups.iter().map(|group| group_key(group)).collect();
        for group in search_entries(found.0) {
            if seen.insert(group_key(&group.dn)) {
                groups.push(group.dn);
            }
        }
        Ok(groups)
    }

    /// Where Active Directory's groups are searched: `group_base_dn`, or the domain the server
    /// serves (its root DSE's `defaultNamingContext`).
    async fn group_base(&self, ldap: &Ldap) -> Result<String, DirectoryError> {
        if let Some(base) = self.group_base.get() {
            return Ok(base.clone());
        }
        let found = ldap
            .clone()
            .with_timeout(self.config.timeout)
            .search(
                "",
                Scope::Base,
                "(objectClass=*)",
                vec!["defaultNamingContext"],
            )
            .await
            .map_err(|error| from_error(Step::ReadGroup, error))?;
        if found.1.rc != 0 {
            return Err(failed(Step::ReadGroup, &found.1, None));
        }
        let base = search_entries(found.0)
            .find_map(|entry| values(&entry, "defaultNamingContext").first().cloned())
            .ok_or_else(|| {
                DirectoryError::misconfigured(
                    "the directory names no defaultNamingContext to search groups in; set \
                     directory.ldap.group_base_dn",
                )
            })?;
        Ok(self.group_base.get_or_init(|| base).clone())
    }

    /// The DN of the primary group of the account of `entry`, from its `primaryGroupID` and the
    /// domain part of its `objectSid`; `None` if it has none or the group cannot be seen.
    async fn primary_group(
        &self,
        ldap: &Ldap,
        entry: &SearchEntry,
        base: &str,
    ) -> Result<Option<String>, DirectoryError> {
        let rid = number(entry, ad::PRIMARY_GROUP_ID).and_then(|rid| u32::try_from(rid).ok());
        let sid = binary_values(entry, ad::OBJECT_SID)
            .first()
            .and_then(|sid| ad::sid_to_string(sid));
        let (Some(rid), Some(sid)) = (rid, sid) else {
            return Ok(None);
        };
        let Some(group_sid) = ad::sibling_sid(&sid, rid) else {
            return Ok(None);
        };
        if let Some(dn) = self.known_primary_group(&group_sid) {
            return Ok(Some(dn));
        }
        let found = ldap
            .clone()
            .with_timeout(self.config.timeout)
            .search(
                base,
                Scope::Subtree,
                &format!("(objectSid={group_sid})"),
                vec!["1.1"],
            )
            .await
            .map_err(|error| from_error(Step::ReadGroup, error))?;
        if found.1.rc != 0 {
            return Err(failed(Step::ReadGroup, &found.1, None));
        }
        let Some(group) = search_entries(found.0).next() else {
            return Ok(None);
        };
        if let Ok(mut known) = self.primary_groups.lock() {
            known.insert(group_sid, group.dn.clone());
        }
        Ok(Some(group.dn))
    }

    fn known_primary_group(&self, sid: &str) -> Option<String> {
        self.primary_groups.lock().ok()?.get(sid).cloned()
    }

    /// `account` with its groups' groups added, level by level (see the module's documentation).
    async fn with_nested_groups(
        &self,
        ldap: &Ldap,
        account: Account,
    ) -> Result<Account, DirectoryError> {
        let depth = self.config.group_nesting_depth;
        if depth == 0 || account.groups.is_empty() {
            return Ok(account);
        }
        let mut seen = HashSet::new();
        let mut groups = Vec::new();
        let mut level = Vec::new();
        for group in account.groups {
            if seen.insert(group_key(&group)) {
                groups.push(group.clone());
                level.push(group);
            }
        }
        // How many steps of groups in groups lie between the account and the groups of `level`.
        let mut steps = 0;
        while !level.is_empty() {
            let mut next = Vec::new();
            for group in self.groups_of(ldap, &level).await? {
                if seen.insert(group_key(&group)) {
                    groups.push(group.clone());
                    next.push(group);
                }
            }
            steps += 1;
            if !next.is_empty() && steps > depth {
                return Err(DirectoryError::misconfigured(format!(
                    "an account's groups nest more than {depth} levels deep; raise \
                     directory.ldap.group_nesting_depth (or look for a loop of groups)"
                )));
            }
            if groups.len() > MAX_GROUPS {
                return Err(DirectoryError::misconfigured(format!(
                    "an account is in more than {MAX_GROUPS} groups, counting groups in groups; \
                     check directory.ldap.group_attribute"
                )));
            }
            level = next;
        }
        Ok(Account { groups, ..account })
    }

    /// The values of `group_attribute` of each of the entries `groups`, in their order. An entry
    /// that is gone or that the service may not see has none.
    async fn groups_of(
        &self,
        ldap: &Ldap,
        groups: &[String],
    ) -> Result<Vec<String>, DirectoryError> {
        let config = &self.config;
        let mut found = Vec::new();
        for chunk in groups.chunks(GROUP_READS_IN_FLIGHT) {
            let mut reads = tokio::task::JoinSet::new();
            for (index, dn) in chunk.iter().enumerate() {
                let mut ldap = ldap.clone();
                let (dn, attribute, timeout) =
                    (dn.clone(), config.group_attribute.clone(), config.timeout);
                reads.spawn(async move {
                    let read = ldap
                        .with_timeout(timeout)
                        .search(&dn, Scope::Base, "(objectClass=*)", vec![attribute])
                        .await;
                    (index, read)
                });
            }
            let mut answers: Vec<Vec<String>> = vec![Vec::new(); chunk.len()];
            while let Some(joined) = reads.join_next().await {
                let (index, read) = joined.map_err(|error| {
                    DirectoryError::unavailable(format!("group read: the task ended: {error}"))
                })?;
                let found = read.map_err(|error| from_error(Step::ReadGroup, error))?;
                let (entries, result) = (found.0, found.1);
                match result.rc {
                    0 => {}
                    // noSuchObject: a group deleted since, or one the service may not see.
                    32 => continue,
                    _ => return Err(failed(Step::ReadGroup, &result, None)),
                }
                answers[index] = search_entries(entries)
                    .flat_map(|entry| values(&entry, &config.group_attribute).to_vec())
                    .collect();
            }
            found.extend(answers.into_iter().flatten());
        }
        Ok(found)
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
            login_name: config.shown_username_attribute.as_deref().and_then(&first),
            emails: config
                .mail_attributes
                .iter()
                .flat_map(|attribute| values(entry, attribute))
                .filter(|address| address.contains('@'))
                .cloned()
                .collect(),
            postal_address: postal_address(entry, &config.address_lines),
            given_name: first(&config.given_name_attribute).unwrap_or_default(),
            family_name: first(&config.family_name_attribute).unwrap_or_default(),
            birth_date: values(entry, &config.national_id_attribute)
                .iter()
                .find_map(|value| encode::birth_date_of(&config.national_id_format, value)),
            category: first(&config.category_attribute).unwrap_or_default(),
            state: self.state_of(entry),
            locked: self.locked(entry),
            groups: values(entry, &config.group_attribute).to_vec(),
        })
    }

    fn state_of(&self, entry: &SearchEntry) -> AccountState {
        let config = &self.config;
        let stored = match &config.state {
            Some((attribute, states)) => values(entry, attribute)
                .first()
                .map_or(AccountState::Active, |value| states.state_of(value)),
            None => AccountState::Active,
        };
        match config.flavour {
            Flavour::OpenLdap => {
                let locked_for_good = values(entry, PPOLICY_LOCK)
                    .iter()
                    .any(|value| value.trim() == PPOLICY_LOCKED_FOR_GOOD);
                if locked_for_good {
                    AccountState::Disabled
                } else {
                    stored
                }
            }
            Flavour::ActiveDirectory => {
                let disabled = account_control(entry) & ad::ACCOUNTDISABLE != 0;
                match stored {
                    // Kept disabled until activated: its state says so.
                    AccountState::PendingActivation if config.enable_on_activation => stored,
                    _ if disabled => AccountState::Disabled,
                    _ => stored,
                }
            }
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
        let Some(entry) = search_entries(found.0).next() else {
            return Ok(None);
        };
        Ok(Some(self.account_with_groups(ldap, &entry).await?))
    }

    /// Reads the account about to be written: it must still exist, match the user filter, not be
    /// disabled, and not be locked unless the write may unlock it.
    async fn check_writable(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        if_locked: IfLocked,
    ) -> Result<Writable, DirectoryError> {
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
        let entry = search_entries(found.0)
            .next()
            .ok_or(DirectoryError::AccountNotFound)?;
        if self.state_of(&entry) == AccountState::Disabled {
            return Err(DirectoryError::AccountNotFound);
        }
        let locked = self.locked(&entry);
        if locked && if_locked == IfLocked::Refuse {
            return Err(DirectoryError::AccountNotFound);
        }
        Ok(Writable {
            locked,
            account_control: self.active_directory().then(|| account_control(&entry)),
        })
    }

    /// OpenLDAP: removes the lock of `dn` if it is still there after its password was written.
    async fn unlock(&self, ldap: &mut Ldap, dn: &str) -> Result<(), DirectoryError> {
        let timeout = self.config.timeout;
        let found = ldap
            .with_timeout(timeout)
            .search(dn, Scope::Base, "(objectClass=*)", vec![PPOLICY_LOCK])
            .await
            .map_err(|error| from_error(Step::Unlock, error))?;
        if found.1.rc != 0 {
            return Err(failed(Step::Unlock, &found.1, None));
        }
        let still_locked = search_entries(found.0)
            .next()
            .is_some_and(|entry| self.locked(&entry));
        if !still_locked {
            return Ok(());
        }
        let result = ldap
            .with_timeout(timeout)
            .modify(
                dn,
                vec![Mod::Delete(
                    PPOLICY_LOCK.as_bytes().to_vec(),
                    HashSet::new(),
                )],
            )
            .await
            .map_err(|error| from_error(Step::Unlock, error))?;
        match result.rc {
            // noSuchAttribute: unlocked meanwhile.
            0 | 16 => Ok(()),
            _ => Err(failed(Step::Unlock, &result, None)),
        }
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

    /// Active Directory: the one modify of [`LdapDirectory::unicode_pwd_changes`].
    async fn unicode_pwd_modify(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        changes: Vec<Mod<Vec<u8>>>,
        password: &str,
    ) -> Result<(), DirectoryError> {
        let result = ldap
            .with_timeout(self.config.timeout)
            .modify(dn, changes)
            .await
            .map_err(|error| from_error(Step::WritePassword, error))?;
        succeeded(Step::WritePassword, &result, Some(password))
    }

    /// Active Directory's one modify: the new `unicodePwd` and [`LdapDirectory::ad_completion`].
    /// All or nothing: the account is never left active without its password, or unlocked with its
    /// old one.
    fn unicode_pwd_changes(
        &self,
        password: &str,
        activate: bool,
        writable: &Writable,
    ) -> Vec<Mod<Vec<u8>>> {
        let mut changes = vec![Mod::Replace(
            b"unicodePwd".to_vec(),
            HashSet::from([encode::unicode_pwd(password)]),
        )];
        changes.extend(self.ad_completion(activate, writable));
        changes
    }

    /// What Active Directory's write sets besides the password: for an activation the state and
    /// terms attributes and, when the account is kept disabled until then, `userAccountControl`
    /// without ACCOUNTDISABLE; `lockoutTime` 0 to unlock; `pwdLastSet` 0 when the person must
    /// change the password at the next logon.
    fn ad_completion(&self, activate: bool, writable: &Writable) -> Vec<Mod<Vec<u8>>> {
        let replace = |attribute: &str, value: Vec<u8>| {
            Mod::Replace(attribute.as_bytes().to_vec(), HashSet::from([value]))
        };
        let mut changes = Vec::new();
        if activate {
            changes.extend(self.activation_changes());
            if let Some(flags) = writable.account_control
                && self.config.enable_on_activation
                && flags & ad::ACCOUNTDISABLE != 0
            {
                let enabled = flags & !ad::ACCOUNTDISABLE;
                changes.push(replace(
                    ad::ACCOUNT_CONTROL,
                    enabled.to_string().into_bytes(),
                ));
            }
        }
        if writable.locked {
            changes.push(replace(ad::LOCKOUT_TIME, b"0".to_vec()));
        }
        if self.config.must_change_at_next_logon {
            changes.push(replace(ad::PWD_LAST_SET, b"0".to_vec()));
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

    /// Writes what completes a write whose password was already set (see the module's
    /// documentation about retries).
    async fn write_state(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        changes: Vec<Mod<Vec<u8>>>,
    ) -> Result<(), DirectoryError> {
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

    async fn write(
        &self,
        dn: &str,
        password: &str,
        activate: bool,
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError> {
        let mut ldap = self.connection().await?;
        let writable = self.check_writable(&mut ldap, dn, if_locked).await?;
        let written = match self.config.flavour {
            Flavour::OpenLdap => self.password_modify(&mut ldap, dn, password).await,
            Flavour::ActiveDirectory => {
                let changes = self.unicode_pwd_changes(password, activate, &writable);
                self.unicode_pwd_modify(&mut ldap, dn, changes, password)
                    .await
            }
        };
        let state_written = match written {
            Ok(()) => self.active_directory(),
            Err(DirectoryError::PolicyRejected {
                refusal: PolicyRefusal::RecentlyUsed | PolicyRefusal::ChangedTooRecently,
                ..
            }) if self.has_password(dn, password).await => false,
            Err(error) => return Err(error),
        };
        if state_written {
            return Ok(());
        }
        match self.config.flavour {
            Flavour::OpenLdap => {
                if writable.locked {
                    self.unlock(&mut ldap, dn).await?;
                }
                if activate {
                    self.write_state(&mut ldap, dn, self.activation_changes())
                        .await?;
                }
            }
            Flavour::ActiveDirectory => {
                let changes = self.ad_completion(activate, &writable);
                self.write_state(&mut ldap, dn, changes).await?;
            }
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
    from_ldap_result(step, result, password)
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

/// What tells two spellings of one group apart from two groups: the canonical DN, or the caseless
/// text of a value that is not a DN.
fn group_key(group: &str) -> String {
    Dn::parse(group).map_or_else(|_| caseless(group), |dn| dn.to_string())
}

/// The postal address of `entry`: per line, the first values of its attributes joined by spaces;
/// a value with `$` (RFC 4517 postal address) gives one line per part. Empty lines are left out.
fn postal_address(entry: &SearchEntry, lines: &[Vec<String>]) -> Vec<String> {
    let mut address = Vec::new();
    for attributes in lines {
        let values: Vec<&str> = attributes
            .iter()
            .filter_map(|attribute| values(entry, attribute).first())
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
            .collect();
        for line in values.join(" ").split('$') {
            // `\24` is an escaped `$` inside a line, `\5C` an escaped `\`.
            let line = line
                .replace("\\24", "$")
                .replace("\\5C", "\\")
                .replace("\\5c", "\\");
            let line = line.trim();
            if !line.is_empty() {
                address.push(line.to_owned());
            }
        }
    }
    address
}

/// The values of `attribute` in `entry`; attribute names compare without case.
fn values<'e>(entry: &'e SearchEntry, attribute: &str) -> &'e [String] {
    entry
        .attrs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .map_or(&[], |(_, values)| values.as_slice())
}

/// LDAP_SERVER_DOMAIN_SCOPE_OID: Active Directory answers from the domain alone, without
/// references to its other partitions (DomainDnsZones, ForestDnsZones, Configuration) that a search
/// from the domain root would otherwise carry.
const DOMAIN_SCOPE: &str = "1.2.840.113556.1.4.1339";

/// The entries of an account search. An answer of references to other servers alone is not "no
/// account": the accounts under `base_dn` are held elsewhere, and the settings point at the wrong
/// server or base. (Active Directory's references to its other partitions are not asked for: see
/// [`DOMAIN_SCOPE`].)
fn account_entries(
    base_dn: &str,
    found: Vec<ResultEntry>,
    result: &LdapResult,
) -> Result<Vec<SearchEntry>, DirectoryError> {
    let entries: Vec<SearchEntry> = search_entries(found).collect();
    // The search collects continuation references into the result.
    if entries.is_empty() && !result.refs.is_empty() {
        return Err(DirectoryError::misconfigured(format!(
            "account search: the directory answered only with references to other servers ({}): \
             the accounts under directory.ldap.base_dn ({base_dn}) are not held by the server of \
             directory.ldap.url; point url and base_dn at the server that holds them",
            result.refs.join(", ")
        )));
    }
    if !result.refs.is_empty() {
        tracing::warn!(
            references = %result.refs.join(", "),
            "the account search under directory.ldap.base_dn also found references to other \
             servers, which are not followed"
        );
    }
    Ok(entries)
}

/// The entries of a search's answer; references to other servers or partitions and intermediate
/// messages are left out.
fn search_entries(found: Vec<ResultEntry>) -> impl Iterator<Item = SearchEntry> {
    found
        .into_iter()
        .filter(|entry| !entry.is_ref() && !entry.is_intermediate())
        .map(SearchEntry::construct)
}

/// The first value of `attribute` as a number, if it is one.
fn number(entry: &SearchEntry, attribute: &str) -> Option<i64> {
    values(entry, attribute)
        .first()
        .and_then(|value| value.trim().parse().ok())
}

/// Active Directory's `userAccountControl` (0 when missing or not a number).
fn account_control(entry: &SearchEntry) -> u32 {
    number(entry, ad::ACCOUNT_CONTROL)
        .and_then(|flags| u32::try_from(flags).ok())
        .unwrap_or(0)
}

/// The values of a binary attribute (`objectSid`): ldap3 keeps values that happen to be UTF-8 with
/// the text attributes.
fn binary_values(entry: &SearchEntry, attribute: &str) -> Vec<Vec<u8>> {
    let binary = entry
        .bin_attrs
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, values)| values.iter().cloned());
    let text = values(entry, attribute)
        .iter()
        .map(|value| value.as_bytes().to_vec());
    binary.chain(text).collect()
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

    async fn find_by_username(&self, username: &str) -> Result<Vec<Account>, DirectoryError> {
        let config = &self.config;
        let filter = encode::search_filter(
            &config.user_filter,
            &config.username_attribute,
            username.trim(),
        );
        let result = match self.connection().await {
            Ok(mut ldap) => self.search_accounts(&mut ldap, &filter).await,
            Err(error) => Err(error),
        };
        self.forget_if_broken(result).await
    }

    async fn find_by_name(
        &self,
        given_name: &str,
        family_name: &str,
    ) -> Result<Vec<Account>, DirectoryError> {
        let (given, family) = (given_name.trim(), family_name.trim());
        if given.is_empty() || family.is_empty() {
            return Ok(Vec::new());
        }
        let config = &self.config;
        let filter = encode::name_filter(
            &config.user_filter,
            &config.given_name_attribute,
            &config.family_name_attribute,
            given,
            family,
        );
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
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError> {
        let result = self
            .write(account.as_str(), password.expose(), true, if_locked)
            .await;
        self.forget_if_broken(result).await
    }

    async fn reset_password(
        &self,
        account: &AccountId,
        password: &NewPassword,
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError> {
        let result = self
            .write(account.as_str(), password.expose(), false, if_locked)
            .await;
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
        let password_file = crate::test_files::fresh_dir("ldap").join("bind-password");
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

    fn writable(locked: bool, account_control: Option<u32>) -> Writable {
        Writable {
            locked,
            account_control,
        }
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
        let open = writable(false, Some(512));
        assert_eq!(
            replaced(directory.unicode_pwd_changes("x", true, &open)),
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
            replaced(directory.unicode_pwd_changes("x", false, &open)),
            vec![(b"unicodePwd".to_vec(), vec![quoted_password])]
        );
    }

    #[test]
    fn active_directory_s_write_enables_unlocks_and_asks_for_a_change_as_configured() {
        let settings = LdapSettings {
            flavour: Flavour::ActiveDirectory,
            state_attribute: Some("extensionAttribute2".to_owned()),
            ..LdapSettings::default()
        };
        let plain = directory(settings.clone());
        let enabling = directory(LdapSettings {
            enable_on_activation: true,
            must_change_at_next_logon: true,
            ..settings
        });
        let names = |changes: Vec<Mod<Vec<u8>>>| {
            replaced(changes)
                .into_iter()
                .map(|(name, values)| {
                    let values: Vec<String> = values
                        .into_iter()
                        .map(|value| String::from_utf8_lossy(&value).into_owned())
                        .collect();
                    (String::from_utf8(name).unwrap(), values.join(","))
                })
                .filter(|(name, _)| name != "unicodePwd")
                .collect::<Vec<_>>()
        };
        let pending = writable(false, Some(514 | 0x10000));
        assert_eq!(
            names(enabling.unicode_pwd_changes("x", true, &pending)),
            [
                ("extensionAttribute2".to_owned(), "active".to_owned()),
                // ACCOUNTDISABLE cleared, DONT_EXPIRE_PASSWORD kept.
                ("userAccountControl".to_owned(), "66048".to_owned()),
                ("pwdLastSet".to_owned(), "0".to_owned()),
            ]
        );
        // A reset enables nothing; an account that is not disabled keeps its flags.
        assert_eq!(
            names(enabling.unicode_pwd_changes("x", false, &pending)),
            [("pwdLastSet".to_owned(), "0".to_owned())]
        );
        assert_eq!(
            names(plain.unicode_pwd_changes("x", true, &pending)),
            [("extensionAttribute2".to_owned(), "active".to_owned())]
        );
        let locked = writable(true, Some(512));
        assert_eq!(
            names(plain.unicode_pwd_changes("x", false, &locked)),
            [("lockoutTime".to_owned(), "0".to_owned())]
        );
    }

    #[test]
    fn without_state_or_terms_attributes_activation_changes_nothing_else() {
        let directory = directory(LdapSettings::default());
        assert!(directory.activation_changes().is_empty());
        assert_eq!(directory.state_attributes(), ["pwdAccountLockedTime"]);
    }

    #[test]
    fn a_ppolicy_lock_is_a_lock_and_a_lock_for_good_is_disabled() {
        let directory = directory(LdapSettings {
            state_attribute: Some("tunnusAccountState".to_owned()),
            ..LdapSettings::default()
        });
        let locked = directory
            .account_from(&entry(&[
                ("uid", &["tetyra"]),
                ("tunnusAccountState", &["active"]),
                ("pwdAccountLockedTime", &["20260504030201Z"]),
            ]))
            .unwrap();
        assert!(locked.locked);
        assert_eq!(locked.state, AccountState::Active);
        let for_good = directory
            .account_from(&entry(&[
                ("uid", &["tetyra"]),
                ("tunnusAccountState", &["active"]),
                ("PWDACCOUNTLOCKEDTIME", &["000001010000Z"]),
            ]))
            .unwrap();
        assert_eq!(for_good.state, AccountState::Disabled);
        let open = directory.account_from(&entry(&[("uid", &["x"])])).unwrap();
        assert!(!open.locked);
    }

    #[test]
    fn active_directory_locks_come_from_the_computed_flags_or_else_lockout_time() {
        let directory = directory(LdapSettings {
            flavour: Flavour::ActiveDirectory,
            url: Some(url::Url::parse("ldaps://dc.example.org").unwrap()),
            ..LdapSettings::default()
        });
        assert_eq!(
            directory.state_attributes(),
            [
                "userAccountControl",
                "msDS-User-Account-Control-Computed",
                "lockoutTime"
            ]
        );
        let locked = |attributes: &[(&str, &[&str])]| {
            let mut all: Vec<(&str, &[&str])> = vec![("sAMAccountName", &["tetyra"])];
            all.extend_from_slice(attributes);
            directory.account_from(&entry(&all)).unwrap().locked
        };
        assert!(locked(&[("msDS-User-Account-Control-Computed", &["16"])]));
        // A lockout that has run out: lockoutTime stays until the next logon.
        assert!(!locked(&[
            ("msDS-User-Account-Control-Computed", &["0"]),
            ("lockoutTime", &["134410202835896280"]),
        ]));
        assert!(locked(&[("lockoutTime", &["134410202835896280"])]));
        assert!(!locked(&[("lockoutTime", &["0"])]));
        // ppolicy's attribute means nothing here.
        assert!(!locked(&[("pwdAccountLockedTime", &["20260504030201Z"])]));
    }

    #[test]
    fn a_disabled_account_waits_for_activation_only_when_its_state_says_so_and_it_may_be_enabled() {
        let settings = LdapSettings {
            flavour: Flavour::ActiveDirectory,
            state_attribute: Some("extensionAttribute2".to_owned()),
            ..LdapSettings::default()
        };
        let plain = directory(settings.clone());
        let enabling = directory(LdapSettings {
            enable_on_activation: true,
            ..settings
        });
        let state = |directory: &LdapDirectory, flags: &str, state: &str| {
            directory.state_of(&entry(&[
                ("userAccountControl", &[flags]),
                ("extensionAttribute2", &[state]),
            ]))
        };
        assert_eq!(
            state(&enabling, "514", "pending"),
            AccountState::PendingActivation
        );
        assert_eq!(state(&plain, "514", "pending"), AccountState::Disabled);
        for directory in [&plain, &enabling] {
            assert_eq!(state(directory, "514", "active"), AccountState::Disabled);
            assert_eq!(state(directory, "514", "disabled"), AccountState::Disabled);
            assert_eq!(state(directory, "514", "archived"), AccountState::Disabled);
            assert_eq!(
                state(directory, "512", "pending"),
                AccountState::PendingActivation
            );
            assert_eq!(state(directory, "512", "active"), AccountState::Active);
        }
    }

    #[test]
    fn group_keys_treat_spellings_of_one_dn_alike() {
        assert_eq!(
            group_key(r"CN=Admins\2C Tier 0, OU=Groups,DC=example,DC=org"),
            group_key(r"cn=admins\, tier 0,ou=groups,dc=example,dc=org")
        );
        assert_ne!(
            group_key("cn=admins,ou=groups,dc=example,dc=org"),
            group_key("cn=admins,ou=other,dc=example,dc=org")
        );
        assert_eq!(group_key("Not A DN"), "not a dn");
    }
}
