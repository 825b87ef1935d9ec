//! [`Helpdesk`]: the helpdesk channel's use cases. Redeeming a code hands the person to the same
//! account use case as strong identification ([`AccountService::open`] with [`Proof::Code`]).

use std::net::IpAddr;
use std::sync::Arc;

use super::codes::{Codes, Redeemed};
use super::settings::HelpdeskSettings;
use crate::account::{AccountError, AccountService, CodeProof, Context, Opened, Proof};
use crate::audit::{Audit, Event, EventKind, Outcome};
use crate::clock::Clock;
use crate::limits::{Limit, LimitError, Limiter};
use crate::metrics::Metrics;

/// What a code try ended with.
#[derive(Debug)]
pub enum Redemption {
    /// The code was right: a session is open (or the account refused, as for any proof).
    Opened(Opened),
    /// Unknown username, no open code, a wrong or malformed code: never told apart.
    Wrong,
    /// The right code, after its last day.
    Expired,
}

/// Why a helpdesk request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum HelpdeskError {
    /// Too many tries: 429 with `Retry-After`.
    #[error("rate limit {} passed", limit.as_str())]
    RateLimited { limit: Limit, retry_after: u64 },
    /// The store is down: "try again later".
    #[error("{0}")]
    Unavailable(String),
    /// An internal error.
    #[error("{0}")]
    Internal(String),
    /// From the account use case.
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<LimitError> for HelpdeskError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Exceeded { limit, retry_after } => {
                HelpdeskError::RateLimited { limit, retry_after }
            }
            LimitError::Store(error) => HelpdeskError::Unavailable(format!("store: {error}")),
        }
    }
}

impl From<super::codes::CodeError> for HelpdeskError {
    fn from(error: super::codes::CodeError) -> Self {
        match error {
            super::codes::CodeError::Store(error) => {
                HelpdeskError::Unavailable(format!("store: {error}"))
            }
            other => HelpdeskError::Internal(other.to_string()),
        }
    }
}

/// What the helpdesk channel is built from.
pub struct HelpdeskParts {
    pub settings: HelpdeskSettings,
    pub codes: Codes,
    pub accounts: Arc<AccountService>,
    pub limiter: Limiter,
    pub audit: Arc<Audit>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
}

/// The helpdesk channel.
pub struct Helpdesk {
    settings: HelpdeskSettings,
    codes: Codes,
    accounts: Arc<AccountService>,
    limiter: Limiter,
    audit: Arc<Audit>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
}

/// A username as typed, shortened and stripped to what an audit line may carry.
fn typed_username(username: &str) -> String {
    username
        .trim()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
        .take(64)
        .collect()
}

impl Helpdesk {
    pub fn new(parts: HelpdeskParts) -> Self {
        let HelpdeskParts {
            settings,
            codes,
            accounts,
            limiter,
            audit,
            metrics,
            clock,
        } = parts;
        Self {
            settings,
            codes,
            accounts,
            limiter,
            audit,
            metrics,
            clock,
        }
    }

    pub fn settings(&self) -> &HelpdeskSettings {
        &self.settings
    }

    fn record(&self, kind: EventKind, outcome: Outcome, event: Event<'_>) {
        self.audit.record(kind, outcome, event, self.clock.now());
    }

    fn count(&self, event: &'static str) {
        self.metrics
            .count("tunnus_codes_total", &[("event", event)]);
    }

    /// A person types `username` and `typed` on the code page. A right code is used up and opens
    /// the account page through the account use case; anything else says only that it was wrong.
    pub async fn redeem(
        &self,
        client: IpAddr,
        username: &str,
        typed: &str,
        return_to: Option<String>,
        context: Context<'_>,
    ) -> Result<Redemption, HelpdeskError> {
        let shown = typed_username(username);
        let base = Event {
            account: Some(&shown),
            client_ip: Some(context.client_ip),
            request_id: Some(context.request_id),
            channel: Some("activation_code"),
            ..Event::default()
        };
        self.limiter
            .admit_code_try(client, username, base.clone())
            .await?;
        let outcome = self.codes.redeem(username, typed).await?;
        fn code_event<'a>(
            base: &Event<'a>,
            code: &'a super::codes::IssuedCode,
            reason: Option<&'a str>,
        ) -> Event<'a> {
            Event {
                code: Some(&code.id),
                delivery: Some(code.delivery.as_str()),
                staff: Some(&code.issued_by),
                reason,
                account: Some(&code.username),
                ..base.clone()
            }
        }
        match outcome {
            Redeemed::Wrong => {
                self.record(
                    EventKind::CodeFailed,
                    Outcome::Refused,
                    Event {
                        reason: Some("wrong_code"),
                        ..base.clone()
                    },
                );
                self.count("failed");
                tracing::info!(event = "code_failed", "a wrong activation code was typed");
                Ok(Redemption::Wrong)
            }
            Redeemed::Revoked(code) => {
                self.record(
                    EventKind::CodeFailed,
                    Outcome::Refused,
                    Event {
                        reason: Some("wrong_code"),
                        ..base.clone()
                    },
                );
                self.record(
                    EventKind::CodeRevoked,
                    Outcome::Success,
                    code_event(&base, &code, Some("too_many_wrong_tries")),
                );
                self.count("failed");
                self.count("revoked");
                tracing::warn!(
                    event = "code_revoked",
                    code = %code.id,
                    "an activation code was revoked after too many wrong tries"
                );
                Ok(Redemption::Wrong)
            }
            Redeemed::Expired(code) => {
                self.record(
                    EventKind::CodeExpired,
                    Outcome::Refused,
                    code_event(&base, &code, Some("expired")),
                );
                self.count("expired");
                Ok(Redemption::Expired)
            }
            Redeemed::Code(code) => {
                self.record(
                    EventKind::CodeRedeemed,
                    Outcome::Success,
                    code_event(&base, &code, None),
                );
                self.count("redeemed");
                tracing::info!(event = "code_redeemed", code = %code.id, "activation code redeemed");
                let proof = Proof::Code(CodeProof {
                    account: code.account,
                    id: code.id,
                    delivery: code.delivery.as_str().to_owned(),
                    issued_by: code.issued_by,
                    privileged: code.privileged,
                });
                let opened = self.accounts.open(proof, return_to, context).await?;
                Ok(Redemption::Opened(opened))
            }
        }
    }
}
