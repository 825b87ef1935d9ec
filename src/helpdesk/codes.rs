//! Issued activation codes in the store: at most one open code per account, kept only as a keyed
//! hash, sealed against tampering, living as long as its delivery way allows, taken exactly once.
//!
//! Keys (under the store's prefix): `code:{username}` holds the open code, `code-ended:{username}`
//! what became of the last one (redeemed, revoked by staff, revoked after too many wrong tries,
//! expired), so the helpdesk can tell the person why a code no longer works.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::code::{Code, CodeHasher};
use crate::account::SealKey;
use crate::clock::Clock;
use crate::directory::AccountId;
use crate::store::{Store, StoreError};

/// How a code reaches the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Handed over at a service point, on screen and on a printout.
    InPerson,
    /// A sealed slip left with a campus janitor for pick-up.
    Janitor,
    /// A registered letter to the person's postal address.
    Letter,
}

impl Delivery {
    pub const ALL: [Delivery; 3] = [Delivery::InPerson, Delivery::Janitor, Delivery::Letter];

    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::InPerson => "in_person",
            Delivery::Janitor => "janitor",
            Delivery::Letter => "letter",
        }
    }

    pub fn parse(text: &str) -> Option<Delivery> {
        Delivery::ALL.into_iter().find(|way| way.as_str() == text)
    }
}

/// The identity document a staff member checked before issuing a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Document {
    Passport,
    IdentityCard,
    DrivingLicence,
    ResidencePermit,
}

impl Document {
    pub const ALL: [Document; 4] = [
        Document::Passport,
        Document::IdentityCard,
        Document::DrivingLicence,
        Document::ResidencePermit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Document::Passport => "passport",
            Document::IdentityCard => "identity_card",
            Document::DrivingLicence => "driving_licence",
            Document::ResidencePermit => "residence_permit",
        }
    }

    pub fn parse(text: &str) -> Option<Document> {
        Document::ALL.into_iter().find(|doc| doc.as_str() == text)
    }
}

/// What the staff member recorded about the identity document they checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentCheck {
    pub document: Document,
    /// ISO 3166-1 alpha-2 code of the issuing country, e.g. `FI`.
    pub country: String,
    pub photo_compared: bool,
}

/// How the person was known before a code was issued.
///
/// Stored without a tag, so that the records of codes issued before service requests existed (a
/// bare [`DocumentCheck`]) still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IdentityCheck {
    /// Staff saw the person and their identity document.
    Document(DocumentCheck),
    /// The person was not seen: they sent the service request `service_request` from afar, and
    /// staff matched what they typed to the account. The code goes only by janitor or registered
    /// letter, which is where the person's identity is checked.
    ServiceRequest { service_request: String },
}

impl IdentityCheck {
    /// The document's type and issuing country, for the audit trail.
    pub fn document(&self) -> Option<(&'static str, &str)> {
        match self {
            IdentityCheck::Document(check) => Some((check.document.as_str(), &check.country)),
            IdentityCheck::ServiceRequest { .. } => None,
        }
    }

    /// The service request the code was issued from.
    pub fn service_request(&self) -> Option<&str> {
        match self {
            IdentityCheck::Document(_) => None,
            IdentityCheck::ServiceRequest { service_request } => Some(service_request),
        }
    }
}

/// An issued code, as stored (the code itself only as its keyed hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedCode {
    /// A short random id that names this code in audit events and on staff pages.
    pub id: String,
    pub account: AccountId,
    pub username: String,
    pub hash: String,
    pub delivery: Delivery,
    /// The staff member who issued it.
    pub issued_by: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub check: IdentityCheck,
    /// Issued for a privileged account by a member of `helpdesk.privileged_staff_groups`.
    pub privileged: bool,
}

/// What a staff member asks for when issuing a code.
#[derive(Debug, Clone)]
pub struct Issue {
    pub account: AccountId,
    pub username: String,
    pub delivery: Delivery,
    pub issued_by: String,
    pub check: IdentityCheck,
    pub privileged: bool,
    pub validity: Duration,
}

/// Why the last code of an account no longer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Redeemed,
    RevokedByStaff,
    /// Replaced by a newer code for the same account.
    Replaced,
    TooManyWrongTries,
    Expired,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Redeemed => "redeemed",
            Ending::RevokedByStaff => "revoked_by_staff",
            Ending::Replaced => "replaced",
            Ending::TooManyWrongTries => "too_many_wrong_tries",
            Ending::Expired => "expired",
        }
    }
}

/// The end of an account's last code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ended {
    pub id: String,
    pub ending: Ending,
    pub at: i64,
    pub by: Option<String>,
}

/// What [`Codes::redeem`] found.
#[derive(Debug)]
pub enum Redeemed {
    /// The right code: it is used up, and the person may go on with its account.
    Code(IssuedCode),
    /// Not a code of this username (unknown username, no open code, wrong or malformed code):
    /// the answer never tells which.
    Wrong,
    /// The code was right but its time had passed; it is removed.
    Expired(IssuedCode),
    /// Wrong, and the last try allowed: the open code is revoked.
    Revoked(IssuedCode),
}

/// The codes could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// The store is down: "try again later".
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record could not be encoded: an internal error.
    #[error("activation codes: {0}")]
    Internal(&'static str),
}

/// How long a code's end is remembered for the helpdesk.
const ENDED_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// The activation codes in the store.
pub struct Codes {
    store: Arc<dyn Store>,
    seal: Arc<SealKey>,
    hasher: CodeHasher,
    clock: Arc<dyn Clock>,
    /// Wrong tries for one username after which its open code is revoked.
    max_wrong_tries: u64,
}

/// The store key of `username`'s records: usernames compare without case in directories.
fn key(kind: &str, username: &str) -> String {
    format!("{kind}:{}", username.trim().to_lowercase())
}

impl Codes {
    pub fn new(
        store: Arc<dyn Store>,
        seal: Arc<SealKey>,
        hasher: CodeHasher,
        clock: Arc<dyn Clock>,
        max_wrong_tries: u64,
    ) -> Self {
        Self {
            store,
            seal,
            hasher,
            clock,
            max_wrong_tries,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    fn seal<T: Serialize>(&self, kind: &str, key: &str, record: &T) -> Result<Vec<u8>, CodeError> {
        let payload =
            serde_json::to_vec(record).map_err(|_| CodeError::Internal("cannot encode"))?;
        Ok(self.seal.seal(kind, key, &payload))
    }

    fn open<T: for<'de> Deserialize<'de>>(&self, kind: &str, key: &str, bytes: &[u8]) -> Option<T> {
        let Some(payload) = self.seal.open(kind, key, bytes) else {
            tracing::warn!(
                event = "record_rejected",
                record = kind,
                "a stored activation code failed its integrity check and was ignored"
            );
            return None;
        };
        serde_json::from_slice(payload).ok()
    }

    /// Issues a new code for `account`, replacing any open one, valid for `validity`. Returns the
    /// code (to show once and print) and its record.
    pub async fn issue(
        &self,
        issue: Issue,
    ) -> Result<(Code, IssuedCode, Option<IssuedCode>), CodeError> {
        let Issue {
            account,
            username,
            delivery,
            issued_by,
            check,
            privileged,
            validity,
        } = issue;
        let username = username.as_str();
        let issued_by = issued_by.as_str();
        let code = Code::generate();
        let now = self.now();
        let record = IssuedCode {
            id: crate::random::short_id(),
            account,
            username: username.trim().to_owned(),
            hash: self.hasher.hash(&username.trim().to_lowercase(), &code),
            delivery,
            issued_by: issued_by.to_owned(),
            issued_at: now,
            expires_at: now.saturating_add(i64::try_from(validity.as_secs()).unwrap_or(i64::MAX)),
            check,
            privileged,
        };
        let key = key("code", username);
        // Kept past its validity, so that a late try is told it expired and the helpdesk sees it.
        let ttl = validity + Duration::from_secs(30 * 24 * 3600);
        let replaced = self
            .store
            .take(&key)
            .await?
            .and_then(|bytes| self.open::<IssuedCode>("code", &key, &bytes));
        self.store
            .put(&key, &self.seal("code", &key, &record)?, ttl)
            .await?;
        self.store.delete(&key_wrong(username)).await?;
        if let Some(old) = &replaced {
            self.record_end(username, &old.id, Ending::Replaced, Some(issued_by))
                .await?;
        }
        Ok((code, record, replaced))
    }

    /// The open code of `username`, if any.
    pub async fn open_code(&self, username: &str) -> Result<Option<IssuedCode>, CodeError> {
        let key = key("code", username);
        Ok(self
            .store
            .get(&key)
            .await?
            .and_then(|bytes| self.open("code", &key, &bytes)))
    }

    /// The open code of `username` if `typed` is it; nothing is used up or counted.
    pub async fn check_open(
        &self,
        username: &str,
        typed: &str,
    ) -> Result<Option<IssuedCode>, CodeError> {
        let Some(stored) = self.open_code(username).await? else {
            return Ok(None);
        };
        let Some(code) = Code::parse(typed) else {
            return Ok(None);
        };
        let hash = self.hasher.hash(&username.trim().to_lowercase(), &code);
        Ok(crate::secret::same_secret(&hash, &stored.hash).then_some(stored))
    }

    /// What became of `username`'s last code, if it ended.
    pub async fn last_end(&self, username: &str) -> Result<Option<Ended>, CodeError> {
        let key = key("code-ended", username);
        Ok(self
            .store
            .get(&key)
            .await?
            .and_then(|bytes| self.open("code-ended", &key, &bytes)))
    }

    async fn record_end(
        &self,
        username: &str,
        id: &str,
        ending: Ending,
        by: Option<&str>,
    ) -> Result<(), CodeError> {
        let key = key("code-ended", username);
        let ended = Ended {
            id: id.to_owned(),
            ending,
            at: self.now(),
            by: by.map(str::to_owned),
        };
        self.store
            .put(&key, &self.seal("code-ended", &key, &ended)?, ENDED_TTL)
            .await?;
        Ok(())
    }

    /// Revokes `username`'s open code on a staff member's request; returns it, if there was one.
    pub async fn revoke(&self, username: &str, by: &str) -> Result<Option<IssuedCode>, CodeError> {
        let key = key("code", username);
        let taken = self
            .store
            .take(&key)
            .await?
            .and_then(|bytes| self.open::<IssuedCode>("code", &key, &bytes));
        if let Some(code) = &taken {
            self.record_end(username, &code.id, Ending::RevokedByStaff, Some(by))
                .await?;
        }
        Ok(taken)
    }

    /// Checks `typed` as `username`'s code. A right code is taken (so of racing tries at most one
    /// gets it); a wrong one counts towards revoking the open code.
    pub async fn redeem(&self, username: &str, typed: &str) -> Result<Redeemed, CodeError> {
        let folded = username.trim().to_lowercase();
        let key = key("code", username);
        let stored: Option<IssuedCode> = self
            .store
            .get(&key)
            .await?
            .and_then(|bytes| self.open("code", &key, &bytes));
        // The hash is computed whether or not there is a code, so that an unknown username takes
        // as long as a wrong code.
        let right = match Code::parse(typed) {
            Some(code) => {
                let hash = self.hasher.hash(&folded, &code);
                stored
                    .as_ref()
                    .is_some_and(|stored| crate::secret::same_secret(&hash, &stored.hash))
            }
            None => false,
        };
        let Some(stored) = stored else {
            return Ok(Redeemed::Wrong);
        };
        if right {
            // Taken, not read: of two racing tries only one gets the code.
            let Some(taken) = self.store.take(&key).await? else {
                return Ok(Redeemed::Wrong);
            };
            let Some(taken) = self.open::<IssuedCode>("code", &key, &taken) else {
                return Ok(Redeemed::Wrong);
            };
            if taken.id != stored.id {
                // Replaced between the read and the take: put the newer one back untouched.
                self.store
                    .put_new(
                        &key,
                        &self.seal("code", &key, &taken)?,
                        Duration::from_secs(
                            u64::try_from(taken.expires_at - self.now())
                                .unwrap_or(0)
                                .max(1)
                                + 30 * 24 * 3600,
                        ),
                    )
                    .await?;
                return Ok(Redeemed::Wrong);
            }
            if taken.expires_at <= self.now() {
                self.record_end(username, &taken.id, Ending::Expired, None)
                    .await?;
                return Ok(Redeemed::Expired(taken));
            }
            self.store.delete(&key_wrong(username)).await?;
            self.record_end(username, &taken.id, Ending::Redeemed, None)
                .await?;
            return Ok(Redeemed::Code(taken));
        }
        let window = Duration::from_secs(
            u64::try_from(stored.expires_at - self.now())
                .unwrap_or(0)
                .max(60),
        );
        let wrong = self.store.incr(&key_wrong(username), window).await?;
        if self.max_wrong_tries > 0
            && wrong >= self.max_wrong_tries
            && let Some(bytes) = self.store.take(&key).await?
            && let Some(revoked) = self.open::<IssuedCode>("code", &key, &bytes)
        {
            self.record_end(username, &revoked.id, Ending::TooManyWrongTries, None)
                .await?;
            return Ok(Redeemed::Revoked(revoked));
        }
        Ok(Redeemed::Wrong)
    }
}

fn key_wrong(username: &str) -> String {
    key("code-wrong", username)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    struct Fixture {
        codes: Codes,
        clock: Arc<ManualClock>,
        store: Arc<MemoryStore>,
    }

    fn fixture() -> Fixture {
        let clock = Arc::new(ManualClock::new());
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let codes = Codes::new(
            store.clone(),
            Arc::new(SealKey::new(&[5u8; 32]).unwrap()),
            CodeHasher::new(&[6u8; 32]),
            clock.clone(),
            3,
        );
        Fixture {
            codes,
            clock,
            store,
        }
    }

    #[test]
    fn a_code_recorded_before_service_requests_still_reads_its_identity_check() {
        let before = r#"{"document":"passport","country":"SE","photo_compared":true}"#;
        assert_eq!(
            serde_json::from_str::<IdentityCheck>(before).unwrap(),
            check()
        );
        let remote = IdentityCheck::ServiceRequest {
            service_request: "P-0000-0000".into(),
        };
        let stored = serde_json::to_string(&remote).unwrap();
        assert_eq!(
            serde_json::from_str::<IdentityCheck>(&stored).unwrap(),
            remote
        );
        assert_eq!(remote.document(), None);
        assert_eq!(check().document(), Some(("passport", "SE")));
    }

    fn check() -> IdentityCheck {
        IdentityCheck::Document(DocumentCheck {
            document: Document::Passport,
            country: "SE".into(),
            photo_compared: true,
        })
    }

    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

    async fn issue(f: &Fixture, username: &str) -> (Code, IssuedCode) {
        let (code, record, _) = f
            .codes
            .issue(Issue {
                account: AccountId::new(username),
                username: username.to_owned(),
                delivery: Delivery::InPerson,
                issued_by: "helpdesk1".to_owned(),
                check: check(),
                privileged: false,
                validity: WEEK,
            })
            .await
            .unwrap();
        (code, record)
    }

    #[tokio::test]
    async fn a_code_is_redeemed_once_by_its_username_only() {
        let f = fixture();
        let (code, record) = issue(&f, "aslind").await;
        assert!(matches!(
            f.codes.redeem("eemake", &code.grouped()).await.unwrap(),
            Redeemed::Wrong
        ));
        match f
            .codes
            .redeem("ASLIND", &code.grouped().to_lowercase())
            .await
            .unwrap()
        {
            Redeemed::Code(redeemed) => assert_eq!(redeemed.id, record.id),
            other => panic!("expected the code, got {other:?}"),
        }
        assert!(matches!(
            f.codes.redeem("aslind", &code.grouped()).await.unwrap(),
            Redeemed::Wrong
        ));
        assert_eq!(
            f.codes.last_end("aslind").await.unwrap().unwrap().ending,
            Ending::Redeemed
        );
    }

    #[tokio::test]
    async fn only_a_hash_is_stored() {
        let f = fixture();
        let (code, _) = issue(&f, "aslind").await;
        let stored = f.store.get("code:aslind").await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&stored);
        assert!(!text.contains(&code.grouped()), "{text}");
        assert!(!text.contains(&code.grouped().replace('-', "")), "{text}");
    }

    #[tokio::test]
    async fn a_new_code_replaces_the_open_one() {
        let f = fixture();
        let (first, first_record) = issue(&f, "aslind").await;
        let (second, _) = issue(&f, "aslind").await;
        assert!(matches!(
            f.codes.redeem("aslind", &first.grouped()).await.unwrap(),
            Redeemed::Wrong
        ));
        let ended = f.codes.last_end("aslind").await.unwrap().unwrap();
        assert_eq!(
            (ended.id, ended.ending),
            (first_record.id, Ending::Replaced)
        );
        assert!(matches!(
            f.codes.redeem("aslind", &second.grouped()).await.unwrap(),
            Redeemed::Code(_)
        ));
    }

    #[tokio::test]
    async fn staff_can_revoke_an_open_code() {
        let f = fixture();
        let (code, _) = issue(&f, "aslind").await;
        assert!(
            f.codes
                .revoke("aslind", "helpdesk2")
                .await
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            f.codes.redeem("aslind", &code.grouped()).await.unwrap(),
            Redeemed::Wrong
        ));
        let ended = f.codes.last_end("aslind").await.unwrap().unwrap();
        assert_eq!(ended.ending, Ending::RevokedByStaff);
        assert_eq!(ended.by.as_deref(), Some("helpdesk2"));
        assert!(
            f.codes
                .revoke("aslind", "helpdesk2")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn too_many_wrong_tries_revoke_the_open_code() {
        let f = fixture();
        let (code, _) = issue(&f, "aslind").await;
        for _ in 0..2 {
            assert!(matches!(
                f.codes
                    .redeem("aslind", "0000-0000-0000-0000")
                    .await
                    .unwrap(),
                Redeemed::Wrong
            ));
        }
        assert!(matches!(
            f.codes.redeem("aslind", "not a code").await.unwrap(),
            Redeemed::Revoked(_)
        ));
        assert!(matches!(
            f.codes.redeem("aslind", &code.grouped()).await.unwrap(),
            Redeemed::Wrong
        ));
        assert_eq!(
            f.codes.last_end("aslind").await.unwrap().unwrap().ending,
            Ending::TooManyWrongTries
        );
    }

    #[tokio::test]
    async fn a_right_code_after_its_validity_is_expired_and_removed() {
        let f = fixture();
        let (code, _) = issue(&f, "aslind").await;
        f.clock.advance(time::Duration::days(7));
        assert!(matches!(
            f.codes.redeem("aslind", &code.grouped()).await.unwrap(),
            Redeemed::Expired(_)
        ));
        assert!(f.codes.open_code("aslind").await.unwrap().is_none());
        assert_eq!(
            f.codes.last_end("aslind").await.unwrap().unwrap().ending,
            Ending::Expired
        );
    }

    #[tokio::test]
    async fn a_code_written_into_the_store_by_someone_else_is_not_accepted() {
        let f = fixture();
        let (code, record) = issue(&f, "aslind").await;
        // Another account's sealed record moved under this username does not open.
        let moved = f.store.get("code:aslind").await.unwrap().unwrap();
        f.store
            .put("code:eemake", &moved, Duration::from_secs(600))
            .await
            .unwrap();
        assert!(matches!(
            f.codes.redeem("eemake", &code.grouped()).await.unwrap(),
            Redeemed::Wrong
        ));
        // An unsealed record with a hash the attacker computed cannot be made without the key.
        let forged = serde_json::to_vec(&record).unwrap();
        f.store
            .put("code:aslind", &forged, Duration::from_secs(600))
            .await
            .unwrap();
        assert!(matches!(
            f.codes.redeem("aslind", &code.grouped()).await.unwrap(),
            Redeemed::Wrong
        ));
    }
}
