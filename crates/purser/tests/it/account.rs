use std::sync::Arc;

use purser_domain::ManualClock;
use purser_store::Backend;
use serde_json::json;

use crate::harness::{Options, PASSWORD, T0, TestApp};

both! {
    async fn registration_mails_a_single_use_verification_link(app: TestApp) {
        let session = app.user("ada@example.com").await;
        let me = app.get("/api/v1/auth/me", Some(&session.token)).await.expect(200);
        assert_eq!(me["emailVerified"], false);
        let token = app.mailed_token("ada@example.com", "Confirm").await;
        let verified = app.post("/api/v1/auth/verify-email", None, json!({ "token": token })).await.expect(200);
        assert_eq!((verified["email"].as_str(), verified["verified"].as_bool()), (Some("ada@example.com"), Some(true)));
        let again = app.post("/api/v1/auth/verify-email", None, json!({ "token": token })).await;
        assert_eq!((again.status.as_u16(), again.body["errors"][0]["field"].as_str()), (422, Some("token")));
        let me = app.get("/api/v1/auth/me", Some(&session.token)).await.expect(200);
        assert_eq!(me["emailVerified"], true);
        let resend = app.post("/api/v1/auth/verify-email/send", Some(&session.token), json!({})).await;
        assert_eq!((resend.status.as_u16(), resend.code()), (409, "email_already_verified"));
        let bogus = app.post("/api/v1/auth/verify-email", None, json!({ "token": "nope" })).await;
        assert_eq!(bogus.status.as_u16(), 422);
    }

    async fn several_addresses_one_primary(app: TestApp) {
        let ada = app.verified_user("ada@example.com").await;
        let t = Some(ada.token.as_str());
        let added = app.post("/api/v1/auth/emails", t, json!({ "email": "Ada@Work.example" })).await.expect(201);
        assert_eq!((added["email"].as_str(), added["verified"].as_bool()), (Some("ada@work.example"), Some(false)));
        let id = added["id"].as_str().unwrap();
        let early = app.post(&format!("/api/v1/auth/emails/{id}/primary"), t, json!({})).await;
        assert_eq!((early.status.as_u16(), early.code()), (409, "email_not_verified"));
        let token = app.mailed_token("ada@work.example", "Confirm").await;
        app.post("/api/v1/auth/verify-email", None, json!({ "token": token })).await.expect(200);
        let me = app.post(&format!("/api/v1/auth/emails/{id}/primary"), t, json!({})).await.expect(200);
        assert_eq!(me["email"], "ada@work.example");
        app.login("ada@work.example").await;
        let old = app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": PASSWORD })).await;
        assert_eq!(old.status.as_u16(), 401, "only the primary address signs in");

        let list = app.get("/api/v1/auth/emails", t).await.expect(200);
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert_eq!(list[0]["email"], "ada@work.example", "primary first");
        let primary_removal = app.delete(&format!("/api/v1/auth/emails/{id}"), t).await;
        assert_eq!((primary_removal.status.as_u16(), primary_removal.code()), (409, "primary_email"));
        let other = list[1]["id"].as_str().unwrap();
        assert_eq!(app.delete(&format!("/api/v1/auth/emails/{other}"), t).await.status.as_u16(), 204);

        let bob = app.user("bob@example.com").await;
        let taken = app.post("/api/v1/auth/emails", Some(&bob.token), json!({ "email": "ada@work.example" })).await.expect(201);
        assert_eq!(taken["verified"], false, "added, never to be verified: Ada is told, Bob learns nothing");
        assert_eq!(app.delete(&format!("/api/v1/auth/emails/{id}"), Some(&bob.token)).await.status.as_u16(), 404);
        let bad = app.post("/api/v1/auth/emails", Some(&bob.token), json!({ "email": "not-an-address" })).await;
        assert_eq!(bad.body["errors"][0]["field"], "email");
    }

    async fn password_reset_ends_every_session(app: TestApp) {
        let first = app.verified_user("ada@example.com").await;
        let second = app.login("ada@example.com").await;
        app.user("unverified@example.com").await;
        for address in ["nobody@example.com", "unverified@example.com", "ada@example.com"] {
            let reply = app.post("/api/v1/auth/password-reset/request", None, json!({ "email": address })).await;
            assert_eq!(reply.status.as_u16(), 202, "{address}: the answer never says whether the address is known");
        }
        let token = app.mailed_token("ada@example.com", "Reset").await;
        assert!(!app.mails().iter().any(|m| m["to"] == "nobody@example.com" || (m["to"] == "unverified@example.com" && m["subject"].as_str().unwrap().contains("Reset"))));

        let short = app.post("/api/v1/auth/password-reset", None, json!({ "token": token, "newPassword": "short" })).await;
        assert_eq!(short.body["errors"][0]["field"], "newPassword");
        app.post("/api/v1/auth/password-reset", None, json!({ "token": token, "newPassword": "a whole new password" })).await;
        for session in [&first, &second] {
            assert_eq!(app.get("/api/v1/auth/me", Some(&session.token)).await.status.as_u16(), 401);
            let refresh = app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": session.refresh })).await;
            assert_eq!(refresh.status.as_u16(), 401);
        }
        app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": "a whole new password" })).await.expect(200);
        let reuse = app.post("/api/v1/auth/password-reset", None, json!({ "token": token, "newPassword": "yet another password" })).await;
        assert_eq!(reuse.status.as_u16(), 422, "reset tokens work once");
    }

    async fn changing_the_password_ends_the_other_sessions(app: TestApp) {
        let here = app.user("ada@example.com").await;
        let elsewhere = app.login("ada@example.com").await;
        let wrong = app.post("/api/v1/auth/password", Some(&here.token), json!({ "currentPassword": "not it at all", "newPassword": "a fresh password!" })).await;
        assert_eq!((wrong.status.as_u16(), wrong.body["errors"][0]["field"].as_str()), (422, Some("currentPassword")));
        let done = app.post("/api/v1/auth/password", Some(&here.token), json!({ "currentPassword": PASSWORD, "newPassword": "a fresh password!" })).await;
        assert_eq!(done.status.as_u16(), 204);
        app.get("/api/v1/auth/me", Some(&here.token)).await.expect(200);
        assert_eq!(app.get("/api/v1/auth/me", Some(&elsewhere.token)).await.status.as_u16(), 401);
        app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": "a fresh password!" })).await.expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailed_tokens_expire_after_a_day_and_an_hour() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let clock = Arc::new(ManualClock::new(T0));
        let app = TestApp::start_with(backend, Options { clock: Some(clock.clone()), ..Options::default() }).await;
        app.register("ada@example.com").await;
        let verify = app.mailed_token("ada@example.com", "Confirm").await;
        clock.advance_secs(24 * 3600);
        let late = app.post("/api/v1/auth/verify-email", None, json!({ "token": verify })).await;
        assert_eq!(late.status.as_u16(), 422, "{backend:?}: verification links last 24 hours");

        let session = app.login("ada@example.com").await;
        app.post("/api/v1/auth/verify-email/send", Some(&session.token), json!({})).await.expect(202);
        let fresh = app.mailed_token("ada@example.com", "Confirm").await;
        clock.advance_secs(24 * 3600 - 1);
        app.post("/api/v1/auth/verify-email", None, json!({ "token": fresh })).await.expect(200);

        app.post("/api/v1/auth/password-reset/request", None, json!({ "email": "ada@example.com" })).await;
        let reset = app.mailed_token("ada@example.com", "Reset").await;
        clock.advance_secs(3600);
        let late = app
            .post("/api/v1/auth/password-reset", None, json!({ "token": reset, "newPassword": "a whole new password" }))
            .await;
        assert_eq!(late.status.as_u16(), 422, "{backend:?}: reset links last an hour");
    }
}
