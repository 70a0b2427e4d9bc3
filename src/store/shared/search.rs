//! Reception's search, every shape served by an index on both databases
//! (issue 12), and read in bounded steps whatever the size of the structure.
//!
//! - a birth date: the (structure, birth date) index; the terms filter the
//!   few files born that day, all ranked;
//! - one term of three letters or more (with shorter ones or not): first
//!   the files whose key starts with the first term (the birth name, or the
//!   pseudonym), complete and in key order, from the (structure, key)
//!   b-tree; then, when they are fewer than the limit, the other files
//!   holding the term, through the trigram index (PostgreSQL: a GIN index
//!   of the structure's pg_trgm trigrams; SQLite: the FTS5 table): at most
//!   as many as could still be shown, ranked by `domain::search::rank`.
//!   When more files hold it than the page shows, those after the prefix
//!   group are some of them, not the first by name: the page asks to narrow
//!   the search, as it would anyway;
//! - several terms of three letters or more: the files holding them all,
//!   through the trigram index, up to four pages of them, all ranked;
//! - only terms of one or two letters: the b-tree range of the first;
//! - nothing: the structure's files in key order from the b-tree.
//!
//! Every condition is written only when present (no `$n IS NULL OR …`), so
//! that a prepared statement's generic plan keeps its index. A term filter
//! is written on `' ' || search_key`, an expression no index holds: it
//! checks the rows an index found, never makes the planner walk a name.

use std::collections::HashSet;

use uuid::Uuid;

use super::rows::{self, select_listed};
use super::search_memory::SearchMemory;
use crate::domain::search::{found_anywhere, prefix_end, rank, trigrams};
use crate::domain::tenant::Tenant;
use crate::store::sql::{Db, Query, Tx};
use crate::store::sqlite;
use crate::store::{Backend, Listed, StoreResult, UsagerQuery};

/// At most this many search terms are matched (the rest are ignored).
const SEARCH_TERMS: usize = 4;

pub(super) async fn search(
    db: &Db,
    memory: &SearchMemory,
    t: &Tenant,
    q: &UsagerQuery,
) -> StoreResult<Vec<Listed>> {
    let terms: Vec<&str> = q
        .terms
        .iter()
        .take(SEARCH_TERMS)
        .map(String::as_str)
        .collect();
    let limit = q.limit.clamp(1, UsagerQuery::MAX_LIMIT);
    if let Some(birth_date) = q.birth_date {
        let query = live_files(db, t)
            .push(" AND birth_date = ")
            .push_bind(birth_date);
        let query = filtered(query, "search_key", &terms);
        return ranked(query, terms.first().copied())
            .limit(limit)
            .all(rows::listed)
            .await;
    }
    let Some(first) = terms.first().copied() else {
        return live_files(db, t)
            .push(" ORDER BY search_key")
            .limit(limit)
            .all(rows::listed)
            .await;
    };
    // A big structure's substring searches: from memory when it is held.
    if let Some(found) = memory.search(db, t, &terms, limit as usize).await? {
        return Ok(found);
    }
    let anywhere: Vec<&str> = terms
        .iter()
        .copied()
        .filter(|t| found_anywhere(t))
        .collect();
    if anywhere.len() > 1 {
        // Several terms of three letters or more: the files holding them
        // all are few; read up to a few pages of them and rank them all.
        let mut all = by_trigrams(db, t, &terms, &anywhere, limit * RANKED_PAGES).await?;
        ranked_in_memory(&mut all, first);
        all.truncate(limit as usize);
        return Ok(all);
    }
    let mut found = by_prefix(db, t, &terms, limit).await?;
    if found.len() as i64 == limit || anywhere.is_empty() {
        return Ok(found);
    }
    // Those found by their prefix hold the term too: asking for as many
    // more keeps the limit once they are left out.
    let mut more = by_trigrams(db, t, &terms, &anywhere, limit + found.len() as i64).await?;
    let seen: HashSet<Uuid> = found.iter().map(|u| u.id).collect();
    more.retain(|u| !seen.contains(&u.id));
    ranked_in_memory(&mut more, first);
    found.extend(more);
    found.truncate(limit as usize);
    Ok(found)
}

/// With several long terms, how many pages of files are read and ranked.
const RANKED_PAGES: i64 = 4;

/// The receptionist's order (`domain::search::rank`, then the key).
fn ranked_in_memory(files: &mut [Listed], first: &str) {
    files.sort_by_cached_key(|u| (rank(first, &u.search_key), u.search_key.clone()));
}

/// The files whose key starts with the first term and that hold the other
/// terms, in key order, at most `limit`: the range of the (structure, key)
/// b-tree, walked in order, stops there.
async fn by_prefix(db: &Db, t: &Tenant, terms: &[&str], limit: i64) -> StoreResult<Vec<Listed>> {
    let first = terms[0];
    let query = live_files(db, t)
        .push(" AND search_key >= ")
        .push_bind(first)
        .push(" AND search_key < ")
        .push_bind(prefix_end(first));
    filtered(query, "search_key", &terms[1..])
        .push(" ORDER BY search_key")
        .limit(limit)
        .all(rows::listed)
        .await
}

/// At most `limit` files holding every term, as the trigram index gives
/// them (not in any order: the caller ranks them).
async fn by_trigrams(
    db: &Db,
    t: &Tenant,
    terms: &[&str],
    anywhere: &[&str],
    limit: i64,
) -> StoreResult<Vec<Listed>> {
    let query = match db.backend() {
        // The structure's entries of every trigram of the terms (see the
        // migration's escale_search_grams), then the terms themselves.
        Backend::Postgres => {
            let structure = t.structure_id.to_string();
            let grams: Vec<String> = anywhere
                .iter()
                .flat_map(|term| trigrams(term))
                .map(|g| format!("{structure}{g}"))
                .collect();
            let query = live_files(db, t)
                .push(" AND escale_search_grams(structure_id, search_key) @> string_to_array(")
                .push_bind(grams.join(" "))
                .push(", ' ')");
            filtered(query, "search_key", terms).limit(limit)
        }
        // The limit applies inside, on the index's own rows: the terms and
        // the structure are checked there (a merged file has no row).
        Backend::Sqlite => {
            let query = live_files(db, t)
                .push(" AND id IN (SELECT file_id FROM usager_search WHERE usager_search MATCH ")
                .push_bind(fts_phrases(anywhere))
                .push(" AND structure_id = $1");
            filtered(query, "folded", terms).limit(limit).push(")")
        }
    };
    query.all(rows::listed).await
}

/// The tenant's files not merged.
fn live_files<'c>(db: &'c Db, t: &Tenant) -> Query<'c> {
    db.query(select_listed!(
        "WHERE structure_id = $1 AND merged_into IS NULL"
    ))
    .bind(t.structure_id)
}

/// Each term must be found in the folded key `column`: anywhere from three
/// letters, else at a word's start.
fn filtered<'c>(query: Query<'c>, column: &str, terms: &[&str]) -> Query<'c> {
    let text = format!("' ' || {column}");
    terms
        .iter()
        .fold(query, |q, term| q.and_contains(&text, term_needle(term)))
}

/// `ORDER BY` the receptionist's order for `first` (the caller adds the
/// limit).
fn ranked<'c>(query: Query<'c>, first: Option<&str>) -> Query<'c> {
    let Some(first) = first else {
        return query.push(" ORDER BY search_key");
    };
    query
        .push(" ORDER BY CASE WHEN search_key LIKE ")
        .push_bind(format!("{}%", escaped(first)))
        .push(r" ESCAPE '\' THEN 0 WHEN (' ' || search_key) LIKE ")
        .push_bind(format!("% {}%", escaped(first)))
        .push(r" ESCAPE '\' THEN 1 ELSE 2 END, search_key")
}

/// What a term must be found as in `' ' || search_key`: itself from three
/// letters, else a word's start.
fn term_needle(term: &str) -> String {
    if found_anywhere(term) {
        term.to_string()
    } else {
        format!(" {term}")
    }
}

/// The pattern characters of a term escaped (folded terms hold none, but a
/// stray one must match itself).
fn escaped(term: &str) -> String {
    let mut p = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p
}

/// An FTS5 query where each term is a phrase (with the trigram tokenizer, a
/// substring), all required. Folded terms hold only letters and digits; a
/// quote would be doubled, as FTS5 reads it.
fn fts_phrases(terms: &[&str]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The structure's generation, one up (its row created at the first
/// write), from `$structure`: a `VALUES` or `SELECT` giving
/// `(structure_id, 1)`. Returns the new number.
macro_rules! next_generation {
    ($structure:literal) => {
        concat!(
            "INSERT INTO search_generations (structure_id, seq) ",
            $structure,
            " ON CONFLICT (structure_id) DO UPDATE SET seq = search_generations.seq + 1
             RETURNING seq"
        )
    };
}

/// Keeps the search indexes in step with a file just written (its key, its
/// merge, or any other column a list shows: the indexes in memory keep
/// them, so every write of one comes here), in the writer's transaction:
/// the structure's generation goes up by one and the file is stamped with
/// it (what the indexes in memory read, `search_memory`); PostgreSQL's GIN
/// index follows the row by itself, SQLite's FTS5 table is written here.
pub(super) async fn reindex(tx: &mut Tx, id: Uuid) -> StoreResult<()> {
    // The generation's row stays locked until the commit: a structure's key
    // writes commit in the order of their numbers (migration 0016).
    let generation: i64 = tx
        .query(next_generation!(
            "SELECT structure_id, 1 FROM usagers WHERE id = $1"
        ))
        .bind(id)
        .scalar()
        .await?;
    match tx.backend() {
        // The FTS5 table's row is written there, the stamp with it (one
        // write of the file's row, not two).
        Backend::Sqlite => sqlite::sync_search(tx, id, generation).await,
        Backend::Postgres => {
            tx.query("UPDATE usagers SET search_seq = $1 WHERE id = $2")
                .bind(generation)
                .bind(id)
                .execute()
                .await?;
            Ok(())
        }
    }
}

/// [`reindex`] for a file about to be created, before its row is written,
/// so that the row is written once, stamped: a second write of a new row
/// (its stamp) was, on PostgreSQL, a second entry in each of the table's
/// indexes, the trigram index included (an update of an indexed column is
/// never HOT). Returns the structure's next generation, the file's stamp;
/// on SQLite the file's FTS5 row is written here, the statement just
/// before the file's own insert, which takes its rowid (`last_insert_rowid()`).
pub(super) async fn index_new(
    tx: &mut Tx,
    structure_id: Uuid,
    id: Uuid,
    search_key: &str,
) -> StoreResult<i64> {
    let generation: i64 = tx
        .query(next_generation!("VALUES ($1, 1)"))
        .bind(structure_id)
        .scalar()
        .await?;
    if tx.backend() == Backend::Sqlite {
        tx.query("INSERT INTO usager_search (folded, file_id, structure_id) VALUES ($1, $2, $3)")
            .bind(search_key)
            .bind(id)
            .bind(structure_id)
            .execute()
            .await?;
    }
    Ok(generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(term_needle("ONTA"), "ONTA");
        assert_eq!(term_needle("JE"), " JE");
        assert_eq!(escaped(r"A%_\"), r"A\%\_\\");
        assert_eq!(fts_phrases(&["ONTA", "MAR"]), "\"ONTA\" AND \"MAR\"");
        assert_eq!(fts_phrases(&["A\"B"]), "\"A\"\"B\"");
    }
}
