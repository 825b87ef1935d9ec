//! What the service remembers about a person between pages, kept in the [`Store`].
//!
//! Three records per session, each under a key derived from the session id (a SHA-256 fingerprint,
//! so that whoever reads the store cannot use what they read as a cookie):
//!
//! - the [`Session`]: who was identified, how, which account, what the pages show;
//! - the [`Grant`]: the right to write one password to that account, once. It is taken while the
//!   write runs, so two racing submissions cannot both write, and put back when the write failed
//!   and may be retried;
//! - [`Done`]: the recorded success, so that a repeated submission shows the success again.
//!
//! Every record is sealed ([`SealKey`]) to its kind and its store key and carries its own expiry, so
//! a record written into the store by anyone but this service, or copied from another session, or
//! put back after it ended, is treated as absent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::Date;

use super::eligibility::Purpose;
use super::seal::SealKey;
use crate::clock::Clock;
use crate::config::{ConfigError, HumanDuration, Mode};
use crate::directory::AccountId;
use crate::secret::fingerprint;
use crate::store::{Store, StoreError};

/// How long a session lasts after identification.
pub const SESSION_TTL: Duration = Duration::from_secs(10 * 60);

/// How long a finished session is kept: long enough that a repeated submission or a reload shows the
/// success, short enough that a busy service does not hold thousands of finished sessions.
pub const DONE_TTL: Duration = Duration::from_secs(2 * 60);

/// How long a submission waits for a concurrent one of the same session to finish its write.
const CONCURRENT_WRITE_WAIT: Duration = Duration::from_secs(15);

/// `[session]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// A file holding at least 32 random bytes that seal the session records kept in the store, so
    /// that nobody who can write to the store can forge or move them. Required by `serve`; every
    /// replica reads the same file. Without it (development only) a key is made at each start.
    pub key_file: Option<PathBuf>,
    /// A session nobody used for this long ends, before its absolute ten minutes: someone who
    /// identified on a shared computer and walked away does not leave it open for long.
    pub idle_timeout: HumanDuration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            key_file: None,
            idle_timeout: HumanDuration(Duration::from_secs(5 * 60)),
        }
    }
}

impl SessionSettings {
    /// `serve` needs the key every replica shares.
    pub fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        if mode == Mode::Serve && self.key_file.is_none() {
            return Err(ConfigError::invalid(
                "session.key_file",
                "is required: a file of at least 32 random bytes, the same on every replica \
                 (e.g. `(umask 077 && head -c 32 /dev/urandom > /etc/tunnus/session-key)`)",
            ));
        }
        let idle = self.idle_timeout.get();
        if idle < Duration::from_secs(60) || idle > SESSION_TTL {
            return Err(ConfigError::invalid(
                "session.idle_timeout",
                "must be between 1m and 10m (a session lasts at most ten minutes)",
            ));
        }
        Ok(())
    }

    /// Reads the key file, as the service will at start.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.key_file {
            SealKey::from_file(path)
                .map_err(|problem| ConfigError::invalid("session.key_file", problem))?;
        }
        Ok(())
    }
}

/// The secret session id the browser holds in its cookie. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// The id as the browser sent it (the cookie parser already refused odd values).
    pub fn new(value: String) -> Self {
        Self(value)
    }

    fn fresh() -> Self {
        Self(crate::random::token())
    }

    /// The value for the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The id's fingerprint: names the session in store keys and rate-limit counters.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(***)")
    }
}

/// How the person proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Strong electronic identification at a broker.
    StrongIdentification,
    /// A one-time activation code issued by the helpdesk.
    ActivationCode,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::StrongIdentification => "strong_identification",
            Channel::ActivationCode => "activation_code",
        }
    }
}

/// The helpdesk code a session was opened with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRef {
    /// The code's id (never the code itself).
    pub id: String,
    pub delivery: String,
    /// The staff member who issued it.
    pub issued_by: String,
    /// Issued for a privileged account by a member of the privileged staff groups.
    pub privileged: bool,
}

/// What the service remembers about an identified person between pages. The plain identity code is
/// not kept: the audit pseudonym stands for it, and the birth date (which every form of the code
/// contains) is enough for the password rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub channel: Channel,
    /// Who, for the audit trail: the keyed pseudonym of the identity code (strong identification).
    pub subject: Option<String>,
    /// The helpdesk code the session was opened with.
    pub code: Option<CodeRef>,
    /// The assurance level of the identification, when there was one.
    pub acr: Option<String>,
    pub account: AccountId,
    pub username: String,
    /// [`crate::directory::Account::login_name`], shown instead of `username`.
    #[serde(default)]
    pub login_name: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<Date>,
    pub purpose: Purpose,
    pub csrf: String,
    pub return_to: Option<String>,
    /// Unix time after which the record is void whatever the store says.
    pub expires_at: i64,
    /// Unix time after which the session has been idle too long; moved on by every use.
    pub idle_until: i64,
}

/// The right to write one password to one account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub account: AccountId,
    pub purpose: Purpose,
    pub expires_at: i64,
}

/// The recorded result of a successful write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Done {
    pub username: String,
    #[serde(default)]
    pub login_name: Option<String>,
    pub purpose: Purpose,
    /// When the password was written (unix time).
    pub at: i64,
    pub expires_at: i64,
    /// [`Sessions::password_tag`] of the password written, so that a later submission of the same
    /// session can tell whether its own password is the one that was set. Keyed by the service's
    /// secret: reading the store does not allow guessing the password offline.
    pub password_tag: String,
}

/// The session records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store is down: show "try again later"; nothing was changed that the person can see.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fresh random id was already taken, or a record could not be encoded: an internal error.
    #[error("session records: {0}")]
    Internal(&'static str),
}

/// A kind of record: its name in keys and seals.
#[derive(Clone, Copy)]
enum Kind {
    Session,
    Grant,
    Done,
    AccountWritten,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::Grant => "grant",
            Kind::Done => "done",
            Kind::AccountWritten => "account-written",
        }
    }
}

/// Anything with an expiry of its own.
trait Expiring {
    fn expires_at(&self) -> i64;
}

impl Expiring for Session {
    fn expires_at(&self) -> i64 {
        self.expires_at.min(self.idle_until)
    }
}

impl Expiring for Grant {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl Expiring for Done {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// The session records in the store.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn Store>,
    key: Arc<SealKey>,
    clock: Arc<dyn Clock>,
    idle: Duration,
}

/// What [`Sessions::take_grant`] found.
#[derive(Debug)]
pub enum Taken {
    /// The grant, now this caller's alone.
    Grant(Grant),
    /// No grant: another submission holds it, or the session is over.
    Nothing,
    /// A record that this service did not write for this session, or one past its expiry.
    Rejected,
}

/// What [`Sessions::claim_account`] found.
#[derive(Debug)]
pub enum Claim {
    /// This submission may write; release the claim with [`Sessions::release_account`].
    Claimed,
    /// Another session of the same account wrote a password at this time (unix), after this
    /// session was opened: this one must not write over it.
    WrittenElsewhere(i64),
    /// Another session of the account is still writing after the longest wait.
    Busy,
}

/// The last write to an account, as the account's sessions see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccountWritten {
    /// Fingerprint of the writing session's id.
    by: String,
    at: i64,
    expires_at: i64,
}

impl Expiring for AccountWritten {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// What happened while a submission waited for another one of its session.
#[derive(Debug)]
pub enum Waited {
    /// The other submission wrote a password.
    Done(Done),
    /// The other submission failed and put the grant back: try again.
    GrantReturned,
    /// The session ended or expired meanwhile.
    Ended,
    /// The other submission is still writing after the longest wait.
    StillWriting,
}

impl Sessions {
    pub fn new(
        store: Arc<dyn Store>,
        key: Arc<SealKey>,
        clock: Arc<dyn Clock>,
        idle: Duration,
    ) -> Self {
        Self {
            store,
            key,
            clock,
            idle,
        }
    }

    /// The time a session used now stays alive idle (unix time), never past its absolute end.
    pub fn idle_until(&self, expires_at: i64) -> i64 {
        self.expiry(self.idle).min(expires_at)
    }

    /// The keyed tag of `password` as submitted in session `id` (see [`Done::password_tag`]).
    pub fn password_tag(&self, id: &SessionId, password: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.key.tag_of(
            "password",
            &id.fingerprint(),
            password.as_bytes(),
        ))
    }

    fn key(kind: Kind, id: &SessionId) -> String {
        format!("{}:{}", kind.name(), id.fingerprint())
    }

    /// Unix time `ttl` from now.
    pub fn expiry(&self, ttl: Duration) -> i64 {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        self.now().saturating_add(ttl)
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    fn seal<T: Serialize>(
        &self,
        kind: Kind,
        key: &str,
        record: &T,
    ) -> Result<Vec<u8>, SessionError> {
        let payload =
            serde_json::to_vec(record).map_err(|_| SessionError::Internal("cannot encode"))?;
        Ok(self.key.seal(kind.name(), key, &payload))
    }

    /// The record in `bytes`, if this service sealed it for `key` and it has not expired. A record
    /// that fails the check is logged (without its content) and treated as absent.
    fn open<T: DeserializeOwned + Expiring>(
        &self,
        kind: Kind,
        key: &str,
        bytes: &[u8],
    ) -> Option<T> {
        let Some(payload) = self.key.open(kind.name(), key, bytes) else {
            tracing::warn!(
                event = "record_rejected",
                record = kind.name(),
                "a stored record failed its integrity check and was ignored"
            );
            return None;
        };
        let record: T = serde_json::from_slice(payload).ok()?;
        (record.expires_at() > self.now()).then_some(record)
    }

    async fn read<T: DeserializeOwned + Expiring>(
        &self,
        kind: Kind,
        id: &SessionId,
    ) -> Result<Option<T>, SessionError> {
        let key = Self::key(kind, id);
        Ok(self
            .store
            .get(&key)
            .await?
            .and_then(|bytes| self.open(kind, &key, &bytes)))
    }

    /// Stores `session` and its `grant` under a new random id and returns the id for the cookie.
    pub async fn create(
        &self,
        session: &Session,
        grant: &Grant,
    ) -> Result<SessionId, SessionError> {
        let id = SessionId::fresh();
        let key = Self::key(Kind::Session, &id);
        let fresh = self
            .store
            .put_new(&key, &self.seal(Kind::Session, &key, session)?, self.idle)
            .await?;
        if !fresh {
            return Err(SessionError::Internal("session id collided"));
        }
        let key = Self::key(Kind::Grant, &id);
        self.store
            .put(&key, &self.seal(Kind::Grant, &key, grant)?, SESSION_TTL)
            .await?;
        Ok(id)
    }

    /// The session of `id`, if it exists.
    pub async fn load(&self, id: &SessionId) -> Result<Option<Session>, SessionError> {
        self.read(Kind::Session, id).await
    }

    /// The session of `id`, if it exists, kept alive for another idle period.
    pub async fn use_session(&self, id: &SessionId) -> Result<Option<Session>, SessionError> {
        let Some(mut session) = self.load(id).await? else {
            return Ok(None);
        };
        session.idle_until = self.idle_until(session.expires_at);
        let left = session.idle_until.saturating_sub(self.now());
        let key = Self::key(Kind::Session, id);
        let ttl = Duration::from_secs(u64::try_from(left).unwrap_or(0).max(1));
        self.store
            .put(&key, &self.seal(Kind::Session, &key, &session)?, ttl)
            .await?;
        Ok(Some(session))
    }

    /// The recorded success of session `id`, if its write succeeded.
    pub async fn load_done(&self, id: &SessionId) -> Result<Option<Done>, SessionError> {
        self.read(Kind::Done, id).await
    }

    /// Takes the grant of session `id`: whoever gets it may write, once. A grant that fails its
    /// integrity check is removed all the same and reported as [`Taken::Rejected`].
    pub async fn take_grant(&self, id: &SessionId) -> Result<Taken, SessionError> {
        let key = Self::key(Kind::Grant, id);
        Ok(match self.store.take(&key).await? {
            None => Taken::Nothing,
            Some(bytes) => match self.open(Kind::Grant, &key, &bytes) {
                Some(grant) => Taken::Grant(grant),
                None => Taken::Rejected,
            },
        })
    }

    /// Puts a grant back after a write that failed and may be retried, for what is left of the
    /// session. Nothing is put back when the session has ended meanwhile.
    pub async fn return_grant(&self, id: &SessionId, grant: &Grant) -> Result<(), SessionError> {
        if self.load(id).await?.is_some() {
            let key = Self::key(Kind::Grant, id);
            self.store
                .put_new(&key, &self.seal(Kind::Grant, &key, grant)?, SESSION_TTL)
                .await?;
        }
        Ok(())
    }

    /// Records a successful write before the person is answered, and shortens the session to
    /// [`DONE_TTL`]: nothing is left to do with it but show the success again.
    pub async fn record_done(
        &self,
        id: &SessionId,
        session: &Session,
        done: &Done,
    ) -> Result<(), SessionError> {
        let key = Self::key(Kind::Done, id);
        self.store
            .put(&key, &self.seal(Kind::Done, &key, done)?, DONE_TTL)
            .await?;
        let finished = Session {
            expires_at: done.expires_at,
            idle_until: done.expires_at,
            ..session.clone()
        };
        let key = Self::key(Kind::Session, id);
        self.store
            .put(&key, &self.seal(Kind::Session, &key, &finished)?, DONE_TTL)
            .await?;
        Ok(())
    }

    fn writing_key(id: &SessionId) -> String {
        format!("writing:{}", id.fingerprint())
    }

    /// Notes that `submission` of session `id` is about to take the grant, or (called again once it
    /// holds the grant) that it writes. Another submission waiting for the grant reads it to tell
    /// a write in progress from a grant lost to a failure.
    pub async fn mark_writing(&self, id: &SessionId, submission: &str) -> Result<(), SessionError> {
        // Outlives any write: directory calls time out well within it.
        self.store
            .put(
                &Self::writing_key(id),
                submission.as_bytes(),
                Duration::from_secs(60),
            )
            .await?;
        Ok(())
    }

    /// `submission` of session `id` is over (written, failed, or refused); a later submission's
    /// mark is left alone.
    pub async fn clear_writing(
        &self,
        id: &SessionId,
        submission: &str,
    ) -> Result<(), SessionError> {
        let key = Self::writing_key(id);
        if self.store.get(&key).await?.as_deref() == Some(submission.as_bytes()) {
            self.store.delete(&key).await?;
        }
        Ok(())
    }

    /// Waits while another submission of session `id` holds the grant, and says how it ended.
    pub async fn wait_for_other(
        &self,
        id: &SessionId,
        submission: &str,
    ) -> Result<Waited, SessionError> {
        let deadline = tokio::time::Instant::now() + CONCURRENT_WRITE_WAIT;
        // How many times in a row only this submission's own mark was found: the holder of the
        // grant marks itself right after taking it, so a few of these mean nobody holds it.
        let mut only_mine = 0;
        loop {
            if let Some(done) = self.load_done(id).await? {
                return Ok(Waited::Done(done));
            }
            if self.load(id).await?.is_none() {
                return Ok(Waited::Ended);
            }
            if self.store.get(&Self::key(Kind::Grant, id)).await?.is_some() {
                return Ok(Waited::GrantReturned);
            }
            match self.store.get(&Self::writing_key(id)).await? {
                // Nobody writes and the grant is gone: a failure lost it. Start again.
                None => return Ok(Waited::Ended),
                Some(mark) if mark == submission.as_bytes() => {
                    only_mine += 1;
                    if only_mine >= 4 {
                        return Ok(Waited::Ended);
                    }
                }
                Some(_) => only_mine = 0,
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Waited::StillWriting);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn account_key(kind: &str, account: &AccountId) -> String {
        format!("{kind}:{}", fingerprint(account.as_str()))
    }

    /// Claims the right to write `account`'s password for session `id`, opened at `opened_at`:
    /// one session of an account writes at a time (a person identified on a phone and on a laptop
    /// submits on both), and none writes over a password another session set after this one was
    /// opened. Waits while another session of the account writes.
    pub async fn claim_account(
        &self,
        account: &AccountId,
        id: &SessionId,
        opened_at: i64,
    ) -> Result<Claim, SessionError> {
        let me = id.fingerprint();
        let written_key = Self::account_key(Kind::AccountWritten.name(), account);
        let lock_key = Self::account_key("account-writing", account);
        let deadline = tokio::time::Instant::now() + CONCURRENT_WRITE_WAIT;
        loop {
            let written: Option<AccountWritten> = match self.store.get(&written_key).await? {
                Some(bytes) => self.open(Kind::AccountWritten, &written_key, &bytes),
                None => None,
            };
            if let Some(written) = written
                && written.by != me
                && written.at >= opened_at
            {
                return Ok(Claim::WrittenElsewhere(written.at));
            }
            // The claim outlives no write: directory calls time out well within it.
            if self
                .store
                .put_new(&lock_key, me.as_bytes(), Duration::from_secs(60))
                .await?
            {
                return Ok(Claim::Claimed);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Claim::Busy);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Releases session `id`'s claim on `account`, recording the write when it succeeded.
    pub async fn release_account(
        &self,
        account: &AccountId,
        id: &SessionId,
        written_at: Option<i64>,
    ) -> Result<(), SessionError> {
        if let Some(at) = written_at {
            let key = Self::account_key(Kind::AccountWritten.name(), account);
            let record = AccountWritten {
                by: id.fingerprint(),
                at,
                expires_at: self.expiry(SESSION_TTL),
            };
            self.store
                .put(
                    &key,
                    &self.seal(Kind::AccountWritten, &key, &record)?,
                    SESSION_TTL,
                )
                .await?;
        }
        self.store
            .delete(&Self::account_key("account-writing", account))
            .await?;
        Ok(())
    }

    /// Ends session `id`: the session, its grant and any recorded success.
    pub async fn end(&self, id: &SessionId) -> Result<(), SessionError> {
        for kind in [Kind::Session, Kind::Grant, Kind::Done] {
            self.store.delete(&Self::key(kind, id)).await?;
        }
        Ok(())
    }
}
