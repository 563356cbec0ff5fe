//! The current time as a port, so handlers and tests can stand at a window's edge.

use chrono::{DateTime, Utc};

/// The current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock: what every Lambda runs with.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant (tests, replays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Any function returning the time is a clock (a test's movable clock is a closure over a cell).
impl<F> Clock for F
where
    F: Fn() -> DateTime<Utc> + Send + Sync,
{
    fn now(&self) -> DateTime<Utc> {
        self()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn a_fixed_clock_stays_and_a_closure_clock_moves() {
        let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let fixed: Arc<dyn Clock> = Arc::new(FixedClock(start));
        assert_eq!((fixed.now(), fixed.now()), (start, start));
        let cell = Arc::new(Mutex::new(start));
        let movable: Arc<dyn Clock> = Arc::new({
            let cell = cell.clone();
            move || *cell.lock().unwrap()
        });
        *cell.lock().unwrap() += chrono::Duration::seconds(30);
        assert_eq!(movable.now(), start + chrono::Duration::seconds(30));
    }
}
