//! In-memory cache of search results, keyed by the first request URL of a
//! search (the pages behind its `next` links belong to the same entry, so a
//! hit sends nothing at all). Bounded in time (TTL) and in entries (the
//! oldest goes first); shared by the clones of a client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What one search brought back: every resource of every page followed.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub resources: Vec<Value>,
    /// The page cap stopped the crawl before the last `next` link.
    pub truncated: bool,
}

#[derive(Debug)]
struct Entry {
    stored_at: Instant,
    value: Arc<Collected>,
}

#[derive(Debug, Clone)]
pub struct SearchCache {
    ttl: Duration,
    capacity: usize,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl SearchCache {
    /// `ttl` zero or `capacity` zero: nothing is kept.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        SearchCache {
            ttl,
            capacity,
            entries: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, url: &str) -> Option<Arc<Collected>> {
        let mut entries = self.lock();
        match entries.get(url) {
            Some(e) if e.stored_at.elapsed() < self.ttl => Some(e.value.clone()),
            Some(_) => {
                entries.remove(url);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, url: &str, value: Arc<Collected>) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if !entries.contains_key(url) && entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, e| e.stored_at.elapsed() < ttl);
            while entries.len() >= self.capacity {
                let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.stored_at)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                entries.remove(&oldest);
            }
        }
        entries.insert(
            url.to_owned(),
            Entry {
                stored_at: Instant::now(),
                value,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> Arc<Collected> {
        Arc::new(Collected::default())
    }

    #[test]
    fn bounded_in_entries_and_time() {
        let cache = SearchCache::new(Duration::from_secs(60), 2);
        cache.put("a", one());
        std::thread::sleep(Duration::from_millis(2));
        cache.put("b", one());
        cache.put("c", one());
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").is_none(), "the oldest entry goes first");
        assert!(cache.get("b").is_some() && cache.get("c").is_some());

        let short = SearchCache::new(Duration::from_millis(1), 10);
        short.put("a", one());
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.get("a").is_none());
        assert!(short.is_empty());

        let off = SearchCache::new(Duration::ZERO, 10);
        off.put("a", one());
        assert!(off.get("a").is_none());
    }
}
