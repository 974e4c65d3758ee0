//! Vaults, service clients and vault tokens, from the outside: a client registers its own
//! Ed25519 key, signs an RFC 7523 assertion with a standard JWT library (jsonwebtoken),
//! gets a vault token that verifies against `/.well-known/jwks.json` with the promised
//! claims; every attack of the list fails with its RFC 6749 error and is audited; refresh
//! tokens rotate and a reused one revokes its family; two replicas never accept one `jti`.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use purser_domain::page::PageRequest;
use purser_store::Backend;
use purser_store::audit::AuditFilter;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Options, Reply, Session, TestApp};
use crate::orgs::{join, org_with_owner};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client as the test drives it: its id, its key and that key's `kid`.
struct Client {
    id: String,
    key: SigningKey,
    kid: String,
}

fn public_jwk(key: &SigningKey) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()) })
}

fn now_secs() -> i64 {
    // The apps here run on the system clock.
    purser_domain::Clock::now(&purser_domain::SystemClock).as_secs()
}

static JTI: AtomicU64 = AtomicU64::new(1);

fn fresh_jti() -> String {
    format!("jti-{}-{}", std::process::id(), JTI.fetch_add(1, Ordering::Relaxed))
}

/// Claims of an assertion; tests change what they attack.
fn claims(client: &Client, aud: &str) -> Value {
    json!({ "iss": client.id, "sub": client.id, "aud": aud, "exp": now_secs() + 120, "iat": now_secs(), "jti": fresh_jti() })
}

fn sign(key: &SigningKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    let der = key.to_pkcs8_der().unwrap();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
}

/// A JWT assembled by hand (for headers no library will sign: `alg: none`).
fn unsigned(header: Value, claims: &Value, signature: &[u8]) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.{}", part(&header), part(claims), URL_SAFE_NO_PAD.encode(signature))
}

async fn token(app: &TestApp, fields: &[(&str, &str)]) -> Reply {
    let body = fields.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
    app.call_raw(
        Method::POST,
        "/api/v1/token",
        None,
        Some("application/x-www-form-urlencoded"),
        Some(body.into_bytes()),
    )
    .await
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn exchange(app: &TestApp, assertion: &str, vault: &str, scope: Option<&str>) -> Reply {
    let mut fields = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
        ("vault_id", vault),
    ];
    if let Some(scope) = scope {
        fields.push(("scope", scope));
    }
    token(app, &fields).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    token(app, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

fn oauth_error(reply: &Reply) -> (u16, &str) {
    (reply.status.as_u16(), reply.body["error"].as_str().unwrap_or_default())
}

/// A client of `org` with its own key registered.
async fn client_with_key(app: &TestApp, owner: &Session, org: &str, name: &str, seed: u8) -> Client {
    let clients = format!("/api/v1/organizations/{org}/clients");
    let created = app.post(&clients, Some(&owner.token), json!({ "name": name })).await.expect(201);
    let id = created["id"].as_str().unwrap().to_owned();
    let key = SigningKey::from_bytes(&[seed; 32]);
    let cert = app
        .post(
            &format!("/api/v1/organizations/{org}/clients/{id}/certificates"),
            Some(&owner.token),
            json!({ "name": "own key", "publicKey": public_jwk(&key) }),
        )
        .await
        .expect(201);
    assert!(cert["privateKey"].is_null(), "a registered key's private half was never here");
    let kid = cert["certificate"]["kid"].as_str().unwrap().to_owned();
    Client { id, key, kid }
}

/// Checks a vault token as the engine would: its key from Purser's published JWKS.
async fn verify(app: &TestApp, access_token: &str) -> Value {
    let kid = jsonwebtoken::decode_header(access_token).unwrap().kid.expect("vault tokens name their key");
    let jwks = app.get("/.well-known/jwks.json", None).await.expect(200);
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("the key is published");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let issuer = app.get("/.well-known/oauth-authorization-server", None).await.expect(200)["issuer"].clone();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["purser-vaults"]);
    validation.set_issuer(&[issuer.as_str().unwrap()]);
    jsonwebtoken::decode::<Value>(access_token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation).unwrap().claims
}

/// The audit entries of `action` about `org`: (success, error code).
async fn audited(app: &TestApp, org: &str, action: &str) -> Vec<(bool, Option<String>)> {
    let filter =
        AuditFilter { action: Some(action.into()), org_id: Some(org.parse().unwrap()), ..AuditFilter::default() };
    let mut conn = app.services.store().conn().await.unwrap();
    let page = purser_store::audit::list(&mut conn, &filter, PageRequest { page: 1, limit: 100 }).await.unwrap();
    page.items.into_iter().map(|r| (r.success, r.error_code)).collect()
}

both! {
    async fn clients_get_vault_tokens_that_verify(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "owner@example.com", "Vaults").await;
        let meta = app.get("/.well-known/oauth-authorization-server", None).await.expect(200);
        let endpoint = meta["token_endpoint"].as_str().unwrap().to_owned();
        assert_eq!(meta["jwks_uri"].as_str().unwrap(), format!("{}/.well-known/jwks.json", meta["issuer"].as_str().unwrap()));
        assert_eq!(meta["token_endpoint_auth_methods_supported"], json!(["private_key_jwt"]));

        let vaults = format!("/api/v1/organizations/{org}/vaults");
        let vault = app.post(&vaults, Some(&owner.token), json!({ "name": "payments" })).await.expect(201);
        let vault_id = vault["id"].as_str().unwrap().to_owned();
        assert_eq!(vault["syncStatus"], "pending");
        let got = app.get(&format!("{vaults}/{vault_id}"), Some(&owner.token)).await.expect(200);
        assert_eq!(got["myRole"], "admin", "the creator administers the vault");

        let client = client_with_key(&app, &owner, &org, "billing", 1).await;
        let jwks = app.get(&format!("/api/v1/organizations/{org}/jwks.json"), None).await.expect(200);
        assert_eq!(jwks["keys"][0]["kid"], client.kid.as_str());
        assert_eq!(jwks["keys"][0]["x"], public_jwk(&client.key)["x"]);

        // No grant yet: refused, the same as for a vault that does not exist.
        let assertion = sign(&client.key, &client.kid, &claims(&client, &endpoint));
        let refused = exchange(&app, &assertion, &vault_id, None).await;
        assert_eq!(oauth_error(&refused), (400, "invalid_grant"), "{}", refused.body);
        let unknown = exchange(&app, &sign(&client.key, &client.kid, &claims(&client, &endpoint)), "12345", None).await;
        assert_eq!(unknown.body["error_description"], refused.body["error_description"]);

        let grant = format!("{vaults}/{vault_id}/grants/clients/{}", client.id);
        app.put(&grant, Some(&owner.token), json!({ "role": "writer" })).await.expect(200);
        let assertion = sign(&client.key, &client.kid, &claims(&client, &endpoint));
        let issued = exchange(&app, &assertion, &vault_id, None).await;
        let issued_body = issued.body.clone();
        assert_eq!(issued.status.as_u16(), 200, "{issued_body}");
        assert_eq!(issued.headers["cache-control"], "no-store");
        assert_eq!((issued_body["token_type"].as_str(), issued_body["vault_role"].as_str()), (Some("Bearer"), Some("writer")));
        let claims_of = verify(&app, issued_body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims_of["sub"], format!("client:{}", client.id));
        assert_eq!((claims_of["org_id"].as_str(), claims_of["vault_id"].as_str()), (Some(org.as_str()), Some(vault_id.as_str())));
        assert_eq!((claims_of["vault_role"].as_str(), claims_of["scope"].as_str()), (Some("writer"), Some("writer")));
        assert_eq!(claims_of["exp"].as_i64().unwrap() - claims_of["iat"].as_i64().unwrap(), 300);
        assert!(claims_of["jti"].as_str().is_some_and(|j| !j.is_empty()));

        // A lower role on request; a higher one is refused.
        let reader = exchange(&app, &sign(&client.key, &client.kid, &claims(&client, &endpoint)), &vault_id, Some("reader")).await;
        assert_eq!(verify(&app, reader.body["access_token"].as_str().unwrap()).await["vault_role"], "reader");
        let above = exchange(&app, &sign(&client.key, &client.kid, &claims(&client, &endpoint)), &vault_id, Some("admin")).await;
        assert_eq!(oauth_error(&above), (400, "invalid_scope"));

        // Refresh: single use and rotated; the used one again revokes the family.
        let first = issued_body["refresh_token"].as_str().unwrap();
        let rotated = refresh(&app, first).await.expect(200);
        assert_eq!(verify(&app, rotated["access_token"].as_str().unwrap()).await["sub"], format!("client:{}", client.id));
        let second = rotated["refresh_token"].as_str().unwrap();
        assert_ne!(first, second);
        assert_eq!(oauth_error(&refresh(&app, first).await), (400, "invalid_grant"), "a used refresh token");
        assert_eq!(oauth_error(&refresh(&app, second).await), (400, "invalid_grant"), "its family was revoked");
        assert!(audited(&app, &org, "vault_token.refresh_token_reuse").await.iter().any(|(ok, _)| !ok));

        // A pair made by Purser: the private key comes back once, and it works.
        let made = app
            .post(&format!("/api/v1/organizations/{org}/clients/{}/certificates", client.id), Some(&owner.token), json!({ "name": "made here" }))
            .await
            .expect(201);
        let pem = made["privateKey"].as_str().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let made_kid = made["certificate"]["kid"].as_str().unwrap();
        let made_key = <SigningKey as ed25519_dalek::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem).unwrap();
        let with_made = sign(&made_key, made_kid, &claims(&client, &endpoint));
        exchange(&app, &with_made, &vault_id, None).await.expect(200);
        let shown = app.get(&format!("/api/v1/organizations/{org}/clients/{}", client.id), Some(&owner.token)).await.expect(200);
        assert!(!shown.to_string().contains("PRIVATE KEY"), "the private key is not kept");
        assert_eq!(shown["certificates"].as_array().unwrap().len(), 2);

        // Each token issued is recorded with its subject, vault and role (the refresh tokens'
        // rows), not in the audit log; its refusals are audited.
        let mut conn = app.services.store().conn().await.unwrap();
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT subject_kind, vault_id, role FROM vault_refresh_tokens WHERE subject_id = $1 ORDER BY created_at, id",
        )
        .bind(client.id.parse::<i64>().unwrap())
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let vault_num: i64 = vault_id.parse().unwrap();
        let expected = [("client", vault_num, "writer"), ("client", vault_num, "reader"), ("client", vault_num, "writer"), ("client", vault_num, "writer")];
        let got: Vec<_> = rows.iter().map(|(k, v, r)| (k.as_str(), *v, r.as_str())).collect();
        assert_eq!(got, expected, "issue, issue as reader, refresh, issue with the generated key");
        assert!(audited(&app, &org, "vault_token.issue").await.iter().all(|(ok, _)| !ok), "only refusals are audited");
    }

    async fn every_attack_fails_and_is_audited(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "owner@example.com", "Target").await;
        let meta = app.get("/.well-known/oauth-authorization-server", None).await.expect(200);
        let endpoint = meta["token_endpoint"].as_str().unwrap().to_owned();
        let vaults = format!("/api/v1/organizations/{org}/vaults");
        let vault = app.post(&vaults, Some(&owner.token), json!({ "name": "secrets" })).await.expect(201)["id"].as_str().unwrap().to_owned();
        let client = client_with_key(&app, &owner, &org, "victim", 2).await;
        let other = client_with_key(&app, &owner, &org, "other", 3).await;
        for c in [&client, &other] {
            app.put(&format!("{vaults}/{vault}/grants/clients/{}", c.id), Some(&owner.token), json!({ "role": "reader" })).await.expect(200);
        }
        let good = || claims(&client, &endpoint);
        let try_it = |assertion: String| { let app = &app; let vault = vault.clone(); async move { exchange(app, &assertion, &vault, None).await } };
        let expect = |reply: Reply, error: &str, what: &str| assert_eq!(oauth_error(&reply), (400, error), "{what}: {}", reply.body);

        // alg none, and HS256 keyed with the public key (the classic confusion).
        let none = unsigned(json!({ "alg": "none", "typ": "JWT", "kid": client.kid }), &good(), b"");
        expect(try_it(none).await, "invalid_client", "alg none");
        let public = client.key.verifying_key().to_bytes();
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(client.kid.clone());
        let confused = jsonwebtoken::encode(&hs, &good(), &EncodingKey::from_secret(&public)).unwrap();
        expect(try_it(confused).await, "invalid_client", "HS256 with the public key");
        // Signed by another client, naming this client's kid; or this client's claims with the other's kid.
        expect(try_it(sign(&other.key, &client.kid, &good())).await, "invalid_client", "another client's key");
        expect(try_it(sign(&other.key, &other.kid, &good())).await, "invalid_client", "another client's kid");
        // Wrong audience, exp too far ahead, exp passed.
        let mut wrong_aud = good();
        wrong_aud["aud"] = json!("https://elsewhere.example/token");
        expect(try_it(sign(&client.key, &client.kid, &wrong_aud)).await, "invalid_client", "wrong aud");
        let mut far = good();
        far["exp"] = json!(now_secs() + 3600);
        expect(try_it(sign(&client.key, &client.kid, &far)).await, "invalid_client", "exp an hour ahead");
        let mut past = good();
        past["exp"] = json!(now_secs() - 5);
        expect(try_it(sign(&client.key, &client.kid, &past)).await, "invalid_client", "exp passed");
        // A replayed jti, and one raced by two requests at once: exactly one wins.
        let once = sign(&client.key, &client.kid, &good());
        try_it(once.clone()).await.expect(200);
        expect(try_it(once).await, "invalid_client", "replayed jti");
        let raced = sign(&client.key, &client.kid, &good());
        let (a, b) = tokio::join!(try_it(raced.clone()), try_it(raced));
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "one of two racing requests wins");
        // A vault of another organization: the same answer as an unknown vault.
        let (stranger, elsewhere) = org_with_owner(&app, "stranger@example.com", "Elsewhere").await;
        let foreign = app.post(&format!("/api/v1/organizations/{elsewhere}/vaults"), Some(&stranger.token), json!({ "name": "theirs" })).await.expect(201);
        let foreign_id = foreign["id"].as_str().unwrap();
        let across = exchange(&app, &sign(&client.key, &client.kid, &good()), foreign_id, None).await;
        let unknown = exchange(&app, &sign(&client.key, &client.kid, &good()), "4242", None).await;
        assert_eq!((oauth_error(&across), &across.body["error_description"]), (oauth_error(&unknown), &unknown.body["error_description"]));
        expect(across, "invalid_grant", "another organization's vault");
        // A role above the grant.
        expect(exchange(&app, &sign(&client.key, &client.kid, &good()), &vault, Some("writer")).await, "invalid_scope", "above the grant");
        // A revoked certificate.
        let spare = SigningKey::from_bytes(&[9; 32]);
        let cert = app.post(&format!("/api/v1/organizations/{org}/clients/{}/certificates", client.id), Some(&owner.token), json!({ "name": "spare", "publicKey": public_jwk(&spare) })).await.expect(201);
        let spare_kid = cert["certificate"]["kid"].as_str().unwrap();
        try_it(sign(&spare, spare_kid, &good())).await.expect(200);
        let cert_id = cert["certificate"]["id"].as_str().unwrap();
        app.delete(&format!("/api/v1/organizations/{org}/clients/{}/certificates/{cert_id}", client.id), Some(&owner.token)).await.expect(204);
        expect(try_it(sign(&spare, spare_kid, &good())).await, "invalid_client", "revoked certificate");
        let jwks = app.get(&format!("/api/v1/organizations/{org}/jwks.json"), None).await.expect(200);
        assert!(!jwks.to_string().contains(spare_kid), "revoked keys leave the JWKS");
        // A disabled client: refused, and its refresh tokens with it.
        let live = try_it(sign(&client.key, &client.kid, &good())).await.expect(200);
        app.patch(&format!("/api/v1/organizations/{org}/clients/{}", client.id), Some(&owner.token), json!({ "disabled": true })).await.expect(200);
        expect(try_it(sign(&client.key, &client.kid, &good())).await, "unauthorized_client", "disabled client");
        expect(refresh(&app, live["refresh_token"].as_str().unwrap()).await, "invalid_grant", "a disabled client's refresh token");
        // Nonsense and missing fields.
        expect(token(&app, &[("grant_type", "password")]).await, "unsupported_grant_type", "grant type");
        expect(token(&app, &[("grant_type", "client_credentials")]).await, "invalid_request", "no assertion");
        let json_body = app.post("/api/v1/token", None, json!({ "grant_type": "client_credentials" })).await;
        expect(json_body, "invalid_request", "JSON instead of a form");

        // Every refusal left an audit entry with its error.
        let refusals: Vec<_> = audited(&app, &org, "vault_token.issue").await.into_iter().filter(|(ok, _)| !ok).collect();
        for code in ["invalid_client", "invalid_grant", "invalid_scope", "unauthorized_client"] {
            assert!(refusals.iter().any(|(_, c)| c.as_deref() == Some(code)), "{code} audited in {refusals:?}");
        }
        // Each of the 14 refused assertions above is recorded against the organization whose
        // key it named, alg none and HS256 included.
        assert_eq!(refusals.len(), 14, "{refusals:?}");
    }

    async fn people_get_tokens_for_the_role_they_hold(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "owner@example.com", "People").await;
        let member = join(&app, &owner, &org, "member@example.com", "member").await;
        let vaults = format!("/api/v1/organizations/{org}/vaults");
        let vault = app.post(&vaults, Some(&owner.token), json!({ "name": "ledger" })).await.expect(201)["id"].as_str().unwrap().to_owned();
        let tokens = format!("{vaults}/{vault}/tokens");
        let none = app.post(&tokens, Some(&member.token), json!({})).await;
        assert_eq!((none.status.as_u16(), none.code()), (403, "no_vault_role"));

        // A team's grant reaches its members; their own grant adds to it; the higher wins.
        let team = app.post(&format!("/api/v1/organizations/{org}/teams"), Some(&owner.token), json!({ "name": "Ops" })).await.expect(201);
        let team_id = team["id"].as_str().unwrap();
        app.post(&format!("/api/v1/organizations/{org}/teams/{team_id}/members"), Some(&owner.token), json!({ "userId": member.id })).await.expect(201);
        app.put(&format!("{vaults}/{vault}/grants/teams/{team_id}"), Some(&owner.token), json!({ "role": "writer" })).await.expect(200);
        app.put(&format!("{vaults}/{vault}/grants/users/{}", member.id), Some(&owner.token), json!({ "role": "reader" })).await.expect(200);
        let mine = app.post(&tokens, Some(&member.token), json!({})).await.expect(201);
        assert_eq!(mine["vaultRole"], "writer");
        let claims_of = verify(&app, mine["accessToken"].as_str().unwrap()).await;
        assert_eq!((claims_of["sub"].as_str(), claims_of["vault_role"].as_str()), (Some(format!("user:{}", member.id).as_str()), Some("writer")));
        // Asking for more gives what one holds; asking for less gives less.
        assert_eq!(app.post(&tokens, Some(&member.token), json!({ "role": "admin" })).await.expect(201)["vaultRole"], "writer");
        assert_eq!(app.post(&tokens, Some(&member.token), json!({ "role": "reader" })).await.expect(201)["vaultRole"], "reader");

        // A writer may not grant; a manager grants up to manager and never touches an admin.
        let grants = format!("{vaults}/{vault}/grants");
        let owner_grant = format!("{grants}/users/{}", owner.id);
        let denied = app.put(&owner_grant, Some(&member.token), json!({ "role": "reader" })).await;
        assert_eq!(denied.status.as_u16(), 403);
        app.put(&format!("{grants}/users/{}", member.id), Some(&owner.token), json!({ "role": "manager" })).await.expect(200);
        let viewer = join(&app, &owner, &org, "viewer@example.com", "viewer").await;
        app.put(&format!("{grants}/users/{}", viewer.id), Some(&member.token), json!({ "role": "manager" })).await.expect(200);
        assert_eq!(app.put(&format!("{grants}/users/{}", viewer.id), Some(&member.token), json!({ "role": "admin" })).await.status.as_u16(), 403);
        assert_eq!(app.delete(&owner_grant, Some(&member.token)).await.status.as_u16(), 403, "an admin's grant");
        let stranger = app.verified_user("stranger@example.com").await;
        let outside = app.put(&format!("{grants}/users/{}", stranger.id), Some(&owner.token), json!({ "role": "reader" })).await;
        assert_eq!((outside.status.as_u16(), outside.code()), (404, "member_not_found"));
        let listed = app.get(&grants, Some(&viewer.token)).await.expect(200);
        assert_eq!(listed.as_array().unwrap().len(), 4, "{listed}");

        // A person's refresh token follows their role: removed from the team and without
        // their own grant, it is refused.
        let refresh_token = mine["refreshToken"].as_str().unwrap().to_owned();
        app.delete(&format!("{grants}/users/{}", member.id), Some(&owner.token)).await.expect(204);
        app.delete(&format!("/api/v1/organizations/{org}/teams/{team_id}/members/{}", member.id), Some(&owner.token)).await.expect(204);
        assert_eq!(oauth_error(&refresh(&app, &refresh_token).await), (400, "invalid_grant"));

        // Delete is refused while refresh tokens live; revoking them all lets it through.
        let held = app.post(&tokens, Some(&owner.token), json!({})).await.expect(201);
        let busy = app.delete(&format!("{vaults}/{vault}"), Some(&owner.token)).await;
        assert_eq!((busy.status.as_u16(), busy.code()), (409, "vault_has_tokens"));
        let blocked = app.delete(&format!("/api/v1/organizations/{org}"), Some(&owner.token)).await;
        assert_eq!((blocked.status.as_u16(), blocked.code()), (409, "organization_has_active_resources"));
        let revoked = app.post(&format!("{tokens}/revoke"), Some(&owner.token), json!({})).await.expect(200);
        assert!(revoked["revoked"].as_u64().unwrap() >= 1);
        assert_eq!(oauth_error(&refresh(&app, held["refreshToken"].as_str().unwrap()).await), (400, "invalid_grant"));
        app.delete(&format!("{vaults}/{vault}"), Some(&owner.token)).await.expect(204);
        assert_eq!(app.get(&format!("{vaults}/{vault}"), Some(&owner.token)).await.status.as_u16(), 404);
        assert_eq!(app.delete(&format!("/api/v1/organizations/{org}"), Some(&owner.token)).await.status.as_u16(), 200);
    }

    async fn bad_keys_and_names_are_refused(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "owner@example.com", "Inputs").await;
        let clients = format!("/api/v1/organizations/{org}/clients");
        let bad_name = app.post(&clients, Some(&owner.token), json!({ "name": " \u{200b} " })).await;
        assert_eq!(bad_name.status.as_u16(), 422);
        let id = app.post(&clients, Some(&owner.token), json!({ "name": "svc" })).await.expect(201)["id"].as_str().unwrap().to_owned();
        let certs = format!("{clients}/{id}/certificates");
        let private = SigningKey::from_bytes(&[5; 32]);
        let with_d = json!({ "kty": "OKP", "crv": "Ed25519", "x": public_jwk(&private)["x"], "d": URL_SAFE_NO_PAD.encode([5u8; 32]) });
        for (key, why) in [
            (json!("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"), "not a key"),
            (json!({ "kty": "RSA", "n": "x", "e": "AQAB" }), "not Ed25519"),
            (with_d, "a private key"),
            (json!(12), "not a JWK or PEM"),
        ] {
            let refused = app.post(&certs, Some(&owner.token), json!({ "name": "k", "publicKey": key })).await;
            assert_eq!(refused.status.as_u16(), 422, "{why}: {}", refused.body);
            assert_eq!(refused.body["errors"][0]["field"], "publicKey", "{why}");
        }
        let past = app.post(&certs, Some(&owner.token), json!({ "name": "k", "publicKey": public_jwk(&private), "expiresAt": "2001-01-01T00:00:00Z" })).await;
        assert_eq!(past.body["errors"][0]["field"], "expiresAt");
        let pem = private.verifying_key();
        let pem = ed25519_dalek::pkcs8::EncodePublicKey::to_public_key_pem(&pem, Default::default()).unwrap();
        app.post(&certs, Some(&owner.token), json!({ "name": "pem", "publicKey": pem })).await.expect(201);
        let vault = app.post(&format!("/api/v1/organizations/{org}/vaults"), Some(&owner.token), json!({ "name": "v\u{0}" })).await;
        assert_eq!((vault.status.as_u16(), &vault.body["errors"][0]["field"]), (422, &json!("name")), "a control character");
    }
}

/// Two replicas on one PostgreSQL database: the same assertion, sent to both at once,
/// is accepted by exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_accept_one_jti() {
    const MASTER_KEY: &str = "7c3a55e0261b0304143f805a24924d0c1c00c0a5f8b6f26d3e6c1f77d1a3e5f2";
    let replica = |url: Option<String>| Options {
        database_url: url,
        ..Options::tweak(|c| c.secrets.master_key = Some(purser::config::Secret::from(MASTER_KEY)))
    };
    let one = TestApp::start_with(Backend::Postgres, replica(None)).await;
    let two = TestApp::start_with(Backend::Postgres, replica(Some(one.database_url.clone()))).await;
    let (owner, org) = org_with_owner(&one, "owner@example.com", "Replicas").await;
    let endpoint = one.get("/.well-known/oauth-authorization-server", None).await.expect(200)["token_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let vault = one
        .post(&format!("/api/v1/organizations/{org}/vaults"), Some(&owner.token), json!({ "name": "v" }))
        .await
        .expect(201);
    let vault = vault["id"].as_str().unwrap().to_owned();
    let client = client_with_key(&one, &owner, &org, "svc", 4).await;
    one.put(
        &format!("/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{}", client.id),
        Some(&owner.token),
        json!({ "role": "reader" }),
    )
    .await
    .expect(200);
    for _ in 0..20 {
        let assertion = sign(&client.key, &client.kid, &claims(&client, &endpoint));
        let (a, b) = tokio::join!(exchange(&one, &assertion, &vault, None), exchange(&two, &assertion, &vault, None));
        let wins = [&a, &b].iter().filter(|r| r.status.as_u16() == 200).count();
        assert_eq!(wins, 1, "{} / {}", a.body, b.body);
    }
    // Both replicas publish the same keys: a token from one verifies with the other's JWKS.
    let issued =
        exchange(&one, &sign(&client.key, &client.kid, &claims(&client, &endpoint)), &vault, None).await.expect(200);
    verify(&two, issued["access_token"].as_str().unwrap()).await;
}

/// Refused token requests are counted per address: past the limit the address is refused
/// (429 with Retry-After) until the window ends, good assertions included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_rate_limited_per_address() {
    let options =
        Options::tweak(|c| c.limits.token_failures_per_ip = purser::config::RuleConfig { limit: 3, window_secs: 60 });
    let app = TestApp::start_with(Backend::Sqlite, options).await;
    for _ in 0..3 {
        assert_eq!(oauth_error(&token(&app, &[("grant_type", "password")]).await), (400, "unsupported_grant_type"));
    }
    let limited = token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(limited.status.as_u16(), 429, "{}", limited.body);
    assert!(limited.headers.contains_key("retry-after"));
}
