//! After a change — an account activated, a password reset, a helpdesk code issued or redeemed —
//! the owner hears of it by e-mail and campus identity management by a signed webhook.
//!
//! The use cases hand each change to [`Notifier::changed`], which writes one notice per recipient
//! into a durable outbox in the shared store and returns: a page never waits for a mail server or
//! an endpoint. Every replica works the outbox ([`Notifier::run`]); a notice is taken by one
//! replica at a time (a lease in the store), delivered, and removed. One that cannot be delivered
//! waits and is tried again, each wait twice the last (`notify.first_retry`, at most an hour), for
//! `notify.retry_for`; then it goes to the dead letters, which `tunnus notices replay` sends again.
//!
//! Delivery is at least once: a replica that stops between delivering and removing a notice leaves
//! it to be delivered again when its lease runs out. Webhook receivers tell repeats apart by
//! `webhook-id`, mail readers by `Message-ID`; both are the notice's id, the same on every try.

pub mod mail;
pub mod settings;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::i18n::{Catalog, Lang};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
pub use settings::NotifySettings;

/// Every notice waiting, by when it is due next.
const QUEUE: &str = "notices";
/// Every notice waiting, by when it was written (for the age of the oldest).
const WAITING: &str = "notices-waiting";
/// Notices given up on, by when.
const DEAD: &str = "notices-dead";
/// How long one replica holds a notice it is delivering: longer than any delivery may take.
const LEASE: Duration = Duration::from_secs(120);
/// How long a dead notice is kept for `tunnus notices replay`.
const DEAD_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest wait between two tries.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

fn record_key(id: &str) -> String {
    format!("notice:{id}")
}

fn lease_key(id: &str) -> String {
    format!("notice-lease:{id}")
}

fn off_key(endpoint: &str) -> String {
    format!("notice-endpoint-off:{endpoint}")
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Activated,
    PasswordReset,
    CodeIssued,
    CodeRedeemed,
    /// A person sent a service request: for the campus ticket system, never mailed.
    RequestCreated,
    /// Staff issued a code from a service request: the person hears how it comes.
    RequestIssued,
    /// Staff refused a service request, or it waited too long: the person hears why.
    RequestRefused,
}

impl ChangeKind {
    /// The webhook event type.
    pub fn event_type(self) -> &'static str {
        match self {
            ChangeKind::Activated => "account.activated",
            ChangeKind::PasswordReset => "account.password_reset",
            ChangeKind::CodeIssued => "helpdesk.code_issued",
            ChangeKind::CodeRedeemed => "helpdesk.code_redeemed",
            ChangeKind::RequestCreated => "helpdesk.request_created",
            ChangeKind::RequestIssued => "helpdesk.request_issued",
            ChangeKind::RequestRefused => "helpdesk.request_refused",
        }
    }

    /// Whether the owner gets an e-mail: a redeemed code is followed by its own change, and a new
    /// request is only for the ticket system (the person has its number on the page).
    fn mailed(self) -> bool {
        !matches!(self, ChangeKind::CodeRedeemed | ChangeKind::RequestCreated)
    }
}

/// A service request's side of a change: what its notices tell beside the account's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RequestChange {
    /// The request number the person has.
    pub number: String,
    pub family_name: String,
    /// The username the person typed, if any.
    pub typed_username: Option<String>,
    /// For a janitor: the campus's id, and its name, pick-up point and opening hours in the
    /// person's language.
    pub campus: Option<String>,
    pub campus_name: Option<String>,
    pub pick_up_point: Option<String>,
    pub opening_hours: Option<String>,
    /// For a refusal: the reason's id, and its text in the person's language.
    pub reason: Option<String>,
    pub reason_text: Option<String>,
    /// The request on the staff pages (for the ticket system).
    pub staff_url: Option<String>,
}

/// One change, as the notices tell it. Never a password, a code or an identity code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub account_id: String,
    pub username: String,
    /// The name the person signs in with, as the pages show it.
    pub shown_username: String,
    pub given_name: String,
    /// The account's e-mail addresses.
    pub emails: Vec<String>,
    /// `strong_identification` or `activation_code`.
    pub channel: String,
    /// How a helpdesk code is delivered (`in_person`, `janitor`, `letter`).
    pub delivery: Option<String>,
    /// Until when a code is valid (unix time).
    pub valid_until: Option<i64>,
    /// The person's language.
    pub lang: Lang,
    /// When (unix time).
    pub at: i64,
    pub request_id: String,
    /// The service request the change is about, if any.
    #[serde(default)]
    pub service_request: Option<RequestChange>,
}

/// Whom one notice is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Target {
    Mail { to: String },
    Webhook { endpoint: String },
}

impl Target {
    fn kind(&self) -> &'static str {
        match self {
            Target::Mail { .. } => "mail",
            Target::Webhook { .. } => "webhook",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Notice {
    id: String,
    target: Target,
    change: Change,
    attempts: u32,
    /// Unix milliseconds.
    written_at: i64,
    last_problem: Option<String>,
}

/// How one try went.
#[derive(Debug)]
pub enum Attempt {
    Delivered,
    /// Try again later.
    Failed(String),
    /// Will never succeed (a refused address): straight to the dead letters.
    Undeliverable(String),
    /// The endpoint answered 410 Gone: it is turned off.
    Gone,
}

/// The outbox as readiness shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxStatus {
    pub waiting: u64,
    pub oldest_seconds: u64,
    pub dead: u64,
    /// Endpoints turned off after answering 410 Gone.
    pub endpoints_off: Vec<String>,
}

/// What the notifier is built from.
pub struct NotifierParts {
    pub settings: NotifySettings,
    pub store: Arc<dyn Store>,
    pub catalog: Catalog,
    pub branding: mail::Branding,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
}

pub struct Notifier {
    store: Arc<dyn Store>,
    mailer: Option<mail::Mailer>,
    webhooks: Vec<webhook::Webhook>,
    catalog: Catalog,
    first_retry: Duration,
    retry_for: Duration,
    poll_interval: Duration,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
}

impl Notifier {
    /// `Ok(None)` when nothing is configured. The error names the key.
    pub fn new(parts: NotifierParts) -> Result<Option<Self>, (&'static str, String)> {
        let NotifierParts {
            settings,
            store,
            catalog,
            branding,
            metrics,
            clock,
        } = parts;
        if settings.mail.is_none() && settings.webhook.is_empty() {
            return Ok(None);
        }
        let mailer = match &settings.mail {
            Some(mail) => Some(mail::Mailer::new(mail, branding).map_err(|p| ("notify.mail", p))?),
            None => None,
        };
        let webhooks = settings
            .webhook
            .iter()
            .map(webhook::Webhook::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|problem| ("notify.webhook", problem))?;
        Ok(Some(Self {
            store,
            mailer,
            webhooks,
            catalog,
            first_retry: settings.first_retry.get(),
            retry_for: settings.retry_for.get(),
            poll_interval: settings.poll_interval.get(),
            metrics,
            clock,
        }))
    }

    /// The directory attributes the e-mail addresses are read from.
    pub fn address_attributes(&self) -> Vec<String> {
        self.mailer
            .as_ref()
            .map(|mailer| mailer.address_attributes.clone())
            .unwrap_or_default()
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Writes the notices of `change` into the outbox. Never fails the caller: a notice that
    /// cannot be written is logged as lost.
    pub async fn changed(&self, change: Change) {
        let mut targets = Vec::new();
        if self.mailer.is_some() && change.kind.mailed() {
            let mut seen = std::collections::HashSet::new();
            for to in &change.emails {
                if seen.insert(to.to_lowercase()) {
                    targets.push(Target::Mail { to: to.clone() });
                }
            }
        }
        for hook in &self.webhooks {
            if hook.wants(change.kind.event_type()) {
                targets.push(Target::Webhook {
                    endpoint: hook.name.clone(),
                });
            }
        }
        // Each mail notice names its one address; the outbox keeps no other.
        let stored = Change {
            emails: Vec::new(),
            ..change
        };
        for target in targets {
            let notice = Notice {
                id: format!("msg_{}", crate::random::token()),
                target,
                change: stored.clone(),
                attempts: 0,
                written_at: self.now_ms(),
                last_problem: None,
            };
            let kind = notice.target.kind();
            match self.write(&notice).await {
                Ok(()) => self.metrics.count(
                    "tunnus_notices_total",
                    &[("outcome", "queued"), ("target", kind)],
                ),
                Err(error) => {
                    self.metrics.count(
                        "tunnus_notices_total",
                        &[("outcome", "lost"), ("target", kind)],
                    );
                    tracing::error!(
                        %error,
                        notice = %notice.id,
                        event = stored.kind.event_type(),
                        target = kind,
                        "a notice could not be written to the outbox and is lost"
                    );
                }
            }
        }
    }

    async fn write(&self, notice: &Notice) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(notice).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store
            .put(&record_key(&notice.id), &bytes, self.retry_for + DEAD_KEPT)
            .await?;
        self.store
            .schedule(WAITING, &notice.id, notice.written_at)
            .await?;
        self.store.schedule(QUEUE, &notice.id, self.now_ms()).await
    }

    /// Works the outbox until `stop` resolves: each pass delivers what is due.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(error) = self.work_once().await {
                tracing::warn!(%error, "the outbox could not be read; trying again");
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }

    /// One pass over the notices due now; returns how many this replica delivered.
    pub async fn work_once(&self) -> Result<usize, StoreError> {
        let due = self.store.due(QUEUE, self.now_ms(), 32).await?;
        let mut delivered = 0;
        for id in due {
            if !self.store.put_new(&lease_key(&id), b"1", LEASE).await? {
                continue; // another replica is on it
            }
            let outcome = self.work_on(&id).await;
            if let Err(error) = self.store.delete(&lease_key(&id)).await {
                tracing::warn!(%error, notice = %id, "could not release a notice");
            }
            if outcome? {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    async fn work_on(&self, id: &str) -> Result<bool, StoreError> {
        let Some(bytes) = self.store.get(&record_key(id)).await? else {
            // Delivered (or replayed) by another replica since the queue was read.
            self.forget(id).await?;
            return Ok(false);
        };
        let mut notice: Notice = match serde_json::from_slice(&bytes) {
            Ok(notice) => notice,
            Err(error) => {
                tracing::error!(%error, notice = %id, "an unreadable notice is dropped");
                self.forget(id).await?;
                return Ok(false);
            }
        };
        let kind = notice.target.kind();
        let attempt = self.attempt(&notice).await;
        match attempt {
            Attempt::Delivered => {
                self.store.delete(&record_key(id)).await?;
                self.forget(id).await?;
                self.metrics.count(
                    "tunnus_notices_total",
                    &[("outcome", "sent"), ("target", kind)],
                );
                tracing::info!(
                    notice = %id,
                    event = notice.change.kind.event_type(),
                    target = kind,
                    attempts = notice.attempts + 1,
                    "notice delivered"
                );
                Ok(true)
            }
            Attempt::Failed(problem) => {
                notice.attempts += 1;
                let age = Duration::from_millis(
                    u64::try_from(self.now_ms() - notice.written_at).unwrap_or(0),
                );
                let wait = self.wait_after(notice.attempts);
                if age + wait > self.retry_for {
                    self.bury(notice, problem).await?;
                } else {
                    tracing::warn!(
                        notice = %id,
                        target = kind,
                        attempts = notice.attempts,
                        %problem,
                        wait_seconds = wait.as_secs(),
                        "a notice could not be delivered; it is tried again later"
                    );
                    notice.last_problem = Some(problem);
                    self.rewrite(&notice).await?;
                    let due = self.now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                    self.store.schedule(QUEUE, id, due).await?;
                    self.metrics.count(
                        "tunnus_notices_total",
                        &[("outcome", "retried"), ("target", kind)],
                    );
                }
                Ok(false)
            }
            Attempt::Undeliverable(problem) => {
                self.bury(notice, problem).await?;
                Ok(false)
            }
            Attempt::Gone => {
                if let Target::Webhook { endpoint } = &notice.target {
                    tracing::error!(
                        endpoint = %endpoint,
                        "the webhook endpoint answered 410 Gone and is turned off; \
                         `tunnus notices replay` turns it on again"
                    );
                    self.store
                        .put(&off_key(endpoint), b"410", DEAD_KEPT * 12)
                        .await?;
                }
                self.bury(notice, "the endpoint answered 410 Gone".to_owned())
                    .await?;
                Ok(false)
            }
        }
    }

    async fn attempt(&self, notice: &Notice) -> Attempt {
        match &notice.target {
            Target::Mail { to } => match &self.mailer {
                Some(mailer) => {
                    mailer
                        .deliver(&self.catalog, &notice.id, &notice.change, to)
                        .await
                }
                None => Attempt::Undeliverable("e-mail is no longer configured".to_owned()),
            },
            Target::Webhook { endpoint } => {
                let Some(hook) = self.webhooks.iter().find(|hook| hook.name == *endpoint) else {
                    return Attempt::Undeliverable(format!(
                        "the webhook {endpoint} is no longer configured"
                    ));
                };
                match self.store.get(&off_key(endpoint)).await {
                    Ok(Some(_)) => return Attempt::Gone,
                    Ok(None) => {}
                    Err(error) => return Attempt::Failed(error.to_string()),
                }
                let body = event_body(&notice.change);
                // The receiver compares the timestamp with its own clock: the time of sending.
                let sent_at = crate::clock::Clock::now(&crate::clock::SystemClock).unix_timestamp();
                hook.deliver(&notice.id, sent_at, &body).await
            }
        }
    }

    fn wait_after(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.first_retry.saturating_mul(factor).min(LONGEST_WAIT)
    }

    async fn rewrite(&self, notice: &Notice) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(notice).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store
            .put(&record_key(&notice.id), &bytes, self.retry_for + DEAD_KEPT)
            .await
    }

    /// Takes `id` out of the waiting notices.
    async fn forget(&self, id: &str) -> Result<(), StoreError> {
        self.store.unschedule(QUEUE, id).await?;
        self.store.unschedule(WAITING, id).await
    }

    async fn bury(&self, mut notice: Notice, problem: String) -> Result<(), StoreError> {
        let kind = notice.target.kind();
        tracing::error!(
            notice = %notice.id,
            event = notice.change.kind.event_type(),
            target = kind,
            attempts = notice.attempts,
            %problem,
            "a notice is given up on and kept with the dead letters; `tunnus notices replay` \
             sends them again"
        );
        notice.last_problem = Some(problem);
        let bytes = serde_json::to_vec(&notice).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store
            .put(&record_key(&notice.id), &bytes, DEAD_KEPT)
            .await?;
        self.store.schedule(DEAD, &notice.id, self.now_ms()).await?;
        self.forget(&notice.id).await?;
        self.metrics.count(
            "tunnus_notices_total",
            &[("outcome", "dead"), ("target", kind)],
        );
        Ok(())
    }

    /// Sends every dead notice again from the start, and turns on endpoints turned off by 410
    /// Gone. Returns how many notices were put back.
    pub async fn replay_dead(&self) -> Result<usize, StoreError> {
        for hook in &self.webhooks {
            self.store.delete(&off_key(&hook.name)).await?;
        }
        let mut replayed = 0;
        loop {
            let dead = self.store.due(DEAD, i64::MAX, 100).await?;
            if dead.is_empty() {
                return Ok(replayed);
            }
            for id in dead {
                if let Some(bytes) = self.store.get(&record_key(&id)).await?
                    && let Ok(mut notice) = serde_json::from_slice::<Notice>(&bytes)
                {
                    notice.attempts = 0;
                    notice.written_at = self.now_ms();
                    self.write(&notice).await?;
                    replayed += 1;
                }
                self.store.unschedule(DEAD, &id).await?;
            }
        }
    }

    /// How many notices wait, how old the oldest is, how many are dead, which endpoints are off.
    pub async fn status(&self) -> Result<OutboxStatus, StoreError> {
        let (waiting, oldest) = self.store.schedule_size(WAITING).await?;
        let (dead, _) = self.store.schedule_size(DEAD).await?;
        let mut endpoints_off = Vec::new();
        for hook in &self.webhooks {
            if self.store.get(&off_key(&hook.name)).await?.is_some() {
                endpoints_off.push(hook.name.clone());
            }
        }
        let oldest_seconds = oldest
            .map(|at| u64::try_from((self.now_ms() - at) / 1000).unwrap_or(0))
            .unwrap_or(0);
        Ok(OutboxStatus {
            waiting,
            oldest_seconds,
            dead,
            endpoints_off,
        })
    }
}

/// The webhook's JSON body: `type`, `timestamp` and `data`, as Standard Webhooks suggests.
pub fn event_body(change: &Change) -> Vec<u8> {
    let at = time::OffsetDateTime::from_unix_timestamp(change.at)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut data = serde_json::json!({
        "account_id": change.account_id,
        "username": change.username,
        "channel": change.channel,
        "request_id": change.request_id,
    });
    if let Some(request) = &change.service_request {
        // A request names no account until staff matched one: what the person typed, without
        // their birth date, e-mail address or postal address.
        data = serde_json::json!({
            "service_request": request.number,
            "given_name": change.given_name,
            "family_name": request.family_name,
            "typed_username": request.typed_username,
            "request_id": change.request_id,
        });
        if !change.username.is_empty() {
            data["username"] = serde_json::Value::from(change.username.as_str());
        }
        for (key, value) in [
            ("campus", &request.campus),
            ("reason", &request.reason),
            ("staff_url", &request.staff_url),
        ] {
            if let Some(value) = value {
                data[key] = serde_json::Value::from(value.as_str());
            }
        }
    }
    if let Some(delivery) = &change.delivery {
        data["delivery"] = serde_json::Value::from(delivery.as_str());
    }
    if let Some(valid_until) = change.valid_until
        && let Ok(until) = time::OffsetDateTime::from_unix_timestamp(valid_until)
    {
        data["valid_until"] = serde_json::Value::from(
            until
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        );
    }
    serde_json::to_vec(&serde_json::json!({
        "type": change.kind.event_type(),
        "timestamp": at,
        "data": data,
    }))
    .unwrap_or_default()
}
