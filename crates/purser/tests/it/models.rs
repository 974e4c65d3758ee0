use purser_domain::PlatformRole;
use serde_json::json;

use crate::harness::TestApp;

both! {
    async fn admins_manage_models_and_everyone_browses(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({
            "name": "llama-3.1-8b", "provider": "vllm", "upstreamUrl": "http://vllm:8000/v1/",
            "upstreamApiKey": "sk-upstream-secret", "contextLength": 131072,
            "capabilities": ["chat", "tools", "chat"], "description": "Llama <b>8B</b> 🦙",
        })).await;
        let deployment = &model["deployments"][0];
        assert_eq!(deployment["upstreamUrl"], "http://vllm:8000/v1", "trailing slash removed");
        assert_eq!(deployment["upstreamModel"], "llama-3.1-8b", "upstream model defaults to the name");
        assert_eq!((deployment["hasApiKey"].as_bool(), deployment["weight"].as_u64()), (Some(true), Some(1)));
        assert_eq!(model["capabilities"], json!(["chat", "tools"]));
        assert_eq!(model["inputCostPerToken"], "0.000001");
        assert!(!model.to_string().contains("sk-upstream-secret"), "upstream keys are never returned");

        let user = app.user("ada@example.com").await;
        let id = model["id"].as_str().unwrap();
        let seen = app.get(&format!("/api/v1/models/{id}"), Some(&user.token)).await.expect(200);
        assert_eq!(seen["description"], "Llama <b>8B</b> 🦙", "stored and returned as given");
        assert!(seen.get("deployments").is_none(), "users do not see upstream details");
        assert_eq!(seen["mock"], false);

        let changed = app.patch(&format!("/api/v1/admin/models/{id}"), Some(&admin.token), json!({
            "outputCostPerToken": 0.000003, "description": null, "restricted": true,
        })).await.expect(200);
        assert_eq!(changed["outputCostPerToken"], "0.000003");
        assert_eq!(changed["deployments"], model["deployments"], "deployments change on their own");
        assert_eq!(changed["description"], serde_json::Value::Null);
        assert_eq!(changed["restricted"], true);
        assert_eq!(changed["name"], "llama-3.1-8b", "absent fields stay");

        assert_eq!(app.delete(&format!("/api/v1/admin/models/{id}"), Some(&admin.token)).await.status.as_u16(), 204);
        let gone = app.get(&format!("/api/v1/models/{id}"), Some(&user.token)).await;
        assert_eq!((gone.status.as_u16(), gone.code()), (404, "model_not_found"));
        let again = app.delete(&format!("/api/v1/admin/models/{id}"), Some(&admin.token)).await;
        assert_eq!(again.status.as_u16(), 404);
    }

    async fn prices_default_to_zero_and_every_field_error_names_its_field(app: TestApp) {
        let admin = app.admin().await;
        let t = Some(admin.token.as_str());
        let in_house = app.post("/api/v1/admin/models", t, json!({ "name": "in-house", "provider": "mock", "capabilities": ["chat"] })).await.expect(201);
        assert_eq!((in_house["inputCostPerToken"].as_str(), in_house["outputCostPerToken"].as_str()), (Some("0"), Some("0")));
        for (body, field) in [
            (json!({ "provider": "mock", "capabilities": ["chat"] }), "name"),
            (json!({ "name": "m", "provider": "mock" }), "capabilities"),
            (json!({ "name": "m", "provider": "mock", "capabilities": ["chat"], "inputCostPerToken": "cheap" }), "inputCostPerToken"),
            (json!({ "name": "m", "provider": "mock", "capabilities": ["chat"], "outputCostPerToken": [1] }), "outputCostPerToken"),
            (json!({ "name": "m", "provider": "mock", "capabilities": ["chat"], "contextLength": -1 }), "contextLength"),
            (json!({ "name": "m", "provider": "vllm", "capabilities": ["chat"], "deployments": [{ "weight": 1 }] }), "deployments[0].upstreamUrl"),
        ] {
            let reply = app.post("/api/v1/admin/models", t, body.clone()).await;
            assert_eq!(reply.status.as_u16(), 422, "{body}: {}", reply.body);
            assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
        }
        let not_an_object = app.post("/api/v1/admin/models", t, json!("a model")).await;
        assert_eq!((not_an_object.status.as_u16(), not_an_object.body.get("errors")), (422, None));
    }

    async fn only_admins_write_and_read_only_admins_only_read(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let id = model["id"].as_str().unwrap();
        let user = app.user("ada@example.com").await;
        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        let body = json!({ "name": "x", "provider": "mock", "inputCostPerToken": "0", "outputCostPerToken": "0", "capabilities": ["chat"] });
        for who in [&user, &readonly] {
            let create = app.post("/api/v1/admin/models", Some(&who.token), body.clone()).await;
            assert_eq!((create.status.as_u16(), create.code()), (403, "forbidden"));
            let patch = app.patch(&format!("/api/v1/admin/models/{id}"), Some(&who.token), json!({ "restricted": true })).await;
            assert_eq!(patch.status.as_u16(), 403);
            assert_eq!(app.delete(&format!("/api/v1/admin/models/{id}"), Some(&who.token)).await.status.as_u16(), 403);
        }
        let seen = app.get(&format!("/api/v1/models/{id}"), Some(&readonly.token)).await.expect(200);
        assert!(seen["deployments"].is_array(), "read-only admins see upstream details");
        let unchanged = app.get(&format!("/api/v1/models/{id}"), Some(&admin.token)).await.expect(200);
        assert_eq!(unchanged["restricted"], false);
        assert_eq!(app.get("/api/v1/models", None).await.status.as_u16(), 401);
    }

    async fn model_input_is_validated_field_by_field(app: TestApp) {
        let admin = app.admin().await;
        let base = json!({ "name": "m", "provider": "vllm", "upstreamUrl": "http://x/v1", "inputCostPerToken": "0", "outputCostPerToken": "0", "capabilities": ["chat"] });
        let cases = [
            (json!({ "upstreamUrl": null }), "upstreamUrl"),
            (json!({ "upstreamUrl": "ftp://x" }), "upstreamUrl"),
            (json!({ "upstreamUrl": "http://user:pw@x/v1" }), "upstreamUrl"),
            (json!({ "name": "has spaces" }), "name"),
            (json!({ "name": "n".repeat(129) }), "name"),
            (json!({ "provider": "Mock" }), "provider"),
            (json!({ "capabilities": [] }), "capabilities"),
            (json!({ "capabilities": ["telepathy"] }), "capabilities[0]"),
            (json!({ "inputCostPerToken": "-1" }), "inputCostPerToken"),
            (json!({ "inputCostPerToken": "0.0000000000000001" }), "inputCostPerToken"),
            (json!({ "outputCostPerToken": "abc" }), "outputCostPerToken"),
            (json!({ "contextLength": 0 }), "contextLength"),
            (json!({ "contextLength": -5 }), "contextLength"),
            (json!({ "description": "a\u{0}b" }), "description"),
            (json!({ "upstreamApiKey": "  " }), "upstreamApiKey"),
            (json!({ "upstreamModel": "" }), "upstreamModel"),
            (json!({ "upstreamUrl": null, "upstreamModel": "x" }), "upstreamUrl"),
            (json!({ "deployments": [{ "upstreamUrl": "http://y/v1" }] }), "deployments"),
            (json!({ "upstreamUrl": null, "deployments": [] }), "deployments"),
            (json!({ "upstreamUrl": null, "deployments": [{ "upstreamUrl": "http://y/v1" }, { "upstreamUrl": "gopher://z" }] }), "deployments[1].upstreamUrl"),
            (json!({ "upstreamUrl": null, "deployments": [{ "upstreamUrl": "http://y/v1", "weight": 0 }] }), "deployments[0].weight"),
            (json!({ "upstreamUrl": null, "deployments": [{ "upstreamUrl": "http://y/v1", "weight": 1001 }] }), "deployments[0].weight"),
            (json!({ "upstreamUrl": null, "deployments": [{ "upstreamUrl": "http://y/v1", "rpmLimit": 0 }] }), "deployments[0].rpmLimit"),
            (json!({ "upstreamUrl": null, "deployments": [{ "upstreamUrl": "http://y/v1", "colour": 1 }] }), "deployments[0].colour"),
            (json!({ "upstreamUrl": null, "deployments": vec![json!({ "upstreamUrl": "http://y/v1" }); 17] }), "deployments"),
            (json!({ "restricted": "yes" }), "restricted"),
            (json!({ "colour": "blue" }), "colour"),
        ];
        for (change, field) in cases {
            let mut body = base.clone();
            for (k, v) in change.as_object().unwrap() {
                body[k] = v.clone();
            }
            let reply = app.post("/api/v1/admin/models", Some(&admin.token), body).await;
            assert_eq!(reply.status.as_u16(), 422, "{change}: {}", reply.body);
            assert_eq!(reply.body["errors"][0]["field"], field, "{change}: {}", reply.body);
        }
        let mock_with_url = app.post("/api/v1/admin/models", Some(&admin.token), json!({
            "name": "m", "provider": "mock", "upstreamUrl": "http://x/v1", "inputCostPerToken": "0", "outputCostPerToken": "0", "capabilities": ["chat"],
        })).await;
        assert_eq!(mock_with_url.body["errors"][0]["field"], "upstreamUrl");
        // Nothing was half-written.
        let list = app.get("/api/v1/models", Some(&admin.token)).await.expect(200);
        assert_eq!(list["pagination"]["total"], 0);
        // Names are unique among live models.
        app.model(&admin, json!({ "name": "dup" })).await;
        let dup = app.post("/api/v1/admin/models", Some(&admin.token), json!({ "name": "dup", "provider": "mock", "inputCostPerToken": "0", "outputCostPerToken": "0", "capabilities": ["chat"] })).await;
        assert_eq!((dup.status.as_u16(), dup.code()), (409, "model_name_taken"));
    }

    async fn catalog_filters_and_pagination(app: TestApp) {
        let admin = app.admin().await;
        for i in 0..25 {
            app.model(&admin, json!({ "name": format!("chat-{i:02}"), "description": if i == 7 { "the Special one" } else { "plain" } })).await;
        }
        app.model(&admin, json!({ "name": "embedder", "provider": "openai-compat", "upstreamUrl": "http://x/v1", "capabilities": ["embeddings"] })).await;
        let user = app.user("ada@example.com").await;
        let t = Some(user.token.as_str());
        let first = app.get("/api/v1/models", t).await.expect(200);
        assert_eq!(first["data"].as_array().unwrap().len(), 20);
        assert_eq!(first["pagination"], json!({ "page": 1, "limit": 20, "total": 26 }));
        let third = app.get("/api/v1/models?page=3&limit=10", t).await.expect(200);
        assert_eq!(third["data"].as_array().unwrap().len(), 6);
        let special = app.get("/api/v1/models?search=SPECIAL", t).await.expect(200);
        assert_eq!(special["data"][0]["name"], "chat-07");
        let embed = app.get("/api/v1/models?capability=embeddings", t).await.expect(200);
        assert_eq!(embed["pagination"]["total"], 1);
        let by_provider = app.get("/api/v1/models?provider=mock&limit=100", t).await.expect(200);
        assert_eq!(by_provider["pagination"]["total"], 25);
        for (query, field) in [("limit=101", "limit"), ("page=0", "page"), ("limit=abc", "limit"), ("capability=telepathy", "capability"), ("sort=name", "sort")] {
            let bad = app.get(&format!("/api/v1/models?{query}"), t).await;
            assert_eq!((bad.status.as_u16(), bad.code()), (400, "invalid_query"), "{query}: {}", bad.body);
            assert_eq!(bad.body["errors"][0]["field"], field, "{query}: {}", bad.body);
        }
        let bad_id = app.get("/api/v1/models/abc", t).await;
        assert_eq!((bad_id.status.as_u16(), bad_id.code()), (400, "invalid_id"));
        let unknown = app.get("/api/v1/models/123456789", t).await;
        assert_eq!((unknown.status.as_u16(), unknown.code()), (404, "model_not_found"));
    }
}
