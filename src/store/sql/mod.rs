//! The one SQL layer both backends go through. Not `sqlx::Any` (which loses
//! types in sqlx 0.9): an explicit enum over the two pools, their
//! transactions and their rows. A query is written once with `$N`
//! placeholders (SQLite reads `$N` as the N-th bound value too), its values
//! are encoded with each backend's own types (a NULL keeps its type on
//! PostgreSQL), and its columns are read by name through both decoders.
//!
//! What only one backend can say lives in `store/sqlite/` or `store/postgres/`
//! and is reached through [`Db::backend`].

mod lane;
mod query;
mod row;

pub use lane::{Lane, RETEST_AFTER_IDLE, retest_if_idle};
pub use query::{Query, Tuple};
pub use row::{Column, Row};

use std::borrow::Cow;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};

use super::{Backend, StoreError, StoreResult};

/// The connections of either backend: sqlx's pool for transactions, the
/// [`Lane`] for statements outside one (SQLite: and the write transactions'
/// own connection, behind the [`WriteGate`]). Cloning shares them.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool, Lane<SqliteConnection>, WriteGate, SqlitePool),
    Postgres(PgPool, Lane<PgConnection>),
}

/// This process's SQLite writers, one at a time, in the order they came.
/// SQLite has one write lock; writers that wait for it in `BEGIN IMMEDIATE`
/// sleep in its busy handler (1 to 100 ms at a time), which made the p95 of
/// 8 concurrent creations 0.3–0.5 s (issue 12, BENCHMARKS.md). Other
/// processes (the CLI) still meet the busy timeout.
pub type WriteGate = std::sync::Arc<tokio::sync::Mutex<()>>;

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(..) => Backend::Sqlite,
            Db::Postgres(..) => Backend::Postgres,
        }
    }

    /// Statements outside a transaction run on a lane of `lane_size`
    /// connections opened with `lane_options` (the pool's own, for the
    /// transactions, may differ).
    pub fn sqlite(
        pool: SqlitePool,
        writer: SqlitePool,
        lane_options: SqliteConnectOptions,
        lane_size: usize,
    ) -> Db {
        let lane = Lane::new(std::sync::Arc::new(lane_options), lane_size);
        Db::Sqlite(pool, lane, WriteGate::default(), writer)
    }

    pub fn postgres(pool: PgPool, lane_size: usize) -> Db {
        let lane = Lane::new(pool.connect_options(), lane_size);
        Db::Postgres(pool, lane)
    }

    /// A statement run on a connection of the lane (outside any transaction).
    pub fn query(&self, sql: impl Into<Cow<'static, str>>) -> Query<'_> {
        Query::on_pool(self, sql.into())
    }

    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite(p, ..) => Tx::Sqlite(p.begin().await?, None),
            Db::Postgres(p, _) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A transaction that is the only writer from its first statement:
    /// `BEGIN IMMEDIATE` on SQLite (the database's write lock, waited for up
    /// to the busy timeout); an ordinary transaction on PostgreSQL, whose
    /// writers lock the rows they serialise on instead.
    pub async fn begin_write(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite(_, _, gate, writer) => {
                let turn = gate.clone().lock_owned().await;
                Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?, Some(turn))
            }
            Db::Postgres(p, _) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Closes every connection; later queries fail.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p, lane, _, writer) => {
                lane.close();
                writer.close().await;
                p.close().await
            }
            Db::Postgres(p, lane) => {
                lane.close();
                p.close().await
            }
        }
    }
}

/// A transaction of either backend; dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    /// With this process's write turn for a write transaction (released
    /// after the transaction: fields drop in order).
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        Option<tokio::sync::OwnedMutexGuard<()>>,
    ),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(..) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// A statement run inside this transaction.
    pub fn query(&mut self, sql: impl Into<Cow<'static, str>>) -> Query<'_> {
        Query::in_tx(self, sql.into())
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(tx, _turn) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Where a statement runs: the pool (`&Db`) or a transaction (`&mut Tx`),
/// for the steps that run in either.
pub trait Exec<'c> {
    fn query(self, sql: impl Into<Cow<'static, str>>) -> Query<'c>;
}

impl<'c> Exec<'c> for &'c Db {
    fn query(self, sql: impl Into<Cow<'static, str>>) -> Query<'c> {
        Query::on_pool(self, sql.into())
    }
}

impl<'c> Exec<'c> for &'c mut Tx {
    fn query(self, sql: impl Into<Cow<'static, str>>) -> Query<'c> {
        Query::in_tx(self, sql.into())
    }
}

/// Whether the statement broke a uniqueness rule (on either backend).
pub fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
}
