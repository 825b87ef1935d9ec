//! Short-lived shared state: login transactions, sessions, grants, counters, replay caches.
//!
//! Every value has a time to live. [`Store::take`] reads and deletes in one step, so a value meant for
//! one use (a login transaction, a grant) can be used once even when replicas race for it.

use std::time::Duration;

use async_trait::async_trait;

pub mod memory;

pub use memory::MemoryStore;

/// The store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer or refused: show "temporarily unavailable" and let the person retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be read back (written by an incompatible version): treat as absent.
    #[error("stored value is unreadable: {0}")]
    Corrupt(String),
}

/// Short-lived state with TTLs. Keys are chosen by the caller; values are opaque bytes.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The backend's name for logs and readiness (`memory`, `redis`).
    fn kind(&self) -> &'static str;

    /// Stores `value` under `key` for `ttl` only if `key` is free. Returns false if it was taken.
    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError>;

    /// Stores `value` under `key` for `ttl`, replacing any value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Reads and deletes `key` in one atomic step: of racing callers, at most one gets the value.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads `key` without removing it.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Adds one to the counter `key` and returns the new count. The counter starts its `window` at
    /// its first increment and disappears when the window ends (a fixed window rate limit).
    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StoreError>;

    /// Whether the store answers.
    async fn health(&self) -> Result<(), StoreError>;
}
