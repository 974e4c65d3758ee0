//! Documents over HTTP: upload, deduplication, listing, downloads with ranges, links that
//! work without a token and then expire, roles, the orphan cleanup, quotas and every kind
//! of bad upload; on SQLite with local files, on PostgreSQL with local files and with a
//! real S3 server.

use std::sync::Arc;

use purser_domain::ManualClock;
use purser_store::Backend;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{BOUNDARY, Options, Part, Session, T0, TestApp, multipart};
use crate::orgs::{join, org_with_owner};
use crate::s3::{S3Server, files_under};

const TEXT: &[u8] = b"Quarterly figures\nrevenue,42\ncosts,17\n";
const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where the app keeps files, to count what is really stored.
enum Storage {
    Local,
    S3(S3Server),
}

impl Storage {
    async fn start(s3: bool) -> Self {
        if s3 { Self::S3(S3Server::start().await) } else { Self::Local }
    }

    /// Keys of every stored file (spooled uploads excluded).
    fn stored(&self, app: &TestApp) -> Vec<String> {
        match self {
            Self::Local => {
                let root = app.data_dir().join("files");
                files_under(&root)
                    .into_iter()
                    .map(|p| p.strip_prefix(&root).unwrap().to_string_lossy().into_owned())
                    .filter(|k| !k.starts_with("spool/"))
                    .collect()
            }
            Self::S3(server) => server.objects(),
        }
    }

    fn spooled(&self, app: &TestApp) -> usize {
        let dir = match self {
            Self::Local => app.data_dir().join("files").join("spool"),
            Self::S3(_) => app.data_dir().join("spool"),
        };
        files_under(&dir).len()
    }
}

async fn start(backend: Backend, s3: bool, clock: Arc<ManualClock>) -> (TestApp, Storage) {
    let storage = Storage::start(s3).await;
    // The S3 settings, when the files go to S3.
    let s3_settings = match &storage {
        Storage::S3(server) => {
            let mut config = purser::config::Config::default();
            server.configure(&mut config);
            Some(config.storage)
        }
        Storage::Local => None,
    };
    let options = Options {
        clock: Some(clock),
        tweak: Box::new(move |c| {
            if let Some(storage) = &s3_settings {
                c.storage = storage.clone();
            }
            c.storage.orphan_grace_secs = 600;
        }),
        ..Options::default()
    };
    (TestApp::start_with(backend, options).await, storage)
}

fn docs(org: &str) -> String {
    format!("/api/v1/organizations/{org}/documents")
}

fn names(page: &Value) -> Vec<&str> {
    page["data"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect()
}

/// GET without a token (a browser following a link), returning status, headers and bytes.
async fn fetch(url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

async fn download(
    app: &TestApp,
    token: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = app.http.get(format!("{}{path}", app.base)).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// The whole journey of documents in one organization, as its people see it.
async fn journey(backend: Backend, s3: bool) {
    let clock = Arc::new(ManualClock::new(T0));
    let (app, storage) = start(backend, s3, Arc::clone(&clock)).await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Docs").await;
    let member = join(&app, &owner, &org, "member@example.com", "member").await;
    let viewer = join(&app, &owner, &org, "viewer@example.com", "viewer").await;
    let stranger = app.verified_user("stranger@example.com").await;

    // Upload, then the same bytes again under another name: stored once.
    let first = app.upload(&owner.token, &org, "figures.csv", "text/csv", TEXT).await.expect(201);
    assert_eq!(first["deduplicated"], false);
    let doc = &first["document"];
    assert_eq!((doc["name"].as_str(), doc["mimeType"].as_str()), (Some("figures.csv"), Some("text/csv")));
    assert_eq!(doc["size"], TEXT.len());
    assert_eq!(doc["sha256"], sha256(TEXT));
    assert_eq!(doc["md5"].as_str().unwrap().len(), 32);
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let parts = [
        Part { name: "name", filename: None, content_type: None, bytes: "copy of figures.csv".as_bytes() },
        Part { name: "file", filename: Some("whatever.csv"), content_type: Some("text/csv"), bytes: TEXT },
    ];
    let copy = app.upload_parts(&member.token, &org, &parts).await.expect(201);
    assert_eq!(copy["deduplicated"], true);
    assert_eq!(copy["document"]["name"], "copy of figures.csv");
    let copy_id = copy["document"]["id"].as_str().unwrap().to_owned();
    let sha = sha256(TEXT);
    let key = format!("tenants/{org}/files/{}/{}/{sha}", &sha[..2], &sha[2..4]);
    assert_eq!(storage.stored(&app), vec![key.clone()], "one file stored, under its sharded key");
    app.upload(&member.token, &org, "report.pdf", "application/pdf", PDF).await.expect(201);

    let used = app.get(&format!("/api/v1/organizations/{org}/storage"), Some(&viewer.token)).await.expect(200);
    assert_eq!((used["documents"].as_u64(), used["files"].as_u64()), (Some(3), Some(2)));
    assert_eq!(used["bytesStored"], TEXT.len() + PDF.len());
    assert_eq!(used["bytesSaved"], TEXT.len());

    // Lists: search, type filter, orders, pages.
    let all = app.get(&docs(&org), Some(&viewer.token)).await.expect(200);
    assert_eq!(all["pagination"]["total"], 3);
    assert_eq!(names(&all), ["report.pdf", "copy of figures.csv", "figures.csv"], "newest first");
    let found = app.get(&format!("{}?search=COPY", docs(&org)), Some(&viewer.token)).await.expect(200);
    assert_eq!(names(&found), ["copy of figures.csv"]);
    let pdfs = app.get(&format!("{}?mimeType=application/pdf", docs(&org)), Some(&viewer.token)).await.expect(200);
    assert_eq!(names(&pdfs), ["report.pdf"]);
    let by_name = app.get(&format!("{}?sort=name&limit=2&page=2", docs(&org)), Some(&viewer.token)).await.expect(200);
    assert_eq!(names(&by_name), ["report.pdf"]);
    let bad_sort = app.get(&format!("{}?sort=owner", docs(&org)), Some(&viewer.token)).await;
    assert_eq!((bad_sort.status.as_u16(), bad_sort.code()), (400, "invalid_query"));

    // Downloads: whole, ranges, conditional.
    let content = format!("{}/{doc_id}/content", docs(&org));
    let (status, headers, bytes) = download(&app, &viewer.token, &content, &[]).await;
    assert_eq!((status, bytes.as_slice()), (200, TEXT));
    assert_eq!(headers["content-type"], "text/csv");
    assert_eq!(headers["etag"], format!("\"{sha}\"").as_str());
    assert_eq!(headers["content-disposition"], "attachment; filename=\"figures.csv\"; filename*=UTF-8''figures.csv");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let (status, headers, bytes) = download(&app, &viewer.token, &content, &[("range", "bytes=0-9")]).await;
    assert_eq!((status, bytes.as_slice()), (206, &TEXT[..10]));
    assert_eq!(headers["content-range"], format!("bytes 0-9/{}", TEXT.len()).as_str());
    let (status, _, bytes) = download(&app, &viewer.token, &content, &[("range", "bytes=-4")]).await;
    assert_eq!((status, bytes.as_slice()), (206, &TEXT[TEXT.len() - 4..]));
    let (status, headers, _) = download(&app, &viewer.token, &content, &[("range", "bytes=9999-")]).await;
    assert_eq!(status, 416);
    assert_eq!(headers["content-range"], format!("bytes */{}", TEXT.len()).as_str());
    let etag = format!("\"{sha}\"");
    let (status, _, bytes) = download(&app, &viewer.token, &content, &[("if-none-match", &etag)]).await;
    assert_eq!((status, bytes.len()), (304, 0));

    // Links: work without a token, refuse tampering, expire; each issued is audited.
    let link_path = format!("{}/{doc_id}/download-url", docs(&org));
    for bad in ["59", "86401", "-1", "soon"] {
        let reply = app.get(&format!("{link_path}?expiresIn={bad}"), Some(&viewer.token)).await;
        assert!(matches!(reply.status.as_u16(), 400 | 422), "expiresIn={bad}: {}", reply.body);
    }
    let link = app.get(&format!("{link_path}?expiresIn=60"), Some(&viewer.token)).await.expect(200);
    let mut url = link["url"].as_str().unwrap().to_owned();
    match &storage {
        Storage::S3(server) => {
            assert!(url.starts_with(&server.public_endpoint), "signed for the public endpoint: {url}")
        }
        // Links are made with `server.public_url`, which the tests leave at its default.
        Storage::Local => {
            let path = url.strip_prefix("http://127.0.0.1:8080").expect("a link under the public URL").to_owned();
            assert!(path.starts_with("/api/v1/document-links/"), "{url}");
            url = format!("{}{path}", app.base);
        }
    }
    let (status, headers, bytes) = fetch(&url).await;
    assert_eq!((status, bytes.as_slice()), (200, TEXT), "{url}");
    assert!(headers["content-disposition"].to_str().unwrap().contains("figures.csv"));
    let (status, _, _) = fetch(&tamper(&url)).await;
    assert_eq!(status, 403, "a tampered link: {url}");
    let audit = app
        .get(&format!("/api/v1/organizations/{org}/audit-logs?action=document.link"), Some(&owner.token))
        .await
        .expect(200);
    let issued: Vec<&Value> = audit["data"].as_array().unwrap().iter().filter(|e| e["success"] == true).collect();
    assert_eq!((issued.len(), audit["pagination"]["total"].as_u64()), (1, Some(5)), "one link issued, four refused");
    if !s3 {
        // A link moved to another organization or document, real or not, is refused alike:
        // the signature is checked before anything is looked up.
        for moved in [
            url.replace(&format!("/{org}/"), &format!("/{}/", stranger.id)),
            url.replace(&format!("/{doc_id}?"), &format!("/{copy_id}?")),
            url.replace(&format!("/{doc_id}?"), "/4242424242?"),
        ] {
            let (status, _, body) = fetch(&moved).await;
            assert_eq!(status, 403, "{moved}: {}", String::from_utf8_lossy(&body));
        }
        clock.advance_secs(61);
        let (status, _, body) = fetch(&url).await;
        assert_eq!(status, 403, "an expired link: {}", String::from_utf8_lossy(&body));
    }

    // Roles: viewers read only; members manage their own; admins and owners all.
    let viewer_upload = app.upload(&viewer.token, &org, "v.txt", "text/plain", b"viewer").await;
    assert_eq!(viewer_upload.status, 403);
    let own = format!("{}/{doc_id}", docs(&org));
    let theirs = format!("{}/{copy_id}", docs(&org));
    assert_eq!(app.patch(&own, Some(&viewer.token), json!({ "name": "x.csv" })).await.status, 403);
    assert_eq!(app.delete(&own, Some(&viewer.token)).await.status, 403);
    assert_eq!(app.patch(&own, Some(&member.token), json!({ "name": "x.csv" })).await.status, 403);
    assert_eq!(app.delete(&own, Some(&member.token)).await.status, 403);
    let renamed = app.patch(&theirs, Some(&member.token), json!({ "name": "mine.csv" })).await.expect(200);
    assert_eq!(renamed["name"], "mine.csv");
    let long = "n".repeat(256);
    for bad in ["../etc/passwd", "a\\b", "", "   ", "a\u{0}b", long.as_str()] {
        let reply = app.patch(&theirs, Some(&member.token), json!({ "name": bad })).await;
        assert_eq!(reply.status, 422, "{bad:?}: {}", reply.body);
    }
    for path in
        [docs(&org), own.clone(), content.clone(), link_path.clone(), format!("/api/v1/organizations/{org}/storage")]
    {
        let reply = app.get(&path, Some(&stranger.token)).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (404, "organization_not_found"), "{path}");
    }
    assert_eq!(app.get(&format!("/api/v1/organizations/{org}/orphaned-files"), Some(&member.token)).await.status, 403);

    // Deleting: the bytes stay while a document names them; then they are an orphan, which
    // a new upload of the same bytes rescues, and which the cleanup removes after its grace.
    app.delete(&theirs, Some(&owner.token)).await.expect(204);
    assert_eq!(app.get(&theirs, Some(&owner.token)).await.code(), "document_not_found");
    app.delete(&own, Some(&owner.token)).await.expect(204);
    let orphans = app.get(&format!("/api/v1/organizations/{org}/orphaned-files"), Some(&owner.token)).await.expect(200);
    assert_eq!(orphans.as_array().unwrap().len(), 1);
    assert_eq!(orphans[0]["sha256"], sha);
    let again = app.upload(&member.token, &org, "again.csv", "text/csv", TEXT).await.expect(201);
    assert_eq!(again["deduplicated"], true, "the orphan's bytes were still stored");
    let orphans = app.get(&format!("/api/v1/organizations/{org}/orphaned-files"), Some(&owner.token)).await.expect(200);
    assert_eq!(orphans, json!([]));
    app.delete(&format!("{}/{}", docs(&org), again["document"]["id"].as_str().unwrap()), Some(&member.token))
        .await
        .expect(204);
    assert_eq!(app.services.clean_due_files().await.unwrap(), 0, "not before the grace period");
    assert_eq!(storage.stored(&app).len(), 2);
    clock.advance_secs(601);
    assert_eq!(app.services.clean_due_files().await.unwrap(), 1);
    assert_eq!(storage.stored(&app).len(), 1, "only the PDF is left");
    let used = app.get(&format!("/api/v1/organizations/{org}/storage"), Some(&owner.token)).await.expect(200);
    assert_eq!((used["documents"].as_u64(), used["files"].as_u64()), (Some(1), Some(1)));

    // Admins can also remove orphans at once.
    let pdf = app.get(&docs(&org), Some(&owner.token)).await.expect(200)["data"][0]["id"].as_str().unwrap().to_owned();
    app.delete(&format!("{}/{pdf}", docs(&org)), Some(&owner.token)).await.expect(204);
    let removed = app
        .call(Method::DELETE, &format!("/api/v1/organizations/{org}/orphaned-files"), Some(&owner.token), None)
        .await
        .expect(200);
    assert_eq!(removed["removed"], 1);
    assert_eq!(storage.stored(&app), Vec::<String>::new());
    assert_eq!(storage.spooled(&app), 0, "no upload left in the spool");

    for action in ["document.upload", "document.rename", "document.delete", "file.clean"] {
        let audit = app
            .get(&format!("/api/v1/organizations/{org}/audit-logs?action={action}"), Some(&owner.token))
            .await
            .expect(200);
        assert!(audit["pagination"]["total"].as_u64().unwrap() >= 1, "{action} is audited");
    }
}

/// The same link with one character of its signature changed.
fn tamper(url: &str) -> String {
    let at = url.find("ignature=").expect("a signature") + "ignature=".len();
    let mut chars: Vec<char> = url.chars().collect();
    chars[at] = if chars[at] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_on_sqlite_with_local_files() {
    journey(Backend::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_on_postgres_with_local_files() {
    journey(Backend::Postgres, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_on_postgres_with_s3() {
    journey(Backend::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_on_sqlite_with_s3() {
    journey(Backend::Sqlite, true).await;
}

/// S3 checks its pre-signed links' expiry against its own clock: this waits it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_links_expire() {
    let (app, _storage) = start(Backend::Sqlite, true, Arc::new(ManualClock::new(T0))).await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Docs").await;
    let doc = app.upload(&owner.token, &org, "a.txt", "text/plain", TEXT).await.expect(201);
    let path = format!("{}/{}/download-url?expiresIn=60", docs(&org), doc["document"]["id"].as_str().unwrap());
    let url = app.get(&path, Some(&owner.token)).await.expect(200)["url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&url).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_secs(62)).await;
    assert_eq!(fetch(&url).await.0, 403, "the link has expired");
}

/// A body sent in pieces with no length, failing after `fail_after` bytes when set.
fn streamed(body: Vec<u8>, fail_after: Option<usize>) -> reqwest::Body {
    let cut = fail_after.unwrap_or(body.len());
    let mut chunks: Vec<Result<Vec<u8>, std::io::Error>> = body[..cut].chunks(4096).map(|c| Ok(c.to_vec())).collect();
    if fail_after.is_some() {
        chunks.push(Err(std::io::Error::other("the client went away")));
    }
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

async fn post_body(app: &TestApp, session: &Session, org: &str, body: reqwest::Body) -> Result<u16, reqwest::Error> {
    let response = app
        .http
        .post(format!("{}{}", app.base, docs(org)))
        .bearer_auth(&session.token)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

both! {
    async fn bad_uploads_are_refused_clearly_and_leave_nothing_behind(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "owner@example.com", "Docs").await;
        let file = |name: &'static str, content_type: &'static str, bytes: &'static [u8]| Part { name: "file", filename: Some(name), content_type: Some(content_type), bytes };
        let name = |bytes: &'static [u8]| Part { name: "name", filename: None, content_type: None, bytes };
        let cases: Vec<(&str, Vec<Part>, u16, &str)> = vec![
            ("no file", vec![name(b"lonely")], 400, "invalid_multipart"),
            ("two files", vec![file("a.txt", "text/plain", b"a"), file("b.txt", "text/plain", b"b")], 400, "invalid_multipart"),
            ("an unknown part", vec![Part { name: "owner", filename: None, content_type: None, bytes: b"1" }, file("a.txt", "text/plain", b"a")], 400, "invalid_multipart"),
            ("a path in the name", vec![name(b"../../etc/passwd"), file("a.txt", "text/plain", b"a")], 422, "validation_failed"),
            ("a NUL in the name", vec![name(b"a\0b.txt"), file("a.txt", "text/plain", b"a")], 422, "validation_failed"),
            ("an empty file", vec![file("empty.txt", "text/plain", b"")], 422, "validation_failed"),
            ("a PDF that says it is text", vec![file("a.txt", "text/plain", PDF)], 422, "content_type_mismatch"),
            ("text that says it is a PNG", vec![file("a.png", "image/png", TEXT)], 422, "content_type_mismatch"),
            ("binary that says it is JSON", vec![file("a.json", "application/json", b"\x00\x01\x02\xff")], 422, "content_type_mismatch"),
            ("a type not accepted", vec![file("a.exe", "application/x-msdownload", b"MZ\x90\x00\x03")], 415, "document_type_not_allowed"),
            ("an invalid type", vec![file("a.txt", "text plain", TEXT)], 422, "validation_failed"),
        ];
        for (what, parts, status, code) in cases {
            let reply = app.upload_parts(&owner.token, &org, &parts).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (status, code), "{what}: {}", reply.body);
            assert!(reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {}", reply.body);
        }
        let json = app.post(&docs(&org), Some(&owner.token), json!({ "file": "x" })).await;
        assert_eq!((json.status.as_u16(), json.code()), (415, "unsupported_media_type"));
        let mut truncated = multipart(&[file("a.txt", "text/plain", TEXT)]);
        truncated.truncate(truncated.len() - 12);
        let reply = app.call_raw(Method::POST, &docs(&org), Some(&owner.token), Some(&format!("multipart/form-data; boundary={BOUNDARY}")), Some(truncated)).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (400, "invalid_multipart"), "{}", reply.body);

        // A client that goes away half-way.
        let body = multipart(&[file("big.txt", "text/plain", &[b'x'; 200_000])]);
        assert!(post_body(&app, &owner, &org, streamed(body, Some(100_000))).await.is_err());

        // Refused attempts are audited.
        let audit = app.get(&format!("/api/v1/organizations/{org}/audit-logs?action=document.upload"), Some(&owner.token)).await.expect(200);
        assert!(audit["pagination"]["total"].as_u64().unwrap() >= 12, "{}", audit["pagination"]["total"]);

        // Nothing was written anywhere: no document, no file, nothing in the spool.
        let listed = app.get(&docs(&org), Some(&owner.token)).await.expect(200);
        assert_eq!(listed["pagination"]["total"], 0);
        for _ in 0..100 {
            if files_under(&app.data_dir().join("files")).is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(files_under(&app.data_dir().join("files")), Vec::<std::path::PathBuf>::new());
    }

    async fn uploads_are_held_to_the_size_limit_the_quota_and_the_accepted_types(app: TestApp) {
        let platform = app.admin().await;
        let (owner, org) = org_with_owner(&app, "owner@example.com", "Docs").await;
        let org_path = format!("/api/v1/organizations/{org}");

        // The owner narrows the accepted types; only platform admins set the quota.
        let narrowed = app.patch(&org_path, Some(&owner.token), json!({ "documentTypes": ["Text/Plain", "text/plain"] })).await.expect(200);
        assert_eq!(narrowed["documentTypes"], json!(["text/plain"]));
        let refused = app.upload(&owner.token, &org, "a.pdf", "application/pdf", PDF).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (415, "document_type_not_allowed"));
        let bad = app.patch(&org_path, Some(&owner.token), json!({ "documentTypes": ["pdf"] })).await;
        assert_eq!((bad.status.as_u16(), bad.body["errors"][0]["field"].as_str()), (422, Some("documentTypes[0]")));
        let restored = app.patch(&org_path, Some(&owner.token), json!({ "documentTypes": null })).await.expect(200);
        assert_eq!(restored["defaultDocumentTypes"], true);
        assert_eq!(app.patch(&org_path, Some(&owner.token), json!({ "maxStorageBytes": 100 })).await.status, 403);
        app.patch(&org_path, Some(&platform.token), json!({ "maxStorageBytes": 100 })).await.expect(200);

        let refused = app.upload(&owner.token, &org, "big.txt", "text/plain", &[b'x'; 150]).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (413, "storage_quota_exceeded"), "{}", refused.body);
        app.upload(&owner.token, &org, "a.txt", "text/plain", &[b'a'; 60]).await.expect(201);
        let full = app.upload(&owner.token, &org, "b.txt", "text/plain", &[b'b'; 60]).await;
        assert_eq!(full.status, 413, "{}", full.body);
        // The same bytes again take no room.
        let copy = app.upload(&owner.token, &org, "a2.txt", "text/plain", &[b'a'; 60]).await.expect(201);
        assert_eq!(copy["deduplicated"], true);
        let used = app.get(&format!("{org_path}/storage"), Some(&owner.token)).await.expect(200);
        assert_eq!((used["bytesStored"].as_u64(), used["maxStorageBytes"].as_u64()), (Some(60), Some(100)));
        app.upload(&owner.token, &org, "c.txt", "text/plain", &[b'c'; 40]).await.expect(201);
        let at_quota = app.upload(&owner.token, &org, "d.txt", "text/plain", b"d").await;
        assert_eq!((at_quota.status.as_u16(), at_quota.code()), (413, "storage_quota_exceeded"));
    }

    async fn each_organization_sees_only_its_own_documents_in_its_own_database(app: TestApp) {
        let (ada, lab) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let (eve, other) = org_with_owner(&app, "eve@example.com", "Other").await;
        let doc = app.upload(&ada.token, &lab, "secret.txt", "text/plain", b"the secret").await.expect(201);
        let doc = doc["document"]["id"].as_str().unwrap().to_owned();
        // Eve's own organization does not have it, whatever path she tries.
        for path in [format!("{}/{doc}", docs(&other)), format!("{}/{doc}/content", docs(&other)), format!("{}/{doc}/download-url", docs(&other))] {
            let reply = app.get(&path, Some(&eve.token)).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (404, "document_not_found"), "{path}");
        }
        assert_eq!(app.get(&docs(&other), Some(&eve.token)).await.expect(200)["pagination"]["total"], 0);
        // Its row is in Lab's database and nowhere else.
        let count = |org: String| {
            let tenants = std::sync::Arc::clone(app.services.tenants());
            async move {
                let store = tenants.store(org.parse().unwrap()).await.unwrap();
                let mut conn = store.conn().await.unwrap();
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM documents").fetch_one(&mut *conn).await.unwrap()
            }
        };
        assert_eq!(count(lab.clone()).await, 1);
        assert_eq!(count(other.clone()).await, 0);
        let mut main = app.services.store().conn().await.unwrap();
        assert!(sqlx::query("SELECT COUNT(*) FROM documents").fetch_one(&mut *main).await.is_err(), "no documents table in the main database");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_limit_holds_with_and_without_a_length() {
    let app = TestApp::start_with(Backend::Sqlite, Options::tweak(|c| c.storage.max_upload_bytes = 1024)).await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Docs").await;
    app.upload(&owner.token, &org, "fits.txt", "text/plain", &[b'a'; 1024]).await.expect(201);
    // (Small enough to be sent whole before the early answer: a client still writing a large
    // body when the server answers and closes may see the connection reset instead.)
    let declared = app.upload(&owner.token, &org, "big.txt", "text/plain", &[b'b'; 4096]).await;
    assert_eq!((declared.status.as_u16(), declared.code()), (413, "file_too_large"));
    let just_over = app.upload(&owner.token, &org, "big.txt", "text/plain", &[b'c'; 1025]).await;
    assert_eq!((just_over.status.as_u16(), just_over.code()), (413, "file_too_large"));
    // Without a length, the limit holds while the bytes stream in.
    let body = multipart(&[Part {
        name: "file",
        filename: Some("big.txt"),
        content_type: Some("text/plain"),
        bytes: &[b'd'; 200_000],
    }]);
    assert_eq!(post_body(&app, &owner, &org, streamed(body, None)).await.unwrap(), 413);
    assert_eq!(app.get(&docs(&org), Some(&owner.token)).await.expect(200)["pagination"]["total"], 1);
}
