//! The account use case, free of HTTP: a proof of who the person is → exactly one account →
//! eligibility → a session and a grant → activation or a new password → the success recorded and
//! audited. Every channel (strong identification today) calls [`AccountService`]; no handler touches
//! the directory.
//!
//! - [`AccountService::open`] turns a [`Proof`] into a session, or a [`Refusal`];
//! - [`AccountService::view`] is what the account page shows;
//! - [`AccountService::set_password`] checks the form, takes the grant, re-reads the account from the
//!   directory, writes, and records the outcome;
//! - [`eligibility`] decides who may use self-service, [`password`] which passwords are acceptable,
//!   [`session`] keeps the sealed session records in the store.

use std::sync::Arc;

use crate::audit::{Audit, Event, EventKind, Outcome};
use crate::clock::Clock;
pub use crate::directory::PolicyRefusal;
use crate::directory::{AccountId, Directory, DirectoryError, IfLocked, NewPassword};
use crate::identity::VerifiedIdentity;
use crate::limits::{Limit, LimitError, Limiter};
use crate::metrics::Metrics;
use crate::notify::{Change, ChangeKind, Notifier};

pub mod eligibility;
pub mod password;
pub mod seal;
pub mod session;

pub use eligibility::{AccountSettings, Ineligible, Purpose, Refusal};
use eligibility::{decide, resolve};
use password::{PasswordPolicy, PersonContext, Violation};
pub use seal::SealKey;
use session::{Channel, Claim, CodeRef, Grant, Session, SessionError, Sessions, Taken, Waited};
pub use session::{Done, SESSION_TTL, SessionId};

/// How the person proved who they are.
pub enum Proof {
    /// Strong electronic identification at a broker: a validated ID token.
    Strong(VerifiedIdentity),
    /// A helpdesk activation code, already checked and used up.
    Code(CodeProof),
}

/// A redeemed activation code: the account it was issued for, after a staff member checked the
/// person's identity document.
pub struct CodeProof {
    pub account: AccountId,
    /// The code's id (never the code).
    pub id: String,
    pub delivery: String,
    pub issued_by: String,
    /// Issued by a member of `helpdesk.privileged_staff_groups` for a privileged account.
    pub privileged: bool,
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub client_ip: &'a str,
    pub request_id: &'a str,
    /// The language of the person's pages, which notices after a change are written in.
    pub lang: crate::i18n::Lang,
}

/// What [`AccountService::open`] ended with.
#[derive(Debug)]
pub enum Opened {
    /// A new session: its id goes into the person's cookie.
    Session(SessionId),
    /// Self-service is refused; nothing was stored.
    Refused(Refusal),
}

/// What the account page shows.
#[derive(Debug)]
pub struct View {
    pub session: Session,
}

/// The account form as submitted.
pub struct PasswordForm {
    pub csrf: String,
    pub password: String,
    pub confirmation: String,
    pub accept_terms: bool,
}

/// Why the form is shown again.
#[derive(Debug, Default)]
pub struct Problems {
    /// The service's own password rules that were broken.
    pub violations: Vec<Violation>,
    /// Activation without the terms of use accepted.
    pub terms: bool,
    /// The directory's password policy said no.
    pub directory: Option<PolicyRefusal>,
}

impl Problems {
    fn is_empty(&self) -> bool {
        self.violations.is_empty() && !self.terms && self.directory.is_none()
    }
}

/// What [`AccountService::set_password`] ended with.
#[derive(Debug)]
pub enum Submitted {
    /// This password is written (now, or by an earlier submission of this session with the same
    /// password: a double click or a lost answer).
    Done { session: Session, done: Done },
    /// Another submission of this session (another window or tab) set a *different* password at
    /// `done.at`; this one was not written.
    SetElsewhere { session: Session, done: Done },
    /// Nothing was written: show the form again with the problems.
    Invalid {
        session: Session,
        problems: Problems,
    },
    /// Nothing was written and the session has ended: the account may no longer use self-service,
    /// or it is gone.
    Refused(Refusal),
}

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// No live session (never identified, expired, or ended): start again.
    #[error("no live session: {0}")]
    NoSession(&'static str),
    /// The form did not carry the session's CSRF token: refuse (403), change nothing.
    #[error("account form without the session's CSRF token")]
    Forbidden,
    /// Too many attempts: 429 with `Retry-After`.
    #[error("rate limit {} passed", limit.as_str())]
    RateLimited { limit: Limit, retry_after: u64 },
    /// The store or the directory is down: "try again later" (503); the person may retry.
    #[error("{0}")]
    Unavailable(String),
    /// The service is misconfigured or a record cannot be encoded: 500.
    #[error("{0}")]
    Internal(String),
}

impl From<SessionError> for AccountError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Store(error) => AccountError::Unavailable(format!("store: {error}")),
            SessionError::Internal(_) => AccountError::Internal(error.to_string()),
        }
    }
}

impl From<LimitError> for AccountError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Exceeded { limit, retry_after } => {
                AccountError::RateLimited { limit, retry_after }
            }
            LimitError::Store(error) => AccountError::Unavailable(format!("store: {error}")),
        }
    }
}

fn directory_error(step: &str, error: DirectoryError) -> AccountError {
    match error {
        DirectoryError::Unavailable { detail } => {
            AccountError::Unavailable(format!("directory {step}: {detail}"))
        }
        // The person can do nothing about it and nothing was changed: the service is unavailable
        // to them until an operator, whom the log tells what to fix, sets it right.
        DirectoryError::Misconfigured { detail } => {
            tracing::error!(%detail, "the directory is misconfigured");
            AccountError::Unavailable(format!("directory {step}: misconfigured: {detail}"))
        }
        other => AccountError::Internal(format!("directory {step}: {other}")),
    }
}

/// How a write went besides the password: whether it unlocked the account, and where the
/// account's owner is told of it.
struct Written {
    unlocks: bool,
    emails: Vec<String>,
}

/// The name the pages show for the account of `session`.
fn shown_username(session: &Session) -> String {
    session
        .login_name
        .clone()
        .unwrap_or_else(|| session.username.clone())
}

/// What the account service is built from.
pub struct AccountParts {
    pub directory: Arc<dyn Directory>,
    pub sessions: Sessions,
    pub policy: PasswordPolicy,
    pub rules: AccountSettings,
    pub audit: Arc<Audit>,
    pub limiter: Limiter,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// The account categories the helpdesk may issue codes for: those a code opens.
    pub code_categories: Vec<String>,
    /// Tells the owner and campus identity management of each change.
    pub notifier: Option<Arc<Notifier>>,
}

/// The account use case. Cheap to share behind an `Arc`.
pub struct AccountService {
    directory: Arc<dyn Directory>,
    sessions: Sessions,
    policy: PasswordPolicy,
    rules: AccountSettings,
    code_categories: Vec<String>,
    audit: Arc<Audit>,
    limiter: Limiter,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    notifier: Option<Arc<Notifier>>,
}

impl AccountService {
    pub fn new(parts: AccountParts) -> Self {
        let AccountParts {
            directory,
            sessions,
            policy,
            rules,
            audit,
            limiter,
            metrics,
            clock,
            code_categories,
            notifier,
        } = parts;
        Self {
            directory,
            sessions,
            policy,
            rules,
            code_categories,
            audit,
            limiter,
            metrics,
            clock,
            notifier,
        }
    }

    /// Hands `change` to the notifier, if notices are on.
    async fn notify(&self, change: impl FnOnce() -> Change) {
        if let Some(notifier) = &self.notifier {
            notifier.changed(change()).await;
        }
    }

    /// The password rules, for the page that lists them.
    pub fn policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    /// Whether the directory answers (readiness).
    pub async fn directory_ready(&self) -> Result<(), DirectoryError> {
        self.directory.health().await
    }

    fn audit(&self, kind: EventKind, outcome: Outcome, event: Event<'_>) {
        self.audit.record(kind, outcome, event, self.clock.now());
    }

    /// Finds the one account of the person who gave `proof` and opens a session with the right to
    /// write its password once; or refuses, recording why. `return_to` is where the success page
    /// sends the person (already checked against the allow-list).
    pub async fn open(
        &self,
        proof: Proof,
        return_to: Option<String>,
        context: Context<'_>,
    ) -> Result<Opened, AccountError> {
        match proof {
            Proof::Strong(identity) => self.open_strong(identity, return_to, context).await,
            Proof::Code(code) => self.open_code(code, return_to, context).await,
        }
    }

    async fn open_strong(
        &self,
        identity: VerifiedIdentity,
        return_to: Option<String>,
        context: Context<'_>,
    ) -> Result<Opened, AccountError> {
        // The pseudonym is computed once and stands for the identity code in every event below.
        let subject = self.audit.pseudonym(&identity.national_id);
        let event = |reason: Option<&'static str>, account| Event {
            account,
            subject: Some(&subject),
            acr: Some(&identity.acr),
            reason,
            client_ip: Some(context.client_ip),
            request_id: Some(context.request_id),
            ..Event::default()
        };
        self.audit(
            EventKind::Identification,
            Outcome::Success,
            event(None, None),
        );
        tracing::info!(event = "identified", acr = %identity.acr, "person identified");
        self.metrics
            .count("tunnus_flows_total", &[("stage", "identified")]);
        self.limiter
            .enforce(Limit::IdentificationsPerPerson, &subject, event(None, None))
            .await?;

        let resolved = resolve(self.directory.as_ref(), &identity.national_id, &self.rules)
            .await
            .map_err(|error| directory_error("lookup", error))?;
        let eligible = match resolved {
            Ok(eligible) => eligible,
            Err(refusal) => {
                self.audit(
                    EventKind::Refusal,
                    Outcome::Refused,
                    event(Some(refusal.as_str()), refusal.username()),
                );
                self.count_refusal(&refusal);
                return Ok(Opened::Refused(refusal));
            }
        };
        let expires_at = self.sessions.expiry(SESSION_TTL);
        let idle_until = self.sessions.idle_until(expires_at);
        let session = Session {
            channel: Channel::StrongIdentification,
            subject: Some(subject.clone()),
            code: None,
            acr: Some(identity.acr.clone()),
            account: eligible.account.id.clone(),
            username: eligible.account.username.clone(),
            login_name: eligible.account.login_name.clone(),
            given_name: identity.given_name,
            family_name: identity.family_name,
            birth_date: Some(identity.national_id.birth_date()),
            purpose: eligible.purpose,
            csrf: crate::random::token(),
            return_to,
            expires_at,
            idle_until,
        };
        let grant = Grant {
            account: eligible.account.id,
            purpose: eligible.purpose,
            expires_at,
        };
        Ok(Opened::Session(
            self.sessions.create(&session, &grant).await?,
        ))
    }

    /// A redeemed code opens the account it was issued for, if the account may still use it: the
    /// categories the helpdesk serves, not disabled, and not privileged unless the code was issued
    /// by a member of the privileged staff groups.
    async fn open_code(
        &self,
        code: CodeProof,
        return_to: Option<String>,
        context: Context<'_>,
    ) -> Result<Opened, AccountError> {
        let event = |reason: Option<&'static str>, account| Event {
            account,
            reason,
            client_ip: Some(context.client_ip),
            request_id: Some(context.request_id),
            channel: Some(Channel::ActivationCode.as_str()),
            code: Some(&code.id),
            delivery: Some(&code.delivery),
            staff: Some(&code.issued_by),
            ..Event::default()
        };
        let current = self
            .directory
            .account(&code.account)
            .await
            .map_err(|error| directory_error("read", error))?;
        let rules = self.code_rules(code.privileged);
        let decided = match current {
            Some(account) => decide(account, &rules),
            None => Err(Refusal::AccountGone),
        };
        let eligible = match decided {
            Ok(eligible) => eligible,
            Err(refusal) => {
                self.audit(
                    EventKind::Refusal,
                    Outcome::Refused,
                    event(Some(refusal.as_str()), refusal.username()),
                );
                self.count_refusal(&refusal);
                return Ok(Opened::Refused(refusal));
            }
        };
        let expires_at = self.sessions.expiry(SESSION_TTL);
        let idle_until = self.sessions.idle_until(expires_at);
        let account = eligible.account;
        let session = Session {
            channel: Channel::ActivationCode,
            subject: None,
            code: Some(CodeRef {
                id: code.id.clone(),
                delivery: code.delivery.clone(),
                issued_by: code.issued_by.clone(),
                privileged: code.privileged,
            }),
            acr: None,
            account: account.id.clone(),
            username: account.username.clone(),
            login_name: account.login_name.clone(),
            given_name: account.given_name.clone(),
            family_name: account.family_name.clone(),
            birth_date: None,
            purpose: eligible.purpose,
            csrf: crate::random::token(),
            return_to,
            expires_at,
            idle_until,
        };
        let grant = Grant {
            account: account.id,
            purpose: eligible.purpose,
            expires_at,
        };
        let opened = self.sessions.create(&session, &grant).await?;
        self.notify(|| Change {
            kind: ChangeKind::CodeRedeemed,
            account_id: session.account.as_str().to_owned(),
            username: session.username.clone(),
            shown_username: shown_username(&session),
            given_name: session.given_name.clone(),
            emails: account.emails.clone(),
            channel: Channel::ActivationCode.as_str().to_owned(),
            delivery: Some(code.delivery.clone()),
            valid_until: None,
            lang: context.lang,
            at: self.clock.now().unix_timestamp(),
            request_id: context.request_id.to_owned(),
            service_request: None,
        })
        .await;
        Ok(Opened::Session(opened))
    }

    /// The eligibility rules of accounts opened by a helpdesk code: the categories the helpdesk
    /// serves, and privileged accounts only when a privileged staff member issued the code.
    fn code_rules(&self, privileged: bool) -> AccountSettings {
        AccountSettings {
            eligible_categories: self.code_categories.clone(),
            refused_groups: if privileged {
                Vec::new()
            } else {
                self.rules.refused_groups.clone()
            },
            ..self.rules.clone()
        }
    }

    /// The rules `session`'s account was opened under.
    fn rules_of(&self, session: &Session) -> std::borrow::Cow<'_, AccountSettings> {
        match &session.code {
            Some(code) => std::borrow::Cow::Owned(self.code_rules(code.privileged)),
            None => std::borrow::Cow::Borrowed(&self.rules),
        }
    }

    /// The audit event of something done in `session`.
    fn session_event<'a>(
        session: &'a Session,
        reason: Option<&'static str>,
        context: Context<'a>,
    ) -> Event<'a> {
        let code = session.code.as_ref();
        Event {
            account: Some(&session.username),
            subject: session.subject.as_deref(),
            acr: session.acr.as_deref(),
            reason,
            client_ip: Some(context.client_ip),
            request_id: Some(context.request_id),
            channel: code.map(|_| session.channel.as_str()),
            code: code.map(|code| code.id.as_str()),
            delivery: code.map(|code| code.delivery.as_str()),
            staff: code.map(|code| code.issued_by.as_str()),
            ..Event::default()
        }
    }

    fn count_refusal(&self, refusal: &Refusal) {
        tracing::info!(
            event = "refused",
            reason = refusal.as_str(),
            "self-service refused"
        );
        self.metrics
            .count("tunnus_flows_total", &[("stage", "refused")]);
        self.metrics
            .count("tunnus_refusals_total", &[("reason", refusal.as_str())]);
    }

    /// The live session of `id`, for the account page; using it keeps it alive for another idle
    /// period. Once the password is written the session is over: the success was shown once, and
    /// another visit (someone else at a shared computer, perhaps) is told the session has ended.
    pub async fn view(&self, id: &SessionId) -> Result<View, AccountError> {
        if self.sessions.load_done(id).await?.is_some() {
            return Err(AccountError::NoSession(
                "the password was set: the session is over",
            ));
        }
        let session = self
            .sessions
            .use_session(id)
            .await?
            .ok_or(AccountError::NoSession("no session for the cookie"))?;
        Ok(View { session })
    }

    /// Ends session `id` and its grant at the person's request ("cancel and sign out"), if the form
    /// carries the session's CSRF token. Ending a session that is already over is not an error.
    pub async fn sign_out(
        &self,
        id: &SessionId,
        csrf: &str,
        context: Context<'_>,
    ) -> Result<(), AccountError> {
        let Some(session) = self.sessions.load(id).await? else {
            return Ok(());
        };
        if !crate::secret::same_secret(&session.csrf, csrf) {
            return Err(AccountError::Forbidden);
        }
        self.sessions.end(id).await?;
        self.audit(
            EventKind::SignOut,
            Outcome::Success,
            Self::session_event(&session, None, context),
        );
        tracing::info!(event = "signed_out", "session ended by the person");
        Ok(())
    }

    /// [`Submitted::Done`] when `password` is the one written, else [`Submitted::SetElsewhere`].
    fn after_write(
        &self,
        id: &SessionId,
        session: Session,
        done: Done,
        password: &str,
    ) -> Submitted {
        let tag = self.sessions.password_tag(id, password);
        if crate::secret::same_secret(&tag, &done.password_tag) {
            Submitted::Done { session, done }
        } else {
            Submitted::SetElsewhere { session, done }
        }
    }

    /// Checks the form and writes the password of session `id`'s account, once.
    ///
    /// The grant is taken for the write, so racing submissions of one session write at most once;
    /// the account is read again from the directory and must still be eligible; the success is
    /// recorded before the answer, so a repeated submission shows it again; a write that failed and
    /// may be retried puts the grant back.
    pub async fn set_password(
        &self,
        id: &SessionId,
        form: PasswordForm,
        context: Context<'_>,
    ) -> Result<Submitted, AccountError> {
        let session = self
            .sessions
            .use_session(id)
            .await?
            .ok_or(AccountError::NoSession("no session for the cookie"))?;
        if !crate::secret::same_secret(&session.csrf, &form.csrf) {
            return Err(AccountError::Forbidden);
        }
        // One form of every letter for the rules, the comparison and the directory.
        let form = PasswordForm {
            password: password::normalise(&form.password),
            confirmation: password::normalise(&form.confirmation),
            ..form
        };
        if let Some(done) = self.sessions.load_done(id).await? {
            // A repeated submission after a success (a lost answer, a double click) shows the
            // success; another password from another window is told it was not the one set.
            return Ok(self.after_write(id, session, done, &form.password));
        }
        let event = |reason: Option<&'static str>| Self::session_event(&session, reason, context);
        // A refusal over the limit is recorded without the assurance level.
        self.limiter
            .enforce(
                Limit::PasswordAttempts,
                &id.fingerprint(),
                Event {
                    acr: None,
                    ..event(None)
                },
            )
            .await?;

        let mut problems = Problems {
            terms: session.purpose == Purpose::Activate && !form.accept_terms,
            ..Problems::default()
        };
        let person = PersonContext {
            username: &session.username,
            given_name: &session.given_name,
            family_name: &session.family_name,
            birth_date: session.birth_date,
            // The plain code is not kept after identification; every form of it contains the birth
            // date, which the birth-date rule refuses.
            national_id: "",
        };
        if let Err(violations) = self
            .policy
            .check(&form.password, &form.confirmation, &person)
        {
            problems.violations = violations;
        }
        if !problems.is_empty() {
            return Ok(Submitted::Invalid { session, problems });
        }

        // While this submission may hold the grant, a marker says a write is under way, so that a
        // submission waiting for it can tell a write in progress from a grant lost to a failure.
        let submission = crate::random::short_id();
        self.sessions.mark_writing(id, &submission).await?;
        let submitted = self
            .take_and_write(id, &submission, session, form, context)
            .await;
        if let Err(error) = self.sessions.clear_writing(id, &submission).await {
            tracing::warn!(%error, "could not clear a session's writing marker");
        }
        submitted
    }

    /// The grant-holding half of [`AccountService::set_password`]: takes the grant (or waits for
    /// another submission of the session that holds it), re-reads the account, claims it, writes.
    async fn take_and_write(
        &self,
        id: &SessionId,
        submission: &str,
        session: Session,
        form: PasswordForm,
        context: Context<'_>,
    ) -> Result<Submitted, AccountError> {
        let event = |reason: Option<&'static str>| Self::session_event(&session, reason, context);
        // Another submission of this session may hold the grant (a double click, a second tab):
        // wait for its outcome. A success is this one's too only if it wrote the same password;
        // a failure puts the grant back, and this submission writes its own.
        let grant = loop {
            match self.sessions.take_grant(id).await? {
                Taken::Grant(grant) => {
                    if let Err(error) = self.sessions.mark_writing(id, submission).await {
                        if let Err(error) = self.sessions.return_grant(id, &grant).await {
                            tracing::warn!(%error, "could not return a grant after a store failure");
                        }
                        return Err(error.into());
                    }
                    break grant;
                }
                Taken::Nothing => {}
                Taken::Rejected => {
                    // Someone wrote into the store: nothing of this session can be trusted.
                    self.sessions.end(id).await?;
                    return Err(AccountError::NoSession(
                        "the grant failed its integrity check",
                    ));
                }
            }
            self.metrics.count("tunnus_submissions_waited_total", &[]);
            match self.sessions.wait_for_other(id, submission).await? {
                Waited::Done(done) => {
                    return Ok(self.after_write(id, session, done, &form.password));
                }
                Waited::GrantReturned => continue,
                Waited::Ended => return Err(AccountError::NoSession("no grant to write with")),
                Waited::StillWriting => {
                    return Err(AccountError::Unavailable(
                        "another submission of this session is still writing".to_owned(),
                    ));
                }
            }
        };
        if grant.account != session.account {
            // Both records are sealed by this service; they can only disagree through a defect.
            self.sessions.end(id).await?;
            return Err(AccountError::NoSession(
                "grant and session name other accounts",
            ));
        }
        let event_kind = match grant.purpose {
            Purpose::Activate => EventKind::Activation,
            Purpose::Reset => EventKind::Reset,
        };

        // The account as it is now: disabled, locked, moved out of the allowed categories or made
        // privileged since identification means no write.
        let current = match self.directory.account(&grant.account).await {
            Ok(current) => current,
            Err(error) => {
                self.sessions.return_grant(id, &grant).await?;
                if matches!(error, DirectoryError::Unavailable { .. }) {
                    self.audit(
                        event_kind,
                        Outcome::Failed,
                        event(Some("directory_unavailable")),
                    );
                }
                return Err(directory_error("read", error));
            }
        };
        // Only a reset the rules allow to unlock may find the account locked here.
        let unlocks = current.as_ref().is_some_and(|account| account.locked);
        let emails = current
            .as_ref()
            .map(|account| account.emails.clone())
            .unwrap_or_default();
        let rules = self.rules_of(&session);
        let refusal = match current.map(|account| decide(account, &rules)) {
            None => Some(Refusal::AccountGone),
            Some(Err(refusal)) => Some(refusal),
            // An activation whose first answer was lost finds the account active: completing it is
            // what the repeated submission asks for.
            Some(Ok(eligible))
                if eligible.purpose == grant.purpose
                    || (grant.purpose, eligible.purpose) == (Purpose::Activate, Purpose::Reset) =>
            {
                None
            }
            Some(Ok(_)) => {
                self.sessions.end(id).await?;
                return Err(AccountError::NoSession(
                    "the account's state changed since identification",
                ));
            }
        };
        if let Some(refusal) = refusal {
            self.sessions.end(id).await?;
            let outcome = match refusal {
                Refusal::AccountGone => Outcome::Failed,
                _ => Outcome::Refused,
            };
            self.audit(event_kind, outcome, event(Some(refusal.as_str())));
            self.count_refusal(&refusal);
            return Ok(Submitted::Refused(refusal));
        }

        // One session of an account writes at a time, and none over a password another session of
        // the same account set after this one was opened (the person's phone and laptop).
        let opened_at = session
            .expires_at
            .saturating_sub(i64::try_from(SESSION_TTL.as_secs()).unwrap_or(0));
        let claim = match self
            .sessions
            .claim_account(&grant.account, id, opened_at)
            .await
        {
            Ok(claim) => claim,
            Err(error) => {
                // Nothing was written: the grant goes back if the store allows it, so that a retry
                // can write.
                if let Err(error) = self.sessions.return_grant(id, &grant).await {
                    tracing::warn!(%error, "could not return a grant after a store failure");
                }
                return Err(error.into());
            }
        };
        match claim {
            Claim::Claimed => {}
            Claim::WrittenElsewhere(at) => {
                self.sessions.end(id).await?;
                self.audit(
                    event_kind,
                    Outcome::Refused,
                    event(Some("written_in_another_session")),
                );
                let done = Done {
                    username: session.username.clone(),
                    login_name: session.login_name.clone(),
                    purpose: grant.purpose,
                    at,
                    expires_at: at,
                    password_tag: String::new(),
                };
                return Ok(Submitted::SetElsewhere { session, done });
            }
            Claim::Busy => {
                self.sessions.return_grant(id, &grant).await?;
                return Err(AccountError::Unavailable(
                    "another session of the account is still writing".to_owned(),
                ));
            }
        }
        let written = self
            .write(
                id,
                &session,
                &grant,
                form.password,
                Written { unlocks, emails },
                context,
            )
            .await;
        let written_at = matches!(written, Ok(Submitted::Done { .. }))
            .then(|| self.clock.now().unix_timestamp());
        if let Err(error) = self
            .sessions
            .release_account(&grant.account, id, written_at)
            .await
        {
            tracing::error!(%error, "could not release the claim on an account");
        }
        written
    }

    /// Writes the password of `grant`'s account for session `id` and records the outcome.
    async fn write(
        &self,
        id: &SessionId,
        session: &Session,
        grant: &Grant,
        password: String,
        written_as: Written,
        context: Context<'_>,
    ) -> Result<Submitted, AccountError> {
        let Written { unlocks, emails } = written_as;
        let session = session.clone();
        let event = |reason: Option<&'static str>| Self::session_event(&session, reason, context);
        let event_kind = match grant.purpose {
            Purpose::Activate => EventKind::Activation,
            Purpose::Reset => EventKind::Reset,
        };
        let password_tag = self.sessions.password_tag(id, &password);
        let password = NewPassword::new(password);
        // Unlocking is asked for whenever the rules allow it, so that an account locked since it was
        // read is unlocked too rather than left half-done; without the setting, the directory
        // refuses to write to a locked account.
        let if_locked = if self.rules.reset_unlocks {
            IfLocked::Unlock
        } else {
            IfLocked::Refuse
        };
        let written = match grant.purpose {
            Purpose::Activate => {
                self.directory
                    .activate(&grant.account, &password, if_locked)
                    .await
            }
            Purpose::Reset => {
                self.directory
                    .reset_password(&grant.account, &password, if_locked)
                    .await
            }
        };
        match written {
            Ok(()) => {
                let done = Done {
                    username: session.username.clone(),
                    login_name: session.login_name.clone(),
                    purpose: grant.purpose,
                    at: self.clock.now().unix_timestamp(),
                    expires_at: self.sessions.expiry(session::DONE_TTL),
                    password_tag,
                };
                if let Err(error) = self.sessions.record_done(id, &session, &done).await {
                    // The password is written; failing to remember that must not turn success into
                    // an error.
                    tracing::error!(%error, "could not record a successful write");
                }
                let reason = unlocks.then_some("unlocked");
                self.audit(event_kind, Outcome::Success, event(reason));
                tracing::info!(
                    event = "password_written",
                    purpose = ?grant.purpose,
                    unlocked = unlocks,
                    "password written"
                );
                self.metrics
                    .count("tunnus_flows_total", &[("stage", "completed")]);
                self.notify(|| Change {
                    kind: match grant.purpose {
                        Purpose::Activate => ChangeKind::Activated,
                        Purpose::Reset => ChangeKind::PasswordReset,
                    },
                    account_id: grant.account.as_str().to_owned(),
                    username: session.username.clone(),
                    shown_username: shown_username(&session),
                    given_name: session.given_name.clone(),
                    emails,
                    channel: session.channel.as_str().to_owned(),
                    delivery: session.code.as_ref().map(|code| code.delivery.clone()),
                    valid_until: None,
                    lang: context.lang,
                    at: done.at,
                    request_id: context.request_id.to_owned(),
                    service_request: None,
                })
                .await;
                Ok(Submitted::Done { session, done })
            }
            Err(error) => {
                if matches!(error, DirectoryError::AccountNotFound) {
                    // Nothing more can be done with this account here.
                    self.sessions.end(id).await?;
                } else {
                    self.sessions.return_grant(id, grant).await?;
                }
                let (reason, outcome) = match &error {
                    DirectoryError::PolicyRejected { .. } => ("directory_policy", Outcome::Refused),
                    DirectoryError::Unavailable { .. } => {
                        ("directory_unavailable", Outcome::Failed)
                    }
                    DirectoryError::AccountNotFound => ("account_gone", Outcome::Failed),
                    DirectoryError::Misconfigured { .. } => {
                        ("directory_misconfigured", Outcome::Failed)
                    }
                };
                self.audit(event_kind, outcome, event(Some(reason)));
                match error {
                    DirectoryError::PolicyRejected { refusal, detail } => {
                        tracing::warn!(%detail, "the directory refused the password");
                        let problems = Problems {
                            directory: Some(refusal),
                            ..Problems::default()
                        };
                        Ok(Submitted::Invalid { session, problems })
                    }
                    DirectoryError::AccountNotFound => Ok(Submitted::Refused(Refusal::AccountGone)),
                    other => Err(directory_error("write", other)),
                }
            }
        }
    }
}
