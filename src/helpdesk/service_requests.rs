//! [`Helpdesk`]'s service-request use cases: a person sends a request from afar; staff see the
//! queue, open a request beside the accounts the directory finds for it, and issue a code from it
//! or refuse it. Each step is audited, and the person hears of the outcome by e-mail through the
//! notification outbox (never a code or a password).

use std::net::IpAddr;

use super::code::Code;
use super::codes::{Delivery, IdentityCheck, IssuedCode};
use super::requests::settings::{RequestSettings, localized};
use super::requests::{Problem, ServiceRequest, Status, Typed, Wanted};
use super::service::{Found, Helpdesk, HelpdeskError, NotAllowed, Staff};
use crate::account::Context;
use crate::audit::{Event, EventKind, Outcome};
use crate::directory::Account;
use crate::notify::{Change, ChangeKind, RequestChange};

/// How many open requests the queue shows at once.
const QUEUE_LENGTH: usize = 200;

/// How many expired requests one pass of the sweep closes at most; the rest wait for the next.
const SWEEP_BATCH: usize = 100;

/// Who holds a request while the sweep closes it (staff hold it under their username).
const SWEEPER: &str = "-expiry-sweep";

/// What became of a request a person sent.
#[derive(Debug)]
pub enum Sent {
    /// Stored and queued: the page shows its number.
    Sent(Box<ServiceRequest>),
    /// Something typed is missing or wrong: nothing is stored.
    Problems(Vec<Problem>),
    /// Sent sooner after the form was opened than a person types (or with a token not made
    /// here): nothing is stored, and the form is shown again.
    TooFast,
    /// The field people never see was filled in: nothing is stored.
    BotField,
}

/// An account that may be the one a request is for, as staff see it beside the request.
#[derive(Debug)]
pub struct Candidate {
    pub found: Found,
    /// Found by the username the person typed.
    pub by_username: bool,
    /// The family name is the typed one, and a given name the typed first one.
    pub names_match: bool,
    /// Whether the birth date in the directory is the typed one; `None` when the directory has none.
    pub birth_date_matches: Option<bool>,
}

impl Candidate {
    /// Everything typed agrees with the account.
    pub fn agrees(&self) -> bool {
        self.names_match && self.birth_date_matches == Some(true)
    }
}

/// What an action on a request ended with, besides its own result.
#[derive(Debug)]
pub enum OnRequest<T> {
    Done(T),
    /// No such request (never sent, or gone from the store).
    Gone,
    /// Another staff member already closed it: what became of it.
    Closed(Box<ServiceRequest>),
    /// Another staff member is acting on it right now.
    Busy,
    /// The account is not among the request's candidates.
    NotACandidate,
}

/// A code issued from a request.
#[derive(Debug)]
pub struct IssuedFromRequest {
    pub code: Code,
    pub issued: IssuedCode,
    pub request: ServiceRequest,
    pub account: Account,
}

/// The first given name of `given_names`, for finding candidates.
fn first_name(given_names: &str) -> &str {
    given_names.split_whitespace().next().unwrap_or_default()
}

impl Helpdesk {
    /// `[helpdesk.requests]`, when service requests are on.
    pub fn request_settings(&self) -> Option<&RequestSettings> {
        self.requests.as_ref().map(|_| &self.settings.requests)
    }

    fn requests(&self) -> Result<&super::requests::Requests, HelpdeskError> {
        self.requests
            .as_ref()
            .ok_or_else(|| HelpdeskError::Internal("service requests are off".to_owned()))
    }

    /// A token for the request form opened now (see [`super::requests::Requests::form_token`]).
    pub fn request_form_token(&self) -> Option<String> {
        self.requests
            .as_ref()
            .map(super::requests::Requests::form_token)
    }

    /// Whether `staff` sees the request queue.
    pub fn handles_requests(&self, staff: &Staff) -> bool {
        self.requests.is_some()
            && self
                .settings
                .requests
                .staff_groups
                .iter()
                .any(|group| staff.in_group(group))
    }

    fn request_staff(&self, staff: &Staff) -> Result<(), HelpdeskError> {
        if self.handles_requests(staff) {
            Ok(())
        } else {
            Err(HelpdeskError::NotAllowed(NotAllowed::RequestStaff))
        }
    }

    fn count_request(&self, event: &'static str) {
        self.metrics
            .count("tunnus_service_requests_total", &[("event", event)]);
    }

    /// A person sends the request form: `token` is the form's own, `bot_field` the field people
    /// never see. Nothing about accounts is looked at: the answer is the same whether or not the
    /// username or the person exists.
    pub async fn send_request(
        &self,
        client: IpAddr,
        typed: &Typed,
        token: &str,
        bot_field: &str,
        context: Context<'_>,
    ) -> Result<Sent, HelpdeskError> {
        let requests = self.requests()?;
        let settings = &self.settings.requests;
        let refused = |reason: &'static str| {
            self.record(
                EventKind::RequestCreated,
                Outcome::Refused,
                Event {
                    reason: Some(reason),
                    client_ip: Some(context.client_ip),
                    request_id: Some(context.request_id),
                    ..Event::default()
                },
            );
            self.count_request(reason);
            tracing::info!(
                event = "request_refused",
                reason,
                "a service request was refused"
            );
        };
        if !bot_field.trim().is_empty() {
            refused("bot_field");
            return Ok(Sent::BotField);
        }
        if requests
            .filled_in(token)
            .is_none_or(|open_for| open_for < settings.min_fill_time.get())
        {
            refused("too_fast");
            return Ok(Sent::TooFast);
        }
        let today = crate::clock::finnish_time(self.clock.now()).date();
        let new = match typed.read(settings, today) {
            Ok(new) => new,
            Err(problems) => return Ok(Sent::Problems(problems)),
        };
        self.limiter
            .admit_service_request(
                client,
                &new.email,
                Event {
                    client_ip: Some(context.client_ip),
                    request_id: Some(context.request_id),
                    ..Event::default()
                },
            )
            .await?;
        let request = requests
            .create(new, context.lang)
            .await
            .map_err(|error| HelpdeskError::Unavailable(format!("store: {error}")))?;
        self.record(
            EventKind::RequestCreated,
            Outcome::Success,
            Event {
                service_request: Some(&request.number),
                delivery: Some(self.delivery(&request).as_str()),
                client_ip: Some(context.client_ip),
                request_id: Some(context.request_id),
                ..Event::default()
            },
        );
        self.count_request("created");
        tracing::info!(event = "request_created", service_request = %request.number, "a service request was sent");
        self.tell(
            ChangeKind::RequestCreated,
            &request,
            None,
            None,
            context.request_id,
        )
        .await;
        Ok(Sent::Sent(Box::new(request)))
    }

    /// How the code of `request` goes.
    fn delivery(&self, request: &ServiceRequest) -> Delivery {
        match request.wanted {
            Wanted::Janitor { .. } => Delivery::Janitor,
            Wanted::Letter { .. } => Delivery::Letter,
        }
    }

    /// The staff page of `number`.
    fn staff_url(&self, number: &str) -> Option<String> {
        self.redeem_url
            .join(&format!("/helpdesk/requests/{number}"))
            .ok()
            .map(String::from)
    }

    /// Writes the notices of a change to `request`: to the person's e-mail address for
    /// [`ChangeKind::RequestIssued`] and [`ChangeKind::RequestRefused`], and to the webhooks that
    /// asked for the request events.
    async fn tell(
        &self,
        kind: ChangeKind,
        request: &ServiceRequest,
        issued: Option<(&Account, &IssuedCode)>,
        reason: Option<(&str, String)>,
        request_id: &str,
    ) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        let lang = request.lang;
        let campus = match &request.wanted {
            Wanted::Janitor { campus } => self.settings.requests.campus(campus),
            Wanted::Letter { .. } => None,
        };
        let (reason, reason_text) = match reason {
            Some((id, text)) => (Some(id.to_owned()), Some(text)),
            None => (None, None),
        };
        let change = Change {
            kind,
            account_id: issued
                .map(|(account, _)| account.id.as_str().to_owned())
                .unwrap_or_default(),
            username: issued
                .map(|(account, _)| account.username.clone())
                .unwrap_or_default(),
            // The status e-mail does not name the account: the address is only what was typed.
            shown_username: String::new(),
            given_name: request.given_name.clone(),
            emails: if kind == ChangeKind::RequestCreated {
                Vec::new()
            } else {
                vec![request.email.clone()]
            },
            channel: "service_request".to_owned(),
            delivery: Some(self.delivery(request).as_str().to_owned()),
            valid_until: issued.map(|(_, code)| code.expires_at - 24 * 3600),
            lang,
            at: self.clock.now().unix_timestamp(),
            request_id: request_id.to_owned(),
            service_request: Some(RequestChange {
                number: request.number.clone(),
                family_name: request.family_name.clone(),
                typed_username: request.username.clone(),
                campus: campus.map(|campus| campus.id.clone()),
                campus_name: campus.map(|campus| localized(&campus.name, lang).to_owned()),
                pick_up_point: campus
                    .map(|campus| localized(&campus.pick_up_point, lang).to_owned()),
                opening_hours: campus
                    .map(|campus| localized(&campus.opening_hours, lang).to_owned()),
                reason,
                reason_text,
                staff_url: self.staff_url(&request.number),
            }),
        };
        notifier.changed(change).await;
    }

    /// The open requests, oldest first, for `staff`. Requests that waited longer than
    /// `helpdesk.requests.expire_after` are not shown: the sweep closes them.
    pub async fn request_queue(&self, staff: &Staff) -> Result<Vec<ServiceRequest>, HelpdeskError> {
        self.request_staff(staff)?;
        self.requests()?
            .open(QUEUE_LENGTH)
            .await
            .map_err(|error| HelpdeskError::Unavailable(format!("store: {error}")))
    }

    /// Closes the requests that waited longer than `helpdesk.requests.expire_after` and tells
    /// their senders; returns how many this replica closed. Each is closed by one replica only; one
    /// that a staff member is acting on just now is left for the next pass.
    pub async fn close_expired_requests(&self) -> Result<usize, HelpdeskError> {
        let Ok(requests) = self.requests() else {
            return Ok(0);
        };
        let store =
            |error: crate::store::StoreError| HelpdeskError::Unavailable(format!("store: {error}"));
        let mut closed = 0;
        for number in requests.past_their_time(SWEEP_BATCH).await.map_err(store)? {
            if !requests.claim(&number, SWEEPER).await.map_err(store)? {
                continue;
            }
            // Read under the claim: staff may have acted on it since the schedule was read.
            let outcome = match requests.get(&number).await {
                Ok(Some(request)) if request.is_past_its_time(requests.now_unix()) => {
                    self.expire(requests, &request).await.map(|_| 1)
                }
                Ok(_) => Ok(0),
                Err(error) => Err(error),
            };
            if let Err(error) = requests.release(&number).await {
                tracing::warn!(%error, "could not release a service request after the sweep");
            }
            closed += outcome.map_err(store)?;
        }
        Ok(closed)
    }

    /// Closes `request`, open and past its time and held by the caller, as expired: audited,
    /// counted, and its sender told. Returns it as closed.
    async fn expire(
        &self,
        requests: &super::requests::Requests,
        request: &ServiceRequest,
    ) -> Result<ServiceRequest, crate::store::StoreError> {
        let status = Status::Refused {
            by: None,
            at: requests.now_unix(),
            reason: "expired".to_owned(),
        };
        let closed = requests.close(request, status).await?;
        let request_id = crate::random::short_id();
        self.record(
            EventKind::RequestRefused,
            Outcome::Success,
            Event {
                service_request: Some(&request.number),
                reason: Some("expired"),
                request_id: Some(&request_id),
                ..Event::default()
            },
        );
        self.count_request("expired");
        self.tell(
            ChangeKind::RequestRefused,
            request,
            None,
            Some(("expired", String::new())),
            &request_id,
        )
        .await;
        Ok(closed)
    }

    /// Closes expired requests every `helpdesk.requests.sweep_interval` until `stop` resolves.
    pub async fn sweep_requests(
        self: std::sync::Arc<Self>,
        every: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            match self.close_expired_requests().await {
                Ok(0) => {}
                Ok(closed) => tracing::info!(closed, "expired service requests closed"),
                Err(error) => {
                    tracing::warn!(%error, "expired service requests could not be closed; trying again");
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// How many requests wait, and when the oldest was sent (unix seconds), for the staff home.
    pub async fn requests_waiting(&self) -> Result<(u64, Option<i64>), HelpdeskError> {
        self.requests()?
            .waiting()
            .await
            .map_err(|error| HelpdeskError::Unavailable(format!("store: {error}")))
    }

    /// The accounts the directory finds for `request`: by the typed username, and by the typed
    /// names; each with how well it agrees with what was typed, those that agree first.
    async fn candidates(
        &self,
        staff: &Staff,
        request: &ServiceRequest,
    ) -> Result<Vec<Candidate>, HelpdeskError> {
        let directory_error = |error: crate::directory::DirectoryError| match error {
            crate::directory::DirectoryError::Unavailable { detail } => {
                HelpdeskError::Unavailable(format!("directory: {detail}"))
            }
            other => HelpdeskError::Internal(format!("directory: {other}")),
        };
        let mut accounts: Vec<(Account, bool)> = Vec::new();
        if let Some(username) = &request.username {
            for account in self
                .directory
                .find_by_username(username)
                .await
                .map_err(directory_error)?
            {
                accounts.push((account, true));
            }
        }
        let first = first_name(&request.given_name);
        for account in self
            .directory
            .find_by_name(first, &request.family_name)
            .await
            .map_err(directory_error)?
        {
            if !accounts.iter().any(|(known, _)| known.id == account.id) {
                accounts.push((account, false));
            }
        }
        let typed_birth_date = request.birth_date();
        let first = first.to_lowercase();
        let mut candidates = Vec::with_capacity(accounts.len());
        for (account, by_username) in accounts {
            let names_match = account.family_name.to_lowercase()
                == request.family_name.to_lowercase()
                && account
                    .given_name
                    .to_lowercase()
                    .split_whitespace()
                    .any(|name| name == first);
            let birth_date_matches = account
                .birth_date
                .map(|born| Some(born) == typed_birth_date);
            let (open_code, last_end) = self.codes_of(&account.username).await?;
            let may_issue = match self.may_issue(staff, &account) {
                Ok(true) => Err(NotAllowed::PrivilegedFromAfar),
                other => other,
            };
            candidates.push(Candidate {
                found: Found {
                    account,
                    open_code,
                    last_end,
                    may_issue,
                },
                by_username,
                names_match,
                birth_date_matches,
            });
        }
        candidates.sort_by_key(|candidate| {
            (
                !candidate.agrees(),
                !candidate.by_username,
                candidate.found.account.username.clone(),
            )
        });
        Ok(candidates)
    }

    /// Request `number` with its candidate accounts, for `staff`; the view is audited.
    pub async fn request(
        &self,
        staff: &Staff,
        number: &str,
        context: Context<'_>,
    ) -> Result<Option<(ServiceRequest, Vec<Candidate>)>, HelpdeskError> {
        self.request_staff(staff)?;
        let Some(request) = self
            .requests()?
            .get(number)
            .await
            .map_err(|error| HelpdeskError::Unavailable(format!("store: {error}")))?
        else {
            return Ok(None);
        };
        let candidates = if request.is_open() {
            self.candidates(staff, &request).await?
        } else {
            Vec::new()
        };
        self.record(
            EventKind::RequestViewed,
            Outcome::Success,
            Event {
                service_request: Some(&request.number),
                staff: Some(&staff.username),
                client_ip: Some(context.client_ip),
                request_id: Some(context.request_id),
                ..Event::default()
            },
        );
        Ok(Some((request, candidates)))
    }

    /// Runs `act` on open request `number` while `staff` holds it, so that two staff members never
    /// act on one request.
    async fn on_open_request<T>(
        &self,
        staff: &Staff,
        number: &str,
        act: impl AsyncFnOnce(ServiceRequest) -> Result<OnRequest<T>, HelpdeskError>,
    ) -> Result<OnRequest<T>, HelpdeskError> {
        self.request_staff(staff)?;
        let requests = self.requests()?;
        let store =
            |error: crate::store::StoreError| HelpdeskError::Unavailable(format!("store: {error}"));
        let Some(request) = requests.get(number).await.map_err(store)? else {
            return Ok(OnRequest::Gone);
        };
        if !request.is_open() {
            return Ok(OnRequest::Closed(Box::new(request)));
        }
        if !requests
            .claim(number, &staff.username)
            .await
            .map_err(store)?
        {
            return Ok(OnRequest::Busy);
        }
        // Read again under the claim: another staff member may have closed it just before. One
        // past its time that the sweep has not closed yet is closed now, not acted on.
        let outcome = match requests.get(number).await.map_err(store) {
            Ok(Some(request)) if request.is_past_its_time(requests.now_unix()) => self
                .expire(requests, &request)
                .await
                .map(|closed| OnRequest::Closed(Box::new(closed)))
                .map_err(store),
            Ok(Some(request)) if request.is_open() => act(request).await,
            Ok(Some(request)) => Ok(OnRequest::Closed(Box::new(request))),
            Ok(None) => Ok(OnRequest::Gone),
            Err(error) => Err(error),
        };
        if let Err(error) = requests.release(number).await {
            tracing::warn!(%error, service_request = %number, "could not release a service request");
        }
        outcome
    }

    /// Issues a code for the candidate `username` of request `number`, delivered the way the
    /// person asked; closes the request and tells the person how the code comes.
    pub async fn issue_from_request(
        &self,
        staff: &Staff,
        number: &str,
        username: &str,
        context: Context<'_>,
    ) -> Result<OnRequest<IssuedFromRequest>, HelpdeskError> {
        self.on_open_request(staff, number, async |request| {
            let candidates = self.candidates(staff, &request).await?;
            let Some(candidate) = candidates
                .into_iter()
                .find(|candidate| candidate.found.account.username == username)
            else {
                return Ok(OnRequest::NotACandidate);
            };
            let account = candidate.found.account;
            let delivery = self.delivery(&request);
            // The code's notice to the account's own addresses goes in the person's language.
            let person = Context {
                lang: request.lang,
                ..context
            };
            let (code, issued) = self
                .issue(
                    staff,
                    &account,
                    delivery,
                    IdentityCheck::ServiceRequest {
                        service_request: request.number.clone(),
                    },
                    person,
                )
                .await?;
            let requests = self.requests()?;
            requests
                .close(
                    &request,
                    Status::Issued {
                        by: staff.username.clone(),
                        at: issued.issued_at,
                        account: account.username.clone(),
                        code: issued.id.clone(),
                    },
                )
                .await
                .map_err(|error| HelpdeskError::Unavailable(format!("store: {error}")))?;
            self.record(
                EventKind::RequestIssued,
                Outcome::Success,
                Event {
                    service_request: Some(&request.number),
                    account: Some(&account.username),
                    code: Some(&issued.id),
                    delivery: Some(delivery.as_str()),
                    staff: Some(&staff.username),
                    client_ip: Some(context.client_ip),
                    request_id: Some(context.request_id),
                    ..Event::default()
                },
            );
            self.count_request("issued");
            self.tell(
                ChangeKind::RequestIssued,
                &request,
                Some((&account, &issued)),
                None,
                person.request_id,
            )
            .await;
            Ok(OnRequest::Done(IssuedFromRequest {
                code,
                issued,
                request,
                account,
            }))
        })
        .await
    }

    /// Refuses request `number` with the reason `reason` (an id of the refusal reasons) and tells
    /// the person why. `None` for a reason that is not one of them: nothing is changed.
    pub async fn refuse_request(
        &self,
        staff: &Staff,
        number: &str,
        reason: &str,
        context: Context<'_>,
    ) -> Result<Option<OnRequest<ServiceRequest>>, HelpdeskError> {
        let Some(reason) = self
            .settings
            .requests
            .refusals()
            .into_iter()
            .find(|known| known.id == reason)
        else {
            return Ok(None);
        };
        let outcome = self
            .on_open_request(staff, number, async |request| {
                self.requests()?
                    .close(
                        &request,
                        Status::Refused {
                            by: Some(staff.username.clone()),
                            at: self.clock.now().unix_timestamp(),
                            reason: reason.id.clone(),
                        },
                    )
                    .await
                    .map_err(|error| HelpdeskError::Unavailable(format!("store: {error}")))?;
                self.record(
                    EventKind::RequestRefused,
                    Outcome::Success,
                    Event {
                        service_request: Some(&request.number),
                        reason: Some(&reason.id),
                        staff: Some(&staff.username),
                        client_ip: Some(context.client_ip),
                        request_id: Some(context.request_id),
                        ..Event::default()
                    },
                );
                self.count_request("refused");
                let text = localized(&reason.text, request.lang).to_owned();
                self.tell(
                    ChangeKind::RequestRefused,
                    &request,
                    None,
                    Some((&reason.id, text)),
                    context.request_id,
                )
                .await;
                Ok(OnRequest::Done(request))
            })
            .await?;
        Ok(Some(outcome))
    }
}
