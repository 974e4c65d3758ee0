use purser_domain::PlatformRole;
use purser_mock_upstream::server::{MockConfig, MockUpstream};
use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestApp, chat_body};
use crate::orgs::org_with_owner;

fn entries(page: &Value) -> Vec<Value> {
    page["data"].as_array().unwrap().clone()
}

both! {
    async fn every_change_leaves_an_entry_and_no_secret(app: TestApp) {
        let admin = app.admin().await;
        let upstream = MockUpstream::start(MockConfig::default()).await;
        let reply = app
            .http
            .post(format!("{}/api/v1/admin/models", app.base))
            .bearer_auth(&admin.token)
            .header("x-request-id", "audit-req-1")
            .header("user-agent", "audit-test/1.0")
            .json(&json!({
                "name": "secretive", "provider": "vllm", "upstreamUrl": upstream.base_url(), "upstreamApiKey": "sk-upstream-TOPSECRET",
                "inputCostPerToken": "0", "outputCostPerToken": "0", "capabilities": ["chat"],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 201);
        let model: Value = reply.json().await.unwrap();
        let model_id = model["id"].as_str().unwrap();
        app.patch(&format!("/api/v1/admin/models/{model_id}"), Some(&admin.token), json!({ "description": "now described" })).await.expect(200);
        let deployment = model["deployments"][0]["id"].as_str().unwrap();
        app.patch(&format!("/api/v1/admin/models/{model_id}/deployments/{deployment}"), Some(&admin.token), json!({ "upstreamApiKey": "sk-upstream-NEWSECRET", "weight": 5 })).await.expect(200);

        let user = app.user("ada@example.com").await;
        let (key_id, secret) = app.key(&user, &[model_id], json!({})).await;
        app.chat(&secret, chat_body("secretive")).await.expect(200);
        app.delete(&format!("/api/v1/api-keys/{key_id}"), Some(&user.token)).await;
        let refreshed = app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": user.refresh })).await.expect(200);
        app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": user.refresh })).await; // reuse
        app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": "not the password" })).await;
        let denied = app.post("/api/v1/admin/models", Some(&app.login("ada@example.com").await.token), json!({
            "name": "x", "provider": "mock", "inputCostPerToken": "0", "outputCostPerToken": "0", "capabilities": ["chat"],
        })).await;
        assert_eq!(denied.status.as_u16(), 403);

        let log = app.get("/api/v1/admin/audit?limit=100", Some(&admin.token)).await.expect(200);
        let all = entries(&log);
        let actions: Vec<(&str, bool)> = all.iter().rev().map(|e| (e["action"].as_str().unwrap(), e["success"].as_bool().unwrap())).collect();
        for expected in [
            ("user.ensure_admin", true),
            ("user.login", true),
            ("model.create", true),
            ("model.update", true),
            ("model.deployment_update", true),
            ("user.register", true),
            ("subscription.create", true),
            ("api_key.create", true),
            ("api_key.revoke", true),
            ("user.refresh_token_reuse", true),
            ("user.login", false),
            ("model.create", false),
        ] {
            assert!(actions.contains(&expected), "{expected:?} missing from {actions:?}");
        }
        let created = all.iter().find(|e| e["action"] == "model.create" && e["success"] == true).unwrap();
        assert_eq!(created["requestId"], "audit-req-1");
        assert_eq!(created["userAgent"], "audit-test/1.0");
        assert_eq!(created["ip"], "127.0.0.1");
        assert_eq!(created["resourceId"], model_id);
        assert_eq!(created["after"]["deployments"][0]["hasUpstreamApiKey"], true);
        let updated = all.iter().find(|e| e["action"] == "model.update").unwrap();
        assert_eq!((updated["before"]["description"].as_str(), updated["after"]["description"].as_str()), (None, Some("now described")));
        let redeployed = all.iter().find(|e| e["action"] == "model.deployment_update").unwrap();
        assert_eq!((redeployed["before"]["deployments"][0]["weight"].as_u64(), redeployed["after"]["deployments"][0]["weight"].as_u64()), (Some(1), Some(5)));
        let failed = all.iter().find(|e| e["action"] == "model.create" && e["success"] == false).unwrap();
        assert_eq!(failed["errorCode"], "forbidden");
        assert_eq!(failed["actorId"].as_str(), Some(user.id.as_str()));
        let bad_login = all.iter().find(|e| e["action"] == "user.login" && e["success"] == false).unwrap();
        assert_eq!((bad_login["errorCode"].as_str(), bad_login["after"]["email"].as_str()), (Some("invalid_credentials"), Some("ada@example.com")));

        let dump = log.to_string();
        for secret in [
            "sk-upstream-TOPSECRET", "sk-upstream-NEWSECRET", secret.as_str(), PASSWORD, "not the password",
            user.refresh.as_str(), refreshed["refreshToken"].as_str().unwrap(), user.token.as_str(),
        ] {
            assert!(!dump.contains(secret), "a secret reached the audit log");
        }
    }

    async fn the_audit_log_is_for_admins_and_filters(app: TestApp) {
        let admin = app.admin().await;
        let user = app.user("ada@example.com").await;
        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        assert_eq!(app.get("/api/v1/admin/audit", Some(&user.token)).await.status.as_u16(), 403);
        let registered = app.get("/api/v1/admin/audit?action=user.register", Some(&readonly.token)).await.expect(200);
        assert_eq!(registered["pagination"]["total"], 2);
        let mine = app.get(&format!("/api/v1/admin/audit?actorId={}", user.id), Some(&admin.token)).await.expect(200);
        assert!(entries(&mine).iter().all(|e| e["actorId"].as_str() == Some(user.id.as_str())));
        assert!(!entries(&mine).is_empty());
        let by_type = app.get("/api/v1/admin/audit?resourceType=user&from=2000-01-01&to=2999-01-01", Some(&admin.token)).await.expect(200);
        assert!(by_type["pagination"]["total"].as_u64().unwrap() >= 5);
        let none = app.get("/api/v1/admin/audit?from=2000-01-01&to=2000-01-02", Some(&admin.token)).await.expect(200);
        assert_eq!(none["pagination"]["total"], 0);
        assert_eq!(app.get("/api/v1/admin/audit?actorId=x", Some(&admin.token)).await.status.as_u16(), 400);
    }

    async fn a_failed_attempt_names_its_target_once_the_caller_may_ask(app: TestApp) {
        let admin = app.admin().await;
        let (owner, org) = org_with_owner(&app, "owner@example.com", "Targets").await;
        let team = app.post(&format!("/api/v1/organizations/{org}/teams"), Some(&owner.token), json!({ "name": "T" })).await.expect(201);
        let members = format!("/api/v1/organizations/{org}/teams/{}/members", team["id"].as_str().unwrap());
        let outsider = app.user("outsider@example.com").await;
        // Allowed to ask, but the user is not in the organization: the entry says who.
        let refused = app.post(&members, Some(&owner.token), json!({ "userId": outsider.id })).await;
        assert_eq!(refused.status.as_u16(), 422, "{}", refused.body);
        // Not allowed to ask: the body is never read, so the entry names no target.
        let denied = app.post(&members, Some(&outsider.token), json!({ "userId": owner.id })).await;
        assert_eq!(denied.status.as_u16(), 404, "{}", denied.body);
        // A subscription to a model that does not exist.
        let missing = app.post("/api/v1/subscriptions", Some(&outsider.token), json!({ "modelId": "123456789" })).await;
        assert_eq!(missing.status.as_u16(), 404, "{}", missing.body);

        let failed = |action: &'static str| {
            let app = &app;
            let token = admin.token.clone();
            async move {
                let log = app.get(&format!("/api/v1/admin/audit?action={action}"), Some(&token)).await.expect(200);
                entries(&log).into_iter().filter(|e| e["success"] == false).collect::<Vec<_>>()
            }
        };
        let adds = failed("team_member.add").await;
        assert_eq!(adds.len(), 2, "{adds:?}");
        let by_owner = adds.iter().find(|e| e["actorId"].as_str() == Some(owner.id.as_str())).unwrap();
        assert_eq!((by_owner["resourceId"].as_str(), by_owner["after"]["userId"].as_str()), (Some(outsider.id.as_str()), Some(outsider.id.as_str())));
        let by_outsider = adds.iter().find(|e| e["actorId"].as_str() == Some(outsider.id.as_str())).unwrap();
        assert!(by_outsider["resourceId"].is_null() && by_outsider["after"].is_null(), "{by_outsider}");
        let subscribes = failed("subscription.create").await;
        assert_eq!(subscribes.len(), 1);
        assert_eq!((subscribes[0]["resourceId"].as_str(), subscribes[0]["errorCode"].as_str()), (Some("123456789"), Some("model_not_found")));
    }
}
