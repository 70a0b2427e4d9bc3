//! SQLite: one structure, one process, a file under the data directory.
//! What only SQLite says: its connection settings, its migrations, how a
//! month is cut out of a timestamp, and where a journal chain's head is.
//! (The shared SQL's placeholders are read by sqlx as on PostgreSQL: `$N` is
//! the N-th value.)

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

mod checkpoint;

use crate::domain::audit::GENESIS_HASH;
use crate::store::StoreResult;
use crate::store::sql::{Db, Tx};

pub async fn connect(url: &str) -> StoreResult<Db> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        // PostgreSQL's "C" collation (byte order), so that the shared SQL
        // can say `COLLATE "C"`; it is what SQLite's BINARY does on UTF-8.
        .collation("C", |a: &str, b: &str| a.cmp(b))
        // Planner statistics, gathered where they are missing or stale each
        // time a connection opens (the pool renews its connections), with a
        // bounded sample, as SQLite advises for long-lived connections.
        // Without them SQLite walks (structure_id, search_key) in order even
        // for a search by birth date, rather than use its index.
        .pragma("analysis_limit", "400")
        .pragma("optimize", "0x10002")
        // The log is copied back by the store's own task (`checkpoint`).
        .pragma("wal_autocheckpoint", "0");
    // The lane's connections read pages by read(2), not through a mapping
    // of the file: in WAL mode every commit makes each other connection
    // drop its page cache and unmap the file at its next read (SQLite's
    // pager), so that while files are created the mapping was unmapped and
    // faulted in again all the time, the whole process waiting on its
    // memory map: a quarter more CPU per creation, and 100,000 files
    // created a quarter slower than 1,000 (issue 12, BENCHMARKS.md section
    // 5). Reception's searches, answered from memory, no longer gain by it.
    let lane_options = match mmap_size() {
        0 => options.clone(),
        bytes => options.clone().pragma("mmap_size", bytes.to_string()),
    };
    // Read transactions and the migrations on sqlx's pool; the statements
    // outside a transaction on the lane; the writes on `writer` (below).
    let pool = SqlitePoolOptions::new()
        .max_connections(pool_size())
        .min_connections(1)
        // A file on this machine, not a network peer: nothing to test first.
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await?;
    // The writes (one at a time, behind the write gate) on one connection
    // of their own: in WAL mode a connection drops its page cache whenever
    // another one has committed, so that writes taking turns on the pool's
    // connections each began with an empty cache; on one connection the
    // B-trees' upper pages stay in it. Creating files at 100,000 went from
    // about 720 to 1,000–1,100 a second (issue 12, BENCHMARKS.md section 5).
    // Opened at the first write, after the migrations: a connection opened
    // before them would prepare statements against the tables as they were.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await?;
    let db = Db::sqlite(pool, writer, lane_options, pool_size() as usize);
    checkpoint::spawn(&db, options);
    Ok(db)
}

/// Connections of the pool, and of the lane (each one a thread of sqlx's,
/// and a page cache). SQLite's statements take microseconds; what costs is
/// handing each one to its thread and back, and threads beyond the cores
/// only add switches. `ESCALE_BENCH_SQLITE_POOL` overrides it for measurements.
fn pool_size() -> u32 {
    std::env::var("ESCALE_BENCH_SQLITE_POOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

/// Bytes of the database file the lane's connections map into memory:
/// none, unless `ESCALE_BENCH_SQLITE_MMAP` says otherwise (measurements).
fn mmap_size() -> u64 {
    std::env::var("ESCALE_BENCH_SQLITE_MMAP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub async fn migrate(pool: &sqlx::SqlitePool) -> StoreResult<()> {
    sqlx::migrate!("./migrations/sqlite").run(pool).await?;
    Ok(())
}

/// `YYYY-MM` of the column `at` (stored as RFC 3339 text in UTC).
pub const MONTH_OF_AT: &str = "substr(at, 1, 7)";

/// The last entry of a chain, read inside the batch's `BEGIN IMMEDIATE`
/// transaction: another process (the CLI) may append too, and the write
/// lock taken at `BEGIN` keeps it from slipping an entry in between.
pub async fn audit_head(tx: &mut Tx, chain: &str) -> StoreResult<(i64, String)> {
    let head = tx
        .query("SELECT seq, hash FROM audit_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1")
        .bind(chain)
        .optional(|r| Ok((r.get("seq")?, r.get("hash")?)))
        .await?;
    Ok(head.unwrap_or_else(|| (0, GENESIS_HASH.to_string())))
}

/// `(SELECT …)`: the rows of `from` as one JSON array of objects (the
/// `columns` of each row), in `order`. SQLite's JSON cannot hold a blob, so
/// a blob (a uuid) is written as its hexadecimal digits.
pub fn json_rows(columns: &[&str], from: &str, order: &str) -> String {
    let fields: Vec<String> = columns
        .iter()
        .map(|c| format!("'{c}', CASE typeof(q.{c}) WHEN 'blob' THEN hex(q.{c}) ELSE q.{c} END"))
        .collect();
    format!(
        "(SELECT json_group_array(json_object({}) ORDER BY {order}) FROM ({from}) q)",
        fields.join(", ")
    )
}

/// Puts a file's folded search key in the FTS5 table as the `usagers` row
/// now holds it (and takes a merged file out), in the caller's transaction,
/// so that the index never says something the files do not; the file is
/// stamped with its structure's search generation in the same write.
pub async fn sync_search(tx: &mut Tx, id: uuid::Uuid, generation: i64) -> StoreResult<()> {
    tx.query(
        "DELETE FROM usager_search
         WHERE rowid = (SELECT search_rowid FROM usagers WHERE id = $1)",
    )
    .bind(id)
    .execute()
    .await?;
    let indexed = tx
        .query(
            "INSERT INTO usager_search (folded, file_id, structure_id)
             SELECT search_key, id, structure_id FROM usagers
             WHERE id = $1 AND merged_into IS NULL",
        )
        .bind(id)
        .execute()
        .await?;
    // last_insert_rowid() is this connection's: the row just written.
    tx.query(if indexed == 1 {
        "UPDATE usagers SET search_rowid = last_insert_rowid(), search_seq = $1 WHERE id = $2"
    } else {
        "UPDATE usagers SET search_rowid = NULL, search_seq = $1 WHERE id = $2"
    })
    .bind(generation)
    .bind(id)
    .execute()
    .await?;
    Ok(())
}
