//! Rate limits: strong identifications cost the university money per transaction, and password
//! attempts must stay few. Counters live in the [`Store`], so every replica counts together.

use std::time::Duration;

use serde::Deserialize;

use super::error::{AppError, ErrorKind};
use crate::app::AppState;
use crate::audit::{Event, EventKind, Outcome};
use crate::config::HumanDuration;

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

/// Counts one event against `limit` for `subject` (an address, a pseudonym, a hashed session id, or
/// one name for the global budget). Once the limit is passed, writes `audit` as a refusal naming the
/// limit and refuses with 429.
pub async fn enforce(
    state: &AppState,
    limit: Limit,
    subject: &str,
    audit: Event<'_>,
) -> Result<(), AppError> {
    let (max, window) = limit.rule(&state.settings.limits);
    if max == 0 {
        return Ok(());
    }
    let key = format!("rl:{}:{subject}", limit.as_str());
    let count = state.store.incr(&key, window).await?;
    if count <= max {
        return Ok(());
    }
    state
        .metrics
        .count("tunnus_rate_limited_total", &[("limit", limit.as_str())]);
    let event = Event {
        reason: Some(limit.as_str()),
        ..audit
    };
    state.audit.record(
        EventKind::Refusal,
        Outcome::Refused,
        event,
        state.clock.now(),
    );
    let mut error = AppError::new(
        ErrorKind::RateLimited,
        format!("rate limit {} passed", limit.as_str()),
    );
    error.retry_after = Some(window.as_secs().max(1));
    Err(error)
}
