use serde_json::json;

use crate::harness::{TestApp, chat_body};

both! {
    async fn keys_are_shown_once_and_listed_masked(app: TestApp) {
        let admin = app.admin().await;
        let a = app.model(&admin, json!({ "name": "a" })).await;
        let b = app.model(&admin, json!({ "name": "b" })).await;
        let user = app.user("ada@example.com").await;
        let t = Some(user.token.as_str());
        for m in [&a, &b] {
            app.post("/api/v1/subscriptions", t, json!({ "modelId": m["id"] })).await.expect(201);
        }
        let created = app.post("/api/v1/api-keys", t, json!({
            "name": "notebook", "modelIds": [a["id"], b["id"]], "maxBudget": "12.5", "tpmLimit": 1000, "rpmLimit": 60,
            "expiresAt": "2099-01-01T00:00:00Z",
        })).await.expect(201);
        let secret = created["key"].as_str().unwrap();
        assert!(secret.starts_with("sk-prs-") && secret.len() == 47);
        assert_eq!(created["keyPrefix"], &secret[..11]);
        assert_eq!(created["keyLast4"], &secret[secret.len() - 4..]);
        assert_eq!((created["maxBudget"].as_str(), created["spend"].as_str()), (Some("12.5"), Some("0")));
        assert_eq!(created["status"], "active");

        let id = created["id"].as_str().unwrap();
        let one = app.get(&format!("/api/v1/api-keys/{id}"), t).await.expect(200);
        let list = app.get("/api/v1/api-keys", t).await.expect(200);
        for shown in [&one, &list] {
            assert!(!shown.to_string().contains(secret), "the full key is never shown again");
        }
        assert_eq!(list["data"][0]["modelIds"], json!([a["id"], b["id"]]));

        let other = app.user("bob@example.com").await;
        assert_eq!(app.get(&format!("/api/v1/api-keys/{id}"), Some(&other.token)).await.code(), "api_key_not_found");
        assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), Some(&other.token)).await.status.as_u16(), 404);
        app.chat(secret, chat_body("a")).await.expect(200);
    }

    async fn key_input_is_validated(app: TestApp) {
        let admin = app.admin().await;
        let a = app.model(&admin, json!({ "name": "a" })).await;
        let unsubscribed = app.model(&admin, json!({ "name": "b" })).await;
        let user = app.user("ada@example.com").await;
        let t = Some(user.token.as_str());
        app.post("/api/v1/subscriptions", t, json!({ "modelId": a["id"] })).await.expect(201);
        let cases = [
            (json!({ "name": "k", "modelIds": [] }), "modelIds"),
            (json!({ "name": "k", "modelIds": [a["id"], unsubscribed["id"]] }), "modelIds[1]"),
            (json!({ "name": "k", "modelIds": [a["id"], a["id"]] }), "modelIds[1]"),
            (json!({ "name": "", "modelIds": [a["id"]] }), "name"),
            (json!({ "name": "k", "modelIds": [a["id"]], "rpmLimit": 0 }), "rpmLimit"),
            (json!({ "name": "k", "modelIds": [a["id"]], "tpmLimit": -1 }), "tpmLimit"),
            (json!({ "name": "k", "modelIds": [a["id"]], "maxBudget": "-1" }), "maxBudget"),
            (json!({ "name": "k", "modelIds": [a["id"]], "expiresAt": "2001-01-01T00:00:00Z" }), "expiresAt"),
            (json!({ "name": "k", "modelIds": [a["id"]], "expiresAt": "tomorrow" }), "expiresAt"),
            (json!({ "name": "k", "modelIds": ["x1"] }), "modelIds[0]"),
            (json!({ "name": "k" }), "modelIds"),
        ];
        for (body, field) in cases {
            let reply = app.post("/api/v1/api-keys", t, body.clone()).await;
            assert_eq!(reply.status.as_u16(), 422, "{body}: {}", reply.body);
            assert_eq!(reply.body["errors"][0]["field"], field, "{body}: {}", reply.body);
        }
        let list = app.get("/api/v1/api-keys", t).await.expect(200);
        assert_eq!(list["pagination"]["total"], 0, "no key was half-created");
    }

    async fn revoking_stops_the_key_at_once(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let user = app.user("ada@example.com").await;
        let (id, secret) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
        app.chat(&secret, chat_body("mock-model")).await.expect(200);
        assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), Some(&user.token)).await.status.as_u16(), 204);
        let refused = app.chat(&secret, chat_body("mock-model")).await;
        assert_eq!(refused.status.as_u16(), 401);
        assert_eq!(refused.body["error"]["code"], "invalid_api_key");
        let shown = app.get(&format!("/api/v1/api-keys/{id}"), Some(&user.token)).await.expect(200);
        assert_eq!(shown["status"], "revoked");
        assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), Some(&user.token)).await.status.as_u16(), 204, "idempotent");
    }
}
