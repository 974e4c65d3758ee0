//! No answered request is metered at zero: a stream whose client leaves before the usage
//! (which model servers send last) is read on for it, and an answer without usage has its
//! tokens counted by Purser and marked `estimated`, in the usage API and its export.

use futures_util::StreamExt;
use purser_mock_upstream::server::{ANSWER, MockConfig, MockUpstream};
use purser_store::Backend;
use serde_json::{Value, json};

use crate::harness::{Options, Session, TestApp, chat_body};

/// A served model (upstream model `upstream_model`, the mock's behaviour) and a key for it.
async fn served(app: &TestApp, upstream: &MockUpstream, upstream_model: &str) -> (Session, String) {
    let admin = app.admin().await;
    let body = json!({ "name": "served", "provider": "vllm", "upstreamUrl": upstream.base_url(), "upstreamModel": upstream_model });
    let model = app.model(&admin, body).await;
    let user = app.user("ada@example.com").await;
    let (_, key) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
    (user, key)
}

/// Starts a stream, reads its first `chunks` pieces, and leaves.
async fn leave_a_stream(app: &TestApp, key: &str, chunks: usize) -> String {
    let body = json!({ "model": "served", "stream": true, "messages": [{ "role": "user", "content": "count these five words" }] });
    let response =
        app.http.post(format!("{}/v1/chat/completions", app.base)).bearer_auth(key).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    for _ in 0..chunks {
        seen.push_str(&String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()));
    }
    assert!(seen.contains("\"content\""), "some of the answer arrived: {seen}");
    seen
}

/// The usage records of `user`, waiting for `n` to be written: a request whose client
/// left is metered once the server notices, at its next write.
async fn records(app: &TestApp, user: &Session, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        app.gateway.flush_usage().await;
        let page = app.get("/api/v1/usage/records", Some(&user.token)).await.expect(200);
        let rows = page["data"].as_array().unwrap().clone();
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{n} usage records were never written");
}

both! {
    async fn a_client_that_leaves_a_stream_is_billed_what_the_server_reports(app: TestApp) {
        let upstream = MockUpstream::start(MockConfig::default()).await;
        // 20 ms between chunks; the usage comes only in the last one.
        let (user, key) = served(&app, &upstream, "pause-20").await;
        leave_a_stream(&app, &key, 3).await;
        let rows = records(&app, &user, 1).await;
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!((row["status"].as_u64(), row["estimated"].as_bool()), (Some(499), Some(false)), "{row}");
        assert_eq!((row["promptTokens"].as_u64(), row["completionTokens"].as_u64()), (Some(4), Some(11)), "the server's own count");
        assert_ne!(row["cost"], "0");
    }

    async fn an_answer_without_usage_is_counted_here_and_marked_estimated(app: TestApp) {
        let upstream = MockUpstream::start(MockConfig::default()).await;
        let (user, key) = served(&app, &upstream, "no-usage").await;
        let whole = app.chat(&key, chat_body("served")).await.expect(200);
        assert!(whole.get("usage").is_none(), "the server sent none");
        let mut streamed = chat_body("served");
        streamed["stream"] = json!(true);
        app.post("/v1/chat/completions", Some(&key), streamed).await;
        let rows = records(&app, &user, 2).await;
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!((row["status"].as_u64(), row["estimated"].as_bool()), (Some(200), Some(true)), "{row}");
            // Counted with the o200k vocabulary: 3 per message, the role, the text, and 3 to
            // prime the answer; the answer is the mock's canned sentence.
            assert_eq!(row["promptTokens"], 3 + 1 + 4 + 3, "{row}");
            assert_eq!(row["completionTokens"], 12, "{row}: {ANSWER:?}");
        }
        let summary = app.usage(&user, "").await;
        assert_eq!((summary["totals"]["requests"].as_u64(), summary["totals"]["estimatedRequests"].as_u64()), (Some(2), Some(2)));
        let csv = app.http.get(format!("{}/api/v1/usage/export", app.base)).bearer_auth(&user.token).send().await.unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(csv.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"purser-usage-"));
        let text = csv.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(",streamed,estimated"), "{}", lines[0]);
        assert_eq!(lines.len(), 3);
        assert!(lines[1..].iter().all(|l| l.ends_with(",true")), "{text}");
        assert!(lines[2].contains(",served,chat/completions,11,12,23,"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_left_without_usage_in_time_is_counted_from_what_came() {
    let app =
        TestApp::start_with(Backend::Sqlite, Options::tweak(|c| c.gateway.usage_wait_after_disconnect_ms = 0)).await;
    let upstream = MockUpstream::start(MockConfig::default()).await;
    let (user, key) = served(&app, &upstream, "pause-200").await;
    leave_a_stream(&app, &key, 3).await;
    let rows = records(&app, &user, 1).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!((row["status"].as_u64(), row["estimated"].as_bool()), (Some(499), Some(true)), "{row}");
    assert_eq!(row["promptTokens"], 11, "{row}");
    let completion = row["completionTokens"].as_u64().unwrap();
    assert!((1..12).contains(&completion), "what arrived before the client left, not zero, not all: {row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_before_the_answer_owes_the_prompt_the_server_read() {
    let app = TestApp::start(Backend::Sqlite).await;
    let upstream = MockUpstream::start(MockConfig::default()).await;
    let (user, key) = served(&app, &upstream, "slow-2000").await;
    let impatient = reqwest::Client::builder().timeout(std::time::Duration::from_millis(300)).build().unwrap();
    let left = impatient
        .post(format!("{}/v1/chat/completions", app.base))
        .bearer_auth(&key)
        .json(&chat_body("served"))
        .send()
        .await;
    assert!(left.is_err_and(|e| e.is_timeout()), "the client gave up first");
    let rows = records(&app, &user, 1).await;
    let row = &rows[0];
    assert_eq!((row["status"].as_u64(), row["estimated"].as_bool()), (Some(499), Some(true)), "{row}");
    assert_eq!((row["promptTokens"].as_u64(), row["completionTokens"].as_u64()), (Some(11), Some(0)), "{row}");
    assert_ne!(row["cost"], "0", "{row}");
}
