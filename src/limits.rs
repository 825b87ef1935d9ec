//! Rate limits: strong identifications cost the university money per transaction, and password
//! attempts must stay few. Counters live in the [`Store`], so every replica counts together.
//!
//! [`Limiter::enforce`] counts one event and refuses once a limit is passed; the refusal is audited
//! and counted here, so every channel that limits something does it the same way.
//!
//! Starting an identification ([`Limiter::admit_login`]) passes four gates, so that one attacker
//! with a few hundred addresses cannot spend the broker budget and lock everyone out:
//!
//! 1. per client: an IPv4 address or an IPv6 /64 (prefix lengths are settings), since one IPv6
//!    subscriber usually holds a whole /64;
//! 2. per network: an IPv4 /24 or IPv6 /48, where a flood's addresses usually sit together;
//! 3. the general share of the broker budget per minute (everything but the reserve);
//! 4. the reserve: the rest of the budget, open only to networks that have started few
//!    identifications in the window. A flood fills the general share and stays out of the
//!    reserve, which real people, starting one identification each, still reach.
//!
//! Refused starts never reach the budget's counters, so a refused flood does not use it up.
use std::net::IpAddr;
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
    /// Identifications one network (`network_ipv4_prefix` / `network_ipv6_prefix`) may start per
    /// `login_window`.
    pub login_starts_per_network: u64,
    /// Prefix lengths that make one client for `login_starts_per_ip` (IPv6: a /64 is one subscriber).
    pub client_ipv4_prefix: u8,
    pub client_ipv6_prefix: u8,
    /// Prefix lengths that make one network for `login_starts_per_network` and the reserve.
    pub network_ipv4_prefix: u8,
    pub network_ipv6_prefix: u8,
    /// Percentage of `broker_redirects_per_minute` held back for quiet networks.
    pub broker_reserve_percent: u64,
    /// A network that has started at most this many identifications in `login_window` is quiet
    /// and may use the reserve.
    pub reserve_for_networks_under: u64,
    /// Activation-code tries one network may make per `code_window`.
    pub code_tries_per_network: u64,
    /// Activation-code tries for one username per `code_window`, whatever the code.
    pub code_tries_per_username: u64,
    pub code_window: HumanDuration,
    /// Helpdesk staff sign-ins one client (`client_ipv4_prefix` / `client_ipv6_prefix`) may start
    /// per `login_window`: each writes a sign-in record to the store.
    pub staff_sign_ins_per_ip: u64,
    /// Service requests one network may send per `service_request_window`.
    pub service_requests_per_network: u64,
    /// Service requests naming one e-mail address per `service_request_window`.
    pub service_requests_per_email: u64,
    pub service_request_window: HumanDuration,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            login_starts_per_ip: 20,
            staff_sign_ins_per_ip: 30,
            login_window: HumanDuration(Duration::from_secs(600)),
            identifications_per_person: 5,
            person_window: HumanDuration(Duration::from_secs(3600)),
            password_attempts_per_grant: 10,
            broker_redirects_per_minute: 600,
            login_starts_per_network: 200,
            client_ipv4_prefix: 32,
            client_ipv6_prefix: 64,
            network_ipv4_prefix: 24,
            network_ipv6_prefix: 48,
            broker_reserve_percent: 25,
            reserve_for_networks_under: 3,
            code_tries_per_network: 50,
            code_tries_per_username: 20,
            code_window: HumanDuration(Duration::from_secs(3600)),
            service_requests_per_network: 20,
            service_requests_per_email: 3,
            service_request_window: HumanDuration(Duration::from_secs(24 * 3600)),
        }
    }
}

impl LimitSettings {
    /// A window must be at least a second long: Redis counts windows in whole seconds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, window) in [
            ("limits.login_window", self.login_window),
            ("limits.person_window", self.person_window),
            ("limits.code_window", self.code_window),
            ("limits.service_request_window", self.service_request_window),
        ] {
            if window.get() < Duration::from_secs(1) {
                return Err(ConfigError::invalid(key, "must be at least 1s"));
            }
        }
        for (key, prefix, max) in [
            ("limits.client_ipv4_prefix", self.client_ipv4_prefix, 32),
            ("limits.client_ipv6_prefix", self.client_ipv6_prefix, 128),
            ("limits.network_ipv4_prefix", self.network_ipv4_prefix, 32),
            ("limits.network_ipv6_prefix", self.network_ipv6_prefix, 128),
        ] {
            if prefix == 0 || prefix > max {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be between 1 and {max}"),
                ));
            }
        }
        if self.network_ipv4_prefix > self.client_ipv4_prefix
            || self.network_ipv6_prefix > self.client_ipv6_prefix
        {
            return Err(ConfigError::invalid(
                "limits.network_ipv4_prefix",
                "a network must be at least as wide as a client (a shorter or equal prefix)",
            ));
        }
        if self.broker_reserve_percent > 100 {
            return Err(ConfigError::invalid(
                "limits.broker_reserve_percent",
                "must be between 0 and 100",
            ));
        }
        Ok(())
    }
}

/// One of the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    LoginStartsPerIp,
    LoginStartsPerNetwork,
    IdentificationsPerPerson,
    PasswordAttempts,
    BrokerBudget,
    CodeTriesPerNetwork,
    CodeTriesPerUsername,
    StaffSignInsPerIp,
    ServiceRequestsPerNetwork,
    ServiceRequestsPerEmail,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::LoginStartsPerIp => "login_starts_per_ip",
            Limit::LoginStartsPerNetwork => "login_starts_per_network",
            Limit::IdentificationsPerPerson => "identifications_per_person",
            Limit::PasswordAttempts => "password_attempts_per_grant",
            Limit::BrokerBudget => "broker_redirects_per_minute",
            Limit::CodeTriesPerNetwork => "code_tries_per_network",
            Limit::CodeTriesPerUsername => "code_tries_per_username",
            Limit::StaffSignInsPerIp => "staff_sign_ins_per_ip",
            Limit::ServiceRequestsPerNetwork => "service_requests_per_network",
            Limit::ServiceRequestsPerEmail => "service_requests_per_email",
        }
    }

    fn rule(self, settings: &LimitSettings) -> (u64, Duration) {
        match self {
            Limit::LoginStartsPerIp => (settings.login_starts_per_ip, settings.login_window.get()),
            Limit::LoginStartsPerNetwork => (
                settings.login_starts_per_network,
                settings.login_window.get(),
            ),
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
            Limit::CodeTriesPerNetwork => {
                (settings.code_tries_per_network, settings.code_window.get())
            }
            Limit::CodeTriesPerUsername => {
                (settings.code_tries_per_username, settings.code_window.get())
            }
            Limit::StaffSignInsPerIp => {
                (settings.staff_sign_ins_per_ip, settings.login_window.get())
            }
            Limit::ServiceRequestsPerNetwork => (
                settings.service_requests_per_network,
                settings.service_request_window.get(),
            ),
            Limit::ServiceRequestsPerEmail => (
                settings.service_requests_per_email,
                settings.service_request_window.get(),
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
        if self.count(limit.as_str(), subject, window).await? <= max {
            return Ok(());
        }
        Err(self.refuse(limit, audit))
    }

    /// Counts one staff sign-in started from `client` against `staff_sign_ins_per_ip`.
    pub async fn admit_staff_sign_in(
        &self,
        client: IpAddr,
        audit: Event<'_>,
    ) -> Result<(), LimitError> {
        let client_block = block(
            client,
            self.settings.client_ipv4_prefix,
            self.settings.client_ipv6_prefix,
        );
        self.enforce(Limit::StaffSignInsPerIp, &client_block, audit)
            .await
    }

    /// Counts one start of an identification from `client` against the per-client and per-network
    /// limits and the broker budget with its reserve (see the module documentation).
    pub async fn admit_login(&self, client: IpAddr, audit: Event<'_>) -> Result<(), LimitError> {
        let settings = &self.settings;
        let client_block = block(
            client,
            settings.client_ipv4_prefix,
            settings.client_ipv6_prefix,
        );
        self.enforce(Limit::LoginStartsPerIp, &client_block, audit.clone())
            .await?;
        let network = block(
            client,
            settings.network_ipv4_prefix,
            settings.network_ipv6_prefix,
        );
        let window = settings.login_window.get();
        let network_starts = self.count("network_starts", &network, window).await?;
        let per_network = settings.login_starts_per_network;
        if per_network > 0 && network_starts > per_network {
            return Err(self.refuse(Limit::LoginStartsPerNetwork, audit));
        }

        let budget = settings.broker_redirects_per_minute;
        if budget == 0 {
            return Ok(());
        }
        let minute = Duration::from_secs(60);
        let reserve = budget.saturating_mul(settings.broker_reserve_percent.min(100)) / 100;
        let general = budget - reserve;
        if general > 0 && self.count("broker_general", "all", minute).await? <= general {
            return Ok(());
        }
        if reserve > 0
            && network_starts <= settings.reserve_for_networks_under
            && self.count("broker_reserve", "all", minute).await? <= reserve
        {
            self.metrics.count("tunnus_broker_reserve_used_total", &[]);
            return Ok(());
        }
        Err(self.refuse(Limit::BrokerBudget, audit))
    }

    /// Counts one activation-code try from `client` for `username` against the per-network and
    /// per-username limits.
    pub async fn admit_code_try(
        &self,
        client: IpAddr,
        username: &str,
        audit: Event<'_>,
    ) -> Result<(), LimitError> {
        let limits = (Limit::CodeTriesPerNetwork, Limit::CodeTriesPerUsername);
        self.per_network_and_name(client, limits, username, audit)
            .await
    }

    /// Counts one service request from `client` naming `email` against the per-network and
    /// per-address limits.
    pub async fn admit_service_request(
        &self,
        client: IpAddr,
        email: &str,
        audit: Event<'_>,
    ) -> Result<(), LimitError> {
        let limits = (
            Limit::ServiceRequestsPerNetwork,
            Limit::ServiceRequestsPerEmail,
        );
        self.per_network_and_name(client, limits, email, audit)
            .await
    }

    /// Counts one event from `client`'s network against the first limit, and for `name` (compared
    /// without case or surrounding spaces, counted by its fingerprint) against the second.
    async fn per_network_and_name(
        &self,
        client: IpAddr,
        (per_network, per_name): (Limit, Limit),
        name: &str,
        audit: Event<'_>,
    ) -> Result<(), LimitError> {
        let network = block(
            client,
            self.settings.network_ipv4_prefix,
            self.settings.network_ipv6_prefix,
        );
        self.enforce(per_network, &network, audit.clone()).await?;
        let name = crate::secret::fingerprint(&name.trim().to_lowercase());
        self.enforce(per_name, &name, audit).await
    }

    async fn count(&self, name: &str, subject: &str, window: Duration) -> Result<u64, LimitError> {
        Ok(self
            .store
            .incr(&format!("rl:{name}:{subject}"), window)
            .await?)
    }

    /// Records a refusal by `limit` (metric and audit event) and returns the error to answer with.
    fn refuse(&self, limit: Limit, audit: Event<'_>) -> LimitError {
        let (_, window) = limit.rule(&self.settings);
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
        LimitError::Exceeded {
            limit,
            retry_after: window.as_secs().max(1),
        }
    }
}

/// The block of `prefix` bits (`v4` for IPv4 and IPv4-mapped addresses, `v6` otherwise) that holds
/// `ip`, written as `address/prefix`.
pub fn block(ip: IpAddr, v4: u8, v6: u8) -> String {
    let ip = match ip {
        IpAddr::V6(v6addr) => v6addr.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        other => other,
    };
    match ip {
        IpAddr::V4(addr) => {
            let prefix = v4.min(32);
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            format!(
                "{}/{prefix}",
                std::net::Ipv4Addr::from(u32::from(addr) & mask)
            )
        }
        IpAddr::V6(addr) => {
            let prefix = v6.min(128);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            format!(
                "{}/{prefix}",
                std::net::Ipv6Addr::from(u128::from(addr) & mask)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_grouped_into_blocks_of_their_family() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(block(ip("198.51.100.77"), 32, 64), "198.51.100.77/32");
        assert_eq!(block(ip("198.51.100.77"), 24, 48), "198.51.100.0/24");
        assert_eq!(
            block(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 32, 64),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            block(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 24, 48),
            "2001:db8:1::/48"
        );
        assert_eq!(block(ip("::ffff:198.51.100.77"), 24, 48), "198.51.100.0/24");
        assert_eq!(block(ip("2001:db8::1"), 32, 128), "2001:db8::1/128");
    }

    #[test]
    fn prefixes_out_of_range_or_networks_narrower_than_clients_are_refused() {
        let refused = |settings: LimitSettings| match settings.validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            refused(LimitSettings {
                client_ipv6_prefix: 129,
                ..LimitSettings::default()
            }),
            "limits.client_ipv6_prefix"
        );
        assert_eq!(
            refused(LimitSettings {
                network_ipv4_prefix: 28,
                client_ipv4_prefix: 24,
                ..LimitSettings::default()
            }),
            "limits.network_ipv4_prefix"
        );
        assert_eq!(
            refused(LimitSettings {
                broker_reserve_percent: 101,
                ..LimitSettings::default()
            }),
            "limits.broker_reserve_percent"
        );
        LimitSettings::default().validate().unwrap();
    }
}
