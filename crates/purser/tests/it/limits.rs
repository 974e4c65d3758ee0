use purser_store::Backend;
use serde_json::json;

use crate::harness::{Options, PASSWORD, TestApp};

fn low_limits(c: &mut purser::config::Config) {
    c.limits.login_per_account.limit = 3;
    c.limits.login_per_ip.limit = 5;
    c.limits.register_per_ip.limit = 2;
    c.limits.reset_per_email.limit = 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sign_up_and_resets_are_rate_limited_with_headers() {
    let app = TestApp::start_with(Backend::Sqlite, Options::tweak(low_limits)).await;
    app.register("ada@example.com").await;
    let first = app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    assert_eq!(first.status.as_u16(), 200);
    assert_eq!(
        (
            first.headers["x-ratelimit-limit"].to_str().unwrap(),
            first.headers["x-ratelimit-remaining"].to_str().unwrap()
        ),
        ("3", "2")
    );
    assert_eq!(first.headers["x-ratelimit-reset"], "900");
    for _ in 0..2 {
        app.post("/api/v1/auth/login", None, json!({ "email": "ADA@example.com", "password": "wrong password!" }))
            .await;
    }
    let limited =
        app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    assert_eq!((limited.status.as_u16(), limited.code()), (429, "rate_limited"), "even the right password waits");
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((899..=900).contains(&retry), "{retry}");
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    // Another account from the same address still gets through, until the address's own limit.
    app.register("bob@example.com").await;
    let other = app.post("/api/v1/auth/login", None, json!({ "email": "bob@example.com", "password": PASSWORD })).await;
    assert_eq!(other.status.as_u16(), 200);
    let address_limited =
        app.post("/api/v1/auth/login", None, json!({ "email": "bob@example.com", "password": PASSWORD })).await;
    assert_eq!(address_limited.status.as_u16(), 429, "five attempts from one address");

    let third = app
        .post("/api/v1/auth/register", None, json!({ "email": "cid@example.com", "password": PASSWORD, "name": "C" }))
        .await;
    assert_eq!(third.status.as_u16(), 429, "two sign-ups per address");
    assert!(third.headers.contains_key("retry-after"));

    app.post("/api/v1/auth/password-reset/request", None, json!({ "email": "ada@example.com" })).await;
    let again = app.post("/api/v1/auth/password-reset/request", None, json!({ "email": "ada@example.com" })).await;
    assert_eq!(again.status.as_u16(), 429);
}

/// Two Purser instances sharing Redis enforce one limit between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_instances_sharing_redis() {
    let url = std::env::var("PURSER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // Each run counts in its own Redis namespace.
    let prefix = format!("purser-test-{:x}:", rand_suffix());
    let shared = move || {
        let (url, prefix) = (url.clone(), prefix.clone());
        Options::tweak(move |c| {
            low_limits(c);
            c.limits.redis_url = Some(purser::config::Secret::from(url.as_str()));
            c.limits.redis_prefix = prefix.clone();
        })
    };
    let one = TestApp::start_with(Backend::Sqlite, shared()).await;
    let two = TestApp::start_with(Backend::Postgres, shared()).await;
    let attempt = json!({ "email": "mallory@example.com", "password": "guessing password" });
    for app in [&one, &two, &one] {
        assert_eq!(app.post("/api/v1/auth/login", None, attempt.clone()).await.status.as_u16(), 401);
    }
    let refused = two.post("/api/v1/auth/login", None, attempt.clone()).await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (429, "rate_limited"),
        "the fourth attempt, on the other instance"
    );
    assert_eq!(one.post("/api/v1/auth/login", None, attempt).await.status.as_u16(), 429);
}

pub fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    #[allow(clippy::disallowed_methods)] // a unique Redis namespace for this run, not a rule
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id())
}
