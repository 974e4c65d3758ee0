//! Faults outside Purser: the database going away under load.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use purser_store::Backend;
use purser_store::testing::TestDatabase;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{Options, TestApp, chat_body, metric};

/// A TCP relay in front of a server that the test can cut (every connection dropped and
/// the port closed, so new connections are refused) and restore on the same port, like a
/// database host going away and coming back.
struct Relay {
    addr: SocketAddr,
    target: SocketAddr,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Self {
            addr: listener.local_addr().unwrap(),
            target,
            connections: Arc::default(),
            accept: Mutex::new(None),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let (target, connections) = (self.target, Arc::clone(&self.connections));
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(task.abort_handle());
            }
        });
        *self.accept.lock().unwrap() = Some(accept);
    }

    fn cut(&self) {
        if let Some(accept) = self.accept.lock().unwrap().take() {
            accept.abort();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    async fn restore(&self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// An app on a fresh PostgreSQL database that it reaches through a relay the test can cut,
/// and a user's key that has made one request. (Bind `_db` first: the database must outlive
/// the app, and bindings are dropped in reverse order.)
struct Outage {
    app: TestApp,
    relay: Relay,
    user: crate::harness::Session,
    key: String,
    _db: TestDatabase,
}

async fn app_behind_relay(tweak: impl Fn(&mut purser::Config) + Send + Sync + 'static) -> Outage {
    let db = TestDatabase::create(Backend::Postgres).await;
    let target: SocketAddr = {
        let host = db.url.split('@').nth(1).unwrap().split('/').next().unwrap();
        tokio::net::lookup_host(host).await.unwrap().next().unwrap()
    };
    let relay = Relay::start(target).await;
    let url = db.url.replacen(&target.to_string(), &relay.addr.to_string(), 1);
    let url = if url == db.url { db.url.replacen("localhost", &relay.addr.to_string(), 1) } else { url };
    assert_ne!(url, db.url, "the database URL goes through the relay");
    let app =
        TestApp::start_with(Backend::Postgres, Options { database_url: Some(url), ..Options::tweak(tweak) }).await;
    let admin = app.admin().await;
    let model = app.model(&admin, json!({})).await;
    let user = app.user("ada@example.com").await;
    let (_, key) =
        app.key(&user, &[model["id"].as_str().unwrap()], json!({ "rpmLimit": 100000, "maxBudget": "1000" })).await;
    app.chat(&key, chat_body("mock-model")).await.expect(200);
    Outage { app, relay, user, key, _db: db }
}

/// With the database gone, known keys keep working and their usage waits in memory (the
/// `purser_usage_pending` gauge shows it); when the database is back, all of it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_through_a_database_outage_and_loses_no_usage() {
    let Outage { _db, app, relay, user, key } = app_behind_relay(|c| c.gateway.usage_flush_ms = 20).await;
    let admin = app.admin().await;

    relay.cut();
    let started = Instant::now();
    for _ in 0..50 {
        app.chat(&key, chat_body("mock-model")).await.expect(200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answers do not wait for the database: {:?}",
        started.elapsed()
    );
    let metrics = app.get_text("/metrics").await;
    assert!(metric(&metrics, "purser_usage_pending") >= 50.0, "usage is held in memory");
    let down = app.get("/api/v1/models", Some(&admin.token)).await;
    assert_eq!((down.status.as_u16(), down.code()), (503, "database_unavailable"));

    relay.restore().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = app.get_text("/metrics").await;
        if metric(&metrics, "purser_usage_pending") == 0.0 {
            assert_eq!(metric(&metrics, "purser_usage_dropped_total"), 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "usage was not written after the database came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let usage = app.usage(&user, "").await;
    assert_eq!(usage["totals"]["requests"], 51, "every answered request has its usage row");
}

/// Usage held in memory is bounded: past `gateway.usage_buffer` records per serving thread,
/// new ones are dropped and counted, and every answered request is either written or
/// counted as dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_held_through_an_outage_is_bounded_and_what_is_dropped_is_counted() {
    let Outage { _db, app, relay, user, key } = app_behind_relay(|c| {
        c.gateway.usage_flush_ms = 20;
        c.gateway.usage_buffer = 5;
    })
    .await;
    assert_eq!(app.usage(&user, "").await["totals"]["requests"], 1);

    relay.cut();
    for _ in 0..100 {
        app.chat(&key, chat_body("mock-model")).await.expect(200);
    }
    let metrics = app.get_text("/metrics").await;
    let dropped = metric(&metrics, "purser_usage_dropped_total");
    assert!(dropped > 0.0, "a full buffer drops new records");
    assert!(metric(&metrics, "purser_usage_pending") <= 100.0 - dropped, "what is held was not dropped");

    relay.restore().await;
    until_metrics(&app, 30, "the held usage written", |m| metric(m, "purser_usage_pending") == 0.0).await;
    let usage = app.usage(&user, "").await;
    let written = usage["totals"]["requests"].as_f64().unwrap();
    assert_eq!(written + dropped, 101.0, "every answered request is written or counted as dropped");
    assert!(written >= 6.0, "the records held in a buffer were written: {written}");
}

/// Waits until `check` holds on the app's metrics, failing after `seconds`.
async fn until_metrics(app: &TestApp, seconds: u64, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check(&app.get_text("/metrics").await) {
        assert!(Instant::now() < deadline, "{what}: not within {seconds} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With Redis gone, a replica sharing its limits keeps answering from its own counts; once
/// Redis is back, it tells the others what it admitted meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_limits_keep_serving_without_redis_and_catch_up_after() {
    use crate::replicas::{exchange, redis_url, sharing};
    let direct = redis_url();
    let target: SocketAddr = {
        let host = direct.trim_start_matches("redis://").split('/').next().unwrap();
        tokio::net::lookup_host(host).await.unwrap().next().unwrap()
    };
    let relay = Relay::start(target).await;
    let prefix = format!("purser-test-{:x}:", crate::limits::rand_suffix());
    let one = TestApp::start_with(Backend::Postgres, sharing(None, &prefix, format!("redis://{}", relay.addr))).await;
    let admin = one.admin().await;
    let model = one.model(&admin, json!({})).await;
    let user = one.user("ada@example.com").await;
    let (_, key) = one.key(&user, &[model["id"].as_str().unwrap()], json!({ "rpmLimit": 5 })).await;
    let two = TestApp::start_with(Backend::Postgres, sharing(Some(one.database_url.clone()), &prefix, direct)).await;
    two.chat(&key, chat_body("mock-model")).await.expect(200);
    exchange().await;

    relay.cut();
    for _ in 0..3 {
        one.chat(&key, chat_body("mock-model")).await.expect(200);
    }
    until_metrics(&one, 5, "a failed exchange", |m| metric(m, "purser_shared_limit_round_failures_total") > 0.0).await;
    one.chat(&key, chat_body("mock-model")).await.expect(200); // still answering

    relay.restore().await;
    let failures = metric(&one.get_text("/metrics").await, "purser_shared_limit_round_failures_total");
    let rounds = metric(&one.get_text("/metrics").await, "purser_shared_limit_rounds_total");
    until_metrics(&one, 20, "an exchange after Redis came back", |m| {
        metric(m, "purser_shared_limit_rounds_total") > rounds
    })
    .await;
    assert!(metric(&one.get_text("/metrics").await, "purser_shared_limit_round_failures_total") >= failures);
    exchange().await;
    // Five a minute in all: one here, four on the other replica while Redis was away.
    let refused = two.chat(&key, chat_body("mock-model")).await;
    assert_eq!(
        (refused.status.as_u16(), refused.body["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded")),
        "{}",
        refused.body
    );
}
