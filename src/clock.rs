//! Time comes in through this trait: the system clock in production, a simulated
//! clock on a rehearsal server, a settable clock in tests. Nothing in the domain
//! reads the clock itself.

use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::time::Instant;

/// A source of the current instant.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// The rehearsal clock behind this one, if it is one: only a server whose
    /// clock is simulated lets its admin move it (`ClockService.AdvanceClock`),
    /// and only such a server writes a ledger whose genesis says so.
    fn simulated(&self) -> Option<&SimulatedClock> {
        None
    }
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A rehearsal clock: it starts at a chosen instant, runs at the machine's pace
/// (measured on the monotonic clock, so it never steps back), and jumps forward
/// when told to ([`SimulatedClock::advance_to`]), never back. A treasury rehearses
/// a programme's years in minutes with it; a client mirrors a rehearsal server's
/// clock with one started at the server's time.
#[derive(Debug)]
pub struct SimulatedClock {
    /// The simulated time at `anchor`.
    base: Mutex<(DateTime<Utc>, Instant)>,
}

/// A move that would take a simulated clock back in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the clock is at {now}; it moves forward only, not to {to}")]
pub struct Backwards {
    pub to: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

impl SimulatedClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        SimulatedClock {
            base: Mutex::new((start, Instant::now())),
        }
    }

    fn at(base: &(DateTime<Utc>, Instant), instant: Instant) -> DateTime<Utc> {
        let elapsed = instant.saturating_duration_since(base.1);
        chrono::Duration::from_std(elapsed)
            .ok()
            .and_then(|d| base.0.checked_add_signed(d))
            .unwrap_or(base.0)
    }

    /// Moves the clock to `to` and returns the new time; refused if `to` is before
    /// the current time. Moving to the current time is allowed (and changes
    /// nothing).
    pub fn advance_to(&self, to: DateTime<Utc>) -> Result<DateTime<Utc>, Backwards> {
        let mut base = self.base.lock().unwrap_or_else(|e| e.into_inner());
        let instant = Instant::now();
        let now = Self::at(&base, instant);
        if to < now {
            return Err(Backwards { to, now });
        }
        *base = (to, instant);
        Ok(to)
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        let base = self.base.lock().unwrap_or_else(|e| e.into_inner());
        Self::at(&base, Instant::now())
    }

    fn simulated(&self) -> Option<&SimulatedClock> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_clock_starts_where_told_and_moves_only_forward() {
        let start = DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = SimulatedClock::new(start);
        let first = clock.now();
        assert!(first >= start && first < start + chrono::Duration::hours(1));
        assert!(clock.now() >= first, "never steps back");
        let later = start + chrono::Duration::days(200);
        assert_eq!(clock.advance_to(later), Ok(later));
        assert!(clock.now() >= later);
        let back = clock.advance_to(start).unwrap_err();
        assert_eq!(back.to, start);
        assert!(back.now >= later);
        assert!(clock.now() >= later, "a refused move changes nothing");
        assert!(clock.simulated().is_some());
        assert!(SystemClock.simulated().is_none());
        assert!(ManualClock::new(start).simulated().is_none());
    }
}
