//! The LDAP directory against a real slapd (see `slapd.rs`): what only LDAP has — the user filter,
//! escaping, the state and terms attributes, the stored hash, the password policy's refusals and
//! their details, the group walk's depth, ppolicy's locks, TLS, result codes and failures. What every backend must do is in
//! `directory_contract.rs`. Every refusal also checks that nothing was written.

use std::sync::Arc;
use std::time::Duration;

use time::macros::datetime;
use tunnus::clock::ManualClock;
use tunnus::directory::ldap::Flavour;
use tunnus::directory::{
    AccountId, AccountState, Directory, DirectoryError, IfLocked, LdapDirectory, LdapSettings,
    NewPassword, PolicyRefusal,
};
use tunnus::identity::NationalId;

use crate::slapd::{self, Slapd, add, shared};

const SCHAC: &str = "urn:schac:personalUniqueID:fi:FIC:";
const TERO: &str = "010170-999R";
const PAIVI: &str = "210281-9988";
const NOBODY: &str = "020365-999P";
const OLD_PASSWORD: &str = "vanha salasana 2019";
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

/// One person entry to add under a test's subtree.
struct Person<'a> {
    uid: &'a str,
    national_id: Option<String>,
    category: &'a str,
    state: Option<&'a str>,
    password: Option<&'a str>,
}

impl<'a> Person<'a> {
    fn new(uid: &'a str, code: &str) -> Self {
        Self {
            uid,
            national_id: Some(format!("{SCHAC}{code}")),
            category: "student",
            state: None,
            password: Some(OLD_PASSWORD),
        }
    }

    fn state(self, state: &'a str) -> Self {
        Self {
            state: Some(state),
            ..self
        }
    }

    fn stored_as(self, value: &str) -> Self {
        Self {
            national_id: Some(value.to_owned()),
            ..self
        }
    }

    fn without_password(self) -> Self {
        Self {
            password: None,
            ..self
        }
    }

    /// Adds the person as the root DN and returns the entry's DN.
    async fn add_to(self, slapd: &Slapd, base: &str) -> String {
        let dn = format!("uid={},{base}", ldap3::dn_escape(self.uid));
        let cn = format!("Given {}", self.uid);
        let mut attributes: Vec<(&str, Vec<&str>)> = vec![
            (
                "objectClass",
                vec!["inetOrgPerson", "schacLinkageIdentifiers", "tunnusAccount"],
            ),
            ("uid", vec![self.uid]),
            ("cn", vec![&cn]),
            ("givenName", vec!["Tero Testi"]),
            ("sn", vec!["Äyrämö"]),
            ("employeeType", vec![self.category]),
        ];
        if let Some(value) = &self.national_id {
            attributes.push(("schacPersonalUniqueID", vec![value]));
        }
        if let Some(state) = self.state {
            attributes.push(("tunnusAccountState", vec![state]));
        }
        if let Some(password) = self.password {
            attributes.push(("userPassword", vec![password]));
        }
        let attributes: Vec<(&str, &[&str])> = attributes
            .iter()
            .map(|(name, values)| (*name, values.as_slice()))
            .collect();
        add(&mut slapd.admin().await, &dn, &attributes).await;
        dn
    }
}

async fn usernames(directory: &LdapDirectory, code: &str) -> Vec<String> {
    let mut names: Vec<String> = directory
        .find_by_national_id(&hetu(code))
        .await
        .unwrap()
        .into_iter()
        .map(|account| account.username)
        .collect();
    names.sort();
    names
}

fn assert_misconfigured(result: Result<impl std::fmt::Debug, DirectoryError>, key: &str) {
    match result {
        Err(DirectoryError::Misconfigured { detail }) => {
            assert!(detail.contains(key), "{detail}");
            assert!(
                !detail.contains(TERO) && !detail.contains("999R"),
                "{detail}"
            );
        }
        other => panic!("expected Misconfigured naming {key}, got {other:?}"),
    }
}

fn assert_unavailable(result: Result<impl std::fmt::Debug, DirectoryError>) {
    match result {
        Err(DirectoryError::Unavailable { detail }) => {
            assert!(!detail.contains(TERO), "{detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Lookups, reads and writes go only to entries the user filter (`inetOrgPerson`) lets through,
/// whatever else an entry carries.
#[tokio::test]
async fn entries_outside_the_user_filter_are_neither_found_nor_read_nor_written() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let tero = Person::new("tetyra", TERO).add_to(slapd, &base).await;
    let printer = format!("cn=printer,{base}");
    add(
        &mut slapd.admin().await,
        &printer,
        &[
            (
                "objectClass",
                &["device", "simpleSecurityObject", "schacLinkageIdentifiers"],
            ),
            ("cn", &["printer"]),
            ("schacPersonalUniqueID", &[&format!("{SCHAC}{TERO}")]),
            ("userPassword", &[OLD_PASSWORD]),
        ],
    )
    .await;
    let directory = directory(&slapd.settings(&base));

    let found = directory.find_by_national_id(&hetu(TERO)).await.unwrap();
    let found: Vec<_> = found.into_iter().map(|account| account.id).collect();
    assert_eq!(found, [AccountId::new(tero)]);
    let account = AccountId::new(printer.clone());
    assert!(directory.account(&account).await.unwrap().is_none());
    let new = "uusi pitkä salasana 2";
    let reset = directory
        .reset_password(&account, &password(new), IfLocked::Refuse)
        .await;
    assert!(
        matches!(reset, Err(DirectoryError::AccountNotFound)),
        "{reset:?}"
    );
    let activation = directory
        .activate(&account, &password(new), IfLocked::Refuse)
        .await;
    assert!(
        matches!(activation, Err(DirectoryError::AccountNotFound)),
        "{activation:?}"
    );
    assert!(slapd.can_bind(&printer, OLD_PASSWORD).await);
    assert!(!slapd.can_bind(&printer, new).await);
}

#[tokio::test]
async fn lookup_reads_the_state_attribute() {
    let slapd = shared();
    let base = slapd.subtree().await;
    Person::new("pending", TERO)
        .state("pending")
        .add_to(slapd, &base)
        .await;
    Person::new("closed", PAIVI)
        .state("disabled")
        .add_to(slapd, &base)
        .await;
    Person::new("odd", NOBODY)
        .state("archived")
        .add_to(slapd, &base)
        .await;
    let directory = directory(&slapd.settings(&base));
    let state = async |code| directory.find_by_national_id(&hetu(code)).await.unwrap()[0].state;
    assert_eq!(state(TERO).await, AccountState::PendingActivation);
    assert_eq!(state(PAIVI).await, AccountState::Disabled);
    assert_eq!(state(NOBODY).await, AccountState::Disabled);
}

#[tokio::test]
async fn hostile_characters_in_the_configured_format_are_matched_literally() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let hostile = "*)(uid=*))(|(x=\\{hetu}";
    Person::new("plain", TERO).add_to(slapd, &base).await;
    Person::new("literal", TERO)
        .stored_as(&hostile.replace("{hetu}", TERO))
        .add_to(slapd, &base)
        .await;
    Person::new("wildcard", TERO)
        .stored_as(&format!("{TERO}*"))
        .add_to(slapd, &base)
        .await;
    Person::new("longer", TERO)
        .stored_as(&format!("{TERO}-extra"))
        .add_to(slapd, &base)
        .await;

    let with_format = |format: &str| {
        directory(&LdapSettings {
            national_id_format: format.to_owned(),
            ..slapd.settings(&base)
        })
    };
    assert_eq!(usernames(&with_format(hostile), TERO).await, ["literal"]);
    assert_eq!(usernames(&with_format("{hetu}*"), TERO).await, ["wildcard"]);
    assert!(usernames(&with_format("{hetu}"), TERO).await.is_empty());
    assert_eq!(
        usernames(&with_format(&format!("{SCHAC}{{hetu}}")), TERO).await,
        ["plain"]
    );
}

#[tokio::test]
async fn a_reset_stores_a_hash_the_person_can_bind_with() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = Person::new("tetyra", TERO).add_to(slapd, &base).await;
    let directory = directory(&slapd.settings(&base));

    let new = "uusi pitkä salasana 1";
    directory
        .reset_password(
            &AccountId::new(dn.clone()),
            &password(new),
            IfLocked::Refuse,
        )
        .await
        .unwrap();

    assert!(slapd.can_bind(&dn, new).await);
    assert!(!slapd.can_bind(&dn, OLD_PASSWORD).await);
    let stored = slapd.read(&dn, "userPassword").await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].starts_with("{SSHA}"), "{}", stored[0]);
    assert!(!stored[0].contains(new));
    assert!(slapd.read(&dn, "tunnusAccountState").await.is_empty());
    assert!(slapd.read(&dn, "tunnusTermsAccepted").await.is_empty());
}

#[tokio::test]
async fn accounts_whose_dn_needs_escaping_are_found_and_written() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let uid = " o'hara, jr+1=\"x\"#Ä ";
    let dn = Person::new(uid, TERO).add_to(slapd, &base).await;
    let directory = directory(&slapd.settings(&base));

    let found = directory.find_by_national_id(&hetu(TERO)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].username, uid);
    let new = "uusi pitkä salasana 9";
    directory
        .reset_password(&found[0].id, &password(new), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(slapd.can_bind(&dn, new).await);
    assert!(!slapd.can_bind(&dn, OLD_PASSWORD).await);
}

#[tokio::test]
async fn activation_sets_the_password_the_state_and_the_terms_time() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = Person::new("eemake", TERO)
        .state("pending")
        .without_password()
        .add_to(slapd, &base)
        .await;
    let directory = directory(&slapd.settings(&base));

    let chosen = "ensimmäinen salasana 7";
    directory
        .activate(
            &AccountId::new(dn.clone()),
            &password(chosen),
            IfLocked::Refuse,
        )
        .await
        .unwrap();

    assert!(slapd.can_bind(&dn, chosen).await);
    assert_eq!(slapd.read(&dn, "tunnusAccountState").await, ["active"]);
    assert_eq!(
        slapd.read(&dn, "tunnusTermsAccepted").await,
        ["20260504030201Z"]
    );
    let found = directory.find_by_national_id(&hetu(TERO)).await.unwrap();
    assert_eq!(found[0].state, AccountState::Active);
}

#[tokio::test]
async fn a_retried_activation_completes_one_whose_password_was_already_written() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = Person::new("eemake", TERO)
        .state("pending")
        .without_password()
        .add_to(slapd, &base)
        .await;
    let directory = directory(&slapd.settings(&base));
    let account = AccountId::new(dn.clone());
    let chosen = "ensimmäinen salasana 8";

    // The first attempt got as far as the password (a reset writes only that).
    directory
        .reset_password(&account, &password(chosen), IfLocked::Refuse)
        .await
        .unwrap();
    assert_eq!(slapd.read(&dn, "tunnusAccountState").await, ["pending"]);

    // The directory's history refuses the same password again; the retry still completes.
    directory
        .activate(&account, &password(chosen), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(slapd.can_bind(&dn, chosen).await);
    assert_eq!(slapd.read(&dn, "tunnusAccountState").await, ["active"]);
    assert_eq!(
        slapd.read(&dn, "tunnusTermsAccepted").await,
        ["20260504030201Z"]
    );

    // And once more, as after an answer lost on the way back.
    directory
        .activate(&account, &password(chosen), IfLocked::Refuse)
        .await
        .unwrap();
    directory
        .reset_password(&account, &password(chosen), IfLocked::Refuse)
        .await
        .unwrap();
    assert!(slapd.can_bind(&dn, chosen).await);
}

#[tokio::test]
async fn the_directory_s_password_policy_refusals_are_categorised_and_change_nothing() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = Person::new("tetyra", TERO)
        .state("pending")
        .add_to(slapd, &base)
        .await;
    let directory = directory(&slapd.settings(&base));
    let account = AccountId::new(dn.clone());

    // The test policy wants 12 characters.
    for attempt in [
        directory
            .reset_password(&account, &password("lyhyt"), IfLocked::Refuse)
            .await,
        directory
            .activate(&account, &password("lyhyt"), IfLocked::Refuse)
            .await,
    ] {
        match attempt {
            Err(DirectoryError::PolicyRejected { refusal, detail }) => {
                assert_eq!(refusal, PolicyRefusal::TooShort);
                assert!(detail.contains("result 19"), "{detail}");
                assert!(!detail.contains("lyhyt"), "{detail}");
            }
            other => panic!("expected PolicyRejected, got {other:?}"),
        }
    }
    assert!(slapd.can_bind(&dn, OLD_PASSWORD).await);
    assert_eq!(slapd.read(&dn, "tunnusAccountState").await, ["pending"]);
    assert!(slapd.read(&dn, "tunnusTermsAccepted").await.is_empty());

    // The test policy remembers three passwords.
    let first = "ensimmäinen salasana 1";
    let second = "toinen salasana 22";
    directory
        .reset_password(&account, &password(first), IfLocked::Refuse)
        .await
        .unwrap();
    directory
        .reset_password(&account, &password(second), IfLocked::Refuse)
        .await
        .unwrap();
    let reused = directory
        .activate(&account, &password(first), IfLocked::Refuse)
        .await;
    assert!(
        matches!(
            reused,
            Err(DirectoryError::PolicyRejected {
                refusal: PolicyRefusal::RecentlyUsed,
                ..
            })
        ),
        "{reused:?}"
    );
    assert!(slapd.can_bind(&dn, second).await);
    assert!(!slapd.can_bind(&dn, first).await);
    assert_eq!(slapd.read(&dn, "tunnusAccountState").await, ["pending"]);
}

#[tokio::test]
async fn a_stopped_or_absent_directory_is_unavailable() {
    let mut own = Slapd::start();
    let base = own.subtree().await;
    let dn = Person::new("tetyra", TERO).add_to(&own, &base).await;
    let directory = directory(&own.settings(&base));
    directory.health().await.unwrap();
    assert_eq!(usernames(&directory, TERO).await, ["tetyra"]);

    own.stop();
    assert_unavailable(directory.find_by_national_id(&hetu(TERO)).await);
    assert_unavailable(
        directory
            .reset_password(
                &AccountId::new(dn),
                &password("uusi pitkä salasana 3"),
                IfLocked::Refuse,
            )
            .await,
    );
    assert_unavailable(directory.health().await);

    let closed = url::Url::parse(&format!("ldap://127.0.0.1:{}", slapd::free_port())).unwrap();
    let nowhere = self::directory(&LdapSettings {
        url: Some(closed),
        ..shared().settings(slapd::SUFFIX)
    });
    assert_unavailable(nowhere.find_by_national_id(&hetu(TERO)).await);
    assert_unavailable(nowhere.health().await);
}

#[tokio::test]
async fn a_directory_that_never_answers_is_unavailable_after_the_timeout() {
    // Connections complete in the kernel's backlog, but nothing ever reads or answers them.
    let silent = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = silent.local_addr().unwrap().port();
    // Far above the configured 300 ms: reaching it means a call was not bounded at all.
    let hang = Duration::from_secs(30);
    for url in [
        format!("ldap://127.0.0.1:{port}"),
        format!("ldaps://127.0.0.1:{port}"),
    ] {
        let directory = directory(&LdapSettings {
            url: Some(url::Url::parse(&url).unwrap()),
            timeout: tunnus::config::HumanDuration(Duration::from_millis(300)),
            ..shared().settings(slapd::SUFFIX)
        });
        let account = AccountId::new(format!("uid=x,{}", slapd::SUFFIX));
        let (tero, new) = (hetu(TERO), password("uusi pitkä salasana 8"));
        let lookup = tokio::time::timeout(hang, directory.find_by_national_id(&tero));
        assert_unavailable(lookup.await.expect("the lookup hung"));
        let reset = directory.reset_password(&account, &new, IfLocked::Refuse);
        assert_unavailable(
            tokio::time::timeout(hang, reset)
                .await
                .expect("the reset hung"),
        );
        let health = tokio::time::timeout(hang, directory.health());
        assert_unavailable(health.await.expect("the health check hung"));
    }
}

#[tokio::test]
async fn ldaps_and_starttls_work_with_the_test_ca_and_plain_ldap_on_loopback() {
    let slapd = shared();
    let base = slapd.subtree().await;
    Person::new("tetyra", TERO).add_to(slapd, &base).await;
    let starttls = slapd.settings(&base);
    let ldaps = LdapSettings {
        url: Some(slapd.ldaps_url.clone()),
        ..slapd.settings(&base)
    };
    let plain = LdapSettings {
        starttls: Some(false),
        ca_file: None,
        ..slapd.settings(&base)
    };
    for settings in [starttls, ldaps, plain] {
        let directory = directory(&settings);
        directory.health().await.unwrap();
        assert_eq!(usernames(&directory, TERO).await, ["tetyra"]);
    }
}

/// An untrusted certificate is `Misconfigured`, not `Unavailable`: retrying cannot help, an operator
/// must fix `ca_file` (or the server's certificate), and the person is told so rather than asked to
/// come back later.
#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_as_misconfiguration() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = Person::new("tetyra", TERO).add_to(slapd, &base).await;
    let wrong_ca = |url: &url::Url| LdapSettings {
        url: Some(url.clone()),
        ca_file: Some(slapd.other_ca_file.clone()),
        ..slapd.settings(&base)
    };
    let system_roots = LdapSettings {
        ca_file: None,
        ..slapd.settings(&base)
    };
    let untrusted = "TLS: invalid peer certificate: UnknownIssuer; check directory.ldap.ca_file";
    for settings in [
        wrong_ca(&slapd.ldap_url),
        wrong_ca(&slapd.ldaps_url),
        system_roots,
    ] {
        let directory = directory(&settings);
        assert_misconfigured(directory.health().await, untrusted);
        assert_misconfigured(directory.find_by_national_id(&hetu(TERO)).await, untrusted);
        assert_misconfigured(
            directory
                .reset_password(
                    &AccountId::new(dn.clone()),
                    &password("uusi pitkä salasana 4"),
                    IfLocked::Refuse,
                )
                .await,
            untrusted,
        );
    }
    assert!(slapd.can_bind(&dn, OLD_PASSWORD).await);
}

#[tokio::test]
async fn a_wrong_service_password_is_misconfiguration() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = Person::new("tetyra", TERO).add_to(slapd, &base).await;
    let directory = directory(&LdapSettings {
        // The reader's password file, for the service account.
        bind_password_file: Some(slapd.reader_password_file.clone()),
        ..slapd.settings(&base)
    });
    assert_misconfigured(directory.health().await, "bind_password_file");
    assert_misconfigured(
        directory.find_by_national_id(&hetu(TERO)).await,
        "bind_password_file",
    );
    assert_misconfigured(
        directory
            .reset_password(
                &AccountId::new(dn.clone()),
                &password("uusi pitkä salasana 5"),
                IfLocked::Refuse,
            )
            .await,
        "bind_password_file",
    );
    assert!(slapd.can_bind(&dn, OLD_PASSWORD).await);
}

#[tokio::test]
async fn a_service_account_without_write_rights_is_misconfiguration_and_writes_nothing() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = Person::new("eemake", TERO)
        .state("pending")
        .add_to(slapd, &base)
        .await;
    let directory = directory(&LdapSettings {
        bind_dn: slapd::READER_DN.to_owned(),
        bind_password_file: Some(slapd.reader_password_file.clone()),
        ..slapd.settings(&base)
    });
    assert_eq!(usernames(&directory, TERO).await, ["eemake"]);
    let account = AccountId::new(dn.clone());
    assert_misconfigured(
        directory
            .reset_password(
                &account,
                &password("uusi pitkä salasana 6"),
                IfLocked::Refuse,
            )
            .await,
        "result 50",
    );
    assert_misconfigured(
        directory
            .activate(
                &account,
                &password("uusi pitkä salasana 6"),
                IfLocked::Refuse,
            )
            .await,
        "result 50",
    );
    assert!(slapd.can_bind(&dn, OLD_PASSWORD).await);
    assert_eq!(slapd.read(&dn, "tunnusAccountState").await, ["pending"]);
}

#[tokio::test]
async fn a_base_dn_that_does_not_exist_is_misconfiguration() {
    let slapd = shared();
    let directory = directory(&slapd.settings(&format!("ou=missing,{}", slapd::SUFFIX)));
    assert_misconfigured(directory.health().await, "directory.ldap.base_dn");
    assert_misconfigured(
        directory.find_by_national_id(&hetu(TERO)).await,
        "directory.ldap.base_dn",
    );
}

#[tokio::test]
async fn active_directory_flavour_is_refused_over_plain_ldap_at_build() {
    let slapd = shared();
    let settings = LdapSettings {
        flavour: Flavour::ActiveDirectory,
        starttls: Some(false),
        ..slapd.settings(slapd::SUFFIX)
    };
    match LdapDirectory::new(&settings, Arc::new(ManualClock::new())) {
        Err(DirectoryError::Misconfigured { detail }) => {
            assert!(detail.starts_with("directory.ldap.starttls:"), "{detail}")
        }
        Err(other) => panic!("expected Misconfigured, got {other:?}"),
        Ok(_) => panic!("expected Active Directory over plain ldap:// to be refused"),
    }
}

/// Tero in `g1`, `g1` in `g2`, `g2` in `g3`; returns the groups' DNs.
async fn tero_in_a_chain_of_groups(slapd: &Slapd, base: &str) -> [String; 3] {
    let tero = Person::new("tetyra", TERO).add_to(slapd, base).await;
    let group = |n: u8| format!("cn=g{n},{base}");
    slapd.add_group(&group(1), "g1", &[&tero]).await;
    slapd.add_group(&group(2), "g2", &[&group(1)]).await;
    slapd.add_group(&group(3), "g3", &[&group(2)]).await;
    [group(1), group(2), group(3)]
}

#[tokio::test]
async fn groups_are_followed_as_deep_as_the_setting_and_deeper_nesting_is_an_error() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let chain = tero_in_a_chain_of_groups(slapd, &base).await;
    let with_depth = |depth| {
        directory(&LdapSettings {
            group_nesting_depth: depth,
            ..slapd.settings(&base)
        })
    };
    let groups = async |depth| {
        with_depth(depth)
            .find_by_national_id(&hetu(TERO))
            .await
            .map(|found| found[0].groups.clone())
    };

    assert_eq!(groups(2).await.unwrap(), chain);
    assert_eq!(groups(8).await.unwrap(), chain);
    // 0: only what the account's own memberOf says.
    assert_eq!(groups(0).await.unwrap(), chain[..1]);
    // g3 is two steps above g1: one step allowed is too few, and the answer is an error, not a list
    // without g3.
    for result in [
        groups(1).await,
        with_depth(1)
            .account(&AccountId::new(format!("uid=tetyra,{base}")))
            .await
            .map(|account| account.unwrap().groups),
    ] {
        match result {
            Err(DirectoryError::Misconfigured { detail }) => {
                assert!(detail.contains("group_nesting_depth"), "{detail}")
            }
            other => panic!("expected Misconfigured, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_administrator_s_lock_for_good_reads_as_disabled_and_nothing_unlocks_it() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = Person::new("tetyra", TERO)
        .state("active")
        .add_to(slapd, &base)
        .await;
    slapd.lock(&dn, "000001010000Z").await;
    let directory = directory(&slapd.settings(&base));
    let account = directory.find_by_national_id(&hetu(TERO)).await.unwrap();
    assert_eq!(account[0].state, AccountState::Disabled);

    let before = slapd.read(&dn, "entryCSN").await;
    let id = AccountId::new(dn.clone());
    let new = "uusi pitkä salasana 3";
    for result in [
        directory
            .reset_password(&id, &password(new), IfLocked::Unlock)
            .await,
        directory
            .activate(&id, &password(new), IfLocked::Unlock)
            .await,
    ] {
        assert!(
            matches!(result, Err(DirectoryError::AccountNotFound)),
            "{result:?}"
        );
    }
    assert_eq!(slapd.read(&dn, "entryCSN").await, before, "written");
    assert_eq!(
        slapd.read(&dn, "pwdAccountLockedTime").await,
        ["000001010000Z"]
    );
    assert!(!slapd.can_bind(&dn, new).await);
    assert!(!slapd.can_bind(&dn, OLD_PASSWORD).await);
}

#[tokio::test]
async fn a_reset_that_unlocks_removes_the_lock_with_the_password_change() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = Person::new("tetyra", TERO).add_to(slapd, &base).await;
    slapd.lock(&dn, "20240101000000Z").await;
    assert!(!slapd.can_bind(&dn, OLD_PASSWORD).await, "the lock holds");
    let directory = directory(&slapd.settings(&base));

    let new = "uusi pitkä salasana 4";
    directory
        .reset_password(
            &AccountId::new(dn.clone()),
            &password(new),
            IfLocked::Unlock,
        )
        .await
        .unwrap();
    assert!(slapd.read(&dn, "pwdAccountLockedTime").await.is_empty());
    assert!(slapd.can_bind(&dn, new).await);
}

#[tokio::test]
async fn a_directory_that_keeps_the_lock_when_the_password_is_set_is_unlocked_by_the_service() {
    // ppolicy's schema without its overlay on the database: nothing removes the lock but the
    // service, with the write access to pwdAccountLockedTime the fixture's ACL grants it.
    let mut slapd = Slapd::start_with(|config| {
        config
            .replace("overlay ppolicy\n", "")
            .replace("ppolicy_default ", "# ppolicy_default ")
    });
    let base = slapd.subtree().await;
    let dn = Person::new("tetyra", TERO).add_to(&slapd, &base).await;
    slapd.lock(&dn, "20240101000000Z").await;
    let directory = directory(&slapd.settings(&base));
    let id = AccountId::new(dn.clone());
    assert!(directory.account(&id).await.unwrap().unwrap().locked);

    let new = "uusi pitkä salasana 5";
    directory
        .reset_password(&id, &password(new), IfLocked::Unlock)
        .await
        .unwrap();
    assert!(slapd.read(&dn, "pwdAccountLockedTime").await.is_empty());
    assert!(!directory.account(&id).await.unwrap().unwrap().locked);
    assert!(slapd.can_bind(&dn, new).await);
    slapd.stop();
}

// ---- References to other servers ----

/// Adds under `base` a referral entry `ou=<name>` pointing at `url`; returns its DN.
pub async fn add_referral(slapd: &Slapd, base: &str, name: &str, url: &str) -> String {
    let dn = format!("ou={name},{base}");
    add(
        &mut slapd.admin().await,
        &dn,
        &[
            ("objectClass", &["referral", "extensibleObject"]),
            ("ou", &[name]),
            ("ref", &[url]),
        ],
    )
    .await;
    dn
}

fn assert_misconfigured_naming(
    result: Result<Vec<tunnus::directory::Account>, DirectoryError>,
    wanted: &[&str],
) {
    match result {
        Err(DirectoryError::Misconfigured { detail }) => {
            for text in wanted {
                assert!(detail.contains(text), "{text} not in {detail}");
            }
        }
        other => panic!("expected Misconfigured, got {other:?}"),
    }
}

/// A base whose accounts have moved to another server answers a search with continuation
/// references only: that is the settings pointing at the wrong place, never "no account".
#[tokio::test]
async fn a_search_answered_only_with_references_is_misconfiguration_not_no_account() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let elsewhere = "ldap://ldap.elsewhere.example/ou=people,dc=elsewhere,dc=example";
    add_referral(slapd, &base, "moved", elsewhere).await;
    let directory = directory(&slapd.settings(&base));
    assert_misconfigured_naming(
        directory.find_by_national_id(&hetu(TERO)).await,
        &[elsewhere, "base_dn"],
    );
    assert_misconfigured_naming(directory.find_by_username("tetyra").await, &[elsewhere]);

    // Beside accounts, the same reference is passed over: the accounts found are the answer. A
    // person not found here may be there: still not "no account".
    slapd.add_tero(&base, OLD_PASSWORD).await;
    let found = directory.find_by_national_id(&hetu(TERO)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_misconfigured_naming(
        directory.find_by_national_id(&hetu(PAIVI)).await,
        &[elsewhere],
    );
}

/// A base_dn that is itself a referral is answered with result 10: misconfiguration, naming
/// the server referred to.
#[tokio::test]
async fn a_base_dn_that_refers_elsewhere_is_misconfiguration_naming_the_referral() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let elsewhere = "ldap://ldap.other.example/ou=people,dc=other,dc=example";
    let moved = add_referral(slapd, &base, "moved", elsewhere).await;
    let directory = directory(&slapd.settings(&moved));
    assert_misconfigured_naming(
        directory.find_by_national_id(&hetu(TERO)).await,
        &["referral", elsewhere, "directory.ldap.url"],
    );
}

/// An account whose entry became a referral between finding and writing is not written and not
/// "gone": the write's read of it is referred elsewhere, which is misconfiguration.
#[tokio::test]
async fn an_account_that_became_a_referral_is_not_written_and_not_gone() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = slapd.add_tero(&base, OLD_PASSWORD).await;
    let directory = directory(&slapd.settings(&base));
    let account = directory
        .find_by_national_id(&hetu(TERO))
        .await
        .unwrap()
        .remove(0);
    let elsewhere = "ldap://ldap.third.example/uid=tetyra,ou=people,dc=third,dc=example";
    let mut admin = slapd.admin().await;
    admin.delete(&dn).await.unwrap().success().unwrap();
    add(
        &mut admin,
        &dn,
        &[
            ("objectClass", &["referral", "extensibleObject"]),
            ("uid", &["tetyra"]),
            ("ref", &[elsewhere]),
        ],
    )
    .await;
    let written = directory
        .reset_password(
            &account.id,
            &password("uusi salasana 2026"),
            IfLocked::Refuse,
        )
        .await;
    match written {
        Err(DirectoryError::Misconfigured { detail }) => {
            assert!(detail.contains(elsewhere), "{detail}")
        }
        other => panic!("expected Misconfigured, got {other:?}"),
    }
    assert!(matches!(
        directory.account(&account.id).await,
        Err(DirectoryError::Misconfigured { .. })
    ));
    assert!(!slapd.can_bind(&dn, "uusi salasana 2026").await);
}

/// The postal address a letter is offered: per configured line, the attributes' first values joined
/// by spaces; an RFC 4517 postal address gives one line per `$`-separated part, its escapes undone.
#[tokio::test]
async fn the_postal_address_is_read_line_by_line_from_the_configured_attributes() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let dn = format!("uid=tetyra,{base}");
    add(
        &mut slapd.admin().await,
        &dn,
        &[
            (
                "objectClass",
                &["inetOrgPerson", "schacLinkageIdentifiers", "tunnusAccount"],
            ),
            ("uid", &["tetyra"]),
            ("cn", &["Tero Testi Äyrämö"]),
            ("givenName", &["Tero Testi"]),
            ("sn", &["Äyrämö"]),
            ("employeeType", &["student"]),
            ("schacPersonalUniqueID", &[&format!("{SCHAC}{TERO}")]),
            ("street", &["Yliopistonkatu 4 B 12"]),
            ("postalCode", &["00100"]),
            ("l", &["HELSINKI"]),
            (
                "postalAddress",
                &[r"c/o Äyrämö$Pl 100 \24 \5C 2$00014 HELSINGIN YLIOPISTO"],
            ),
        ],
    )
    .await;
    let read = |lines: &[&str]| {
        let mut settings = slapd.settings(&base);
        settings.address_lines = lines.iter().map(|line| (*line).to_owned()).collect();
        directory(&settings)
    };
    let found = read(&["street", "postalCode l"])
        .find_by_national_id(&hetu(TERO))
        .await
        .unwrap();
    assert_eq!(
        found[0].postal_address,
        ["Yliopistonkatu 4 B 12", "00100 HELSINKI"]
    );
    let found = read(&["postalAddress"])
        .find_by_national_id(&hetu(TERO))
        .await
        .unwrap();
    assert_eq!(
        found[0].postal_address,
        ["c/o Äyrämö", r"Pl 100 $ \ 2", "00014 HELSINGIN YLIOPISTO"]
    );
    // Without address lines, no address (and none of those attributes is read).
    let found = read(&[]).find_by_national_id(&hetu(TERO)).await.unwrap();
    assert!(found[0].postal_address.is_empty());
    // An attribute name that could change a filter is refused at start, naming the key.
    let mut settings = slapd.settings(&base);
    settings.address_lines = vec!["street)(uid=*".to_owned()];
    match LdapDirectory::new(&settings, Arc::new(ManualClock::at(ACTIVATED_AT))) {
        Err(DirectoryError::Misconfigured { detail }) => {
            assert!(
                detail.contains("helpdesk.letters.address_lines"),
                "{detail}"
            )
        }
        other => panic!("expected Misconfigured, got {:?}", other.err()),
    }
}
