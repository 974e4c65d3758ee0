//! The console: the browser app built from `console/` by `build.rs` and embedded in the
//! binary. Every path the API does not own answers a file of the build, or `index.html`
//! for the app's own routes (`/models`, `/verify-email?token=...`), which the app reads.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

/// One file of the console's build, with the variants compressed at build time.
pub struct Asset {
    pub path: &'static str,
    pub body: &'static [u8],
    pub gzip: Option<&'static [u8]>,
    pub brotli: Option<&'static [u8]>,
    pub etag: &'static str,
}

mod built {
    use super::Asset;
    include!(concat!(env!("OUT_DIR"), "/console.rs"));
}

/// Whether this binary carries the console (it does unless npm was missing at build time).
pub fn embedded() -> bool {
    find("/index.html").is_some()
}

/// Scripts only from Purser itself and nothing inline; styles too (PatternFly sets styles
/// through the DOM, which `style-src` does not govern); no framing; no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Answers every GET and HEAD it is given; the API routes its own paths before this.
pub fn router() -> Router {
    Router::new().fallback(any(serve))
}

async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = uri.path();
    let (asset, immutable) = match find(path) {
        Some(asset) if asset.path != "/index.html" => (asset, path.starts_with("/assets/")),
        // A file the build does not have is a 404; any other path is one of the app's pages.
        None if path.starts_with("/assets/") || last_segment_has_extension(path) => {
            return with_security_headers(StatusCode::NOT_FOUND.into_response());
        }
        _ => match find("/index.html") {
            Some(index) => (index, false),
            None => return with_security_headers(missing_console()),
        },
    };
    let mut response = if already_has(&headers, asset) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let (body, encoding) = choose_encoding(asset, &headers);
        let mut response = Response::new(if method == Method::HEAD { Body::empty() } else { Body::from(body) });
        let answer = response.headers_mut();
        answer.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(asset.path)));
        answer.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if let Some(encoding) = encoding {
            answer.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    };
    let answer = response.headers_mut();
    answer.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    answer.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    // Hashed file names change with their content; the page itself is asked for each time.
    answer.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    with_security_headers(response)
}

fn find(path: &str) -> Option<&'static Asset> {
    built::FILES.binary_search_by(|asset| asset.path.cmp(path)).ok().map(|i| &built::FILES[i])
}

/// Whether the client's `If-None-Match` names this build of the file.
fn already_has(headers: &HeaderMap, asset: &Asset) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == asset.etag
        },
    )
}

fn last_segment_has_extension(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|last| last.contains('.'))
}

/// The smallest variant the client accepts: brotli, then gzip, then the file itself.
fn choose_encoding(asset: &Asset, headers: &HeaderMap) -> (&'static [u8], Option<&'static str>) {
    let accepted = headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let accepts = |coding: &str| {
        accepted.iter().flat_map(|v| v.split(',')).any(|item| {
            let mut parts = item.split(';').map(str::trim);
            parts.next().is_some_and(|name| name.eq_ignore_ascii_case(coding))
                && parts.all(|param| param.strip_prefix("q=").is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0)))
        })
    };
    match (asset.brotli, asset.gzip) {
        (Some(br), _) if accepts("br") => (br, Some("br")),
        (_, Some(gz)) if accepts("gzip") => (gz, Some("gzip")),
        _ => (asset.body, None),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The mailed links carry one-time tokens in their query: never pass them on.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// What `/` says in a binary built where npm was missing.
fn missing_console() -> Response {
    let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Purser</title></head>\
        <body><h1>Purser is running</h1><p>This build has no console: npm was not found when it was \
        built. Install Node.js 20 or later with npm and build again (<code>cargo build --release</code>), \
        or build with <code>PURSER_CONSOLE_DIST=DIR</code> pointing at a console built elsewhere.</p>\
        <p>The API is at <a href=\"/api/docs\">/api/docs</a>; the OpenAI-compatible gateway at \
        <code>/v1</code>.</p></body></html>";
    let mut response = (StatusCode::OK, page).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
