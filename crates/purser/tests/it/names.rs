//! Every human-entered name field, fed hostile input: blank, over-long (counted in
//! characters, not bytes), control and bidi characters are refused with 422 naming the
//! field; markup and any Unicode are stored as given and come back as JSON strings.

use serde_json::{Value, json};

use crate::harness::{Session, TestApp};
use crate::orgs::org_with_owner;

const MARKUP: &str = "<script>alert(\"x\")</script> & 'quotes' \\ back";
const UNICODE: &str = "Zoë 名前 🚀 ﷽ e\u{301}";

fn refused(reply: &crate::harness::Reply, field: &str, what: &str) {
    assert_eq!(reply.status.as_u16(), 422, "{field} {what}: {}", reply.body);
    assert_eq!(reply.body["errors"][0]["field"], field, "{field} {what}");
}

/// Creates something whose `field` is `value` (`n` keeps other fields unique).
async fn create(
    app: &TestApp,
    who: &Session,
    field: &str,
    org: &str,
    model: &str,
    value: &str,
    n: usize,
) -> crate::harness::Reply {
    let t = Some(who.token.as_str());
    match field {
        "user.name" => app.post("/api/v1/auth/register", None, json!({ "email": format!("n{n}@example.com"), "password": "correct horse battery", "name": value })).await,
        "organization.name" => app.post("/api/v1/organizations", t, json!({ "name": value })).await,
        "team.name" => app.post(&format!("/api/v1/organizations/{org}/teams"), t, json!({ "name": value })).await,
        "team.description" => app.post(&format!("/api/v1/organizations/{org}/teams"), t, json!({ "name": format!("t{n}"), "description": value })).await,
        "apiKey.name" => app.post("/api/v1/api-keys", t, json!({ "name": value, "modelIds": [model] })).await,
        "model.description" => app.post("/api/v1/admin/models", t, json!({ "name": format!("m{n}"), "provider": "mock", "inputCostPerToken": "0", "outputCostPerToken": "0", "capabilities": ["chat"], "description": value })).await,
        other => panic!("unknown field {other}"),
    }
}

/// The JSON field name in request and response bodies.
fn json_name(field: &str) -> &str {
    field.split('.').nth(1).unwrap()
}

both! {
    async fn every_name_field_refuses_hostile_input_and_keeps_the_rest_exactly(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let (owner, org) = org_with_owner(&app, "owner@example.com", "Names").await;
        app.post("/api/v1/subscriptions", Some(&owner.token), json!({ "modelId": model["id"] })).await.expect(201);
        let model = model["id"].as_str().unwrap();
        let fields = [
            ("user.name", 100, &owner),
            ("organization.name", 100, &owner),
            ("team.name", 100, &owner),
            ("team.description", 1000, &owner),
            ("apiKey.name", 100, &owner),
            ("model.description", 2000, &admin),
        ];
        let mut n = 0;
        for (field, max, who) in fields {
            let max: usize = max;
            // Descriptions are optional free text: empty and multi-line are fine there.
            let is_label = !field.ends_with("description");
            let mut hostile: Vec<(&str, String)> = vec![
                ("over-long", "é".repeat(max + 1)),
                ("with a NUL", "a\u{0}b".into()),
                ("with an escape", "a\u{1b}[31mred".into()),
                ("with a right-to-left override", "invoice\u{202e}fdp.exe".into()),
            ];
            if is_label {
                hostile.push(("empty", String::new()));
                hostile.push(("blank", "   ".into()));
                hostile.push(("with a line break", "two\nlines".into()));
                hostile.push(("invisible", "\u{200b}\u{2060}\u{feff}".into()));
                hostile.push(("a filler", "\u{3164}".into()));
            }
            for (what, value) in hostile {
                n += 1;
                refused(&create(&app, who, field, &org, model, &value, n).await, json_name(field), what);
            }
            for value in [MARKUP.to_owned(), UNICODE.to_owned(), "é".repeat(max)] {
                n += 1;
                let mut reply = create(&app, who, field, &org, model, &value, n).await;
                assert!(reply.status.is_success(), "{field} {value:?}: {}", reply.body);
                if field == "user.name" {
                    // Signing up answers nothing about the account: read it back signed in.
                    let signed_in = app.login(&format!("n{n}@example.com")).await;
                    reply = app.get("/api/v1/auth/me", Some(&signed_in.token)).await;
                }
                let raw = reply.body.to_string();
                let back: Value = serde_json::from_str(&raw).unwrap();
                assert_eq!(back[json_name(field)], value, "{field} is stored and returned as given");
                assert_eq!(reply.headers["x-content-type-options"], "nosniff");
            }
        }
        // Kept in the database too, not only echoed.
        let teams = app.get(&format!("/api/v1/organizations/{org}/teams?limit=100"), Some(&owner.token)).await.expect(200);
        assert!(teams["data"].as_array().unwrap().iter().any(|t| t["name"] == MARKUP));
        assert!(teams["data"].as_array().unwrap().iter().any(|t| t["description"] == UNICODE));
    }
}
