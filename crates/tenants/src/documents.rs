//! Documents and their stored files in an organization's own database.
//!
//! A file's row is claimed, and its document written, in one transaction of the caller's:
//! the claim takes the file row's lock, so the cleanup of orphaned files (which deletes a
//! row only while no document names it) and an upload of the same bytes never both win.

use purser_domain::document::{Document, DocumentQuery, DocumentSort, StorageUsage, StoredFile};
use purser_domain::page::{Page, PageRequest};
use purser_domain::{Id, Timestamp};
use purser_store::AnyConnection;
use purser_store::rows::{Arg, Filter, contains_pattern, count, id, opt_ts, ts, u64_of};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Result;

const COLUMNS: &str =
    "d.id, d.name, d.mime_type, d.sha256, f.md5, d.size, d.owner_id, f.timestamped_at, d.created_at, d.updated_at";
const FROM: &str = "documents d JOIN files f ON f.sha256 = d.sha256";

fn document(row: &AnyRow) -> purser_store::Result<Document> {
    Ok(Document {
        id: id(row, "id")?,
        name: row.try_get("name")?,
        mime_type: row.try_get("mime_type")?,
        sha256: row.try_get("sha256")?,
        md5: row.try_get("md5")?,
        size: u64_of(row, "size")?,
        owner_id: id(row, "owner_id")?,
        timestamped_at: opt_ts(row, "timestamped_at")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

fn stored_file(row: &AnyRow) -> purser_store::Result<StoredFile> {
    Ok(StoredFile {
        sha256: row.try_get("sha256")?,
        md5: row.try_get("md5")?,
        size: u64_of(row, "size")?,
        object_key: row.try_get("object_key")?,
        created_at: ts(row, "created_at")?,
        orphaned_at: opt_ts(row, "orphaned_at")?,
    })
}

/// Claims the row of `file` for a new document, inserting it if these bytes are new.
/// Returns the row as stored and whether it was already there (the bytes need not be
/// stored again, if they are still where the row says). Call inside the transaction that
/// then inserts the document.
pub async fn claim_file(conn: &mut AnyConnection, file: &StoredFile) -> Result<(StoredFile, bool)> {
    let inserted = sqlx::query(
        "INSERT INTO files (sha256, md5, size, object_key, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&file.sha256)
    .bind(&file.md5)
    .bind(i64::try_from(file.size).unwrap_or(i64::MAX))
    .bind(&file.object_key)
    .bind(file.created_at.as_millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    // Named again: no longer an orphan (and, on PostgreSQL, the row is locked until commit).
    let row = sqlx::query(
        "UPDATE files SET orphaned_at = NULL WHERE sha256 = $1 \
         RETURNING sha256, md5, size, object_key, created_at, orphaned_at",
    )
    .bind(&file.sha256)
    .fetch_one(&mut *conn)
    .await?;
    Ok((stored_file(&row)?, !inserted))
}

/// Inserts a document whose file was claimed in the same transaction.
pub async fn insert(conn: &mut AnyConnection, doc: &Document) -> Result<()> {
    sqlx::query(
        "INSERT INTO documents (id, name, mime_type, sha256, size, owner_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(doc.id.as_i64())
    .bind(&doc.name)
    .bind(&doc.mime_type)
    .bind(&doc.sha256)
    .bind(i64::try_from(doc.size).unwrap_or(i64::MAX))
    .bind(doc.owner_id.as_i64())
    .bind(doc.created_at.as_millis())
    .bind(doc.updated_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, doc: Id) -> Result<Option<Document>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE d.id = $1"))
        .bind(doc.as_i64())
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(document).transpose()?)
}

/// One page of the documents matching `query`, in its order.
pub async fn list(conn: &mut AnyConnection, query: &DocumentQuery, page: PageRequest) -> Result<Page<Document>> {
    let mut filter = Filter::default();
    if let Some(search) = &query.search {
        filter.and("LOWER(d.name) LIKE ? ESCAPE '\\'", [Arg::Text(contains_pattern(search))]);
    }
    if let Some(mime) = &query.mime_type {
        filter.and("d.mime_type = ?", [Arg::Text(mime.clone())]);
    }
    let where_sql = filter.sql();
    let total = count(
        &filter
            .bind(sqlx::query(&format!("SELECT COUNT(*) FROM documents d{where_sql}")))
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let order = match query.sort {
        DocumentSort::Newest => "d.created_at DESC, d.id DESC",
        DocumentSort::Oldest => "d.created_at, d.id",
        DocumentSort::NameAsc => "d.name, d.id",
        DocumentSort::NameDesc => "d.name DESC, d.id DESC",
        DocumentSort::Largest => "d.size DESC, d.id DESC",
        DocumentSort::Smallest => "d.size, d.id",
    };
    let n = filter.next_placeholder();
    // The page is found on the documents alone (an index in each order), then joined. The
    // page comes first in the join (CROSS JOIN fixes SQLite's join order; PostgreSQL plans
    // it as any inner join), so only its rows are looked up.
    let sql = format!(
        "SELECT {COLUMNS} FROM (SELECT d.id FROM documents d{where_sql} ORDER BY {order} LIMIT ${n} OFFSET ${}) page \
         CROSS JOIN documents d CROSS JOIN files f WHERE d.id = page.id AND f.sha256 = d.sha256 ORDER BY {order}",
        n + 1
    );
    let rows = filter.bind(sqlx::query(&sql)).bind(i64::from(page.limit)).bind(page.offset()).fetch_all(conn).await?;
    let items = rows.iter().map(document).collect::<purser_store::Result<_>>()?;
    Ok(Page { items, page, total })
}

/// Renames a document; `false` if there is none with that id.
pub async fn rename(conn: &mut AnyConnection, doc: Id, name: &str, now: Timestamp) -> Result<bool> {
    let done = sqlx::query("UPDATE documents SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now.as_millis())
        .bind(doc.as_i64())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a document; its file becomes an orphan (for the cleanup after a grace period)
/// when no other document names it. Returns the document deleted. Call in a transaction.
pub async fn delete(conn: &mut AnyConnection, doc: Id, now: Timestamp) -> Result<Option<Document>> {
    let Some(found) = get(&mut *conn, doc).await? else { return Ok(None) };
    sqlx::query("DELETE FROM documents WHERE id = $1").bind(doc.as_i64()).execute(&mut *conn).await?;
    sqlx::query(
        "UPDATE files SET orphaned_at = $1 WHERE sha256 = $2 AND orphaned_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM documents WHERE sha256 = $2)",
    )
    .bind(now.as_millis())
    .bind(&found.sha256)
    .execute(conn)
    .await?;
    Ok(Some(found))
}

/// A file's time-stamp reply and the time it attests, if it has one.
pub async fn timestamp(conn: &mut AnyConnection, sha256: &str) -> Result<Option<(Vec<u8>, Timestamp)>> {
    let row = sqlx::query("SELECT timestamp_reply, timestamped_at FROM files WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let reply: Option<Vec<u8>> = row.try_get("timestamp_reply").map_err(purser_store::StoreError::from)?;
    Ok(reply.zip(opt_ts(&row, "timestamped_at")?))
}

/// Keeps a checked time-stamp reply for a file that has none yet; `false` if it had one
/// (or is gone).
pub async fn set_timestamp(conn: &mut AnyConnection, sha256: &str, reply: &[u8], at: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE files SET timestamp_reply = $1, timestamped_at = $2 WHERE sha256 = $3 AND timestamp_reply IS NULL",
    )
    .bind(reply)
    .bind(at.as_millis())
    .bind(sha256)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Files no document has named since before `before`, oldest first.
pub async fn orphans(conn: &mut AnyConnection, before: Timestamp, limit: u32) -> Result<Vec<StoredFile>> {
    let rows = sqlx::query(
        "SELECT sha256, md5, size, object_key, created_at, orphaned_at FROM files \
         WHERE orphaned_at IS NOT NULL AND orphaned_at < $1 ORDER BY orphaned_at, sha256 LIMIT $2",
    )
    .bind(before.as_millis())
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(stored_file).collect::<purser_store::Result<_>>()?)
}

/// Deletes an orphaned file's row if it is still an orphan from before `before` and no
/// document names it; returns whether it did (then, before committing, remove its bytes).
pub async fn remove_orphan(conn: &mut AnyConnection, sha256: &str, before: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM files WHERE sha256 = $1 AND orphaned_at IS NOT NULL AND orphaned_at < $2 \
         AND NOT EXISTS (SELECT 1 FROM documents WHERE sha256 = $1)",
    )
    .bind(sha256)
    .bind(before.as_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Documents, files and bytes: stored once, and saved by storing each file once.
pub async fn usage(conn: &mut AnyConnection) -> Result<StorageUsage> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM documents) AS documents, (SELECT COUNT(*) FROM files) AS files, \
         CAST((SELECT COALESCE(SUM(size), 0) FROM files) AS BIGINT) AS bytes_stored, \
         CAST((SELECT COALESCE(SUM(size), 0) FROM documents) AS BIGINT) AS bytes_named",
    )
    .fetch_one(conn)
    .await?;
    let (stored, named) = (u64_of(&row, "bytes_stored")?, u64_of(&row, "bytes_named")?);
    Ok(StorageUsage {
        documents: u64_of(&row, "documents")?,
        files: u64_of(&row, "files")?,
        bytes_stored: stored,
        bytes_saved: named.saturating_sub(stored),
    })
}
