//! Documents: files an organization's people upload. Names, types and owners are kept in
//! the organization's own database; the bytes in blob storage, once per SHA-256 within the
//! organization (MD5 is kept as a checksum only: its collisions are easy to make).
//!
//! An upload is authorized before a byte is read, spooled while its hashes are computed,
//! then named in one transaction of the organization's database: the file's row is claimed
//! (taking its lock, so the orphan cleanup cannot remove it meanwhile), the document and
//! its audit entry and event written (see `tenant_changes`), its bytes kept unless already
//! stored. A failure anywhere leaves no row and no stored bytes behind.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use hmac::{Hmac, Mac};
use purser_domain::document::{
    DEFAULT_DOCUMENT_TYPES, Document, DocumentQuery, StorageUsage, StoredFile, check_content, check_document_name,
    normalize_mime, sniff,
};
use purser_domain::org::Organization;
use purser_domain::page::{Page, PageRequest};
use purser_domain::{Id, OrgAction, Principal, Timestamp, Validator};
use purser_store::orgs;
use purser_tenants::blobs::{BlobError, Blobs, Spool, file_key};
use purser_tenants::{documents, outbox};
use serde_json::json;
use sha2::Sha256;

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, ErrorKind, Result};
use crate::{Actor, Input, Services};

/// How long a download link may live.
pub const LINK_SECS_MIN: u32 = 60;
pub const LINK_SECS_MAX: u32 = 86_400;
pub const LINK_SECS_DEFAULT: u32 = 3_600;
/// Longest list of MIME types an organization may accept.
pub const MAX_DOCUMENT_TYPES: usize = 100;
/// Longest search text.
pub const MAX_SEARCH_CHARS: usize = 255;
/// Orphaned files removed per cleanup batch.
const CLEANUP_BATCH: u32 = 100;

#[derive(Debug, Clone)]
pub struct DocumentSettings {
    /// Largest upload.
    pub max_upload_bytes: u64,
    /// A file no document names any more is removed this long after.
    pub orphan_grace_secs: u64,
}

impl Default for DocumentSettings {
    fn default() -> Self {
        Self { max_upload_bytes: 100 * 1024 * 1024, orphan_grace_secs: 3600 }
    }
}

fn document_not_found() -> Error {
    Error::not_found("document_not_found", "document")
}

fn quota_exceeded() -> Error {
    Error::new(ErrorKind::TooLarge, "storage_quota_exceeded", "the organization's storage quota is used up")
}

impl From<BlobError> for Error {
    fn from(e: BlobError) -> Self {
        tracing::warn!(error = %e, "blob storage failed");
        Self::new(ErrorKind::Unavailable, "storage_unavailable", "file storage is unavailable; try again shortly")
    }
}

/// Checks and normalizes an organization's list of accepted types.
pub(crate) fn check_document_types(v: &mut Validator, types: Vec<String>) -> Vec<String> {
    if types.is_empty() || types.len() > MAX_DOCUMENT_TYPES {
        v.error("documentTypes", format!("must list 1 to {MAX_DOCUMENT_TYPES} MIME types"));
    }
    let mut normalized = Vec::with_capacity(types.len());
    for (i, given) in types.iter().enumerate() {
        match normalize_mime(given) {
            Some(t) if !normalized.contains(&t) => normalized.push(t),
            Some(_) => {}
            None => v.error(format!("documentTypes[{i}]"), "must be a MIME type such as application/pdf"),
        }
    }
    normalized
}

fn accepted_types(org: &Organization) -> Vec<String> {
    org.document_types.clone().unwrap_or_else(|| DEFAULT_DOCUMENT_TYPES.iter().map(|t| (*t).to_owned()).collect())
}

/// The name and type of an upload, checked: the name as a file name, the type (as sent, or
/// recognised from the bytes when not) against the organization's list and the bytes.
fn judge_upload(org: &Organization, details: UploadDetails, head: &[u8]) -> Result<(String, String)> {
    let name = details.name.or(details.filename).unwrap_or_else(|| "document".into());
    check_document_name(&name).map_err(|message| Error::invalid_field("name", message))?;
    let declared =
        match details.content_type.as_deref() {
            Some(given) => Some(normalize_mime(given).ok_or_else(|| {
                Error::invalid_field("file", "its Content-Type must be a MIME type such as text/plain")
            })?),
            None => None,
        };
    let mime_type = match declared {
        Some(t) if t != "application/octet-stream" => t,
        _ => sniff(head)
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid_field("file", "its type is not recognised; send the file's Content-Type"))?,
    };
    if !accepted_types(org).contains(&mime_type) {
        return Err(Error::new(
            ErrorKind::UnsupportedMedia,
            "document_type_not_allowed",
            format!("{mime_type} files are not accepted in this organization"),
        ));
    }
    check_content(&mime_type, head)
        .map_err(|message| Error { code: "content_type_mismatch", ..Error::invalid_field("file", message) })?;
    Ok((name, mime_type))
}

/// An authorized upload whose bytes are arriving.
pub struct Upload {
    /// The most it may hold.
    max_bytes: u64,
    spool: Spool,
}

impl Upload {
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Adds bytes; refused (413) past the limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        if self.spool.size() + chunk.len() as u64 > self.max_bytes {
            return Err(Error::new(
                ErrorKind::TooLarge,
                "file_too_large",
                format!("the file is larger than the {} bytes allowed", self.max_bytes),
            ));
        }
        self.spool.write(chunk).await.map_err(|e| Error::from(BlobError::Io(e)))
    }
}

/// What came with an upload's bytes.
#[derive(Debug, Clone, Default)]
pub struct UploadDetails {
    /// The `name` field, if sent.
    pub name: Option<String>,
    /// The file part's own file name.
    pub filename: Option<String>,
    /// The file part's `Content-Type`.
    pub content_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Uploaded {
    pub document: Document,
    /// The bytes were stored already (for another document) and were not stored again.
    pub deduplicated: bool,
}

/// A document's bytes, ready to be read.
pub struct Content {
    blobs: Arc<Blobs>,
    key: String,
}

impl Content {
    /// The bytes, or the `range` of them, as they are read from storage.
    pub async fn read(self, range: Option<Range<u64>>) -> Result<BoxStream<'static, std::io::Result<Bytes>>> {
        let stream = self.blobs.read(&self.key, range).await?;
        Ok(stream.map_err(std::io::Error::other).boxed())
    }
}

#[derive(Debug, Clone)]
pub struct DocumentLink {
    pub url: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy)]
pub struct StorageView {
    pub usage: StorageUsage,
    pub max_storage_bytes: Option<u64>,
    pub max_upload_bytes: u64,
    pub timestamps_available: bool,
}

/// `Content-Disposition` for a download: `attachment` with the name as an RFC 6266 / 5987
/// `filename*` and an ASCII fallback with anything unsafe replaced.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%') || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

impl Services {
    /// How long a file no document names is kept, in seconds.
    fn orphan_grace_secs(&self) -> i64 {
        i64::try_from(self.documents.orphan_grace_secs).unwrap_or(i64::MAX)
    }

    /// Uploads a document. The caller must be allowed to upload here before `receive` reads
    /// a byte of the request into the [`Upload`] it is given (and the details sent with it);
    /// then the name and type are checked (against the organization's list and against the
    /// bytes themselves), the bytes stored unless they are stored already, and the document
    /// written. Whatever fails, the attempt is audited and nothing is left behind.
    pub async fn upload_document<F, Fut>(&self, actor: &Actor, org_id: Id, receive: F) -> Result<Uploaded>
    where
        F: FnOnce(Upload) -> Fut,
        Fut: Future<Output = Result<(Upload, UploadDetails)>>,
    {
        let attempt = AuditEntry::new(AuditAction::DocumentUpload, Some(actor.user_id)).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut conn = self.store.conn().await?;
            let at = self.in_org(&mut conn, actor, org_id).await?;
            self.allow(actor, &at, OrgAction::UploadDocuments)?;
            drop(conn);
            // A full quota refuses at once; otherwise it is checked once the bytes are known
            // (bytes stored already take no more room).
            if let Some(quota) = at.org.max_storage_bytes {
                let tenant = self.tenants.store(org_id).await?;
                if documents::usage(&mut *tenant.conn().await?).await?.bytes_stored >= quota {
                    return Err(quota_exceeded());
                }
            }
            let max_bytes = self.documents.max_upload_bytes;
            let (upload, details) = receive(Upload { max_bytes, spool: self.blobs.spool()? }).await?;
            let spooled = upload.spool.finish().await.map_err(|e| Error::from(BlobError::Io(e)))?;
            if spooled.size == 0 {
                return Err(Error::invalid_field("file", "must not be empty"));
            }
            let (name, mime_type) = judge_upload(&at.org, details, &spooled.head)?;
            let stamp =
                if at.org.timestamp_uploads { self.timestamp_for_upload(org_id, &spooled.sha256).await? } else { None };

            let now = self.now();
            let file = StoredFile {
                object_key: file_key(org_id, &spooled.sha256),
                sha256: spooled.sha256.clone(),
                md5: spooled.md5.clone(),
                size: spooled.size,
                created_at: now,
                orphaned_at: None,
            };
            let tenant = self.tenants.store(org_id).await?;
            self.note_tenant_change(org_id).await?;
            let mut tx = tenant.begin().await?;
            let (stored, existed) = documents::claim_file(&mut tx, &file).await?;
            let deduplicated = existed && self.blobs.exists(&stored.object_key).await?;
            if !existed
                && let Some(quota) = at.org.max_storage_bytes
                && documents::usage(&mut tx).await?.bytes_stored > quota
            {
                return Err(quota_exceeded());
            }
            if let Some(stamp) = &stamp {
                documents::set_timestamp(&mut tx, &stored.sha256, &stamp.reply, stamp.gen_time()).await?;
            }
            let id = self.ids.next_id();
            let document = Document {
                id,
                name,
                mime_type,
                sha256: stored.sha256.clone(),
                md5: stored.md5.clone(),
                size: stored.size,
                owner_id: actor.user_id,
                timestamped_at: None,
                created_at: now,
                updated_at: now,
            };
            documents::insert(&mut tx, &document).await?;
            // As stored: with its file's timestamp, if the file has one.
            let document = documents::get(&mut tx, id).await?.ok_or_else(document_not_found)?;
            let entry = AuditEntry::new(AuditAction::DocumentUpload, Some(actor.user_id))
                .org(org_id)
                .resource(document.id)
                .after(json!({
                    "name": document.name, "mimeType": document.mime_type, "size": document.size,
                    "sha256": document.sha256, "deduplicated": deduplicated,
                }));
            outbox::push(&mut tx, &self.tenant_change(&actor.client, entry)).await?;
            if !deduplicated {
                self.blobs.keep(spooled, &stored.object_key).await?;
            }
            tx.commit().await.map_err(purser_store::StoreError::from)?;
            self.after_tenant_change(org_id).await;
            Ok(Uploaded { document, deduplicated })
        })
        .await
    }

    /// Audits what was done (not a change to the documents themselves, which is audited in
    /// its own transaction: see `tenant_changes`) once it is done.
    pub(crate) async fn audit_done(&self, client: &crate::ClientInfo, entry: AuditEntry) {
        let written = async {
            let mut conn = self.store.conn().await?;
            self.audit(&mut conn, client, entry).await
        }
        .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "a document change was made but its audit entry could not be written");
        }
    }

    pub async fn list_documents(
        &self,
        principal: &Principal,
        org_id: Id,
        query: Input<(DocumentQuery, PageRequest)>,
    ) -> Result<Page<Document>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let (mut query, page) = query.read(self.allow(principal, &at, OrgAction::ReadDocuments)?)?;
        let mut v = Validator::new();
        if let Some(search) = &query.search {
            v.text("search", search, MAX_SEARCH_CHARS);
        }
        if let Some(given) = query.mime_type.take() {
            match normalize_mime(&given) {
                Some(t) => query.mime_type = Some(t),
                None => v.error("mimeType", "must be a MIME type such as application/pdf"),
            }
        }
        v.finish()?;
        drop(conn);
        let tenant = self.tenants.store(org_id).await?;
        Ok(documents::list(&mut *tenant.conn().await?, &query, page).await?)
    }

    /// A document the caller may read, and its organization.
    pub(crate) async fn readable_document(
        &self,
        principal: &Principal,
        org_id: Id,
        doc: Id,
    ) -> Result<(crate::orgs::InOrg, Document)> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        self.allow(principal, &at, OrgAction::ReadDocuments)?;
        drop(conn);
        let tenant = self.tenants.store(org_id).await?;
        let found = documents::get(&mut *tenant.conn().await?, doc).await?.ok_or_else(document_not_found)?;
        Ok((at, found))
    }

    pub async fn get_document(&self, principal: &Principal, org_id: Id, doc: Id) -> Result<Document> {
        Ok(self.readable_document(principal, org_id, doc).await?.1)
    }

    /// The document and a reader of its bytes.
    pub async fn document_content(&self, principal: &Principal, org_id: Id, doc: Id) -> Result<(Document, Content)> {
        let (_, document) = self.readable_document(principal, org_id, doc).await?;
        let content = Content { blobs: Arc::clone(&self.blobs), key: file_key(org_id, &document.sha256) };
        Ok((document, content))
    }

    pub async fn rename_document(&self, actor: &Actor, org_id: Id, doc: Id, name: Input<String>) -> Result<Document> {
        let attempt = AuditEntry::new(AuditAction::DocumentRename, Some(actor.user_id)).org(org_id).resource(doc);
        self.audited(&actor.client, attempt, async {
            let (at, before) = self.readable_document(actor, org_id, doc).await?;
            let name = name.read(self.allow(actor, &at, OrgAction::ManageDocument { owner: before.owner_id })?)?;
            check_document_name(&name).map_err(|message| Error::invalid_field("name", message))?;
            let now = self.now();
            let tenant = self.tenants.store(org_id).await?;
            self.note_tenant_change(org_id).await?;
            let mut tx = tenant.begin().await?;
            if !documents::rename(&mut tx, doc, &name, now).await? {
                return Err(document_not_found());
            }
            let after = Document { name, updated_at: now, ..before.clone() };
            let entry = AuditEntry::new(AuditAction::DocumentRename, Some(actor.user_id))
                .org(org_id)
                .resource(doc)
                .before(json!({ "name": before.name }))
                .after(json!({ "name": after.name }));
            outbox::push(&mut tx, &self.tenant_change(&actor.client, entry)).await?;
            tx.commit().await.map_err(purser_store::StoreError::from)?;
            self.after_tenant_change(org_id).await;
            Ok(after)
        })
        .await
    }

    /// Deletes a document. Its bytes go later, with the cleanup of files no document names.
    pub async fn delete_document(&self, actor: &Actor, org_id: Id, doc: Id) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::DocumentDelete, Some(actor.user_id)).org(org_id).resource(doc);
        self.audited(&actor.client, attempt, async {
            let (at, found) = self.readable_document(actor, org_id, doc).await?;
            self.allow(actor, &at, OrgAction::ManageDocument { owner: found.owner_id })?;
            let now = self.now();
            let tenant = self.tenants.store(org_id).await?;
            // Noted first: the cleanup visits (and finds nothing) if the delete then fails.
            let grace = self.orphan_grace_secs();
            orgs::schedule_file_cleanup(&mut *self.store.conn().await?, org_id, now.plus_secs(grace)).await?;
            self.note_tenant_change(org_id).await?;
            let mut tx = tenant.begin().await?;
            documents::delete(&mut tx, doc, now).await?.ok_or_else(document_not_found)?;
            let entry = AuditEntry::new(AuditAction::DocumentDelete, Some(actor.user_id))
                .org(org_id)
                .resource(doc)
                .before(json!({ "name": found.name, "sha256": found.sha256, "size": found.size }));
            outbox::push(&mut tx, &self.tenant_change(&actor.client, entry)).await?;
            tx.commit().await.map_err(purser_store::StoreError::from)?;
            self.after_tenant_change(org_id).await;
            Ok(())
        })
        .await
    }

    /// A link that downloads the document without a token until it expires: S3's own
    /// pre-signed URL, or on the local backend one that Purser signs and serves. Audited.
    pub async fn document_link(
        &self,
        actor: &Actor,
        org_id: Id,
        doc: Id,
        expires_in: Input<Option<u32>>,
    ) -> Result<DocumentLink> {
        let attempt = AuditEntry::new(AuditAction::DocumentLink, Some(actor.user_id)).org(org_id).resource(doc);
        self.audited(&actor.client, attempt, async {
            let (at, document) = self.readable_document(actor, org_id, doc).await?;
            let proof = self.allow(actor, &at, OrgAction::ReadDocuments)?;
            let secs = expires_in.read(proof)?.unwrap_or(LINK_SECS_DEFAULT);
            let mut v = Validator::new();
            v.range("expiresIn", secs, LINK_SECS_MIN, LINK_SECS_MAX);
            v.finish()?;
            let expires_at = self.now().plus_secs(i64::from(secs));
            let disposition = content_disposition(&document.name);
            let key = file_key(org_id, &document.sha256);
            let url = match self.blobs.presigned_url(&key, Duration::from_secs(u64::from(secs)), &disposition).await? {
                Some(url) => url,
                None => {
                    let expires = expires_at.as_secs();
                    let signature = self.link_signature(org_id, doc, expires);
                    format!(
                        "{}/api/v1/document-links/{org_id}/{doc}?expires={expires}&signature={signature}",
                        self.public_url
                    )
                }
            };
            let entry = AuditEntry::new(AuditAction::DocumentLink, Some(actor.user_id))
                .org(org_id)
                .resource(doc)
                .after(json!({ "name": document.name, "expiresAt": expires_at }));
            self.audit_done(&actor.client, entry).await;
            Ok(DocumentLink { url, expires_at })
        })
        .await
    }

    fn link_signature(&self, org_id: Id, doc: Id, expires: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.link_key).expect("HMAC takes any key length");
        mac.update(format!("{org_id}.{doc}.{expires}").as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The document behind a Purser-signed link, if the link is intact and unexpired
    /// (else 403, whether or not there is such a document: the link is checked before
    /// anything is looked up) and the document still exists in a live organization (else 404).
    pub async fn linked_document(
        &self,
        org_id: Id,
        doc: Id,
        expires: i64,
        signature: &str,
    ) -> Result<(Document, Content)> {
        let refused = |why: &str| Error::new(ErrorKind::Forbidden, "link_invalid", format!("this download link {why}"));
        let expected = self.link_signature(org_id, doc, expires);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes())) {
            return Err(refused("is not valid"));
        }
        if self.now().as_secs() > expires {
            return Err(refused("has expired"));
        }
        let mut conn = self.store.conn().await?;
        orgs::by_id(&mut conn, org_id).await?.ok_or_else(crate::orgs::org_not_found)?;
        drop(conn);
        let tenant = self.tenants.store(org_id).await?;
        let document = documents::get(&mut *tenant.conn().await?, doc).await?.ok_or_else(document_not_found)?;
        let content = Content { blobs: Arc::clone(&self.blobs), key: file_key(org_id, &document.sha256) };
        Ok((document, content))
    }

    pub async fn storage(&self, principal: &Principal, org_id: Id) -> Result<StorageView> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        self.allow(principal, &at, OrgAction::ReadDocuments)?;
        drop(conn);
        let tenant = self.tenants.store(org_id).await?;
        let usage = documents::usage(&mut *tenant.conn().await?).await?;
        Ok(StorageView {
            usage,
            max_storage_bytes: at.org.max_storage_bytes,
            max_upload_bytes: self.documents.max_upload_bytes,
            timestamps_available: self.timestamps_available(),
        })
    }

    /// Files no document names any more (owners and admins), oldest first.
    pub async fn list_orphans(&self, principal: &Principal, org_id: Id) -> Result<Vec<StoredFile>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        self.allow(principal, &at, OrgAction::ManageFiles)?;
        drop(conn);
        let tenant = self.tenants.store(org_id).await?;
        Ok(documents::orphans(&mut *tenant.conn().await?, Timestamp::MAX, 1000).await?)
    }

    /// Removes every orphaned file now, without waiting for the grace period (owners and
    /// admins). Returns how many.
    pub async fn clean_orphans(&self, actor: &Actor, org_id: Id) -> Result<u64> {
        let attempt = AuditEntry::new(AuditAction::FilesClean, Some(actor.user_id)).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut conn = self.store.conn().await?;
            let at = self.in_org(&mut conn, actor, org_id).await?;
            self.allow(actor, &at, OrgAction::ManageFiles)?;
            drop(conn);
            let removed = self.remove_orphans(org_id, self.now().plus_millis(1)).await?;
            let entry = AuditEntry::new(AuditAction::FilesClean, Some(actor.user_id))
                .org(org_id)
                .after(json!({ "removed": removed }));
            self.audit_done(&actor.client, entry).await;
            Ok(removed)
        })
        .await
    }

    /// Removes the organization's files orphaned before `before`: each row is deleted and
    /// then its bytes, in one transaction (a failure to delete the bytes keeps the row).
    async fn remove_orphans(&self, org_id: Id, before: Timestamp) -> Result<u64> {
        let tenant = self.tenants.store(org_id).await?;
        let mut removed = 0;
        loop {
            let batch = documents::orphans(&mut *tenant.conn().await?, before, CLEANUP_BATCH).await?;
            let full = batch.len() == CLEANUP_BATCH as usize;
            for file in batch {
                let mut tx = tenant.begin().await?;
                if documents::remove_orphan(&mut tx, &file.sha256, before).await? {
                    self.blobs.delete(&file.object_key).await?;
                    removed += 1;
                }
                tx.commit().await.map_err(purser_store::StoreError::from)?;
            }
            if !full {
                return Ok(removed);
            }
        }
    }

    /// The background cleanup: in each organization due, removes the files orphaned longer
    /// than the grace period and schedules the next visit for the rest. Returns how many.
    pub async fn clean_due_files(&self) -> Result<u64> {
        let now = self.now();
        let grace = self.orphan_grace_secs();
        let due = orgs::file_cleanups_due(&mut *self.store.conn().await?, now, CLEANUP_BATCH).await?;
        let mut removed = 0;
        for org_id in due {
            removed += self.remove_orphans(org_id, now.plus_secs(-grace)).await?;
            let tenant = self.tenants.store(org_id).await?;
            let next = documents::orphans(&mut *tenant.conn().await?, Timestamp::MAX, 1).await?;
            let next = next.first().and_then(|f| f.orphaned_at).map(|at| at.plus_secs(grace));
            orgs::reschedule_file_cleanup(&mut *self.store.conn().await?, org_id, next).await?;
        }
        // Uploads a crash left in the spool.
        if let Err(e) = self.blobs.sweep_spool(Duration::from_secs(24 * 3600)) {
            tracing::warn!(error = %e, "could not sweep the upload spool");
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        let tricky = content_disposition("a\"b\\c\r\nSet-Cookie: x;é.txt");
        assert!(!tricky.contains('\r') && !tricky.contains('\n'));
        assert!(tricky.starts_with("attachment; filename=\"a_b_c__Set-Cookie: x;_.txt\""), "{tricky}");
        assert!(tricky.ends_with("filename*=UTF-8''a%22b%5Cc%0D%0ASet-Cookie%3A%20x%3B%C3%A9.txt"), "{tricky}");
    }
}
