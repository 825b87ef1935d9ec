//! Staff sessions: what the service remembers about a signed-in helpdesk staff member between
//! pages, kept in the [`Store`].
//!
//! One record per session, under `staff_session:` and the SHA-256 fingerprint of the secret id the
//! browser holds (so whoever reads the store cannot use what they read as a cookie), sealed with the
//! service's [`SealKey`] as its own kind of record: a person's session record cannot pass for a staff
//! session, nor one written into the store by anyone else. A session ends when it was idle too long,
//! at its absolute end however busy, or at sign-out.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::account::SealKey;
use crate::clock::Clock;
use crate::helpdesk::Staff;
use crate::secret::fingerprint;
use crate::store::{Store, StoreError};

/// The kind staff session records are sealed as.
const KIND: &str = "staff_session";

/// The secret id of a staff session, as the browser holds it in its cookie. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffSessionId(String);

impl StaffSessionId {
    /// The id as the browser sent it (the cookie parser already refused odd values).
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value for the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> String {
        format!("{KIND}:{}", fingerprint(&self.0))
    }
}

impl std::fmt::Debug for StaffSessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaffSessionId(***)")
    }
}

/// A signed-in staff member's session. `Debug` hides the id and the CSRF token.
#[derive(Clone)]
pub struct StaffSession {
    pub id: StaffSessionId,
    /// Who signed in, with the groups the campus SSO or the directory gave at sign-in.
    pub staff: Staff,
    /// The CSRF token every staff form carries (see `http::helpdesk::check_csrf`).
    pub csrf: String,
    /// When the staff member signed in (unix time).
    pub signed_in_at: i64,
    /// When the session ends however busy (unix time).
    pub expires_at: i64,
}

impl std::fmt::Debug for StaffSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffSession")
            .field("id", &self.id)
            .field("staff", &self.staff)
            .field("csrf", &"***")
            .field("signed_in_at", &self.signed_in_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The stored record.
#[derive(Serialize, Deserialize)]
struct Record {
    staff: Staff,
    csrf: String,
    signed_in_at: i64,
    expires_at: i64,
    /// Moved on by every use; the session is over after it.
    idle_until: i64,
}

/// The staff session records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StaffSessionError {
    /// The store is down: show "try again later".
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fresh random id was already taken, or a record could not be encoded: an internal error.
    #[error("staff session: {0}")]
    Internal(&'static str),
}

/// The staff sessions in the store.
#[derive(Clone)]
pub struct StaffSessions {
    store: Arc<dyn Store>,
    key: Arc<SealKey>,
    clock: Arc<dyn Clock>,
    idle: Duration,
    lifetime: Duration,
}

impl StaffSessions {
    /// Sessions that end after `idle` unused, and `lifetime` after sign-in at the latest.
    pub fn new(
        store: Arc<dyn Store>,
        key: Arc<SealKey>,
        clock: Arc<dyn Clock>,
        idle: Duration,
        lifetime: Duration,
    ) -> Self {
        Self {
            store,
            key,
            clock,
            idle,
            lifetime: lifetime.max(idle),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    fn seconds(duration: Duration) -> i64 {
        i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2)
    }

    fn seal(&self, key: &str, record: &Record) -> Result<Vec<u8>, StaffSessionError> {
        let payload =
            serde_json::to_vec(record).map_err(|_| StaffSessionError::Internal("cannot encode"))?;
        Ok(self.key.seal(KIND, key, &payload))
    }

    /// How long the store keeps a record idle until `idle_until` (at least a second).
    fn ttl(&self, idle_until: i64) -> Duration {
        Duration::from_secs(u64::try_from(idle_until - self.now()).unwrap_or(0).max(1))
    }

    /// Opens a session for `staff` under a new random id.
    pub async fn create(&self, staff: Staff) -> Result<StaffSession, StaffSessionError> {
        let id = StaffSessionId(crate::random::token());
        let now = self.now();
        let expires_at = now.saturating_add(Self::seconds(self.lifetime));
        let record = Record {
            staff,
            csrf: crate::random::token(),
            signed_in_at: now,
            expires_at,
            idle_until: now.saturating_add(Self::seconds(self.idle)).min(expires_at),
        };
        let key = id.key();
        let fresh = self
            .store
            .put_new(
                &key,
                &self.seal(&key, &record)?,
                self.ttl(record.idle_until),
            )
            .await?;
        if !fresh {
            return Err(StaffSessionError::Internal("session id collided"));
        }
        Ok(session(id, record))
    }

    /// The session of `id` if it is still on, kept alive for another idle period. A record that
    /// this service did not seal for this id is logged and treated as absent.
    pub async fn use_session(
        &self,
        id: &StaffSessionId,
    ) -> Result<Option<StaffSession>, StaffSessionError> {
        let key = id.key();
        let Some(bytes) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let Some(payload) = self.key.open(KIND, &key, &bytes) else {
            tracing::warn!(
                event = "record_rejected",
                record = KIND,
                "a stored record failed its integrity check and was ignored"
            );
            return Ok(None);
        };
        let Ok(mut record) = serde_json::from_slice::<Record>(payload) else {
            return Ok(None);
        };
        let now = self.now();
        if now >= record.expires_at.min(record.idle_until) {
            self.store.delete(&key).await?;
            return Ok(None);
        }
        record.idle_until = now
            .saturating_add(Self::seconds(self.idle))
            .min(record.expires_at);
        self.store
            .put(
                &key,
                &self.seal(&key, &record)?,
                self.ttl(record.idle_until),
            )
            .await?;
        Ok(Some(session(id.clone(), record)))
    }

    /// Ends the session of `id` (nothing happens when there is none).
    pub async fn end(&self, id: &StaffSessionId) -> Result<(), StaffSessionError> {
        Ok(self.store.delete(&id.key()).await?)
    }
}

fn session(id: StaffSessionId, record: Record) -> StaffSession {
    StaffSession {
        id,
        staff: record.staff,
        csrf: record.csrf,
        signed_in_at: record.signed_in_at,
        expires_at: record.expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn sessions() -> (StaffSessions, Arc<ManualClock>, Arc<MemoryStore>) {
        let clock = Arc::new(ManualClock::new());
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let sessions = StaffSessions::new(
            store.clone(),
            Arc::new(SealKey::random()),
            clock.clone(),
            Duration::from_secs(30 * 60),
            Duration::from_secs(8 * 3600),
        );
        (sessions, clock, store)
    }

    fn anna() -> Staff {
        Staff {
            username: "hd-anna".into(),
            name: "Anna Palvelu".into(),
            groups: vec!["helpdesk".into()],
        }
    }

    #[tokio::test]
    async fn a_session_opens_under_a_fingerprint_and_carries_its_own_csrf_token() {
        let (sessions, _, store) = sessions();
        let opened = sessions.create(anna()).await.unwrap();
        let keys = store.keys();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].starts_with("staff_session:"));
        assert!(!keys[0].contains(opened.id.expose()));
        let used = sessions.use_session(&opened.id).await.unwrap().unwrap();
        assert_eq!(used.staff.username, "hd-anna");
        assert_eq!(used.csrf, opened.csrf);
        assert_eq!(used.csrf.len(), 43);
        let other = sessions.create(anna()).await.unwrap();
        assert_ne!(other.csrf, opened.csrf);
        assert_ne!(other.id, opened.id);
        assert_eq!(format!("{:?}", opened.id), "StaffSessionId(***)");
        let shown = format!("{opened:?}");
        assert!(
            shown.contains("hd-anna") && !shown.contains(&opened.csrf),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn an_idle_session_ends_and_use_keeps_it_alive() {
        let (sessions, clock, _) = sessions();
        let opened = sessions.create(anna()).await.unwrap();
        clock.advance(time::Duration::minutes(29));
        assert!(sessions.use_session(&opened.id).await.unwrap().is_some());
        clock.advance(time::Duration::minutes(29));
        assert!(sessions.use_session(&opened.id).await.unwrap().is_some());
        clock.advance(time::Duration::minutes(31));
        assert!(sessions.use_session(&opened.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_busy_session_ends_at_its_absolute_end() {
        let (sessions, clock, _) = sessions();
        let opened = sessions.create(anna()).await.unwrap();
        for _ in 0..16 {
            clock.advance(time::Duration::minutes(29));
            assert!(sessions.use_session(&opened.id).await.unwrap().is_some());
        }
        clock.advance(time::Duration::minutes(29));
        assert!(sessions.use_session(&opened.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_ended_or_foreign_session_does_not_open() {
        let (sessions, _, store) = sessions();
        let opened = sessions.create(anna()).await.unwrap();
        sessions.end(&opened.id).await.unwrap();
        assert!(sessions.use_session(&opened.id).await.unwrap().is_none());
        assert!(store.keys().is_empty());

        // A record sealed as another kind (a person's session) under a staff session's key.
        let id = StaffSessionId::new(crate::random::token());
        let key = id.key();
        let other_key = SealKey::random();
        let forged = serde_json::to_vec(&Record {
            staff: anna(),
            csrf: "x".into(),
            signed_in_at: 0,
            expires_at: i64::MAX,
            idle_until: i64::MAX,
        })
        .unwrap();
        store
            .put(
                &key,
                &other_key.seal(KIND, &key, &forged),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert!(sessions.use_session(&id).await.unwrap().is_none());
        store
            .put(
                &key,
                &sessions.key.seal("session", &key, &forged),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert!(sessions.use_session(&id).await.unwrap().is_none());
    }
}
