//! [`Helpdesk`]: the helpdesk channel's use cases. Redeeming a code hands the person to the same
//! account use case as strong identification ([`AccountService::open`] with [`Proof::Code`]).

use std::net::IpAddr;
use std::sync::Arc;

use super::code::Code;
use super::codes::{Codes, Delivery, IdentityCheck, Issue, IssuedCode, Redeemed};
use super::settings::HelpdeskSettings;
use crate::account::AccountSettings;
use crate::account::{AccountError, AccountService, CodeProof, Context, Opened, Proof};
use crate::audit::{Audit, Event, EventKind, Outcome};
use crate::clock::Clock;
use crate::directory::{Account, AccountState};
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

/// A signed-in helpdesk staff member.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Staff {
    pub username: String,
    pub name: String,
    /// The staff member's groups, as the campus SSO or the directory gave them.
    pub groups: Vec<String>,
}

impl Staff {
    pub(super) fn in_group(&self, group: &str) -> bool {
        self.groups
            .iter()
            .any(|own| crate::account::eligibility::same_group(own, group))
    }
}

/// What a staff member searched for.
#[derive(Debug)]
pub enum Search {
    /// An identity code typed from the person's document, validated like everywhere else.
    NationalId(crate::identity::NationalId),
    Username(String),
}

impl Search {
    /// Reads what staff typed: something shaped like an identity code must be a valid one (a typo
    /// in a code is an error, not a username search); anything else is a username.
    pub fn parse(typed: &str, test_identities: bool) -> Result<Search, SearchError> {
        let typed = typed.trim();
        if typed.is_empty() || typed.chars().count() > 128 {
            return Err(SearchError::Empty);
        }
        let looks_like_code = typed.len() == 11
            && typed.as_bytes()[..6].iter().all(u8::is_ascii_digit)
            && typed.as_bytes()[7..10].iter().all(u8::is_ascii_digit);
        if looks_like_code {
            return crate::identity::NationalId::parse(&typed.to_uppercase(), test_identities)
                .map(Search::NationalId)
                .map_err(|_| SearchError::InvalidNationalId);
        }
        Ok(Search::Username(typed.to_owned()))
    }
}

/// Why a search could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchError {
    Empty,
    /// Shaped like an identity code but not a valid one (a wrong check character, a date that
    /// does not exist).
    InvalidNationalId,
}

/// An account as staff see it: never a password.
#[derive(Debug)]
pub struct Found {
    pub account: Account,
    pub open_code: Option<IssuedCode>,
    pub last_end: Option<super::codes::Ended>,
    /// Whether the signed-in staff member may issue a code for it, and if not, why.
    pub may_issue: Result<bool, NotAllowed>,
}

/// Where an account stands, as the staff pages say it: a lock counts before the stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Active,
    PendingActivation,
    Disabled,
    Locked,
}

impl Found {
    pub fn standing(&self) -> Standing {
        if self.account.locked {
            return Standing::Locked;
        }
        match self.account.state {
            AccountState::Active => Standing::Active,
            AccountState::PendingActivation => Standing::PendingActivation,
            AccountState::Disabled => Standing::Disabled,
        }
    }
}

/// Why a staff member may not issue a code for an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAllowed {
    /// No `[[helpdesk.rules]]` of the staff member's groups covers the account's category.
    Category,
    /// A privileged account needs a member of `helpdesk.privileged_staff_groups`.
    Privileged,
    /// The account is disabled.
    Disabled,
    /// The identity check is incomplete (no photo comparison, no issuing country).
    Check,
    /// A privileged account's code is not issued from a service request: its owner comes to a
    /// service point with an identity document.
    PrivilegedFromAfar,
    /// Only members of `helpdesk.requests.staff_groups` see and act on service requests.
    RequestStaff,
}

impl NotAllowed {
    pub fn as_str(self) -> &'static str {
        match self {
            NotAllowed::Category => "category",
            NotAllowed::Privileged => "privileged",
            NotAllowed::Disabled => "disabled",
            NotAllowed::Check => "identity_check",
            NotAllowed::PrivilegedFromAfar => "privileged_from_afar",
            NotAllowed::RequestStaff => "not_request_staff",
        }
    }
}

/// Why a helpdesk request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum HelpdeskError {
    /// The staff member may not issue a code for this account: show why, change nothing.
    #[error("not allowed to issue a code: {}", .0.as_str())]
    NotAllowed(NotAllowed),
    /// Too many tries: 429 with `Retry-After`.
    #[error("rate limit {} passed", limit.as_str())]
    RateLimited { limit: Limit, retry_after: u64 },
    /// The store is down: "try again later".
    #[error("{0}")]
    Unavailable(String),
    /// What staff typed for the document cannot be printed (a name or address line that does not
    /// fit or uses characters the font lacks): show the form again with the problem.
    #[error("cannot print: {0}")]
    Document(String),
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
    /// Prints the documents that carry codes.
    pub printer: super::letter::Printer,
    /// Where people redeem codes: the service's `/code` page.
    pub redeem_url: url::Url,
    pub directory: Arc<dyn crate::directory::Directory>,
    /// Whether identity codes 900–999 are accepted (test installations).
    pub test_identities: bool,
    /// `[accounts]`, for which accounts are privileged.
    pub accounts_settings: AccountSettings,
    pub codes: Codes,
    /// The service requests, when `[helpdesk.requests]` is on.
    pub requests: Option<super::requests::Requests>,
    pub accounts: Arc<AccountService>,
    pub limiter: Limiter,
    pub audit: Arc<Audit>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Tells the owner and campus identity management of each code issued.
    pub notifier: Option<Arc<crate::notify::Notifier>>,
}

/// The helpdesk channel.
pub struct Helpdesk {
    pub(super) settings: HelpdeskSettings,
    pub(super) printer: super::letter::Printer,
    pub(super) redeem_url: url::Url,
    pub(super) directory: Arc<dyn crate::directory::Directory>,
    pub(super) test_identities: bool,
    pub(super) accounts_settings: AccountSettings,
    pub(super) codes: Codes,
    pub(super) requests: Option<super::requests::Requests>,
    pub(super) accounts: Arc<AccountService>,
    pub(super) limiter: Limiter,
    pub(super) audit: Arc<Audit>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) notifier: Option<Arc<crate::notify::Notifier>>,
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
            printer,
            redeem_url,
            directory,
            test_identities,
            accounts_settings,
            codes,
            requests,
            accounts,
            limiter,
            audit,
            metrics,
            clock,
            notifier,
        } = parts;
        Self {
            settings,
            printer,
            redeem_url,
            directory,
            test_identities,
            accounts_settings,
            codes,
            requests,
            accounts,
            limiter,
            audit,
            metrics,
            clock,
            notifier,
        }
    }

    pub fn settings(&self) -> &HelpdeskSettings {
        &self.settings
    }

    pub(super) fn record(&self, kind: EventKind, outcome: Outcome, event: Event<'_>) {
        self.audit.record(kind, outcome, event, self.clock.now());
    }

    fn count(&self, event: &'static str) {
        self.metrics
            .count("tunnus_codes_total", &[("event", event)]);
    }

    /// Reads a search as staff typed it.
    pub fn search(&self, typed: &str) -> Result<Search, SearchError> {
        Search::parse(typed, self.test_identities)
    }

    /// The accounts `search` finds, each with its open code and what `staff` may do with it.
    pub async fn find(&self, staff: &Staff, search: &Search) -> Result<Vec<Found>, HelpdeskError> {
        let accounts = match search {
            Search::NationalId(id) => self.directory.find_by_national_id(id).await,
            Search::Username(username) => self.directory.find_by_username(username).await,
        }
        .map_err(|error| match error {
            crate::directory::DirectoryError::Unavailable { detail } => {
                HelpdeskError::Unavailable(format!("directory: {detail}"))
            }
            other => HelpdeskError::Internal(format!("directory: {other}")),
        })?;
        let mut found = Vec::with_capacity(accounts.len());
        for account in accounts {
            let (open_code, last_end) = self.codes_of(&account.username).await?;
            let may_issue = self.may_issue(staff, &account);
            found.push(Found {
                account,
                open_code,
                last_end,
                may_issue,
            });
        }
        Ok(found)
    }

    /// The one account of `username`, for issuing or revoking (the form names it by username).
    pub async fn account(&self, username: &str) -> Result<Option<Account>, HelpdeskError> {
        let mut found = self
            .directory
            .find_by_username(username)
            .await
            .map_err(|error| HelpdeskError::Unavailable(format!("directory: {error}")))?;
        Ok((found.len() == 1).then(|| found.remove(0)))
    }

    /// Whether `code` is the open code of `username` (for printing it again), without using it up.
    pub async fn is_open_code(
        &self,
        username: &str,
        typed: &str,
    ) -> Result<Option<IssuedCode>, HelpdeskError> {
        Ok(self.codes.check_open(username, typed).await?)
    }

    /// The printed document for `username`'s open code `typed` (the staff member's page carries the
    /// code it was shown once; only its hash is kept, so printing checks it against the open code).
    /// `None` when `typed` is not the open code.
    pub async fn print(
        &self,
        staff: &Staff,
        username: &str,
        typed: &str,
        delivery: super::letter::Delivery,
        lang: crate::i18n::Lang,
        context: Context<'_>,
    ) -> Result<Option<Vec<u8>>, HelpdeskError> {
        let Some(open) = self.codes.check_open(username, typed).await? else {
            return Ok(None);
        };
        let Some(account) = self.account(username).await? else {
            return Ok(None);
        };
        let today = crate::clock::finnish_time(self.clock.now()).date();
        let last_day = crate::clock::finnish_time(
            time::OffsetDateTime::from_unix_timestamp(open.expires_at)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        )
        .date();
        let document = super::letter::Document {
            delivery,
            lang,
            full_name: format!("{} {}", account.given_name, account.family_name)
                .trim()
                .to_owned(),
            username: account.username.clone(),
            code: typed.to_owned(),
            redeem_url: self.redeem_url.clone(),
            // The code stops working at the moment it expires: the day before is the last whole day.
            valid_until: last_day.previous_day().unwrap_or(last_day),
            issued_on: today,
        };
        let pdf = self
            .printer
            .render(&document)
            .map_err(|error| match error {
                super::letter::LetterError::Field { field, problem } => {
                    HelpdeskError::Document(format!("{field}: {problem}"))
                }
                other => HelpdeskError::Internal(format!("printing: {other}")),
            })?;
        self.record(
            EventKind::CodePrinted,
            Outcome::Success,
            Event {
                account: Some(&account.username),
                code: Some(&open.id),
                delivery: Some(open.delivery.as_str()),
                staff: Some(&staff.username),
                client_ip: Some(context.client_ip),
                request_id: Some(context.request_id),
                ..Event::default()
            },
        );
        self.count("printed");
        Ok(Some(pdf))
    }

    /// Whether `staff` may issue a code for `account`, and whether it counts as privileged.
    pub fn may_issue(&self, staff: &Staff, account: &Account) -> Result<bool, NotAllowed> {
        if account.state == AccountState::Disabled {
            return Err(NotAllowed::Disabled);
        }
        let covered = self.settings.rules.iter().any(|rule| {
            staff.in_group(&rule.staff_group)
                && rule
                    .categories
                    .iter()
                    .any(|category| category.eq_ignore_ascii_case(&account.category))
        });
        if !covered {
            return Err(NotAllowed::Category);
        }
        let privileged =
            crate::account::eligibility::is_privileged(account, &self.accounts_settings);
        if privileged
            && !self
                .settings
                .privileged_staff_groups
                .iter()
                .any(|group| staff.in_group(group))
        {
            return Err(NotAllowed::Privileged);
        }
        Ok(privileged)
    }

    /// Issues a code for `account` after `staff` checked the person's identity document. Any open
    /// code of the account is revoked. Returns the code, to be shown once and printed.
    pub async fn issue(
        &self,
        staff: &Staff,
        account: &Account,
        delivery: Delivery,
        check: IdentityCheck,
        context: Context<'_>,
    ) -> Result<(Code, IssuedCode), HelpdeskError> {
        let checked = match &check {
            IdentityCheck::Document(document) => {
                document.photo_compared
                    && document.country.len() == 2
                    && document.country.bytes().all(|b| b.is_ascii_uppercase())
            }
            // A person not seen gets the code only where their identity is checked on delivery.
            IdentityCheck::ServiceRequest { .. } => delivery != Delivery::InPerson,
        };
        let allowed = match self.may_issue(staff, account) {
            // Typed data is not enough for a privileged account: its code needs a document seen.
            Ok(true) if check.service_request().is_some() => Err(NotAllowed::PrivilegedFromAfar),
            other => other,
        };
        let privileged = match allowed {
            Ok(privileged) if checked => privileged,
            Ok(_) => return Err(HelpdeskError::NotAllowed(NotAllowed::Check)),
            Err(reason) => {
                self.record(
                    EventKind::CodeIssued,
                    Outcome::Refused,
                    Event {
                        account: Some(&account.username),
                        reason: Some(reason.as_str()),
                        staff: Some(&staff.username),
                        service_request: check.service_request(),
                        client_ip: Some(context.client_ip),
                        request_id: Some(context.request_id),
                        ..Event::default()
                    },
                );
                return Err(HelpdeskError::NotAllowed(reason));
            }
        };
        let (code, issued, replaced) = self
            .codes
            .issue(Issue {
                account: account.id.clone(),
                username: account.username.clone(),
                delivery,
                issued_by: staff.username.clone(),
                check,
                privileged,
                validity: self.settings.validity.of(delivery),
            })
            .await?;
        if let Some(replaced) = &replaced {
            self.record(
                EventKind::CodeRevoked,
                Outcome::Success,
                Event {
                    account: Some(&account.username),
                    code: Some(&replaced.id),
                    reason: Some("replaced"),
                    staff: Some(&staff.username),
                    client_ip: Some(context.client_ip),
                    request_id: Some(context.request_id),
                    ..Event::default()
                },
            );
            self.count("revoked");
        }
        self.record(
            EventKind::CodeIssued,
            Outcome::Success,
            Event {
                account: Some(&account.username),
                code: Some(&issued.id),
                delivery: Some(delivery.as_str()),
                staff: Some(&staff.username),
                document: issued.check.document().map(|(document, _)| document),
                country: issued.check.document().map(|(_, country)| country),
                service_request: issued.check.service_request(),
                client_ip: Some(context.client_ip),
                request_id: Some(context.request_id),
                ..Event::default()
            },
        );
        self.count("issued");
        tracing::info!(event = "code_issued", code = %issued.id, delivery = delivery.as_str(), "activation code issued");
        if let Some(notifier) = &self.notifier {
            notifier
                .changed(crate::notify::Change {
                    kind: crate::notify::ChangeKind::CodeIssued,
                    account_id: account.id.as_str().to_owned(),
                    username: account.username.clone(),
                    shown_username: account
                        .login_name
                        .clone()
                        .unwrap_or_else(|| account.username.clone()),
                    given_name: account.given_name.clone(),
                    emails: account.emails.clone(),
                    channel: "activation_code".to_owned(),
                    delivery: Some(delivery.as_str().to_owned()),
                    valid_until: Some(issued.expires_at),
                    lang: context.lang,
                    at: issued.issued_at,
                    request_id: context.request_id.to_owned(),
                    service_request: None,
                })
                .await;
        }
        Ok((code, issued))
    }

    /// Revokes the open code of `username` at `staff`'s request.
    pub async fn revoke(
        &self,
        staff: &Staff,
        username: &str,
        context: Context<'_>,
    ) -> Result<Option<IssuedCode>, HelpdeskError> {
        // Who may issue a code for an account may revoke it; a disabled account's code may be
        // revoked by anyone who may otherwise serve it.
        if let Some(account) = self.account(username).await?
            && let Err(reason @ (NotAllowed::Category | NotAllowed::Privileged)) =
                self.may_issue(staff, &account)
        {
            return Err(HelpdeskError::NotAllowed(reason));
        }
        let revoked = self.codes.revoke(username, &staff.username).await?;
        if let Some(code) = &revoked {
            self.record(
                EventKind::CodeRevoked,
                Outcome::Success,
                Event {
                    account: Some(&code.username),
                    code: Some(&code.id),
                    reason: Some("revoked_by_staff"),
                    staff: Some(&staff.username),
                    client_ip: Some(context.client_ip),
                    request_id: Some(context.request_id),
                    ..Event::default()
                },
            );
            self.count("revoked");
        }
        Ok(revoked)
    }

    /// The open code of `username` and what became of its last one, for the staff page.
    pub async fn codes_of(
        &self,
        username: &str,
    ) -> Result<(Option<IssuedCode>, Option<super::codes::Ended>), HelpdeskError> {
        Ok((
            self.codes.open_code(username).await?,
            self.codes.last_end(username).await?,
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_searches_read_identity_codes_strictly_and_anything_else_as_a_username() {
        assert!(matches!(
            Search::parse("010170-999r", true),
            Ok(Search::NationalId(_))
        ));
        assert_eq!(
            Search::parse("010170-999R", false).unwrap_err(),
            SearchError::InvalidNationalId,
            "test codes only in test installations"
        );
        // A typo in the check character is an error, never a username search.
        assert_eq!(
            Search::parse("010170-999S", true).unwrap_err(),
            SearchError::InvalidNationalId
        );
        assert_eq!(
            Search::parse("290223-123A", true).unwrap_err(),
            SearchError::InvalidNationalId
        );
        match Search::parse(" aslind ", true) {
            Ok(Search::Username(name)) => assert_eq!(name, "aslind"),
            other => panic!("{other:?}"),
        }
        assert_eq!(Search::parse("   ", true).unwrap_err(), SearchError::Empty);
        assert_eq!(
            Search::parse(&"x".repeat(129), true).unwrap_err(),
            SearchError::Empty
        );
    }
}
