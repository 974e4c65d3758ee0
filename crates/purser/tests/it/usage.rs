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

both! {
    async fn usage_over_time_is_cut_by_hour_or_day_per_model_and_adds_up_to_the_summary(app: TestApp) {
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
        let summary = app.usage(&ada, "").await;

        for bucket in ["day", "hour"] {
            let series = app.get(&format!("/api/v1/usage/timeseries?bucket={bucket}"), Some(&ada.token)).await.expect(200);
            assert_eq!(series["bucket"], bucket);
            let models: Vec<_> = series["series"].as_array().unwrap().iter().map(|s| s["modelName"].as_str().unwrap()).collect();
            assert_eq!(models.len(), 2, "{bucket}: {series}");
            assert!(models.contains(&"a") && models.contains(&"b"), "{bucket}: {series}");
            let (mut requests, mut prompt, mut completion) = (0, 0, 0);
            let width = if bucket == "day" { 86_400 } else { 3_600 };
            for point in series["series"].as_array().unwrap().iter().flat_map(|s| s["points"].as_array().unwrap()) {
                requests += point["requests"].as_u64().unwrap();
                prompt += point["promptTokens"].as_u64().unwrap();
                completion += point["completionTokens"].as_u64().unwrap();
                let at = time::OffsetDateTime::parse(point["at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
                assert_eq!(at.unix_timestamp() % width, 0, "{bucket} points start on the {bucket}: {point}");
            }
            assert_eq!(requests, summary["totals"]["requests"].as_u64().unwrap(), "{bucket}");
            assert_eq!(prompt, summary["totals"]["promptTokens"].as_u64().unwrap(), "{bucket}");
            assert_eq!(completion, summary["totals"]["completionTokens"].as_u64().unwrap(), "{bucket}");
            let b_series = series["series"].as_array().unwrap().iter().find(|s| s["modelName"] == "b").unwrap();
            assert_eq!(b_series["points"][0]["cost"], "2", "{bucket}: b's one request cost 4 prompt tokens at $0.5");
        }

        // Another user's usage is for admins; windows and buckets are checked.
        let theirs = app.get(&format!("/api/v1/usage/timeseries?userId={}", ada.id), Some(&bob.token)).await;
        assert_eq!((theirs.status.as_u16(), theirs.code()), (403, "forbidden"));
        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        let looked = app.get(&format!("/api/v1/usage/timeseries?userId={}", ada.id), Some(&readonly.token)).await.expect(200);
        assert_eq!(looked["series"].as_array().unwrap().len(), 2);
        let past = app.get("/api/v1/usage/timeseries?from=2020-01-01&to=2020-02-01", Some(&ada.token)).await.expect(200);
        assert_eq!(past["series"], json!([]));
        let long = app.get("/api/v1/usage/timeseries?bucket=hour&from=2020-01-01&to=2020-03-01", Some(&ada.token)).await;
        assert_eq!((long.status.as_u16(), long.body["errors"][0]["field"].as_str()), (422, Some("bucket")), "{}", long.body);
        for query in ["?bucket=minute", "?from=yesterday", "?bogus=1"] {
            let reply = app.get(&format!("/api/v1/usage/timeseries{query}"), Some(&ada.token)).await;
            assert_eq!(reply.status.as_u16(), 400, "{query}: {}", reply.body);
        }
    }

    async fn a_person_sees_every_budget_on_their_use_with_its_spend_this_period(app: TestApp) {
        let admin = app.admin().await;
        let model = app.model(&admin, json!({ "name": "m", "inputCostPerToken": "0.25", "outputCostPerToken": "0" })).await;
        let model = model["id"].as_str().unwrap();
        let ada = app.user("ada@example.com").await;
        assert_eq!(app.get("/api/v1/usage/budgets", Some(&ada.token)).await.expect(200), json!([]));

        let orgs = app.get("/api/v1/organizations", Some(&admin.token)).await.expect(200);
        let org = orgs["data"][0]["id"].as_str().unwrap().to_owned();
        let team = app
            .post(&format!("/api/v1/organizations/{org}/teams"), Some(&admin.token), json!({ "name": "Lab", "budget": "50", "budgetPeriod": "weekly" }))
            .await
            .expect(201);
        let team = team["id"].as_str().unwrap();
        app.post(&format!("/api/v1/organizations/{org}/teams/{team}/members"), Some(&admin.token), json!({ "userId": ada.id }))
            .await
            .expect(201);
        app.put(&format!("/api/v1/users/{}/limits", ada.id), Some(&admin.token), json!({ "maxBudget": "20", "budgetPeriod": "daily" }))
            .await
            .expect(200);
        let (key_id, key) = app.key(&ada, &[model], json!({ "name": "capped", "teamId": team, "maxBudget": "10", "budgetPeriod": "monthly" })).await;
        app.key(&ada, &[model], json!({ "name": "free" })).await;
        app.chat(&key, chat_body("m")).await.expect(200);
        app.usage(&ada, "").await;

        let budgets = app.get("/api/v1/usage/budgets", Some(&ada.token)).await.expect(200);
        let seen: Vec<_> = budgets
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["scope"].as_str().unwrap(), b["id"].as_str().unwrap(), b["name"].as_str().unwrap(), b["budget"].as_str().unwrap(), b["period"].as_str(), b["spend"].as_str().unwrap()))
            .collect();
        assert_eq!(
            seen,
            [
                ("key", key_id.as_str(), "capped", "10", Some("monthly"), "1"),
                ("team", team, "Lab", "50", Some("weekly"), "1"),
                ("user", ada.id.as_str(), "", "20", Some("daily"), "1"),
            ],
            "4 prompt tokens at $0.25 are $1 on each budget: {budgets}"
        );
        // Nobody else's budgets show.
        let bob = app.user("bob@example.com").await;
        assert_eq!(app.get("/api/v1/usage/budgets", Some(&bob.token)).await.expect(200), json!([]));
    }
}
