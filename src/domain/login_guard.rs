//! The break-glass login's guard: how many attempts an address and the whole
//! instance may make, when a login is locked, and what the journal is told.
//!
//! Every login, known or not, is treated the same: five failures within
//! fifteen minutes lock that login *from that address* (so that five tries do
//! not tell whether a login exists, and an attacker elsewhere cannot lock the
//! real administrator out); fifty failures on one login from all addresses
//! lock it everywhere (a ceiling against guessing from many addresses). The
//! journal gets counted summaries, not one entry per attempt. State is
//! bounded: entries expire and their number is capped.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::net::IpAddr;

/// The guard's numbers.
#[derive(Debug, Clone, Copy)]
pub struct GuardRules {
    /// Attempts one address may make per `address_window`.
    pub per_address: u32,
    pub address_window: Duration,
    /// Attempts the whole instance accepts per `global_window`.
    pub global: u32,
    pub global_window: Duration,
    /// Failures of one (login, address) within `failure_window` that lock it.
    pub pair_failures: u32,
    /// Failures of one login from every address that lock it everywhere.
    pub login_ceiling: u32,
    pub failure_window: Duration,
    pub lock: Duration,
    /// Addresses, pairs and logins followed at most (each).
    pub max_tracked: usize,
    /// How often refused attempts are summarised in the journal.
    pub summary_every: Duration,
    /// Password checks (Argon2id, ~19 MiB each) running at once.
    pub hashing_permits: usize,
}

impl Default for GuardRules {
    fn default() -> Self {
        GuardRules {
            per_address: 10,
            address_window: Duration::minutes(1),
            global: 120,
            global_window: Duration::minutes(1),
            pair_failures: 5,
            login_ceiling: 50,
            failure_window: Duration::minutes(15),
            lock: Duration::minutes(15),
            max_tracked: 10_000,
            summary_every: Duration::minutes(10),
            hashing_permits: 2,
        }
    }
}

/// Whether an attempt may go on to the password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// Too many attempts from this address or overall: retry after this long.
    Throttled {
        retry_after: Duration,
    },
    /// This login is locked from this address (or everywhere) until then.
    Locked {
        until: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: DateTime<Utc>,
    count: u32,
}

impl Window {
    fn new(now: DateTime<Utc>) -> Self {
        Window {
            start: now,
            count: 0,
        }
    }

    /// The count in the window running at `now` (a window past its length restarts).
    fn current(&mut self, now: DateTime<Utc>, length: Duration) -> &mut Self {
        if now - self.start >= length || now < self.start {
            *self = Window::new(now);
        }
        self
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    window: Window,
    locked_until: Option<DateTime<Utc>>,
}

impl Failures {
    fn locked(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.locked_until.filter(|u| *u > now)
    }

    /// Counts a failure; returns the lock's end when this one starts a lock.
    fn count(&mut self, now: DateTime<Utc>, rules: &GuardRules, max: u32) -> Option<DateTime<Utc>> {
        let w = self.window.current(now, rules.failure_window);
        w.count += 1;
        if w.count >= max && self.locked(now).is_none() {
            let until = now + rules.lock;
            self.locked_until = Some(until);
            return Some(until);
        }
        None
    }

    fn expired(&self, now: DateTime<Utc>, rules: &GuardRules) -> bool {
        self.locked(now).is_none() && now - self.window.start >= rules.failure_window
    }
}

/// What the journal will be told about refused attempts since `since`.
#[derive(Debug, Clone)]
struct Tally {
    since: DateTime<Utc>,
    failures: u32,
    unknown_logins: u32,
    locks: u32,
    refused_while_locked: u32,
    throttled: u32,
    /// Known logins that failed, with their count.
    logins: HashMap<String, u32>,
    addresses: HashMap<IpAddr, u32>,
}

impl Tally {
    fn new(now: DateTime<Utc>) -> Self {
        Tally {
            since: now,
            failures: 0,
            unknown_logins: 0,
            locks: 0,
            refused_while_locked: 0,
            throttled: 0,
            logins: HashMap::new(),
            addresses: HashMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.failures + self.refused_while_locked + self.throttled == 0
    }

    fn note_address(&mut self, address: IpAddr, cap: usize) {
        if self.addresses.len() < cap || self.addresses.contains_key(&address) {
            *self.addresses.entry(address).or_default() += 1;
        }
    }

    fn describe(&self, until: DateTime<Utc>) -> String {
        let mut text = format!(
            "connexions de secours refusées du {} au {} (UTC) : {} échec(s) de mot de passe ou de code",
            self.since.format("%d/%m/%Y %H:%M:%S"),
            until.format("%d/%m/%Y %H:%M:%S"),
            self.failures
        );
        if self.unknown_logins > 0 {
            text.push_str(&format!(
                " dont {} sur un identifiant inconnu",
                self.unknown_logins
            ));
        }
        text.push_str(&format!(
            ", {} blocage(s), {} essai(s) pendant un blocage, {} essai(s) ralenti(s)",
            self.locks, self.refused_while_locked, self.throttled
        ));
        let top = |counts: Vec<(String, u32)>| {
            let mut counts = counts;
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            counts
                .iter()
                .take(5)
                .map(|(k, n)| format!("{k} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.logins.is_empty() {
            text.push_str(&format!(
                " ; identifiants visés : {}",
                top(self.logins.iter().map(|(k, n)| (k.clone(), *n)).collect())
            ));
        }
        if !self.addresses.is_empty() {
            text.push_str(&format!(
                " ; adresses : {}",
                top(self
                    .addresses
                    .iter()
                    .map(|(k, n)| (k.to_string(), *n))
                    .collect())
            ));
        }
        text
    }
}

/// The guard's state (one per process).
#[derive(Debug)]
pub struct LoginGuard {
    rules: GuardRules,
    global: Window,
    addresses: HashMap<IpAddr, Window>,
    pairs: HashMap<(String, IpAddr), Failures>,
    logins: HashMap<String, Failures>,
    tally: Tally,
}

/// The form's login as the guard keys it: trimmed, lower case, bounded.
fn login_key(login: &str) -> String {
    login.trim().to_lowercase().chars().take(100).collect()
}

/// IPv6 clients are counted by /64 (one subscriber's network), IPv4 by address.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl LoginGuard {
    pub fn new(rules: GuardRules, now: DateTime<Utc>) -> Self {
        LoginGuard {
            rules,
            global: Window::new(now),
            addresses: HashMap::new(),
            pairs: HashMap::new(),
            logins: HashMap::new(),
            tally: Tally::new(now),
        }
    }

    /// Counts an attempt and says whether it may go on.
    pub fn admit(&mut self, login: &str, address: IpAddr, now: DateTime<Utc>) -> Admission {
        let (login, address) = (login_key(login), address_key(address));
        self.forget_expired(now);
        let rules = self.rules;
        let global = self.global.current(now, rules.global_window);
        if global.count >= rules.global {
            self.tally.throttled += 1;
            return Admission::Throttled {
                retry_after: global.start + rules.global_window - now,
            };
        }
        if !self.addresses.contains_key(&address) && self.addresses.len() >= rules.max_tracked {
            // Too many addresses at once to follow each: all wait.
            self.tally.throttled += 1;
            return Admission::Throttled {
                retry_after: rules.address_window,
            };
        }
        let mine = self
            .addresses
            .entry(address)
            .or_insert_with(|| Window::new(now))
            .current(now, rules.address_window);
        if mine.count >= rules.per_address {
            self.tally.throttled += 1;
            self.tally.note_address(address, rules.max_tracked);
            return Admission::Throttled {
                retry_after: mine.start + rules.address_window - now,
            };
        }
        mine.count += 1;
        global.count += 1;
        let locked = [
            self.pairs.get(&(login.clone(), address)),
            self.logins.get(&login),
        ]
        .into_iter()
        .flatten()
        .filter_map(|f| f.locked(now))
        .max();
        match locked {
            Some(until) => {
                self.tally.refused_while_locked += 1;
                self.tally.note_address(address, rules.max_tracked);
                Admission::Locked { until }
            }
            None => Admission::Go,
        }
    }

    /// Counts a failed check; returns the lock's end when this failure
    /// locks the login (from this address, or everywhere).
    pub fn failed(
        &mut self,
        login: &str,
        address: IpAddr,
        known: bool,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let (login, address) = (login_key(login), address_key(address));
        let rules = self.rules;
        self.tally.failures += 1;
        self.tally.note_address(address, rules.max_tracked);
        if known {
            *self.tally.logins.entry(login.clone()).or_default() += 1;
        } else {
            self.tally.unknown_logins += 1;
        }
        let fresh = |now| Failures {
            window: Window::new(now),
            locked_until: None,
        };
        let mut lock = None;
        if self.pairs.len() < rules.max_tracked
            || self.pairs.contains_key(&(login.clone(), address))
        {
            lock = self
                .pairs
                .entry((login.clone(), address))
                .or_insert_with(|| fresh(now))
                .count(now, &rules, rules.pair_failures);
        }
        if self.logins.len() < rules.max_tracked || self.logins.contains_key(&login) {
            let everywhere = self
                .logins
                .entry(login)
                .or_insert_with(|| fresh(now))
                .count(now, &rules, rules.login_ceiling);
            lock = lock.max(everywhere);
        }
        if lock.is_some() {
            self.tally.locks += 1;
        }
        lock
    }

    /// A login that succeeded from this address starts afresh there.
    pub fn succeeded(&mut self, login: &str, address: IpAddr) {
        self.pairs.remove(&(login_key(login), address_key(address)));
    }

    /// The journal's summary of what was refused, once per `summary_every`
    /// (and only when something was).
    pub fn summary_due(&mut self, now: DateTime<Utc>) -> Option<String> {
        if self.tally.is_empty() || now - self.tally.since < self.rules.summary_every {
            return None;
        }
        let text = self.tally.describe(now);
        self.tally = Tally::new(now);
        Some(text)
    }

    fn forget_expired(&mut self, now: DateTime<Utc>) {
        let rules = &self.rules;
        if self.addresses.len() >= rules.max_tracked / 2 {
            self.addresses
                .retain(|_, w| now - w.start < rules.address_window);
        }
        if self.pairs.len() >= rules.max_tracked / 2 {
            self.pairs.retain(|_, f| !f.expired(now, rules));
        }
        if self.logins.len() >= rules.max_tracked / 2 {
            self.logins.retain(|_, f| !f.expired(now, rules));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn five_failures_lock_a_login_from_that_address_only_known_or_not() {
        let mut g = LoginGuard::new(GuardRules::default(), at(0));
        for known in [true, false] {
            let login = if known { "admin.grades" } else { "personne" };
            for i in 0..5 {
                assert_eq!(g.admit(login, ip("192.0.2.1"), at(i)), Admission::Go);
                let lock = g.failed(login, ip("192.0.2.1"), known, at(i));
                assert_eq!(lock.is_some(), i == 4, "{login} {i}");
            }
            // The same answer for a known and an unknown login.
            assert_eq!(
                g.admit(&login.to_uppercase(), ip("192.0.2.1"), at(5)),
                Admission::Locked {
                    until: at(4) + Duration::minutes(15)
                }
            );
            // Elsewhere, the login is still open.
            assert_eq!(g.admit(login, ip("198.51.100.7"), at(6)), Admission::Go);
            // The lock ends.
            assert_eq!(
                g.admit(login, ip("192.0.2.1"), at(4) + Duration::minutes(15)),
                Admission::Go
            );
        }
    }

    #[test]
    fn many_addresses_reach_the_ceiling_and_lock_everywhere() {
        let mut g = LoginGuard::new(GuardRules::default(), at(0));
        for n in 0..50 {
            let from = IpAddr::from([10, 0, (n / 4) as u8, (n % 4) as u8]);
            assert_eq!(g.admit("admin.grades", from, at(n)), Admission::Go);
            g.failed("admin.grades", from, true, at(n));
        }
        assert!(matches!(
            g.admit("admin.grades", ip("203.0.113.9"), at(60)),
            Admission::Locked { .. }
        ));
    }

    #[test]
    fn an_address_and_the_instance_are_throttled() {
        let mut g = LoginGuard::new(GuardRules::default(), at(0));
        for i in 0..10 {
            assert_eq!(
                g.admit(&format!("x{i}"), ip("192.0.2.1"), at(0)),
                Admission::Go
            );
        }
        assert_eq!(
            g.admit("y", ip("192.0.2.1"), at(20)),
            Admission::Throttled {
                retry_after: Duration::seconds(40)
            }
        );
        assert_eq!(g.admit("y", ip("192.0.2.1"), at(60)), Admission::Go);
        // One IPv6 network counts as one address.
        let mut g = LoginGuard::new(GuardRules::default(), at(0));
        for i in 0..10u16 {
            let a = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, 0, 0, i));
            assert_eq!(g.admit("x", a, at(0)), Admission::Go);
        }
        assert!(matches!(
            g.admit("x", ip("2001:db8:1:2::ffff"), at(1)),
            Admission::Throttled { .. }
        ));
        // The whole instance: 120 a minute from 120 addresses.
        let mut g = LoginGuard::new(GuardRules::default(), at(0));
        for n in 0..120u32 {
            assert_eq!(
                g.admit("x", IpAddr::from(n.to_be_bytes()), at(0)),
                Admission::Go
            );
        }
        assert!(matches!(
            g.admit("x", ip("203.0.113.9"), at(1)),
            Admission::Throttled { .. }
        ));
    }

    #[test]
    fn the_journal_gets_one_counted_summary_per_period() {
        let mut g = LoginGuard::new(GuardRules::default(), at(0));
        for i in 0..7 {
            let known = i < 6;
            let login = if known {
                "Admin.Grades"
            } else {
                "mot-de-passe-tapé-ici"
            };
            if g.admit(login, ip("192.0.2.1"), at(i)) == Admission::Go {
                g.failed(login, ip("192.0.2.1"), known, at(i));
            }
        }
        assert_eq!(g.summary_due(at(60)), None, "not before ten minutes");
        let text = g.summary_due(at(600)).expect("a summary");
        assert!(text.contains("6 échec(s)"), "{text}");
        assert!(text.contains("dont 1 sur un identifiant inconnu"), "{text}");
        assert!(
            text.contains("1 blocage(s), 1 essai(s) pendant un blocage"),
            "{text}"
        );
        assert!(text.contains("admin.grades (5)"), "{text}");
        assert!(text.contains("192.0.2.1 (7)"), "{text}");
        // An unknown login is never written: it may be a mistyped password.
        assert!(!text.contains("mot-de-passe"), "{text}");
        assert_eq!(
            g.summary_due(at(1300)),
            None,
            "nothing new, nothing written"
        );
    }

    #[test]
    fn state_stays_bounded() {
        let rules = GuardRules {
            max_tracked: 100,
            per_address: 1_000,
            global: 100_000,
            ..GuardRules::default()
        };
        let mut g = LoginGuard::new(rules, at(0));
        for n in 0..1_000u32 {
            let from = IpAddr::from(n.to_be_bytes());
            if g.admit(&format!("login{n}"), from, at(0)) == Admission::Go {
                g.failed(&format!("login{n}"), from, false, at(0));
            }
        }
        assert!(g.addresses.len() <= 100 && g.pairs.len() <= 100 && g.logins.len() <= 100);
        // Once their windows are over, new attempts are followed again.
        assert_eq!(
            g.admit("late", ip("203.0.113.9"), at(0) + Duration::minutes(16)),
            Admission::Go
        );
        assert!(g.tally.addresses.len() <= 100);
    }
}
