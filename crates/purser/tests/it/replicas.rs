use std::time::{Duration, Instant};

use purser_store::Backend;
use serde_json::json;

use purser_mock_upstream::server::{MockConfig, MockUpstream};

use crate::harness::{Options, TestApp, chat_body};

const MASTER_KEY: &str = "6b3a55e0261b0304143f805a24924d0c1c00c0a5f8b6f26d3e6c1f77d1a3e5f1";

fn replica(database_url: Option<String>) -> Options {
    Options {
        database_url,
        ..Options::tweak(|c| c.secrets.master_key = Some(purser::config::Secret::from(MASTER_KEY)))
    }
}

/// Two replicas on one PostgreSQL database: what one revokes, the other refuses at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_every_replica() {
    let one = TestApp::start_with(Backend::Postgres, replica(None)).await;
    let two = TestApp::start_with(Backend::Postgres, replica(Some(one.database_url.clone()))).await;
    let session = one.user("ada@example.com").await;
    two.get("/api/v1/auth/me", Some(&session.token)).await.expect(200);
    assert_eq!(one.post("/api/v1/auth/logout", Some(&session.token), json!({})).await.status.as_u16(), 204);
    assert_eq!(
        two.get("/api/v1/auth/me", Some(&session.token)).await.status.as_u16(),
        401,
        "logged out on one, refused on the other"
    );
    let refresh = two.post("/api/v1/auth/refresh", None, json!({ "refreshToken": session.refresh })).await;
    assert_eq!(refresh.status.as_u16(), 401);

    // Ids from the two replicas never collide: they lease different worker ids.
    let a = one.user("bob@example.com").await;
    let b = two.user("cid@example.com").await;
    let worker = |id: &str| (id.parse::<i64>().unwrap() >> 12) & 0x3ff;
    assert_ne!(worker(&a.id), worker(&b.id));

    // Keys, limits and models changed through one replica apply on the other within a second.
    let admin = one.admin().await;
    let model = one.model(&admin, json!({})).await;
    let (key_id, key) = one.key(&a, &[model["id"].as_str().unwrap()], json!({})).await;
    within_a_second(|| async { two.chat(&key, chat_body("mock-model")).await.status.as_u16() == 200 }).await;

    one.put(&format!("/api/v1/users/{}/limits", a.id), Some(&admin.token), json!({ "rpmLimit": 1 })).await.expect(200);
    within_a_second(|| async { two.chat(&key, chat_body("mock-model")).await.status.as_u16() == 429 }).await;
    one.put(&format!("/api/v1/users/{}/limits", a.id), Some(&admin.token), json!({})).await.expect(200);
    within_a_second(|| async { two.chat(&key, chat_body("mock-model")).await.status.as_u16() == 200 }).await;

    one.delete(&format!("/api/v1/api-keys/{key_id}"), Some(&a.token)).await;
    within_a_second(|| async { two.chat(&key, chat_body("mock-model")).await.status.as_u16() == 401 }).await;
}

/// Waits for `check` to hold, failing the test if that takes a second or more.
async fn within_a_second<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(1), "the change did not reach the other replica within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn redis_url() -> String {
    std::env::var("PURSER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A replica counting its gateway limits in Redis at `url` under `prefix`, exchanging every
/// 20 ms.
pub fn sharing(database_url: Option<String>, prefix: &str, url: String) -> Options {
    let prefix = prefix.to_owned();
    Options {
        database_url,
        ..Options::tweak(move |c| {
            c.secrets.master_key = Some(purser::config::Secret::from(MASTER_KEY));
            c.limits.redis_url = Some(purser::config::Secret::from(url.as_str()));
            c.limits.redis_prefix = prefix.clone();
            c.gateway.shared_sync_ms = 20;
        })
    }
}

/// Long enough for both replicas to have exchanged their counts.
pub async fn exchange() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// With Redis, a key's requests per minute, budget and requests in flight hold across
/// replicas: neither replica alone has seen enough to refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_limits_and_spend_are_shared_through_redis() {
    let prefix = format!("purser-test-{:x}:", crate::limits::rand_suffix());
    let one = TestApp::start_with(Backend::Postgres, sharing(None, &prefix, redis_url())).await;
    let admin = one.admin().await;
    let model = one.model(&admin, json!({})).await;
    let model_id = model["id"].as_str().unwrap();
    let slow = MockUpstream::start(MockConfig { latency: Duration::from_millis(800), ..Default::default() }).await;
    let slow_model = one
        .model(
            &admin,
            json!({ "name": "slow", "provider": "vllm", "upstreamUrl": slow.base_url(), "upstreamModel": "m" }),
        )
        .await;
    let user = one.user("ada@example.com").await;
    let (_, rpm_key) = one.key(&user, &[model_id], json!({ "rpmLimit": 4 })).await;
    let (_, probe) = one.key(&user, &[model_id], json!({})).await;
    one.chat(&probe, chat_body("mock-model")).await.expect(200);
    let cost: f64 = one.usage(&user, "").await["totals"]["cost"].as_str().unwrap().parse().unwrap();
    let budget = format!("{:.9}", cost * 2.5);
    let (_, budget_key) = one.key(&user, &[model_id], json!({ "maxBudget": budget })).await;
    let (_, parallel_key) = one.key(&user, &[slow_model["id"].as_str().unwrap()], json!({ "maxParallel": 2 })).await;
    // Started after the keys exist, so it knows them from the start.
    let two =
        TestApp::start_with(Backend::Postgres, sharing(Some(one.database_url.clone()), &prefix, redis_url())).await;
    let status = |reply: crate::harness::Reply| reply.status.as_u16();

    // Requests per minute: three here and one there use up a limit of four.
    for app in [&one, &one, &one, &two] {
        app.chat(&rpm_key, chat_body("mock-model")).await.expect(200);
    }
    exchange().await;
    let refused = two.chat(&rpm_key, chat_body("mock-model")).await;
    assert_eq!(
        (refused.status.as_u16(), refused.body["error"]["code"].as_str().unwrap_or_default()),
        (429, "rate_limit_exceeded"),
        "{}",
        refused.body
    );
    assert_eq!(status(one.chat(&rpm_key, chat_body("mock-model")).await), 429);

    // Spend: a budget of two and a half answers; one spent on each replica, then a third
    // on the second, which refuses a fourth although it has paid for only two itself.
    two.chat(&budget_key, chat_body("mock-model")).await.expect(200);
    one.chat(&budget_key, chat_body("mock-model")).await.expect(200);
    exchange().await;
    two.chat(&budget_key, chat_body("mock-model")).await.expect(200);
    let refused = two.chat(&budget_key, chat_body("mock-model")).await;
    assert_eq!(
        (refused.status.as_u16(), refused.body["error"]["code"].as_str().unwrap_or_default()),
        (429, "insufficient_quota"),
        "{}",
        refused.body
    );
    exchange().await;
    assert_eq!(status(one.chat(&budget_key, chat_body("mock-model")).await), 429, "the other replica's spend counted");

    // Requests in flight: two slow requests on one replica fill a limit of two. (A replica
    // hears of a scope's use elsewhere once it has used the scope itself.)
    two.chat(&parallel_key, chat_body("slow")).await.expect(200);
    exchange().await; // ...and that it is over
    let held =
        tokio::join!(one.chat(&parallel_key, chat_body("slow")), one.chat(&parallel_key, chat_body("slow")), async {
            exchange().await;
            two.chat(&parallel_key, chat_body("slow")).await
        });
    assert_eq!((held.0.status.as_u16(), held.1.status.as_u16()), (200, 200));
    assert_eq!(
        (held.2.status.as_u16(), held.2.body["error"]["code"].as_str().unwrap_or_default()),
        (429, "parallel_limit_exceeded"),
        "the other replica's requests in flight counted"
    );
    exchange().await;
    two.chat(&parallel_key, chat_body("slow")).await.expect(200);
}
