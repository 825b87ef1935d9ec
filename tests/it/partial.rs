//! Partial failures: the store fails at each step of a password submission in turn. Whatever
//! fails, a grant writes at most once, and the person gets a page that says what to do next; when
//! the store is back, a retry finishes the job (or the person is told to start again).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use tunnus::store::{MemoryStore, Store, StoreError};

use crate::harness::{Browser, Options, Page, TestApp};

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";

/// A memory store that fails one chosen call: the first `op` on a key starting with `prefix`
/// after it was armed.
struct FailingStore {
    inner: MemoryStore,
    armed: Mutex<Option<(&'static str, &'static str)>>,
    failed: Mutex<u32>,
}

impl FailingStore {
    fn new(clock: Arc<dyn tunnus::clock::Clock>) -> Self {
        Self {
            inner: MemoryStore::new(clock),
            armed: Mutex::new(None),
            failed: Mutex::new(0),
        }
    }

    fn arm(&self, op: &'static str, prefix: &'static str) {
        *self.armed.lock().unwrap() = Some((op, prefix));
    }

    fn failures(&self) -> u32 {
        *self.failed.lock().unwrap()
    }

    fn check(&self, op: &str, key: &str) -> Result<(), StoreError> {
        let mut armed = self.armed.lock().unwrap();
        if let Some((armed_op, prefix)) = *armed
            && armed_op == op
            && key.starts_with(prefix)
        {
            *armed = None;
            *self.failed.lock().unwrap() += 1;
            return Err(StoreError::Unavailable(format!(
                "{op} failed (injected by a test)"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FailingStore {
    fn kind(&self) -> &'static str {
        "memory"
    }
    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        self.check("put_new", key)?;
        self.inner.put_new(key, value, ttl).await
    }
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.check("put", key)?;
        self.inner.put(key, value, ttl).await
    }
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check("take", key)?;
        self.inner.take(key).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check("get", key)?;
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check("delete", key)?;
        self.inner.delete(key).await
    }
    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        self.check("incr", key)?;
        self.inner.incr(key, window).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.inner.health().await
    }
    async fn persistent(&self) -> Option<bool> {
        Some(false)
    }
    async fn schedule(&self, key: &str, member: &str, due: i64) -> Result<(), StoreError> {
        self.check("schedule", key)?;
        self.inner.schedule(key, member, due).await
    }
    async fn due(&self, key: &str, now: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.inner.due(key, now, limit).await
    }
    async fn unschedule(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.inner.unschedule(key, member).await
    }
    async fn schedule_size(&self, key: &str) -> Result<(u64, Option<i64>), StoreError> {
        self.inner.schedule_size(key).await
    }
}

async fn setup() -> (TestApp, Arc<FailingStore>, Browser, Page) {
    let store = Arc::new(FailingStore::new(Arc::new(tunnus::clock::SystemClock)));
    let app = TestApp::spawn_with(Options {
        store: Some(store.clone()),
        ..Options::default()
    })
    .await;
    let browser = app.browser();
    browser
        .identify(app.person("010170-999R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    form.assert_status(StatusCode::OK);
    (app, store, browser, form)
}

async fn submit(app: &TestApp, browser: &Browser, form: &Page) -> Page {
    crate::harness::set_password(app, browser, form, GOOD).await
}

/// The store fails at `op` on `prefix` during the first submission; returns its answer and the
/// answer to a retry.
async fn fail_once(op: &'static str, prefix: &'static str) -> (TestApp, Page, Page) {
    let (app, store, browser, form) = setup().await;
    store.arm(op, prefix);
    let first = submit(&app, &browser, &form).await;
    assert_eq!(store.failures(), 1, "{op} {prefix} was never reached");
    let retry = submit(&app, &browser, &form).await;
    (app, first, retry)
}

#[tokio::test]
async fn a_failure_before_the_grant_is_taken_writes_nothing_and_a_retry_writes() {
    let (app, first, retry) = fail_once("put", "writing:").await;
    first.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    retry
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert_eq!(app.directory.writes(), 1);
}

#[tokio::test]
async fn a_failure_while_taking_the_grant_writes_nothing_and_a_retry_writes() {
    let (app, first, retry) = fail_once("take", "grant:").await;
    first.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    retry
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert_eq!(app.directory.writes(), 1);
}

#[tokio::test]
async fn a_failure_after_the_grant_is_taken_returns_it_and_a_retry_writes() {
    let (app, first, retry) = fail_once("put_new", "account-writing:").await;
    first.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    retry
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert_eq!(app.directory.writes(), 1);
}

#[tokio::test]
async fn a_failure_after_the_write_still_tells_the_person_it_succeeded_and_never_writes_twice() {
    let (app, first, retry) = fail_once("put", "done:").await;
    // The password is written: the answer says so although the success could not be recorded.
    first
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    // A repeat cannot show the success again (it was not recorded); it must not write again,
    // and it says what to do next instead of waiting for a write nobody makes.
    assert_ne!(retry.status, StatusCode::OK, "{}", retry.body);
    assert!(retry.status == StatusCode::FORBIDDEN, "{}", retry.body);
    assert_eq!(app.directory.writes(), 1);
}

#[tokio::test]
async fn a_failure_while_returning_the_grant_loses_it_and_the_person_is_told_to_start_again() {
    let (app, store, browser, form) = setup().await;
    app.directory
        .fail_next_write_with(tunnus::directory::memory::WriteFault::Unavailable);
    store.arm("put_new", "grant:");
    let first = submit(&app, &browser, &form).await;
    first.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(store.failures(), 1);
    let retry = submit(&app, &browser, &form).await;
    retry.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.directory.writes(), 0);
    // Starting again works.
    let again = app.browser();
    again
        .identify(app.person("010170-999R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = again.get_path("/account").await;
    submit(&app, &again, &form)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(app.directory.writes(), 1);
}

#[tokio::test]
async fn a_failure_while_releasing_the_account_still_succeeds_once() {
    let (app, first, retry) = fail_once("put", "account-written:").await;
    first
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    retry
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert_eq!(app.directory.writes(), 1);
}
