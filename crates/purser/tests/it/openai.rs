//! The gateway's OpenAI surface beyond chat: unknown paths and model lookups in OpenAI's
//! error shape, base64 embeddings, throttling model servers and the rate-limit headers,
//! and the metrics that count refusals and time answers.

use std::sync::Arc;

use base64::Engine;
use purser_domain::ManualClock;
use purser_mock_upstream::server::{MockConfig, MockUpstream};
use purser_store::Backend;
use serde_json::{Value, json};

use crate::harness::{Options, Reply, T0, TestApp, chat_body, metric};

/// A key for `models`, each a served model named as given whose upstream model is the
/// second string (the mock server's behaviour), on `upstream`.
async fn served_key(app: &TestApp, upstream: &MockUpstream, models: &[(&str, &str)], extra: Value) -> String {
    let admin = app.admin().await;
    let mut ids = Vec::new();
    for (name, upstream_model) in models {
        let body = json!({
            "name": name, "provider": "vllm", "upstreamUrl": upstream.base_url(), "upstreamModel": upstream_model,
            "capabilities": ["chat", "embeddings"],
        });
        ids.push(app.model(&admin, body).await["id"].as_str().unwrap().to_owned());
    }
    let user = app.user(&format!("user-{}@example.com", ids[0])).await;
    app.key(&user, &ids.iter().map(String::as_str).collect::<Vec<_>>(), extra).await.1
}

fn code(reply: &crate::harness::Reply) -> (u16, Option<&str>) {
    (reply.status.as_u16(), reply.body["error"]["code"].as_str())
}

both! {
    async fn every_v1_path_answers_in_openai_shape_and_models_can_be_looked_up(app: TestApp) {
        let upstream = MockUpstream::start(MockConfig::default()).await;
        let key = served_key(&app, &upstream, &[("meta/llama-3.1:8b@q4", "m")], json!({})).await;
        for (method, path) in [("POST", "/v1/responses"), ("GET", "/v1"), ("GET", "/v1/files/x/content"), ("DELETE", "/v1/nope")] {
            let reply = app.call(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), path, Some(&key), None).await;
            assert_eq!(code(&reply), (404, Some("unknown_url")), "{method} {path}: {}", reply.body);
            assert_eq!(reply.body["error"]["type"], "invalid_request_error");
            assert!(reply.body["error"]["message"].as_str().unwrap().contains(path));
            assert!(reply.headers.contains_key("x-request-id"));
        }
        let wrong_method = app.get("/v1/chat/completions", Some(&key)).await;
        assert_eq!(code(&wrong_method), (405, Some("method_not_allowed")));
        // A model name may hold slashes, colons and @.
        let model = app.get("/v1/models/meta/llama-3.1:8b@q4", Some(&key)).await.expect(200);
        assert_eq!((model["id"].as_str(), model["object"].as_str(), model["owned_by"].as_str()), (Some("meta/llama-3.1:8b@q4"), Some("model"), Some("vllm")));
        let admin = app.admin().await;
        app.model(&admin, json!({ "name": "not-on-the-key" })).await;
        for missing in ["/v1/models/nope", "/v1/models/not-on-the-key"] {
            assert_eq!(code(&app.get(missing, Some(&key)).await), (404, Some("model_not_found")), "{missing}");
        }
        assert_eq!(code(&app.get("/v1/models/meta/llama-3.1:8b@q4", Some("sk-prs-nonsense")).await).0, 401);
        // The management API keeps its own error shape.
        let management = app.get("/api/v1/nope", None).await;
        assert_eq!((management.status.as_u16(), management.body["code"].as_str()), (404, Some("route_not_found")));
    }

    async fn embeddings_come_as_base64_when_asked(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({ "name": "embed", "capabilities": ["embeddings"] })).await;
        let user = app.user("ada@example.com").await;
        let (_, key) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
        let floats = app.post("/v1/embeddings", Some(&key), json!({ "model": "embed", "input": ["some words"] })).await.expect(200);
        let encoded = app.post("/v1/embeddings", Some(&key), json!({ "model": "embed", "input": ["some words"], "encoding_format": "base64" })).await.expect(200);
        let text = encoded["data"][0]["embedding"].as_str().expect("a base64 string");
        let bytes = base64::engine::general_purpose::STANDARD.decode(text).unwrap();
        let decoded: Vec<f64> = bytes.chunks(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect();
        let expected: Vec<f64> = floats["data"][0]["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(decoded, expected);
        assert_eq!(encoded["usage"]["prompt_tokens"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_model_server_is_left_alone_for_its_retry_after_and_others_take_over() {
    let clock = Arc::new(ManualClock::new(T0));
    let app =
        TestApp::start_with(Backend::Sqlite, Options { clock: Some(Arc::clone(&clock)), ..Options::default() }).await;
    let (busy, calm) =
        (MockUpstream::start(MockConfig::default()).await, MockUpstream::start(MockConfig::default()).await);
    let admin = app.admin().await;
    let deployments = json!([
        { "upstreamUrl": busy.base_url(), "upstreamModel": "throttle-2", "weight": 1000 },
        { "upstreamUrl": calm.base_url(), "upstreamModel": "m", "weight": 1 },
    ]);
    let shared = app.model(&admin, json!({ "name": "shared", "provider": "vllm", "deployments": deployments })).await;
    let alone = app.model(&admin, json!({ "name": "alone", "provider": "vllm", "upstreamUrl": busy.base_url(), "upstreamModel": "throttle-2" })).await;
    let user = app.user("ada@example.com").await;
    let ids = [shared["id"].as_str().unwrap(), alone["id"].as_str().unwrap()];
    let (_, key) = app.key(&user, &ids, json!({ "rpmLimit": 10, "tpmLimit": 1000 })).await;

    // The busy server throttles the first attempt; the request is answered by the other,
    // and for its two seconds the busy one gets nothing.
    for _ in 0..5 {
        app.chat(&key, chat_body("shared")).await.expect(200);
    }
    assert_eq!((busy.state.requests(), calm.state.requests()), (1, 5));

    // Alone, the throttling answer reaches the client with the server's own headers.
    let throttled = app.chat(&key, chat_body("alone")).await;
    assert_eq!(throttled.status.as_u16(), 429, "{}", throttled.body);
    assert_eq!(throttled.headers["retry-after"], "2");
    assert_eq!(throttled.headers["x-ratelimit-remaining-requests"], "0");
    assert_eq!(throttled.headers["x-ratelimit-reset-requests"], "2s");
    assert_eq!(busy.state.requests(), 2, "not retried against the server that asked for a pause");
    // Meanwhile it is a rate limit, not an outage.
    let waiting = app.chat(&key, chat_body("alone")).await;
    assert_eq!(code(&waiting), (429, Some("upstream_rate_limited")), "{}", waiting.body);
    assert_eq!(waiting.headers["retry-after"], "2");
    // Throttles never open the breaker: after the pause the server is asked again.
    for _ in 0..6 {
        clock.advance_secs(3);
        assert_eq!(app.chat(&key, chat_body("alone")).await.status.as_u16(), 429);
    }
    assert_eq!(busy.state.requests(), 8);

    // Answers carry the key's own limits as they stood when the request was let in, as
    // OpenAI's carry the organization's.
    clock.advance_secs(120);
    let first = app.chat(&key, chat_body("shared")).await;
    assert_eq!(first.status.as_u16(), 200);
    let header = |answer: &Reply, name: &str| answer.headers[name].to_str().unwrap().to_owned();
    assert_eq!(
        (header(&first, "x-ratelimit-limit-requests"), header(&first, "x-ratelimit-remaining-requests")),
        ("10".into(), "9".into())
    );
    assert_eq!(header(&first, "x-ratelimit-reset-requests"), "6s", "one request of ten a minute comes back in 6 s");
    assert_eq!(header(&first, "x-ratelimit-limit-tokens"), "1000");
    assert_eq!(header(&first, "x-ratelimit-remaining-tokens"), "1000", "nothing was spent yet");
    let second = app.chat(&key, chat_body("shared")).await;
    assert_eq!(header(&second, "x-ratelimit-remaining-requests"), "8");
    assert_eq!(header(&second, "x-ratelimit-reset-requests"), "12s");
    assert_eq!(
        header(&second, "x-ratelimit-remaining-tokens"),
        (1000 - 15).to_string(),
        "the first answer's tokens count"
    );
    assert_eq!(header(&second, "x-ratelimit-reset-tokens"), "900ms", "15 tokens of 1000 a minute come back in 0.9 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_refusals_and_time_answers_in_either_format() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        Options::tweak(|c| {
            c.server.metrics_token = Some(purser::config::Secret::from("scrape-secret"));
        }),
    )
    .await;
    let upstream = MockUpstream::start(MockConfig::default()).await;
    let key = served_key(&app, &upstream, &[("served", "m")], json!({ "rpmLimit": 2 })).await;
    let admin = app.admin().await;
    app.model(&admin, json!({ "name": "not-on-the-key" })).await;
    app.chat("sk-prs-nonsense", chat_body("served")).await;
    app.chat(&key, chat_body("no-such-model")).await;
    app.chat(&key, chat_body("not-on-the-key")).await;
    for _ in 0..3 {
        app.chat(&key, json!({ "model": "served", "stream": true, "messages": [{ "role": "user", "content": "hi" }] }))
            .await;
    }

    let scrape = |accept: &'static str, token: Option<&'static str>| {
        let mut request = app.http.get(format!("{}/metrics", app.base)).header("accept", accept);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), content_type, response.text().await.unwrap())
        }
    };
    let (status, _, body) = scrape("text/plain", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("unauthenticated"));
    assert_eq!(scrape("text/plain", Some("wrong")).await.0, 401);

    let (status, content_type, text) = scrape("text/plain;version=0.0.4", Some("scrape-secret")).await;
    assert_eq!((status, content_type.as_deref()), (200, Some("text/plain; version=0.0.4; charset=utf-8")));
    assert!(!text.contains("# EOF") && text.contains("# TYPE purser_gateway_refused_total counter"));
    for (reason, model, count) in [
        ("invalid_api_key", "", 1.0),
        ("model_not_found", "", 1.0),
        ("model_not_allowed", "not-on-the-key", 1.0),
        ("rate_limit_exceeded", "served", 1.0),
    ] {
        let line = format!("purser_gateway_refused_total{{reason=\"{reason}\",model=\"{model}\"}}");
        assert_eq!(metric(&text, &line), count, "{line}");
    }
    assert!(!text.contains("no-such-model"), "a model name a client made up is never a label");
    assert_eq!(metric(&text, "purser_gateway_time_to_first_token_seconds_count{model=\"served\"}"), 2.0);
    assert!(text.contains("purser_gateway_upstream_seconds_count{model=\"served\",deployment="));

    let prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (status, content_type, text) = scrape(prometheus, Some("scrape-secret")).await;
    assert_eq!(
        (status, content_type.as_deref()),
        (200, Some("application/openmetrics-text; version=1.0.0; charset=utf-8"))
    );
    assert!(text.ends_with("# EOF\n") && text.contains("# TYPE purser_gateway_refused counter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_rate_limit_headers_can_be_left_out() {
    let app = TestApp::start_with(Backend::Sqlite, Options::tweak(|c| c.gateway.rate_limit_headers = false)).await;
    let upstream = MockUpstream::start(MockConfig::default()).await;
    let key = served_key(&app, &upstream, &[("limited", "m")], json!({ "rpmLimit": 10, "tpmLimit": 1000 })).await;
    let answered = app.chat(&key, chat_body("limited")).await;
    assert_eq!(answered.status.as_u16(), 200, "{}", answered.body);
    let names: Vec<&str> = answered.headers.keys().map(|name| name.as_str()).collect();
    assert!(!names.iter().any(|name| name.starts_with("x-ratelimit-")), "{names:?}");
    // The limits themselves still hold.
    for _ in 0..9 {
        assert_eq!(app.chat(&key, chat_body("limited")).await.status.as_u16(), 200);
    }
    assert_eq!(app.chat(&key, chat_body("limited")).await.status.as_u16(), 429);
}
