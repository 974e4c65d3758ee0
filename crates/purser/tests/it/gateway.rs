use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use purser_domain::ManualClock;
use purser_mock_upstream::server::{MockConfig, MockUpstream};
use purser_store::Backend;
use serde_json::{Value, json};

use crate::harness::{Options, Session, T0, TestApp, chat_body};

const UPSTREAM_KEY: &str = "sk-upstream-test";

/// A model served by `upstream` (as upstream model `upstream_model`) and a key for it.
async fn upstream_model(app: &TestApp, upstream: &MockUpstream, name: &str, upstream_model: &str) -> (Session, String) {
    let admin = app.admin().await;
    let model = app
        .model(
            &admin,
            json!({
                "name": name, "provider": "vllm", "upstreamUrl": upstream.base_url(), "upstreamModel": upstream_model,
                "upstreamApiKey": UPSTREAM_KEY, "capabilities": ["chat", "completions", "embeddings"],
            }),
        )
        .await;
    let user = app.user(&format!("{name}@example.com")).await;
    let (_, secret) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
    (user, secret)
}

async fn sse_events(app: &TestApp, key: &str, body: Value) -> (u16, Vec<String>) {
    let response =
        app.http.post(format!("{}/v1/chat/completions", app.base)).bearer_auth(key).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    (status, text.split("\n\n").filter(|e| !e.is_empty()).map(str::to_owned).collect())
}

both! {
    async fn forwards_to_the_upstream_and_meters_what_it_reports(app: TestApp) {
        let upstream = MockUpstream::start(MockConfig { api_key: Some(UPSTREAM_KEY.into()), ..Default::default() }).await;
        let (user, key) = upstream_model(&app, &upstream, "llama", "meta/llama-3").await;
        let mut body = chat_body("llama");
        body["temperature"] = json!(0.25);
        body["vendor_extension"] = json!({ "keep": ["me", 1] });
        let reply = app.chat(&key, body).await.expect(200);
        assert_eq!(reply["usage"], json!({ "prompt_tokens": 4, "completion_tokens": 11, "total_tokens": 15 }));
        let seen = upstream.state.last().unwrap();
        assert_eq!(seen.path, "/v1/chat/completions");
        assert_eq!(seen.body["model"], "meta/llama-3", "the upstream model name is sent");
        assert_eq!(seen.authorization.as_deref(), Some("Bearer sk-upstream-test"), "with the upstream key");
        assert_eq!(seen.body["temperature"], 0.25);
        assert_eq!(seen.body["vendor_extension"], json!({ "keep": ["me", 1] }), "unknown fields pass through");

        let usage = app.usage(&user, "").await;
        assert_eq!(usage["totals"]["requests"], 1);
        assert_eq!((usage["totals"]["promptTokens"].as_u64(), usage["totals"]["completionTokens"].as_u64()), (Some(4), Some(11)));
        assert_eq!(usage["totals"]["cost"], "0.000026", "4 × $0.000001 + 11 × $0.000002");
        assert_eq!(usage["byModel"][0]["modelName"], "llama");
    }

    async fn streams_pass_through_with_usage_metered(app: TestApp) {
        let upstream = MockUpstream::start(MockConfig { api_key: Some(UPSTREAM_KEY.into()), ..Default::default() }).await;
        let (user, key) = upstream_model(&app, &upstream, "llama", "meta/llama-3").await;
        let mut body = chat_body("llama");
        body["stream"] = json!(true);

        let (status, events) = sse_events(&app, &key, body.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(events.last().unwrap(), "data: [DONE]");
        assert!(events.iter().all(|e| !e.contains("\"choices\":[]")), "the usage chunk the client did not ask for is removed");
        assert_eq!(upstream.state.last().unwrap().body["stream_options"], json!({ "include_usage": true }), "usage was asked for");
        let text: String = events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e.trim_start_matches("data: ")).ok())
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(text, purser_mock_upstream::server::ANSWER);

        body["stream_options"] = json!({ "include_usage": true });
        let (_, events) = sse_events(&app, &key, body).await;
        let last: Value = serde_json::from_str(events[events.len() - 2].trim_start_matches("data: ")).unwrap();
        assert_eq!(last["usage"]["completion_tokens"], 11, "the client asked, so the usage chunk stays");

        let usage = app.usage(&user, "").await;
        assert_eq!(usage["totals"]["requests"], 2);
        assert_eq!(usage["totals"]["completionTokens"], 22);
    }

    async fn refuses_bad_keys_models_and_bodies_in_openai_shape(app: TestApp) {
        let upstream = MockUpstream::start(MockConfig::default()).await;
        let (user, key) = upstream_model(&app, &upstream, "llama", "llama").await;
        let admin = app.admin().await;
        let other = app.model(&admin, json!({ "name": "other" })).await;
        app.post("/api/v1/subscriptions", Some(&user.token), json!({ "modelId": other["id"] })).await.expect(201);

        let no_key = app.post("/v1/chat/completions", None, chat_body("llama")).await;
        assert_eq!((no_key.status.as_u16(), no_key.body["error"]["code"].as_str()), (401, Some("missing_api_key")));
        for bad in ["nonsense", &format!("sk-prs-{}", "A".repeat(40))] {
            let reply = app.chat(bad, chat_body("llama")).await;
            assert_eq!((reply.status.as_u16(), reply.body["error"]["code"].as_str()), (401, Some("invalid_api_key")));
            assert_eq!(reply.body["error"]["type"], "invalid_request_error");
        }
        let unknown = app.chat(&key, chat_body("gpt-9")).await;
        assert_eq!((unknown.status.as_u16(), unknown.body["error"]["code"].as_str()), (404, Some("model_not_found")));
        let not_on_key = app.chat(&key, chat_body("other")).await;
        assert_eq!((not_on_key.status.as_u16(), not_on_key.body["error"]["code"].as_str()), (403, Some("model_not_allowed")));
        let no_model = app.chat(&key, json!({ "messages": [] })).await;
        assert_eq!((no_model.status.as_u16(), no_model.body["error"]["param"].as_str()), (400, Some("model")));
        let garbage = app.http.post(format!("{}/v1/chat/completions", app.base)).bearer_auth(&key).body("{not json").send().await.unwrap();
        assert_eq!(garbage.status().as_u16(), 400);
        let embed = app.post("/v1/embeddings", Some(&key), json!({ "model": "llama", "input": "hello world" })).await.expect(200);
        assert_eq!(embed["usage"]["prompt_tokens"], 2);
        let listed = app.get("/v1/models", Some(&key)).await.expect(200);
        assert_eq!(listed["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect::<Vec<_>>(), ["llama"]);
        assert_eq!(upstream.state.requests(), 1, "refused requests never reach the upstream");
    }

    async fn upstream_faults_become_502_and_504_never_a_hang(app: TestApp) {
        let upstream = MockUpstream::start(MockConfig::default()).await;
        let admin = app.admin().await;
        let user = app.user("ada@example.com").await;
        let mut keys = Vec::new();
        for (name, upstream_model, url) in [
            ("fails", "fail-500", upstream.base_url()),
            ("rejects", "fail-400", upstream.base_url()),
            ("locked", "fail-401", upstream.base_url()),
            ("nowhere", "x", "http://127.0.0.1:9/v1".to_owned()),
        ] {
            let model = app.model(&admin, json!({ "name": name, "provider": "vllm", "upstreamUrl": url, "upstreamModel": upstream_model })).await;
            keys.push((name, app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await.1));
        }
        let expect = [("fails", 502, "upstream_error"), ("rejects", 400, "400"), ("locked", 502, "upstream_error"), ("nowhere", 502, "upstream_unavailable")];
        for ((name, key), (_, status, code)) in keys.iter().zip(expect) {
            let reply = app.chat(key, chat_body(name)).await;
            assert_eq!(reply.status.as_u16(), status, "{name}: {}", reply.body);
            assert_eq!(reply.body["error"]["code"], code, "{name}: {}", reply.body);
        }
        let usage = app.usage(&user, "").await;
        assert_eq!(usage["totals"]["requests"], 4, "failed requests are metered too (with no tokens)");
        assert_eq!(usage["totals"]["promptTokens"], 0);
    }

    async fn deleting_a_model_takes_it_out_of_the_gateway_at_once(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let user = app.user("ada@example.com").await;
        let (_, key) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
        app.chat(&key, chat_body("mock-model")).await.expect(200);
        app.delete(&format!("/api/v1/admin/models/{}", model["id"].as_str().unwrap()), Some(&admin.token)).await;
        assert_eq!(app.chat(&key, chat_body("mock-model")).await.status.as_u16(), 404);
        let renamed = app.model(&admin, json!({ "name": "fresh" })).await;
        app.patch(&format!("/api/v1/admin/models/{}", renamed["id"].as_str().unwrap()), Some(&admin.token), json!({ "name": "fresher" })).await.expect(200);
        let (_, key) = app.key(&user, &[renamed["id"].as_str().unwrap()], json!({})).await;
        assert_eq!(app.chat(&key, chat_body("fresh")).await.status.as_u16(), 404);
        app.chat(&key, chat_body("fresher")).await.expect(200);
    }

    async fn budgets_refuse_with_insufficient_quota(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let user = app.user("ada@example.com").await;
        // One answer costs 4 × $0.000001 + 15 × $0.000002 = $0.000034 (the mock's answer has 15 words).
        assert_eq!(purser_gateway::MOCK_ANSWER.split_whitespace().count(), 15);
        let (key_id, key) = app.key(&user, &[model["id"].as_str().unwrap()], json!({ "maxBudget": "0.00005" })).await;
        app.chat(&key, chat_body("mock-model")).await.expect(200);
        app.chat(&key, chat_body("mock-model")).await.expect(200);
        let over = app.chat(&key, chat_body("mock-model")).await;
        assert_eq!((over.status.as_u16(), over.body["error"]["code"].as_str()), (429, Some("insufficient_quota")));
        assert_eq!(over.body["error"]["type"], "insufficient_quota");
        app.gateway.flush_usage().await;
        let shown = app.get(&format!("/api/v1/api-keys/{key_id}"), Some(&user.token)).await.expect(200);
        assert_eq!(shown["spend"], "0.000068");
        assert!(shown["lastUsedAt"].is_string());
    }

    async fn built_in_mock_model_answers_and_streams(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({ "capabilities": ["chat", "completions"] })).await;
        assert_eq!(model["mock"], true);
        let user = app.user("ada@example.com").await;
        let (_, key) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
        let reply = app.chat(&key, chat_body("mock-model")).await.expect(200);
        assert!(reply["choices"][0]["message"]["content"].as_str().unwrap().contains("mock"));
        let mut body = chat_body("mock-model");
        body["stream"] = json!(true);
        let (status, events) = sse_events(&app, &key, body).await;
        assert_eq!((status, events.last().map(String::as_str)), (200, Some("data: [DONE]")));
        let legacy = app.post("/v1/completions", Some(&key), json!({ "model": "mock-model", "prompt": "one two", "stream": true })).await;
        let text = legacy.body.as_str().unwrap();
        assert!(text.contains("\"object\":\"text_completion\"") && text.ends_with("data: [DONE]\n\n"), "{text}");
        assert!(!text.contains("\"choices\":[]"), "the usage chunk nobody asked for is removed");
        let embeddings = app.post("/v1/embeddings", Some(&key), json!({ "model": "mock-model", "input": "x" })).await;
        assert_eq!((embeddings.status.as_u16(), embeddings.body["error"]["code"].as_str()), (400, Some("unsupported_endpoint")));
        let usage = app.usage(&user, "").await;
        assert_eq!(usage["totals"]["requests"], 3);
        assert_eq!(usage["totals"]["completionTokens"], 45);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_and_refill() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let clock = Arc::new(ManualClock::new(T0));
        let app = TestApp::start_with(backend, Options { clock: Some(clock.clone()), ..Options::default() }).await;
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let user = app.user("ada@example.com").await;
        let id = model["id"].as_str().unwrap();
        let (_, rpm_key) = app.key(&user, &[id], json!({ "rpmLimit": 2 })).await;
        app.chat(&rpm_key, chat_body("mock-model")).await.expect(200);
        app.chat(&rpm_key, chat_body("mock-model")).await.expect(200);
        let limited = app.chat(&rpm_key, chat_body("mock-model")).await;
        assert_eq!(
            (limited.status.as_u16(), limited.body["error"]["code"].as_str()),
            (429, Some("rate_limit_exceeded"))
        );
        assert_eq!(limited.headers["retry-after"], "30", "{backend:?}: one request comes back every 30 s");
        clock.advance_secs(30);
        app.chat(&rpm_key, chat_body("mock-model")).await.expect(200);

        // 19 tokens per request against 30 per minute: the second request overdraws, the third waits.
        let (_, tpm_key) = app.key(&user, &[id], json!({ "tpmLimit": 30 })).await;
        app.chat(&tpm_key, chat_body("mock-model")).await.expect(200);
        app.chat(&tpm_key, chat_body("mock-model")).await.expect(200);
        let limited = app.chat(&tpm_key, chat_body("mock-model")).await;
        assert_eq!(limited.status.as_u16(), 429, "{backend:?}");
        assert!(limited.body["error"]["message"].as_str().unwrap().contains("tokens per minute"));
        clock.advance_secs(21);
        app.chat(&tpm_key, chat_body("mock-model")).await.expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_gateway_bodies_are_refused_in_openai_shape() {
    let options = Options::tweak(|c| c.gateway.max_request_bytes = 2048);
    let app = TestApp::start_with(Backend::Sqlite, options).await;
    let admin = app.admin().await;
    let model = app.model(&admin, json!({})).await;
    let user = app.user("ada@example.com").await;
    let (_, key) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
    let big = json!({ "model": "mock-model", "messages": [{ "role": "user", "content": "x".repeat(4096) }] });
    let reply = app.chat(&key, big).await;
    assert_eq!((reply.status.as_u16(), reply.body["error"]["code"].as_str()), (413, Some("request_too_large")));
    app.chat(&key, chat_body("mock-model")).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_stop_working_when_they_expire() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let clock = Arc::new(ManualClock::new(T0));
        let app = TestApp::start_with(backend, Options { clock: Some(clock.clone()), ..Options::default() }).await;
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let user = app.user("ada@example.com").await;
        let expires = T0.plus_secs(3600).to_string();
        let (_, key) = app.key(&user, &[model["id"].as_str().unwrap()], json!({ "expiresAt": expires })).await;
        app.chat(&key, chat_body("mock-model")).await.expect(200);
        clock.advance_secs(3600);
        let expired = app.chat(&key, chat_body("mock-model")).await;
        assert_eq!(
            (expired.status.as_u16(), expired.body["error"]["code"].as_str()),
            (401, Some("api_key_expired")),
            "{backend:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstreams_time_out_and_cut_streams_are_metered() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let options = Options::tweak(|c| {
            c.gateway.first_byte_timeout_ms = 1000;
            c.gateway.stream_idle_timeout_ms = 1000;
        });
        let app = TestApp::start_with(backend, options).await;
        let upstream = MockUpstream::start(MockConfig::default()).await;
        let admin = app.admin().await;
        let user = app.user("ada@example.com").await;
        let mut ids = Vec::new();
        for (name, upstream_model) in [("hangs", "hang"), ("cuts", "cut-stream")] {
            let m = app.model(&admin, json!({ "name": name, "provider": "vllm", "upstreamUrl": upstream.base_url(), "upstreamModel": upstream_model })).await;
            ids.push(m["id"].as_str().unwrap().to_owned());
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (_, key) = app.key(&user, &ids, json!({})).await;

        let started = std::time::Instant::now();
        let slow = app.chat(&key, chat_body("hangs")).await;
        assert_eq!(
            (slow.status.as_u16(), slow.body["error"]["code"].as_str()),
            (504, Some("upstream_timeout")),
            "{backend:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        let mut body = chat_body("cuts");
        body["stream"] = json!(true);
        let response = app
            .http
            .post(format!("{}/v1/chat/completions", app.base))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let mut stream = response.bytes_stream();
        let mut broke = false;
        while let Some(chunk) = stream.next().await {
            if chunk.is_err() {
                broke = true;
            }
        }
        assert!(broke, "{backend:?}: the client sees the stream break off rather than a clean end");
        let usage = app.usage(&user, "").await;
        assert_eq!(usage["totals"]["requests"], 2, "{backend:?}");
    }
}
