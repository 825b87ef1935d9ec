//! Rate limits: strong identifications cost the university money per transaction, and password
//! attempts must stay few. Counters live in the [`Store`], so every replica counts together.
//!
//! [`Limiter::enforce`] counts one event and refuses once a limit is passed; the refusal is audited
//! and counted here, so every channel that limits something does it the same way.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::audit::{Audit, Event, EventKind, Outcome};
use crate::clock::Clock;
use crate::config::{ConfigError, HumanDuration};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// `[limits]` settings. Zero switches a limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Identifications one client address may start per `login_window`.
    pub login_starts_per_ip: u64,
    pub login_window: HumanDuration,
    /// Identifications of one person (by identity code) per `person_window`.
    pub identifications_per_person: u64,
    pub person_window: HumanDuration,
    /// Password submissions one identification may make.
    pub password_attempts_per_grant: u64,
    /// Redirects to the broker per minute from all replicas together: a ceiling on cost.
    pub broker_redirects_per_minute: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            login_starts_per_ip: 20,
            login_window: HumanDuration(Duration::from_secs(600)),
            identifications_per_person: 5,
            person_window: HumanDuration(Duration::from_secs(3600)),
            password_attempts_per_grant: 10,
            broker_redirects_per_minute: 600,
        }
    }
}

impl LimitSettings {
    /// A window must be at least a second long: Redis counts windows in whole seconds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, window) in [
            ("limits.login_window", self.login_window),
            ("limits.person_window", self.person_window),
        ] {
            if window.get() < Duration::from_secs(1) {
                return Err(ConfigError::invalid(key, "must be at least 1s"));
            }
        }
        Ok(())
    }
}

/// One of the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    LoginStartsPerIp,
    IdentificationsPerPerson,
    PasswordAttempts,
    BrokerBudget,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::LoginStartsPerIp => "login_starts_per_ip",
            Limit::IdentificationsPerPerson => "identifications_per_person",
            Limit::PasswordAttempts => "password_attempts_per_grant",
            Limit::BrokerBudget => "broker_redirects_per_minute",
        }
    }

    fn rule(self, settings: &LimitSettings) -> (u64, Duration) {
        match self {
            Limit::LoginStartsPerIp => (settings.login_starts_per_ip, settings.login_window.get()),
            Limit::IdentificationsPerPerson => (
                settings.identifications_per_person,
                settings.person_window.get(),
            ),
            // Attempts are bounded by the grant's own life.
            Limit::PasswordAttempts => (
                settings.password_attempts_per_grant,
                Duration::from_secs(15 * 60),
            ),
            Limit::BrokerBudget => (
                settings.broker_redirects_per_minute,
                Duration::from_secs(60),
            ),
        }
    }
}

/// Why an event was not allowed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The limit is passed: refuse with 429 and `Retry-After: retry_after` seconds.
    #[error("rate limit {} passed", limit.as_str())]
    Exceeded { limit: Limit, retry_after: u64 },
    /// The counter could not be read: the store is down; show "try again later".
    #[error("rate limit counter: {0}")]
    Store(#[from] StoreError),
}

/// Counts events against the `[limits]`, in the shared store.
#[derive(Clone)]
pub struct Limiter {
    settings: LimitSettings,
    store: Arc<dyn Store>,
    audit: Arc<Audit>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
}

impl Limiter {
    pub fn new(
        settings: LimitSettings,
        store: Arc<dyn Store>,
        audit: Arc<Audit>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings,
            store,
            audit,
            metrics,
            clock,
        }
    }

    /// Counts one event against `limit` for `subject` (an address, a pseudonym, a hashed session id,
    /// or one name for the global budget). Once the limit is passed, writes `audit` as a refusal
    /// naming the limit and refuses.
    pub async fn enforce(
        &self,
        limit: Limit,
        subject: &str,
        audit: Event<'_>,
    ) -> Result<(), LimitError> {
        let (max, window) = limit.rule(&self.settings);
        if max == 0 {
            return Ok(());
        }
        let key = format!("rl:{}:{subject}", limit.as_str());
        let count = self.store.incr(&key, window).await?;
        if count <= max {
            return Ok(());
        }
        self.metrics
            .count("tunnus_rate_limited_total", &[("limit", limit.as_str())]);
        let event = Event {
            reason: Some(limit.as_str()),
            ..audit
        };
        self.audit.record(
            EventKind::Refusal,
            Outcome::Refused,
            event,
            self.clock.now(),
        );
        Err(LimitError::Exceeded {
            limit,
            retry_after: window.as_secs().max(1),
        })
    }
}
