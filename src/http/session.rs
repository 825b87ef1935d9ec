//! Sessions after identification and login transactions before it, kept in the [`Store`].
//!
//! Store keys are SHA-256 hashes of the browser's secret values, so whoever can read the store cannot
//! use what they read as a cookie.

use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{AppError, ErrorKind};
use crate::account::eligibility::Purpose;
use crate::directory::AccountId;
use crate::oidc::PendingLogin;
use crate::store::Store;

/// How long a login at the broker may take.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a session lasts after identification.
pub const SESSION_TTL: Duration = Duration::from_secs(10 * 60);

/// A login started in one browser and not yet finished.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginTransaction {
    pub pending: PendingLogin,
    /// Hash of the browser-binding cookie's value.
    pub binding: String,
    pub return_to: Option<String>,
}

/// What the service remembers about an identified person between pages. The plain identity code is
/// not kept: the audit pseudonym stands for it, and the birth date (which every form of the code
/// contains) is enough for the password rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: time::Date,
    pub subject: String,
    pub acr: String,
    pub csrf: String,
    pub return_to: Option<String>,
    pub username: String,
    pub purpose: Purpose,
}

/// The right to write one password to one account. Taken while the write runs, so two racing
/// submissions cannot both write; put back when the write failed and may be retried.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub account: AccountId,
    pub purpose: Purpose,
}

/// The recorded result of a successful write, so a retried submission shows the success again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Done {
    pub username: String,
    pub purpose: Purpose,
}

/// base64url SHA-256 of `secret`.
pub fn fingerprint(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

/// Constant-time equality of two strings' SHA-256 fingerprints.
pub fn same_secret(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(
        fingerprint(a).as_bytes(),
        fingerprint(b).as_bytes(),
    )
    .is_ok()
}

fn login_key(state: &str) -> String {
    format!("login:{}", fingerprint(state))
}

fn session_key(id: &str) -> String {
    format!("session:{}", fingerprint(id))
}

fn grant_key(id: &str) -> String {
    format!("grant:{}", fingerprint(id))
}

fn done_key(id: &str) -> String {
    format!("done:{}", fingerprint(id))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, AppError> {
    serde_json::to_vec(value)
        .map_err(|error| AppError::new(ErrorKind::Internal, format!("encoding state: {error}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

/// Stores a new login transaction under its `state`.
pub async fn put_login(store: &dyn Store, tx: &LoginTransaction) -> Result<(), AppError> {
    let fresh = store
        .put_new(&login_key(&tx.pending.state), &encode(tx)?, LOGIN_TTL)
        .await?;
    if fresh {
        Ok(())
    } else {
        Err(AppError::new(ErrorKind::Internal, "state value collided"))
    }
}

/// Takes the login transaction of `state`: it can be taken once.
pub async fn take_login(
    store: &dyn Store,
    state: &str,
) -> Result<Option<LoginTransaction>, AppError> {
    Ok(store
        .take(&login_key(state))
        .await?
        .and_then(|b| decode(&b)))
}

/// Stores `session` and its `grant` under a new random id and returns the id for the cookie.
pub async fn create_session(
    store: &dyn Store,
    session: &Session,
    grant: &Grant,
) -> Result<String, AppError> {
    let id = crate::random::token();
    let fresh = store
        .put_new(&session_key(&id), &encode(session)?, SESSION_TTL)
        .await?;
    if !fresh {
        return Err(AppError::new(ErrorKind::Internal, "session id collided"));
    }
    store
        .put(&grant_key(&id), &encode(grant)?, SESSION_TTL)
        .await?;
    Ok(id)
}

/// Takes the grant of session `id`: whoever gets it may write, once.
pub async fn take_grant(store: &dyn Store, id: &str) -> Result<Option<Grant>, AppError> {
    Ok(store.take(&grant_key(id)).await?.and_then(|b| decode(&b)))
}

/// Puts a grant back after a write that failed and may be retried, for what is left of the session.
pub async fn return_grant(store: &dyn Store, id: &str, grant: &Grant) -> Result<(), AppError> {
    if store.get(&session_key(id)).await?.is_some() {
        store
            .put_new(&grant_key(id), &encode(grant)?, SESSION_TTL)
            .await?;
    }
    Ok(())
}

/// Ends session `id`: the session, its grant and any recorded success.
pub async fn end(store: &dyn Store, id: &str) -> Result<(), AppError> {
    store.delete(&session_key(id)).await?;
    store.delete(&grant_key(id)).await?;
    store.delete(&done_key(id)).await?;
    Ok(())
}

/// How long a finished session is kept: long enough that a repeated submission or a reload shows the
/// success, short enough that a busy service does not hold thousands of finished sessions.
pub const DONE_TTL: Duration = Duration::from_secs(2 * 60);

/// Records a successful write before the person is answered, and shortens the session to
/// [`DONE_TTL`]: nothing is left to do with it but show the success again.
pub async fn record_done(
    store: &dyn Store,
    id: &str,
    session: &Session,
    done: &Done,
) -> Result<(), AppError> {
    store.put(&done_key(id), &encode(done)?, DONE_TTL).await?;
    store
        .put(&session_key(id), &encode(session)?, DONE_TTL)
        .await?;
    Ok(())
}

/// How long a submission waits for a concurrent one of the same session to finish its write.
const CONCURRENT_WRITE_WAIT: Duration = Duration::from_secs(15);

/// Waits while another submission of session `id` holds the grant, and returns its recorded success.
/// Returns `None` as soon as neither a grant nor a success exists, or when the wait runs out.
pub async fn wait_for_done(store: &dyn Store, id: &str) -> Result<Option<Done>, AppError> {
    let deadline = tokio::time::Instant::now() + CONCURRENT_WRITE_WAIT;
    loop {
        if let Some(done) = load_done(store, id).await? {
            return Ok(Some(done));
        }
        let writing = store.get(&session_key(id)).await?.is_some()
            && store.get(&grant_key(id)).await?.is_none();
        if !writing || tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The recorded success of session `id`, if its write succeeded.
pub async fn load_done(store: &dyn Store, id: &str) -> Result<Option<Done>, AppError> {
    Ok(store.get(&done_key(id)).await?.and_then(|b| decode(&b)))
}

/// The session of cookie value `id`, if it exists.
pub async fn load_session(store: &dyn Store, id: &str) -> Result<Option<Session>, AppError> {
    Ok(store.get(&session_key(id)).await?.and_then(|b| decode(&b)))
}
