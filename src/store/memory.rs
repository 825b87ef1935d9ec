//! A store in this process's memory, for development, tests and a single replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Store, StoreError};
use crate::clock::Clock;

/// Expired entries are swept after this many writes, so memory stays bounded without a timer.
const SWEEP_EVERY: u32 = 1024;

struct Entry {
    value: Vec<u8>,
    expires: OffsetDateTime,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    counters: HashMap<String, (u64, OffsetDateTime)>,
    /// Schedules: member → due time (unix milliseconds).
    schedules: HashMap<String, HashMap<String, i64>>,
    writes: u32,
}

/// An in-memory [`Store`] whose TTLs follow the injected [`Clock`].
pub struct MemoryStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave an entry half-written, so carry on.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expiry(&self, ttl: Duration) -> OffsetDateTime {
        self.clock.now() + ttl
    }

    /// The keys of live entries (not counters), for tests.
    pub fn keys(&self) -> Vec<String> {
        let now = self.clock.now();
        let inner = self.lock();
        inner
            .entries
            .iter()
            .filter(|(_, e)| e.expires > now)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

impl Inner {
    fn note_write(&mut self, now: OffsetDateTime) {
        self.writes = self.writes.wrapping_add(1);
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.entries.retain(|_, e| e.expires > now);
            self.counters.retain(|_, (_, end)| *end > now);
        }
    }

    fn live(&mut self, key: &str, now: OffsetDateTime) -> Option<&Entry> {
        if self.entries.get(key).is_some_and(|e| e.expires <= now) {
            self.entries.remove(key);
        }
        self.entries.get(key)
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let expires = self.expiry(ttl);
        let mut inner = self.lock();
        inner.note_write(now);
        if inner.live(key, now).is_some() {
            return Ok(false);
        }
        inner.entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires,
            },
        );
        Ok(true)
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let now = self.clock.now();
        let expires = self.expiry(ttl);
        let mut inner = self.lock();
        inner.note_write(now);
        inner.entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires,
            },
        );
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        Ok(inner
            .entries
            .remove(key)
            .filter(|e| e.expires > now)
            .map(|e| e.value))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        Ok(inner.live(key, now).map(|e| e.value.clone()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.entries.remove(key);
        inner.counters.remove(key);
        Ok(())
    }

    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let end = self.expiry(window);
        let mut inner = self.lock();
        inner.note_write(now);
        let counter = inner.counters.entry(key.to_owned()).or_insert((0, end));
        if counter.1 <= now {
            *counter = (0, end);
        }
        counter.0 += 1;
        Ok(counter.0)
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn persistent(&self) -> Option<bool> {
        Some(false)
    }

    async fn schedule(&self, key: &str, member: &str, due: i64) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.note_write(now);
        inner
            .schedules
            .entry(key.to_owned())
            .or_default()
            .insert(member.to_owned(), due);
        Ok(())
    }

    async fn due(&self, key: &str, now: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        let inner = self.lock();
        let Some(schedule) = inner.schedules.get(key) else {
            return Ok(Vec::new());
        };
        let mut due: Vec<(&String, i64)> = schedule
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(member, at)| (member, *at))
            .collect();
        due.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(member, _)| member.clone())
            .collect())
    }

    async fn unschedule(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if let Some(schedule) = inner.schedules.get_mut(key) {
            schedule.remove(member);
        }
        Ok(())
    }

    async fn schedule_size(&self, key: &str) -> Result<(u64, Option<i64>), StoreError> {
        let inner = self.lock();
        Ok(inner.schedules.get(key).map_or((0, None), |schedule| {
            (schedule.len() as u64, schedule.values().min().copied())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn store() -> (Arc<ManualClock>, MemoryStore) {
        let clock = Arc::new(ManualClock::new());
        (clock.clone(), MemoryStore::new(clock))
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_value_can_be_taken_only_once() {
        let (_, store) = store();
        assert!(store.put_new("k", b"v", MINUTE).await.unwrap());
        assert_eq!(store.take("k").await.unwrap(), Some(b"v".to_vec()));
        assert_eq!(store.take("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn put_new_does_not_replace_a_live_value() {
        let (_, store) = store();
        assert!(store.put_new("k", b"first", MINUTE).await.unwrap());
        assert!(!store.put_new("k", b"second", MINUTE).await.unwrap());
        assert_eq!(store.get("k").await.unwrap(), Some(b"first".to_vec()));
    }

    #[tokio::test]
    async fn values_expire_with_the_clock() {
        let (clock, store) = store();
        store.put("k", b"v", MINUTE).await.unwrap();
        clock.advance(time::Duration::seconds(59));
        assert!(store.get("k").await.unwrap().is_some());
        clock.advance(time::Duration::seconds(1));
        assert_eq!(store.get("k").await.unwrap(), None);
        assert_eq!(store.take("k").await.unwrap(), None);
        assert!(store.put_new("k", b"again", MINUTE).await.unwrap());
    }

    #[tokio::test]
    async fn counters_count_within_their_window_and_restart_after_it() {
        let (clock, store) = store();
        assert_eq!(store.incr("c", MINUTE).await.unwrap(), 1);
        assert_eq!(store.incr("c", MINUTE).await.unwrap(), 2);
        clock.advance(time::Duration::seconds(61));
        assert_eq!(store.incr("c", MINUTE).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn racing_takes_give_the_value_to_one_caller() {
        let (_, store) = store();
        let store = Arc::new(store);
        store.put("k", b"v", MINUTE).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.take("k").await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            winners += usize::from(task.await.unwrap().is_some());
        }
        assert_eq!(winners, 1);
    }
}
