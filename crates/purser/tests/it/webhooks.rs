//! Webhooks: events reach a receiver the test runs, signed with the webhook's secret,
//! retried after a failure, logged, redelivered by hand; only the types asked for, never
//! while inactive, and never to link-local or metadata addresses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use purser_domain::ManualClock;
use purser_store::Backend;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Options, T0, TestApp};
use crate::orgs::{join, org_with_owner};

/// A request received: its headers and body.
type Received = (HeaderMap, Vec<u8>);

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer, in turn; 200 once they run out.
    answers: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(answers: Vec<u16>) -> (Self, String) {
        let receiver = Self { answers: Arc::new(Mutex::new(answers)), ..Self::default() };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    state.got.lock().unwrap().push((headers, body.to_vec()));
                    let mut answers = state.answers.lock().unwrap();
                    let status = if answers.is_empty() { 200 } else { answers.remove(0) };
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    /// Waits until at least `n` requests came.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..300 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = self.got.lock().unwrap().clone();
        assert!(got.len() >= n, "{} of {n} deliveries arrived", got.len());
        got
    }
}

fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) {
    use hmac::{Hmac, Mac};
    let id = headers["webhook-id"].to_str().unwrap();
    let timestamp = headers["webhook-timestamp"].to_str().unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(headers["webhook-signature"].to_str().unwrap(), expected, "the signature checks out");
}

async fn journey(backend: Backend) {
    let clock = Arc::new(ManualClock::new(T0));
    let app = TestApp::start_with(backend, Options { clock: Some(Arc::clone(&clock)), ..Options::default() }).await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Hooks").await;
    let member = join(&app, &owner, &org, "member@example.com", "member").await;
    let hooks = format!("/api/v1/organizations/{org}/webhooks");

    // Refused: addresses webhooks never reach, unknown types, people who are not admins.
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/h",
        "ftp://example.com/",
        "http://user:pw@example.com/",
    ] {
        let reply = app.post(&hooks, Some(&owner.token), json!({ "url": url, "eventTypes": ["*"] })).await;
        assert_eq!((reply.status.as_u16(), reply.body["errors"][0]["field"].as_str()), (422, Some("url")), "{url}");
    }
    let reply = app
        .post(&hooks, Some(&owner.token), json!({ "url": "http://127.0.0.1:9/h", "eventTypes": ["document.renamed"] }))
        .await;
    assert_eq!(reply.body["errors"][0]["field"], "eventTypes[0]");
    assert_eq!(
        app.post(&hooks, Some(&member.token), json!({ "url": "http://127.0.0.1:9/h", "eventTypes": ["*"] }))
            .await
            .status,
        403
    );
    assert_eq!(app.get(&hooks, Some(&member.token)).await.status, 403);

    // The first attempt fails; the retry after its backoff succeeds.
    let (receiver, url) = Receiver::start(vec![500]).await;
    let created = app
        .post(&hooks, Some(&owner.token), json!({ "url": url, "eventTypes": ["document.uploaded"] }))
        .await
        .expect(201);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let hook = created["webhook"]["id"].as_str().unwrap().to_owned();
    assert!(
        app.get(&format!("{hooks}/{hook}"), Some(&owner.token)).await.expect(200).get("secret").is_none(),
        "shown once"
    );

    let doc = app.upload(&member.token, &org, "plan.txt", "text/plain", b"the plan").await.expect(201);
    let doc = doc["document"]["id"].as_str().unwrap().to_owned();
    join(&app, &owner, &org, "second@example.com", "viewer").await; // member.added: not asked for
    let first = receiver.wait_for(1).await;
    let deliveries = format!("{hooks}/{hook}/deliveries");
    let log = app.get(&deliveries, Some(&owner.token)).await.expect(200);
    assert_eq!(log["pagination"]["total"], 1, "only the type asked for");
    let entry = &log["data"][0];
    assert_eq!(
        (entry["status"].as_str(), entry["attempts"].as_u64(), entry["lastStatusCode"].as_u64()),
        (Some("pending"), Some(1), Some(500))
    );
    clock.advance_secs(11);
    let both = receiver.wait_for(2).await;
    for (headers, body) in &both {
        verify(&secret, headers, body);
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            (event["type"].as_str(), event["data"]["resourceId"].as_str()),
            (Some("document.uploaded"), Some(doc.as_str()))
        );
        assert_eq!(headers["webhook-id"].to_str().unwrap(), event["id"].as_str().unwrap());
    }
    assert_eq!(first[0].0["webhook-id"], both[1].0["webhook-id"], "a retry is the same event");
    let mut delivered = Value::Null;
    for _ in 0..100 {
        delivered = app.get(&deliveries, Some(&owner.token)).await.expect(200)["data"][0].clone();
        if delivered["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (delivered["status"].as_str(), delivered["attempts"].as_u64(), delivered["lastStatusCode"].as_u64()),
        (Some("delivered"), Some(2), Some(200))
    );

    // Redelivered by hand.
    let delivery = delivered["id"].as_str().unwrap();
    app.call(Method::POST, &format!("{deliveries}/{delivery}/redeliver"), Some(&owner.token), None).await.expect(202);
    receiver.wait_for(3).await;

    // Inactive: nothing is sent.
    app.patch(&format!("{hooks}/{hook}"), Some(&owner.token), json!({ "active": false })).await.expect(200);
    app.upload(&member.token, &org, "other.txt", "text/plain", b"other").await.expect(201);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), 3);
    assert_eq!(app.get(&deliveries, Some(&owner.token)).await.expect(200)["pagination"]["total"], 1);

    // Every change to webhooks is audited.
    for action in ["webhook.create", "webhook.update", "webhook.redeliver"] {
        let audit = app
            .get(&format!("/api/v1/organizations/{org}/audit-logs?action={action}"), Some(&owner.token))
            .await
            .expect(200);
        assert!(audit["pagination"]["total"].as_u64().unwrap() >= 1, "{action}");
    }
    app.delete(&format!("{hooks}/{hook}"), Some(&owner.token)).await.expect(204);
    assert_eq!(app.get(&deliveries, Some(&owner.token)).await.code(), "webhook_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_logged_and_redelivered_on_sqlite() {
    journey(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_logged_and_redelivered_on_postgres() {
    journey(Backend::Postgres).await;
}
