//! RFC 3161 timestamps against a real time-stamping authority (`openssl ts` with a test
//! CA): uploads stamped for organizations that choose it, many documents stamped on demand,
//! replies that `openssl ts -verify` accepts, and authorities that must not be trusted.

use purser_domain::Clock;
use purser_services::timestamp_token;
use purser_store::Backend;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{Session, TestApp};
use crate::orgs::{join, org_with_owner};
use crate::tsa::{Signer, Tsa};

const MINUTES: &[u8] = b"Minutes of the board, 7 December\n";
const CONTRACT: &[u8] = b"The parties agree as follows.\n";

fn docs(org: &str) -> String {
    format!("/api/v1/organizations/{org}/documents")
}

async fn tsr(app: &TestApp, token: &str, org: &str, doc: &str) -> (u16, Option<String>, Vec<u8>) {
    let response =
        app.http.get(format!("{}{}/{doc}/timestamp.tsr", app.base, docs(org))).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    (status, kind, response.bytes().await.unwrap().to_vec())
}

async fn stamp(app: &TestApp, who: &Session, org: &str, ids: &[&str]) -> crate::harness::Reply {
    app.post(&format!("{}/timestamps", docs(org)), Some(&who.token), json!({ "documentIds": ids })).await
}

fn id(reply: &Value) -> String {
    reply["document"]["id"].as_str().unwrap().to_owned()
}

async fn journey(backend: Backend) {
    let tsa = Tsa::start(Signer::Trusted).await;
    let app = TestApp::start_with(backend, tsa.options()).await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Stamped").await;
    let member = join(&app, &owner, &org, "member@example.com", "member").await;
    let viewer = join(&app, &owner, &org, "viewer@example.com", "viewer").await;
    let stranger = app.verified_user("stranger@example.com").await;
    let storage = app.get(&format!("/api/v1/organizations/{org}/storage"), Some(&viewer.token)).await.expect(200);
    assert_eq!(storage["timestampsAvailable"], true);

    // Not stamped unless the organization chooses it.
    let minutes = app.upload(&member.token, &org, "minutes.txt", "text/plain", MINUTES).await.expect(201);
    assert!(minutes["document"]["timestampedAt"].is_null());
    let minutes_id = id(&minutes);
    let (status, _, _) = tsr(&app, &viewer.token, &org, &minutes_id).await;
    assert_eq!(status, 404);
    assert_eq!(tsa.requests(), 0);

    let settings = format!("/api/v1/organizations/{org}");
    assert_eq!(app.patch(&settings, Some(&member.token), json!({ "timestampUploads": true })).await.status, 403);
    let changed = app.patch(&settings, Some(&owner.token), json!({ "timestampUploads": true })).await.expect(200);
    assert_eq!(changed["timestampUploads"], true);

    // Stamped as it is stored; the reply verifies with openssl for these bytes only.
    let contract = app.upload(&member.token, &org, "contract.txt", "text/plain", CONTRACT).await.expect(201);
    let stamped_at = contract["document"]["timestampedAt"].clone();
    assert!(stamped_at.is_string(), "{contract}");
    let contract_id = id(&contract);
    let (status, kind, reply) = tsr(&app, &viewer.token, &org, &contract_id).await;
    assert_eq!((status, kind.as_deref()), (200, Some("application/timestamp-reply")));
    assert!(tsa.openssl_verifies(&reply, CONTRACT), "openssl ts -verify accepts the reply");
    assert!(!tsa.openssl_verifies(&reply, MINUTES), "and only for the bytes it stamps");
    assert_eq!(tsa.requests(), 1);

    // The same bytes again: the file's stamp stands, the authority is not asked again.
    let copy = app.upload(&member.token, &org, "copy.txt", "text/plain", CONTRACT).await.expect(201);
    assert_eq!((copy["deduplicated"].clone(), copy["document"]["timestampedAt"].clone()), (json!(true), stamped_at));
    assert_eq!(tsa.requests(), 1);

    // On demand: viewers may not; strangers find nothing; bad lists are refused.
    let unknown = "4242424242";
    assert_eq!(stamp(&app, &viewer, &org, &[&minutes_id]).await.status, 403);
    assert_eq!(stamp(&app, &stranger, &org, &[&minutes_id]).await.status, 404);
    assert_eq!(stamp(&app, &member, &org, &[]).await.status, 422);
    let too_many: Vec<String> = (1..=1001).map(|n| n.to_string()).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert_eq!(stamp(&app, &member, &org, &too_many).await.status, 422);
    let reply =
        app.post(&format!("{}/timestamps", docs(&org)), Some(&member.token), json!({ "documentIds": "all" })).await;
    assert!(matches!(reply.status.as_u16(), 400 | 422), "{}", reply.body);

    let done = stamp(&app, &member, &org, &[&minutes_id, &contract_id, unknown]).await.expect(200);
    let statuses: Vec<&str> =
        done["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["timestamped", "already_timestamped", "not_found"]);
    assert_eq!((done["timestamped"].as_u64(), done["failed"].as_u64()), (Some(1), Some(0)));
    assert_eq!(tsa.requests(), 2);
    let (status, _, reply) = tsr(&app, &viewer.token, &org, &minutes_id).await;
    assert_eq!(status, 200);
    assert!(tsa.openssl_verifies(&reply, MINUTES));
    let got = app.get(&format!("{}/{minutes_id}", docs(&org)), Some(&viewer.token)).await.expect(200);
    assert!(got["timestampedAt"].is_string());
    let listed = app.get(&docs(&org), Some(&viewer.token)).await.expect(200);
    assert!(listed["data"].as_array().unwrap().iter().all(|d| d["timestampedAt"].is_string()));
    // Stamping again changes nothing.
    let again = stamp(&app, &member, &org, &[&minutes_id]).await.expect(200);
    assert_eq!(again["results"][0]["status"], "already_timestamped");
    assert_eq!(tsa.requests(), 2);

    // A stranger cannot read another organization's replies.
    let (status, _, _) = tsr(&app, &stranger.token, &org, &minutes_id).await;
    assert_eq!(status, 404);

    let audit = app
        .get(&format!("/api/v1/organizations/{org}/audit-logs?action=document.timestamp"), Some(&owner.token))
        .await
        .expect(200);
    let entries = audit["data"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["success"] == true && e["after"]["timestamped"] == 1), "{audit}");
    assert!(entries.iter().any(|e| e["success"] == false), "refused attempts are audited too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamps_on_sqlite() {
    journey(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamps_on_postgres() {
    journey(Backend::Postgres).await;
}

/// An authority whose certificate is not for time-stamping, or not from a trusted CA:
/// uploads that need a stamp are refused and leave nothing; stamps on demand fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_authorities_are_refused() {
    for signer in [Signer::NotForTimestamping, Signer::UnknownCa] {
        let tsa = Tsa::start(signer).await;
        let app = TestApp::start_with(Backend::Sqlite, tsa.options()).await;
        let (owner, org) = org_with_owner(&app, "owner@example.com", "Careful").await;
        let plain = app.upload(&owner.token, &org, "plain.txt", "text/plain", MINUTES).await.expect(201);
        app.patch(&format!("/api/v1/organizations/{org}"), Some(&owner.token), json!({ "timestampUploads": true }))
            .await
            .expect(200);
        let refused = app.upload(&owner.token, &org, "contract.txt", "text/plain", CONTRACT).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (503, "timestamp_failed"), "{}", refused.body);
        assert!(refused.body["detail"].as_str().unwrap().contains("not trusted for time-stamping"), "{}", refused.body);
        let storage = app.get(&format!("/api/v1/organizations/{org}/storage"), Some(&owner.token)).await.expect(200);
        assert_eq!(
            (storage["documents"].as_u64(), storage["files"].as_u64()),
            (Some(1), Some(1)),
            "nothing half-stored"
        );
        let done = stamp(&app, &owner, &org, &[&id(&plain)]).await.expect(200);
        assert_eq!(done["results"][0]["status"], "failed");
        assert!(done["results"][0]["error"].as_str().unwrap().contains("not trusted"), "{done}");
        let (status, _, _) = tsr(&app, &owner.token, &org, &id(&plain)).await;
        assert_eq!(status, 404, "no reply kept");
    }
}

/// Without an authority configured, stamping is refused plainly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_authority_stamping_is_refused() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Plain").await;
    let storage = app.get(&format!("/api/v1/organizations/{org}/storage"), Some(&owner.token)).await.expect(200);
    assert_eq!(storage["timestampsAvailable"], false);
    let reply = app
        .patch(&format!("/api/v1/organizations/{org}"), Some(&owner.token), json!({ "timestampUploads": true }))
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    let doc = app.upload(&owner.token, &org, "a.txt", "text/plain", MINUTES).await.expect(201);
    let reply = stamp(&app, &owner, &org, &[&id(&doc)]).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (409, "timestamps_not_configured"));
}

/// A reply is accepted only for the request it answers: the same hash with another nonce,
/// another hash, or a reply altered in transit are all refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_checked_against_their_request() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tsa = Tsa::start(Signer::Trusted).await;
    let anchors = timestamp_token::trust_anchors(&std::fs::read(&tsa.ca_file).unwrap()).unwrap();
    let digest: [u8; 32] = Sha256::digest(CONTRACT).into();
    let asked = timestamp_token::query(digest);
    let reply = tsa.reply(&asked.der).await;
    let verified = asked.verify(&reply, &anchors).expect("the genuine reply verifies");
    let now = purser_domain::SystemClock.now().as_secs();
    assert!(verified.gen_time_secs.abs_diff(now.unsigned_abs()) < 60, "genTime is the authority's time");

    let same_hash = timestamp_token::query(digest);
    assert!(same_hash.verify(&reply, &anchors).unwrap_err().contains("nonce"));
    let other = timestamp_token::query(Sha256::digest(MINUTES).into());
    assert!(other.verify(&reply, &anchors).unwrap_err().contains("another hash"));
    // Flip one bit of the signature (the last bytes of the token).
    let mut altered = reply.clone();
    let last = altered.len() - 10;
    altered[last] ^= 0x01;
    assert!(asked.verify(&altered, &anchors).is_err());
    // Trusting another CA only: the same reply is refused.
    let elsewhere = Tsa::start(Signer::UnknownCa).await;
    let other_anchors = timestamp_token::trust_anchors(&std::fs::read(&elsewhere.ca_file).unwrap()).unwrap();
    assert!(asked.verify(&reply, &other_anchors).unwrap_err().contains("not trusted"));
    assert!(asked.verify(b"not DER at all", &anchors).is_err());
}
