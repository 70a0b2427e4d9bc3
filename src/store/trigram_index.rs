//! One structure's search keys in memory, with the files holding each
//! trigram: reception's substring searches in a big structure answered by
//! intersecting a few sorted lists, in microseconds, instead of asking the
//! database for every file holding the trigrams (issue 12, BENCHMARKS.md
//! §5). Pure: the store loads it, keeps it in step and reads the rows it
//! names (`store/shared/search_memory.rs`).
//!
//! A file is a slot: its id and its folded key. Writing a file again gives
//! it a new slot (the old one is dead), so every trigram's list of slots
//! only grows at its end and stays sorted; dead slots are skipped, and the
//! index is rebuilt without them once they are a quarter of it.

use std::collections::HashMap;

use memchr::memmem;
use uuid::Uuid;

use crate::domain::search::{found_anywhere, rank};

type Slot = u32;

#[derive(Debug, Default)]
pub struct TrigramIndex {
    /// The last key write (of the structure's, `search_generations.seq`)
    /// this index holds.
    generation: i64,
    ids: Vec<Uuid>,
    /// `None`: the slot is dead (the file written again, merged, gone).
    keys: Vec<Option<Box<str>>>,
    /// The first eight bytes of each slot's key, big-endian: most
    /// comparisons of two keys end there, without reaching the keys.
    heads: Vec<u64>,
    slots: HashMap<Uuid, Slot>,
    /// Three bytes of a folded key (ASCII) → the slots holding them, ascending.
    grams: HashMap<u32, Vec<Slot>>,
    dead: usize,
    postings: usize,
}

/// Bytes a slot costs besides its key and its postings (id, key box and
/// its allocation's header, head, map entry with its share of empty
/// buckets).
const SLOT_BYTES: usize = 16 + 16 + 16 + 8 + 40;
/// Bytes a trigram's entry costs besides its postings.
const GRAM_BYTES: usize = 48;

impl TrigramIndex {
    pub fn new(generation: i64) -> TrigramIndex {
        TrigramIndex {
            generation,
            ..TrigramIndex::default()
        }
    }

    pub fn generation(&self) -> i64 {
        self.generation
    }

    pub fn set_generation(&mut self, generation: i64) {
        self.generation = generation;
    }

    /// Files held (live).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// An estimate of the memory it holds, for the store's budget.
    pub fn bytes(&self) -> usize {
        let keys: usize = self.keys.iter().flatten().map(|k| k.len()).sum();
        self.ids.len() * SLOT_BYTES + keys + self.postings * 4 + self.grams.len() * GRAM_BYTES
    }

    /// The file with this key (a new one, or its key written again).
    pub fn put(&mut self, id: Uuid, key: &str) {
        self.remove(id);
        let slot = Slot::try_from(self.ids.len()).expect("fewer than 4 billion files");
        self.ids.push(id);
        self.keys.push(Some(key.into()));
        self.heads.push(head_of(key));
        self.slots.insert(id, slot);
        for gram in grams_of(key) {
            self.grams.entry(gram).or_default().push(slot);
            self.postings += 1;
        }
    }

    /// The file no longer listed (merged).
    pub fn remove(&mut self, id: Uuid) {
        if let Some(slot) = self.slots.remove(&id) {
            self.keys[slot as usize] = None;
            self.dead += 1;
            if self.dead > 64 && self.dead * 4 > self.ids.len() {
                self.compact();
            }
        }
    }

    /// The same files in new slots, without the dead ones.
    fn compact(&mut self) {
        let live: Vec<(Uuid, Box<str>)> = self
            .ids
            .iter()
            .zip(self.keys.iter_mut())
            .filter_map(|(id, key)| key.take().map(|k| (*id, k)))
            .collect();
        let mut fresh = TrigramIndex::new(self.generation);
        for (id, key) in live {
            fresh.put(id, &key);
        }
        fresh.shrink();
        *self = fresh;
    }

    /// Gives back what the lists hold beyond their length (after a load).
    pub fn shrink(&mut self) {
        for list in self.grams.values_mut() {
            list.shrink_to_fit();
        }
        self.ids.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.heads.shrink_to_fit();
    }

    /// The files matching every term (from three letters anywhere, else at
    /// the start of a word), in the receptionist's order for the first term
    /// (`domain::search::rank`, then the key), at most `limit`. `None` when
    /// no term is long enough for the trigrams to serve the search.
    pub fn find(&self, terms: &[&str], limit: usize) -> Option<Vec<Uuid>> {
        let first = *terms.first()?;
        let mut wanted: Vec<u32> = terms
            .iter()
            .filter(|t| found_anywhere(t))
            .flat_map(|t| grams_of(t))
            .collect();
        if wanted.is_empty() {
            return None;
        }
        wanted.sort_unstable();
        wanted.dedup();
        let mut lists = Vec::with_capacity(wanted.len());
        for gram in &wanted {
            match self.grams.get(gram) {
                Some(list) => lists.push(list.as_slice()),
                None => return Some(Vec::new()),
            }
        }
        lists.sort_by_key(|l| l.len());
        let mut slots = lists[0].to_vec();
        for list in &lists[1..] {
            retain_in(&mut slots, list);
        }
        let needles: Vec<Needle> = terms.iter().map(|t| Needle::of(t)).collect();
        // The first term's place in the key is the receptionist's order
        // (`domain::search::rank`, then the key).
        let mut found: Vec<(u8, u64, Slot)> = slots
            .into_iter()
            .filter_map(|s| {
                let key = self.keys[s as usize].as_deref()?.as_bytes();
                let rank = needles[0].place_in(key)?;
                needles[1..]
                    .iter()
                    .all(|n| n.place_in(key).is_some())
                    .then(|| (rank, self.heads[s as usize], s))
            })
            .collect();
        if limit == 0 {
            return Some(Vec::new());
        }
        let order = |a: &(u8, u64, Slot), b: &(u8, u64, Slot)| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| self.keys[a.2 as usize].cmp(&self.keys[b.2 as usize]))
                .then(a.2.cmp(&b.2))
        };
        if found.len() > limit {
            found.select_nth_unstable_by(limit - 1, order);
            found.truncate(limit);
        }
        found.sort_unstable_by(order);
        debug_assert!(found.iter().all(|f| {
            let key = self.keys[f.2 as usize].as_deref().unwrap_or_default();
            rank(first, key) == f.0
        }));
        Some(
            found
                .into_iter()
                .map(|(_, _, s)| self.ids[s as usize])
                .collect(),
        )
    }
}

/// The first eight bytes of a key as a number that orders as they do.
fn head_of(key: &str) -> u64 {
    let mut head = [0u8; 8];
    let n = key.len().min(8);
    head[..n].copy_from_slice(&key.as_bytes()[..n]);
    u64::from_be_bytes(head)
}

/// Keeps in `slots` (ascending) those also in `list` (ascending), each
/// looked up from where the last one was found, by doubling steps then
/// halving (a few steps each when the lists are alike in size, a binary
/// search's when `list` is much longer).
fn retain_in(slots: &mut Vec<Slot>, list: &[Slot]) {
    let mut from = 0;
    slots.retain(|&s| {
        let rest = &list[from..];
        let mut end = 1;
        while end < rest.len() && rest[end - 1] < s {
            end *= 2;
        }
        let end = end.min(rest.len());
        match rest[..end].binary_search(&s) {
            Ok(i) => {
                from += i + 1;
                true
            }
            Err(i) => {
                from += i;
                false
            }
        }
    });
}

/// How a term is found in a key: the same test as the database's
/// (`' ' || search_key` holds the term, or ` term` when it is short).
struct Needle<'t> {
    term: &'t [u8],
    anywhere: bool,
    /// The term anywhere, or ` term` for a short one.
    finder: memmem::Finder<'static>,
}

impl<'t> Needle<'t> {
    fn of(term: &'t str) -> Needle<'t> {
        let anywhere = found_anywhere(term);
        let finder = if anywhere {
            memmem::Finder::new(term.as_bytes()).into_owned()
        } else {
            memmem::Finder::new(format!(" {term}").as_bytes()).into_owned()
        };
        Needle {
            term: term.as_bytes(),
            anywhere,
            finder,
        }
    }

    /// Where the term is in the key, as `domain::search::rank` says: 0 at
    /// its start, 1 at another word's start, 2 inside a word; `None` when
    /// it is not there (a short term is only looked for at word starts).
    fn place_in(&self, key: &[u8]) -> Option<u8> {
        if key.starts_with(self.term) {
            return Some(0);
        }
        if !self.anywhere {
            return self.finder.find(key).map(|_| 1);
        }
        let mut place = None;
        for at in self.finder.find_iter(key) {
            if key[at - 1] == b' ' {
                return Some(1);
            }
            place = Some(2);
        }
        place
    }
}

/// The distinct trigrams of a folded text, three bytes each.
fn grams_of(text: &str) -> Vec<u32> {
    let mut grams: Vec<u32> = text
        .as_bytes()
        .windows(3)
        .map(|w| (u32::from(w[0]) << 16) | (u32::from(w[1]) << 8) | u32::from(w[2]))
        .collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn index(keys: &[&str]) -> TrigramIndex {
        let mut index = TrigramIndex::new(0);
        for (n, key) in keys.iter().enumerate() {
            index.put(id(n as u128), key);
        }
        index
    }

    #[test]
    fn finds_substrings_in_the_receptionists_order() {
        let i = index(&[
            "LAMARTINE ALPHONSE", // 0: inside
            "MARTIN PAUL",        // 1: starts
            "BERNARD MARTHE",     // 2: a first name starts
            "MOREAU PAUL",        // 3: no
            "MARTEAU PAUL",       // 4: starts
        ]);
        assert_eq!(
            i.find(&["MART"], 10),
            Some(vec![id(4), id(1), id(2), id(0)])
        );
        assert_eq!(i.find(&["MART"], 2), Some(vec![id(4), id(1)]));
        assert_eq!(i.find(&["MART"], 0), Some(vec![]));
        // A short term is a word's start; two long ones must both be there.
        assert_eq!(i.find(&["MART", "P"], 10), Some(vec![id(4), id(1)]));
        assert_eq!(i.find(&["PAUL", "MOR"], 10), Some(vec![id(3)]));
        assert_eq!(i.find(&["ART", "AUL"], 10), Some(vec![id(4), id(1)]));
        // Trigrams all present but not in one piece.
        assert_eq!(i.find(&["MARTAU"], 10), Some(vec![]));
        assert_eq!(i.find(&["XYZ"], 10), Some(vec![]));
        // Nothing long enough: the index cannot serve it.
        assert_eq!(i.find(&["MA"], 10), None);
        assert_eq!(i.find(&[], 10), None);
    }

    #[test]
    fn a_file_written_again_or_removed_follows() {
        let mut i = index(&["FONTAINE ZOE", "FONTAINES ZOE"]);
        i.put(id(1), "GAILLARD ZOE");
        assert_eq!(i.find(&["NTAINE"], 10), Some(vec![id(0)]));
        assert_eq!(i.find(&["ILLAR"], 10), Some(vec![id(1)]));
        i.remove(id(1));
        assert_eq!(i.find(&["ZOE"], 10), Some(vec![id(0)]));
        assert_eq!(i.len(), 1);
        i.remove(id(7)); // not there: nothing happens
        assert_eq!(i.len(), 1);
    }

    #[test]
    fn compaction_keeps_every_live_file() {
        let mut i = TrigramIndex::new(3);
        for n in 0..400 {
            i.put(id(n), &format!("DUPONT{n:03} MARIE"));
        }
        let before = i.bytes();
        for n in 0..300 {
            i.put(id(n), &format!("DURAND{n:03} MARIE"));
        }
        for n in 300..350 {
            i.remove(id(n));
        }
        assert_eq!(i.len(), 350);
        assert!(i.ids.len() < 700, "compacted: {} slots", i.ids.len());
        assert_eq!(i.generation(), 3);
        assert_eq!(i.find(&["DURAND", "MARIE"], 500).unwrap().len(), 300);
        assert_eq!(i.find(&["PONT3"], 500).unwrap().len(), 50);
        assert_eq!(i.find(&["DURAND007"], 5), Some(vec![id(7)]));
        assert!(i.bytes() > before / 2);
    }

    #[test]
    fn intersection_of_sorted_lists() {
        let mut a = vec![1, 3, 5, 7, 9, 11];
        retain_in(&mut a, &[0, 3, 4, 9, 10, 11, 12]);
        assert_eq!(a, vec![3, 9, 11]);
        let long: Vec<Slot> = (0..10_000).map(|n| n * 3).collect();
        let mut c: Vec<Slot> = (0..2_000).map(|n| n * 7).collect();
        retain_in(&mut c, &long);
        assert_eq!(
            c,
            (0..2_000)
                .map(|n| n * 7)
                .filter(|n| n % 3 == 0)
                .collect::<Vec<_>>()
        );
        let mut d: Vec<Slot> = vec![29_997, 29_998, 40_000];
        retain_in(&mut d, &long);
        assert_eq!(d, vec![29_997]);
        let mut b = vec![2, 4];
        retain_in(&mut b, &[]);
        assert!(b.is_empty());
    }

    #[test]
    fn a_terms_place_is_its_rank() {
        let keys = [
            "DUPONT MARC",
            "DURAND ZOE DUPONT",
            "LEDUPUIS ANNE",
            "ADUP DUP",
            "MOREAU",
        ];
        for term in ["DUP", "DU", "D", "MOREAU", "ZOE", "UP"] {
            for key in keys {
                let expected = if found_anywhere(term) {
                    key.contains(term).then(|| rank(term, key))
                } else {
                    format!(" {key}")
                        .contains(&format!(" {term}"))
                        .then(|| rank(term, key))
                };
                assert_eq!(
                    Needle::of(term).place_in(key.as_bytes()),
                    expected,
                    "{term} in {key}"
                );
            }
        }
    }

    #[test]
    fn heads_order_as_keys_do() {
        let keys = [
            "A",
            "AB",
            "ABCDEFGH",
            "ABCDEFGHZ",
            "ABCDEFGI",
            "B",
            "DUPONT Z",
            "DUPONTA",
        ];
        for w in keys.windows(2) {
            assert!(head_of(w[0]) <= head_of(w[1]), "{w:?}");
        }
        // Keys alike in their first eight bytes are told apart by the key.
        let i = index(&["ABCDEFGHZ ONTA", "ABCDEFGHA ONTA"]);
        assert_eq!(i.find(&["ONTA"], 5), Some(vec![id(1), id(0)]));
    }

    #[test]
    fn grams_are_the_three_byte_windows() {
        assert_eq!(grams_of("ONTA").len(), 2);
        assert_eq!(grams_of("AAAA").len(), 1);
        assert!(grams_of("ON").is_empty());
    }
}
