//! A statement, its bound values and where it runs.

use std::borrow::Cow;
use std::fmt::Write as _;

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgConnection};
use sqlx::sqlite::{SqliteArguments, SqliteConnection};
use sqlx::{Arguments, AssertSqlSafe, Encode, Postgres, Sqlite, Type};

use super::lane::{Lane, broke_connection};
use super::{Column, Db, Row, Tx};
use crate::store::{StoreError, StoreResult};

/// A value both backends can bind, each with its own type: `Option<T>`
/// binds a NULL of `T`'s type, so PostgreSQL still knows what `$N` is.
/// (`'q` is what the value may borrow: it is encoded at once.)
pub trait Value<'q>:
    Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

impl<'q, T> Value<'q> for T where
    T: Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

/// Where the statement runs, with the values bound so far in that backend's
/// encoding (the two always match: a query is made by its pool or transaction).
enum Target<'c> {
    SqliteLane(&'c Lane<SqliteConnection>, SqliteArguments),
    SqliteTx(&'c mut SqliteConnection, SqliteArguments),
    PgLane(&'c Lane<PgConnection>, PgArguments),
    PgTx(&'c mut PgConnection, PgArguments),
}

/// SQL text and its values, made by [`Db::query`] or [`Tx::query`]. Values
/// are encoded as they are bound (so they may be borrowed); an encoding
/// error is reported when the statement runs, as sqlx does.
#[must_use = "a query does nothing until it runs"]
pub struct Query<'c> {
    sql: Cow<'static, str>,
    target: Target<'c>,
    error: Option<BoxDynError>,
    /// The text holds `$N` placeholders written by hand (see [`Query::push_bind`]).
    numbered: bool,
}

/// Runs `$body` with `$query` (the sqlx query) and `$ex` (its executor) in
/// the statement's backend, `$row` being the [`Row`] variant of that backend.
macro_rules! run {
    ($self:ident, |$query:ident, $ex:ident, $row:ident| $body:expr) => {{
        if let Some(e) = $self.error {
            return Err(StoreError::Database(sqlx::Error::Encode(e)));
        }
        debug_assert!(
            numbers_in_order(&$self.sql),
            "placeholders must first appear as $1, $2, … in order: {}",
            $self.sql
        );
        let sql = AssertSqlSafe($self.sql);
        match $self.target {
            Target::SqliteLane(lane, args) => {
                let mut conn = lane.get().await?;
                let ($query, $row) = (sqlx::query_with(sql, args), Row::Sqlite);
                let $ex = &mut *conn;
                let result = async { $body }.await;
                if result.as_ref().is_err_and(broke_connection) {
                    let _ = deadpool::managed::Object::take(conn);
                }
                result
            }
            Target::SqliteTx($ex, args) => {
                let ($query, $row) = (sqlx::query_with(sql, args), Row::Sqlite);
                $body
            }
            Target::PgLane(lane, args) => {
                let mut conn = lane.get().await?;
                let ($query, $row) = (sqlx::query_with(sql, args), Row::Postgres);
                let $ex = &mut *conn;
                let result = async { $body }.await;
                if result.as_ref().is_err_and(broke_connection) {
                    let _ = deadpool::managed::Object::take(conn);
                }
                result
            }
            Target::PgTx($ex, args) => {
                let ($query, $row) = (sqlx::query_with(sql, args), Row::Postgres);
                $body
            }
        }
    }};
}

impl<'c> Query<'c> {
    pub(super) fn on_pool(db: &'c Db, sql: Cow<'static, str>) -> Query<'c> {
        let target = match db {
            Db::Sqlite(_, lane, ..) => Target::SqliteLane(lane, SqliteArguments::default()),
            Db::Postgres(_, lane) => Target::PgLane(lane, PgArguments::default()),
        };
        Query::new(sql, target)
    }

    pub(super) fn in_tx(tx: &'c mut Tx, sql: Cow<'static, str>) -> Query<'c> {
        let target = match tx {
            Tx::Sqlite(tx, _) => Target::SqliteTx(tx, SqliteArguments::default()),
            Tx::Postgres(tx) => Target::PgTx(tx, PgArguments::default()),
        };
        Query::new(sql, target)
    }

    fn new(sql: Cow<'static, str>, target: Target<'c>) -> Query<'c> {
        Query {
            numbered: sql.contains('$'),
            sql,
            target,
            error: None,
        }
    }

    /// Binds the value of the next `$N`.
    pub fn bind<'q, T: Value<'q>>(mut self, value: T) -> Self {
        let added = match &mut self.target {
            Target::SqliteLane(_, a) | Target::SqliteTx(_, a) => a.add(value),
            Target::PgLane(_, a) | Target::PgTx(_, a) => a.add(value),
        };
        if let Err(e) = added {
            self.error.get_or_insert(e);
        }
        self
    }

    fn bound(&self) -> usize {
        match &self.target {
            Target::SqliteLane(_, a) | Target::SqliteTx(_, a) => a.len(),
            Target::PgLane(_, a) | Target::PgTx(_, a) => a.len(),
        }
    }

    /// Appends SQL text (for statements built from the conditions present).
    pub fn push(mut self, sql: &str) -> Self {
        self.numbered |= sql.contains('$');
        self.sql.to_mut().push_str(sql);
        self
    }

    fn on_sqlite(&self) -> bool {
        matches!(self.target, Target::SqliteLane(..) | Target::SqliteTx(..))
    }

    /// ` LIMIT ` and the bound row count. SQLite compiles a statement again
    /// at each run when a value is bound to its `LIMIT` (the planner reads
    /// it), unless the count is an expression: `CAST(? AS INTEGER)` keeps
    /// the compiled statement.
    pub fn limit(self, rows: i64) -> Self {
        if self.on_sqlite() {
            self.push(" LIMIT CAST(")
                .push_bind(rows)
                .push(" AS INTEGER)")
        } else {
            self.push(" LIMIT ").push_bind(rows)
        }
    }

    /// ` AND <text> holds <needle>` (anywhere, as it is: no pattern). Not a
    /// `LIKE '%…%'`: SQLite compiles a statement again at each run when a
    /// value is bound to a `LIKE` in its `WHERE` (in case it could use an
    /// index), which cost a tenth of the server's time in reception's
    /// searches (issue 12).
    pub fn and_contains(self, text: &str, needle: String) -> Self {
        let function = if self.on_sqlite() { "instr" } else { "strpos" };
        self.push(" AND ")
            .push(function)
            .push("(")
            .push(text)
            .push(", ")
            .push_bind(needle)
            .push(") > 0")
    }

    /// Appends the next placeholder and binds its value: `$N` on
    /// PostgreSQL. On SQLite, `?N` (the same N-th value) in a statement that
    /// also has `$N` of its own, else a plain `?` (values in the order of
    /// their placeholders): sqlx looks every named parameter up by its name,
    /// which costs quadratic time in statements of thousands of values.
    pub fn push_bind<'q, T: Value<'q>>(mut self, value: T) -> Self {
        let n = self.bound() + 1;
        let sql = self.sql.to_mut();
        let _ = match self.target {
            Target::PgLane(..) | Target::PgTx(..) => write!(sql, "${n}"),
            _ if self.numbered => write!(sql, "?{n}"),
            _ => write!(sql, "?"),
        };
        self.bind(value)
    }

    /// Appends `$N, $N+1, …`, one placeholder per value (an `IN (…)` list).
    pub fn push_list<'q, T: Value<'q>>(mut self, values: impl IntoIterator<Item = T>) -> Self {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self = self.push(", ");
            }
            self = self.push_bind(v);
        }
        self
    }

    /// Appends `VALUES (…), (…)`: `row` binds the values of one tuple.
    pub fn push_values<I: IntoIterator>(
        mut self,
        rows: I,
        row: impl Fn(Tuple<'c>, I::Item) -> Tuple<'c>,
    ) -> Self {
        self = self.push("VALUES ");
        for (i, item) in rows.into_iter().enumerate() {
            self = self.push(if i == 0 { "(" } else { ", (" });
            self = row(Tuple(self, true), item).0.push(")");
        }
        self
    }

    /// Runs the statement; the number of rows it changed.
    pub async fn execute(self) -> StoreResult<u64> {
        run!(self, |q, ex, _row| Ok(q.execute(ex).await?.rows_affected()))
    }

    pub async fn fetch_all(self) -> StoreResult<Vec<Row>> {
        run!(self, |q, ex, row| Ok(q
            .fetch_all(ex)
            .await?
            .into_iter()
            .map(row)
            .collect()))
    }

    pub async fn fetch_optional(self) -> StoreResult<Option<Row>> {
        run!(self, |q, ex, row| Ok(q.fetch_optional(ex).await?.map(row)))
    }

    pub async fn fetch_one(self) -> StoreResult<Row> {
        run!(self, |q, ex, row| Ok(row(q.fetch_one(ex).await?)))
    }

    /// Every row, read by `read`.
    pub async fn all<T>(self, read: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
        self.fetch_all().await?.iter().map(read).collect()
    }

    /// The row if there is one, read by `read`.
    pub async fn optional<T>(
        self,
        read: impl Fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.fetch_optional().await?.as_ref().map(read).transpose()
    }

    /// The first column of the one row.
    pub async fn scalar<T: Column>(self) -> StoreResult<T> {
        self.fetch_one().await?.get_at(0)
    }

    /// The first column of the row, if there is one.
    pub async fn scalar_optional<T: Column>(self) -> StoreResult<Option<T>> {
        self.optional(|r| r.get_at(0)).await
    }

    /// The first column of every row.
    pub async fn scalars<T: Column>(self) -> StoreResult<Vec<T>> {
        self.all(|r| r.get_at(0)).await
    }
}

/// One `( … )` of [`Query::push_values`].
pub struct Tuple<'c>(Query<'c>, bool);

impl Tuple<'_> {
    /// Binds the next value of the tuple.
    pub fn bind<'q, T: Value<'q>>(self, value: T) -> Self {
        let Tuple(q, first) = self;
        let q = if first { q } else { q.push(", ") };
        Tuple(q.push_bind(value), false)
    }
}

/// Whether the numbered placeholders (`$N`, `?N`) of a statement first
/// appear in order. SQLite gives a parameter its index where it first
/// appears, and a `?N` names the N-th index: with `$N` out of order, a `?N`
/// pushed after them could name another value than the N-th.
fn numbers_in_order(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let mut seen = 0;
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b'$' | b'?') {
            let digits = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits > 0 {
                let n: usize = sql[i + 1..i + 1 + digits].parse().unwrap_or(usize::MAX);
                if n > seen + 1 {
                    return false;
                }
                seen = seen.max(n);
            }
            i += digits;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::numbers_in_order;

    #[test]
    fn placeholders_first_appear_in_order() {
        assert!(numbers_in_order(
            "SELECT $1, $2 WHERE a = $1 AND b IN (?3, ?4)"
        ));
        assert!(numbers_in_order("INSERT INTO t VALUES (?, ?), (?, ?)"));
        assert!(!numbers_in_order("UPDATE t SET a = $2 WHERE b = $1"));
    }
}
