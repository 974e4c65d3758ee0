use std::time::{Duration, Instant};

use purser_store::Backend;
use serde_json::json;

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
