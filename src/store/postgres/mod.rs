//! PostgreSQL: a shared regional instance, several structures, several
//! application processes behind a load balancer. What only PostgreSQL says:
//! its pool, its migrations, how a month is cut out of a timestamp, and the
//! locked head rows of the journal chains.

use sqlx::postgres::PgPoolOptions;
use std::collections::HashMap;
use std::time::Duration;

use crate::domain::audit::GENESIS_HASH;
use crate::store::StoreResult;
use crate::store::sql::{Db, Tx, retest_if_idle};

/// Connections per process: sqlx's pool for transactions, the lane for the
/// other statements (most of the reads).
const POOL: u32 = 6;

/// The lane: two connections per core of this process, at least four. More
/// server processes than that only take turns on the cores: at 32 clients
/// on this project's 2-core machine, 10 connections gave *free* searches a
/// p95 of 11.5–12.3 ms where 4 gave 7.5–9.5 ms at the same rate
/// (BENCHMARKS.md §5, sixth pass).
fn lane_size() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    (2 * cores).max(4)
}

pub async fn connect(url: &str) -> StoreResult<Db> {
    let pool = PgPoolOptions::new()
        .max_connections(POOL)
        // sqlx would ask the server whether a connection is alive before
        // each transaction (one more round trip); it tests it when it comes
        // back anyway, so only one that sat idle (the server may have
        // restarted meanwhile) is tested again, as on the lane.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                retest_if_idle(conn, meta.idle_for).await?;
                Ok(true)
            })
        })
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    Ok(Db::postgres(pool, lane_size()))
}

pub async fn migrate(pool: &sqlx::PgPool) -> StoreResult<()> {
    sqlx::migrate!("./migrations/postgres").run(pool).await?;
    Ok(())
}

/// `YYYY-MM` of the column `at` (a `timestamptz`), in UTC.
pub const MONTH_OF_AT: &str = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM')";

/// The head row of a chain, created on first use, locked until the batch
/// commits: appenders of one chain (in any process) queue up there. The
/// caller locks chains in a fixed order so that two processes never
/// deadlock. A chain with entries but no head (a journal imported from
/// another instance) starts from its last entry rather than forking.
pub async fn lock_audit_head(tx: &mut Tx, chain: &str) -> StoreResult<(i64, String)> {
    tx.query(
        "INSERT INTO audit_heads (chain, seq, hash)
         SELECT $1, COALESCE(last.seq, 0), COALESCE(last.hash, $2)
         FROM (VALUES (1)) AS one(x) LEFT JOIN LATERAL (
             SELECT seq, hash FROM audit_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1
         ) last ON true
         ON CONFLICT (chain) DO NOTHING",
    )
    .bind(chain)
    .bind(GENESIS_HASH)
    .execute()
    .await?;
    let row = tx
        .query("SELECT seq, hash FROM audit_heads WHERE chain = $1 FOR UPDATE")
        .bind(chain)
        .fetch_one()
        .await?;
    Ok((row.get("seq")?, row.get("hash")?))
}

/// Moves the locked heads to the entries the batch appended.
pub async fn save_audit_heads(
    tx: &mut Tx,
    heads: &HashMap<String, (i64, String)>,
) -> StoreResult<()> {
    for (chain, (seq, hash)) in heads {
        tx.query("UPDATE audit_heads SET seq = $1, hash = $2 WHERE chain = $3")
            .bind(seq)
            .bind(hash)
            .bind(chain)
            .execute()
            .await?;
    }
    Ok(())
}

/// `(SELECT …)`: the rows of `from` as one JSON array of objects (the
/// `columns` of each row), in `order`, as text; NULL when there are none.
pub fn json_rows(columns: &[&str], from: &str, order: &str) -> String {
    let fields: Vec<String> = columns.iter().map(|c| format!("'{c}', q.{c}")).collect();
    format!(
        "(SELECT json_agg(json_build_object({}) ORDER BY {order})::text FROM ({from}) q)",
        fields.join(", ")
    )
}
