use reqwest::Method;
use serde_json::json;

use crate::harness::TestApp;

both! {
    async fn every_response_carries_a_request_id(app: TestApp) {
        let health = app.get("/health", None).await;
        let generated = health.headers["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(generated.len(), 32);
        let echoed = app.http.get(format!("{}/health", app.base)).header("x-request-id", "trace-abc.123").send().await.unwrap();
        assert_eq!(echoed.headers()["x-request-id"], "trace-abc.123");
        let replaced = app.http.get(format!("{}/health", app.base)).header("x-request-id", "<script>").send().await.unwrap();
        assert_ne!(replaced.headers()["x-request-id"], "<script>", "unsafe ids are replaced");
        // The gateway stamps its own (its routes skip the management API's middleware).
        let gateway = app.post("/v1/chat/completions", None, json!({})).await;
        assert_eq!(gateway.headers["x-request-id"].len(), 32);
        assert_eq!(gateway.headers["x-content-type-options"], "nosniff");
        for (method, path, status) in
            [(Method::POST, "/v1/chat/completions", 401), (Method::GET, "/v1/models", 401), (Method::GET, "/v1/embeddings", 405)]
        {
            let echoed =
                app.http.request(method, format!("{}{path}", app.base)).header("x-request-id", "trace-gw.1").send().await.unwrap();
            assert_eq!(echoed.status().as_u16(), status, "{path}");
            assert_eq!(echoed.headers()["x-request-id"], "trace-gw.1", "{path}");
        }
    }

    async fn errors_are_problem_documents(app: TestApp) {
        let reply = app
            .http
            .post(format!("{}/api/v1/auth/login", app.base))
            .header("x-request-id", "req-42")
            .json(&json!({ "email": "x@example.com", "password": "nope nope nope" }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(problem["type"], "urn:purser:problem:invalid_credentials");
        assert_eq!(problem["title"], "Unauthorized");
        assert_eq!(problem["status"], 401);
        assert_eq!(problem["code"], "invalid_credentials");
        assert_eq!(problem["requestId"], "req-42");
        assert!(problem["detail"].is_string());

        let route = app.get("/api/v1/nope", None).await;
        assert_eq!((route.status.as_u16(), route.code()), (404, "route_not_found"));
        let method = app.call(Method::PUT, "/api/v1/auth/login", None, Some(json!({}))).await;
        assert_eq!((method.status.as_u16(), method.code()), (405, "method_not_allowed"));
    }

    async fn bad_bodies_get_clear_errors_and_never_a_500(app: TestApp) {
        let url = format!("{}/api/v1/auth/register", app.base);
        let send = |body: &'static str, content_type: &'static str| {
            let request = app.http.post(&url).header("content-type", content_type).body(body);
            async move {
                let r = request.send().await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<serde_json::Value>().await.unwrap())
            }
        };
        let (status, body) = send("{\"email\": ", "application/json").await;
        assert_eq!((status, body["code"].as_str()), (400, Some("malformed_json")));
        let (status, body) = send("{\"email\": 5, \"password\": \"correct horse battery\", \"name\": \"x\"}", "application/json").await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("email")));
        let (status, body) = send("{\"password\": \"correct horse battery\", \"name\": \"x\"}", "application/json").await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("email")));
        let (status, body) = send("{\"email\": \"a@b.io\", \"password\": \"correct horse battery\", \"name\": \"x\", \"admin\": true}", "application/json").await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("admin")));
        let (status, body) = send("[1, 2]", "application/json").await;
        assert_eq!(status, 422, "{body}");
        let (status, body) = send("{\"email\": \"a@b.io\", \"password\": \"correct horse battery\", \"name\": \"x\"} trailing", "application/json").await;
        assert_eq!((status, body["code"].as_str()), (400, Some("malformed_json")));
        let (status, body) = send("email=a", "application/x-www-form-urlencoded").await;
        assert_eq!((status, body["code"].as_str()), (415, Some("unsupported_media_type")));

        let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
        let reply = app.http.post(&url).header("content-type", "application/json").body(huge).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 413);
        let body: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(body["code"], "payload_too_large");
    }

    async fn probes_metrics_and_docs(app: TestApp) {
        assert_eq!(app.get("/health", None).await.expect(200)["status"], "ok");
        assert_eq!(app.get("/ready", None).await.expect(200)["database"], "ok");
        app.get("/api/v1/models", None).await;
        let metrics = app.get("/metrics", None).await;
        assert_eq!(metrics.status.as_u16(), 200);
        let text = metrics.body.as_str().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"purser_http_requests_total{method=\"GET\",route=\"/api/v1/models\",status=\"401\"} 1"), "{text}");
        assert!(lines.contains(&"purser_usage_pending 0"), "{text}");
        assert!(lines.iter().all(|l| l.starts_with('#') || l.starts_with("purser_")), "every metric is named purser_*: {text}");
        let docs = app.http.get(format!("{}/api/docs/", app.base)).send().await.unwrap();
        assert_eq!(docs.status().as_u16(), 200);
        assert!(docs.text().await.unwrap().contains("swagger"));
    }
}

/// The OpenAPI document is generated from the route table, so it cannot miss a route;
/// this pins the routes and checks every operation documents its answers.
#[test]
fn openapi_covers_every_route() {
    let spec = serde_json::to_value(purser_api::openapi()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    let expected = [
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/login/cookie"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/auth/me"),
        ("post", "/api/v1/auth/verify-email/send"),
        ("post", "/api/v1/auth/verify-email"),
        ("post", "/api/v1/auth/password-reset/request"),
        ("post", "/api/v1/auth/password-reset"),
        ("post", "/api/v1/auth/password"),
        ("get", "/api/v1/auth/emails"),
        ("post", "/api/v1/auth/emails"),
        ("delete", "/api/v1/auth/emails/{id}"),
        ("post", "/api/v1/auth/emails/{id}/primary"),
        ("get", "/api/v1/auth/sessions"),
        ("delete", "/api/v1/auth/sessions/{id}"),
        ("post", "/api/v1/auth/sessions/revoke-others"),
        ("get", "/api/v1/users"),
        ("get", "/api/v1/users/{id}"),
        ("patch", "/api/v1/users/{id}"),
        ("get", "/api/v1/users/{id}/limits"),
        ("put", "/api/v1/users/{id}/limits"),
        ("get", "/api/v1/models"),
        ("get", "/api/v1/models/{id}"),
        ("post", "/api/v1/admin/models"),
        ("patch", "/api/v1/admin/models/{id}"),
        ("delete", "/api/v1/admin/models/{id}"),
        ("post", "/api/v1/admin/models/{id}/deployments"),
        ("patch", "/api/v1/admin/models/{id}/deployments/{deploymentId}"),
        ("delete", "/api/v1/admin/models/{id}/deployments/{deploymentId}"),
        ("post", "/api/v1/subscriptions"),
        ("get", "/api/v1/subscriptions"),
        ("get", "/api/v1/subscriptions/{id}"),
        ("post", "/api/v1/subscriptions/{id}/cancel"),
        ("get", "/api/v1/admin/subscriptions"),
        ("post", "/api/v1/admin/subscriptions/{id}/approve"),
        ("post", "/api/v1/admin/subscriptions/{id}/deny"),
        ("post", "/api/v1/api-keys"),
        ("get", "/api/v1/api-keys"),
        ("get", "/api/v1/api-keys/{id}"),
        ("delete", "/api/v1/api-keys/{id}"),
        ("get", "/api/v1/usage/summary"),
        ("get", "/api/v1/usage/timeseries"),
        ("get", "/api/v1/usage/budgets"),
        ("get", "/api/v1/usage/records"),
        ("get", "/api/v1/usage/export"),
        ("get", "/api/v1/admin/audit"),
        ("post", "/api/v1/organizations"),
        ("get", "/api/v1/organizations"),
        ("get", "/api/v1/organizations/{org}"),
        ("patch", "/api/v1/organizations/{org}"),
        ("delete", "/api/v1/organizations/{org}"),
        ("post", "/api/v1/organizations/{org}/suspend"),
        ("post", "/api/v1/organizations/{org}/resume"),
        ("get", "/api/v1/organizations/{org}/members"),
        ("get", "/api/v1/organizations/{org}/members/{user}"),
        ("patch", "/api/v1/organizations/{org}/members/{user}"),
        ("delete", "/api/v1/organizations/{org}/members/{user}"),
        ("post", "/api/v1/organizations/{org}/transfer-ownership"),
        ("post", "/api/v1/organizations/{org}/leave"),
        ("get", "/api/v1/organizations/{org}/audit-logs"),
        ("post", "/api/v1/organizations/{org}/invitations"),
        ("get", "/api/v1/organizations/{org}/invitations"),
        ("delete", "/api/v1/organizations/{org}/invitations/{invitation}"),
        ("get", "/api/v1/invitations"),
        ("post", "/api/v1/invitations/accept"),
        ("post", "/api/v1/organizations/{org}/teams"),
        ("get", "/api/v1/organizations/{org}/teams"),
        ("get", "/api/v1/organizations/{org}/teams/{team}"),
        ("patch", "/api/v1/organizations/{org}/teams/{team}"),
        ("delete", "/api/v1/organizations/{org}/teams/{team}"),
        ("put", "/api/v1/organizations/{org}/teams/{team}/permissions"),
        ("post", "/api/v1/organizations/{org}/teams/{team}/members"),
        ("get", "/api/v1/organizations/{org}/teams/{team}/members"),
        ("patch", "/api/v1/organizations/{org}/teams/{team}/members/{user}"),
        ("delete", "/api/v1/organizations/{org}/teams/{team}/members/{user}"),
        ("post", "/api/v1/organizations/{org}/documents"),
        ("get", "/api/v1/organizations/{org}/documents"),
        ("get", "/api/v1/organizations/{org}/documents/{doc}"),
        ("patch", "/api/v1/organizations/{org}/documents/{doc}"),
        ("delete", "/api/v1/organizations/{org}/documents/{doc}"),
        ("get", "/api/v1/organizations/{org}/documents/{doc}/content"),
        ("get", "/api/v1/organizations/{org}/documents/{doc}/download-url"),
        ("post", "/api/v1/organizations/{org}/documents/timestamps"),
        ("get", "/api/v1/organizations/{org}/documents/{doc}/timestamp.tsr"),
        ("get", "/api/v1/organizations/{org}/storage"),
        ("get", "/api/v1/organizations/{org}/orphaned-files"),
        ("delete", "/api/v1/organizations/{org}/orphaned-files"),
        ("get", "/api/v1/document-links/{org}/{doc}"),
        ("post", "/api/v1/organizations/{org}/webhooks"),
        ("get", "/api/v1/organizations/{org}/webhooks"),
        ("get", "/api/v1/organizations/{org}/webhooks/{webhook}"),
        ("patch", "/api/v1/organizations/{org}/webhooks/{webhook}"),
        ("delete", "/api/v1/organizations/{org}/webhooks/{webhook}"),
        ("get", "/api/v1/organizations/{org}/webhooks/{webhook}/deliveries"),
        ("post", "/api/v1/organizations/{org}/webhooks/{webhook}/deliveries/{delivery}/redeliver"),
        ("post", "/api/v1/organizations/{org}/vaults"),
        ("get", "/api/v1/organizations/{org}/vaults"),
        ("get", "/api/v1/organizations/{org}/vaults/{vault}"),
        ("patch", "/api/v1/organizations/{org}/vaults/{vault}"),
        ("delete", "/api/v1/organizations/{org}/vaults/{vault}"),
        ("get", "/api/v1/organizations/{org}/vaults/{vault}/grants"),
        ("put", "/api/v1/organizations/{org}/vaults/{vault}/grants/users/{user}"),
        ("delete", "/api/v1/organizations/{org}/vaults/{vault}/grants/users/{user}"),
        ("put", "/api/v1/organizations/{org}/vaults/{vault}/grants/teams/{team}"),
        ("delete", "/api/v1/organizations/{org}/vaults/{vault}/grants/teams/{team}"),
        ("put", "/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}"),
        ("delete", "/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}"),
        ("post", "/api/v1/organizations/{org}/vaults/{vault}/tokens"),
        ("post", "/api/v1/organizations/{org}/vaults/{vault}/tokens/revoke"),
        ("post", "/api/v1/organizations/{org}/vaults/{vault}/sync"),
        ("post", "/api/v1/organizations/{org}/clients"),
        ("get", "/api/v1/organizations/{org}/clients"),
        ("get", "/api/v1/organizations/{org}/clients/{client}"),
        ("patch", "/api/v1/organizations/{org}/clients/{client}"),
        ("delete", "/api/v1/organizations/{org}/clients/{client}"),
        ("post", "/api/v1/organizations/{org}/clients/{client}/certificates"),
        ("delete", "/api/v1/organizations/{org}/clients/{client}/certificates/{certificate}"),
        ("get", "/api/v1/organizations/{org}/jwks.json"),
        ("post", "/api/v1/token"),
        ("get", "/.well-known/jwks.json"),
        ("get", "/.well-known/oauth-authorization-server"),
        ("get", "/v1/models"),
        ("get", "/v1/models/{model}"),
        ("post", "/v1/chat/completions"),
        ("post", "/v1/completions"),
        ("post", "/v1/embeddings"),
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/metrics"),
    ];
    for (method, path) in expected {
        let operation = &paths.get(path).unwrap_or_else(|| panic!("{path} is missing"))[method];
        assert!(operation.is_object(), "{method} {path} is missing");
        assert!(!operation["responses"].as_object().unwrap().is_empty(), "{method} {path} documents no answers");
    }
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(operations, expected.len(), "a route is documented but not pinned here");
    for schema in ["ModelDto", "Problem", "UsageSummaryDto", "CreatedApiKeyDto"] {
        assert!(spec["components"]["schemas"][schema].is_object(), "{schema} schema");
    }
}
