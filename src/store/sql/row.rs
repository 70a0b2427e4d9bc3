//! A row of either backend, read by column name.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::{Map, Value};
use sqlx::error::BoxDynError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Postgres, Row as _, Sqlite, Type};
use uuid::Uuid;

use crate::store::{StoreError, StoreResult};

/// A Rust type both backends decode (e.g. `i32` for an `integer` column:
/// INT4 on PostgreSQL, and SQLite's integers decode into it too), and that
/// can be read back from a row aggregated as JSON (see [`Row::Json`]).
pub trait Column:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres> + FromJson
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + FromJson
{
}

pub enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
    /// One row of a list read in the same statement as its parent, as a
    /// JSON object (see `store::shared::rows::json_rows`): the same readers serve both.
    Json(Map<String, Value>),
}

impl Row {
    pub fn get<T: Column>(&self, column: &str) -> StoreResult<T> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(column)?,
            Row::Postgres(r) => r.try_get(column)?,
            Row::Json(r) => {
                let value = r
                    .get(column)
                    .ok_or_else(|| sqlx::Error::ColumnNotFound(column.into()))?;
                T::from_json(value).map_err(|source| sqlx::Error::ColumnDecode {
                    index: column.into(),
                    source,
                })?
            }
        })
    }

    pub fn get_at<T: Column>(&self, index: usize) -> StoreResult<T> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(index)?,
            Row::Postgres(r) => r.try_get(index)?,
            Row::Json(_) => {
                return Err(StoreError::Database(sqlx::Error::ColumnNotFound(format!(
                    "#{index} (a JSON row is read by name)"
                ))));
            }
        })
    }

    /// The rows of a list column written by `store::shared::rows::json_rows` (a JSON
    /// array of objects; NULL or `[]` when the list is empty).
    pub fn json_rows(&self, column: &str) -> StoreResult<Vec<Row>> {
        let text: Option<String> = self.get(column)?;
        let Some(text) = text else {
            return Ok(Vec::new());
        };
        let decode = |e: BoxDynError| {
            StoreError::Database(sqlx::Error::ColumnDecode {
                index: column.into(),
                source: e,
            })
        };
        let values: Vec<Value> = serde_json::from_str(&text).map_err(|e| decode(e.into()))?;
        values
            .into_iter()
            .map(|v| match v {
                Value::Object(o) => Ok(Row::Json(o)),
                other => Err(decode(
                    format!("expected a JSON object, found {other}").into(),
                )),
            })
            .collect()
    }
}

/// How a column's value is read back from its JSON rendering, as each
/// backend writes it: PostgreSQL renders uuids, dates and timestamps as
/// strings and booleans as `true`/`false`; SQLite (whose JSON cannot hold a
/// blob) writes a uuid as its hexadecimal digits and a boolean as 0 or 1.
pub trait FromJson: Sized {
    fn from_json(value: &Value) -> Result<Self, BoxDynError>;
}

fn unexpected(what: &str, value: &Value) -> BoxDynError {
    format!("expected {what}, found {value}").into()
}

fn text<'v>(what: &str, value: &'v Value) -> Result<&'v str, BoxDynError> {
    value.as_str().ok_or_else(|| unexpected(what, value))
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: &Value) -> Result<Self, BoxDynError> {
        match value {
            Value::Null => Ok(None),
            v => T::from_json(v).map(Some),
        }
    }
}

impl FromJson for String {
    fn from_json(value: &Value) -> Result<Self, BoxDynError> {
        match value {
            Value::String(s) => Ok(s.clone()),
            // A json/jsonb column is embedded as JSON; read as text, it is its JSON text.
            Value::Object(_) | Value::Array(_) => Ok(value.to_string()),
            v => Err(unexpected("a string", v)),
        }
    }
}

impl FromJson for Uuid {
    fn from_json(value: &Value) -> Result<Self, BoxDynError> {
        // Both the hyphenated (PostgreSQL) and the plain hexadecimal form (SQLite).
        Ok(Uuid::try_parse(text("a uuid", value)?)?)
    }
}

impl FromJson for bool {
    fn from_json(value: &Value) -> Result<Self, BoxDynError> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
            v => Err(unexpected("a boolean", v)),
        }
    }
}

macro_rules! integer_from_json {
    ($($t:ty),*) => {$(
        impl FromJson for $t {
            fn from_json(value: &Value) -> Result<Self, BoxDynError> {
                let n = value.as_i64().ok_or_else(|| unexpected("an integer", value))?;
                Ok(<$t>::try_from(n)?)
            }
        }
    )*};
}
integer_from_json!(i32, i64);

/// Bytes are never in a list read as JSON (documents' contents are read
/// alone).
impl FromJson for Vec<u8> {
    fn from_json(value: &Value) -> Result<Self, BoxDynError> {
        Err(unexpected("bytes (never in a JSON row)", value))
    }
}

impl FromJson for NaiveDate {
    fn from_json(value: &Value) -> Result<Self, BoxDynError> {
        Ok(NaiveDate::parse_from_str(
            text("a date", value)?,
            "%Y-%m-%d",
        )?)
    }
}

impl FromJson for DateTime<Utc> {
    fn from_json(value: &Value) -> Result<Self, BoxDynError> {
        // RFC 3339 (SQLite, as sqlx stores it) or PostgreSQL's JSON
        // rendering (`T`, an offset in the session's time zone).
        let t = text("a timestamp", value)?;
        Ok(t.parse::<DateTime<FixedOffset>>()?.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_renderings() {
        let id = Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        assert_eq!(Uuid::from_json(&json!(id.to_string())).unwrap(), id);
        assert_eq!(
            Uuid::from_json(&json!("67E5504410B1426F9247BB680E5FE0C8")).unwrap(),
            id
        );
        assert!(bool::from_json(&json!(1)).unwrap());
        assert!(!bool::from_json(&json!(false)).unwrap());
        assert!(bool::from_json(&json!(2)).is_err());
        let at = DateTime::parse_from_rfc3339("2026-12-04T21:19:09.5Z").unwrap();
        for rendering in [
            "2026-12-04T21:19:09.5+00:00",
            "2026-12-04T22:19:09.5+01:00",
            "2026-12-04T21:19:09.500Z",
        ] {
            assert_eq!(DateTime::<Utc>::from_json(&json!(rendering)).unwrap(), at);
        }
        assert_eq!(
            Option::<NaiveDate>::from_json(&json!("2026-02-28")).unwrap(),
            NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        assert_eq!(Option::<i32>::from_json(&Value::Null).unwrap(), None);
        assert_eq!(String::from_json(&json!({"a": 1})).unwrap(), r#"{"a":1}"#);
    }

    #[test]
    fn a_json_row_is_read_by_name() {
        let row = Row::Json(json!({"n": 3, "s": "x"}).as_object().unwrap().clone());
        assert_eq!(row.get::<i64>("n").unwrap(), 3);
        assert!(row.get::<i64>("s").is_err());
        assert!(row.get::<i64>("absent").is_err());
        assert!(row.get_at::<i64>(0).is_err());
    }
}
