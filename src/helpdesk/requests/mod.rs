//! Service requests: a person without strong electronic identification asks for an activation code
//! to be left with a campus janitor or sent as a registered letter, and helpdesk staff act on it.
//!
//! - [`typed`]: reading the person's form (names, birth date, e-mail, the delivery way and its
//!   address or campus) into a [`NewRequest`], or the problems to show;
//! - [`settings`]: the settings of the `helpdesk.requests` table;
//! - [`Requests`]: the requests in the store, sealed like codes, open ones queued oldest first.
//!
//! Keys (under the store's prefix): `request:{number}` holds a request for as long as it may wait
//! and a week after it was closed, `request-claim:{number}` is held by the staff member acting on
//! it, and the schedule `requests-open` lists the open ones by when they were sent.

pub mod settings;
pub mod typed;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::account::SealKey;
use crate::clock::Clock;
use crate::i18n::Lang;
use crate::store::{Store, StoreError};
pub use settings::RequestSettings;
pub use typed::{Field, NewRequest, Problem, Typed};

/// The open requests, by when they were sent (unix milliseconds).
const OPEN: &str = "requests-open";
/// How long a closed request is kept, so that staff opening it again see what became of it.
const CLOSED_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long one staff member holds a request while acting on it.
const CLAIM: Duration = Duration::from_secs(60);
/// The characters of request numbers: Crockford's base 32, without letters that look like digits.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn record_key(number: &str) -> String {
    format!("request:{number}")
}

fn claim_key(number: &str) -> String {
    format!("request-claim:{number}")
}

/// A new request number, `P-XXXX-XXXX` (40 random bits): what the person quotes when asking after
/// it. It gives no access to anything.
fn new_number() -> String {
    let bytes = crate::random::bytes::<5>();
    let bits = bytes
        .iter()
        .fold(0u64, |bits, byte| bits << 8 | u64::from(*byte));
    let chars: String = (0..8)
        .rev()
        .map(|index| char::from(ALPHABET[usize::try_from((bits >> (index * 5)) & 31).unwrap_or(0)]))
        .collect();
    format!("P-{}-{}", &chars[..4], &chars[4..])
}

/// Whether `text` is shaped like a request number (for reading one from a URL).
pub fn is_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 11
        && bytes.starts_with(b"P-")
        && bytes[6] == b'-'
        && bytes[2..6]
            .iter()
            .chain(&bytes[7..])
            .all(|byte| ALPHABET.contains(byte))
}

/// How the person wants the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "way", rename_all = "snake_case")]
pub enum Wanted {
    /// Left with the janitor of the campus `campus` (its id in `[[helpdesk.requests.campus]]`).
    Janitor { campus: String },
    /// A registered letter to `address` (street, postal code and town, country when abroad).
    Letter { address: Vec<String> },
}

/// Where a request is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Open,
    /// Staff issued the code `code` (its id) for the account `account` (a username).
    Issued {
        by: String,
        at: i64,
        account: String,
        code: String,
    },
    /// Staff refused it with the reason `reason` (an id of the refusal reasons); a request nobody
    /// acted on in time is refused by nobody with the reason `expired`.
    Refused {
        by: Option<String>,
        at: i64,
        reason: String,
    },
}

/// A service request as stored. Staff see it; the person sees only its number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRequest {
    pub number: String,
    /// Unix seconds.
    pub sent_at: i64,
    pub expires_at: i64,
    /// The language the person used, which their e-mails are written in.
    pub lang: Lang,
    /// The username, if the person knew it.
    pub username: Option<String>,
    pub given_name: String,
    pub family_name: String,
    /// Year, month, day.
    pub birth_date: (i32, u8, u8),
    /// Where the status e-mails go: never a code or a password.
    pub email: String,
    pub wanted: Wanted,
    pub status: Status,
}

impl ServiceRequest {
    pub fn birth_date(&self) -> Option<time::Date> {
        let (year, month, day) = self.birth_date;
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
    }

    pub fn is_open(&self) -> bool {
        self.status == Status::Open
    }

    /// Open at `now` (unix seconds) although its time is up: the sweep is to close it.
    pub fn is_past_its_time(&self, now: i64) -> bool {
        self.is_open() && self.expires_at <= now
    }
}

/// The requests in the store.
pub struct Requests {
    store: Arc<dyn Store>,
    seal: Arc<SealKey>,
    clock: Arc<dyn Clock>,
    expire_after: Duration,
}

impl Requests {
    pub fn new(
        store: Arc<dyn Store>,
        seal: Arc<SealKey>,
        clock: Arc<dyn Clock>,
        expire_after: Duration,
    ) -> Self {
        Self {
            store,
            seal,
            clock,
            expire_after,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// A token for a form opened now: the form sends it back, and [`Requests::filled_in`] tells
    /// how long the form was open. It is sealed, so it cannot be made up to look older.
    pub fn form_token(&self) -> String {
        let now = self.now().to_string();
        let tag = self.seal.tag_of("request-form", "", now.as_bytes());
        format!("{now}.{}", hex(&tag[..16]))
    }

    /// How long ago the form of `token` was opened; `None` for a token not made here.
    pub fn filled_in(&self, token: &str) -> Option<Duration> {
        let (at, tag) = token.split_once('.')?;
        let expected = self.seal.tag_of("request-form", "", at.as_bytes());
        if !crate::secret::same_secret(&hex(&expected[..16]), tag) {
            return None;
        }
        let at: i64 = at.parse().ok()?;
        let seconds = self.now().checked_sub(at)?;
        Some(Duration::from_secs(u64::try_from(seconds).ok()?))
    }

    fn seal(&self, number: &str, request: &ServiceRequest) -> Result<Vec<u8>, StoreError> {
        let payload =
            serde_json::to_vec(request).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        Ok(self.seal.seal("request", &record_key(number), &payload))
    }

    /// Stores `new` as an open request and queues it; returns it with its number.
    pub async fn create(&self, new: NewRequest, lang: Lang) -> Result<ServiceRequest, StoreError> {
        let now = self.now();
        let request = ServiceRequest {
            number: new_number(),
            sent_at: now,
            expires_at: now
                .saturating_add(i64::try_from(self.expire_after.as_secs()).unwrap_or(i64::MAX)),
            lang,
            username: new.username,
            given_name: new.given_name,
            family_name: new.family_name,
            birth_date: new.birth_date,
            email: new.email,
            wanted: new.wanted,
            status: Status::Open,
        };
        let ttl = self.expire_after + CLOSED_KEPT;
        let key = record_key(&request.number);
        if !self
            .store
            .put_new(&key, &self.seal(&request.number, &request)?, ttl)
            .await?
        {
            return Err(StoreError::Corrupt(
                "a new request number was already taken".to_owned(),
            ));
        }
        self.store
            .schedule(OPEN, &request.number, now.saturating_mul(1000))
            .await?;
        Ok(request)
    }

    /// The request `number`, open or closed; `None` when there is none (or it failed its
    /// integrity check, which is logged).
    pub async fn get(&self, number: &str) -> Result<Option<ServiceRequest>, StoreError> {
        let key = record_key(number);
        let Some(bytes) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let Some(payload) = self.seal.open("request", &key, &bytes) else {
            tracing::warn!(
                event = "record_rejected",
                record = "request",
                "a stored service request failed its integrity check and was ignored"
            );
            return Ok(None);
        };
        Ok(serde_json::from_slice(payload).ok())
    }

    /// Up to `limit` open requests, oldest first. Requests past their time are left out: the
    /// sweep ([`Requests::past_their_time`]) closes them.
    pub async fn open(&self, limit: usize) -> Result<Vec<ServiceRequest>, StoreError> {
        let numbers = self.store.due(OPEN, i64::MAX, limit).await?;
        let now = self.now();
        let mut open = Vec::new();
        for number in numbers {
            match self.get(&number).await? {
                Some(request) if request.is_past_its_time(now) => {}
                Some(request) if request.is_open() => open.push(request),
                // Closed or gone: it no longer belongs in the queue.
                _ => self.store.unschedule(OPEN, &number).await?,
            }
        }
        Ok(open)
    }

    /// The numbers of up to `limit` queued requests sent `expire_after` ago or earlier, oldest
    /// first: those to close. Each must still be read and judged by its own `expires_at`.
    pub async fn past_their_time(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let wait = i64::try_from(self.expire_after.as_millis()).unwrap_or(i64::MAX);
        let cutoff = self.now().saturating_mul(1000).saturating_sub(wait);
        self.store.due(OPEN, cutoff, limit).await
    }

    /// How many requests are queued, and when the oldest was sent (unix seconds).
    pub async fn waiting(&self) -> Result<(u64, Option<i64>), StoreError> {
        let (count, oldest) = self.store.schedule_size(OPEN).await?;
        Ok((count, oldest.map(|ms| ms / 1000)))
    }

    /// Holds request `number` for `staff` while they act on it: `false` when someone else holds
    /// it. Release with [`Requests::release`].
    pub async fn claim(&self, number: &str, staff: &str) -> Result<bool, StoreError> {
        self.store
            .put_new(&claim_key(number), staff.as_bytes(), CLAIM)
            .await
    }

    pub async fn release(&self, number: &str) -> Result<(), StoreError> {
        self.store.delete(&claim_key(number)).await
    }

    /// Closes `request` with `status`: it leaves the queue and is kept a week for staff to see.
    /// Returns it as closed.
    pub async fn close(
        &self,
        request: &ServiceRequest,
        status: Status,
    ) -> Result<ServiceRequest, StoreError> {
        let closed = ServiceRequest {
            status,
            ..request.clone()
        };
        self.store
            .put(
                &record_key(&closed.number),
                &self.seal(&closed.number, &closed)?,
                CLOSED_KEPT,
            )
            .await?;
        self.store.unschedule(OPEN, &closed.number).await?;
        Ok(closed)
    }

    /// The current time, as the requests' own times are written.
    pub fn now_unix(&self) -> i64 {
        self.now()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn requests() -> (Requests, Arc<ManualClock>, Arc<MemoryStore>) {
        let clock = Arc::new(ManualClock::at(
            time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        ));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let requests = Requests::new(
            store.clone(),
            Arc::new(SealKey::random()),
            clock.clone(),
            Duration::from_secs(3 * 24 * 3600),
        );
        (requests, clock, store)
    }

    fn new_request(family_name: &str) -> NewRequest {
        NewRequest {
            username: None,
            given_name: "Aino".to_owned(),
            family_name: family_name.to_owned(),
            birth_date: (1998, 12, 24),
            email: "aino@example.com".to_owned(),
            wanted: Wanted::Janitor {
                campus: "kumpula".to_owned(),
            },
        }
    }

    #[test]
    fn request_numbers_are_read_back_and_nothing_else_is() {
        for _ in 0..100 {
            let number = new_number();
            assert!(is_number(&number), "{number}");
        }
        for not in [
            "",
            "P-0000-000",
            "P-0000-000I",
            "X-0000-0000",
            "P-0000_0000",
            "p-0000-0000",
        ] {
            assert!(!is_number(not), "{not}");
        }
    }

    #[test]
    fn a_form_token_tells_how_long_the_form_was_open_and_cannot_be_made_up() {
        let (requests, clock, _) = requests();
        let token = requests.form_token();
        clock.advance(time::Duration::seconds(7));
        assert_eq!(requests.filled_in(&token), Some(Duration::from_secs(7)));
        let (_, tag) = token.split_once('.').unwrap();
        let older = format!("{}.{tag}", 1_800_000_000 - 60);
        assert_eq!(requests.filled_in(&older), None);
        assert_eq!(requests.filled_in("1800000000"), None);
        assert_eq!(requests.filled_in(""), None);
    }

    #[tokio::test]
    async fn open_requests_come_oldest_first_and_closed_or_expired_ones_leave_the_queue() {
        let (requests, clock, _) = requests();
        let first = requests
            .create(new_request("Ensimmäinen"), Lang::Fi)
            .await
            .unwrap();
        clock.advance(time::Duration::seconds(60));
        let second = requests
            .create(new_request("Toinen"), Lang::Sv)
            .await
            .unwrap();
        let open = requests.open(10).await.unwrap();
        assert_eq!(
            open.iter().map(|r| r.number.as_str()).collect::<Vec<_>>(),
            [first.number.as_str(), second.number.as_str()]
        );
        assert!(requests.past_their_time(10).await.unwrap().is_empty());
        assert_eq!(requests.waiting().await.unwrap().0, 2);

        requests
            .close(
                &first,
                Status::Refused {
                    by: Some("hd-anna".to_owned()),
                    at: 0,
                    reason: "no_match".to_owned(),
                },
            )
            .await
            .unwrap();
        let open = requests.open(10).await.unwrap();
        assert_eq!(open.len(), 1);
        assert!(
            !requests
                .get(&first.number)
                .await
                .unwrap()
                .unwrap()
                .is_open()
        );

        clock.advance(time::Duration::seconds(3 * 24 * 3600));
        assert!(requests.open(10).await.unwrap().is_empty(), "past its time");
        assert_eq!(
            requests.past_their_time(10).await.unwrap(),
            vec![second.number]
        );
    }

    #[tokio::test]
    async fn one_staff_member_at_a_time_holds_a_request() {
        let (requests, _, _) = requests();
        let request = requests
            .create(new_request("Virtanen"), Lang::Fi)
            .await
            .unwrap();
        assert!(requests.claim(&request.number, "hd-anna").await.unwrap());
        assert!(!requests.claim(&request.number, "hd-ilkka").await.unwrap());
        requests.release(&request.number).await.unwrap();
        assert!(requests.claim(&request.number, "hd-ilkka").await.unwrap());
    }

    #[tokio::test]
    async fn a_tampered_request_is_not_read() {
        let (requests, _, store) = requests();
        let request = requests
            .create(new_request("Virtanen"), Lang::Fi)
            .await
            .unwrap();
        let key = record_key(&request.number);
        let mut bytes = store.get(&key).await.unwrap().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        store
            .put(&key, &bytes, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(requests.get(&request.number).await.unwrap().is_none());
    }
}
