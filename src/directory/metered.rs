//! [`Metered`]: any [`Directory`] with every call timed and every failure counted for `/metrics`, so
//! each backend gets the same metrics without code of its own.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{Account, AccountId, Directory, DirectoryError, IfLocked, NewPassword};
use crate::identity::NationalId;
use crate::metrics::Metrics;

/// Wraps a directory: `tunnus_directory_call_duration_seconds{operation}` for every call and
/// `tunnus_directory_errors_total{operation,kind}` for every failure.
pub struct Metered {
    inner: Arc<dyn Directory>,
    metrics: Arc<Metrics>,
}

impl Metered {
    pub fn new(inner: Arc<dyn Directory>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, DirectoryError>>,
    ) -> Result<T, DirectoryError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics.observe(
            "tunnus_directory_call_duration_seconds",
            &[("operation", operation)],
            started.elapsed(),
        );
        if let Err(error) = &result {
            self.metrics.count(
                "tunnus_directory_errors_total",
                &[("operation", operation), ("kind", kind(error))],
            );
        }
        result
    }
}

/// A short name of the error's kind, for the metric's label.
fn kind(error: &DirectoryError) -> &'static str {
    match error {
        DirectoryError::Unavailable { .. } => "unavailable",
        DirectoryError::PolicyRejected { .. } => "policy",
        DirectoryError::AccountNotFound => "account_not_found",
        DirectoryError::Misconfigured { .. } => "misconfigured",
    }
}

#[async_trait]
impl Directory for Metered {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn find_by_national_id(&self, id: &NationalId) -> Result<Vec<Account>, DirectoryError> {
        self.timed("find", self.inner.find_by_national_id(id)).await
    }

    async fn find_by_username(&self, username: &str) -> Result<Vec<Account>, DirectoryError> {
        self.timed("find_username", self.inner.find_by_username(username))
            .await
    }

    async fn find_by_name(
        &self,
        given_name: &str,
        family_name: &str,
    ) -> Result<Vec<Account>, DirectoryError> {
        self.timed(
            "find_name",
            self.inner.find_by_name(given_name, family_name),
        )
        .await
    }

    async fn account(&self, id: &AccountId) -> Result<Option<Account>, DirectoryError> {
        self.timed("read", self.inner.account(id)).await
    }

    async fn activate(
        &self,
        account: &AccountId,
        password: &NewPassword,
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError> {
        self.timed(
            "activate",
            self.inner.activate(account, password, if_locked),
        )
        .await
    }

    async fn reset_password(
        &self,
        account: &AccountId,
        password: &NewPassword,
        if_locked: IfLocked,
    ) -> Result<(), DirectoryError> {
        self.timed(
            "reset",
            self.inner.reset_password(account, password, if_locked),
        )
        .await
    }

    async fn health(&self) -> Result<(), DirectoryError> {
        self.timed("health", self.inner.health()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{MemoryDirectory, PolicyRefusal, WriteFault};

    const SEED: &str = r#"
        [[account]]
        username = "tetyra"
        national_id = "010170-999R"
        given_name = "Tero"
        family_name = "Testi"
        category = "student"
    "#;

    #[tokio::test]
    async fn every_call_is_timed_and_every_failure_counted_by_operation_and_kind() {
        let memory = Arc::new(MemoryDirectory::from_toml(SEED).unwrap());
        let metrics = Arc::new(Metrics::default());
        let directory = Metered::new(memory.clone(), metrics.clone());
        let id = NationalId::parse("010170-999R", true).unwrap();
        assert_eq!(directory.find_by_national_id(&id).await.unwrap().len(), 1);
        let account = AccountId::new("tetyra");
        assert!(directory.account(&account).await.unwrap().is_some());
        memory.fail_writes_with(Some(WriteFault::PolicyRejected(PolicyRefusal::TooSimple)));
        let password = NewPassword::new("kahvi-Tunturi-lumi-57".into());
        assert!(
            directory
                .reset_password(&account, &password, IfLocked::Refuse)
                .await
                .is_err()
        );
        memory.set_unavailable(true);
        assert!(directory.health().await.is_err());
        assert_eq!(directory.kind(), "memory");

        let text = metrics.render();
        for operation in ["find", "read", "reset", "health"] {
            assert!(
                text.contains(&format!(
                    "tunnus_directory_call_duration_seconds_count{{operation=\"{operation}\"}} 1"
                )),
                "{operation} not timed:\n{text}"
            );
        }
        let errors = |operation, kind| {
            metrics.counter(
                "tunnus_directory_errors_total",
                &[("operation", operation), ("kind", kind)],
            )
        };
        assert_eq!(errors("reset", "policy"), 1);
        assert_eq!(errors("health", "unavailable"), 1);
        for operation in ["find", "read"] {
            for kind in [
                "unavailable",
                "policy",
                "account_not_found",
                "misconfigured",
            ] {
                assert_eq!(errors(operation, kind), 0, "{operation} counted as {kind}");
            }
        }
    }
}
