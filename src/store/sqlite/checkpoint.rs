//! The write-ahead log copied back into the database file by a task of the
//! store, not by the writer whose commit crossed SQLite's threshold: that
//! copy (and its two `fsync`) happened inside the writer's turn, every
//! thousand pages, while the other writers waited; at 100,000 files, where
//! each commit dirties pages scattered through a bigger file, it was what
//! made creating a file cost more than at 1,000 (issue 12, BENCHMARKS.md
//! section 5). SQLite's own checkpoint on commit is off for the store's
//! connections (`wal_autocheckpoint = 0`): every process that opens the
//! store (the server, the CLI) runs this task.

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use crate::store::sql::{Db, WriteGate};

/// How often the log is looked at.
const TICK: Duration = Duration::from_millis(100);

/// Frames in the log (about 16 MB) beyond which the rest is copied in a
/// writer's turn. SQLite starts the log again from its beginning only when
/// a writer begins with all of it copied; with writers always at work, a
/// copy made beside them never reached its end at that moment, and the log
/// grew for ever (1 GB in ten seconds of creations, measured). In the turn,
/// the copy is short (what was written since the one beside the writers)
/// and waits for no reader (`PASSIVE` again: a `RESTART`, which waits for
/// the readers, kept every writer waiting for them).
const FINISH_IN_TURN: i64 = 4_000;

/// Starts the store's checkpoints, on a connection of their own opened
/// with `options` (not one of the pool's: a connection opened while the
/// migrations run keeps the tables as they were then, and sqlx panics on
/// the width of a row it prepared against them); they end with the store
/// (its last clone dropped) or when its connections are closed.
pub fn spawn(db: &Db, options: SqliteConnectOptions) {
    let Db::Sqlite(pool, _, gate, _) = db else {
        return;
    };
    let pool = pool.clone();
    let gate = std::sync::Arc::downgrade(gate);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut connection: Option<SqliteConnection> = None;
        loop {
            tick.tick().await;
            let (Some(gate), false) = (gate.upgrade(), pool.is_closed()) else {
                break;
            };
            let c = match connection.as_mut() {
                Some(c) => c,
                None => match options.connect().await {
                    Ok(c) => connection.insert(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "SQLite checkpoint: no connection; tried again shortly");
                        continue;
                    }
                },
            };
            if let Err(e) = checkpoint(c, &gate).await {
                tracing::warn!(error = %e, "SQLite checkpoint failed; tried again shortly");
                connection = None;
            }
        }
        if let Some(c) = connection {
            let _ = c.close().await;
        }
    });
}

/// One look at the log.
async fn checkpoint(c: &mut SqliteConnection, gate: &WriteGate) -> Result<(), sqlx::Error> {
    // PASSIVE: copies what no reader still needs, waits for no one.
    let log = checkpoint_in(c, "PRAGMA wal_checkpoint(PASSIVE)").await?;
    if log > FINISH_IN_TURN {
        let _turn = gate.lock().await;
        checkpoint_in(c, "PRAGMA wal_checkpoint(PASSIVE)").await?;
    }
    Ok(())
}

/// A checkpoint (`PRAGMA wal_checkpoint(…)`); the frames in the log.
async fn checkpoint_in(c: &mut SqliteConnection, pragma: &'static str) -> Result<i64, sqlx::Error> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(pragma).fetch_all(c).await?;
    Ok(rows.first().map_or(0, |&(_busy, log, _copied)| log))
}
