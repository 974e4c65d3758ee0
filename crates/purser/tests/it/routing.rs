//! Routing across a model's deployments: weights, retries, fallback, circuit breakers,
//! deployment limits, timeouts and cancellation, against real mock model servers.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use purser_mock_upstream::server::{MockConfig, MockUpstream};
use purser_store::Backend;
use serde_json::{Value, json};

use crate::harness::{Options, TestApp, chat_body, metric};

/// Quick breakers and retries, so tests see them act within a second.
fn options() -> Options {
    Options::tweak(|c| {
        c.gateway.retries = 2;
        c.gateway.retry_backoff_ms = 10;
        c.gateway.breaker_failures = 3;
        c.gateway.breaker_cooldown_ms = 1000;
        c.gateway.first_byte_timeout_ms = 1000;
        c.gateway.stream_idle_timeout_ms = 1000;
    })
}

async fn start() -> TestApp {
    TestApp::start_with(Backend::Sqlite, options()).await
}

/// A model `name` with these deployments, and a user's key for it.
async fn served(app: &TestApp, name: &str, deployments: Value) -> (Value, String) {
    let admin = app.admin().await;
    let model = app
        .model(
            &admin,
            json!({ "name": name, "provider": "vllm", "deployments": deployments, "capabilities": ["chat"] }),
        )
        .await;
    let user = app.user(&format!("{name}@example.com")).await;
    let (_, key) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
    (model, key)
}

fn deployment(upstream: &MockUpstream, upstream_model: &str, extra: Value) -> Value {
    let mut d = json!({ "upstreamUrl": upstream.base_url(), "upstreamModel": upstream_model });
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_is_spread_by_weight() {
    let app = start().await;
    let (light, heavy) =
        (MockUpstream::start(MockConfig::default()).await, MockUpstream::start(MockConfig::default()).await);
    let (_, key) = served(
        &app,
        "spread",
        json!([deployment(&light, "m", json!({ "weight": 1 })), deployment(&heavy, "m", json!({ "weight": 3 }))]),
    )
    .await;
    for _ in 0..200 {
        app.chat(&key, chat_body("spread")).await.expect(200);
    }
    let (l, h) = (light.state.requests(), heavy.state.requests());
    assert_eq!(l + h, 200);
    assert!((120..=180).contains(&h), "weight 3 of 4 should take about 150 of 200 requests, took {h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_fall_back_and_the_breaker_takes_a_failing_deployment_out_until_it_recovers() {
    let app = start().await;
    let (bad, good) =
        (MockUpstream::start(MockConfig::default()).await, MockUpstream::start(MockConfig::default()).await);
    let (model, key) = served(
        &app,
        "resilient",
        json!([
            deployment(&bad, "fail-500", json!({ "weight": 1000 })),
            deployment(&good, "fine", json!({ "weight": 1 }))
        ]),
    )
    .await;
    for _ in 0..30 {
        let reply = app.chat(&key, chat_body("resilient")).await.expect(200);
        assert_eq!(reply["model"], "fine", "answered by the healthy deployment");
    }
    assert_eq!(bad.state.requests(), 3, "three failures open the breaker; no traffic after that");

    // After the cooldown one probe goes to the failing deployment, fails, and reopens it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..10 {
        app.chat(&key, chat_body("resilient")).await.expect(200);
    }
    assert_eq!(bad.state.requests(), 4, "exactly one probe");

    // The server is fixed; the probe after the next cooldown closes the breaker.
    let admin = app.admin().await;
    let (model_id, bad_id) = (model["id"].as_str().unwrap(), model["deployments"][0]["id"].as_str().unwrap());
    app.patch(
        &format!("/api/v1/admin/models/{model_id}/deployments/{bad_id}"),
        Some(&admin.token),
        json!({ "upstreamModel": "fixed" }),
    )
    .await
    .expect(200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut fixed = 0;
    for _ in 0..20 {
        let reply = app.chat(&key, chat_body("resilient")).await.expect(200);
        fixed += usize::from(reply["model"] == "fixed");
    }
    assert!(fixed >= 18, "the recovered deployment takes its weight again ({fixed} of 20)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_is_skipped_quickly() {
    let app = start().await;
    let (dead, alive) =
        (MockUpstream::start(MockConfig::default()).await, MockUpstream::start(MockConfig::default()).await);
    dead.kill();
    let (_, key) = served(
        &app,
        "skips",
        json!([deployment(&dead, "m", json!({ "weight": 1000 })), deployment(&alive, "m", json!({}))]),
    )
    .await;
    let started = Instant::now();
    for _ in 0..20 {
        app.chat(&key, chat_body("skips")).await.expect(200);
    }
    assert_eq!(alive.state.requests(), 20);
    assert!(started.elapsed() < Duration::from_secs(3), "refused connections cost no waiting: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_deployment_is_retried_with_backoff_and_its_last_answer_reaches_the_client() {
    let app = start().await;
    let upstream = MockUpstream::start(MockConfig::default()).await;
    let admin = app.admin().await;
    let mut ids = Vec::new();
    for (name, upstream_model) in [("errors", "fail-503"), ("busy", "fail-429"), ("picky", "fail-400")] {
        let m = app
            .model(&admin, json!({ "name": name, "provider": "vllm", "upstreamUrl": upstream.base_url(), "upstreamModel": upstream_model }))
            .await;
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    let user = app.user("ada@example.com").await;
    let (_, key) = app.key(&user, &ids.iter().map(String::as_str).collect::<Vec<_>>(), json!({})).await;

    let failed = app.chat(&key, chat_body("errors")).await;
    assert_eq!((failed.status.as_u16(), failed.body["error"]["code"].as_str()), (502, Some("upstream_error")));
    assert_eq!(upstream.state.requests(), 3, "one attempt and two retries");

    let busy = app.chat(&key, chat_body("busy")).await;
    assert_eq!(busy.status.as_u16(), 429, "the server's own rate limit reaches the client: {}", busy.body);
    assert_eq!(busy.body["error"]["type"], "mock_error", "in the server's words");
    assert_eq!(upstream.state.requests(), 4, "a throttling server is left alone, not retried at once");

    let picky = app.chat(&key, chat_body("picky")).await;
    assert_eq!(picky.status.as_u16(), 400, "the client's mistake is not retried");
    assert_eq!(upstream.state.requests(), 5);

    let usage = app.usage(&user, "").await;
    assert_eq!(usage["totals"]["requests"], 3, "each request is metered once, however many attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_dies_before_its_first_chunk_is_retried_elsewhere() {
    let app = start().await;
    let (dropper, good) =
        (MockUpstream::start(MockConfig::default()).await, MockUpstream::start(MockConfig::default()).await);
    let (_, key) = served(
        &app,
        "streams",
        json!([
            deployment(&dropper, "drop-stream", json!({ "weight": 1000 })),
            deployment(&good, "m", json!({ "weight": 1 }))
        ]),
    )
    .await;
    let mut body = chat_body("streams");
    body["stream"] = json!(true);
    let response =
        app.http.post(format!("{}/v1/chat/completions", app.base)).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "a whole stream from the good deployment: {text}");
    assert_eq!((dropper.state.requests(), good.state.requests()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_cancels_the_upstream_request() {
    let app = start().await;
    let upstream = MockUpstream::start(MockConfig::default()).await;
    let (_, key) = served(&app, "hangs", json!([deployment(&upstream, "hang", json!({}))])).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let gone = impatient
        .post(format!("{}/v1/chat/completions", app.base))
        .bearer_auth(&key)
        .json(&chat_body("hangs"))
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up");
    assert_eq!(upstream.state.requests(), 1);
    let deadline = Instant::now() + Duration::from_secs(2);
    while upstream.state.in_flight() > 0 {
        assert!(Instant::now() < deadline, "the upstream request was not cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_timeout_ends_a_slow_stream_and_nothing_hangs() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        Options::tweak(|c| {
            c.gateway.total_timeout_ms = 1200;
            c.gateway.stream_idle_timeout_ms = 1000;
        }),
    )
    .await;
    // Each chunk comes within the idle timeout, but the whole answer would take ~4 s.
    let upstream =
        MockUpstream::start(MockConfig { chunk_delay: Duration::from_millis(250), ..Default::default() }).await;
    let (_, key) = served(&app, "dawdles", json!([deployment(&upstream, "m", json!({}))])).await;
    let mut body = chat_body("dawdles");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(16);
    let started = Instant::now();
    let response =
        app.http.post(format!("{}/v1/chat/completions", app.base)).bearer_auth(&key).json(&body).send().await.unwrap();
    let mut chunks = response.bytes_stream();
    let mut broke = false;
    while let Some(chunk) = chunks.next().await {
        broke |= chunk.is_err();
    }
    let took = started.elapsed();
    assert!(broke, "the stream ends with an error, not a clean end");
    assert!((Duration::from_millis(1100)..Duration::from_millis(2500)).contains(&took), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_at_its_own_limit_passes_traffic_to_the_others() {
    let app = start().await;
    let (small, big) =
        (MockUpstream::start(MockConfig::default()).await, MockUpstream::start(MockConfig::default()).await);
    let (_, key) = served(
        &app,
        "limited",
        json!([
            deployment(&small, "m", json!({ "weight": 1000, "rpmLimit": 3 })),
            deployment(&big, "m", json!({ "weight": 1 }))
        ]),
    )
    .await;
    for _ in 0..10 {
        app.chat(&key, chat_body("limited")).await.expect(200);
    }
    assert_eq!((small.state.requests(), big.state.requests()), (3, 7));

    let (_, only_key) = served(&app, "tiny", json!([deployment(&small, "m", json!({ "rpmLimit": 1 }))])).await;
    app.chat(&only_key, chat_body("tiny")).await.expect(200);
    let full = app.chat(&only_key, chat_body("tiny")).await;
    assert_eq!((full.status.as_u16(), full.body["error"]["code"].as_str()), (429, Some("upstream_rate_limited")));
    let retry_after: u64 = full.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

both! {
    async fn admins_manage_deployments(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({ "name": "served", "provider": "vllm", "upstreamUrl": "http://one:8000/v1", "upstreamApiKey": "sk-one" })).await;
        let id = model["id"].as_str().unwrap();
        let base = format!("/api/v1/admin/models/{id}/deployments");
        let added = app
            .post(&base, Some(&admin.token), json!({ "upstreamUrl": "http://two:8000/v1/", "upstreamModel": "org/two", "weight": 3, "tpmLimit": 50000 }))
            .await
            .expect(201);
        let deployments = added["deployments"].as_array().unwrap();
        assert_eq!(deployments.len(), 2);
        let second = &deployments[1];
        assert_eq!((second["upstreamUrl"].as_str(), second["upstreamModel"].as_str()), (Some("http://two:8000/v1"), Some("org/two")));
        assert_eq!((second["weight"].as_u64(), second["tpmLimit"].as_u64(), second["hasApiKey"].as_bool()), (Some(3), Some(50000), Some(false)));
        let second_id = second["id"].as_str().unwrap();

        let changed = app
            .patch(&format!("{base}/{second_id}"), Some(&admin.token), json!({ "upstreamApiKey": "sk-two", "tpmLimit": null, "weight": 7 }))
            .await
            .expect(200);
        let second = &changed["deployments"][1];
        assert_eq!((second["weight"].as_u64(), second["tpmLimit"].is_null(), second["hasApiKey"].as_bool()), (Some(7), true, Some(true)));
        assert_eq!(second["upstreamModel"], "org/two", "absent fields stay");
        assert!(!changed.to_string().contains("sk-two"));

        let bad = app.patch(&format!("{base}/{second_id}"), Some(&admin.token), json!({ "weight": 0, "upstreamUrl": "nope" })).await;
        assert_eq!(bad.status.as_u16(), 422);
        let fields: Vec<&str> = bad.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["upstreamUrl", "weight"]);
        let unknown = app.patch(&format!("{base}/1"), Some(&admin.token), json!({ "weight": 2 })).await;
        assert_eq!((unknown.status.as_u16(), unknown.code()), (404, "deployment_not_found"));

        let first_id = model["deployments"][0]["id"].as_str().unwrap();
        let removed = app.delete(&format!("{base}/{first_id}"), Some(&admin.token)).await.expect(200);
        assert_eq!(removed["deployments"].as_array().unwrap().len(), 1);
        let last = app.delete(&format!("{base}/{second_id}"), Some(&admin.token)).await;
        assert_eq!((last.status.as_u16(), last.code()), (409, "last_deployment"));

        let mock = app.model(&admin, json!({ "name": "canned" })).await;
        let refused = app
            .post(&format!("/api/v1/admin/models/{}/deployments", mock["id"].as_str().unwrap()), Some(&admin.token), json!({ "upstreamUrl": "http://x/v1" }))
            .await;
        assert_eq!((refused.status.as_u16(), refused.code()), (409, "mock_model"));
        let to_mock = app.patch(&format!("/api/v1/admin/models/{id}"), Some(&admin.token), json!({ "provider": "mock" })).await;
        assert_eq!((to_mock.status.as_u16(), to_mock.body["errors"][0]["field"].as_str()), (422, Some("provider")));

        for _ in 0..15 {
            app.post(&base, Some(&admin.token), json!({ "upstreamUrl": "http://more:8000/v1" })).await.expect(201);
        }
        let too_many = app.post(&base, Some(&admin.token), json!({ "upstreamUrl": "http://more:8000/v1" })).await;
        assert_eq!((too_many.status.as_u16(), too_many.body["errors"][0]["field"].as_str()), (422, Some("upstreamUrl")));
    }
}

/// The overhead histogram holds the gateway's own time only: the model server's 300 ms,
/// and first attempts that wait out the 1 s first-byte timeout on a silent deployment,
/// are left out of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overhead_histogram_leaves_out_the_time_spent_on_model_servers() {
    let app = start().await;
    let (silent, slow) =
        (MockUpstream::start(MockConfig::default()).await, MockUpstream::start(MockConfig::default()).await);
    let (_, key) = served(
        &app,
        "overhead",
        json!([deployment(&silent, "hang", json!({ "weight": 1000 })), deployment(&slow, "slow-300", json!({}))]),
    )
    .await;
    for _ in 0..3 {
        app.chat(&key, chat_body("overhead")).await.expect(200);
    }
    assert_eq!(slow.state.requests(), 3);
    let timed_out = silent.state.requests() as f64;
    assert!(timed_out >= 1.0, "the silent deployment (weight 1000 of 1001) is tried first");
    let metrics = app.get_text("/metrics").await;
    assert_eq!(metric(&metrics, "purser_gateway_overhead_seconds_count"), 3.0);
    let (overhead, total) = (
        metric(&metrics, "purser_gateway_overhead_seconds_sum"),
        metric(&metrics, "purser_gateway_request_duration_seconds_sum"),
    );
    assert!(total >= 0.9 + timed_out, "three answers of 300 ms after {timed_out} timeouts of 1 s took {total} s");
    assert!(overhead < 0.15, "the gateway's own time is far below the model servers': {overhead} s of {total} s");
}
