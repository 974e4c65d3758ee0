//! Proof of isolation: every route that takes an organization or a resource id, walked from
//! the router's own route table, answers a member of another organization 404, and
//! nothing changes.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{BadInput, Session, TestApp};
use crate::orgs::{join, org_with_owner};

/// Routes with ids that are not tenant data: the public catalog, platform administration
/// (a platform role decides those; see the role matrix) and the gateway (an API key's
/// models; see the gateway's tests).
fn out_of_scope(path: &str) -> bool {
    path.starts_with("/api/v1/models/")
        || path.starts_with("/api/v1/admin/")
        || path.starts_with("/api/v1/users/")
        || path.starts_with("/v1/")
        // Signed download links: the signature is the authorization (see documents.rs).
        || path.starts_with("/api/v1/document-links/")
        // Public keys, public by design (vaults.rs): every organization's are listed alike.
        || path == "/api/v1/organizations/{org}/jwks.json"
}

/// A valid body for each route that takes one, so that only authorization can refuse.
fn body_for(method: &str, path: &str, eve: &str) -> Option<Value> {
    let body = match (method, path) {
        ("patch", "/api/v1/organizations/{org}") => json!({ "name": "Taken over" }),
        ("patch", "/api/v1/organizations/{org}/members/{user}") => json!({ "role": "viewer" }),
        ("post", "/api/v1/organizations/{org}/transfer-ownership") => json!({ "userId": eve }),
        ("post", "/api/v1/organizations/{org}/invitations") => json!({ "email": "spy@example.com", "role": "member" }),
        ("post", "/api/v1/organizations/{org}/teams") => json!({ "name": "Spies" }),
        ("patch", "/api/v1/organizations/{org}/teams/{team}") => json!({ "name": "Taken over" }),
        ("put", "/api/v1/organizations/{org}/teams/{team}/permissions") => json!({ "permissions": ["inviteMembers"] }),
        ("post", "/api/v1/organizations/{org}/teams/{team}/members") => json!({ "userId": eve }),
        ("patch", "/api/v1/organizations/{org}/teams/{team}/members/{user}") => json!({ "manager": true }),
        ("patch", "/api/v1/organizations/{org}/documents/{doc}") => json!({ "name": "taken.txt" }),
        ("post", "/api/v1/organizations/{org}/webhooks") => {
            json!({ "url": "http://127.0.0.1:9/spy", "eventTypes": ["*"] })
        }
        ("patch", "/api/v1/organizations/{org}/webhooks/{webhook}") => json!({ "url": "http://127.0.0.1:9/spy" }),
        ("post", "/api/v1/organizations/{org}/vaults") => json!({ "name": "spy" }),
        ("patch", "/api/v1/organizations/{org}/vaults/{vault}") => json!({ "name": "Taken over" }),
        (
            "put",
            "/api/v1/organizations/{org}/vaults/{vault}/grants/users/{user}"
            | "/api/v1/organizations/{org}/vaults/{vault}/grants/teams/{team}"
            | "/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}",
        ) => json!({ "role": "admin" }),
        ("post", "/api/v1/organizations/{org}/vaults/{vault}/tokens") => json!({ "role": "admin" }),
        ("post", "/api/v1/organizations/{org}/clients") => json!({ "name": "spy" }),
        ("patch", "/api/v1/organizations/{org}/clients/{client}") => json!({ "disabled": true }),
        ("post", "/api/v1/organizations/{org}/clients/{client}/certificates") => json!({ "name": "spy" }),
        _ => return None,
    };
    Some(body)
}

/// Everything the victim's owner can see of their organization and resources.
async fn snapshot(app: &TestApp, owner: &Session, org: &str, team: &str, victim: &Session, extra: &[String]) -> Value {
    let mut state = BTreeMap::new();
    for path in extra.iter().cloned().chain([
        format!("/api/v1/organizations/{org}"),
        format!("/api/v1/organizations/{org}/members"),
        format!("/api/v1/organizations/{org}/invitations"),
        format!("/api/v1/organizations/{org}/teams"),
        format!("/api/v1/organizations/{org}/teams/{team}/members"),
        format!("/api/v1/organizations/{org}/documents"),
        format!("/api/v1/organizations/{org}/storage"),
        format!("/api/v1/organizations/{org}/orphaned-files"),
        format!("/api/v1/organizations/{org}/webhooks"),
        format!("/api/v1/organizations/{org}/vaults"),
        format!("/api/v1/organizations/{org}/clients"),
    ]) {
        state.insert(path.clone(), app.get(&path, Some(&owner.token)).await.expect(200));
    }
    for path in ["/api/v1/api-keys", "/api/v1/subscriptions", "/api/v1/auth/emails", "/api/v1/auth/sessions"] {
        state.insert(path.to_owned(), app.get(path, Some(&victim.token)).await.expect(200));
    }
    serde_json::to_value(state).unwrap()
}

both! {
    async fn another_organizations_member_gets_404_everywhere_and_changes_nothing(app: TestApp) {
        // Org A with a team, a team member, an open invitation; its member Bob has a key,
        // a subscription, a second address and a session.
        let platform = app.admin().await;
        let model = app.model(&platform, json!({})).await;
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Victim").await;
        let bob = join(&app, &owner, &org, "bob@example.com", "member").await;
        let team = app.post(&format!("/api/v1/organizations/{org}/teams"), Some(&owner.token), json!({ "name": "Core" })).await.expect(201);
        let team = team["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/organizations/{org}/teams/{team}/members"), Some(&owner.token), json!({ "userId": bob.id })).await.expect(201);
        let invitation = app.post(&format!("/api/v1/organizations/{org}/invitations"), Some(&owner.token), json!({ "email": "new@example.com", "role": "viewer" })).await.expect(201);
        let invitation = invitation["id"].as_str().unwrap().to_owned();
        let (key, _) = app.key(&bob, &[model["id"].as_str().unwrap()], json!({ "teamId": team })).await;
        let subscription = app.get("/api/v1/subscriptions", Some(&bob.token)).await.expect(200)["data"][0]["id"].as_str().unwrap().to_owned();
        let email = app.post("/api/v1/auth/emails", Some(&bob.token), json!({ "email": "bob@work.example" })).await.expect(201);
        let email = email["id"].as_str().unwrap().to_owned();
        let session = app.get("/api/v1/auth/sessions", Some(&bob.token)).await.expect(200)[0]["id"].as_str().unwrap().to_owned();
        let document = app.upload(&bob.token, &org, "plans.txt", "text/plain", b"the plans").await.expect(201);
        let document = document["document"]["id"].as_str().unwrap().to_owned();
        let webhook = app.post(&format!("/api/v1/organizations/{org}/webhooks"), Some(&owner.token), json!({ "url": "http://127.0.0.1:9/h", "eventTypes": ["*"] })).await.expect(201);
        let webhook = webhook["webhook"]["id"].as_str().unwrap().to_owned();
        let vault = app.post(&format!("/api/v1/organizations/{org}/vaults"), Some(&owner.token), json!({ "name": "Keys" })).await.expect(201);
        let vault = vault["id"].as_str().unwrap().to_owned();
        let client = app.post(&format!("/api/v1/organizations/{org}/clients"), Some(&owner.token), json!({ "name": "svc" })).await.expect(201);
        let client = client["id"].as_str().unwrap().to_owned();
        let certificate = app.post(&format!("/api/v1/organizations/{org}/clients/{client}/certificates"), Some(&owner.token), json!({ "name": "k" })).await.expect(201);
        let certificate = certificate["certificate"]["id"].as_str().unwrap().to_owned();
        for grantee in [format!("users/{}", bob.id), format!("teams/{team}"), format!("clients/{client}")] {
            app.put(&format!("/api/v1/organizations/{org}/vaults/{vault}/grants/{grantee}"), Some(&owner.token), json!({ "role": "reader" })).await.expect(200);
        }
        app.post(&format!("/api/v1/organizations/{org}/vaults/{vault}/tokens"), Some(&owner.token), json!({})).await.expect(201);

        // Eve owns another organization (and is an admin there, with a team of her own).
        let (eve, eve_org) = org_with_owner(&app, "eve@example.com", "Attacker").await;
        app.post(&format!("/api/v1/organizations/{eve_org}/teams"), Some(&eve.token), json!({ "name": "Own" })).await.expect(201);

        let extra = [
            format!("/api/v1/organizations/{org}/vaults/{vault}"),
            format!("/api/v1/organizations/{org}/vaults/{vault}/grants"),
            format!("/api/v1/organizations/{org}/clients/{client}"),
        ];
        let before = snapshot(&app, &owner, &org, &team, &bob, &extra).await;
        let ids = [
            ("{org}", org.as_str()),
            ("{team}", team.as_str()),
            ("{user}", bob.id.as_str()),
            ("{invitation}", invitation.as_str()),
            ("{doc}", document.as_str()),
            ("{webhook}", webhook.as_str()),
            // Eve learns nothing of deliveries either: the webhook is not hers to name.
            ("{delivery}", "1"),
            ("{vault}", vault.as_str()),
            ("{client}", client.as_str()),
            ("{certificate}", certificate.as_str()),
        ];
        let resource_ids = [
            ("/api/v1/api-keys/{id}", key.as_str()),
            ("/api/v1/subscriptions/{id}", subscription.as_str()),
            ("/api/v1/subscriptions/{id}/cancel", subscription.as_str()),
            ("/api/v1/auth/emails/{id}", email.as_str()),
            ("/api/v1/auth/emails/{id}/primary", email.as_str()),
            ("/api/v1/auth/sessions/{id}", session.as_str()),
        ];

        let spec = serde_json::to_value(purser_api::openapi()).unwrap();
        let mut walked = 0;
        let mut bad_sent = 0;
        for (template, operations) in spec["paths"].as_object().unwrap() {
            if !template.contains('{') || out_of_scope(template) {
                continue;
            }
            for method in operations.as_object().unwrap().keys() {
                let mut path = template.clone();
                if template.contains("{org}") {
                    for (name, id) in ids {
                        path = path.replace(name, id);
                    }
                } else {
                    let id = resource_ids.iter().find(|(t, _)| t == template).unwrap_or_else(|| panic!("no victim resource for {template}")).1;
                    path = path.replace("{id}", id);
                }
                assert!(!path.contains('{'), "{method} {template}: an id is missing from the walk");
                let verb = || Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let reply = app.call(verb(), &path, Some(&eve.token), body_for(method, template, &eve.id)).await;
                assert_eq!(reply.status.as_u16(), 404, "{method} {template} answered {}: {}", reply.status, reply.body);
                walked += 1;
                // Whatever else she sends, she learns nothing more.
                let operation = &operations[method];
                let mut bad = Vec::new();
                if operation.get("requestBody").is_some() {
                    bad.extend(BadInput::BODIES);
                }
                if operation["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["in"] == "query")) {
                    bad.push(BadInput::BadQuery);
                }
                for input in bad {
                    let reply = input.send(&app, verb(), &path, &eve.token).await;
                    assert_eq!(reply.status.as_u16(), 404, "{method} {template} with {input:?} answered {}: {}", reply.status, reply.body);
                    bad_sent += 1;
                }
            }
        }
        assert!(walked >= 30, "only {walked} routes walked");
        assert!(bad_sent >= 30, "only {bad_sent} requests with bad input sent");
        let after = snapshot(&app, &owner, &org, &team, &bob, &extra).await;
        assert_eq!(before, after, "a refused request changed something");
        app.get(&format!("/api/v1/api-keys/{key}"), Some(&bob.token)).await.expect(200);
    }
}
