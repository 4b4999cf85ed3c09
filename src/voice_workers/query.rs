//! One read-only query on a worker's database, in the [`Sandbox`]: exactly one statement (a tail of anything
//! but whitespace and comments is refused), which SQLite itself must judge read-only
//! (`sqlite3_stmt_readonly`), stepped until the row cap (the SQL text is never rewritten), under the deadline.
//!
//! Values keep their SQLite types: integers and reals as JSON numbers, text as strings, `NULL` as `null`, blobs
//! as `{"size": n, "base64": "..."}` (the bytes only up to [`BLOB_INLINE_BYTES`], beyond that just the size).

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::ValueRef;
use rusqlite::{Batch, ErrorCode as SqliteCode};
use serde_json::{Map, Value, json};

use super::sandbox::Sandbox;
use super::summary;
use super::{DEFAULT_ROW_LIMIT, MAX_ROW_LIMIT};
use crate::config::SummaryLanguage;
use crate::error::{ErrorCode, GatewayError};

/// Blobs up to this size are returned as base64; larger ones only by size.
pub const BLOB_INLINE_BYTES: usize = 64 * 1024;
/// The values of one answer may weigh this much at most (approximate JSON bytes); rows past it are cut as if
/// the row cap had been reached.
pub const MAX_RESULT_BYTES: usize = 8 * 1024 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub sql: String,
    /// Rows to return at most (already bounded by the caller).
    pub limit: usize,
}

impl QueryRequest {
    /// From `{query | sql, limit?}`: the SQL is required; `limit` is at least 1, defaults to
    /// [`DEFAULT_ROW_LIMIT`] and is capped at [`MAX_ROW_LIMIT`].
    pub fn from_args(args: &Value) -> Result<Self, GatewayError> {
        let sql = args
            .get("query")
            .or_else(|| args.get("sql"))
            .and_then(Value::as_str)
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| GatewayError::invalid_params("`query` is required: one SQL SELECT statement"))?;
        let limit = match args.get("limit") {
            None | Some(Value::Null) => DEFAULT_ROW_LIMIT,
            Some(value) => match value.as_u64() {
                Some(n) if n >= 1 => usize::try_from(n).unwrap_or(MAX_ROW_LIMIT).min(MAX_ROW_LIMIT),
                _ => return Err(GatewayError::invalid_params("`limit` must be a positive integer")),
            },
        };
        Ok(Self { sql: sql.to_owned(), limit })
    }
}

/// Rows as read.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    /// One object per row, keyed by column name.
    pub rows: Vec<Map<String, Value>>,
    /// More rows existed than the cap allowed.
    pub truncated: bool,
    pub elapsed: Duration,
}

/// A query's answer in the seed's shape, with its spoken summary.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    pub body: Value,
}

impl QueryOutcome {
    #[must_use]
    pub fn new(worker_id: &str, result: QueryResult, language: SummaryLanguage) -> Self {
        let summary = summary::speak(&result, language);
        let body = json!({
            "success": true,
            "worker_id": worker_id,
            "columns": result.columns,
            "rows": result.rows,
            "count": result.rows.len(),
            "row_count": result.rows.len(),
            "truncated": result.truncated,
            "summary": summary,
            "elapsed_ms": u64::try_from(result.elapsed.as_millis()).unwrap_or(u64::MAX),
        });
        Self { body }
    }
}

/// Run `request` on the database at `path`, stopping after `timeout`.
pub fn run(path: &Path, request: &QueryRequest, timeout: Duration) -> Result<QueryResult, GatewayError> {
    let started = Instant::now();
    let sandbox = Sandbox::open(path, started + timeout).map_err(|e| open_error(&e))?;
    let sql = request.sql.as_str();
    let mut batch = Batch::new(&sandbox.conn, sql);
    let mut statement = match batch.next() {
        Ok(Some(statement)) => statement,
        Ok(None) => return Err(GatewayError::invalid_params("the query holds no SQL statement")),
        Err(e) => return Err(sql_error(&e, &sandbox, timeout)),
    };
    // Anything after the first statement (but whitespace and comments) is refused, without running either.
    if !matches!(batch.next(), Ok(None)) {
        return Err(refused("only one statement is allowed; remove everything after the first `;`"));
    }
    if !statement.readonly() {
        return Err(refused("SQLite reports that the statement is not read-only"));
    }
    if statement.parameter_count() > 0 {
        return Err(GatewayError::invalid_params("the query has `?` parameters; write the values in the SQL"));
    }
    let columns = unique_names(statement.column_names());
    let mut rows = Vec::new();
    let mut truncated = false;
    let mut weight = 0;
    let mut cursor = statement.raw_query();
    loop {
        let row = match cursor.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Err(sql_error(&e, &sandbox, timeout)),
        };
        if rows.len() == request.limit {
            truncated = true;
            break;
        }
        let mut object = Map::with_capacity(columns.len());
        for (i, name) in columns.iter().enumerate() {
            let value = row.get_ref(i).map_err(|e| sql_error(&e, &sandbox, timeout))?;
            weight += name.len() + weight_of(value);
            object.insert(name.clone(), typed(value));
        }
        if weight > MAX_RESULT_BYTES {
            if rows.is_empty() {
                return Err(GatewayError::invalid_params(format!(
                    "one row of the result is larger than {} MiB; select fewer or shorter columns",
                    MAX_RESULT_BYTES / (1024 * 1024)
                )));
            }
            truncated = true;
            break;
        }
        rows.push(object);
    }
    Ok(QueryResult { columns, rows, truncated, elapsed: started.elapsed() })
}

/// A SQLite value as JSON, keeping its type.
fn typed(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => json!(n),
        ValueRef::Real(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
        ValueRef::Text(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) if bytes.len() <= BLOB_INLINE_BYTES => {
            json!({"size": bytes.len(), "base64": base64::engine::general_purpose::STANDARD.encode(bytes)})
        }
        ValueRef::Blob(bytes) => json!({"size": bytes.len()}),
    }
}

/// Roughly how many bytes a value adds to the JSON answer.
fn weight_of(value: ValueRef<'_>) -> usize {
    match value {
        ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) => 8,
        ValueRef::Text(bytes) => bytes.len(),
        ValueRef::Blob(bytes) if bytes.len() <= BLOB_INLINE_BYTES => bytes.len() * 4 / 3,
        ValueRef::Blob(_) => 16,
    }
}

/// Column names, with repeats made unique (`a`, `a_2`) so every value has its key.
fn unique_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let mut candidate = name.to_owned();
        let mut n = 2;
        while out.contains(&candidate) {
            candidate = format!("{name}_{n}");
            n += 1;
        }
        out.push(candidate);
    }
    out
}

fn refused(why: &str) -> GatewayError {
    GatewayError::new(ErrorCode::Forbidden, format!("refused: worker queries are read-only; {why}"))
        .with_details(json!({"reason": why}))
}

fn open_error(err: &rusqlite::Error) -> GatewayError {
    if err.sqlite_error_code() == Some(SqliteCode::CannotOpen) {
        return GatewayError::new(ErrorCode::NotFound, "the worker's database is no longer there");
    }
    GatewayError::internal("opening a worker database", err)
}

/// Map a SQLite failure: the deadline is `timeout`, the authorizer's refusal `forbidden` naming why, anything
/// else `invalid_params` with SQLite's own message.
fn sql_error(err: &rusqlite::Error, sandbox: &Sandbox, timeout: Duration) -> GatewayError {
    let code = err.sqlite_error_code();
    if code == Some(SqliteCode::OperationInterrupted) {
        return GatewayError::new(
            ErrorCode::Timeout,
            format!("the query ran past its deadline of {} ms and was stopped", timeout.as_millis()),
        )
        .with_details(json!({"timeout_ms": u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)}))
        // The same query would run just as long again.
        .retryable(false);
    }
    if let Some(why) = sandbox.take_refusal() {
        return refused(&why);
    }
    if matches!(code, Some(SqliteCode::AuthorizationForStatementDenied | SqliteCode::ReadOnly)) {
        return refused("SQLite refused the statement");
    }
    let message = match err {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    };
    GatewayError::invalid_params(format!("SQL error: {message}")).with_details(json!({"sqlite": message}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_column_names_get_suffixes() {
        assert_eq!(unique_names(["a", "b", "a", "a"].into_iter()), ["a", "b", "a_2", "a_3"]);
    }

    #[test]
    fn blobs_are_sized_and_inlined_when_small() {
        assert_eq!(typed(ValueRef::Blob(b"hi")), json!({"size": 2, "base64": "aGk="}));
        assert_eq!(typed(ValueRef::Blob(&vec![0u8; BLOB_INLINE_BYTES + 1])), json!({"size": BLOB_INLINE_BYTES + 1}));
        assert_eq!(typed(ValueRef::Real(1.5)), json!(1.5));
    }
}
