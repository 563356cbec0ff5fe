//! Per-principal rate limiting inside one Lambda instance, keyed by the stable user id (never
//! a session name the caller chose). API Gateway stage throttling bounds the total.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A fixed-window counter per key.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    counters: Mutex<HashMap<String, (Instant, u32)>>,
}

/// How many keys to keep before forgetting idle ones.
const MAX_KEYS: usize = 10_000;

impl RateLimiter {
    /// `limit` requests per `window` per key.
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter { limit, window, counters: Mutex::new(HashMap::new()) }
    }

    /// Counts a request; `Err(seconds)` tells how long until the key may try again.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if counters.len() >= MAX_KEYS {
            let window = self.window;
            counters.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = counters.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_limit_waits_for_the_window_and_others_are_unaffected() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.check("AIDAALICE", t0).is_ok());
        assert!(limiter.check("AIDAALICE", t0).is_ok());
        assert_eq!(limiter.check("AIDAALICE", t0 + Duration::from_secs(15)), Err(45));
        assert!(limiter.check("AIDABOB", t0).is_ok());
        assert!(limiter.check("AIDAALICE", t0 + Duration::from_secs(60)).is_ok());
    }
}
