//! The console: its pages for a browser, the API's answers everywhere else.

use purser_store::Backend;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use reqwest::{Method, Response};

use crate::harness::TestApp;

async fn fetch(app: &TestApp, method: Method, path: &str, headers: &[(reqwest::header::HeaderName, &str)]) -> Response {
    let mut request = app.http.request(method, format!("{}{path}", app.base));
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a Response, name: &reqwest::header::HeaderName) -> &'a str {
    response.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_the_app_answers_its_html_with_a_strict_policy() {
    if std::env::var("PURSER_CONSOLE_REQUIRED").as_deref() == Ok("1") {
        assert!(purser::console::embedded(), "PURSER_CONSOLE_REQUIRED=1, yet the console is not in the binary");
    }
    let app = TestApp::start(Backend::Sqlite).await;
    for path in [
        "/",
        "/models",
        "/verify-email?token=abc",
        "/reset-password?token=abc",
        "/invitations/accept?token=x",
        "/organizations/123/teams",
    ] {
        let page = fetch(&app, Method::GET, path, &[]).await;
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(header(&page, &CONTENT_TYPE), "text/html; charset=utf-8", "{path}");
        assert_eq!(header(&page, &CACHE_CONTROL), "no-cache", "{path}");
        assert_eq!(header(&page, &REFERRER_POLICY), "no-referrer", "{path}: the mailed links' tokens stay here");
        assert_eq!(header(&page, &X_CONTENT_TYPE_OPTIONS), "nosniff");
        let policy = header(&page, &CONTENT_SECURITY_POLICY).to_owned();
        assert!(policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        let html = page.text().await.unwrap();
        assert!(html.starts_with("<!doctype html>"), "{path}: {html}");
        if purser::console::embedded() {
            assert!(html.contains("<div id=\"root\"></div>") && html.contains("src=\"/assets/"), "{html}");
            assert!(!html.contains("<script>"), "no inline script: {html}");
        }
    }
    let head = fetch(&app, Method::HEAD, "/models", &[]).await;
    assert_eq!((head.status().as_u16(), header(&head, &CONTENT_TYPE)), (200, "text/html; charset=utf-8"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_gateway_metrics_and_probes_never_answer_html() {
    let app = TestApp::start(Backend::Sqlite).await;
    for (method, path, status, content_type) in [
        (Method::GET, "/api/v1/nothing-here", 404, "application/problem+json"),
        (Method::GET, "/api", 404, "application/problem+json"),
        (Method::GET, "/api/", 404, "application/problem+json"),
        (Method::GET, "/v1/nothing-here", 404, "application/json"),
        (Method::GET, "/v1", 404, "application/json"),
        (Method::POST, "/", 404, "application/problem+json"),
        (Method::DELETE, "/models", 404, "application/problem+json"),
        (Method::GET, "/health", 200, "application/json"),
    ] {
        let reply = fetch(&app, method.clone(), path, &[]).await;
        assert_eq!(reply.status(), status, "{method} {path}");
        assert!(header(&reply, &CONTENT_TYPE).starts_with(content_type), "{method} {path}: {:?}", reply.headers());
    }
    let metrics = fetch(&app, Method::GET, "/metrics", &[]).await;
    assert!(header(&metrics, &CONTENT_TYPE).starts_with("text/plain"), "{:?}", metrics.headers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_immutable_precompressed_and_missing_ones_are_404() {
    let app = TestApp::start(Backend::Sqlite).await;
    let missing = fetch(&app, Method::GET, "/assets/nothing-like-this.js", &[]).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(fetch(&app, Method::GET, "/robots-nothing.txt", &[]).await.status(), 404);
    if !purser::console::embedded() {
        return;
    }
    let html = fetch(&app, Method::GET, "/", &[]).await.text().await.unwrap();
    let script = html.split("src=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_owned();
    assert!(script.starts_with("/assets/") && script.ends_with(".js"), "{script}");

    let plain = fetch(&app, Method::GET, &script, &[(ACCEPT_ENCODING, "identity")]).await;
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, &CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert_eq!(header(&plain, &CONTENT_TYPE), "text/javascript; charset=utf-8");
    assert_eq!(header(&plain, &CONTENT_ENCODING), "");
    let etag = header(&plain, &ETAG).to_owned();
    let size = plain.bytes().await.unwrap().len();
    for (accepted, chosen) in [("gzip, deflate, br", "br"), ("gzip", "gzip"), ("br;q=0, gzip", "gzip"), ("zstd", "")] {
        let reply = fetch(&app, Method::GET, &script, &[(ACCEPT_ENCODING, accepted)]).await;
        assert_eq!(header(&reply, &CONTENT_ENCODING), chosen, "{accepted}");
        assert_eq!(header(&reply, &reqwest::header::VARY), "accept-encoding");
        let bytes = reply.bytes().await.unwrap().len();
        if chosen.is_empty() {
            assert_eq!(bytes, size);
        } else {
            assert!(bytes < size / 2, "{chosen}: {bytes} of {size}");
        }
    }
    let again = fetch(&app, Method::GET, &script, &[(IF_NONE_MATCH, &etag)]).await;
    assert_eq!(again.status(), 304);
}
