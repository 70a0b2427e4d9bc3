//! Reception's substring searches in a big structure, answered from this
//! process's memory ([`TrigramIndex`]) (issue 12). The database's own
//! trigram indexes hand over every file holding the trigrams before the
//! page is cut (1,547 files for « ONTA » at 100,000, 0.5 to 0.9 ms a
//! search); the index in memory intersects its lists and ranks in
//! microseconds, and keeps each file's listed columns
//! (`store/listed_bytes.rs`): the page is read from memory too, the
//! database asked only for the structure's generation (reading the page's
//! 21 rows by id cost PostgreSQL more than everything else of a search).
//!
//! Never stale: every write of a listed column bumps its structure's
//! generation in the writer's transaction (`search_generations`, migration
//! 0016, `search::reindex`). A page is given only if the database's
//! generation, read after it, is the one the index holds; when another
//! write (of this process or another) came in, the index first reads the
//! files stamped since, then the page is made again.
//!
//! Only structures of at least [`SearchMemorySettings::from_files`] files,
//! within a memory budget, the first searched first: a structure that does
//! not fit is served by the database as before (BENCHMARKS.md §5).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::rows::{self, listed_column_list};
use crate::domain::search::found_anywhere;
use crate::domain::tenant::Tenant;
use crate::store::listed_bytes;
use crate::store::sql::{Db, Row};
use crate::store::trigram_index::TrigramIndex;
use crate::store::{Listed, StoreResult};

/// What may be kept in memory.
#[derive(Debug, Clone, Copy)]
pub struct SearchMemorySettings {
    /// Bytes all the indexes of the process may hold (an estimate); 0: none.
    pub budget_bytes: usize,
    /// A structure is kept from this many files (its generation: files
    /// written, a little more than it holds).
    pub from_files: i64,
    /// Files read per statement while a structure is loaded. Each slice's
    /// rows are a transient that glibc's allocator keeps for reuse in the
    /// arena of the connection's thread: slices of 5,000 left SQLite's
    /// process 30 MiB bigger than slices of 1,000 (BENCHMARKS.md §5).
    pub load_slice: i64,
}

impl Default for SearchMemorySettings {
    /// 48 MiB (about 165,000 files by the estimate), from 1,000 files: a
    /// structure of 3,334 files (one of 300 in the benchmark of 1,000,000)
    /// answered by PostgreSQL lists 3,280 pages a second on this project's
    /// 2-core machine, under the 4,000 of issue 12; a smaller one holds
    /// little either way (BENCHMARKS.md §5).
    fn default() -> SearchMemorySettings {
        SearchMemorySettings {
            budget_bytes: 48 << 20,
            from_files: 1_000,
            load_slice: 1_000,
        }
    }
}

/// How often a structure found too small (or over the budget) is looked at
/// again.
const LOOK_AGAIN: Duration = Duration::from_secs(60);
/// Bytes a file takes in memory, by estimate, before one is loaded.
const FILE_BYTES: usize = 300;
/// Reads of the page that may meet another write before the database
/// answers alone.
const ATTEMPTS: usize = 3;

enum Held {
    /// Served by the database; looked at again after [`LOOK_AGAIN`].
    Database(Instant),
    /// Being read by one search; the others ask the database meanwhile.
    Loading,
    Ready(Arc<RwLock<TrigramIndex>>),
}

#[derive(Default)]
pub struct SearchMemory {
    settings: SearchMemorySettings,
    structures: Mutex<HashMap<Uuid, Held>>,
}

impl SearchMemory {
    pub fn new(settings: SearchMemorySettings) -> SearchMemory {
        SearchMemory {
            settings,
            structures: Mutex::default(),
        }
    }

    /// The page of files matching `terms` in the receptionist's order, at
    /// most `limit`; `None` when the database must answer (a small
    /// structure, no term of three letters, the index being read, or
    /// writes coming in faster than the page can be read).
    pub async fn search(
        &self,
        db: &Db,
        t: &Tenant,
        terms: &[&str],
        limit: usize,
    ) -> StoreResult<Option<Vec<Listed>>> {
        if self.settings.budget_bytes == 0 || !terms.iter().any(|t| found_anywhere(t)) {
            return Ok(None);
        }
        let Some(index) = self.index_of(db, t).await? else {
            return Ok(None);
        };
        for _ in 0..ATTEMPTS {
            let (generation, page) = {
                let index = index.read().expect("search index lock");
                let found = index.find_files(terms, limit).unwrap_or_default();
                let page: Option<Vec<Listed>> = found
                    .into_iter()
                    .map(|f| listed_bytes::decode(f.id, f.key, f.row))
                    .collect();
                (index.generation(), page)
            };
            let Some(page) = page else {
                return Ok(None);
            };
            if generation_of(db, t).await? == generation {
                return Ok(Some(page));
            }
            self.catch_up(db, t, &index, generation).await?;
        }
        Ok(None)
    }

    /// How many files of the structure are held in memory (`None`: it is
    /// served by the database).
    pub fn held(&self, structure: Uuid) -> Option<usize> {
        match self
            .structures
            .lock()
            .expect("search memory lock")
            .get(&structure)
        {
            Some(Held::Ready(index)) => Some(index.read().expect("search index lock").len()),
            _ => None,
        }
    }

    /// The structure's index, loaded on its first search when it is big
    /// enough and fits.
    async fn index_of(
        &self,
        db: &Db,
        t: &Tenant,
    ) -> StoreResult<Option<Arc<RwLock<TrigramIndex>>>> {
        let structure = t.structure_id;
        {
            let mut held = self.structures.lock().expect("search memory lock");
            match held.get(&structure) {
                Some(Held::Ready(index)) => return Ok(Some(index.clone())),
                Some(Held::Loading) => return Ok(None),
                Some(Held::Database(at)) if at.elapsed() < LOOK_AGAIN => return Ok(None),
                _ => {}
            }
            held.insert(structure, Held::Loading);
        }
        // Whatever happens below (an error, or the request dropped while it
        // waits: the guard), the structure leaves `Loading`.
        let mut leaving = Leaving {
            memory: self,
            structure,
            to: Some(Held::Database(Instant::now())),
        };
        let loaded = self.load_if_worth(db, t).await;
        if let Ok(Some(index)) = &loaded {
            leaving.to = Some(Held::Ready(index.clone()));
        }
        loaded
    }

    async fn load_if_worth(
        &self,
        db: &Db,
        t: &Tenant,
    ) -> StoreResult<Option<Arc<RwLock<TrigramIndex>>>> {
        let files = generation_of(db, t).await?;
        let expected = usize::try_from(files).unwrap_or(0) * FILE_BYTES;
        if files < self.settings.from_files
            || self.held_bytes() + expected > self.settings.budget_bytes
        {
            return Ok(None);
        }
        // The generation read first, the files after, in slices (their rows
        // are a transient several times the index's size): a file written
        // meanwhile is stamped after it and read again by the next search.
        let mut index = TrigramIndex::new(files);
        let mut after = None;
        loop {
            let query = db
                .query(rows::select_listed!("WHERE structure_id = $1"))
                .bind(t.structure_id)
                .push(" AND merged_into IS NULL");
            let query = match after {
                Some(id) => query.push(" AND id > ").push_bind(id),
                None => query,
            };
            let slice = self.settings.load_slice.max(1);
            let rows = query.push(" ORDER BY id").limit(slice).fetch_all().await?;
            for r in &rows {
                put(&mut index, r)?;
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == slice => after = Some(last.get::<Uuid>("id")?),
                _ => break,
            }
        }
        index.shrink();
        if self.held_bytes() + index.bytes() > self.settings.budget_bytes {
            return Ok(None);
        }
        Ok(Some(Arc::new(RwLock::new(index))))
    }

    /// Bytes held by the indexes in memory.
    fn held_bytes(&self) -> usize {
        let held = self.structures.lock().expect("search memory lock");
        held.values()
            .map(|h| match h {
                Held::Ready(index) => index.read().expect("search index lock").bytes(),
                _ => 0,
            })
            .sum()
    }

    /// Reads the files written since `since` (in any process) into the
    /// index. An index grown over the budget is let go.
    async fn catch_up(
        &self,
        db: &Db,
        t: &Tenant,
        index: &RwLock<TrigramIndex>,
        since: i64,
    ) -> StoreResult<()> {
        let rows = db
            .query(concat!(
                "SELECT g.seq AS generation, usagers.merged_into IS NULL AS live, ",
                listed_column_list!(),
                " FROM search_generations g
                 LEFT JOIN usagers ON usagers.structure_id = g.structure_id
                                  AND usagers.search_seq > $1
                 WHERE g.structure_id = $2",
            ))
            .bind(since)
            .bind(t.structure_id)
            .fetch_all()
            .await?;
        let generation = generation_in(&rows)?;
        let bytes = {
            let mut index = index.write().expect("search index lock");
            // Another search may have read a later state meanwhile.
            if generation > index.generation() {
                for r in &rows {
                    let Some(id) = r.get::<Option<Uuid>>("id")? else {
                        continue;
                    };
                    if r.get::<bool>("live")? {
                        put(&mut index, r)?;
                    } else {
                        index.remove(id);
                    }
                }
                index.set_generation(generation);
            }
            index.bytes()
        };
        if bytes > self.settings.budget_bytes {
            self.structures
                .lock()
                .expect("search memory lock")
                .insert(t.structure_id, Held::Database(Instant::now()));
        }
        Ok(())
    }
}

/// Puts the structure in its next state when dropped.
struct Leaving<'m> {
    memory: &'m SearchMemory,
    structure: Uuid,
    to: Option<Held>,
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        if let (Some(to), Ok(mut held)) = (self.to.take(), self.memory.structures.lock()) {
            held.insert(self.structure, to);
        }
    }
}

/// The structure's generation a statement read (0 before its first write).
fn generation_in(rows: &[Row]) -> StoreResult<i64> {
    match rows.first() {
        Some(r) => r.get("generation"),
        None => Ok(0),
    }
}

/// The structure's generation: its last write of a listed column (0
/// before the first).
async fn generation_of(db: &Db, t: &Tenant) -> StoreResult<i64> {
    Ok(db
        .query("SELECT seq FROM search_generations WHERE structure_id = $1")
        .bind(t.structure_id)
        .scalar_optional()
        .await?
        .unwrap_or(0))
}

/// The file of a row of listed columns into the index.
fn put(index: &mut TrigramIndex, r: &Row) -> StoreResult<()> {
    let listed = rows::listed(r)?;
    index.put(
        listed.id,
        &listed.search_key,
        &listed_bytes::encode(&listed),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_dropped_midway_leaves_the_structure_to_the_database() {
        let memory = SearchMemory::new(SearchMemorySettings::default());
        let structure = Uuid::from_u128(7);
        memory
            .structures
            .lock()
            .unwrap()
            .insert(structure, Held::Loading);
        // The request waiting on the load is dropped: its guard goes too.
        drop(Leaving {
            memory: &memory,
            structure,
            to: Some(Held::Database(Instant::now())),
        });
        let held = memory.structures.lock().unwrap();
        assert!(matches!(held.get(&structure), Some(Held::Database(_))));
        drop(held);
        assert_eq!(memory.held(structure), None);
    }
}
