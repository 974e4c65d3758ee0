use std::sync::Arc;

use purser_domain::ManualClock;
use purser_services::ClientInfo;
use purser_services::auth::AdminOutcome;
use purser_store::Backend;
use serde_json::json;

use crate::harness::{Options, PASSWORD, T0, TestApp};

both! {
    async fn register_login_me(app: TestApp) {
        app.register("Ada@Example.com").await;
        let session = app.login("ada@example.com").await;
        let me = app.get("/api/v1/auth/me", Some(&session.token)).await.expect(200);
        assert_eq!(me["email"], "ada@example.com", "emails are stored lower-cased");
        assert_eq!(me["role"], "user");
        assert!(me["id"].is_string(), "ids travel as strings");
        assert_eq!(me["id"].as_str(), Some(session.id.as_str()));
        let login = app.post("/api/v1/auth/login", None, json!({ "email": "ADA@example.com", "password": PASSWORD })).await.expect(200);
        assert_eq!(login["expiresIn"], 900);
        assert_eq!(login["tokenType"], "Bearer");
        assert!(login.get("passwordHash").is_none() && !login.to_string().contains("argon2"));
    }

    async fn registration_rules(app: TestApp) {
        app.register("ada@example.com").await;
        let short = app.post("/api/v1/auth/register", None, json!({ "email": "b@example.com", "password": "elevenchars", "name": "x" })).await;
        assert_eq!((short.status.as_u16(), short.code()), (422, "validation_failed"));
        assert_eq!(short.body["errors"][0]["field"], "password");
        let bad = app.post("/api/v1/auth/register", None, json!({ "email": "not-an-email", "password": PASSWORD, "name": "" })).await;
        let fields: Vec<_> = bad.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect();
        assert_eq!(fields, ["email", "name"]);
        let long = app.post("/api/v1/auth/register", None, json!({ "email": "c@example.com", "password": PASSWORD, "name": "n".repeat(101) })).await;
        assert_eq!(long.body["errors"][0]["field"], "name");
    }

    async fn signing_up_or_adding_an_address_does_not_tell_whose_it_is(app: TestApp) {
        let ada = app.verified_user("ada@example.com").await;
        let unverified = app.user("una@example.com").await;
        let register = |email: &str| app.post("/api/v1/auth/register", None, json!({ "email": email, "password": "another password 1", "name": "Mallory" }));
        let free = register("free@example.com").await;
        let taken = register("ADA@example.com").await;
        let taken_unverified = register("una@example.com").await;
        for reply in [&free, &taken, &taken_unverified] {
            assert_eq!((reply.status.as_u16(), &reply.body), (202, &free.body), "every address is answered alike");
        }
        // The owners are told; the taken accounts are untouched.
        for owner in ["ada@example.com", "una@example.com"] {
            let notices: Vec<_> = app.mails().into_iter().filter(|m| m["to"] == owner && m["subject"].as_str().unwrap().contains("Someone tried")).collect();
            assert_eq!(notices.len(), 1, "{owner}");
            assert!(notices[0]["text"].as_str().unwrap().contains("create a new Purser account"));
        }
        let stolen = app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": "another password 1" })).await;
        assert_eq!(stolen.status.as_u16(), 401);
        app.login("ada@example.com").await;

        // Adding an address: someone else's, a free one and one's own unverified one look alike.
        let signed_in = app.post("/api/v1/auth/login", None, json!({ "email": "free@example.com", "password": "another password 1" })).await.expect(200);
        let mallory = crate::harness::Session {
            id: signed_in["user"]["id"].as_str().unwrap().to_owned(),
            token: signed_in["accessToken"].as_str().unwrap().to_owned(),
            refresh: String::new(),
        };
        let add = |email: &str| app.post("/api/v1/auth/emails", Some(&mallory.token), json!({ "email": email }));
        let theirs = add("ada@example.com").await.expect(201);
        let fresh = add("fresh@example.com").await.expect(201);
        assert_eq!((theirs["verified"].as_bool(), fresh["verified"].as_bool()), (Some(false), Some(false)));
        let again = add("fresh@example.com").await;
        assert_eq!((again.status.as_u16(), again.code()), (409, "email_already_added"), "one's own addresses are one's own business");
        let listed = app.get("/api/v1/auth/emails", Some(&mallory.token)).await.expect(200);
        assert_eq!(listed.as_array().unwrap().len(), 3);
        // Only the free address got a link; Ada got a notice, and can never be verified into Mallory's account.
        assert!(!app.mails().iter().any(|m| m["to"] == "ada@example.com" && m["subject"].as_str().unwrap().contains("Confirm") && m["text"].as_str().unwrap().contains("free@")));
        let notices = app.mails().into_iter().filter(|m| m["to"] == "ada@example.com" && m["text"].as_str().unwrap().contains("another Purser account")).count();
        assert_eq!(notices, 1);
        let resend = app.post("/api/v1/auth/verify-email/send", Some(&mallory.token), json!({ "emailId": theirs["id"] })).await.expect(202);
        let resend_free = app.post("/api/v1/auth/verify-email/send", Some(&mallory.token), json!({ "emailId": fresh["id"] })).await.expect(202);
        assert_eq!(resend, resend_free);
        app.mailed_token("fresh@example.com", "Confirm").await;
        // Ada keeps signing in with her address.
        let me = app.get("/api/v1/auth/me", Some(&ada.token)).await.expect(200);
        assert_eq!((me["email"].as_str(), me["emailVerified"].as_bool()), (Some("ada@example.com"), Some(true)));
        drop(unverified);
    }

    async fn wrong_credentials_say_nothing_more(app: TestApp) {
        app.register("ada@example.com").await;
        let wrong = app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": "wrong password!" })).await;
        let unknown = app.post("/api/v1/auth/login", None, json!({ "email": "nobody@example.com", "password": PASSWORD })).await;
        assert_eq!((wrong.status.as_u16(), wrong.code()), (401, "invalid_credentials"));
        assert_eq!((unknown.status.as_u16(), unknown.code()), (401, "invalid_credentials"));
        assert_eq!(wrong.body["detail"], unknown.body["detail"]);
        assert_eq!(wrong.headers["www-authenticate"], "Bearer");
    }

    async fn refresh_rotates_and_reuse_ends_the_session(app: TestApp) {
        let first = app.user("ada@example.com").await;
        let rotated = app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": first.refresh })).await.expect(200);
        let second_refresh = rotated["refreshToken"].as_str().unwrap();
        assert_ne!(second_refresh, first.refresh);
        let new_access = rotated["accessToken"].as_str().unwrap();
        app.get("/api/v1/auth/me", Some(new_access)).await.expect(200);

        // The first refresh token was stolen and is replayed after rotation.
        let replay = app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": first.refresh })).await;
        assert_eq!((replay.status.as_u16(), replay.code()), (401, "refresh_token_reused"));
        // The whole family is revoked: the legitimate holder's newer tokens stop too.
        let after = app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": second_refresh })).await;
        assert_eq!(after.status.as_u16(), 401);
        let me = app.get("/api/v1/auth/me", Some(new_access)).await;
        assert_eq!((me.status.as_u16(), me.code()), (401, "session_ended"));
        // Other sessions of the same user are untouched.
        let other = app.login("ada@example.com").await;
        app.get("/api/v1/auth/me", Some(&other.token)).await.expect(200);
    }

    async fn logout_stops_access_and_refresh_at_once(app: TestApp) {
        let session = app.user("ada@example.com").await;
        assert_eq!(app.post("/api/v1/auth/logout", Some(&session.token), json!({})).await.status.as_u16(), 204);
        let me = app.get("/api/v1/auth/me", Some(&session.token)).await;
        assert_eq!((me.status.as_u16(), me.code()), (401, "session_ended"));
        let refresh = app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": session.refresh })).await;
        assert_eq!(refresh.status.as_u16(), 401);
    }

    async fn admin_create_promotes_an_existing_user(app: TestApp) {
        let before = app.user("ada@example.com").await;
        let (user, outcome) = app.services.ensure_admin("ADA@example.com", None, None, &ClientInfo::system()).await.unwrap();
        assert_eq!((user.id.to_string(), outcome), (before.id.clone(), AdminOutcome::Promoted));
        let me = app.get("/api/v1/auth/me", Some(&app.login("ada@example.com").await.token)).await.expect(200);
        assert_eq!(me["role"], "admin", "promoted, password unchanged");
        let (_, outcome) = app.services.ensure_admin("ada@example.com", Some("a brand new password".into()), None, &ClientInfo::system()).await.unwrap();
        assert_eq!(outcome, AdminOutcome::AlreadyAdmin);
        app.post("/api/v1/auth/login", None, json!({ "email": "ada@example.com", "password": "a brand new password" })).await.expect(200);
        let missing = app.services.ensure_admin("new@example.com", None, None, &ClientInfo::system()).await.unwrap_err();
        assert_eq!(missing.fields[0].field, "password", "a new admin needs a password");
    }

    async fn browsers_sign_in_with_a_cookie_and_writes_need_the_csrf_token(app: TestApp) {
        app.register("ada@example.com").await;
        let response = app
            .http
            .post(format!("{}/api/v1/auth/login/cookie", app.base))
            .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let cookies: Vec<String> = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        let session = cookies.iter().find(|c| c.starts_with("purser_session=")).unwrap();
        for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=604800"] {
            assert!(session.contains(attribute), "{attribute} missing from {session}");
        }
        assert!(!cookies.iter().find(|c| c.starts_with("purser_csrf=")).unwrap().contains("HttpOnly"), "pages must read the CSRF cookie");
        let body: serde_json::Value = response.json().await.unwrap();
        let csrf = body["csrfToken"].as_str().unwrap().to_owned();
        assert!(body.get("accessToken").is_none(), "no token for scripts to steal");
        let cookie = session.split(';').next().unwrap().to_owned();

        let send = |method: reqwest::Method, path: &str, csrf: Option<&str>| {
            let mut request = app.http.request(method, format!("{}{path}", app.base)).header("cookie", cookie.clone());
            if let Some(csrf) = csrf {
                request = request.header("x-csrf-token", csrf);
            }
            async move { request.json(&json!({ "email": "second@example.com" })).send().await.unwrap() }
        };
        assert_eq!(send(reqwest::Method::GET, "/api/v1/auth/me", None).await.status().as_u16(), 200, "reads need no CSRF token");
        let forged = send(reqwest::Method::POST, "/api/v1/auth/emails", None).await;
        assert_eq!(forged.status().as_u16(), 403);
        assert_eq!(forged.json::<serde_json::Value>().await.unwrap()["code"], "csrf_failed");
        assert_eq!(send(reqwest::Method::POST, "/api/v1/auth/emails", Some("guess")).await.status().as_u16(), 403);
        let other = app.http.post(format!("{}/api/v1/auth/login/cookie", app.base)).json(&json!({ "email": "ada@example.com", "password": PASSWORD })).send().await.unwrap();
        let other_csrf = other.json::<serde_json::Value>().await.unwrap()["csrfToken"].as_str().unwrap().to_owned();
        assert_eq!(send(reqwest::Method::POST, "/api/v1/auth/emails", Some(&other_csrf)).await.status().as_u16(), 403, "tokens are bound to their session");
        assert_eq!(send(reqwest::Method::POST, "/api/v1/auth/emails", Some(&csrf)).await.status().as_u16(), 201);

        let out = send(reqwest::Method::POST, "/api/v1/auth/logout", Some(&csrf)).await;
        assert_eq!(out.status().as_u16(), 204);
        assert!(out.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("purser_session=; ")));
        assert_eq!(send(reqwest::Method::GET, "/api/v1/auth/me", None).await.status().as_u16(), 401);
    }

    async fn bad_tokens_are_refused(app: TestApp) {
        for header in ["", "Bearer", "Bearer nonsense", "Basic abc", "Bearer a.b.c"] {
            let reply = app
                .http
                .get(format!("{}/api/v1/auth/me", app.base))
                .header("authorization", header)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status().as_u16(), 401, "{header:?}");
        }
        assert_eq!(app.get("/api/v1/auth/me", None).await.code(), "unauthenticated");
        let garbage = app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": "x".repeat(300) })).await;
        assert_eq!(garbage.code(), "invalid_refresh_token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_admin_is_created_from_configuration() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let options = Options::tweak(|c| {
            c.bootstrap.admin_email = Some("boss@example.com".into());
            c.bootstrap.admin_password = Some(purser::config::Secret::from(PASSWORD));
        });
        let app = TestApp::start_with(backend, options).await;
        let session = app.login("boss@example.com").await;
        let me = app.get("/api/v1/auth/me", Some(&session.token)).await.expect(200);
        assert_eq!(me["role"], "admin", "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_expire_after_15_minutes_and_refresh_tokens_after_7_days() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let clock = Arc::new(ManualClock::new(T0));
        let app = TestApp::start_with(backend, Options { clock: Some(clock.clone()), ..Options::default() }).await;
        let session = app.user("ada@example.com").await;
        clock.advance_secs(15 * 60 - 1);
        app.get("/api/v1/auth/me", Some(&session.token)).await.expect(200);
        clock.advance_secs(1);
        let expired = app.get("/api/v1/auth/me", Some(&session.token)).await;
        assert_eq!((expired.status.as_u16(), expired.code()), (401, "token_expired"), "{backend:?}");
        let refreshed =
            app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": session.refresh })).await.expect(200);
        clock.advance_secs(7 * 24 * 3600);
        let late = app.post("/api/v1/auth/refresh", None, json!({ "refreshToken": refreshed["refreshToken"] })).await;
        assert_eq!((late.status.as_u16(), late.code()), (401, "invalid_refresh_token"), "{backend:?}");
    }
}
