//! The grant cannot be forged or moved: someone who can write to the shared Redis (a Redis shared
//! with other services, a leaked password) still cannot set the password of an account that is not
//! the identified person's. And the account is read again before the write: one disabled, moved out
//! of the allowed categories or made privileged since identification is not written.

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use tunnus::config::Settings;
use tunnus::directory::AccountState;
use tunnus::store::{RedisStore, Store};

use crate::harness::{Browser, Options, Page, TestApp};
use crate::redis::{free_port, shared_server};

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";
const OTHER: &str = "sade-Lumi-tunturi-75-kahvi";
/// Tero Testi, whose account `tetyra` is the one attacked.
const VICTIM: &str = "010170-999R";
/// Pertti, who owns `pehama` and tries to write to `tetyra`.
const ATTACKER: &str = "030883-925M";

/// The service with its state in the shared redis-server under a prefix of its own, and a plain
/// connection to the same server for writing into it as an outsider would.
struct Shared {
    app: TestApp,
    prefix: String,
    redis: ::redis::aio::MultiplexedConnection,
}

impl Shared {
    async fn start() -> Shared {
        let prefix = format!("integrity-{}:", free_port(false));
        let settings = Settings::from_toml(&format!(
            "[store]\nkind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{prefix}\"",
            shared_server().url()
        ))
        .unwrap();
        let store: Arc<dyn Store> = Arc::new(RedisStore::new(&settings.store).unwrap());
        let app = TestApp::spawn_with(Options {
            store: Some(store),
            ..Options::default()
        })
        .await;
        let redis = ::redis::Client::open(shared_server().url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Shared { app, prefix, redis }
    }

    /// Identifies `hetu` in a new browser: the browser, its account page and its session id.
    async fn identified(&self, hetu: &str) -> (Browser, Page, String) {
        let browser = self.app.browser();
        let callback = browser.identify(self.app.person(hetu)).await;
        callback.assert_status(StatusCode::SEE_OTHER);
        let session = session_cookie(&callback);
        let form = browser.get_path("/account").await;
        form.assert_status(StatusCode::OK);
        (browser, form, session)
    }

    /// The store key of record `kind` of the session with cookie value `session`.
    fn key(&self, kind: &str, session: &str) -> String {
        format!(
            "{}{kind}:{}",
            self.prefix,
            tunnus::secret::fingerprint(session)
        )
    }

    async fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        ::redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.redis)
            .await
            .unwrap()
    }

    async fn set(&mut self, key: &str, value: &[u8]) {
        let () = ::redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EX")
            .arg(600)
            .query_async(&mut self.redis)
            .await
            .unwrap();
    }

    async fn submit(&self, browser: &Browser, form: &Page, password: &str) -> Page {
        browser
            .post_form(
                self.app.at("/account"),
                &[
                    ("csrf", &form.field("csrf")),
                    ("password", password),
                    ("confirmation", password),
                ],
            )
            .await
    }
}

fn session_cookie(page: &Page) -> String {
    page.headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|cookie| cookie.strip_prefix("tunnus_session="))
        .and_then(|rest| rest.split(';').next())
        .expect("the callback sets the session cookie")
        .to_owned()
}

/// The JSON of a record as the service stored it, without the 32-byte seal in front.
fn record_json(stored: &[u8]) -> serde_json::Value {
    serde_json::from_slice(&stored[32..]).expect("a stored record is a seal and JSON")
}

#[tokio::test]
async fn a_session_and_grant_written_into_redis_by_an_outsider_write_nothing() {
    let mut shared = Shared::start().await;
    let (browser, form, session) = shared.identified(ATTACKER).await;
    form.assert_contains("pehama");
    // The attacker's own records, rewritten to name the victim's account: consistent with each
    // other, so that only their seal can tell them apart from the service's own.
    let mut records = Vec::new();
    for kind in ["session", "grant"] {
        let key = shared.key(kind, &session);
        let mut record = record_json(&shared.get(&key).await.unwrap());
        record["account"] = "tetyra".into();
        if kind == "session" {
            record["username"] = "tetyra".into();
        }
        records.push((key, serde_json::to_vec(&record).unwrap()));
    }
    // Plain, as an earlier version stored records, and behind a made-up seal.
    for seal in [&[][..], &[7u8; 32][..]] {
        for (key, json) in &records {
            shared.set(key, &[seal, json].concat()).await;
        }
        browser
            .get_path("/account")
            .await
            .assert_status(StatusCode::FORBIDDEN);
        let answer = shared.submit(&browser, &form, GOOD).await;
        answer.assert_status(StatusCode::FORBIDDEN);
        assert!(
            !answer.body.contains("Salasana on vaihdettu"),
            "{}",
            answer.body
        );
        assert_eq!(
            shared.app.directory.writes(),
            0,
            "a forged grant was written"
        );
        assert!(!shared.app.directory.verify_password("tetyra", GOOD));
        assert!(!shared.app.directory.verify_password("pehama", GOOD));
    }
    let audit = shared.app.audit_log();
    assert!(!audit.contains("\"event\":\"reset\""), "{audit}");
}

#[tokio::test]
async fn a_grant_or_session_copied_from_another_session_writes_nothing() {
    let mut shared = Shared::start().await;
    let (victim_browser, victim_form, victim) = shared.identified(VICTIM).await;
    victim_form.assert_contains("tetyra");
    let (browser, form, attacker) = shared.identified(ATTACKER).await;

    // The victim's grant under the attacker's session.
    let stolen = shared
        .get(&shared.key("grant", &victim))
        .await
        .expect("the victim's grant is in Redis");
    let key = shared.key("grant", &attacker);
    shared.set(&key, &stolen).await;
    shared
        .submit(&browser, &form, OTHER)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(
        shared.app.directory.writes(),
        0,
        "a moved grant was written"
    );

    // The victim's session and grant both, so that the page would show the victim's account.
    for kind in ["session", "grant"] {
        let record = shared.get(&shared.key(kind, &victim)).await.unwrap();
        let key = shared.key(kind, &attacker);
        shared.set(&key, &record).await;
    }
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    let answer = browser
        .post_form(
            shared.app.at("/account"),
            &[
                ("csrf", &victim_form.field("csrf")),
                ("password", OTHER),
                ("confirmation", OTHER),
            ],
        )
        .await;
    answer.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(
        shared.app.directory.writes(),
        0,
        "a moved session was written"
    );
    assert!(!shared.app.directory.verify_password("tetyra", OTHER));

    // The victim's own session is untouched and still works: the records were real.
    shared
        .submit(&victim_browser, &victim_form, GOOD)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert!(shared.app.directory.verify_password("tetyra", GOOD));
    assert_eq!(shared.app.directory.writes(), 1);
}

/// Identifies Tero, lets `change` happen to his account, submits, and expects a refusal page with
/// `text`, nothing written and the session over.
async fn changed_before_the_write(
    change: impl FnOnce(&mut tunnus::directory::Account),
    text: &str,
) {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser
        .identify(app.person(VICTIM))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    assert!(app.directory.change("tetyra", change));
    let answer = browser
        .post_form(
            app.at("/account"),
            &[
                ("csrf", &form.field("csrf")),
                ("password", GOOD),
                ("confirmation", GOOD),
            ],
        )
        .await;
    answer
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains(text);
    assert_eq!(app.directory.writes(), 0);
    assert!(!app.directory.verify_password("tetyra", GOOD));
    app.assert_no_state();
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    let audit = app.audit_log();
    assert!(
        audit.contains("\"event\":\"reset\"") && audit.contains("\"outcome\":\"refused\""),
        "{audit}"
    );
}

#[tokio::test]
async fn an_account_made_privileged_after_identification_is_not_written() {
    changed_before_the_write(
        |account| {
            account
                .groups
                .push("cn=it-admins,ou=groups,dc=example,dc=fi".into())
        },
        "Ylläpitotunnusten",
    )
    .await;
}

#[tokio::test]
async fn an_account_disabled_after_identification_is_not_written() {
    changed_before_the_write(
        |account| account.state = AccountState::Disabled,
        "on suljettu",
    )
    .await;
}

#[tokio::test]
async fn an_account_moved_to_a_refused_category_after_identification_is_not_written() {
    changed_before_the_write(
        |account| account.category = "external".into(),
        "Tämä palvelu on opiskelijoille",
    )
    .await;
}
