//! One contract for every directory backend, run against the memory directory, a real OpenLDAP
//! server (the `slapd` of `slapd.rs`) and a real Active Directory domain controller (the Samba DC of
//! `samba.rs`): lookups by identity code, the accounts' fields and effective groups (groups in
//! groups included), reading an account again by its id, activation, resets, locked accounts,
//! refusals and outages. What only LDAP has (TLS, filters and escaping, result codes, the terms
//! attribute) stays in `directory.rs`, and what only Active Directory has in `active_directory.rs`.
//!
//! Each test is a generic function over a [`DirectoryFixture`]: it seeds the accounts it needs with
//! [`DirectoryFixture::with_accounts`], acts through the [`Directory`] the fixture gives, and checks
//! the outcome behind the directory's back through the fixture (can the person log in with the
//! password, did the backend store anything). The `contract!` macro turns every test into one
//! `#[tokio::test]` per backend, in a module named after it, so
//! `cargo test --test it directory_contract::slapd::` runs one backend.
//!
//! Each test has accounts of its own (a new memory directory, a new subtree of the shared slapd, a
//! new OU of the shared domain controller), so tests are independent and run in parallel.
//!
//! A new backend joins by implementing [`DirectoryFixture`] for it, starting its server once per
//! test binary as `slapd::shared` does, and adding one `name: Fixture` line to the `contract!` call
//! at the end of this file.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use ldap3::Mod;
use tunnus::clock::ManualClock;
use tunnus::directory::{
    Account, AccountId, AccountState, Directory, DirectoryError, IfLocked, LdapDirectory,
    LdapSettings, MemoryDirectory, NewPassword, PolicyRefusal, WriteFault,
};
use tunnus::identity::NationalId;

use crate::samba::SambaDc;
use crate::slapd::{Slapd, add, free_port, shared};

const TERO: &str = "010170-999R";
const EERO: &str = "010200A9618";
const PAIVI: &str = "210281-9988";
const JYRKI: &str = "070770-905D";
const NOBODY: &str = "020365-999P";

/// The password seeded accounts have, unless they are waiting for activation.
const OLD_PASSWORD: &str = "vanha salasana 2019";
const FIRST: &str = "ensimmäinen salasana 1";
const SECOND: &str = "toinen pitkä salasana 2";

/// One account a test wants in the directory.
#[derive(Clone, Copy)]
struct SeedAccount {
    username: &'static str,
    national_id: &'static str,
    given_name: &'static str,
    family_name: &'static str,
    category: &'static str,
    state: AccountState,
    groups: &'static [&'static str],
    /// `None`: the account never had a password.
    password: Option<&'static str>,
}

impl SeedAccount {
    /// An active student with [`OLD_PASSWORD`] and no groups.
    const fn active(username: &'static str, national_id: &'static str) -> Self {
        Self {
            username,
            national_id,
            given_name: "Tero Testi",
            family_name: "Äyrämö",
            category: "student",
            state: AccountState::Active,
            groups: &[],
            password: Some(OLD_PASSWORD),
        }
    }

    /// A student waiting for activation: no password yet.
    const fn pending(username: &'static str, national_id: &'static str) -> Self {
        Self {
            state: AccountState::PendingActivation,
            password: None,
            ..Self::active(username, national_id)
        }
    }

    /// A closed account that still has [`OLD_PASSWORD`].
    const fn disabled(username: &'static str, national_id: &'static str) -> Self {
        Self {
            state: AccountState::Disabled,
            ..Self::active(username, national_id)
        }
    }

    const fn named(self, given_name: &'static str, family_name: &'static str) -> Self {
        Self {
            given_name,
            family_name,
            ..self
        }
    }

    const fn category(self, category: &'static str) -> Self {
        Self { category, ..self }
    }

    const fn groups(self, groups: &'static [&'static str]) -> Self {
        Self { groups, ..self }
    }
}

/// What an administrator (or the directory itself) does to an account while a session for it is
/// open.
#[derive(Clone, Copy)]
enum Change {
    /// The account is closed.
    Disable,
    /// The account is locked, as after too many failed logins.
    Lock,
    /// The account joins the group of this name (made if there is none).
    JoinGroup(&'static str),
}

/// One backend, seeded with one test's accounts, and the ways to look behind its [`Directory`].
///
/// Accounts are named by username; what the backend stores is read with the backend's own means
/// (the memory directory's inspection methods, an LDAP connection as administrator), never through
/// the [`Directory`] under test.
trait DirectoryFixture: Sized {
    /// A directory of this backend holding exactly `accounts`, in a place of this test's own.
    async fn with_accounts(accounts: &[SeedAccount]) -> Self;

    /// The directory under test, as the service would use it.
    fn directory(&self) -> Arc<dyn Directory>;

    /// The id the directory gives the account `username` (whether or not it exists).
    fn id(&self, username: &str) -> AccountId;

    /// The username the directory gives the account seeded as `username` (Active Directory's are
    /// unique in the whole domain, which every test shares).
    fn username(&self, username: &str) -> String {
        username.to_owned()
    }

    /// The groups every account of this directory is in without being put in them (Active
    /// Directory's primary group, Domain Users, and the group that is in).
    fn groups_of_everyone(&self) -> Vec<String> {
        Vec::new()
    }

    /// `names` as [`Account::groups`] names them, with [`DirectoryFixture::groups_of_everyone`],
    /// sorted.
    fn groups(&self, names: &[&str]) -> Vec<String> {
        let mut groups: Vec<String> = names.iter().map(|name| self.group(name)).collect();
        groups.extend(self.groups_of_everyone());
        groups.sort();
        groups
    }

    /// How [`Account::groups`] names the group `name`.
    fn group(&self, name: &str) -> String;

    /// Whether the person can log in to `username` with `password` (not while the account is
    /// locked). Never called with an empty password (an LDAP bind with one is anonymous and
    /// succeeds).
    async fn password_works(&self, username: &str, password: &str) -> bool;

    /// Changes whenever the backend stores anything for `username`: equal before and after a call
    /// means the call wrote nothing. Read it before checking passwords, in case a failed login is
    /// recorded on the account.
    async fn revision(&self, username: &str) -> String;

    /// Changes the account as an administrator would.
    async fn change(&self, username: &str, change: Change);

    /// Makes the group `group` (which exists: an account is in it) a member of the group `parent`
    /// (made if there is none), as an administrator would.
    async fn nest(&self, group: &str, parent: &str);

    /// Deletes the account.
    async fn delete(&self, username: &str);

    /// A password of 5 characters, which the directory's own policy refuses as too short from now
    /// on. (The memory directory has no policy: from now on it refuses every write so.)
    async fn refused_password(&self) -> &'static str;

    /// The directory of these accounts as the service sees it while the server cannot be reached.
    /// The fixture can still look behind it; [`DirectoryFixture::directory`] may be unreachable
    /// from now on too.
    async fn unreachable(&self) -> Arc<dyn Directory>;
}

// ---- The memory directory ----

struct MemoryFixture {
    directory: Arc<MemoryDirectory>,
}

impl DirectoryFixture for MemoryFixture {
    async fn with_accounts(accounts: &[SeedAccount]) -> Self {
        let entries = accounts
            .iter()
            .map(|account| {
                toml::Value::Table(toml::Table::from_iter([
                    ("username".to_owned(), account.username.into()),
                    ("national_id".to_owned(), account.national_id.into()),
                    ("given_name".to_owned(), account.given_name.into()),
                    ("family_name".to_owned(), account.family_name.into()),
                    ("category".to_owned(), account.category.into()),
                    ("groups".to_owned(), account.groups.to_vec().into()),
                ]))
            })
            .collect::<Vec<_>>();
        let seed = toml::Table::from_iter([("account".to_owned(), entries.into())]);
        let directory = MemoryDirectory::from_toml(&toml::to_string(&seed).unwrap()).unwrap();
        // A seed file holds no passwords: each account is seeded active, gets its password through
        // a reset, and is then put in its state.
        for account in accounts {
            if let Some(password) = account.password {
                directory
                    .reset_password(
                        &AccountId::new(account.username),
                        &new(password),
                        IfLocked::Refuse,
                    )
                    .await
                    .unwrap();
            }
            assert!(directory.change(account.username, |a| a.state = account.state));
        }
        Self {
            directory: Arc::new(directory),
        }
    }

    fn directory(&self) -> Arc<dyn Directory> {
        self.directory.clone()
    }

    fn id(&self, username: &str) -> AccountId {
        AccountId::new(username)
    }

    fn group(&self, name: &str) -> String {
        name.to_owned()
    }

    async fn password_works(&self, username: &str, password: &str) -> bool {
        self.directory.is_locked(username) == Some(false)
            && self.directory.verify_password(username, password)
    }

    async fn revision(&self, username: &str) -> String {
        // Writes are counted for the whole directory, which holds only this test's accounts.
        format!(
            "{} writes, state {:?}",
            self.directory.writes(),
            self.directory.state_of(username)
        )
    }

    async fn change(&self, username: &str, change: Change) {
        let changed = self.directory.change(username, |account| match change {
            Change::Disable => account.state = AccountState::Disabled,
            Change::Lock => account.locked = true,
            Change::JoinGroup(group) => account.groups.push(group.to_owned()),
        });
        assert!(changed, "no account {username} to change");
    }

    async fn nest(&self, group: &str, parent: &str) {
        self.directory.nest_group(group, parent);
    }

    async fn delete(&self, username: &str) {
        assert!(
            self.directory.remove(username),
            "no account {username} to delete"
        );
    }

    async fn refused_password(&self) -> &'static str {
        self.directory
            .fail_writes_with(Some(WriteFault::PolicyRejected(PolicyRefusal::TooShort)));
        "lyhyt"
    }

    async fn unreachable(&self) -> Arc<dyn Directory> {
        self.directory.set_unavailable(true);
        self.directory.clone()
    }
}

// ---- OpenLDAP ----

struct SlapdFixture {
    slapd: &'static Slapd,
    /// This test's subtree.
    base: String,
    directory: Arc<dyn Directory>,
}

impl SlapdFixture {
    fn dn(&self, username: &str) -> String {
        format!("uid={},{}", ldap3::dn_escape(username), self.base)
    }

    /// Adds the entry `member` (an account or a group) to the group `group`, made if there is none.
    async fn join(&self, member: &str, group: &str) {
        let group_dn = self.group(group);
        let joined = self
            .slapd
            .admin()
            .await
            .modify(&group_dn, vec![Mod::Add("member", HashSet::from([member]))])
            .await
            .unwrap();
        match joined.rc {
            0 => {}
            // noSuchObject: a group of one.
            32 => self.slapd.add_group(&group_dn, group, &[member]).await,
            _ => panic!("{member} could not join {group}: {joined:?}"),
        }
    }

    fn directory_at(settings: &LdapSettings) -> Arc<dyn Directory> {
        Arc::new(LdapDirectory::new(settings, Arc::new(ManualClock::new())).unwrap())
    }
}

/// The values the test schema's state attribute holds (the backend's defaults).
fn ldap_state(state: AccountState) -> &'static str {
    match state {
        AccountState::Active => "active",
        AccountState::PendingActivation => "pending",
        AccountState::Disabled => "disabled",
    }
}

impl DirectoryFixture for SlapdFixture {
    async fn with_accounts(accounts: &[SeedAccount]) -> Self {
        let slapd = shared();
        let base = slapd.subtree().await;
        // The directory connects at its first call, after the seeding.
        let fixture = Self {
            slapd,
            directory: Self::directory_at(&slapd.settings(&base)),
            base,
        };
        let mut admin = slapd.admin().await;
        let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for account in accounts {
            let dn = fixture.dn(account.username);
            let cn = format!("{} {}", account.given_name, account.family_name);
            let national_id = format!("urn:schac:personalUniqueID:fi:FIC:{}", account.national_id);
            let mut attributes: Vec<(&str, Vec<&str>)> = vec![
                (
                    "objectClass",
                    vec!["inetOrgPerson", "schacLinkageIdentifiers", "tunnusAccount"],
                ),
                ("uid", vec![account.username]),
                ("cn", vec![&cn]),
                ("givenName", vec![account.given_name]),
                ("sn", vec![account.family_name]),
                ("employeeType", vec![account.category]),
                ("schacPersonalUniqueID", vec![&national_id]),
                ("tunnusAccountState", vec![ldap_state(account.state)]),
            ];
            if let Some(password) = account.password {
                attributes.push(("userPassword", vec![password]));
            }
            let attributes: Vec<(&str, &[&str])> = attributes
                .iter()
                .map(|(name, values)| (*name, values.as_slice()))
                .collect();
            add(&mut admin, &dn, &attributes).await;
            for group in account.groups {
                members.entry(group).or_default().push(dn.clone());
            }
        }
        // Groups after their members: the memberof overlay writes memberOf on the members.
        for (group, members) in members {
            let members: Vec<&str> = members.iter().map(String::as_str).collect();
            add(
                &mut admin,
                &fixture.group(group),
                &[
                    ("objectClass", &["groupOfNames"]),
                    ("cn", &[group]),
                    ("member", &members),
                ],
            )
            .await;
        }
        fixture
    }

    fn directory(&self) -> Arc<dyn Directory> {
        self.directory.clone()
    }

    fn id(&self, username: &str) -> AccountId {
        AccountId::new(self.dn(username))
    }

    fn group(&self, name: &str) -> String {
        format!("cn={},{}", ldap3::dn_escape(name), self.base)
    }

    async fn password_works(&self, username: &str, password: &str) -> bool {
        assert!(!password.is_empty(), "an empty password binds anonymously");
        self.slapd.can_bind(&self.dn(username), password).await
    }

    async fn revision(&self, username: &str) -> String {
        // entryCSN changes with every modification of the entry, a password included.
        let csn = self.slapd.read(&self.dn(username), "entryCSN").await;
        assert_eq!(csn.len(), 1, "{username} has no entryCSN");
        csn[0].clone()
    }

    async fn change(&self, username: &str, change: Change) {
        let dn = self.dn(username);
        match change {
            Change::Disable => {
                let state = HashSet::from([ldap_state(AccountState::Disabled)]);
                self.slapd
                    .admin()
                    .await
                    .modify(&dn, vec![Mod::Replace("tunnusAccountState", state)])
                    .await
                    .unwrap()
                    .success()
                    .unwrap();
            }
            Change::Lock => self.slapd.lock(&dn, "20240101000000Z").await,
            Change::JoinGroup(group) => self.join(&dn, group).await,
        }
    }

    async fn nest(&self, group: &str, parent: &str) {
        self.join(&self.group(group), parent).await;
    }

    async fn delete(&self, username: &str) {
        let mut admin = self.slapd.admin().await;
        admin
            .delete(&self.dn(username))
            .await
            .unwrap()
            .success()
            .unwrap();
    }

    async fn refused_password(&self) -> &'static str {
        // The test policy (tests/fixtures/ldap/base.ldif) wants at least 12 characters.
        "lyhyt"
    }

    async fn unreachable(&self) -> Arc<dyn Directory> {
        let closed = format!("ldap://127.0.0.1:{}", free_port());
        Self::directory_at(&LdapSettings {
            url: Some(url::Url::parse(&closed).unwrap()),
            ..self.slapd.settings(&self.base)
        })
    }
}

// ---- Active Directory ----

struct SambaFixture {
    dc: &'static SambaDc,
    /// This test's OU, and its name (`t<N>`), which makes the test's names unique in the domain.
    base: String,
    ou: String,
    directory: Arc<dyn Directory>,
}

impl SambaFixture {
    fn dn(&self, username: &str) -> String {
        format!("CN={},{}", ldap3::dn_escape(username), self.base)
    }

    /// Adds the entry `member` (an account or a group) to the group `group`, made if there is none.
    async fn join(&self, member: &str, group: &str) {
        let group_dn = self.group(group);
        let joined = self
            .dc
            .admin()
            .await
            .modify(&group_dn, vec![Mod::Add("member", HashSet::from([member]))])
            .await
            .unwrap();
        match joined.rc {
            0 => {}
            // noSuchObject: a group of one.
            32 => self.add_group(group, &[member]).await,
            _ => panic!("{member} could not join {group}: {joined:?}"),
        }
    }

    async fn add_group(&self, name: &str, members: &[&str]) {
        let account_name = format!("{name}-{}", self.ou);
        crate::samba::add(
            &mut self.dc.admin().await,
            &self.group(name),
            &[
                ("objectClass", &["group"]),
                ("sAMAccountName", &[&account_name]),
                ("member", members),
            ],
        )
        .await;
    }

    fn directory_at(settings: &LdapSettings) -> Arc<dyn Directory> {
        Arc::new(LdapDirectory::new(settings, Arc::new(ManualClock::new())).unwrap())
    }
}

impl DirectoryFixture for SambaFixture {
    async fn with_accounts(accounts: &[SeedAccount]) -> Self {
        let dc = crate::samba::shared();
        let base = dc.subtree().await;
        let ou = base
            .strip_prefix("OU=")
            .and_then(|rest| rest.split(',').next())
            .unwrap()
            .to_owned();
        // Accounts waiting for activation are kept disabled until activated, as campuses do.
        let settings = LdapSettings {
            enable_on_activation: true,
            ..dc.settings(&base)
        };
        let fixture = Self {
            dc,
            directory: Self::directory_at(&settings),
            base,
            ou,
        };
        let mut admin = dc.admin().await;
        let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for account in accounts {
            let dn = fixture.dn(account.username);
            let control = match account.state {
                AccountState::Active => crate::samba::NORMAL_ACCOUNT,
                AccountState::PendingActivation | AccountState::Disabled => {
                    crate::samba::DISABLED_ACCOUNT
                }
            };
            let text = |value: &str| HashSet::from([value.as_bytes().to_vec()]);
            let mut attributes = vec![
                (b"objectClass".to_vec(), text("user")),
                (
                    b"sAMAccountName".to_vec(),
                    text(&fixture.username(account.username)),
                ),
                (b"givenName".to_vec(), text(account.given_name)),
                (b"sn".to_vec(), text(account.family_name)),
                (b"employeeType".to_vec(), text(account.category)),
                (b"employeeID".to_vec(), text(account.national_id)),
                (
                    crate::samba::STATE_ATTRIBUTE.as_bytes().to_vec(),
                    text(ldap_state(account.state)),
                ),
                (b"userAccountControl".to_vec(), text(control)),
            ];
            if let Some(password) = account.password {
                attributes.push((
                    b"unicodePwd".to_vec(),
                    HashSet::from([crate::samba::unicode_pwd(password)]),
                ));
            }
            crate::samba::add_binary(&mut admin, &dn, attributes).await;
            for group in account.groups {
                members.entry(group).or_default().push(dn.clone());
            }
        }
        for (group, members) in members {
            let members: Vec<&str> = members.iter().map(String::as_str).collect();
            fixture.add_group(group, &members).await;
        }
        fixture
    }

    fn directory(&self) -> Arc<dyn Directory> {
        self.directory.clone()
    }

    fn id(&self, username: &str) -> AccountId {
        AccountId::new(self.dn(username))
    }

    fn username(&self, username: &str) -> String {
        format!("{username}-{}", self.ou)
    }

    fn groups_of_everyone(&self) -> Vec<String> {
        vec![
            crate::samba::DOMAIN_USERS_DN.to_owned(),
            crate::samba::BUILTIN_USERS_DN.to_owned(),
        ]
    }

    fn group(&self, name: &str) -> String {
        format!("CN={},{}", ldap3::dn_escape(name), self.base)
    }

    async fn password_works(&self, username: &str, password: &str) -> bool {
        // A disabled account cannot log in, but Active Directory checks the password first and
        // says "disabled" (data 533) only when it was right.
        match self.dc.bind_outcome(&self.dn(username), password).await {
            Ok(()) => true,
            Err(diagnostic) => diagnostic.contains("data 533"),
        }
    }

    async fn revision(&self, username: &str) -> String {
        self.dc.revision(&self.dn(username)).await
    }

    async fn change(&self, username: &str, change: Change) {
        let dn = self.dn(username);
        match change {
            Change::Disable => {
                let flags: u32 = self.dc.read(&dn, "userAccountControl").await[0]
                    .parse()
                    .unwrap();
                self.dc
                    .replace(&dn, "userAccountControl", &[&(flags | 2).to_string()])
                    .await;
            }
            Change::Lock => self.dc.lock(&dn).await,
            Change::JoinGroup(group) => self.join(&dn, group).await,
        }
    }

    async fn nest(&self, group: &str, parent: &str) {
        self.join(&self.group(group), parent).await;
    }

    async fn delete(&self, username: &str) {
        self.dc
            .admin()
            .await
            .delete(&self.dn(username))
            .await
            .unwrap()
            .success()
            .unwrap();
    }

    async fn refused_password(&self) -> &'static str {
        // The test domain wants at least 12 characters.
        "lyhyt"
    }

    async fn unreachable(&self) -> Arc<dyn Directory> {
        let closed = format!("ldaps://127.0.0.1:{}", free_port());
        Self::directory_at(&LdapSettings {
            url: Some(url::Url::parse(&closed).unwrap()),
            ..self.dc.settings(&self.base)
        })
    }
}

// ---- Helpers ----

fn hetu(code: &str) -> NationalId {
    NationalId::parse(code, true).unwrap()
}

fn new(password: &str) -> NewPassword {
    NewPassword::new(password.to_owned())
}

/// An account's fields, groups sorted, for comparing whole accounts.
type Fields = (String, String, String, String, AccountState, Vec<String>);

fn fields(account: &Account) -> Fields {
    let mut groups = account.groups.clone();
    groups.sort();
    (
        account.username.clone(),
        account.given_name.clone(),
        account.family_name.clone(),
        account.category.clone(),
        account.state,
        groups,
    )
}

fn fields_of(
    username: &str,
    given_name: &str,
    family_name: &str,
    category: &str,
    state: AccountState,
    groups: Vec<String>,
) -> Fields {
    (
        username.to_owned(),
        given_name.to_owned(),
        family_name.to_owned(),
        category.to_owned(),
        state,
        groups,
    )
}

/// The accounts of `code`, sorted by username.
async fn find(directory: &dyn Directory, code: &str) -> Vec<Account> {
    let mut found = directory.find_by_national_id(&hetu(code)).await.unwrap();
    found.sort_by(|a, b| a.username.cmp(&b.username));
    found
}

/// The one account of `code`.
async fn find_one(directory: &dyn Directory, code: &str) -> Account {
    let mut found = find(directory, code).await;
    assert_eq!(found.len(), 1, "accounts of {}", hetu(code).masked());
    found.remove(0)
}

/// The account `id` as the directory reads it now; it must exist.
async fn read_again(directory: &dyn Directory, id: &AccountId) -> Account {
    directory
        .account(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{id:?} is gone"))
}

fn assert_not_found(result: Result<(), DirectoryError>, what: &str) {
    assert!(
        matches!(result, Err(DirectoryError::AccountNotFound)),
        "{what}: expected AccountNotFound, got {result:?}"
    );
}

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, DirectoryError>, what: &str) {
    assert!(
        matches!(result, Err(DirectoryError::Unavailable { .. })),
        "{what}: expected Unavailable, got {result:?}"
    );
}

// ---- The contract ----

async fn lookup_of_a_code_without_accounts_finds_nothing<F: DirectoryFixture>() {
    let f = F::with_accounts(&[SeedAccount::active("tetyra", TERO)]).await;
    assert!(find(&*f.directory(), NOBODY).await.is_empty());
}

async fn lookup_finds_the_one_account_of_a_code<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO),
        SeedAccount::active("eemake", EERO),
    ])
    .await;
    let account = find_one(&*f.directory(), TERO).await;
    assert_eq!(account.username, f.username("tetyra"));
    assert_eq!(account.id, f.id("tetyra"));
}

async fn lookup_finds_every_account_that_carries_the_code<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("paniem", PAIVI),
        SeedAccount::active("paniem2", PAIVI).category("staff"),
        SeedAccount::active("tetyra", TERO),
    ])
    .await;
    let found = find(&*f.directory(), PAIVI).await;
    let found: Vec<_> = found
        .iter()
        .map(|a| (a.username.clone(), a.id.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (f.username("paniem"), f.id("paniem")),
            (f.username("paniem2"), f.id("paniem2"))
        ]
    );
}

async fn found_accounts_carry_their_names_category_state_and_groups<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO),
        SeedAccount::pending("eemake", EERO)
            .named("Eero Juhani", "Mäkelä")
            .groups(&["students"]),
        SeedAccount::disabled("jykark", JYRKI)
            .named("Jyrki Olavi", "Kärkkäinen")
            .category("staff")
            .groups(&["staff", "it-admins"]),
    ])
    .await;
    let directory = f.directory();
    let expected = [
        (
            TERO,
            fields_of(
                &f.username("tetyra"),
                "Tero Testi",
                "Äyrämö",
                "student",
                AccountState::Active,
                f.groups(&[]),
            ),
        ),
        (
            EERO,
            fields_of(
                &f.username("eemake"),
                "Eero Juhani",
                "Mäkelä",
                "student",
                AccountState::PendingActivation,
                f.groups(&["students"]),
            ),
        ),
        (
            JYRKI,
            fields_of(
                &f.username("jykark"),
                "Jyrki Olavi",
                "Kärkkäinen",
                "staff",
                AccountState::Disabled,
                f.groups(&["it-admins", "staff"]),
            ),
        ),
    ];
    for (code, expected) in expected {
        let account = find_one(&*directory, code).await;
        assert_eq!(fields(&account), expected);
    }
}

async fn an_account_is_read_again_by_its_id<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::pending("eemake", EERO)
            .named("Eero Juhani", "Mäkelä")
            .groups(&["students"]),
        SeedAccount::active("tetyra", TERO),
    ])
    .await;
    let directory = f.directory();
    let found = find_one(&*directory, EERO).await;
    let read = read_again(&*directory, &found.id).await;
    assert_eq!(read.id, found.id);
    assert_eq!(fields(&read), fields(&found));
}

async fn an_account_is_found_by_its_username_without_regard_to_case<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::pending("eemake", EERO)
            .named("Eero Juhani", "Mäkelä")
            .groups(&["students"]),
        SeedAccount::active("tetyra", TERO),
    ])
    .await;
    let directory = f.directory();
    let by_code = find_one(&*directory, EERO).await;
    let eemake = f.username("eemake");
    for typed in [eemake.clone(), eemake.to_uppercase(), format!(" {eemake} ")] {
        let found = directory.find_by_username(&typed).await.unwrap();
        assert_eq!(found.len(), 1, "{typed}");
        assert_eq!(found[0].id, by_code.id);
        assert_eq!(fields(&found[0]), fields(&by_code));
    }
    for typed in [
        eemake[..eemake.len() - 1].to_owned(),
        format!("{eemake}*"),
        "*".to_owned(),
        format!("{eemake})(uid=*"),
        String::new(),
    ] {
        assert!(
            directory.find_by_username(&typed).await.unwrap().is_empty(),
            "{typed:?} found something"
        );
    }
}

/// The candidates of a service request: the family name equal, a given name containing the typed
/// one, without regard to (ASCII) case; each with the birth date its identity code encodes.
async fn accounts_are_found_by_their_names_with_their_birth_dates<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::pending("eemake", EERO).named("Eero Juhani", "Mäkelä"),
        SeedAccount::active("jumake", PAIVI).named("Juhani", "Mäkelä"),
        SeedAccount::active("tetyra", TERO),
    ])
    .await;
    let directory = f.directory();
    let usernames = |found: &[Account]| {
        let mut names: Vec<String> = found.iter().map(|a| a.username.clone()).collect();
        names.sort();
        names
    };
    let both = directory.find_by_name("JUHANI", "MäKeLä").await.unwrap();
    assert_eq!(
        usernames(&both),
        [f.username("eemake"), f.username("jumake")]
    );
    let eero = directory.find_by_name("Eero", "Mäkelä").await.unwrap();
    assert_eq!(usernames(&eero), [f.username("eemake")]);
    let date = |year, month, day| {
        time::Date::from_calendar_date(year, time::Month::try_from(month).unwrap(), day).ok()
    };
    assert_eq!(eero[0].birth_date, date(2000, 2, 1));
    let juhani = both
        .iter()
        .find(|account| account.username == f.username("jumake"))
        .unwrap();
    assert_eq!(juhani.birth_date, date(1981, 2, 21));
    for (given, family) in [
        ("Eero", "Äyrämö"),
        ("Eero", "Mäkel"),
        ("", "Mäkelä"),
        ("Eero", ""),
        ("*", "Mäkelä"),
        ("Eero", "*"),
        ("Eero)(uid=*", "Mäkelä"),
    ] {
        assert!(
            directory
                .find_by_name(given, family)
                .await
                .unwrap()
                .is_empty(),
            "{given:?} {family:?} found something"
        );
    }
}

async fn an_account_read_again_shows_what_changed_since_it_was_found<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO),
        SeedAccount::active("eemake", EERO).groups(&["students"]),
    ])
    .await;
    let directory = f.directory();
    let tero = find_one(&*directory, TERO).await;
    let eero = find_one(&*directory, EERO).await;

    f.change("tetyra", Change::Disable).await;
    f.change("eemake", Change::JoinGroup("it-admins")).await;

    let tero_now = read_again(&*directory, &tero.id).await;
    assert_eq!(tero_now.state, AccountState::Disabled);
    assert_eq!(tero_now.username, f.username("tetyra"));
    let eero_now = read_again(&*directory, &eero.id).await;
    assert_eq!(eero_now.state, AccountState::Active);
    let mut groups = eero_now.groups.clone();
    groups.sort();
    assert_eq!(groups, f.groups(&["it-admins", "students"]));
}

async fn groups_in_groups_are_the_account_s_groups<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO).groups(&["students"]),
        SeedAccount::active("eemake", EERO).groups(&["lab-admins"]),
    ])
    .await;
    let directory = f.directory();
    let eero = find_one(&*directory, EERO).await;
    assert_eq!(fields(&eero).5, f.groups(&["lab-admins"]));

    // lab-admins ⊂ tier1 ⊂ it-admins ⊂ tier1: nested after the account was found, with a loop.
    f.nest("lab-admins", "tier1").await;
    f.nest("tier1", "it-admins").await;
    f.nest("it-admins", "tier1").await;

    let expected = f.groups(&["it-admins", "lab-admins", "tier1"]);
    for account in [
        read_again(&*directory, &eero.id).await,
        find_one(&*directory, EERO).await,
    ] {
        let mut groups = account.groups.clone();
        groups.sort();
        assert_eq!(groups, expected, "each group once, however reached");
    }
    // A bystander in no nested group keeps its own.
    assert_eq!(
        fields(&find_one(&*directory, TERO).await).5,
        f.groups(&["students"])
    );
}

async fn a_locked_account_is_written_only_by_a_write_that_unlocks_it<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO),
        SeedAccount::pending("eemake", EERO),
    ])
    .await;
    let directory = f.directory();
    let tero = find_one(&*directory, TERO).await;
    assert!(!tero.locked);
    f.change("tetyra", Change::Lock).await;
    f.change("eemake", Change::Lock).await;

    let tero_now = read_again(&*directory, &tero.id).await;
    assert!(tero_now.locked);
    assert_eq!(
        tero_now.state,
        AccountState::Active,
        "a lock is not a state"
    );
    assert!(find_one(&*directory, EERO).await.locked);

    for username in ["tetyra", "eemake"] {
        let id = f.id(username);
        let before = f.revision(username).await;
        assert_not_found(
            directory.activate(&id, &new(FIRST), IfLocked::Refuse).await,
            &format!("activating {username}"),
        );
        assert_not_found(
            directory
                .reset_password(&id, &new(FIRST), IfLocked::Refuse)
                .await,
            &format!("resetting {username}"),
        );
        assert_eq!(f.revision(username).await, before, "{username} was written");
        assert!(read_again(&*directory, &id).await.locked);
    }
    // Locked, Tero cannot log in even with his password.
    assert!(!f.password_works("tetyra", OLD_PASSWORD).await);

    directory
        .reset_password(&tero.id, &new(FIRST), IfLocked::Unlock)
        .await
        .unwrap();
    let tero_now = read_again(&*directory, &tero.id).await;
    assert!(!tero_now.locked);
    assert_eq!(tero_now.state, AccountState::Active);
    assert!(f.password_works("tetyra", FIRST).await);
    assert!(!f.password_works("tetyra", OLD_PASSWORD).await);

    directory
        .activate(&f.id("eemake"), &new(SECOND), IfLocked::Unlock)
        .await
        .unwrap();
    let eero_now = read_again(&*directory, &f.id("eemake")).await;
    assert!(!eero_now.locked);
    assert_eq!(eero_now.state, AccountState::Active);
    assert!(f.password_works("eemake", SECOND).await);

    // Unlocking an account that is not locked is a plain write.
    directory
        .reset_password(&tero.id, &new(SECOND), IfLocked::Unlock)
        .await
        .unwrap();
    assert!(f.password_works("tetyra", SECOND).await);
}

async fn an_account_deleted_or_never_there_reads_as_none<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO),
        SeedAccount::active("eemake", EERO),
    ])
    .await;
    let directory = f.directory();
    let tero = find_one(&*directory, TERO).await;
    f.delete("tetyra").await;

    assert!(directory.account(&tero.id).await.unwrap().is_none());
    assert!(find(&*directory, TERO).await.is_empty());
    assert!(directory.account(&f.id("ghost")).await.unwrap().is_none());
    // The other account is still there.
    read_again(&*directory, &f.id("eemake")).await;
}

async fn activation_sets_the_first_password_and_makes_the_account_active<F: DirectoryFixture>() {
    let f = F::with_accounts(&[SeedAccount::pending("eemake", EERO).groups(&["students"])]).await;
    let directory = f.directory();
    let found = find_one(&*directory, EERO).await;
    assert_eq!(found.state, AccountState::PendingActivation);

    directory
        .activate(&found.id, &new(FIRST), IfLocked::Refuse)
        .await
        .unwrap();

    assert!(f.password_works("eemake", FIRST).await);
    assert!(!f.password_works("eemake", SECOND).await);
    let now = read_again(&*directory, &found.id).await;
    assert_eq!(now.state, AccountState::Active);
    assert_eq!(
        find_one(&*directory, EERO).await.state,
        AccountState::Active
    );
    // Only the state changed.
    let mut expected = fields(&found);
    expected.4 = AccountState::Active;
    assert_eq!(fields(&now), expected);
}

async fn activation_repeated_with_the_same_password_succeeds<F: DirectoryFixture>() {
    let f = F::with_accounts(&[SeedAccount::pending("eemake", EERO)]).await;
    let directory = f.directory();
    let id = f.id("eemake");
    directory
        .activate(&id, &new(FIRST), IfLocked::Refuse)
        .await
        .unwrap();
    // As when the first answer was lost on the way back.
    directory
        .activate(&id, &new(FIRST), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(f.password_works("eemake", FIRST).await);
    assert_eq!(
        read_again(&*directory, &id).await.state,
        AccountState::Active
    );
}

async fn activation_completes_one_that_got_as_far_as_the_password<F: DirectoryFixture>() {
    let f = F::with_accounts(&[SeedAccount::pending("eemake", EERO)]).await;
    let directory = f.directory();
    let id = f.id("eemake");
    // A reset writes what the first attempt wrote before failing: the password, not the state.
    directory
        .reset_password(&id, &new(FIRST), IfLocked::Refuse)
        .await
        .unwrap();
    assert_eq!(
        read_again(&*directory, &id).await.state,
        AccountState::PendingActivation
    );

    directory
        .activate(&id, &new(FIRST), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(f.password_works("eemake", FIRST).await);
    assert_eq!(
        read_again(&*directory, &id).await.state,
        AccountState::Active
    );
}

async fn a_reset_replaces_the_password_and_keeps_the_state<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO),
        SeedAccount::pending("eemake", EERO),
    ])
    .await;
    let directory = f.directory();
    assert!(f.password_works("tetyra", OLD_PASSWORD).await);

    directory
        .reset_password(&f.id("tetyra"), &new(FIRST), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(f.password_works("tetyra", FIRST).await);
    assert!(!f.password_works("tetyra", OLD_PASSWORD).await);

    directory
        .reset_password(&f.id("tetyra"), &new(SECOND), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(f.password_works("tetyra", SECOND).await);
    assert!(!f.password_works("tetyra", FIRST).await);
    assert_eq!(
        read_again(&*directory, &f.id("tetyra")).await.state,
        AccountState::Active
    );

    directory
        .reset_password(&f.id("eemake"), &new(FIRST), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(f.password_works("eemake", FIRST).await);
    assert_eq!(
        read_again(&*directory, &f.id("eemake")).await.state,
        AccountState::PendingActivation
    );
}

async fn a_reset_repeated_with_the_same_password_succeeds<F: DirectoryFixture>() {
    let f = F::with_accounts(&[SeedAccount::active("tetyra", TERO)]).await;
    let directory = f.directory();
    let id = f.id("tetyra");
    directory
        .reset_password(&id, &new(FIRST), IfLocked::Refuse)
        .await
        .unwrap();
    directory
        .reset_password(&id, &new(FIRST), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(f.password_works("tetyra", FIRST).await);
    assert!(!f.password_works("tetyra", OLD_PASSWORD).await);
    assert_eq!(
        read_again(&*directory, &id).await.state,
        AccountState::Active
    );
}

async fn writes_to_a_disabled_account_are_refused_and_change_nothing<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::disabled("jykark", JYRKI),
        SeedAccount::active("tetyra", TERO),
    ])
    .await;
    let directory = f.directory();
    // One closed from the start, one closed after the person was identified.
    let tero = find_one(&*directory, TERO).await;
    f.change("tetyra", Change::Disable).await;

    for (username, id) in [("jykark", f.id("jykark")), ("tetyra", tero.id)] {
        let before = f.revision(username).await;
        assert_not_found(
            directory.activate(&id, &new(FIRST), IfLocked::Refuse).await,
            &format!("activating {username}"),
        );
        assert_not_found(
            directory
                .reset_password(&id, &new(FIRST), IfLocked::Refuse)
                .await,
            &format!("resetting {username}"),
        );
        assert_eq!(f.revision(username).await, before, "{username} was written");
        assert_eq!(
            read_again(&*directory, &id).await.state,
            AccountState::Disabled
        );
        assert!(f.password_works(username, OLD_PASSWORD).await);
        assert!(!f.password_works(username, FIRST).await);
    }
}

async fn writes_to_a_missing_account_are_refused_and_change_nothing<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO),
        SeedAccount::pending("eemake", EERO),
    ])
    .await;
    let directory = f.directory();
    // One deleted after the person was identified, one that never was.
    let tero = find_one(&*directory, TERO).await;
    f.delete("tetyra").await;
    let bystander = f.revision("eemake").await;

    for id in [tero.id, f.id("ghost")] {
        assert_not_found(
            directory.activate(&id, &new(FIRST), IfLocked::Refuse).await,
            &format!("activating {id:?}"),
        );
        assert_not_found(
            directory
                .reset_password(&id, &new(FIRST), IfLocked::Refuse)
                .await,
            &format!("resetting {id:?}"),
        );
        assert!(directory.account(&id).await.unwrap().is_none(), "{id:?}");
    }
    assert!(find(&*directory, TERO).await.is_empty());
    assert_eq!(f.revision("eemake").await, bystander, "eemake was written");
    assert!(!f.password_works("eemake", FIRST).await);
}

async fn a_password_the_policy_refuses_is_rejected_and_nothing_is_written<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO),
        SeedAccount::pending("eemake", EERO),
    ])
    .await;
    let directory = f.directory();
    let refused = f.refused_password().await;
    let before = (f.revision("tetyra").await, f.revision("eemake").await);

    for (what, result) in [
        (
            "reset",
            directory
                .reset_password(&f.id("tetyra"), &new(refused), IfLocked::Refuse)
                .await,
        ),
        (
            "activation",
            directory
                .activate(&f.id("eemake"), &new(refused), IfLocked::Refuse)
                .await,
        ),
    ] {
        match result {
            Err(DirectoryError::PolicyRejected { refusal, detail }) => {
                assert_eq!(refusal, PolicyRefusal::TooShort, "{what}: {detail}");
                assert!(!detail.contains(refused), "{what}: {detail}");
            }
            other => panic!("{what}: expected PolicyRejected, got {other:?}"),
        }
    }

    let after = (f.revision("tetyra").await, f.revision("eemake").await);
    assert_eq!(after, before, "something was written");
    assert!(f.password_works("tetyra", OLD_PASSWORD).await);
    assert!(!f.password_works("tetyra", refused).await);
    assert!(!f.password_works("eemake", refused).await);
    assert_eq!(
        read_again(&*directory, &f.id("eemake")).await.state,
        AccountState::PendingActivation
    );
}

async fn an_unreachable_directory_is_unavailable_and_nothing_is_written<F: DirectoryFixture>() {
    let f = F::with_accounts(&[
        SeedAccount::active("tetyra", TERO),
        SeedAccount::pending("eemake", EERO),
    ])
    .await;
    let before = (f.revision("tetyra").await, f.revision("eemake").await);
    let directory = f.unreachable().await;

    assert_unavailable(directory.find_by_national_id(&hetu(TERO)).await, "lookup");
    assert_unavailable(directory.account(&f.id("tetyra")).await, "read again");
    assert_unavailable(
        directory.find_by_username("tetyra").await,
        "username lookup",
    );
    assert_unavailable(
        directory
            .reset_password(&f.id("tetyra"), &new(FIRST), IfLocked::Refuse)
            .await,
        "reset",
    );
    assert_unavailable(
        directory
            .activate(&f.id("eemake"), &new(FIRST), IfLocked::Refuse)
            .await,
        "activation",
    );
    assert_unavailable(directory.health().await, "health");

    let after = (f.revision("tetyra").await, f.revision("eemake").await);
    assert_eq!(after, before, "something was written");
    assert!(f.password_works("tetyra", OLD_PASSWORD).await);
    assert!(!f.password_works("tetyra", FIRST).await);
    assert!(!f.password_works("eemake", FIRST).await);
}

async fn health_succeeds_while_the_directory_answers<F: DirectoryFixture>() {
    let f = F::with_accounts(&[SeedAccount::active("tetyra", TERO)]).await;
    f.directory().health().await.unwrap();
}

/// One `#[tokio::test]` per contract test for one backend, in a module named after the backend.
macro_rules! contract_for {
    ($backend:ident: $fixture:ident, [$($name:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name::<super::$fixture>().await;
                }
            )*
        }
    };
}

/// Every contract test for every backend.
macro_rules! contract {
    ([$($backend:ident: $fixture:ident),* $(,)?], $tests:tt) => {
        $( contract_for!($backend: $fixture, $tests); )*
    };
}

contract!(
    [memory: MemoryFixture, slapd: SlapdFixture, samba: SambaFixture],
    [
        lookup_of_a_code_without_accounts_finds_nothing,
        lookup_finds_the_one_account_of_a_code,
        lookup_finds_every_account_that_carries_the_code,
        found_accounts_carry_their_names_category_state_and_groups,
        an_account_is_read_again_by_its_id,
        an_account_is_found_by_its_username_without_regard_to_case,
        accounts_are_found_by_their_names_with_their_birth_dates,
        an_account_read_again_shows_what_changed_since_it_was_found,
        groups_in_groups_are_the_account_s_groups,
        a_locked_account_is_written_only_by_a_write_that_unlocks_it,
        an_account_deleted_or_never_there_reads_as_none,
        activation_sets_the_first_password_and_makes_the_account_active,
        activation_repeated_with_the_same_password_succeeds,
        activation_completes_one_that_got_as_far_as_the_password,
        a_reset_replaces_the_password_and_keeps_the_state,
        a_reset_repeated_with_the_same_password_succeeds,
        writes_to_a_disabled_account_are_refused_and_change_nothing,
        writes_to_a_missing_account_are_refused_and_change_nothing,
        a_password_the_policy_refuses_is_rejected_and_nothing_is_written,
        an_unreachable_directory_is_unavailable_and_nothing_is_written,
        health_succeeds_while_the_directory_answers,
    ]
);
