//! Login transactions: a login started in one browser and not yet finished, kept in the [`Store`]
//! under a fingerprint of its `state`, read by the callback to check the browser and then taken
//! exactly once.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::PendingLogin;
use crate::secret::fingerprint;
use crate::store::{Store, StoreError};

/// How long a login at the broker may take.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);

/// A login started in one browser and not yet finished.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginTransaction {
    pub pending: PendingLogin,
    /// Fingerprint of the browser-binding cookie's value.
    pub binding: String,
    /// Where the success page sends the person, already checked against the allow-list.
    pub return_to: Option<String>,
}

/// The login transactions could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum TransactionError {
    /// The store is down: show "try again later".
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fresh random `state` was already taken, or the record could not be encoded: internal.
    #[error("login transaction: {0}")]
    Internal(&'static str),
}

/// The login transactions in the store.
#[derive(Clone)]
pub struct Transactions {
    store: Arc<dyn Store>,
}

fn key(state: &str) -> String {
    format!("login:{}", fingerprint(state))
}

impl Transactions {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Stores a new login transaction under its `state`.
    pub async fn put(&self, tx: &LoginTransaction) -> Result<(), TransactionError> {
        let value =
            serde_json::to_vec(tx).map_err(|_| TransactionError::Internal("cannot encode"))?;
        let fresh = self
            .store
            .put_new(&key(&tx.pending.state), &value, LOGIN_TTL)
            .await?;
        if fresh {
            Ok(())
        } else {
            Err(TransactionError::Internal("state value collided"))
        }
    }

    /// Reads the login transaction of `state` without using it up, so the callback can check that
    /// it comes from the transaction's browser before taking it.
    pub async fn get(&self, state: &str) -> Result<Option<LoginTransaction>, TransactionError> {
        Ok(self
            .store
            .get(&key(state))
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Takes the login transaction of `state`: it can be taken once.
    pub async fn take(&self, state: &str) -> Result<Option<LoginTransaction>, TransactionError> {
        Ok(self
            .store
            .take(&key(state))
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }
}
