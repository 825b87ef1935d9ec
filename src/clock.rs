//! Wall time. [`Clock`] is the only way the service reads the time, so tests can move it.

use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// `utc` as the time on a Finnish wall clock: EET (UTC+2), or EEST (UTC+3) from the last Sunday of
/// March to the last Sunday of October, switching at 01:00 UTC as everywhere in the EU.
pub fn finnish_time(utc: OffsetDateTime) -> OffsetDateTime {
    let year = utc.year();
    let last_sunday = |month: time::Month| {
        let last = time::Date::from_calendar_date(year, month, month.length(year))
            .unwrap_or(time::Date::MIN);
        let back = last.weekday().number_days_from_sunday();
        last - Duration::days(i64::from(back))
    };
    let switch = |date: time::Date| date.with_hms(1, 0, 0).map(|t| t.assume_utc()).ok();
    let summer = match (
        switch(last_sunday(time::Month::March)),
        switch(last_sunday(time::Month::October)),
    ) {
        (Some(start), Some(end)) => utc >= start && utc < end,
        _ => false,
    };
    let hours = if summer { 3 } else { 2 };
    utc.to_offset(time::UtcOffset::from_hms(hours, 0, 0).unwrap_or(time::UtcOffset::UTC))
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        #[allow(clippy::disallowed_methods)]
        OffsetDateTime::now_utc()
    }
}

/// A clock that tests move by hand. It starts at the system time and only moves when told.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock standing at the current system time.
    pub fn new() -> Self {
        Self::at(SystemClock.now())
    }

    /// A clock standing at `now`.
    pub fn at(now: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod finnish_time_tests {
    use super::*;

    #[test]
    fn finnish_time_follows_summer_time() {
        use time::macros::datetime;
        let at = |utc: OffsetDateTime| {
            let local = finnish_time(utc);
            (local.hour(), local.minute())
        };
        assert_eq!(at(datetime!(2026-01-15 10:42 UTC)), (12, 42));
        assert_eq!(at(datetime!(2026-07-01 10:42 UTC)), (13, 42));
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(at(datetime!(2026-03-29 00:59 UTC)), (2, 59));
        assert_eq!(at(datetime!(2026-03-29 01:00 UTC)), (4, 0));
        assert_eq!(at(datetime!(2026-10-25 00:59 UTC)), (3, 59));
        assert_eq!(at(datetime!(2026-10-25 01:00 UTC)), (3, 0));
    }
}
