//! One structure's search keys in memory, with the files holding each
//! piece of three and of four bytes (trigrams and quadrigrams): reception's
//! substring searches in a big structure answered by intersecting a few
//! sorted lists, in microseconds, instead of asking the database for every
//! file holding the trigrams (issue 12, BENCHMARKS.md §5). Pure: the store
//! loads it, keeps it in step and reads the rows it names
//! (`store/shared/search_memory.rs`).
//!
//! A file is a slot: its id, its folded key and what the store keeps with
//! it (its listed columns, `store/listed_bytes.rs`), the key and the row one
//! after the other in one buffer of the index's (two allocations of their
//! own per file cost about 50 bytes more each: 5 MiB at 100,000 files,
//! BENCHMARKS.md section 5). Writing a file again gives it a new slot (the
//! old one is dead), so every piece's list of slots only grows at its end
//! and stays sorted; dead slots are skipped, and the index is rebuilt
//! without them (nor their bytes) once they are a quarter of it.

use std::collections::HashMap;

use uuid::Uuid;

use crate::domain::search::found_anywhere;
#[cfg(test)]
use crate::domain::search::rank;

type Slot = u32;

#[derive(Debug, Default)]
pub struct TrigramIndex {
    /// The last key write (of the structure's, `search_generations.seq`)
    /// this index holds.
    generation: i64,
    ids: Vec<Uuid>,
    /// Each slot's key, then what the store keeps with its file (its row).
    bytes: Vec<u8>,
    /// Where each slot's key and row are in `bytes`.
    spans: Vec<Span>,
    /// The first eight bytes of each slot's key, big-endian: most
    /// comparisons of two keys end there, without reaching the keys.
    heads: Vec<u64>,
    /// Whether each slot is live (not written again, merged, gone).
    alive: Vec<bool>,
    /// The first `sorted` slots' ids are in ascending order (a load reads
    /// the files by id, a compaction puts them back so): their slots are
    /// found by a binary search of `ids`, without a map entry of 40 bytes
    /// each (4 MiB at 100,000 files, BENCHMARKS.md section 5).
    sorted: usize,
    /// The slots of the files put after the sorted ones, by id.
    slots: HashMap<Uuid, Slot>,
    /// Three or four bytes of a folded key (ASCII) → the slots holding
    /// them, ascending.
    grams: HashMap<u32, Vec<Slot>>,
    dead: usize,
    postings: usize,
}

/// A slot's key, at `at` in the index's bytes, then its row.
#[derive(Debug, Clone, Copy)]
struct Span {
    at: u32,
    key: u32,
    row: u32,
}

/// A file found: its id, key and row.
#[derive(Debug, PartialEq, Eq)]
pub struct FoundFile<'i> {
    pub id: Uuid,
    pub key: &'i str,
    pub row: &'i [u8],
}

/// Bytes a slot costs besides its key, its row and its postings (id, span,
/// head, liveness).
const SLOT_BYTES: usize = 16 + 12 + 8 + 1;
/// Bytes of a map entry, with its share of empty buckets.
const MAP_ENTRY_BYTES: usize = 40;
/// Bytes a piece's entry costs besides its postings.
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
        self.ids.len() - self.dead
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An estimate of the memory it holds, for the store's budget.
    pub fn bytes(&self) -> usize {
        self.ids.len() * SLOT_BYTES
            + self.slots.len() * MAP_ENTRY_BYTES
            + self.bytes.len()
            + self.postings * 4
            + self.grams.len() * GRAM_BYTES
    }

    /// The file with this key and row (a new one, or written again).
    pub fn put(&mut self, id: Uuid, key: &str, row: &[u8]) {
        self.remove(id);
        let slot = Slot::try_from(self.ids.len()).expect("fewer than 4 billion files");
        let length = |n: usize| u32::try_from(n).expect("a key and a row under 4 GiB");
        self.ids.push(id);
        self.spans.push(Span {
            at: length(self.bytes.len()),
            key: length(key.len()),
            row: length(row.len()),
        });
        self.bytes.extend_from_slice(key.as_bytes());
        self.bytes.extend_from_slice(row);
        self.heads.push(head_of(key));
        self.alive.push(true);
        let in_order =
            self.sorted == slot as usize && (slot == 0 || self.ids[slot as usize - 1] < id);
        if in_order {
            self.sorted += 1;
        } else {
            self.slots.insert(id, slot);
        }
        for gram in grams_of(key) {
            self.grams.entry(gram).or_default().push(slot);
            self.postings += 1;
        }
    }

    /// The file no longer listed (merged).
    pub fn remove(&mut self, id: Uuid) {
        if let Some(slot) = self.slots.remove(&id).or_else(|| self.sorted_slot(id)) {
            self.alive[slot as usize] = false;
            self.dead += 1;
            if self.dead > 64 && self.dead * 4 > self.ids.len() {
                self.compact();
            }
        }
    }

    /// The same files in new slots, without the dead ones.
    fn compact(&mut self) {
        let mut live: Vec<usize> = (0..self.ids.len()).filter(|&s| self.alive[s]).collect();
        live.sort_unstable_by_key(|&s| self.ids[s]);
        let mut fresh = TrigramIndex::new(self.generation);
        for slot in live {
            fresh.put(self.ids[slot], self.key(slot), self.row(slot));
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
        self.bytes.shrink_to_fit();
        self.spans.shrink_to_fit();
        self.heads.shrink_to_fit();
        self.alive.shrink_to_fit();
    }

    /// The key and row of a live file.
    #[cfg(test)]
    fn file(&self, id: Uuid) -> Option<(&str, &[u8])> {
        let slot = self.slot_of_id(id)? as usize;
        Some((self.key(slot), self.row(slot)))
    }

    /// The ids of [`TrigramIndex::find_files`].
    #[cfg(test)]
    fn find(&self, terms: &[&str], limit: usize) -> Option<Vec<Uuid>> {
        Some(
            self.find_files(terms, limit)?
                .into_iter()
                .map(|f| f.id)
                .collect(),
        )
    }

    /// The files matching every term (from three letters anywhere, else at
    /// the start of a word), in the receptionist's order for the first term
    /// (`domain::search::rank`, then the key), at most `limit`, each with
    /// its key and row. `None` when no term is long enough for the trigrams
    /// to serve the search.
    pub fn find_files(&self, terms: &[&str], limit: usize) -> Option<Vec<FoundFile<'_>>> {
        let slots = self.candidates(terms)?;
        if limit == 0 {
            return Some(Vec::new());
        }
        let needles: Vec<Needle> = terms.iter().map(|t| Needle::of(t)).collect();
        let page = match self.quick_page(&slots, &needles, limit) {
            Some(page) => page,
            None => self.exact_page(&slots, &needles, limit),
        };
        debug_assert_eq!(page, self.exact_page(&slots, &needles, limit));
        Some(
            page.into_iter()
                .map(|f| FoundFile {
                    id: self.ids[slot_of(f)],
                    key: self.key(slot_of(f)),
                    row: self.row(slot_of(f)),
                })
                .collect(),
        )
    }

    /// The slots holding every piece of the terms of three letters or
    /// more (a superset of the files holding the terms), ascending.
    fn candidates(&self, terms: &[&str]) -> Option<Vec<Slot>> {
        let mut wanted: Vec<u32> = terms
            .iter()
            .filter(|t| found_anywhere(t))
            .flat_map(|t| term_grams(t))
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
        Some(slots)
    }

    /// The page without reading most keys (a few thousand keys read one by
    /// one cost more than the rest of a search: each is a cache miss). The
    /// rank is guessed from the heads and the files where a word starts
    /// with the first term's first three letters; a guess is never better
    /// than the truth, so when the page's files, read, are what was
    /// guessed, no other file could come before them. `None`: the exact
    /// way must be taken (a short term, a first term longer than a head,
    /// or a guess that was wrong).
    fn quick_page(&self, slots: &[Slot], needles: &[Needle], limit: usize) -> Option<Vec<u128>> {
        let (term_head, mask) = needles[0].head?;
        if !needles.iter().all(|n| n.anywhere) {
            return None;
        }
        let f = needles[0].term;
        let word_start = gram(&[b' ', f[0], f[1], f[2]]);
        let word_start = self.grams.get(&word_start).map_or(&[][..], Vec::as_slice);
        let mut w = 0;
        let mut found: Vec<u128> = Vec::with_capacity(slots.len());
        for &s in slots {
            if !self.alive[s as usize] {
                continue;
            }
            let head = self.heads[s as usize];
            let rank = if head & mask == term_head {
                0
            } else {
                while w < word_start.len() && word_start[w] < s {
                    w += 1;
                }
                if word_start.get(w) == Some(&s) { 1 } else { 2 }
            };
            found.push(ordered(rank, head, s));
        }
        let page = self.first_of(found, limit);
        page.iter()
            .all(|&f| {
                let key = self.key_bytes(slot_of(f));
                let head = self.heads[slot_of(f)];
                needles[0].place_in(key, head) == Some(rank_of(f))
                    && needles[1..].iter().all(|n| n.place_in(key, head).is_some())
            })
            .then_some(page)
    }

    /// The page, every candidate's key read.
    fn exact_page(&self, slots: &[Slot], needles: &[Needle], limit: usize) -> Vec<u128> {
        let found: Vec<u128> = slots
            .iter()
            .filter_map(|&s| {
                let key = self.alive[s as usize].then(|| self.key_bytes(s as usize))?;
                let head = self.heads[s as usize];
                let rank = needles[0].place_in(key, head)?;
                needles[1..]
                    .iter()
                    .all(|n| n.place_in(key, head).is_some())
                    .then(|| ordered(rank, head, s))
            })
            .collect();
        self.first_of(found, limit)
    }

    /// The first `limit` in the receptionist's order: by rank and head, then
    /// (only among those alike in both) by key.
    fn first_of(&self, mut found: Vec<u128>, limit: usize) -> Vec<u128> {
        if found.len() > limit {
            found.select_nth_unstable(limit - 1);
            // Those alike in rank and head with the last one kept may be
            // cut wrongly: all of them are ordered by their whole key.
            let edge = found[limit - 1] >> 32;
            found.retain(|f| f >> 32 <= edge);
        }
        found.sort_unstable_by(|a, b| {
            (a >> 32)
                .cmp(&(b >> 32))
                .then_with(|| self.key_bytes(slot_of(*a)).cmp(self.key_bytes(slot_of(*b))))
                .then(a.cmp(b))
        });
        found.truncate(limit);
        found
    }

    /// The live slot of a file.
    #[cfg(test)]
    fn slot_of_id(&self, id: Uuid) -> Option<Slot> {
        self.slots
            .get(&id)
            .copied()
            .or_else(|| self.sorted_slot(id))
    }

    /// The live slot of a file among the sorted ones.
    fn sorted_slot(&self, id: Uuid) -> Option<Slot> {
        let slot = self.ids[..self.sorted].binary_search(&id).ok()?;
        self.alive[slot].then_some(slot as Slot)
    }

    fn key_bytes(&self, slot: usize) -> &[u8] {
        let Span { at, key, .. } = self.spans[slot];
        &self.bytes[at as usize..][..key as usize]
    }

    /// A slot's key (written from a `&str`: always UTF-8).
    fn key(&self, slot: usize) -> &str {
        std::str::from_utf8(self.key_bytes(slot)).unwrap_or_default()
    }

    fn row(&self, slot: usize) -> &[u8] {
        let Span { at, key, row } = self.spans[slot];
        &self.bytes[at as usize + key as usize..][..row as usize]
    }
}

/// Rank, head and slot in one number, ordered as the files are up to
/// their heads.
fn ordered(rank: u8, head: u64, slot: Slot) -> u128 {
    (u128::from(rank) << 96) | (u128::from(head) << 32) | u128::from(slot)
}

fn slot_of(f: u128) -> usize {
    (f as u32) as usize
}

fn rank_of(f: u128) -> u8 {
    (f >> 96) as u8
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
    /// A term of eight bytes or fewer is at the key's start when the key's
    /// head, masked, is the term's.
    head: Option<(u64, u64)>,
}

impl<'t> Needle<'t> {
    fn of(term: &'t str) -> Needle<'t> {
        let n = term.len();
        Needle {
            term: term.as_bytes(),
            anywhere: found_anywhere(term),
            head: (1..=8)
                .contains(&n)
                .then(|| (head_of(term), u64::MAX << (64 - 8 * n as u32))),
        }
    }

    fn starts(&self, key: &[u8], head: u64) -> bool {
        match self.head {
            Some((term, mask)) => head & mask == term,
            None => key.starts_with(self.term),
        }
    }

    /// Where the term is in the key (whose head is `head`), as
    /// `domain::search::rank` says: 0 at its start, 1 at another word's
    /// start, 2 inside a word; `None` when it is not there (a short term
    /// is only looked for at word starts).
    fn place_in(&self, key: &[u8], head: u64) -> Option<u8> {
        if self.starts(key, head) {
            return Some(0);
        }
        let mut place = None;
        let mut from = 1;
        while let Some(at) = find_from(key, self.term, from) {
            if key[at - 1] == b' ' {
                return Some(1);
            }
            if self.anywhere {
                place = Some(2);
            }
            from = at + 1;
        }
        place
    }
}

/// Where `term` is in `key` at `from` or after (keys are a few dozen
/// bytes: its first byte is looked for, then the rest compared).
fn find_from(key: &[u8], term: &[u8], from: usize) -> Option<usize> {
    let (&first, rest) = term.split_first()?;
    let last = key.len().checked_sub(term.len())?;
    (from..=last).find(|&i| key[i] == first && key[i + 1..i + term.len()] == *rest)
}

/// The distinct pieces of three and of four bytes of a folded key, each
/// as a number (a piece of three has a zero high byte; folded keys have no
/// zero byte): a term of four letters or more is looked up by its pieces
/// of four, whose lists are several times shorter than those of three.
fn grams_of(key: &str) -> Vec<u32> {
    let bytes = key.as_bytes();
    let mut grams: Vec<u32> = bytes
        .windows(3)
        .map(gram)
        .chain(bytes.windows(4).map(gram))
        .collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// The pieces a term is looked up by: of four bytes from four letters,
/// else of three.
fn term_grams(term: &str) -> Vec<u32> {
    let size = if term.len() >= 4 { 4 } else { 3 };
    let mut grams: Vec<u32> = term.as_bytes().windows(size).map(gram).collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

fn gram(w: &[u8]) -> u32 {
    w.iter().fold(0, |g, &b| (g << 8) | u32::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// What the store would keep with the file: here, its key's bytes again.
    fn row(key: &str) -> Box<[u8]> {
        format!("row of {key}").into_bytes().into()
    }

    fn put(index: &mut TrigramIndex, n: u128, key: &str) {
        index.put(id(n), key, &row(key));
    }

    fn index(keys: &[&str]) -> TrigramIndex {
        let mut index = TrigramIndex::new(0);
        for (n, key) in keys.iter().enumerate() {
            put(&mut index, n as u128, key);
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
        assert_eq!(
            i.find_files(&["MART"], 1),
            Some(vec![FoundFile {
                id: id(4),
                key: "MARTEAU PAUL",
                row: &row("MARTEAU PAUL"),
            }])
        );
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
    fn a_wrong_guess_of_the_rank_is_read_right() {
        // " MAR" (MARIE) and "MART" (inside LAMARTINE) but no word starting
        // with MART: guessed 1, truly 2, so it comes after AMARTIN by key.
        let i = index(&["ZLAMARTINE MARIE", "AMARTIN PAUL", "MARTIN LEA"]);
        assert_eq!(i.find(&["MART"], 3), Some(vec![id(2), id(1), id(0)]));
        assert_eq!(i.find(&["MART"], 2), Some(vec![id(2), id(1)]));
        // A longer term: its pieces of four are all there, the term is not.
        let j = index(&["MARTIN ARTINE", "MARTINE LEA"]);
        assert_eq!(j.find(&["MARTINE"], 5), Some(vec![id(1)]));
    }

    #[test]
    fn a_file_written_again_or_removed_follows() {
        let mut i = index(&["FONTAINE ZOE", "FONTAINES ZOE"]);
        put(&mut i, 1, "GAILLARD ZOE");
        assert_eq!(i.file(id(1)), Some(("GAILLARD ZOE", &*row("GAILLARD ZOE"))));
        assert_eq!(i.find(&["NTAINE"], 10), Some(vec![id(0)]));
        assert_eq!(i.find(&["ILLAR"], 10), Some(vec![id(1)]));
        i.remove(id(1));
        assert_eq!(i.file(id(1)), None);
        assert_eq!(i.find(&["ZOE"], 10), Some(vec![id(0)]));
        assert_eq!(i.len(), 1);
        i.remove(id(7)); // not there: nothing happens
        assert_eq!(i.len(), 1);
    }

    #[test]
    fn files_are_found_by_id_in_and_after_the_sorted_slots() {
        let mut i = TrigramIndex::new(0);
        // Loaded by id: the sorted slots, no map entry.
        for n in [2, 4, 6, 8] {
            put(&mut i, n, &format!("DUPONT{n:03} MARIE"));
        }
        assert_eq!((i.sorted, i.slots.len()), (4, 0));
        // Then out of order, written again, removed.
        put(&mut i, 5, "DUPONT005 MARIE");
        put(&mut i, 9, "DUPONT009 MARIE");
        put(&mut i, 4, "DURAND004 MARIE");
        i.remove(id(6));
        i.remove(id(9));
        i.remove(id(7));
        assert_eq!((i.sorted, i.slots.len()), (4, 2));
        let key = |n: u128| i.file(id(n)).map(|(k, _)| k.to_string());
        assert_eq!(key(2).as_deref(), Some("DUPONT002 MARIE"));
        assert_eq!(key(4).as_deref(), Some("DURAND004 MARIE"));
        assert_eq!(key(5).as_deref(), Some("DUPONT005 MARIE"));
        assert_eq!(key(8).as_deref(), Some("DUPONT008 MARIE"));
        assert_eq!((key(6), key(7), key(9)), (None, None, None));
        assert_eq!(i.len(), 4);
        assert_eq!(i.find(&["DUPONT"], 10), Some(vec![id(2), id(5), id(8)]));
        // A compaction puts them back in order: the map is empty again.
        i.compact();
        assert_eq!((i.sorted, i.slots.len(), i.len()), (4, 0, 4));
        assert_eq!(i.ids, vec![id(2), id(4), id(5), id(8)]);
        assert_eq!(i.file(id(4)).map(|(k, _)| k), Some("DURAND004 MARIE"));
        i.remove(id(4));
        assert_eq!((i.file(id(4)), i.len()), (None, 3));
    }

    #[test]
    fn compaction_keeps_every_live_file() {
        let mut i = TrigramIndex::new(3);
        for n in 0..400 {
            put(&mut i, n, &format!("DUPONT{n:03} MARIE"));
        }
        let before = i.bytes();
        for n in 0..300 {
            put(&mut i, n, &format!("DURAND{n:03} MARIE"));
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
        // Each live file kept its row; the dead ones are gone.
        for n in 0..400 {
            let key = match n {
                0..300 => Some(format!("DURAND{n:03} MARIE")),
                300..350 => None,
                _ => Some(format!("DUPONT{n:03} MARIE")),
            };
            let held = key.as_deref().map(|k| (k, row(k)));
            assert_eq!(i.file(id(n)), held.as_ref().map(|(k, r)| (*k, &**r)));
        }
        // Every byte held is a slot's key or row: the compaction (fewer
        // than 700 slots, above) left the dead slots' bytes behind.
        let spans: usize = i.spans.iter().map(|s| (s.key + s.row) as usize).sum();
        assert_eq!(i.bytes.len(), spans);
        let live: usize = (0..400u128)
            .filter_map(|n| i.file(id(n)))
            .map(|(k, r)| k.len() + r.len())
            .sum();
        let dead = i.ids.len() - i.len();
        assert!(i.bytes.len() - live <= dead * "DUPONT000 MARIE".len() * 3);
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
            "DUPONTELLE LONGUE ANNE",
        ];
        for term in [
            "DUP",
            "DU",
            "D",
            "MOREAU",
            "ZOE",
            "UP",
            "DUPONTELLE",
            "LONGUE",
        ] {
            for key in keys {
                let expected = if found_anywhere(term) {
                    key.contains(term).then(|| rank(term, key))
                } else {
                    format!(" {key}")
                        .contains(&format!(" {term}"))
                        .then(|| rank(term, key))
                };
                let place = Needle::of(term).place_in(key.as_bytes(), head_of(key));
                assert_eq!(place, expected, "{term} in {key}");
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
    fn grams_are_the_three_and_four_byte_windows() {
        assert_eq!(grams_of("ONTA").len(), 3);
        assert_eq!(grams_of("AAAA").len(), 2);
        assert!(grams_of("ON").is_empty());
        assert_eq!(term_grams("ONTA"), vec![gram(b"ONTA")]);
        assert_eq!(term_grams("ONTAS").len(), 2);
        assert_eq!(term_grams("ONT"), vec![gram(b"ONT")]);
        assert_ne!(gram(b"ONT"), gram(b"ONTA") >> 8 << 8);
    }
}
