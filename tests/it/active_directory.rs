//! The Active Directory flavour against a real domain controller (the Samba AD DC of `samba.rs`):
//! what only Active Directory has. Lookups by an identity code attribute in its format, the
//! username from `sAMAccountName` and the name shown from `userPrincipalName`; disabled and
//! locked-out accounts; privileged groups through nesting and the primary group; the
//! administrative `unicodePwd` reset over LDAPS and StartTLS; activation that enables the account in
//! the same write; the domain controller's refusals in the person's words; `tunnus check-config`'s
//! look at the service account's rights; and the pages over all this. What every backend does is in
//! `directory_contract.rs`, which runs against this domain controller too.
//!
//! Every refusal also checks that nothing was written: `uSNChanged` and `whenChanged` are as
//! before (read before any bind, which may record a logon), and the old password still works.

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::StatusCode;
use time::macros::datetime;
use tunnus::account::eligibility::{self, AccountSettings, Ineligible, Refusal};
use tunnus::clock::ManualClock;
use tunnus::directory::ldap::probe::{Needs, Outcome};
use tunnus::directory::{
    AccountId, AccountState, Directory, DirectoryError, IfLocked, LdapDirectory, LdapSettings,
    NewPassword, PolicyRefusal,
};
use tunnus::identity::NationalId;

use crate::harness::{Browser, Options, Page, TestApp};
use crate::samba::{self, SambaDc, shared};

const TERO: &str = "010170-999R";
const EERO: &str = "010200A9618";
const NOBODY: &str = "020365-999P";
const OLD_PASSWORD: &str = "vanha salasana 2019";
const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";
const FINNISH: &str = "Äyrämö-Åström öljyä 2024";
/// 64 characters.
const PASSPHRASE: &str = "pitkä salasanalause jossa on kuusikymmentäneljä merkkiä yhteensä";
const ACTIVATED_AT: time::OffsetDateTime = datetime!(2026-05-04 03:02:01 UTC);

fn hetu(code: &str) -> NationalId {
    NationalId::parse(code, true).unwrap()
}

fn password(text: &str) -> NewPassword {
    NewPassword::new(text.to_owned())
}

fn directory(settings: &LdapSettings) -> LdapDirectory {
    LdapDirectory::new(settings, Arc::new(ManualClock::at(ACTIVATED_AT))).unwrap()
}

/// One user entry to add under a test's OU.
struct Person<'a> {
    cn: &'a str,
    code: &'a str,
    control: &'a str,
    state: Option<&'a str>,
    password: Option<&'a str>,
    upn: bool,
}

impl<'a> Person<'a> {
    /// An enabled student with [`OLD_PASSWORD`], the identity code in `employeeID`.
    fn new(cn: &'a str, code: &'a str) -> Self {
        Self {
            cn,
            code,
            control: samba::NORMAL_ACCOUNT,
            state: None,
            password: Some(OLD_PASSWORD),
            upn: false,
        }
    }

    /// Created for activation: disabled, its state pending, no password.
    fn pending(cn: &'a str, code: &'a str) -> Self {
        Self {
            control: samba::DISABLED_ACCOUNT,
            state: Some("pending"),
            password: None,
            ..Self::new(cn, code)
        }
    }

    fn control(self, control: &'a str) -> Self {
        Self { control, ..self }
    }

    fn state(self, state: &'a str) -> Self {
        Self {
            state: Some(state),
            ..self
        }
    }

    fn with_upn(self) -> Self {
        Self { upn: true, ..self }
    }

    /// The `sAMAccountName` it gets under `base`: unique in the domain.
    fn account_name(cn: &str, base: &str) -> String {
        format!("{cn}-{}", ou_name(base))
    }

    /// Adds the person as the administrator and returns the entry's DN.
    async fn add_to(self, dc: &SambaDc, base: &str) -> String {
        let dn = format!("CN={},{base}", ldap3::dn_escape(self.cn));
        let account_name = Self::account_name(self.cn, base);
        let upn = format!("{account_name}@tunnus.test");
        let text = |value: &str| HashSet::from([value.as_bytes().to_vec()]);
        let mut attributes = vec![
            (b"objectClass".to_vec(), text("user")),
            (b"sAMAccountName".to_vec(), text(&account_name)),
            (b"givenName".to_vec(), text("Tero Testi")),
            (b"sn".to_vec(), text("Äyrämö")),
            (b"employeeType".to_vec(), text("student")),
            (b"employeeID".to_vec(), text(self.code)),
            (b"userAccountControl".to_vec(), text(self.control)),
        ];
        if let Some(state) = self.state {
            attributes.push((samba::STATE_ATTRIBUTE.as_bytes().to_vec(), text(state)));
        }
        if self.upn {
            attributes.push((b"userPrincipalName".to_vec(), text(&upn)));
        }
        if let Some(password) = self.password {
            attributes.push((
                b"unicodePwd".to_vec(),
                HashSet::from([samba::unicode_pwd(password)]),
            ));
        }
        samba::add_binary(&mut dc.admin().await, &dn, attributes).await;
        dn
    }
}

/// `t<N>` of `OU=t<N>,DC=…`.
fn ou_name(base: &str) -> &str {
    base.strip_prefix("OU=")
        .and_then(|rest| rest.split(',').next())
        .unwrap()
}

/// Adds the group `CN={cn},{base}` with `members`; returns its DN.
async fn add_group(dc: &SambaDc, base: &str, cn: &str, members: &[&str]) -> String {
    let dn = format!("CN={cn},{base}");
    let account_name = [format!("{cn}-{}", ou_name(base))];
    let account_name: Vec<&str> = account_name.iter().map(String::as_str).collect();
    let mut attributes: Vec<(&str, &[&str])> = vec![
        ("objectClass", &["group"]),
        ("sAMAccountName", &account_name),
    ];
    if !members.is_empty() {
        attributes.push(("member", members));
    }
    samba::add(&mut dc.admin().await, &dn, &attributes).await;
    dn
}

/// The settings the tests use, with accounts waiting for activation kept disabled until then.
fn enabling(dc: &SambaDc, base: &str) -> LdapSettings {
    LdapSettings {
        enable_on_activation: true,
        ..dc.settings(base)
    }
}

fn assert_not_found(result: Result<(), DirectoryError>, what: &str) {
    assert!(
        matches!(result, Err(DirectoryError::AccountNotFound)),
        "{what}: expected AccountNotFound, got {result:?}"
    );
}

fn refusal_of(result: Result<(), DirectoryError>, secret: &str) -> PolicyRefusal {
    match result {
        Err(DirectoryError::PolicyRejected { refusal, detail }) => {
            assert!(!detail.contains(secret), "{detail}");
            refusal
        }
        other => panic!("expected PolicyRejected, got {other:?}"),
    }
}

// ---- Finding accounts ----

#[tokio::test]
async fn an_account_is_found_by_the_configured_identity_code_attribute_and_format() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO)
        .with_upn()
        .add_to(dc, &base)
        .await;
    // Another account keeps a code in another attribute and format.
    let eero = Person::new("eemake", EERO).add_to(dc, &base).await;
    let attribute = "msDS-cloudExtensionAttribute3";
    dc.replace(
        &eero,
        attribute,
        &[&format!("urn:schac:personalUniqueID:fi:FIC:{TERO}")],
    )
    .await;

    let by_employee_id = directory(&LdapSettings {
        shown_username_attribute: Some("userPrincipalName".to_owned()),
        ..dc.settings(&base)
    });
    let found = by_employee_id
        .find_by_national_id(&hetu(TERO))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let account = &found[0];
    assert_eq!(account.id, AccountId::new(tero.clone()));
    assert_eq!(account.username, Person::account_name("tetyra", &base));
    assert_eq!(
        account.login_name.as_deref(),
        Some(format!("{}@tunnus.test", account.username).as_str())
    );
    assert_eq!(
        (
            account.given_name.as_str(),
            account.family_name.as_str(),
            account.category.as_str()
        ),
        ("Tero Testi", "Äyrämö", "student")
    );
    assert_eq!(account.state, AccountState::Active);
    assert!(!account.locked);
    // Without the setting, no other name is shown; an account without a UPN shows none either.
    let plain = directory(&dc.settings(&base));
    assert_eq!(
        plain.find_by_national_id(&hetu(TERO)).await.unwrap()[0].login_name,
        None
    );
    assert_eq!(
        by_employee_id
            .find_by_national_id(&hetu(EERO))
            .await
            .unwrap()[0]
            .login_name,
        None
    );

    let by_extension = directory(&LdapSettings {
        national_id_attribute: attribute.to_owned(),
        national_id_format: "urn:schac:personalUniqueID:fi:FIC:{hetu}".to_owned(),
        ..dc.settings(&base)
    });
    let found = by_extension.find_by_national_id(&hetu(TERO)).await.unwrap();
    let ids: Vec<_> = found.iter().map(|account| account.id.clone()).collect();
    assert_eq!(ids, [AccountId::new(eero)]);
}

/// A search from the domain's root gets references to the configuration and DNS partitions along
/// with the entries; they are passed over, not read as accounts.
#[tokio::test]
async fn a_search_from_the_domain_root_passes_over_references_to_other_partitions() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("rootsearch", TERO).add_to(dc, &base).await;
    let whole_domain = directory(&dc.settings(samba::DOMAIN_DN));
    let found = whole_domain
        .find_by_username(&Person::account_name("rootsearch", &base))
        .await
        .unwrap();
    let ids: Vec<_> = found.iter().map(|account| account.id.clone()).collect();
    assert_eq!(ids, [AccountId::new(tero)]);
    // Nobody found from the root is nobody, not references to the DNS and configuration partitions.
    assert!(
        whole_domain
            .find_by_username("nobody-at-all")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        whole_domain
            .find_by_national_id(&hetu(NOBODY))
            .await
            .unwrap()
            .is_empty()
    );
    whole_domain.health().await.unwrap();
}

// ---- Disabled and locked-out accounts ----

#[tokio::test]
async fn a_disabled_account_is_refused_whatever_its_state_says_and_nothing_is_written() {
    let dc = shared();
    let base = dc.subtree().await;
    // Closed by the flag alone; and waiting for activation while activation may not enable.
    let closed = Person::new("closed", TERO)
        .control(samba::DISABLED_ACCOUNT)
        .state("active")
        .add_to(dc, &base)
        .await;
    let pending = Person::new("pending", EERO)
        .control(samba::DISABLED_ACCOUNT)
        .state("pending")
        .add_to(dc, &base)
        .await;
    let directory = directory(&dc.settings(&base));
    for (dn, code) in [(&closed, TERO), (&pending, EERO)] {
        let found = directory.find_by_national_id(&hetu(code)).await.unwrap();
        assert_eq!(found[0].state, AccountState::Disabled, "{dn}");
        let before = dc.revision(dn).await;
        let id = AccountId::new(dn.clone());
        assert_not_found(
            directory
                .reset_password(&id, &password(GOOD), IfLocked::Unlock)
                .await,
            dn,
        );
        assert_not_found(
            directory
                .activate(&id, &password(GOOD), IfLocked::Unlock)
                .await,
            dn,
        );
        assert_eq!(dc.revision(dn).await, before, "{dn} was written");
        assert_eq!(
            dc.read(dn, "userAccountControl").await,
            [samba::DISABLED_ACCOUNT]
        );
        // Still disabled with the old password: the domain controller says "disabled", not
        // "wrong password".
        let refused = dc.bind_outcome(dn, OLD_PASSWORD).await.unwrap_err();
        assert!(refused.contains("data 533"), "{refused}");
    }
}

#[tokio::test]
async fn a_locked_out_account_is_refused_unless_the_write_unlocks_it_in_the_same_modify() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    dc.lock(&tero).await;
    let directory = directory(&dc.settings(&base));
    let id = AccountId::new(tero.clone());
    assert!(directory.account(&id).await.unwrap().unwrap().locked);

    // Refused: nothing written, still locked out.
    let before = dc.revision(&tero).await;
    assert_not_found(
        directory
            .reset_password(&id, &password(GOOD), IfLocked::Refuse)
            .await,
        "a refused unlock",
    );
    // A password the domain refuses: the lock stays, as the unlock is part of the same modify.
    assert_eq!(
        refusal_of(
            directory
                .reset_password(&id, &password("lyhyt"), IfLocked::Unlock)
                .await,
            "lyhyt"
        ),
        PolicyRefusal::TooShort
    );
    assert_eq!(dc.revision(&tero).await, before, "written");
    let locked_out = dc.bind_outcome(&tero, OLD_PASSWORD).await.unwrap_err();
    assert!(locked_out.contains("data 775"), "{locked_out}");

    directory
        .reset_password(&id, &password(GOOD), IfLocked::Unlock)
        .await
        .unwrap();
    assert_eq!(dc.read(&tero, "lockoutTime").await, ["0"]);
    assert!(!directory.account(&id).await.unwrap().unwrap().locked);
    assert!(dc.can_bind(&tero, GOOD).await);
    assert!(!dc.can_bind(&tero, OLD_PASSWORD).await);
}

/// `lockoutTime` stays set until the next logon after a lockout has run out: the account is not
/// locked then, as the domain controller computes it.
#[tokio::test]
async fn a_lockout_that_has_run_out_is_no_lock() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    // 2020-01-01, long before the test domain's lockout duration ends.
    dc.replace(&tero, "lockoutTime", &["132223104000000000"])
        .await;
    let directory = directory(&dc.settings(&base));
    let id = AccountId::new(tero.clone());
    assert!(!directory.account(&id).await.unwrap().unwrap().locked);
    directory
        .reset_password(&id, &password(GOOD), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(dc.can_bind(&tero, GOOD).await);
}

// ---- Privileged groups ----

/// The eligibility rules with `refused_groups = ["Domain Admins"]`.
fn refusing_domain_admins() -> AccountSettings {
    AccountSettings {
        refused_groups: vec!["Domain Admins".to_owned()],
        ..AccountSettings::default()
    }
}

async fn decided(directory: &LdapDirectory, code: &str) -> Result<(), Option<Ineligible>> {
    let settings = refusing_domain_admins();
    match eligibility::resolve(directory, &hetu(code), &settings)
        .await
        .unwrap()
    {
        Ok(_) => Ok(()),
        Err(Refusal::NotEligible { reason, .. }) => Err(Some(reason)),
        Err(_) => Err(None),
    }
}

#[tokio::test]
async fn a_member_of_a_group_nested_deep_inside_domain_admins_is_privileged() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    let eero = Person::new("eemake", EERO).add_to(dc, &base).await;
    // tetyra ∈ lab ⊂ tier2 ⊂ tier1 ⊂ tier0 ⊂ Domain Admins, deeper than the walk of OpenLDAP's
    // group_nesting_depth would go: the in-chain rule has no depth.
    let lab = add_group(dc, &base, "lab", &[&tero]).await;
    let tier2 = add_group(dc, &base, "tier2", &[&lab]).await;
    let tier1 = add_group(dc, &base, "tier1", &[&tier2]).await;
    let tier0 = add_group(dc, &base, "tier0", &[&tier1]).await;
    dc.add_member(samba::DOMAIN_ADMINS_DN, &tier0).await;
    let directory = directory(&LdapSettings {
        group_nesting_depth: 1,
        ..dc.settings(&base)
    });

    let account = &directory.find_by_national_id(&hetu(TERO)).await.unwrap()[0];
    for group in [&lab, &tier2, &tier1, &tier0, samba::DOMAIN_ADMINS_DN] {
        assert!(
            account.groups.iter().any(|g| g == group),
            "{group}: {account:?}"
        );
    }
    assert_eq!(
        decided(&directory, TERO).await,
        Err(Some(Ineligible::Privileged))
    );
    // A bystander in none of them, but in Domain Users as everyone is, may go on.
    let eero_account = &directory.find_by_national_id(&hetu(EERO)).await.unwrap()[0];
    assert!(
        eero_account
            .groups
            .iter()
            .any(|g| g == samba::DOMAIN_USERS_DN)
    );
    assert_eq!(decided(&directory, EERO).await, Ok(()));
    let _ = eero;
}

#[tokio::test]
async fn an_account_whose_primary_group_is_or_is_inside_domain_admins_is_privileged() {
    let dc = shared();
    let base = dc.subtree().await;
    // Domain Admins as the primary group: `member` no longer lists the account.
    let admin = Person::new("admin", TERO).add_to(dc, &base).await;
    dc.add_member(samba::DOMAIN_ADMINS_DN, &admin).await;
    dc.replace(&admin, "primaryGroupID", &["512"]).await;
    let members = dc.read(samba::DOMAIN_ADMINS_DN, "member").await;
    assert!(!members.contains(&admin), "{members:?}");
    // A primary group of the test's own, nested in Domain Admins.
    let operator = Person::new("operator", EERO).add_to(dc, &base).await;
    let operators = add_group(dc, &base, "operators", &[&operator]).await;
    let tier0 = add_group(dc, &base, "tier0", &[&operators]).await;
    dc.add_member(samba::DOMAIN_ADMINS_DN, &tier0).await;
    let rid = dc
        .sid(&operators)
        .await
        .rsplit('-')
        .next()
        .unwrap()
        .to_owned();
    dc.replace(&operator, "primaryGroupID", &[&rid]).await;
    let members = dc.read(&operators, "member").await;
    assert!(!members.contains(&operator), "{members:?}");
    let directory = directory(&dc.settings(&base));

    for code in [TERO, EERO] {
        let account = &directory.find_by_national_id(&hetu(code)).await.unwrap()[0];
        assert!(
            account.groups.iter().any(|g| g == samba::DOMAIN_ADMINS_DN),
            "{account:?}"
        );
        assert_eq!(
            decided(&directory, code).await,
            Err(Some(Ineligible::Privileged)),
            "{code}"
        );
    }
}

// ---- Resets ----

#[tokio::test]
async fn a_reset_over_ldaps_and_starttls_takes_finnish_letters_and_a_64_character_passphrase() {
    assert_eq!(PASSPHRASE.chars().count(), 64);
    let dc = shared();
    for url in [&dc.ldaps_url, &dc.ldap_url] {
        let base = dc.subtree().await;
        let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
        let directory = directory(&LdapSettings {
            url: Some(url.clone()),
            ..dc.settings(&base)
        });
        let id = AccountId::new(tero.clone());
        let mut previous = OLD_PASSWORD;
        for new in [FINNISH, PASSPHRASE] {
            directory
                .reset_password(&id, &password(new), IfLocked::Refuse)
                .await
                .unwrap();
            assert!(dc.can_bind(&tero, new).await, "{url}: {new}");
            assert!(!dc.can_bind(&tero, previous).await, "{url}: {previous}");
            previous = new;
        }
    }
}

/// An account created with "must change password at next logon" (`pwdLastSet` 0) is not left so
/// by a reset: the person logs in with the password they chose, unless the setting asks otherwise.
#[tokio::test]
async fn a_reset_leaves_the_account_out_of_must_change_unless_configured() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    let eero = Person::new("eemake", EERO).add_to(dc, &base).await;
    for dn in [&tero, &eero] {
        dc.replace(dn, "pwdLastSet", &["0"]).await;
        let must_change = dc.bind_outcome(dn, OLD_PASSWORD).await.unwrap_err();
        assert!(must_change.contains("data 773"), "{must_change}");
    }
    directory(&dc.settings(&base))
        .reset_password(
            &AccountId::new(tero.clone()),
            &password(GOOD),
            IfLocked::Refuse,
        )
        .await
        .unwrap();
    assert_ne!(dc.read(&tero, "pwdLastSet").await, ["0"]);
    assert_eq!(dc.bind_outcome(&tero, GOOD).await, Ok(()));

    let forcing = directory(&LdapSettings {
        must_change_at_next_logon: true,
        ..dc.settings(&base)
    });
    forcing
        .reset_password(
            &AccountId::new(eero.clone()),
            &password(GOOD),
            IfLocked::Refuse,
        )
        .await
        .unwrap();
    assert_eq!(dc.read(&eero, "pwdLastSet").await, ["0"]);
    let must_change = dc.bind_outcome(&eero, GOOD).await.unwrap_err();
    assert!(must_change.contains("data 773"), "{must_change}");
}

#[tokio::test]
async fn complexity_and_length_refusals_name_their_rule_and_change_nothing() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    // The domain's default rule, kept on for this account: three kinds of characters.
    dc.require_complexity(&tero).await;
    let directory = directory(&dc.settings(&base));
    let id = AccountId::new(tero.clone());
    let before = dc.revision(&tero).await;
    for (refused, expected) in [
        ("kahvi tunturi lumi sade routa", PolicyRefusal::TooSimple),
        ("Lyhyt-1", PolicyRefusal::TooShort),
    ] {
        let result = directory
            .reset_password(&id, &password(refused), IfLocked::Refuse)
            .await;
        assert_eq!(refusal_of(result, refused), expected, "{refused}");
    }
    assert_eq!(dc.revision(&tero).await, before, "written");
    assert!(dc.can_bind(&tero, OLD_PASSWORD).await);
    // Three kinds of characters pass.
    directory
        .reset_password(&id, &password(GOOD), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(dc.can_bind(&tero, GOOD).await);
}

#[tokio::test]
async fn a_service_account_without_the_reset_password_right_is_misconfiguration_and_writes_nothing()
{
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    let reader = directory(&LdapSettings {
        bind_dn: samba::READER_DN.to_owned(),
        bind_password_file: Some(dc.reader_password_file.clone()),
        ..dc.settings(&base)
    });
    // It reads, as everyone in the domain does.
    assert_eq!(
        reader.find_by_national_id(&hetu(TERO)).await.unwrap().len(),
        1
    );
    let before = dc.revision(&tero).await;
    match reader
        .reset_password(
            &AccountId::new(tero.clone()),
            &password(GOOD),
            IfLocked::Refuse,
        )
        .await
    {
        Err(DirectoryError::Misconfigured { detail }) => {
            assert!(detail.contains("result 50"), "{detail}");
            assert!(detail.contains("Reset Password"), "{detail}");
        }
        other => panic!("expected Misconfigured, got {other:?}"),
    }
    assert_eq!(dc.revision(&tero).await, before, "written");
    assert!(dc.can_bind(&tero, OLD_PASSWORD).await);
}

#[tokio::test]
async fn a_refused_service_bind_says_what_the_domain_controller_said_and_nothing_else() {
    let dc = shared();
    let base = dc.subtree().await;
    let directory = directory(&LdapSettings {
        // The reader's password for the service account.
        bind_password_file: Some(dc.reader_password_file.clone()),
        ..dc.settings(&base)
    });
    match directory.health().await {
        Err(DirectoryError::Misconfigured { detail }) => {
            assert!(detail.contains("(wrong user name or password)"), "{detail}");
            assert!(detail.contains("bind_password_file"), "{detail}");
            assert!(!detail.contains(samba::READER_PASSWORD), "{detail}");
        }
        other => panic!("expected Misconfigured, got {other:?}"),
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_misconfiguration_over_ldaps_and_starttls() {
    let dc = shared();
    let base = dc.subtree().await;
    for url in [&dc.ldaps_url, &dc.ldap_url] {
        let directory = directory(&LdapSettings {
            url: Some(url.clone()),
            ca_file: Some(dc.other_ca_file.clone()),
            ..dc.settings(&base)
        });
        match directory.health().await {
            Err(DirectoryError::Misconfigured { detail }) => {
                assert!(detail.contains("directory.ldap.ca_file"), "{url}: {detail}")
            }
            other => panic!("{url}: expected Misconfigured, got {other:?}"),
        }
    }
}

// ---- Activation ----

#[tokio::test]
async fn activation_enables_a_pending_account_with_its_first_password_in_one_write() {
    let dc = shared();
    let base = dc.subtree().await;
    let eero = Person::pending("eemake", EERO).add_to(dc, &base).await;
    let directory = directory(&enabling(dc, &base));
    let found = directory.find_by_national_id(&hetu(EERO)).await.unwrap();
    assert_eq!(found[0].state, AccountState::PendingActivation);

    directory
        .activate(&found[0].id, &password(FINNISH), IfLocked::Refuse)
        .await
        .unwrap();
    assert_eq!(
        dc.read(&eero, "userAccountControl").await,
        [samba::NORMAL_ACCOUNT]
    );
    assert_eq!(dc.read(&eero, samba::STATE_ATTRIBUTE).await, ["active"]);
    assert_eq!(
        dc.read(&eero, samba::TERMS_ATTRIBUTE).await,
        ["20260504030201Z"]
    );
    assert_ne!(dc.read(&eero, "pwdLastSet").await, ["0"]);
    assert_eq!(dc.bind_outcome(&eero, FINNISH).await, Ok(()));
    assert_eq!(
        directory
            .account(&found[0].id)
            .await
            .unwrap()
            .unwrap()
            .state,
        AccountState::Active
    );
}

#[tokio::test]
async fn a_refused_first_password_leaves_the_pending_account_as_it_was() {
    let dc = shared();
    let base = dc.subtree().await;
    let eero = Person::pending("eemake", EERO).add_to(dc, &base).await;
    dc.require_complexity(&eero).await;
    let directory = directory(&enabling(dc, &base));
    let id = AccountId::new(eero.clone());
    let before = dc.revision(&eero).await;
    for (refused, expected) in [
        ("lyhyt", PolicyRefusal::TooShort),
        ("kahvi tunturi lumi sade routa", PolicyRefusal::TooSimple),
    ] {
        let result = directory
            .activate(&id, &password(refused), IfLocked::Refuse)
            .await;
        assert_eq!(refusal_of(result, refused), expected, "{refused}");
    }
    assert_eq!(dc.revision(&eero).await, before, "written");
    assert_eq!(
        dc.read(&eero, "userAccountControl").await,
        [samba::DISABLED_ACCOUNT]
    );
    assert_eq!(dc.read(&eero, samba::STATE_ATTRIBUTE).await, ["pending"]);
    assert!(dc.read(&eero, samba::TERMS_ATTRIBUTE).await.is_empty());
}

/// Without `enable_on_activation`, activation is the state attribute's alone: an enabled pending
/// account is activated and its flags are left as they are.
#[tokio::test]
async fn without_enabling_activation_sets_the_state_of_an_enabled_account_only() {
    let dc = shared();
    let base = dc.subtree().await;
    let eero = Person::new("eemake", EERO)
        .state("pending")
        .add_to(dc, &base)
        .await;
    let directory = directory(&dc.settings(&base));
    let id = AccountId::new(eero.clone());
    assert_eq!(
        directory.account(&id).await.unwrap().unwrap().state,
        AccountState::PendingActivation
    );
    directory
        .activate(&id, &password(GOOD), IfLocked::Refuse)
        .await
        .unwrap();
    assert_eq!(dc.read(&eero, samba::STATE_ATTRIBUTE).await, ["active"]);
    assert_eq!(
        dc.read(&eero, "userAccountControl").await,
        [samba::NORMAL_ACCOUNT]
    );
    assert!(dc.can_bind(&eero, GOOD).await);
}

// ---- What check-config finds out ----

#[tokio::test]
async fn the_probe_finds_the_delegated_service_account_s_rights() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    let before = dc.revision(&tero).await;
    let directory = directory(&LdapSettings {
        shown_username_attribute: Some("userPrincipalName".to_owned()),
        ..enabling(dc, &base)
    });
    let report = directory.probe(Needs { unlock: true }).await.unwrap();
    let shown = format!("{report:#?}");
    assert_eq!(report.missing_count(), 0, "{shown}");
    for check in [
        "bind as the service account",
        "read base_dn",
        "find accounts under base_dn",
        "read employeeID (national_id_attribute)",
        "read sAMAccountName (username_attribute)",
        "read userPrincipalName (shown_username_attribute)",
        "read employeeType (category_attribute)",
        "read employeeNumber (state_attribute)",
        "people cannot write employeeNumber (state_attribute) of their own account",
        "Reset Password on the accounts",
        "write employeeNumber (state_attribute",
        "write msDS-cloudExtensionAttribute2 (terms_accepted_attribute",
        "write userAccountControl (enable_on_activation)",
        "write lockoutTime (accounts.reset_unlocks)",
        "find the accounts' groups",
        "read member of Domain Admins",
    ] {
        assert_eq!(
            report.outcome_of(check),
            Some(&Outcome::Ok),
            "{check}: {shown}"
        );
    }
    assert_eq!(dc.revision(&tero).await, before, "the probe wrote");
}

#[tokio::test]
async fn the_probe_names_what_an_undelegated_service_account_lacks_and_writes_nothing() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    let before = dc.revision(&tero).await;
    let directory = directory(&LdapSettings {
        bind_dn: samba::READER_DN.to_owned(),
        bind_password_file: Some(dc.reader_password_file.clone()),
        must_change_at_next_logon: true,
        ..enabling(dc, &base)
    });
    let report = directory.probe(Needs { unlock: true }).await.unwrap();
    let shown = format!("{report:#?}");
    for check in [
        "Reset Password on the accounts",
        "write employeeNumber",
        "write msDS-cloudExtensionAttribute2",
        "write userAccountControl",
        "write lockoutTime",
        "write pwdLastSet",
    ] {
        assert!(
            matches!(report.outcome_of(check), Some(Outcome::Missing { .. })),
            "{check}: {shown}"
        );
    }
    assert_eq!(report.missing_count(), 6, "{shown}");
    // What every account of the domain may do, it may.
    for check in [
        "read employeeID",
        "read sAMAccountName",
        "find the accounts' groups",
        "read member of Domain Admins",
    ] {
        assert_eq!(
            report.outcome_of(check),
            Some(&Outcome::Ok),
            "{check}: {shown}"
        );
    }
    assert_eq!(dc.revision(&tero).await, before, "the probe wrote");
}

/// A state people may write on their own account could be set to "pending" before the account is
/// closed, and the closed account enabled again by an activation.
#[tokio::test]
async fn the_probe_refuses_a_state_attribute_people_may_write_themselves_when_activation_enables() {
    let dc = shared();
    let base = dc.subtree().await;
    Person::new("tetyra", TERO).add_to(dc, &base).await;
    let self_writable = LdapSettings {
        state_attribute: Some("msDS-cloudExtensionAttribute1".to_owned()),
        ..enabling(dc, &base)
    };
    let report = directory(&self_writable)
        .probe(Needs::default())
        .await
        .unwrap();
    let check = "people cannot write msDS-cloudExtensionAttribute1 (state_attribute)";
    match report.outcome_of(check) {
        Some(Outcome::Missing { fix }) => assert!(fix.contains("deny SELF"), "{fix}"),
        other => panic!("expected Missing, got {other:?}"),
    }
    // Without enabling at activation, the state attribute cannot reopen a closed account.
    let report = directory(&LdapSettings {
        enable_on_activation: false,
        ..self_writable
    })
    .probe(Needs::default())
    .await
    .unwrap();
    assert_eq!(report.outcome_of(check), None);
    // (The test domain delegates writing employeeNumber, not this attribute.)
    assert!(matches!(
        report.outcome_of("write msDS-cloudExtensionAttribute1"),
        Some(Outcome::Missing { .. })
    ));
    assert_eq!(report.missing_count(), 1, "{report:#?}");
}

#[tokio::test]
async fn the_probe_names_an_attribute_the_schema_does_not_have() {
    let dc = shared();
    let base = dc.subtree().await;
    Person::new("tetyra", TERO).add_to(dc, &base).await;
    let directory = directory(&LdapSettings {
        // Exchange's attribute, which this domain's schema lacks.
        national_id_attribute: "extensionAttribute1".to_owned(),
        ..dc.settings(&base)
    });
    let report = directory.probe(Needs::default()).await.unwrap();
    match report.outcome_of("read extensionAttribute1 (national_id_attribute)") {
        Some(Outcome::Missing { fix }) => {
            assert!(
                fix.contains("directory.ldap.national_id_attribute"),
                "{fix}"
            )
        }
        other => panic!("expected Missing, got {other:?}"),
    }
}

/// `tunnus check-config` binds as the configured account and prints what it found; missing rights
/// fail the check.
#[tokio::test]
async fn check_config_reports_the_service_account_s_rights_against_the_domain_controller() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    let before = dc.revision(&tero).await;
    let dir = crate::redis::TempDir::new("check-config-ad");
    let run = |bind_dn: &str, password_file: &std::path::Path| {
        let file = dir.path().join(format!("{}.toml", bind_dn.len()));
        let settings = format!(
            r#"
[directory]
kind = "ldap"
[directory.ldap]
flavour = "active_directory"
url = "{url}"
ca_file = "{ca}"
bind_dn = "{bind_dn}"
bind_password_file = "{password}"
base_dn = "{base}"
user_filter = "(&(objectCategory=person)(objectClass=user))"
national_id_attribute = "employeeID"
national_id_format = "{{hetu}}"
category_attribute = "employeeType"
state_attribute = "{state}"
enable_on_activation = true
[accounts]
reset_unlocks = true
"#,
            url = dc.ldaps_url,
            ca = dc.ca_file.display(),
            password = password_file.display(),
            state = samba::STATE_ATTRIBUTE,
        );
        std::fs::write(&file, settings).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_tunnus"))
            .args(["check-config", "--dev", "--config", file.to_str().unwrap()])
            .env_remove("TUNNUS_BROKER__ISSUER")
            .output()
            .unwrap()
    };
    let text = |output: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let delegated = run(samba::SERVICE_DN, &dc.service_password_file);
    let shown = text(&delegated);
    assert!(delegated.status.success(), "{shown}");
    assert!(
        shown.contains("  ok       Reset Password on the accounts"),
        "{shown}"
    );
    assert!(shown.contains("  ok       write lockoutTime"), "{shown}");
    assert!(!shown.contains("MISSING"), "{shown}");

    let reader = run(samba::READER_DN, &dc.reader_password_file);
    let shown = text(&reader);
    assert!(!reader.status.success(), "{shown}");
    assert!(
        shown.contains("  MISSING  Reset Password on the accounts: delegate"),
        "{shown}"
    );
    assert!(shown.contains("  MISSING  write lockoutTime"), "{shown}");
    assert!(
        shown.contains("lacks 4 of what the settings need"),
        "{shown}"
    );
    assert!(!shown.contains(samba::READER_PASSWORD), "{shown}");
    assert_eq!(dc.revision(&tero).await, before, "check-config wrote");
}

/// The shipped Active Directory example, pointed at the test domain by environment variables only,
/// passes `tunnus check-config` against the domain controller: its attribute names, filter and
/// rights are those of a real domain.
#[tokio::test]
async fn the_shipped_active_directory_example_checks_against_the_domain_controller() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    let before = dc.revision(&tero).await;
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/examples/active-directory.toml"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tunnus"))
        .args(["check-config", "--dev", "--config", example])
        .env_remove("TUNNUS_BROKER__ISSUER")
        .env("TUNNUS_DIRECTORY__LDAP__URL", dc.ldaps_url.as_str())
        .env("TUNNUS_DIRECTORY__LDAP__CA_FILE", &dc.ca_file)
        .env("TUNNUS_DIRECTORY__LDAP__BIND_DN", samba::SERVICE_DN)
        .env(
            "TUNNUS_DIRECTORY__LDAP__BIND_PASSWORD_FILE",
            &dc.service_password_file,
        )
        .env("TUNNUS_DIRECTORY__LDAP__BASE_DN", &base)
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown}");
    for found in [
        "  ok       Reset Password on the accounts",
        "  ok       write lockoutTime",
        "  ok       find the accounts' groups, nested and primary",
    ] {
        assert!(shown.contains(found), "{found}: {shown}");
    }
    assert!(!shown.contains("MISSING"), "{shown}");
    assert!(!shown.contains("unknown"), "{shown}");
    assert_eq!(dc.revision(&tero).await, before, "check-config wrote");
}

// ---- Through the pages ----

/// The service with its accounts in `base` of the domain controller, showing `userPrincipalName`,
/// and `toml` over the harness's settings.
async fn app_over(dc: &SambaDc, base: &str, toml: &str) -> TestApp {
    let directory: Arc<dyn Directory> = Arc::new(
        LdapDirectory::new(
            &LdapSettings {
                shown_username_attribute: Some("userPrincipalName".to_owned()),
                ..dc.settings(base)
            },
            Arc::new(ManualClock::new()),
        )
        .unwrap(),
    );
    TestApp::spawn_with(Options {
        directory: Some(directory),
        service_toml: toml.to_owned(),
        ..Options::default()
    })
    .await
}

async fn identified(app: &TestApp) -> (Browser, Page) {
    crate::harness::identified(app, TERO).await
}

async fn submit(app: &TestApp, browser: &Browser, form: &Page, password: &str) -> Page {
    crate::harness::set_password(app, browser, form, password).await
}

#[tokio::test]
async fn a_reset_through_the_pages_reaches_the_domain_controller_and_shows_the_upn() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO)
        .with_upn()
        .add_to(dc, &base)
        .await;
    let upn = format!("{}@tunnus.test", Person::account_name("tetyra", &base));
    let app = app_over(dc, &base, "").await;
    let (browser, form) = identified(&app).await;
    form.assert_contains(&upn);
    submit(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu")
        .assert_contains(&upn);
    assert!(dc.can_bind(&tero, GOOD).await);
    assert!(!dc.can_bind(&tero, OLD_PASSWORD).await);
}

/// A password the service's own rules accept but the domain's complexity rule refuses: the page
/// names the rule in the person's language and never shows the domain controller's words.
#[tokio::test]
async fn the_domain_s_refusal_is_shown_in_the_person_s_words_and_nothing_is_written() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    dc.require_complexity(&tero).await;
    let app = app_over(dc, &base, "").await;
    let (browser, form) = identified(&app).await;
    let before = dc.revision(&tero).await;
    let page = submit(&app, &browser, &form, "kahvi tunturi lumi sade routa").await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("liian yksinkertaisena")
        .assert_not_contains("0000052D")
        .assert_not_contains("check_password_restrictions")
        .assert_not_contains("complexity");
    assert_eq!(dc.revision(&tero).await, before, "written");
    assert!(dc.can_bind(&tero, OLD_PASSWORD).await);
    // The grant is kept: a password with three kinds of characters goes through.
    submit(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK);
    assert!(dc.can_bind(&tero, GOOD).await);
}

#[tokio::test]
async fn a_member_of_a_group_in_domain_admins_is_refused_at_identification() {
    let dc = shared();
    let base = dc.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(dc, &base).await;
    let helpers = add_group(dc, &base, "helpers", &[&tero]).await;
    dc.add_member(samba::DOMAIN_ADMINS_DN, &helpers).await;
    let app = app_over(
        dc,
        &base,
        "[accounts]\nrefused_groups = [\"Domain Admins\"]",
    )
    .await;
    let before = dc.revision(&tero).await;
    app.browser()
        .identify(app.person(TERO))
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Ylläpitotunnusten salasanat");
    app.assert_no_state();
    assert_eq!(dc.revision(&tero).await, before, "written");
    assert!(dc.can_bind(&tero, OLD_PASSWORD).await);
}
