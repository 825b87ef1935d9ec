//! Accounts kept in this process, read from a TOML seed file: for development and tests only.
//!
//! The seed file holds `[[account]]` tables and, for groups in groups, `[[group]]` tables (see
//! `config/dev-accounts.toml`):
//!
//! ```toml
//! [[account]]
//! username = "maaber"
//! groups = ["lab-admins"]      # direct groups
//! locked = false               # locked by the directory (failed logins, an administrator)
//! # national_id, given_name, family_name, category, state as in config/dev-accounts.toml
//!
//! [[group]]
//! name = "lab-admins"
//! member_of = ["it-admins"]    # so every member of lab-admins is in it-admins too
//! ```
//!
//! An account's [`Account::groups`] are its effective groups: its own and, through `member_of`, every
//! group above them, however deep (cycles are harmless). Group names compare [`caseless`].
//!
//! Passwords are kept only as salted PBKDF2 hashes. Tests of the service can look inside
//! ([`MemoryDirectory::verify_password`], [`MemoryDirectory::state_of`], [`MemoryDirectory::is_locked`],
//! [`MemoryDirectory::writes`]), change or delete accounts and groups as an administrator would
//! ([`MemoryDirectory::change`], [`MemoryDirectory::nest_group`], [`MemoryDirectory::remove`]) and
//! inject faults:
//!
//! - [`MemoryDirectory::fail_writes_with`]: every following write fails with the given
//!   [`WriteFault`] and changes nothing, until it is called again with `None`;
//! - [`MemoryDirectory::lose_answer_once`]: the next successful write is applied but reported as
//!   [`DirectoryError::Unavailable`], as when the answer of a real directory is lost on the way;
//! - [`MemoryDirectory::set_unavailable`]: every call (lookups and health too) fails as
//!   [`DirectoryError::Unavailable`] while set;
//! - [`MemoryDirectory::fail_next_write_with`]: only the next write fails;
//! - [`MemoryDirectory::hold_writes`]: writes wait until the returned guard is dropped, so a test
//!   can act while a write is in progress ([`MemoryDirectory::writes_waiting`] tells when one is).

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use aws_lc_rs::pbkdf2;
use serde::Deserialize;

use super::dn::caseless;
use super::{
    Account, AccountId, AccountState, Directory, DirectoryError, IfLocked, NewPassword,
    PolicyRefusal,
};
use crate::identity::NationalId;

/// The development accounts built into the program (`config/dev-accounts.toml` of the source): the
/// seed when `directory.seed` is not given. They match the mock broker's built-in test persons.
pub const DEV_ACCOUNTS: &str = include_str!("../../config/dev-accounts.toml");

/// PBKDF2 rounds: enough that a dumped development database is not plain text (still more work than
/// OpenLDAP's default `{SSHA}`, one salted SHA-1), few enough that tests and load runs writing many
/// passwords measure the service rather than this stand-in (at 10,000 rounds the hash was a quarter
/// of the CPU time of a whole flow in `tunnus dev`). This backend never holds real passwords; a real
/// directory hashes on its own server.
const PBKDF2_ROUNDS: NonZeroU32 = match NonZeroU32::new(100) {
    Some(rounds) => rounds,
    None => panic!("PBKDF2 rounds must not be zero"),
};
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// A failure [`MemoryDirectory::fail_writes_with`] makes writes return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// [`DirectoryError::Unavailable`].
    Unavailable,
    /// [`DirectoryError::PolicyRejected`] with this refusal.
    PolicyRejected(PolicyRefusal),
    /// [`DirectoryError::AccountNotFound`].
    AccountNotFound,
    /// [`DirectoryError::Misconfigured`].
    Misconfigured,
}

impl WriteFault {
    fn to_error(self) -> DirectoryError {
        let detail = "injected by a test".to_owned();
        match self {
            WriteFault::Unavailable => DirectoryError::Unavailable { detail },
            WriteFault::PolicyRejected(refusal) => {
                DirectoryError::PolicyRejected { refusal, detail }
            }
            WriteFault::AccountNotFound => DirectoryError::AccountNotFound,
            WriteFault::Misconfigured => DirectoryError::Misconfigured { detail },
        }
    }
}

/// One `[[account]]` of the seed file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedAccount {
    username: String,
    national_id: String,
    given_name: String,
    family_name: String,
    #[serde(default)]
    category: String,
    #[serde(default = "active")]
    state: AccountState,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    locked: bool,
    /// The name to sign in with, when it is not the username (see [`Account::login_name`]).
    #[serde(default)]
    login_name: Option<String>,
    /// The account's e-mail addresses.
    #[serde(default)]
    mail: Vec<String>,
    /// The account's postal address, line by line.
    #[serde(default)]
    postal_address: Vec<String>,
}

fn active() -> AccountState {
    AccountState::Active
}

/// One `[[group]]` of the seed file: a group that is a member of other groups.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedGroup {
    name: String,
    #[serde(default)]
    member_of: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    account: Vec<SeedAccount>,
    #[serde(default)]
    group: Vec<SeedGroup>,
}

struct PasswordHash {
    salt: [u8; SALT_LEN],
    hash: [u8; HASH_LEN],
}

impl PasswordHash {
    fn new(password: &str) -> Self {
        let salt = crate::random::bytes::<SALT_LEN>();
        let mut hash = [0u8; HASH_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            PBKDF2_ROUNDS,
            &salt,
            password.as_bytes(),
            &mut hash,
        );
        Self { salt, hash }
    }

    /// Constant-time comparison (inside aws-lc).
    fn matches(&self, candidate: &str) -> bool {
        pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            PBKDF2_ROUNDS,
            &self.salt,
            candidate.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

struct Stored {
    account: Account,
    national_id: NationalId,
    password: Option<PasswordHash>,
}

#[derive(Default)]
struct Inner {
    accounts: Vec<Stored>,
    /// The groups each group is a member of, by the group's [`caseless`] name.
    parents: HashMap<String, Vec<String>>,
    writes: usize,
    fault: Option<WriteFault>,
    lose_answer: bool,
    unavailable: bool,
    fail_next: Option<WriteFault>,
}

/// A [`Directory`] in this process's memory. Account ids are usernames.
pub struct MemoryDirectory {
    inner: Mutex<Inner>,
    /// Held by a test to keep writes waiting.
    gate: tokio::sync::Mutex<()>,
    waiting: std::sync::atomic::AtomicUsize,
}

impl MemoryDirectory {
    /// Reads the seed file. Problems are [`DirectoryError::Misconfigured`] naming `directory.seed`,
    /// the account's position and username, never an identity code.
    pub fn from_seed_file(path: &Path) -> Result<Self, DirectoryError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            DirectoryError::misconfigured(format!(
                "directory.seed: cannot read {}: {error}",
                path.display()
            ))
        })?;
        Self::from_toml(&text).map_err(|error| match error {
            DirectoryError::Misconfigured { detail } => {
                DirectoryError::misconfigured(format!("{detail} (in {})", path.display()))
            }
            other => other,
        })
    }

    /// Reads seed accounts from TOML text (the seed file's format).
    pub fn from_toml(text: &str) -> Result<Self, DirectoryError> {
        let seed: SeedFile = toml::from_str(text).map_err(|error| {
            // Only the message and the line: the error's own rendering quotes the source line,
            // which could hold an identity code.
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let at = line
                .map(|line| format!(" at line {line}"))
                .unwrap_or_default();
            DirectoryError::misconfigured(format!("directory.seed{at}: {}", error.message()))
        })?;
        let mut accounts: Vec<Stored> = Vec::with_capacity(seed.account.len());
        for (index, entry) in seed.account.into_iter().enumerate() {
            let position = index + 1;
            let problem = |what: String| {
                DirectoryError::misconfigured(format!(
                    "directory.seed: account {position} ({}): {what}",
                    entry.username
                ))
            };
            if entry.username.trim().is_empty() {
                return Err(problem("username is empty".to_owned()));
            }
            if accounts
                .iter()
                .any(|a| a.account.username == entry.username)
            {
                return Err(problem("username is used by an earlier account".to_owned()));
            }
            let national_id = NationalId::parse(&entry.national_id, true)
                .map_err(|error| problem(format!("national_id: {error}")))?;
            accounts.push(Stored {
                account: Account {
                    id: AccountId::new(entry.username.clone()),
                    username: entry.username,
                    login_name: entry.login_name,
                    emails: entry.mail,
                    postal_address: entry.postal_address,
                    given_name: entry.given_name,
                    family_name: entry.family_name,
                    birth_date: Some(national_id.birth_date()),
                    category: entry.category,
                    state: entry.state,
                    locked: entry.locked,
                    groups: entry.groups,
                },
                national_id,
                password: None,
            });
        }
        let mut parents: HashMap<String, Vec<String>> = HashMap::new();
        for (index, group) in seed.group.into_iter().enumerate() {
            let problem = |what: &str| {
                DirectoryError::misconfigured(format!(
                    "directory.seed: group {} ({}): {what}",
                    index + 1,
                    group.name
                ))
            };
            let key = caseless(&group.name);
            if key.is_empty() {
                return Err(problem("name is empty"));
            }
            if group
                .member_of
                .iter()
                .any(|parent| caseless(parent).is_empty())
            {
                return Err(problem("member_of holds an empty name"));
            }
            if parents.insert(key, group.member_of).is_some() {
                return Err(problem("name is used by an earlier group"));
            }
        }
        Ok(Self {
            inner: Mutex::new(Inner {
                accounts,
                parents,
                ..Inner::default()
            }),
            gate: tokio::sync::Mutex::new(()),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change under the lock is a single assignment, so a panic cannot leave it half-done.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `candidate` is the password last written to the account `username`.
    pub fn verify_password(&self, username: &str, candidate: &str) -> bool {
        self.lock()
            .accounts
            .iter()
            .find(|stored| stored.account.username == username)
            .and_then(|stored| stored.password.as_ref())
            .is_some_and(|hash| hash.matches(candidate))
    }

    /// The state of the account `username`, if there is one.
    pub fn state_of(&self, username: &str) -> Option<AccountState> {
        self.lock()
            .accounts
            .iter()
            .find(|stored| stored.account.username == username)
            .map(|stored| stored.account.state)
    }

    /// Whether the account `username` is locked, if there is one.
    pub fn is_locked(&self, username: &str) -> Option<bool> {
        self.lock()
            .accounts
            .iter()
            .find(|stored| stored.account.username == username)
            .map(|stored| stored.account.locked)
    }

    /// Makes the group `group` a member of the group `parent`, as an administrator would: every
    /// member of `group` is then in `parent` too.
    pub fn nest_group(&self, group: &str, parent: &str) {
        self.lock()
            .parents
            .entry(caseless(group))
            .or_default()
            .push(parent.to_owned());
    }

    /// Changes the account `username` in place (its state, lock, category or direct groups), as an
    /// administrator would while a session is open. Returns false when there is no such account.
    pub fn change(&self, username: &str, change: impl FnOnce(&mut Account)) -> bool {
        let mut inner = self.lock();
        match inner
            .accounts
            .iter_mut()
            .find(|stored| stored.account.username == username)
        {
            Some(stored) => {
                change(&mut stored.account);
                true
            }
            None => false,
        }
    }

    /// Deletes the account `username`, as an administrator would while a session is open. Returns
    /// false when there is no such account.
    pub fn remove(&self, username: &str) -> bool {
        let mut inner = self.lock();
        let before = inner.accounts.len();
        inner
            .accounts
            .retain(|stored| stored.account.username != username);
        inner.accounts.len() != before
    }

    /// Makes only the next write fail with `fault`, changing nothing.
    pub fn fail_next_write_with(&self, fault: WriteFault) {
        self.lock().fail_next = Some(fault);
    }

    /// Keeps every write waiting, before anything is written, until the guard is dropped. `None`
    /// when writes are already held.
    pub fn hold_writes(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.gate.try_lock().ok()
    }

    /// How many writes are waiting for [`MemoryDirectory::hold_writes`]'s guard.
    pub fn writes_waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits while a test holds writes.
    async fn pass_gate(&self) {
        use std::sync::atomic::Ordering;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        drop(self.gate.lock().await);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// How many password writes were applied (including one whose answer was lost).
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    /// Makes every following write fail with `fault` without changing anything; `None` ends it.
    pub fn fail_writes_with(&self, fault: Option<WriteFault>) {
        self.lock().fault = fault;
    }

    /// Applies the next successful write but reports it as [`DirectoryError::Unavailable`].
    pub fn lose_answer_once(&self) {
        self.lock().lose_answer = true;
    }

    /// While set, every call fails as [`DirectoryError::Unavailable`], as if the directory were down.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    fn write(
        &self,
        id: &AccountId,
        password: &NewPassword,
        activate: bool,
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError> {
        // Hash before taking the lock: PBKDF2 is the slow part.
        let hash = PasswordHash::new(password.expose());
        let mut inner = self.lock();
        check_available(&inner)?;
        if let Some(fault) = inner.fault.or(inner.fail_next.take()) {
            return Err(fault.to_error());
        }
        let stored = inner
            .accounts
            .iter_mut()
            .find(|stored| stored.account.id == *id)
            .filter(|stored| stored.account.state != AccountState::Disabled)
            .filter(|stored| !stored.account.locked || if_locked == IfLocked::Unlock)
            .ok_or(DirectoryError::AccountNotFound)?;
        stored.password = Some(hash);
        stored.account.locked = false;
        if activate {
            stored.account.state = AccountState::Active;
        }
        inner.writes += 1;
        if std::mem::take(&mut inner.lose_answer) {
            return Err(DirectoryError::unavailable(
                "the answer was lost (injected by a test)",
            ));
        }
        Ok(())
    }
}

impl Inner {
    /// `account` with its effective groups: its own, then every group above them, each once.
    fn effective(&self, account: &Account) -> Account {
        let mut groups = Vec::new();
        let mut seen = HashSet::new();
        let mut queue: VecDeque<&String> = account.groups.iter().collect();
        while let Some(group) = queue.pop_front() {
            let key = caseless(group);
            if !seen.insert(key.clone()) {
                continue;
            }
            groups.push(group.clone());
            if let Some(parents) = self.parents.get(&key) {
                queue.extend(parents);
            }
        }
        Account {
            groups,
            ..account.clone()
        }
    }
}

fn check_available(inner: &Inner) -> Result<(), DirectoryError> {
    if inner.unavailable {
        Err(DirectoryError::unavailable("down (injected by a test)"))
    } else {
        Ok(())
    }
}

#[async_trait]
impl Directory for MemoryDirectory {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn find_by_national_id(&self, id: &NationalId) -> Result<Vec<Account>, DirectoryError> {
        let inner = self.lock();
        check_available(&inner)?;
        Ok(inner
            .accounts
            .iter()
            .filter(|stored| stored.national_id == *id)
            .map(|stored| inner.effective(&stored.account))
            .collect())
    }

    async fn find_by_username(&self, username: &str) -> Result<Vec<Account>, DirectoryError> {
        let inner = self.lock();
        check_available(&inner)?;
        let wanted = username.trim().to_lowercase();
        Ok(inner
            .accounts
            .iter()
            .filter(|stored| stored.account.username.to_lowercase() == wanted)
            .map(|stored| inner.effective(&stored.account))
            .collect())
    }

    async fn find_by_name(
        &self,
        given_name: &str,
        family_name: &str,
    ) -> Result<Vec<Account>, DirectoryError> {
        let inner = self.lock();
        check_available(&inner)?;
        let given = given_name.trim().to_lowercase();
        let family = family_name.trim().to_lowercase();
        if given.is_empty() || family.is_empty() {
            return Ok(Vec::new());
        }
        Ok(inner
            .accounts
            .iter()
            .filter(|stored| {
                stored.account.family_name.to_lowercase() == family
                    && stored.account.given_name.to_lowercase().contains(&given)
            })
            .take(10)
            .map(|stored| inner.effective(&stored.account))
            .collect())
    }

    async fn account(&self, id: &AccountId) -> Result<Option<Account>, DirectoryError> {
        let inner = self.lock();
        check_available(&inner)?;
        Ok(inner
            .accounts
            .iter()
            .find(|stored| stored.account.id == *id)
            .map(|stored| inner.effective(&stored.account)))
    }

    async fn activate(
        &self,
        account: &AccountId,
        password: &NewPassword,
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError> {
        self.pass_gate().await;
        self.write(account, password, true, if_locked)
    }

    async fn reset_password(
        &self,
        account: &AccountId,
        password: &NewPassword,
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError> {
        self.pass_gate().await;
        self.write(account, password, false, if_locked)
    }

    async fn health(&self) -> Result<(), DirectoryError> {
        check_available(&self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
        [[account]]
        username = "tetyra"
        national_id = "010170-999R"
        given_name = "Tero Testi"
        family_name = "Äyrämö"
        category = "student"
        state = "active"

        [[account]]
        username = "eemake"
        national_id = "010200a9618"
        given_name = "Eero Juhani"
        family_name = "Mäkelä"
        category = "student"
        state = "pending_activation"
        groups = ["students"]

        [[account]]
        username = "jykark"
        national_id = "070770-905D"
        given_name = "Jyrki Olavi"
        family_name = "Kärkkäinen"
        category = "staff"
        state = "disabled"
    "#;

    fn directory() -> MemoryDirectory {
        MemoryDirectory::from_toml(SEED).unwrap()
    }

    fn id(code: &str) -> NationalId {
        NationalId::parse(code, true).unwrap()
    }

    fn password(text: &str) -> NewPassword {
        NewPassword::new(text.to_owned())
    }

    fn misconfigured_detail(result: Result<MemoryDirectory, DirectoryError>) -> String {
        match result {
            Err(DirectoryError::Misconfigured { detail }) => detail,
            Err(other) => panic!("expected Misconfigured, got {other:?}"),
            Ok(_) => panic!("expected Misconfigured, got a directory"),
        }
    }

    #[tokio::test]
    async fn lookup_finds_the_account_of_the_identity_code() {
        let found = directory()
            .find_by_national_id(&id("010200A9618"))
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        let account = &found[0];
        assert_eq!(account.id, AccountId::new("eemake"));
        assert_eq!(account.username, "eemake");
        assert_eq!(account.given_name, "Eero Juhani");
        assert_eq!(account.family_name, "Mäkelä");
        assert_eq!(account.category, "student");
        assert_eq!(account.state, AccountState::PendingActivation);
        assert_eq!(account.groups, vec!["students".to_owned()]);
    }

    #[tokio::test]
    async fn an_account_is_read_again_by_its_id_as_it_is_now() {
        let directory = directory();
        let read = directory
            .account(&AccountId::new("eemake"))
            .await
            .unwrap()
            .expect("eemake exists");
        assert_eq!(read.username, "eemake");
        assert_eq!(read.state, AccountState::PendingActivation);
        assert!(directory.change("eemake", |a| a.groups.push("it-admins".into())));
        let changed = directory
            .account(&AccountId::new("eemake"))
            .await
            .unwrap()
            .unwrap();
        assert!(changed.groups.contains(&"it-admins".to_owned()));
        assert!(
            directory
                .account(&AccountId::new("nobody"))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn lookup_of_an_unknown_code_finds_nothing() {
        let found = directory()
            .find_by_national_id(&id("020365-999P"))
            .await
            .unwrap();
        assert!(found.is_empty());
    }

    #[tokio::test]
    async fn activation_stores_a_hash_of_the_password_and_activates() {
        let directory = directory();
        directory
            .activate(
                &AccountId::new("eemake"),
                &password("kissa-koira-hevonen"),
                IfLocked::Refuse,
            )
            .await
            .unwrap();
        assert!(directory.verify_password("eemake", "kissa-koira-hevonen"));
        assert!(!directory.verify_password("eemake", "kissa-koira-hevone"));
        assert_eq!(directory.state_of("eemake"), Some(AccountState::Active));
        assert_eq!(directory.writes(), 1);
    }

    #[tokio::test]
    async fn reset_replaces_the_password_and_keeps_the_state() {
        let directory = directory();
        let account = AccountId::new("tetyra");
        directory
            .reset_password(
                &account,
                &password("ensimmäinen salasana"),
                IfLocked::Refuse,
            )
            .await
            .unwrap();
        directory
            .reset_password(&account, &password("toinen salasana"), IfLocked::Refuse)
            .await
            .unwrap();
        assert!(directory.verify_password("tetyra", "toinen salasana"));
        assert!(!directory.verify_password("tetyra", "ensimmäinen salasana"));
        assert_eq!(directory.state_of("tetyra"), Some(AccountState::Active));
        assert_eq!(directory.writes(), 2);
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let first = PasswordHash::new("sama salasana");
        let second = PasswordHash::new("sama salasana");
        assert_ne!(first.salt, second.salt);
        assert_ne!(first.hash, second.hash);
        assert!(first.matches("sama salasana") && second.matches("sama salasana"));
    }

    #[tokio::test]
    async fn a_disabled_account_is_not_written() {
        let directory = directory();
        let error = directory
            .reset_password(
                &AccountId::new("jykark"),
                &password("uusi salasana 1"),
                IfLocked::Refuse,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, DirectoryError::AccountNotFound),
            "{error:?}"
        );
        assert!(!directory.verify_password("jykark", "uusi salasana 1"));
        assert_eq!(directory.state_of("jykark"), Some(AccountState::Disabled));
        assert_eq!(directory.writes(), 0);
    }

    #[tokio::test]
    async fn an_unknown_account_is_not_found() {
        let directory = directory();
        let error = directory
            .activate(
                &AccountId::new("nobody"),
                &password("uusi salasana 1"),
                IfLocked::Refuse,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, DirectoryError::AccountNotFound),
            "{error:?}"
        );
        assert_eq!(directory.writes(), 0);
    }

    #[tokio::test]
    async fn injected_write_faults_change_nothing_until_cleared() {
        let directory = directory();
        let account = AccountId::new("eemake");
        directory.fail_writes_with(Some(WriteFault::PolicyRejected(PolicyRefusal::TooSimple)));
        let error = directory
            .activate(&account, &password("salasana"), IfLocked::Refuse)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                DirectoryError::PolicyRejected {
                    refusal: PolicyRefusal::TooSimple,
                    ..
                }
            ),
            "{error:?}"
        );
        directory.fail_writes_with(Some(WriteFault::Unavailable));
        let error = directory
            .activate(&account, &password("salasana"), IfLocked::Refuse)
            .await
            .unwrap_err();
        assert!(
            matches!(error, DirectoryError::Unavailable { .. }),
            "{error:?}"
        );
        directory.fail_writes_with(Some(WriteFault::AccountNotFound));
        let error = directory
            .reset_password(&account, &password("salasana"), IfLocked::Refuse)
            .await
            .unwrap_err();
        assert!(
            matches!(error, DirectoryError::AccountNotFound),
            "{error:?}"
        );
        assert!(!directory.verify_password("eemake", "salasana"));
        assert_eq!(
            directory.state_of("eemake"),
            Some(AccountState::PendingActivation)
        );
        assert_eq!(directory.writes(), 0);

        directory.fail_writes_with(None);
        directory
            .activate(&account, &password("salasana"), IfLocked::Refuse)
            .await
            .unwrap();
        assert_eq!(directory.writes(), 1);
    }

    #[tokio::test]
    async fn a_lost_answer_is_written_but_reported_unavailable_once() {
        let directory = directory();
        let account = AccountId::new("eemake");
        directory.lose_answer_once();
        let error = directory
            .activate(&account, &password("pitkä salasana"), IfLocked::Refuse)
            .await
            .unwrap_err();
        assert!(
            matches!(error, DirectoryError::Unavailable { .. }),
            "{error:?}"
        );
        assert!(directory.verify_password("eemake", "pitkä salasana"));
        assert_eq!(directory.state_of("eemake"), Some(AccountState::Active));
        assert_eq!(directory.writes(), 1);

        directory
            .activate(&account, &password("pitkä salasana"), IfLocked::Refuse)
            .await
            .unwrap();
        assert_eq!(directory.writes(), 2);
    }

    #[tokio::test]
    async fn an_unavailable_directory_fails_every_call() {
        let directory = directory();
        directory.set_unavailable(true);
        let lookup = directory.find_by_national_id(&id("010170-999R")).await;
        assert!(matches!(lookup, Err(DirectoryError::Unavailable { .. })));
        assert!(matches!(
            directory.health().await,
            Err(DirectoryError::Unavailable { .. })
        ));
        let write = directory
            .reset_password(
                &AccountId::new("tetyra"),
                &password("salasana"),
                IfLocked::Refuse,
            )
            .await;
        assert!(matches!(write, Err(DirectoryError::Unavailable { .. })));
        assert_eq!(directory.writes(), 0);

        directory.set_unavailable(false);
        directory.health().await.unwrap();
    }

    #[test]
    fn a_bad_identity_code_names_the_account_but_not_the_code() {
        let seed = r#"
            [[account]]
            username = "first"
            national_id = "010170-999R"
            given_name = "A"
            family_name = "B"

            [[account]]
            username = "second"
            national_id = "010170-999S"
            given_name = "C"
            family_name = "D"
        "#;
        let detail = misconfigured_detail(MemoryDirectory::from_toml(seed));
        assert!(detail.contains("account 2 (second)"), "{detail}");
        assert!(detail.contains("check character"), "{detail}");
        assert!(!detail.contains("010170"), "{detail}");
    }

    #[test]
    fn a_syntax_error_names_the_line_but_does_not_quote_it() {
        let seed = "[[account]]\nusername = \"x\"\nnational_id = 010170-999R\n";
        let detail = misconfigured_detail(MemoryDirectory::from_toml(seed));
        assert!(detail.contains("directory.seed at line 3"), "{detail}");
        assert!(!detail.contains("010170"), "{detail}");
    }

    #[tokio::test]
    async fn groups_in_groups_are_the_account_s_groups_too() {
        let seed = format!(
            "{SEED}\n{}",
            r#"
            [[group]]
            name = "Students"
            member_of = ["all-people", "tier2"]

            [[group]]
            name = "tier2"
            member_of = ["tier1"]

            [[group]]
            name = "tier1"
            member_of = ["TIER2", "it-admins"]
            "#
        );
        let directory = MemoryDirectory::from_toml(&seed).unwrap();
        let expected = ["students", "all-people", "tier2", "tier1", "it-admins"];
        let found = directory
            .find_by_national_id(&id("010200A9618"))
            .await
            .unwrap();
        assert_eq!(found[0].groups, expected);
        let read = directory
            .account(&AccountId::new("eemake"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.groups, expected);

        // Nesting added later counts at once; the account's own groups are unchanged.
        directory.nest_group("it-admins", "domain-admins");
        let read = directory
            .account(&AccountId::new("eemake"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.groups.last().unwrap(), "domain-admins");
        assert!(directory.change("eemake", |a| assert_eq!(a.groups, ["students"])));
    }

    #[test]
    fn groups_must_have_distinct_names() {
        let twice = "[[group]]\nname = \"a\"\n[[group]]\nname = \"A\"\n";
        let detail = misconfigured_detail(MemoryDirectory::from_toml(twice));
        assert!(detail.contains("group 2 (A)"), "{detail}");
        let empty = "[[group]]\nname = \" \"\n";
        let detail = misconfigured_detail(MemoryDirectory::from_toml(empty));
        assert!(detail.contains("group 1"), "{detail}");
    }

    #[tokio::test]
    async fn a_locked_account_is_written_only_when_the_write_may_unlock_it() {
        let directory = directory();
        let tero = AccountId::new("tetyra");
        assert!(directory.change("tetyra", |a| a.locked = true));
        let read = directory.account(&tero).await.unwrap().unwrap();
        assert!(read.locked);

        let error = directory
            .reset_password(&tero, &password("uusi salasana 1"), IfLocked::Refuse)
            .await
            .unwrap_err();
        assert!(
            matches!(error, DirectoryError::AccountNotFound),
            "{error:?}"
        );
        assert_eq!(directory.writes(), 0);
        assert_eq!(directory.is_locked("tetyra"), Some(true));

        directory
            .reset_password(&tero, &password("uusi salasana 1"), IfLocked::Unlock)
            .await
            .unwrap();
        assert!(directory.verify_password("tetyra", "uusi salasana 1"));
        assert_eq!(directory.is_locked("tetyra"), Some(false));
        assert_eq!(directory.writes(), 1);
    }

    #[test]
    fn the_seed_may_lock_an_account() {
        let seed = SEED.replace("state = \"active\"", "state = \"active\"\nlocked = true");
        let directory = MemoryDirectory::from_toml(&seed).unwrap();
        assert_eq!(directory.is_locked("tetyra"), Some(true));
        assert_eq!(directory.is_locked("eemake"), Some(false));
    }

    #[test]
    fn duplicate_usernames_are_refused() {
        let seed = r#"
            [[account]]
            username = "same"
            national_id = "010170-999R"
            given_name = "A"
            family_name = "B"

            [[account]]
            username = "same"
            national_id = "010200A9618"
            given_name = "C"
            family_name = "D"
        "#;
        let detail = misconfigured_detail(MemoryDirectory::from_toml(seed));
        assert!(detail.contains("account 2 (same)"), "{detail}");
    }

    #[test]
    fn unknown_fields_and_states_are_refused() {
        let unknown_field = "[[account]]\nusername = \"a\"\nnational_id = \"010170-999R\"\ngiven_name = \"A\"\nfamily_name = \"B\"\npassword = \"x\"\n";
        let detail = misconfigured_detail(MemoryDirectory::from_toml(unknown_field));
        assert!(detail.contains("password"), "{detail}");
        let unknown_state = "[[account]]\nusername = \"a\"\nnational_id = \"010170-999R\"\ngiven_name = \"A\"\nfamily_name = \"B\"\nstate = \"locked\"\n";
        let detail = misconfigured_detail(MemoryDirectory::from_toml(unknown_state));
        assert!(detail.contains("locked"), "{detail}");
    }

    /// Username, category, state and groups of one expected development account.
    type Expected = (
        &'static str,
        &'static str,
        AccountState,
        &'static [&'static str],
    );

    fn dev_seed() -> MemoryDirectory {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dev-accounts.toml");
        MemoryDirectory::from_seed_file(&path).unwrap()
    }

    #[tokio::test]
    async fn the_dev_seed_gives_every_test_person_the_documented_accounts() {
        let directory = dev_seed();
        let expected: &[(&str, &[Expected])] = &[
            (
                "010170-999R",
                &[("tetyra", "student", AccountState::Active, &[])],
            ),
            (
                "010200A9618",
                &[("eemake", "student", AccountState::PendingActivation, &[])],
            ),
            (
                "291292-918R",
                &[("ebsjob", "staff", AccountState::Active, &[])],
            ),
            (
                "030883-925M",
                &[("pehama", "partner", AccountState::Active, &[])],
            ),
            (
                "170677-924F",
                &[("aslind", "external", AccountState::Active, &[])],
            ),
            (
                "070770-905D",
                &[("jykark", "staff", AccountState::Disabled, &[])],
            ),
            (
                "010280-952L",
                &[("maaber", "staff", AccountState::Active, &["it-admins"])],
            ),
            (
                "210281-9988",
                &[
                    ("paniem", "student", AccountState::Active, &[]),
                    ("paniem2", "staff", AccountState::Active, &[]),
                ],
            ),
            (
                "010469-999W",
                &[("bjohma", "staff", AccountState::PendingActivation, &[])],
            ),
            (
                "010594Y9032",
                &[("vihei", "partner", AccountState::PendingActivation, &[])],
            ),
            ("020365-999P", &[]),
            ("030516D9026", &[]),
        ];
        for (code, accounts) in expected {
            let found = directory.find_by_national_id(&id(code)).await.unwrap();
            let found: Vec<_> = found
                .iter()
                .map(|a| {
                    (
                        a.username.as_str(),
                        a.category.as_str(),
                        a.state,
                        a.groups.iter().map(String::as_str).collect::<Vec<_>>(),
                    )
                })
                .collect();
            let wanted: Vec<_> = accounts
                .iter()
                .map(|(u, c, s, g)| (*u, *c, *s, g.to_vec()))
                .collect();
            assert_eq!(found, wanted, "accounts of {}", id(code).masked());
        }
    }

    /// The accounts carry the names the mock broker gives the same persons, so the pages agree.
    #[tokio::test]
    async fn dev_accounts_have_the_names_of_the_mock_broker_s_persons() {
        let directory = dev_seed();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/mock-persons.toml");
        let persons: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let persons = persons["person"].as_array().unwrap();
        let mut accounts = 0;
        for person in persons {
            let field = |name: &str| person[name].as_str().unwrap().to_owned();
            let found = directory
                .find_by_national_id(&id(&field("national_id")))
                .await
                .unwrap();
            for account in &found {
                assert_eq!(
                    account.given_name,
                    field("given_name"),
                    "{}",
                    account.username
                );
                assert_eq!(
                    account.family_name,
                    field("family_name"),
                    "{}",
                    account.username
                );
            }
            accounts += found.len();
        }
        assert_eq!(
            accounts, 11,
            "every development account belongs to a mock person"
        );
    }
}
