//! The Annuaire's gateway allows 17 calls per second per application (API
//! key). Calls are spaced at regular intervals rather than allowed in bursts:
//! a burst of 17 followed by a refill would exceed a fixed one-second window
//! at the gateway.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Spacing margin over `1 s / rate`: network jitter may bring two calls
/// closer at the gateway than when they left; 10 % wider keeps any one-second
/// window at or under the limit.
const MARGIN_PERCENT: u32 = 10;

/// Hands out send slots at least `interval` apart; clones share the slots.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    interval: Duration,
    next: Arc<Mutex<Instant>>,
}

impl RateLimiter {
    /// A limiter of its own, at most `rate_per_second` calls per second (0 = no limit).
    pub fn new(rate_per_second: u32) -> Self {
        let interval = if rate_per_second == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1) * (100 + MARGIN_PERCENT) / (100 * rate_per_second)
        };
        RateLimiter {
            interval,
            next: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// The limiter of this application in this process: every client built
    /// with the same key, base URL and rate shares it, since the gateway
    /// counts per key, not per client.
    pub fn shared(base_url: &str, api_key: &str, rate_per_second: u32) -> Self {
        static REGISTRY: LazyLock<Mutex<HashMap<String, RateLimiter>>> =
            LazyLock::new(Mutex::default);
        // The key itself is not kept in memory longer than the config holds it.
        let mut hash = Sha256::new();
        hash.update(base_url.as_bytes());
        hash.update([0]);
        hash.update(api_key.as_bytes());
        hash.update(rate_per_second.to_be_bytes());
        let id = hex::encode(hash.finalize());
        REGISTRY
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_insert_with(|| RateLimiter::new(rate_per_second))
            .clone()
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this call's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_spaced_and_clones_share_the_pace() {
        assert!(RateLimiter::new(17).interval() > Duration::from_millis(1000 / 17));
        let limiter = RateLimiter::new(100);
        let clone = limiter.clone();
        let start = Instant::now();
        for _ in 0..9 {
            limiter.acquire().await;
            clone.acquire().await;
        }
        // 18 calls: the last one leaves at least 17 intervals after the first.
        assert!(start.elapsed() >= limiter.interval() * 17);
        assert!(start.elapsed() > Duration::from_millis(170));
    }

    #[test]
    fn same_application_same_limiter() {
        let a = RateLimiter::shared("https://x/fhir", "k1", 17);
        let b = RateLimiter::shared("https://x/fhir", "k1", 17);
        let c = RateLimiter::shared("https://x/fhir", "k2", 17);
        assert!(Arc::ptr_eq(&a.next, &b.next));
        assert!(!Arc::ptr_eq(&a.next, &c.next));
        assert_eq!(RateLimiter::new(0).interval(), Duration::ZERO);
    }
}
