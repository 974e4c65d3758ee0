//! Decoding helpers: columns hold plain integers and text; these turn them into domain types.

use std::str::FromStr;

use purser_domain::{Id, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, StoreError};

/// A column, by name or by position (positions save a name lookup on large reads).
pub trait Col: sqlx::ColumnIndex<AnyRow> + std::fmt::Display + Copy {}
impl<C: sqlx::ColumnIndex<AnyRow> + std::fmt::Display + Copy> Col for C {}

pub fn id(row: &AnyRow, col: impl Col) -> Result<Id> {
    Ok(Id::from_i64(row.try_get(col)?))
}

pub fn ts(row: &AnyRow, col: &str) -> Result<Timestamp> {
    Ok(Timestamp::from_millis(row.try_get(col)?))
}

pub fn opt_ts(row: &AnyRow, col: impl Col) -> Result<Option<Timestamp>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(Timestamp::from_millis))
}

pub fn opt_u32(row: &AnyRow, col: impl Col) -> Result<Option<u32>> {
    row.try_get::<Option<i64>, _>(col)?
        .map(|v| u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{col} = {v} is out of range"))))
        .transpose()
}

pub fn u64_of(row: &AnyRow, col: &str) -> Result<u64> {
    let v: i64 = row.try_get(col)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{col} = {v} is negative")))
}

/// Booleans come back as `BOOLEAN` from PostgreSQL and as integers from SQLite.
pub fn flag(row: &AnyRow, col: impl Col) -> Result<bool> {
    match row.try_get::<bool, _>(col) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.try_get::<i64, _>(col)? != 0),
    }
}

pub fn opt_parsed<T: FromStr<Err = String>>(row: &AnyRow, col: impl Col) -> Result<Option<T>> {
    row.try_get::<Option<String>, _>(col)?.map(|text| text.parse().map_err(StoreError::Corrupt)).transpose()
}

pub fn parsed<T: FromStr<Err = String>>(row: &AnyRow, col: &str) -> Result<T> {
    let text: String = row.try_get(col)?;
    text.parse().map_err(StoreError::Corrupt)
}

/// `COUNT(*)` as an unsigned total.
pub fn count(row: &AnyRow) -> Result<u64> {
    let v: i64 = row.try_get(0)?;
    Ok(u64::try_from(v).unwrap_or(0))
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern that matches `needle` anywhere.
pub fn contains_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A value bound to a dynamically built query.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    Text(String),
}

/// A `WHERE` clause built from optional filters, numbering placeholders as it goes.
#[derive(Debug, Default)]
pub struct Filter {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Filter {
    /// Adds a condition; each `?` in `clause` becomes the next `$N` and takes the next arg.
    pub fn and<const N: usize>(&mut self, clause: &str, args: [Arg; N]) {
        assert_eq!(clause.matches('?').count(), N, "one argument per placeholder in {clause:?}");
        let mut parts = clause.split('?');
        let mut sql = parts.next().unwrap_or_default().to_owned();
        for (part, arg) in parts.zip(args) {
            self.args.push(arg);
            sql.push_str(&format!("${}{part}", self.args.len()));
        }
        self.clauses.push(sql);
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }

    /// The placeholder number the next bound value will take.
    pub fn next_placeholder(&self) -> usize {
        self.args.len() + 1
    }

    pub fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for arg in &self.args {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.as_str()),
            };
        }
        query
    }
}
