use purser_domain::PlatformRole;
use serde_json::json;

use crate::harness::{PASSWORD, TestApp, chat_body};

both! {
    async fn admins_find_users_and_everyone_sees_only_themselves(app: TestApp) {
        let admin = app.admin().await;
        let ada = app.user("ada@example.com").await;
        app.user("bob@builders.example").await;
        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        let all = app.get("/api/v1/users?limit=100", Some(&readonly.token)).await.expect(200);
        assert_eq!(all["pagination"]["total"], 4);
        let found = app.get("/api/v1/users?search=BUILDERS", Some(&admin.token)).await.expect(200);
        assert_eq!(found["data"][0]["email"], "bob@builders.example");
        let admins = app.get("/api/v1/users?role=admin", Some(&admin.token)).await.expect(200);
        assert_eq!(admins["pagination"]["total"], 1);
        assert_eq!(app.get("/api/v1/users", Some(&ada.token)).await.status.as_u16(), 403);
        app.get(&format!("/api/v1/users/{}", ada.id), Some(&ada.token)).await.expect(200);
        assert_eq!(app.get(&format!("/api/v1/users/{}", admin.id), Some(&ada.token)).await.status.as_u16(), 403);
        assert_eq!(app.get("/api/v1/users?role=superuser", Some(&admin.token)).await.status.as_u16(), 400);
    }

    async fn deactivating_a_user_stops_sessions_and_keys_at_once(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let ada = app.user("ada@example.com").await;
        let (_, key) = app.key(&ada, &[model["id"].as_str().unwrap()], json!({})).await;
        app.chat(&key, chat_body("mock-model")).await.expect(200);
        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        let path = format!("/api/v1/users/{}", ada.id);
        assert_eq!(app.patch(&path, Some(&readonly.token), json!({ "active": false })).await.status.as_u16(), 403);
        assert_eq!(app.patch(&path, Some(&ada.token), json!({ "role": "admin" })).await.status.as_u16(), 403);

        let off = app.patch(&path, Some(&admin.token), json!({ "active": false })).await.expect(200);
        assert_eq!(off["active"], false);
        assert_eq!(app.get("/api/v1/auth/me", Some(&ada.token)).await.status.as_u16(), 401);
        assert_eq!(app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": ada.refresh })).await.status.as_u16(), 401);
        let gateway = app.chat(&key, chat_body("mock-model")).await;
        assert_eq!((gateway.status.as_u16(), gateway.body["error"]["code"].as_str()), (401, Some("invalid_api_key")));
        let login = app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": PASSWORD })).await;
        assert_eq!((login.status.as_u16(), login.code()), (403, "account_disabled"));

        app.patch(&path, Some(&admin.token), json!({ "active": true, "role": "adminReadonly" })).await.expect(200);
        app.chat(&key, chat_body("mock-model")).await.expect(200);
        let back = app.login("ada@example.com").await;
        let me = app.get("/api/v1/auth/me", Some(&back.token)).await.expect(200);
        assert_eq!(me["role"], "adminReadonly");
    }

    async fn admins_cannot_lock_themselves_or_everyone_out(app: TestApp) {
        let admin = app.admin().await;
        let me = format!("/api/v1/users/{}", admin.id);
        let demote = app.patch(&me, Some(&admin.token), json!({ "role": "user" })).await;
        assert_eq!((demote.status.as_u16(), demote.code()), (409, "self_lockout"));
        let off = app.patch(&me, Some(&admin.token), json!({ "active": false })).await;
        assert_eq!(off.code(), "self_lockout");
        let other = app.user("ada@example.com").await;
        app.patch(&format!("/api/v1/users/{}", other.id), Some(&admin.token), json!({ "role": "admin" })).await.expect(200);
        let other_admin = app.login("ada@example.com").await;
        app.patch(&me, Some(&other_admin.token), json!({ "role": "user" })).await.expect(200);
        let last = app.patch(&format!("/api/v1/users/{}", other.id), Some(&other_admin.token), json!({ "active": false })).await;
        assert_eq!(last.code(), "self_lockout");
    }

    async fn sessions_are_listed_and_ended_one_by_one_or_all_but_this_one(app: TestApp) {
        let laptop = app.user("ada@example.com").await;
        let phone = app.login("ada@example.com").await;
        let tablet = app.login("ada@example.com").await;
        let listed = app.get("/api/v1/auth/sessions", Some(&laptop.token)).await.expect(200);
        let sessions = listed.as_array().unwrap();
        assert_eq!(sessions.len(), 3);
        assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
        assert_eq!(sessions[0]["ip"], "127.0.0.1");
        let phone_session = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
        assert_eq!(app.delete(&format!("/api/v1/auth/sessions/{phone_session}"), Some(&laptop.token)).await.status.as_u16(), 204);
        let statuses = [
            app.get("/api/v1/auth/me", Some(&phone.token)).await.status.as_u16(),
            app.get("/api/v1/auth/me", Some(&tablet.token)).await.status.as_u16(),
        ];
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 1, "exactly the ended session stopped");
        let ended = app.post("/api/v1/auth/sessions/revoke-others", Some(&laptop.token), json!({})).await.expect(200);
        assert_eq!(ended["revoked"], 1);
        assert_eq!(app.get("/api/v1/auth/me", Some(&tablet.token)).await.status.as_u16(), 401);
        app.get("/api/v1/auth/me", Some(&laptop.token)).await.expect(200);
        let bob = app.user("bob@example.com").await;
        let theirs = app.get("/api/v1/auth/sessions", Some(&bob.token)).await.expect(200)[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.delete(&format!("/api/v1/auth/sessions/{theirs}"), Some(&laptop.token)).await.status.as_u16(), 404);
    }
}
