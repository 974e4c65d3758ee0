//! RFC 3161 trusted timestamps for documents: a time-stamping authority signs the SHA-256
//! of a document's bytes with the time, which proves the bytes existed then. Replies are
//! checked (see [`crate::timestamp_token`]) before they are kept, once per stored file.
//! Organizations that choose so stamp every upload; any document can be stamped on demand.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use purser_domain::{Id, OrgAction, Timestamp};
use purser_tenants::documents;
use rustls_pki_types::TrustAnchor;
use serde_json::json;

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, ErrorKind, Result};
use crate::timestamp_token::{self, VerifiedTimestamp};
use crate::{Actor, Input, Services};

/// Documents stamped in one request at most.
pub const MAX_DOCUMENTS_PER_REQUEST: usize = 1_000;
/// Requests to the authority in flight at once, per stamping request.
const CONCURRENT_REQUESTS: usize = 8;

/// Sends a DER `TimeStampReq` to the authority, answering its DER `TimeStampResp`.
pub trait TimestampAuthority: Send + Sync + 'static {
    fn stamp(&self, query: Vec<u8>) -> BoxFuture<'_, std::result::Result<Vec<u8>, String>>;
}

/// The configured authority and the CAs its certificate must chain to.
pub struct Timestamping {
    pub authority: Arc<dyn TimestampAuthority>,
    pub trust_anchors: Vec<TrustAnchor<'static>>,
}

/// What became of one document of an on-demand request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampOutcome {
    /// Stamped now.
    Timestamped,
    /// Its bytes were stamped already (for it or another document with the same bytes).
    AlreadyTimestamped,
    NotFound,
    Failed,
}

impl StampOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timestamped => "timestamped",
            Self::AlreadyTimestamped => "already_timestamped",
            Self::NotFound => "not_found",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StampResult {
    pub document_id: Id,
    pub outcome: StampOutcome,
    pub timestamped_at: Option<Timestamp>,
    /// Why it failed, for [`StampOutcome::Failed`].
    pub error: Option<String>,
}

/// A document's time-stamp reply, to download.
pub struct TimestampReply {
    pub name: String,
    pub reply: Vec<u8>,
}

fn not_configured() -> Error {
    Error::new(
        ErrorKind::Conflict,
        "timestamps_not_configured",
        "no time-stamping authority is configured on this server",
    )
}

fn stamp_failed(why: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "timestamp_failed",
        format!("the time-stamping authority gave no valid timestamp: {why}"),
    )
}

impl Services {
    /// Whether a time-stamping authority is configured.
    pub fn timestamps_available(&self) -> bool {
        self.timestamping.is_some()
    }

    /// Asks the authority to stamp `sha256` (hex) and checks its reply.
    pub(crate) async fn request_timestamp(&self, sha256: &str) -> std::result::Result<VerifiedTimestamp, String> {
        let timestamping = self.timestamping.as_ref().ok_or("no time-stamping authority is configured")?;
        let digest: [u8; 32] = hex::decode(sha256).ok().and_then(|d| d.try_into().ok()).ok_or("not a SHA-256")?;
        let query = timestamp_token::query(digest);
        let reply = timestamping.authority.stamp(query.der.clone()).await?;
        query.verify(&reply, &timestamping.trust_anchors)
    }

    /// Stamps the bytes of a document being uploaded unless they carry a stamp already;
    /// refused (503) when the authority gives none, so that nothing is stored unstamped.
    pub(crate) async fn timestamp_for_upload(&self, org_id: Id, sha256: &str) -> Result<Option<VerifiedTimestamp>> {
        if self.timestamping.is_none() {
            return Err(not_configured());
        }
        let tenant = self.tenants.store(org_id).await?;
        if documents::timestamp(&mut *tenant.conn().await?, sha256).await?.is_some() {
            return Ok(None);
        }
        self.request_timestamp(sha256).await.map(Some).map_err(|why| {
            tracing::warn!(%org_id, error = %why, "time-stamping an upload failed");
            stamp_failed(&why)
        })
    }

    /// Stamps up to [`MAX_DOCUMENTS_PER_REQUEST`] documents (members and above), each file
    /// once; documents whose bytes carry a stamp already keep it. Audited as one entry.
    pub async fn timestamp_documents(
        &self,
        actor: &Actor,
        org_id: Id,
        document_ids: Input<Vec<Id>>,
    ) -> Result<Vec<StampResult>> {
        let attempt = AuditEntry::new(AuditAction::DocumentTimestamp, Some(actor.user_id)).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut conn = self.store.conn().await?;
            let at = self.in_org(&mut conn, actor, org_id).await?;
            let ids = document_ids.read(self.allow(actor, &at, OrgAction::TimestampDocuments)?)?;
            drop(conn);
            if ids.is_empty() || ids.len() > MAX_DOCUMENTS_PER_REQUEST {
                return Err(Error::invalid_field(
                    "documentIds",
                    format!("must list 1 to {MAX_DOCUMENTS_PER_REQUEST} documents"),
                ));
            }
            if self.timestamping.is_none() {
                return Err(not_configured());
            }
            let tenant = self.tenants.store(org_id).await?;
            // Each document's file, and whether it is stamped already.
            let mut files: BTreeMap<String, Option<Timestamp>> = BTreeMap::new();
            let mut found = Vec::with_capacity(ids.len());
            {
                let mut conn = tenant.conn().await?;
                for id in &ids {
                    let document = documents::get(&mut conn, *id).await?;
                    if let Some(d) = &document {
                        files.insert(d.sha256.clone(), d.timestamped_at);
                    }
                    found.push((*id, document));
                }
            }
            let unstamped: Vec<String> =
                files.iter().filter(|(_, at)| at.is_none()).map(|(sha, _)| sha.clone()).collect();
            let stamped: Vec<(String, std::result::Result<Timestamp, String>)> = stream::iter(unstamped)
                .map(|sha| async move {
                    let outcome = match self.request_timestamp(&sha).await {
                        Ok(stamp) => self.keep_timestamp(org_id, &sha, &stamp).await,
                        Err(why) => Err(why),
                    };
                    (sha, outcome)
                })
                .buffer_unordered(CONCURRENT_REQUESTS)
                .collect()
                .await;
            let stamped: BTreeMap<String, std::result::Result<Timestamp, String>> = stamped.into_iter().collect();
            let results: Vec<StampResult> = found
                .into_iter()
                .map(|(document_id, document)| {
                    let Some(document) = document else {
                        return StampResult {
                            document_id,
                            outcome: StampOutcome::NotFound,
                            timestamped_at: None,
                            error: None,
                        };
                    };
                    match (document.timestamped_at, stamped.get(&document.sha256)) {
                        (Some(at), _) => StampResult {
                            document_id,
                            outcome: StampOutcome::AlreadyTimestamped,
                            timestamped_at: Some(at),
                            error: None,
                        },
                        (None, Some(Ok(at))) => StampResult {
                            document_id,
                            outcome: StampOutcome::Timestamped,
                            timestamped_at: Some(*at),
                            error: None,
                        },
                        (None, Some(Err(why))) => StampResult {
                            document_id,
                            outcome: StampOutcome::Failed,
                            timestamped_at: None,
                            error: Some(why.clone()),
                        },
                        (None, None) => unreachable!("every unstamped file was sent"),
                    }
                })
                .collect();
            let count = |o: StampOutcome| results.iter().filter(|r| r.outcome == o).count();
            let entry = AuditEntry::new(AuditAction::DocumentTimestamp, Some(actor.user_id)).org(org_id).after(json!({
                "requested": ids.len(),
                "timestamped": count(StampOutcome::Timestamped),
                "alreadyTimestamped": count(StampOutcome::AlreadyTimestamped),
                "notFound": count(StampOutcome::NotFound),
                "failed": count(StampOutcome::Failed),
            }));
            self.audit_done(&actor.client, entry).await;
            Ok(results)
        })
        .await
    }

    /// Keeps a checked reply for a file; the time it attests (or the one kept already, if
    /// another request stamped the file meanwhile).
    async fn keep_timestamp(
        &self,
        org_id: Id,
        sha256: &str,
        stamp: &VerifiedTimestamp,
    ) -> std::result::Result<Timestamp, String> {
        let kept = async {
            let tenant = self.tenants.store(org_id).await?;
            let mut conn = tenant.conn().await?;
            let at = stamp.gen_time();
            documents::set_timestamp(&mut conn, sha256, &stamp.reply, at).await?;
            let kept = documents::timestamp(&mut conn, sha256).await?;
            Ok::<_, Error>(kept.map_or(at, |(_, at)| at))
        };
        kept.await.map_err(|e| e.message)
    }

    /// A document's time-stamp reply (`.tsr`), for anyone who may read the document.
    pub async fn document_timestamp(
        &self,
        principal: &purser_domain::Principal,
        org_id: Id,
        doc: Id,
    ) -> Result<TimestampReply> {
        let (_, document) = self.readable_document(principal, org_id, doc).await?;
        let tenant = self.tenants.store(org_id).await?;
        let (reply, _) = documents::timestamp(&mut *tenant.conn().await?, &document.sha256)
            .await?
            .ok_or_else(|| Error::not_found("timestamp_not_found", "timestamp"))?;
        Ok(TimestampReply { name: format!("{}.tsr", document.name), reply })
    }
}
