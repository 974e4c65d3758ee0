use purser_domain::PlatformRole;
use serde_json::json;

use crate::harness::TestApp;

both! {
    async fn subscribe_once_and_cancel_only_when_no_key_uses_it(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let model_id = model["id"].as_str().unwrap();
        let user = app.user("ada@example.com").await;
        let t = Some(user.token.as_str());

        let sub = app.post("/api/v1/subscriptions", t, json!({ "modelId": model_id })).await.expect(201);
        assert_eq!(sub["status"], "active");
        assert_eq!(sub["modelName"], "mock-model");
        let again = app.post("/api/v1/subscriptions", t, json!({ "modelId": model_id })).await;
        assert_eq!((again.status.as_u16(), again.code()), (409, "already_subscribed"));

        let (key_id, _) = app.key(&user, &[model_id], json!({})).await;
        let sub_id = sub["id"].as_str().unwrap();
        let refused = app.post(&format!("/api/v1/subscriptions/{sub_id}/cancel"), t, json!({})).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (409, "subscription_in_use"));
        assert!(refused.body["detail"].as_str().unwrap().contains("test key"));

        app.delete(&format!("/api/v1/api-keys/{key_id}"), t).await;
        let cancelled = app.post(&format!("/api/v1/subscriptions/{sub_id}/cancel"), t, json!({})).await.expect(200);
        assert_eq!(cancelled["status"], "cancelled");
        let list = app.get("/api/v1/subscriptions?status=active", t).await.expect(200);
        assert_eq!(list["pagination"]["total"], 0);
        // Subscribing again reopens the same subscription.
        let reopened = app.post("/api/v1/subscriptions", t, json!({ "modelId": model_id })).await.expect(201);
        assert_eq!((reopened["id"].as_str(), reopened["status"].as_str()), (Some(sub_id), Some("active")));
    }

    async fn restricted_models_wait_for_approval(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({ "restricted": true })).await;
        let model_id = model["id"].as_str().unwrap();
        let user = app.user("ada@example.com").await;
        let t = Some(user.token.as_str());
        let sub = app.post("/api/v1/subscriptions", t, json!({ "modelId": model_id })).await.expect(201);
        assert_eq!(sub["status"], "pending");
        let sub_id = sub["id"].as_str().unwrap();

        // A pending subscription does not allow keys.
        let key = app.post("/api/v1/api-keys", t, json!({ "name": "k", "modelIds": [model_id] })).await;
        assert_eq!(key.status.as_u16(), 422);
        assert_eq!(key.body["errors"][0]["field"], "modelIds[0]");

        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        let queue = app.get("/api/v1/admin/subscriptions", Some(&readonly.token)).await.expect(200);
        assert_eq!(queue["data"][0]["id"], sub["id"]);
        let ro_approve = app.post(&format!("/api/v1/admin/subscriptions/{sub_id}/approve"), Some(&readonly.token), json!({})).await;
        assert_eq!(ro_approve.status.as_u16(), 403);
        assert_eq!(app.get("/api/v1/admin/subscriptions", t).await.status.as_u16(), 403);

        let approved = app
            .call(reqwest::Method::POST, &format!("/api/v1/admin/subscriptions/{sub_id}/approve"), Some(&admin.token), None)
            .await
            .expect(200);
        assert_eq!(approved["status"], "active");
        let twice = app.post(&format!("/api/v1/admin/subscriptions/{sub_id}/deny"), Some(&admin.token), json!({ "reason": "no" })).await;
        assert_eq!((twice.status.as_u16(), twice.code()), (409, "subscription_not_pending"));
        app.post("/api/v1/api-keys", t, json!({ "name": "k", "modelIds": [model_id] })).await.expect(201);
    }

    async fn denial_carries_the_reason_and_others_cannot_see_it(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({ "restricted": true })).await;
        let user = app.user("ada@example.com").await;
        let sub = app.post("/api/v1/subscriptions", Some(&user.token), json!({ "modelId": model["id"] })).await.expect(201);
        let sub_id = sub["id"].as_str().unwrap();
        let denied = app.post(&format!("/api/v1/admin/subscriptions/{sub_id}/deny"), Some(&admin.token), json!({ "reason": "not for interns" })).await.expect(200);
        assert_eq!((denied["status"].as_str(), denied["statusReason"].as_str()), (Some("denied"), Some("not for interns")));
        let other = app.user("bob@example.com").await;
        let peek = app.get(&format!("/api/v1/subscriptions/{sub_id}"), Some(&other.token)).await;
        assert_eq!((peek.status.as_u16(), peek.code()), (404, "subscription_not_found"));
        let cancel = app.post(&format!("/api/v1/subscriptions/{sub_id}/cancel"), Some(&other.token), json!({})).await;
        assert_eq!(cancel.status.as_u16(), 404);
        let unknown = app.post("/api/v1/subscriptions", Some(&user.token), json!({ "modelId": "999" })).await;
        assert_eq!((unknown.status.as_u16(), unknown.code()), (404, "model_not_found"));
        let bad = app.post("/api/v1/subscriptions", Some(&user.token), json!({ "modelId": "abc" })).await;
        assert_eq!((bad.status.as_u16(), bad.body["errors"][0]["field"].as_str()), (422, Some("modelId")));
    }
}
