//! The statement lane: the connections that run statements outside a
//! transaction (most reads: the session of each request, a file's page…).
//!
//! sqlx's pool tests every connection that comes back to it (one more trip
//! to the connection's thread on SQLite, to the server on PostgreSQL): with
//! one statement per checkout, that doubled the trips of a file view. The
//! lane, a deadpool pool, tests a connection only when it sat idle (the
//! server may have restarted meanwhile), and drops one whose statement
//! failed on the connection itself rather than in the database.
//! Transactions keep sqlx's pool, whose rollback-on-drop they rely on.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
use sqlx::{ConnectOptions, Connection};

use crate::store::{StoreError, StoreResult};

/// A connection idle this long is tested before it is used again.
pub const RETEST_AFTER_IDLE: Duration = Duration::from_secs(1);
/// How long a statement waits for a free connection before it fails.
const WAIT: Duration = Duration::from_secs(5);

/// Opens the lane's connections with the pool's own options.
pub struct Connector<C: Connection> {
    options: Arc<C::Options>,
}

impl<C: Connection> managed::Manager for Connector<C> {
    type Type = C;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<C, sqlx::Error> {
        self.options.connect().await
    }

    async fn recycle(&self, conn: &mut C, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        Ok(retest_if_idle(conn, metrics.last_used()).await?)
    }
}

/// Tests a connection that sat idle `idle` (the server may have restarted
/// meanwhile); a busy one is not tested again.
pub async fn retest_if_idle<C: Connection>(
    conn: &mut C,
    idle: Duration,
) -> Result<(), sqlx::Error> {
    if idle >= RETEST_AFTER_IDLE {
        conn.ping().await?;
    }
    Ok(())
}

/// A lane of at most `size` connections of one backend. Cloning shares it.
pub struct Lane<C: Connection>(managed::Pool<Connector<C>>);

impl<C: Connection> Clone for Lane<C> {
    fn clone(&self) -> Self {
        Lane(self.0.clone())
    }
}

impl<C: Connection> fmt::Debug for Lane<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.0.status();
        f.debug_struct("Lane")
            .field("size", &status.size)
            .field("max_size", &status.max_size)
            .finish()
    }
}

/// A connection of the lane, back in the lane when dropped.
pub type LaneConnection<C> = Object<Connector<C>>;

impl<C: Connection> Lane<C> {
    pub fn new(options: Arc<C::Options>, size: usize) -> Lane<C> {
        let pool = managed::Pool::builder(Connector { options })
            .max_size(size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT))
            .create_timeout(Some(WAIT))
            .build()
            .expect("a runtime and a size are given");
        Lane(pool)
    }

    pub async fn get(&self) -> StoreResult<LaneConnection<C>> {
        self.0.get().await.map_err(|e| {
            StoreError::Database(match e {
                PoolError::Backend(e) => e,
                PoolError::Closed => sqlx::Error::PoolClosed,
                PoolError::Timeout(_) => sqlx::Error::PoolTimedOut,
                other => sqlx::Error::Protocol(other.to_string()),
            })
        })
    }

    /// Later statements fail, as on a closed sqlx pool.
    pub fn close(&self) {
        self.0.close();
    }
}

/// Whether the statement failed because of its connection (which must not
/// serve again) rather than in the database (a constraint, a bad value…).
/// PostgreSQL says why it ends a connection before closing it: SQLSTATE
/// class 57P (shutdown, administrator) or 08 (connection exception).
pub fn broke_connection(e: &StoreError) -> bool {
    match e {
        StoreError::Database(
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed,
        ) => true,
        StoreError::Database(sqlx::Error::Database(d)) => d
            .code()
            .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}
