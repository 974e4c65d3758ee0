//! Control characters at the boundary, generated from the route table: every field of
//! every request body and every query parameter, given a NUL or another control
//! character, is refused (422 for a body field, 400 for a query parameter) naming that
//! field, on both backends; nothing reaches the database, so PostgreSQL (which cannot
//! store a NUL) never answers 500.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Session, TestApp};
use crate::orgs::org_with_owner;

/// The schema `value` refers to, followed through `$ref`s.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => value,
    }
}

/// Each field of a request body as `(path in the body, JSON that puts a bad value there)`;
/// the fields of objects in arrays are reached through the array's first item.
fn fields(spec: &Value, schema: &Value, bad: &str) -> Vec<(String, Value)> {
    let schema = resolve(spec, schema);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return Vec::new() };
    let mut out = Vec::new();
    for (name, property) in properties {
        out.push((name.clone(), json!({ name: bad })));
        let property = resolve(spec, property);
        let items = property.get("items").map(|items| resolve(spec, items));
        if let Some(items) = items.filter(|i| i.get("properties").is_some()) {
            for (inner, body) in fields(spec, items, bad) {
                out.push((format!("{name}[0].{inner}"), json!({ name: [body] })));
            }
        }
    }
    out
}

both! {
    async fn every_body_field_and_query_parameter_refuses_control_characters(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({ "name": "served", "provider": "vllm", "upstreamUrl": "http://127.0.0.1:9/v1" })).await;
        let model_id = model["id"].as_str().unwrap().to_owned();
        let deployment = model["deployments"][0]["id"].as_str().unwrap().to_owned();
        let (owner, org) = org_with_owner(&app, "owner@example.com", "Inputs").await;
        let team = app.post(&format!("/api/v1/organizations/{org}/teams"), Some(&owner.token), json!({ "name": "T" })).await.expect(201);
        let team = team["id"].as_str().unwrap().to_owned();
        let user = app.verified_user("member@example.com").await;
        let doc = app.upload(&owner.token, &org, "a.txt", "text/plain", b"a").await.expect(201);
        let doc = doc["document"]["id"].as_str().unwrap().to_owned();
        let hook = app.post(&format!("/api/v1/organizations/{org}/webhooks"), Some(&owner.token), json!({ "url": "http://127.0.0.1:9/h", "eventTypes": ["*"] })).await.expect(201);
        let hook = hook["webhook"]["id"].as_str().unwrap().to_owned();
        let vault = app.post(&format!("/api/v1/organizations/{org}/vaults"), Some(&owner.token), json!({ "name": "V" })).await.expect(201);
        let vault = vault["id"].as_str().unwrap().to_owned();
        let client = app.post(&format!("/api/v1/organizations/{org}/clients"), Some(&owner.token), json!({ "name": "C" })).await.expect(201);
        let client = client["id"].as_str().unwrap().to_owned();
        let fill = |template: &str| {
            template
                .replace("{org}", &org)
                .replace("{team}", &team)
                .replace("{user}", &user.id)
                .replace("{invitation}", "1")
                .replace("{doc}", &doc)
                .replace("{webhook}", &hook)
                .replace("{delivery}", "1")
                .replace("{vault}", &vault)
                .replace("{client}", &client)
                .replace("{certificate}", "1")
                .replace("{deploymentId}", &deployment)
                .replace("{id}", if template.starts_with("/api/v1/users/") { &user.id } else { &model_id })
        };
        let token_for = |path: &str| -> Option<&Session> {
            let public = ["/register", "/login", "/refresh", "/verify-email", "/password-reset"];
            if path.starts_with("/api/v1/auth/") && public.iter().any(|p| path.ends_with(p) || path.contains(&format!("{p}/"))) && !path.ends_with("/send") {
                None
            } else if path.ends_with("/vaults/{vault}/tokens") {
                // Vault tokens are for those with a role on the vault: its creator.
                Some(&owner)
            } else {
                Some(&admin)
            }
        };

        let spec = serde_json::to_value(purser_api::openapi()).unwrap();
        let (mut body_fields, mut query_params) = (0, 0);
        for (template, operations) in spec["paths"].as_object().unwrap() {
            if !template.starts_with("/api/v1/") {
                continue;
            }
            for (method, operation) in operations.as_object().unwrap() {
                let path = fill(template);
                let verb = || Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let token = token_for(template).map(|s| s.token.as_str());
                if let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema") {
                    for bad in ["a\u{0}b", "\u{7}", "x\u{1b}[2J", "\u{85}"] {
                        for (field, body) in fields(&spec, schema, bad) {
                            let reply = app.call(verb(), &path, token, Some(body)).await;
                            assert_eq!(reply.status.as_u16(), 422, "{method} {template} {field}={bad:?}: {}", reply.body);
                            assert_eq!(reply.body["errors"][0]["field"], field.as_str(), "{method} {template} {field}={bad:?}");
                            body_fields += 1;
                        }
                    }
                }
                for param in operation["parameters"].as_array().into_iter().flatten() {
                    if param["in"] != "query" {
                        continue;
                    }
                    let name = param["name"].as_str().unwrap();
                    for bad in ["a%00b", "%07", "%C2%85"] {
                        let reply = app.call(verb(), &format!("{path}?{name}={bad}"), token, None).await;
                        assert_eq!(reply.status.as_u16(), 400, "{method} {template}?{name}={bad}: {}", reply.body);
                        assert_eq!(reply.body["errors"][0]["field"], name, "{method} {template}?{name}={bad}");
                        query_params += 1;
                    }
                }
            }
        }
        assert!(body_fields > 300 && query_params > 100, "{body_fields} body fields, {query_params} query parameters");

        // Without signing in, too: a NUL in the address of a sign-in is no server error.
        let login = app.post("/api/v1/auth/login", None, json!({ "email": "a\u{0}@example.com", "password": "x" })).await;
        assert_eq!((login.status.as_u16(), login.body["errors"][0]["field"].as_str()), (422, Some("email")));
        let models = app.get("/api/v1/models?search=%00", Some(&user.token)).await;
        assert_eq!((models.status.as_u16(), models.body["errors"][0]["field"].as_str()), (400, Some("search")));
        // Line breaks and tabs stay welcome where free text is.
        let described = app.patch(&format!("/api/v1/organizations/{org}/teams/{team}"), Some(&owner.token), json!({ "description": "two\nlines\tand a tab" })).await.expect(200);
        assert_eq!(described["description"], "two\nlines\tand a tab");
    }
}
