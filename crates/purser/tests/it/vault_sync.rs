//! Vault sync against a small policy engine run here. The engine checks every sync request
//! with Purser's published JWKS (the request's signature, its audience, the vault and the
//! body's digest) and keeps each vault's state; it answers what the test tells it to; and
//! it checks vault tokens as an engine would: signature (JWKS), audience, issuer, and that
//! the vault and the subject's grant are in the state it was sent. The vault's
//! `syncStatus` follows the engine's answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{post, put};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use purser_store::Backend;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{Options, Reply, TestApp};
use crate::orgs::org_with_owner;

#[derive(Default)]
struct Engine {
    /// Where Purser is, to fetch its JWKS, and the issuer its tokens name.
    purser: Option<String>,
    issuer: String,
    /// Each vault's state as last received.
    vaults: HashMap<String, Value>,
    /// Statuses to answer sync requests with, in turn; 204 once they run out.
    answers: Vec<u16>,
    /// Sync requests whose signature did not check out.
    forged: usize,
}

type Shared = Arc<Mutex<Engine>>;

async fn jwks_of(engine: &Shared) -> jsonwebtoken::jwk::JwkSet {
    let purser = engine.lock().unwrap().purser.clone().expect("Purser started");
    reqwest::get(format!("{purser}/.well-known/jwks.json")).await.unwrap().json().await.unwrap()
}

/// Verifies a JWT signed by Purser with its published keys.
async fn verify(engine: &Shared, token: &str, audience: &str) -> Option<Value> {
    let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
    let jwks = jwks_of(engine).await;
    let jwk = jwks.find(&kid)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    let issuer = engine.lock().unwrap().issuer.clone();
    validation.set_issuer(&[issuer.as_str()]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).ok()?, &validation).ok().map(|d| d.claims)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")
}

/// A sync request is Purser's if its token verifies and names this vault and these bytes.
async fn signed_by_purser(engine: &Shared, headers: &HeaderMap, vault: &str, body: &[u8]) -> bool {
    let Some(claims) = verify(engine, bearer(headers).unwrap_or_default(), "purser-vaults").await else { return false };
    claims["sub"] == "vault-sync"
        && claims["vault_id"] == vault
        && claims["body_sha256"] == URL_SAFE_NO_PAD.encode(Sha256::digest(body))
}

async fn put_vault(
    State(engine): State<Shared>,
    Path(vault): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    if !signed_by_purser(&engine, &headers, &vault, &body).await {
        engine.lock().unwrap().forged += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let mut engine = engine.lock().unwrap();
    if !engine.answers.is_empty() {
        return StatusCode::from_u16(engine.answers.remove(0)).unwrap();
    }
    engine.vaults.insert(vault, serde_json::from_slice(&body).unwrap());
    StatusCode::NO_CONTENT
}

async fn delete_vault(State(engine): State<Shared>, Path(vault): Path<String>, headers: HeaderMap) -> StatusCode {
    if !signed_by_purser(&engine, &headers, &vault, b"").await {
        engine.lock().unwrap().forged += 1;
        return StatusCode::UNAUTHORIZED;
    }
    engine.lock().unwrap().vaults.remove(&vault);
    StatusCode::NO_CONTENT
}

/// Checks a vault token: allowed when it verifies and the state the engine holds grants
/// its subject at least its role on its vault.
async fn check(State(engine): State<Shared>, headers: HeaderMap) -> (StatusCode, axum::Json<Value>) {
    let Some(claims) = verify(&engine, bearer(&headers).unwrap_or_default(), "purser-vaults").await else {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "allowed": false, "why": "signature" })));
    };
    let rank = |role: &str| ["reader", "writer", "manager", "admin"].iter().position(|r| *r == role);
    let engine = engine.lock().unwrap();
    let Some(vault) = engine.vaults.get(claims["vault_id"].as_str().unwrap_or_default()) else {
        return (StatusCode::FORBIDDEN, axum::Json(json!({ "allowed": false, "why": "no such vault" })));
    };
    let granted = vault["grants"].as_array().unwrap().iter().find(|g| g["subject"] == claims["sub"]);
    let enough =
        granted.is_some_and(|g| rank(g["role"].as_str().unwrap()) >= rank(claims["vault_role"].as_str().unwrap()));
    let status = if enough { StatusCode::OK } else { StatusCode::FORBIDDEN };
    (status, axum::Json(json!({ "allowed": enough, "role": claims["vault_role"] })))
}

async fn start_engine() -> (Shared, String) {
    let engine = Shared::default();
    let app = axum::Router::new()
        .route("/vaults/{vault}", put(put_vault).delete(delete_vault))
        .route("/check", post(check))
        .with_state(Arc::clone(&engine));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (engine, url)
}

/// Waits (at most 10 s) until the vault's sync status is `status`; answers the vault.
async fn wait_status(app: &TestApp, token: &str, vault_path: &str, status: &str) -> Value {
    for _ in 0..200 {
        let vault = app.get(vault_path, Some(token)).await.expect(200);
        if vault["syncStatus"] == status {
            return vault;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{vault_path} never became {status}: {}", app.get(vault_path, Some(token)).await.body);
}

async fn engine_check(engine_url: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{engine_url}/check"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn exchange(app: &TestApp, key: &SigningKey, kid: &str, client: &str, vault: &str) -> Reply {
    let endpoint = app.get("/.well-known/oauth-authorization-server", None).await.expect(200)["token_endpoint"].clone();
    let now = purser_domain::Clock::now(&purser_domain::SystemClock).as_secs();
    let jti = format!("{}-{now}", app.services.ids().next_id());
    let claims = json!({ "iss": client, "sub": client, "aud": endpoint, "exp": now + 60, "jti": jti });
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    let assertion =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(key.to_pkcs8_der().unwrap().as_bytes()))
            .unwrap();
    let form = format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}&vault_id={vault}"
    );
    app.call_raw(
        reqwest::Method::POST,
        "/api/v1/token",
        None,
        Some("application/x-www-form-urlencoded"),
        Some(form.into_bytes()),
    )
    .await
}

async fn sync_status_follows_the_engine(backend: Backend) {
    let (engine, engine_url) = start_engine().await;
    let configured = engine_url.clone();
    let app =
        TestApp::start_with(backend, Options::tweak(move |c| c.vaults.engine_url = Some(configured.clone()))).await;
    let meta = app.get("/.well-known/oauth-authorization-server", None).await.expect(200);
    engine.lock().unwrap().issuer = meta["issuer"].as_str().unwrap().to_owned();
    engine.lock().unwrap().purser = Some(app.base.clone());
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Synced").await;
    let vaults = format!("/api/v1/organizations/{org}/vaults");
    let created = app.post(&vaults, Some(&owner.token), json!({ "name": "ledger" })).await.expect(201);
    assert_eq!(created["syncStatus"], "pending");
    let vault = created["id"].as_str().unwrap().to_owned();
    let path = format!("{vaults}/{vault}");
    let synced = wait_status(&app, &owner.token, &path, "synced").await;
    assert!(synced["syncedAt"].is_string());
    let state = engine.lock().unwrap().vaults[&vault].clone();
    assert_eq!((state["name"].as_str(), state["orgId"].as_str()), (Some("ledger"), Some(org.as_str())));
    assert_eq!(state["grants"], json!([{ "subject": format!("user:{}", owner.id), "role": "admin" }]));

    // A client, its own key and a grant: the engine hears of the grant, and the client's
    // vault token passes the engine's check.
    let client = app
        .post(&format!("/api/v1/organizations/{org}/clients"), Some(&owner.token), json!({ "name": "svc" }))
        .await
        .expect(201);
    let client = client["id"].as_str().unwrap().to_owned();
    let key = SigningKey::from_bytes(&[11; 32]);
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()) });
    let cert = app
        .post(
            &format!("/api/v1/organizations/{org}/clients/{client}/certificates"),
            Some(&owner.token),
            json!({ "name": "k", "publicKey": jwk }),
        )
        .await
        .expect(201);
    let kid = cert["certificate"]["kid"].as_str().unwrap().to_owned();
    let grant = format!("{path}/grants/clients/{client}");
    app.put(&grant, Some(&owner.token), json!({ "role": "writer" })).await.expect(200);
    assert_eq!(app.get(&path, Some(&owner.token)).await.expect(200)["syncStatus"], "pending");
    wait_status(&app, &owner.token, &path, "synced").await;
    let issued = exchange(&app, &key, &kid, &client, &vault).await.expect(200);
    let access = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(engine_check(&engine_url, &access).await, 200, "the engine accepts the vault token");
    let tampered = format!("{}x", &access[..access.len() - 1]);
    assert_eq!(engine_check(&engine_url, &tampered).await, 401, "a changed token fails the engine's check");

    // The engine fails: the vault shows it, with the reason; by hand it is sent again.
    engine.lock().unwrap().answers = vec![503];
    app.patch(&path, Some(&owner.token), json!({ "description": "books" })).await.expect(200);
    let failed = wait_status(&app, &owner.token, &path, "failed").await;
    assert_eq!(failed["syncError"], "the policy engine answered 503");
    let resync = app.post(&format!("{path}/sync"), Some(&owner.token), json!({})).await.expect(200);
    assert_eq!(resync["syncStatus"], "pending");
    let synced = wait_status(&app, &owner.token, &path, "synced").await;
    assert!(synced["syncError"].is_null());

    // The grant taken away reaches the engine: the same token is refused there.
    app.delete(&grant, Some(&owner.token)).await.expect(204);
    wait_status(&app, &owner.token, &path, "synced").await;
    assert_eq!(engine_check(&engine_url, &access).await, 403);

    // Deleted (its tokens revoked first), the vault leaves the engine.
    app.post(&format!("{path}/tokens/revoke"), Some(&owner.token), json!({})).await.expect(200);
    app.delete(&path, Some(&owner.token)).await.expect(204);
    for _ in 0..200 {
        if !engine.lock().unwrap().vaults.contains_key(&vault) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!engine.lock().unwrap().vaults.contains_key(&vault), "the deletion reached the engine");
    assert_eq!(engine.lock().unwrap().forged, 0, "every sync request was Purser's");

    // A sync request signed by anyone else is refused by the engine (the check is real).
    let stranger = SigningKey::from_bytes(&[12; 32]);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(jsonwebtoken::decode_header(&access).unwrap().kid.unwrap());
    let forged_claims = json!({ "iss": meta["issuer"], "aud": "purser-vaults", "sub": "vault-sync", "vault_id": "1", "body_sha256": URL_SAFE_NO_PAD.encode(Sha256::digest(b"{}")), "exp": 4_000_000_000u64 });
    let forged = jsonwebtoken::encode(
        &header,
        &forged_claims,
        &EncodingKey::from_ed_der(stranger.to_pkcs8_der().unwrap().as_bytes()),
    )
    .unwrap();
    let answer = reqwest::Client::new()
        .put(format!("{engine_url}/vaults/1"))
        .bearer_auth(forged)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_status_follows_the_engine_on_sqlite() {
    sync_status_follows_the_engine(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_status_follows_the_engine_on_postgres() {
    sync_status_follows_the_engine(Backend::Postgres).await;
}
