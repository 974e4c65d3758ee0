use purser_store::Backend;
use serde_json::json;

use crate::harness::{Options, PASSWORD, TestApp};

fn low_limits(c: &mut purser::config::Config) {
    c.limits.login_failures_per_account_and_ip.limit = 3;
    c.limits.login_per_ip.limit = 5;
    c.limits.register_per_ip.limit = 2;
    c.limits.reset_per_email.limit = 1;
}

/// Signs in from `source` (any 127.x.y.z reaches the server over loopback).
async fn sign_in_from(app: &TestApp, source: &str, email: &str, password: &str) -> crate::harness::Reply {
    let client = reqwest::Client::builder().local_address(source.parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    let response = client
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.json().await.unwrap_or_default();
    crate::harness::Reply { status, headers, body }
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
        ("5", "4")
    );
    assert_eq!(first.headers["x-ratelimit-reset"], "60");
    app.register("bob@example.com").await;
    for _ in 0..4 {
        app.post("/api/v1/auth/login", None, json!({ "email": "bob@example.com", "password": PASSWORD }))
            .await
            .expect(200);
    }
    let address_limited =
        app.post("/api/v1/auth/login", None, json!({ "email": "bob@example.com", "password": PASSWORD })).await;
    assert_eq!(
        (address_limited.status.as_u16(), address_limited.code()),
        (429, "rate_limited"),
        "the sixth attempt from one address"
    );
    let retry: u64 = address_limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((59..=60).contains(&retry), "{retry}");

    let third = app
        .post("/api/v1/auth/register", None, json!({ "email": "cid@example.com", "password": PASSWORD, "name": "C" }))
        .await;
    assert_eq!(third.status.as_u16(), 429, "two sign-ups per address");
    assert!(third.headers.contains_key("retry-after"));

    app.post("/api/v1/auth/password-reset/request", None, json!({ "email": "ada@example.com" })).await;
    let again = app.post("/api/v1/auth/password-reset/request", None, json!({ "email": "ada@example.com" })).await;
    assert_eq!(again.status.as_u16(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_streak_never_locks_the_owner_out() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        Options::tweak(|c| {
            c.limits.login_failures_per_account_and_ip.limit = 3;
            c.limits.login_failures_per_account.limit = 6;
            c.limits.login_delay = purser::config::DelayConfig { first_ms: 1, max_ms: 20 };
        }),
    )
    .await;
    app.register("ada@example.com").await;
    // Mallory guesses from one address until that address is refused for Ada's account,
    // even with the right password.
    for _ in 0..3 {
        assert_eq!(sign_in_from(&app, "127.0.0.1", "ADA@example.com", "wrong password!").await.status.as_u16(), 401);
    }
    let refused = sign_in_from(&app, "127.0.0.1", "ada@example.com", PASSWORD).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (429, "rate_limited"));
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((899..=900).contains(&retry), "{retry}");
    // Other accounts from that address are not refused.
    app.register("bob@example.com").await;
    sign_in_from(&app, "127.0.0.1", "bob@example.com", PASSWORD).await.expect(200);
    // Ada signs in from her own address, again and again: successes never count.
    for _ in 0..10 {
        sign_in_from(&app, "127.0.0.2", "ada@example.com", PASSWORD).await.expect(200);
    }
    // A streak spread over many addresses passes the account's ceiling: sign-ins to it
    // slow down, but the owner still gets in.
    for n in 3..12 {
        assert_eq!(
            sign_in_from(&app, &format!("127.0.0.{n}"), "ada@example.com", "wrong password!").await.status.as_u16(),
            401
        );
    }
    sign_in_from(&app, "127.0.0.2", "ada@example.com", PASSWORD).await.expect(200);
    let guess = sign_in_from(&app, "127.0.0.20", "ada@example.com", "wrong password!").await;
    assert_eq!(guess.status.as_u16(), 401, "each guess is still judged, only later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_get_no_more_tries_and_no_account_text_reaches_another_count() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        Options::tweak(|c| {
            c.limits.login_failures_per_account_and_ip.limit = 3;
            c.limits.login_per_ip.limit = 1000;
        }),
    )
    .await;
    app.register("ada@example.com").await;
    // Twelve guesses at once from one address: each is counted before its password is
    // checked, so only three are judged.
    let guesses = (0..12).map(|_| sign_in_from(&app, "127.0.0.3", "ada@example.com", "wrong password!"));
    let mut statuses: Vec<u16> =
        futures_util::future::join_all(guesses).await.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [[401; 3].as_slice(), &[429; 9]].concat());
    // Failures on account texts made to look like another account's count from an address
    // never touch that account's counts.
    for account in ["ada@example.com:127.0.0.4", "127.0.0.4|ada@example.com", "ada@example.com|127.0.0.4"] {
        for _ in 0..4 {
            sign_in_from(&app, "127.0.0.4", account, "wrong password!").await;
        }
    }
    sign_in_from(&app, "127.0.0.4", "ada@example.com", PASSWORD).await.expect(200);
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
