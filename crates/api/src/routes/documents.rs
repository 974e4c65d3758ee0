//! `/api/v1/organizations/{org}/documents`: uploads (multipart, streamed), listing, reading,
//! renaming and deleting documents, downloads with ranges, download links; the storage
//! used, and the orphaned files for admins. `/api/v1/document-links/...` serves the links
//! Purser signs itself.

use std::ops::Range;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use purser_domain::document::{Document, DocumentQuery};
use purser_services::documents::{Content, Upload, UploadDetails, content_disposition};
use purser_services::{Error, ErrorKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    DocumentDto, DocumentLinkDto, DocumentUploadForm, OrphanedFileDto, OrphansRemovedDto, Paginated,
    RenameDocumentRequest, StorageDto, TimestampDocumentsDto, TimestampDocumentsRequest, UploadedDocumentDto,
};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Auth, IdPair, IdPath, JsonBody, QueryParams, page_request};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_document, list_documents))
        .routes(routes!(get_document, rename_document, delete_document))
        .routes(routes!(download_document))
        .routes(routes!(document_link))
        .routes(routes!(timestamp_documents))
        .routes(routes!(download_timestamp))
        .routes(routes!(storage))
        .routes(routes!(list_orphans, remove_orphans))
        .routes(routes!(linked_download))
}

/// `?page=&limit=&search=&mimeType=&sort=`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DocumentListParams {
    page: Option<u32>,
    /// 1 to 100, default 20.
    limit: Option<u32>,
    /// Text in the name, any case.
    search: Option<String>,
    /// Only documents of this type.
    mime_type: Option<String>,
    /// `-createdAt` (default), `createdAt`, `name`, `-name`, `-size` or `size`.
    sort: Option<String>,
}

/// `?expiresIn=`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LinkParams {
    /// Seconds the link works, 60 to 86400 (default 3600).
    expires_in: Option<u32>,
}

/// The largest `name` part accepted beside the file.
const NAME_PART_BYTES: u64 = 4096;

fn multipart_error(e: multer::Error) -> Error {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. } => Error::malformed(
            "invalid_multipart",
            field_name,
            format!("a form field other than file may hold at most {NAME_PART_BYTES} bytes"),
        ),
        other => Error::malformed("invalid_multipart", None, format!("the multipart body is unreadable: {other}")),
    }
}

fn refused_part(field: Option<String>, message: &str) -> Error {
    Error::malformed("invalid_multipart", field, message.to_owned())
}

/// Upload a document: `multipart/form-data` with the file in the part `file` (its
/// `Content-Type` is the document's type; its file name the default name) and an optional
/// `name`. The file is streamed to storage; bytes the organization stores already are not
/// stored again (`deduplicated`). Members, admins and owners.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/documents", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    request_body(content = DocumentUploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = UploadedDocumentDto),
        (status = 400, description = "Not a readable multipart body, no file, two files, or an unknown part", body = Problem),
        (status = 403, description = "Viewers cannot upload", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
        (status = 413, description = "Larger than the upload limit or the storage quota left", body = Problem),
        (status = 415, description = "Not multipart, or a type the organization does not accept", body = Problem),
        (status = 422, description = "Empty file, bad name, or content that is not of the declared type", body = Problem),
    )
)]
async fn upload_document(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    request: Request,
) -> ApiResult<(StatusCode, Json<UploadedDocumentDto>)> {
    let uploaded = state.services.upload_document(&actor, org, |upload| receive(request, upload)).await?;
    let body = UploadedDocumentDto { document: uploaded.document.into(), deduplicated: uploaded.deduplicated };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Reads the multipart body into the upload, once the caller may upload: the `file` part's
/// bytes as they arrive, its name and type, and the optional `name` part.
async fn receive(request: Request, mut upload: Upload) -> Result<(Upload, UploadDetails), Error> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        Error::new(ErrorKind::UnsupportedMedia, "unsupported_media_type", "send the file as multipart/form-data")
    })?;
    let declared_length =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    // The form's own overhead (boundaries, part headers, the name) on top of the file.
    if declared_length.is_some_and(|n| n > upload.max_bytes().saturating_add(64 * 1024)) {
        return Err(Error::new(
            ErrorKind::TooLarge,
            "file_too_large",
            format!("the file is larger than the {} bytes allowed", upload.max_bytes()),
        ));
    }
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().for_field("name", NAME_PART_BYTES).per_field(u64::MAX));
    let mut parts = multer::Multipart::with_constraints(request.into_body().into_data_stream(), boundary, constraints);
    let mut details = UploadDetails::default();
    let mut has_file = false;
    while let Some(mut part) = parts.next_field().await.map_err(multipart_error)? {
        match part.name() {
            Some("file") if has_file => return Err(refused_part(Some("file".into()), "send one file per upload")),
            Some("file") => {
                has_file = true;
                // Browsers send the base name; some clients a path.
                details.filename = part
                    .file_name()
                    .and_then(|n| n.rsplit(['/', '\\']).next())
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned);
                // As sent: a type that does not parse is refused, not taken as missing.
                details.content_type = part
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                while let Some(chunk) = part.chunk().await.map_err(multipart_error)? {
                    upload.write(&chunk).await?;
                }
            }
            Some("name") if details.name.is_some() => {
                return Err(refused_part(Some("name".into()), "send the name once"));
            }
            Some("name") => details.name = Some(part.text().await.map_err(multipart_error)?),
            other => {
                return Err(refused_part(other.map(str::to_owned), "only the parts file and name are read"));
            }
        }
    }
    if !has_file {
        return Err(refused_part(Some("file".into()), "the part file is missing"));
    }
    Ok((upload, details))
}

/// The organization's documents: newest first unless `sort` says otherwise, filtered by
/// name (`search`) and type (`mimeType`).
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/documents", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), DocumentListParams),
    responses(
        (status = 200, description = "One page of documents", body = Paginated<DocumentDto>),
        (status = 400, description = "A bad query parameter", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn list_documents(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    QueryParams(q): QueryParams<DocumentListParams>,
) -> ApiResult<Json<Paginated<DocumentDto>>> {
    let documents = state.services.list_documents(&actor, org, q.and_then(document_query)).await?;
    Ok(Json(Paginated::from_page(documents, Into::into)))
}

/// The page and filters asked for.
fn document_query(p: DocumentListParams) -> Result<(DocumentQuery, purser_domain::page::PageRequest), Error> {
    let page = page_request(p.page, p.limit)?;
    let sort = match p.sort.as_deref() {
        None => Default::default(),
        Some(s) => s.parse().map_err(|e: String| {
            Error::malformed("invalid_query", Some("sort".into()), format!("query parameter sort: {e}"))
        })?,
    };
    Ok((DocumentQuery { search: p.search.filter(|s| !s.is_empty()), mime_type: p.mime_type, sort }, page))
}

/// One document.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/documents/{doc}", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("doc" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document", body = DocumentDto),
        (status = 404, description = "No such document or organization, or not yours", body = Problem),
    )
)]
async fn get_document(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, doc): IdPair,
) -> ApiResult<Json<DocumentDto>> {
    Ok(Json(state.services.get_document(&actor, org, doc).await?.into()))
}

/// Rename a document (its uploader, admins and owners).
#[utoipa::path(
    patch, path = "/api/v1/organizations/{org}/documents/{doc}", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("doc" = String, Path, description = "Document id")),
    request_body = RenameDocumentRequest,
    responses(
        (status = 200, description = "Renamed", body = DocumentDto),
        (status = 403, description = "Not yours to rename", body = Problem),
        (status = 404, description = "No such document or organization, or not yours", body = Problem),
        (status = 422, description = "Invalid name", body = Problem),
    )
)]
async fn rename_document(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, doc): IdPair,
    JsonBody(b): JsonBody<RenameDocumentRequest>,
) -> ApiResult<Json<DocumentDto>> {
    let renamed = state.services.rename_document(&actor, org, doc, b.map(|b| b.name)).await?;
    Ok(Json(renamed.into()))
}

/// Delete a document (its uploader, admins and owners). Its bytes are removed later, once
/// no document names them.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/documents/{doc}", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("doc" = String, Path, description = "Document id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not yours to delete", body = Problem),
        (status = 404, description = "No such document or organization, or not yours", body = Problem),
    )
)]
async fn delete_document(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, doc): IdPair,
) -> ApiResult<StatusCode> {
    state.services.delete_document(&actor, org, doc).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Download a document's bytes, streamed, with `Range` (one range), `ETag` and
/// `If-None-Match`.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/documents/{doc}/content", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("doc" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "The bytes", content_type = "*/*"),
        (status = 206, description = "The range asked for", content_type = "*/*"),
        (status = 304, description = "Unchanged (If-None-Match)"),
        (status = 404, description = "No such document or organization, or not yours", body = Problem),
        (status = 416, description = "The range is outside the file", body = Problem),
    )
)]
async fn download_document(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, doc): IdPair,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (document, content) = state.services.document_content(&actor, org, doc).await?;
    serve(&document, content, &headers).await
}

/// A link that downloads the document without signing in, until it expires
/// (`expiresIn` seconds, 60 to 86400, default 3600). Every link issued is audited.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/documents/{doc}/download-url", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("doc" = String, Path, description = "Document id"), LinkParams),
    responses(
        (status = 200, description = "The link", body = DocumentLinkDto),
        (status = 404, description = "No such document or organization, or not yours", body = Problem),
        (status = 422, description = "expiresIn out of range", body = Problem),
    )
)]
async fn document_link(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, doc): IdPair,
    QueryParams(q): QueryParams<LinkParams>,
) -> ApiResult<Json<DocumentLinkDto>> {
    let link = state.services.document_link(&actor, org, doc, q.map(|q| q.expires_in)).await?;
    Ok(Json(DocumentLinkDto { url: link.url, expires_at: link.expires_at }))
}

/// Time-stamp documents (RFC 3161; members and above): the configured authority signs the
/// SHA-256 of each document's bytes with the time. Bytes stamped already keep their stamp.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/documents/timestamps", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    request_body = TimestampDocumentsRequest,
    responses(
        (status = 200, description = "What became of each document", body = TimestampDocumentsDto),
        (status = 403, description = "Viewers cannot", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
        (status = 409, description = "No time-stamping authority is configured", body = Problem),
        (status = 422, description = "Not 1 to 1,000 documents", body = Problem),
    )
)]
async fn timestamp_documents(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    JsonBody(b): JsonBody<TimestampDocumentsRequest>,
) -> ApiResult<Json<TimestampDocumentsDto>> {
    let results = state.services.timestamp_documents(&actor, org, b.map(|b| b.document_ids)).await?;
    Ok(Json(results.into()))
}

/// The document's RFC 3161 time-stamp reply (`TimeStampResp`, DER), as `openssl ts -verify
/// -in` reads it.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/documents/{doc}/timestamp.tsr", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("doc" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "The reply", content_type = "application/timestamp-reply"),
        (status = 404, description = "No such document, not yours, or not time-stamped", body = Problem),
    )
)]
async fn download_timestamp(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, doc): IdPair,
) -> ApiResult<Response> {
    let reply = state.services.document_timestamp(&actor, org, doc).await?;
    let disposition = HeaderValue::from_str(&content_disposition(&reply.name)).map_err(Error::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/timestamp-reply")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        reply.reply,
    )
        .into_response())
}

/// What the organization stores: documents, files, bytes, and bytes saved by storing each
/// file once.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/storage", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Storage use", body = StorageDto),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn storage(State(state): State<AppState>, Auth(actor): Auth, IdPath(org): IdPath) -> ApiResult<Json<StorageDto>> {
    Ok(Json(state.services.storage(&actor, org).await?.into()))
}

/// Files no document names any more, waiting for the cleanup (admins and owners).
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/orphaned-files", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The orphaned files, oldest first (at most 1000)", body = Vec<OrphanedFileDto>),
        (status = 403, description = "Admins and owners only", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn list_orphans(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
) -> ApiResult<Json<Vec<OrphanedFileDto>>> {
    let files = state.services.list_orphans(&actor, org).await?;
    Ok(Json(files.into_iter().map(Into::into).collect()))
}

/// Remove every orphaned file now instead of after the grace period (admins and owners).
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/orphaned-files", tag = "documents",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "How many were removed", body = OrphansRemovedDto),
        (status = 403, description = "Admins and owners only", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn remove_orphans(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
) -> ApiResult<Json<OrphansRemovedDto>> {
    Ok(Json(OrphansRemovedDto { removed: state.services.clean_orphans(&actor, org).await? }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SignedLinkParams {
    /// Unix time (seconds) the link expires.
    expires: i64,
    signature: String,
}

/// A download link signed by Purser (local storage): works without signing in until it
/// expires; a tampered or expired link is 403, one whose query cannot be read 400.
#[utoipa::path(
    get, path = "/api/v1/document-links/{org}/{doc}", tag = "documents",
    params(("org" = String, Path, description = "Organization id"), ("doc" = String, Path, description = "Document id"), SignedLinkParams),
    responses(
        (status = 200, description = "The bytes", content_type = "*/*"),
        (status = 206, description = "The range asked for", content_type = "*/*"),
        (status = 403, description = "Tampered with or expired", body = Problem),
        (status = 404, description = "The document is gone", body = Problem),
    )
)]
async fn linked_download(
    State(state): State<AppState>,
    IdPair(org, doc): IdPair,
    QueryParams(q): QueryParams<SignedLinkParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // The link is its own authorization; a query that cannot be read is 400 as anywhere.
    let q = q.read(purser_domain::Authorized::public())?;
    let (document, content) = state.services.linked_document(org, doc, q.expires, &q.signature).await?;
    serve(&document, content, &headers).await
}

/// What `Range` asks for: nothing (the whole file), a satisfiable range, or one outside
/// the file. Only single ranges are served; anything else is answered with the whole file,
/// as RFC 9110 allows.
#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    Whole,
    Part(Range<u64>),
    Unsatisfiable,
}

fn requested_range(header: Option<&HeaderValue>, size: u64) -> Ranged {
    let Some(spec) = header.and_then(|v| v.to_str().ok()).and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ranged::Whole;
    };
    let Some((start, end)) = spec.trim().split_once('-') else { return Ranged::Whole };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    match (start.trim().is_empty(), parse(start), parse(end)) {
        // `-n`: the last n bytes.
        (true, _, Some(n)) if n > 0 && size > 0 => Ranged::Part(size.saturating_sub(n)..size),
        (true, _, Some(_)) => Ranged::Unsatisfiable,
        // `first-last` with last before first is not a valid range: ignored.
        (false, Some(first), last) if end.trim().is_empty() || last.is_some_and(|l| l >= first) => {
            let last = last.unwrap_or(u64::MAX).min(size.saturating_sub(1));
            if first >= size { Ranged::Unsatisfiable } else { Ranged::Part(first..last + 1) }
        }
        _ => Ranged::Whole,
    }
}

/// Answers with a document's bytes: conditional on its ETag, a range of them if asked,
/// and headers that keep a browser from running or sniffing them.
async fn serve(document: &Document, content: Content, headers: &HeaderMap) -> ApiResult<Response> {
    let etag = format!("\"{}\"", document.sha256);
    let etag_value = HeaderValue::from_str(&etag).map_err(Error::internal)?;
    let matches = |v: &HeaderValue| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|t| matches!(t.trim().trim_start_matches("W/"), t if t == etag || t == "*"))
        })
    };
    if headers.get(header::IF_NONE_MATCH).is_some_and(matches) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    // A range of another version of the file is no use: `If-Range` must name this one.
    let range_applies = headers.get(header::IF_RANGE).is_none_or(|v| v.as_bytes() == etag.as_bytes());
    let ranged = if range_applies { requested_range(headers.get(header::RANGE), document.size) } else { Ranged::Whole };
    let (status, range) = match ranged {
        Ranged::Whole => (StatusCode::OK, None),
        Ranged::Part(r) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        Ranged::Unsatisfiable => {
            let error = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the file has {} bytes", document.size),
            );
            let unsatisfied = HeaderValue::from_str(&format!("bytes */{}", document.size)).map_err(Error::internal)?;
            return Err(error.with_headers(vec![(header::CONTENT_RANGE, unsatisfied)]));
        }
    };
    let length = range.as_ref().map_or(document.size, |r| r.end - r.start);
    let content_range = range.as_ref().map(|r| format!("bytes {}-{}/{}", r.start, r.end - 1, document.size));
    let stream = content.read(range).await?;
    let mut response = Response::new(Body::from_stream(stream.map_err(axum::Error::new)));
    *response.status_mut() = status;
    let h = response.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).map_err(Error::internal);
    h.insert(header::CONTENT_TYPE, value(&document.mime_type)?);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::CONTENT_DISPOSITION, value(&content_disposition(&document.name))?);
    h.insert(header::ETAG, etag_value);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Whatever the type, the bytes never run as a page of Purser's origin.
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    if let Some(content_range) = content_range {
        h.insert(header::CONTENT_RANGE, value(&content_range)?);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(spec: &str, size: u64) -> Ranged {
        requested_range(Some(&HeaderValue::from_str(spec).unwrap()), size)
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(requested_range(None, 10), Ranged::Whole);
        assert_eq!(range("bytes=0-0", 10), Ranged::Part(0..1));
        assert_eq!(range("bytes=2-5", 10), Ranged::Part(2..6));
        assert_eq!(range("bytes=2-", 10), Ranged::Part(2..10));
        assert_eq!(range("bytes=5-100", 10), Ranged::Part(5..10));
        assert_eq!(range("bytes=-3", 10), Ranged::Part(7..10));
        assert_eq!(range("bytes=-30", 10), Ranged::Part(0..10));
        assert_eq!(range("bytes=10-", 10), Ranged::Unsatisfiable);
        assert_eq!(range("bytes=10-20", 10), Ranged::Unsatisfiable);
        assert_eq!(range("bytes=-0", 10), Ranged::Unsatisfiable);
        assert_eq!(range("bytes=5-2", 10), Ranged::Whole);
        // Several ranges, other units and nonsense: the whole file.
        assert_eq!(range("bytes=0-1,4-5", 10), Ranged::Whole);
        assert_eq!(range("items=0-1", 10), Ranged::Whole);
        assert_eq!(range("bytes=a-b", 10), Ranged::Whole);
        assert_eq!(range("bytes=5", 10), Ranged::Whole);
    }
}
