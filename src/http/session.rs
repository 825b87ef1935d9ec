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
use crate::i18n::Lang;
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
    pub lang: Lang,
    pub return_to: Option<String>,
}

/// What the service remembers about an identified person between pages.
#[derive(Debug, Serialize, Deserialize)]
pub struct Session {
    pub given_name: String,
    pub family_name: String,
    pub masked_national_id: String,
    pub acr: String,
    pub csrf: String,
    pub return_to: Option<String>,
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

/// Stores `session` under a new random id and returns the id for the cookie.
pub async fn create_session(store: &dyn Store, session: &Session) -> Result<String, AppError> {
    let id = crate::random::token();
    let fresh = store
        .put_new(&session_key(&id), &encode(session)?, SESSION_TTL)
        .await?;
    if fresh {
        Ok(id)
    } else {
        Err(AppError::new(ErrorKind::Internal, "session id collided"))
    }
}

/// The session of cookie value `id`, if it exists.
pub async fn load_session(store: &dyn Store, id: &str) -> Result<Option<Session>, AppError> {
    Ok(store.get(&session_key(id)).await?.and_then(|b| decode(&b)))
}
