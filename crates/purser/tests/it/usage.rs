use purser_domain::PlatformRole;
use serde_json::json;

use crate::harness::{TestApp, chat_body};

both! {
    async fn summaries_are_per_user_windowed_and_admins_may_look(app: TestApp) {
        let admin = app.admin().await;
        let a = app.model(&admin, json!({ "name": "a" })).await;
        let b = app.model(&admin, json!({ "name": "b", "inputCostPerToken": "0.5", "outputCostPerToken": "0" })).await;
        let ada = app.user("ada@example.com").await;
        let bob = app.user("bob@example.com").await;
        let (_, ada_key) = app.key(&ada, &[a["id"].as_str().unwrap(), b["id"].as_str().unwrap()], json!({})).await;
        let (_, bob_key) = app.key(&bob, &[a["id"].as_str().unwrap()], json!({})).await;
        for _ in 0..3 {
            app.chat(&ada_key, chat_body("a")).await.expect(200);
        }
        app.chat(&ada_key, chat_body("b")).await.expect(200);
        app.chat(&bob_key, chat_body("a")).await.expect(200);

        let mine = app.usage(&ada, "").await;
        assert_eq!(mine["userId"].as_str(), Some(ada.id.as_str()));
        assert_eq!(mine["totals"], json!({ "requests": 4, "estimatedRequests": 0, "promptTokens": 16, "completionTokens": 60, "totalTokens": 76, "cost": "2.000102" }));
        let by_model: Vec<_> = mine["byModel"].as_array().unwrap().iter().map(|m| (m["modelName"].as_str().unwrap().to_owned(), m["requests"].as_u64().unwrap())).collect();
        assert_eq!(by_model, [("a".to_owned(), 3), ("b".to_owned(), 1)]);

        let theirs = app.get(&format!("/api/v1/usage/summary?userId={}", ada.id), Some(&bob.token)).await;
        assert_eq!((theirs.status.as_u16(), theirs.code()), (403, "forbidden"));
        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        let looked = app.get(&format!("/api/v1/usage/summary?userId={}", ada.id), Some(&readonly.token)).await.expect(200);
        assert_eq!(looked["totals"]["requests"], 4);

        let past = app.usage(&ada, "?from=2020-01-01&to=2020-02-01").await;
        assert_eq!(past["totals"]["requests"], 0);
        assert_eq!(past["from"], "2020-01-01T00:00:00.000Z");
        for (query, status) in [("?from=yesterday", 400), ("?from=2030-01-01&to=2020-01-01", 422), ("?userId=abc", 400), ("?bogus=1", 400)] {
            let reply = app.get(&format!("/api/v1/usage/summary{query}"), Some(&ada.token)).await;
            assert_eq!(reply.status.as_u16(), status, "{query}: {}", reply.body);
        }
    }

    async fn every_answered_request_has_exactly_one_usage_row_after_shutdown(app: TestApp) {
        let mut app = app;
        let admin = app.admin().await;
        let model = app.model(&admin, json!({})).await;
        let user = app.user("ada@example.com").await;
        let (key_id, key) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
        let requests = 60;
        let mut answered = 0;
        let mut tasks = Vec::new();
        for _ in 0..requests {
            let http = app.http.clone();
            let url = format!("{}/v1/chat/completions", app.base);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                http.post(url).bearer_auth(key).json(&chat_body("mock-model")).send().await.map(|r| r.status().as_u16())
            }));
        }
        for task in tasks {
            if task.await.unwrap().ok() == Some(200) {
                answered += 1;
            }
        }
        assert_eq!(answered, requests);
        // Stop as SIGTERM would, without flushing first: shutdown must write everything.
        app.stop().await;
        let store = purser_store::Store::connect(&app.database_url, &Default::default()).await.unwrap();
        let mut conn = store.conn().await.unwrap();
        let rows = purser_store::usage::count_for_key(&mut conn, key_id.parse().unwrap()).await.unwrap();
        assert_eq!(rows, answered);
    }
}
