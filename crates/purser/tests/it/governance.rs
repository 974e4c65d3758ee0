//! Governance on the gateway's hot path: parallel-request limits, budgets that reset each
//! period, per-user limits across keys, and the bound on budget overshoot.

use std::sync::Arc;

use futures_util::future::join_all;
use purser_domain::ManualClock;
use purser_mock_upstream::server::{MockConfig, MockUpstream};
use purser_store::Backend;
use serde_json::{Value, json};

use crate::harness::{Options, T0, TestApp, chat_body};

/// A model served by a mock that takes `latency` per answer; usage per answer is 4 prompt
/// and 11 completion tokens, which at the default prices costs $0.000026.
async fn slow_model(app: &TestApp, upstream: &MockUpstream) -> String {
    let admin = app.admin().await;
    let model = app
        .model(
            &admin,
            json!({ "name": "slow", "provider": "vllm", "upstreamUrl": upstream.base_url(), "upstreamModel": "m" }),
        )
        .await;
    model["id"].as_str().unwrap().to_owned()
}

async fn burst(app: &TestApp, key: &str, n: usize) -> Vec<(u16, Value)> {
    join_all((0..n).map(|_| async {
        let reply = app.chat(key, chat_body("slow")).await;
        (reply.status.as_u16(), reply.body)
    }))
    .await
}

fn count(replies: &[(u16, Value)], status: u16, code: Option<&str>) -> usize {
    replies.iter().filter(|(s, b)| *s == status && code.is_none_or(|c| b["error"]["code"] == c)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_limits_hold_for_keys_and_teams() {
    let app = TestApp::start(Backend::Sqlite).await;
    let upstream =
        MockUpstream::start(MockConfig { latency: std::time::Duration::from_millis(300), ..Default::default() }).await;
    let model = slow_model(&app, &upstream).await;
    let user = app.user("ada@example.com").await;
    let (_, key) = app.key(&user, &[&model], json!({ "maxParallel": 2 })).await;
    let replies = burst(&app, &key, 6).await;
    assert_eq!(count(&replies, 200, None), 2, "{replies:?}");
    assert_eq!(count(&replies, 429, Some("parallel_limit_exceeded")), 4);
    assert!(
        replies
            .iter()
            .any(|(_, b)| b["error"]["message"].as_str().is_some_and(|m| m.contains("this API key allows 2")))
    );
    // Slots come back when requests finish.
    assert_eq!(count(&burst(&app, &key, 2).await, 200, None), 2);

    // The team's limit spans its keys.
    let admin = app.admin().await;
    let orgs = app.get("/api/v1/organizations", Some(&admin.token)).await.expect(200);
    let org = orgs["data"].as_array().unwrap().iter().find(|o| o["isDefault"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let team = app
        .post(
            &format!("/api/v1/organizations/{org}/teams"),
            Some(&admin.token),
            json!({ "name": "Pair", "maxParallel": 3 }),
        )
        .await
        .expect(201);
    let team_id = team["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/organizations/{org}/teams/{team_id}/members"),
        Some(&admin.token),
        json!({ "userId": user.id }),
    )
    .await
    .expect(201);
    let (_, first) = app.key(&user, &[&model], json!({ "teamId": team_id })).await;
    let (_, second) = app.key(&user, &[&model], json!({ "teamId": team_id })).await;
    let (a, b) = tokio::join!(burst(&app, &first, 3), burst(&app, &second, 3));
    let all: Vec<_> = a.into_iter().chain(b).collect();
    assert_eq!(count(&all, 200, None), 3, "{all:?}");
    assert!(all.iter().any(|(_, b)| b["error"]["message"].as_str().is_some_and(|m| m.contains("its team allows 3"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_budget_with_a_period_resets_when_the_period_turns() {
    let clock = Arc::new(ManualClock::new(T0));
    let app =
        TestApp::start_with(Backend::Sqlite, Options { clock: Some(Arc::clone(&clock)), ..Options::default() }).await;
    let admin = app.admin().await;
    let model = app.model(&admin, json!({})).await;
    let user = app.user("ada@example.com").await;
    // Requests are admitted while spend is under the budget: two here.
    let (_, probe) = app.key(&user, &[model["id"].as_str().unwrap()], json!({})).await;
    app.chat(&probe, chat_body("mock-model")).await.expect(200);
    let cost: f64 = app.usage(&user, "").await["totals"]["cost"].as_str().unwrap().parse().unwrap();
    let budget = format!("{:.9}", cost * 1.5);
    let (key_id, key) =
        app.key(&user, &[model["id"].as_str().unwrap()], json!({ "maxBudget": budget, "budgetPeriod": "daily" })).await;
    let mut answered = 0;
    while app.chat(&key, chat_body("mock-model")).await.status.as_u16() == 200 {
        answered += 1;
        assert!(answered < 10, "the budget never stopped the key");
    }
    assert_eq!(answered, 2);
    let refused = app.chat(&key, chat_body("mock-model")).await;
    assert_eq!(
        (refused.status.as_u16(), refused.body["error"]["code"].as_str()),
        (429, Some("insufficient_quota")),
        "{}",
        refused.body
    );

    // Day one's usage may still be unwritten: written with day two's, each counts in its own day.
    clock.advance_secs(86_400);
    app.chat(&key, chat_body("mock-model")).await.expect(200);
    // A reload (as after a restart) counts only today's spend.
    app.gateway.reload_all().await.unwrap();
    app.chat(&key, chat_body("mock-model")).await.expect(200);
    assert_eq!(app.chat(&key, chat_body("mock-model")).await.status.as_u16(), 429);

    let user = app.login("ada@example.com").await; // a day on, the first access token has expired
    let lifetime = app
        .post(
            "/api/v1/api-keys",
            Some(&user.token),
            json!({ "name": "p", "modelIds": [model["id"]], "budgetPeriod": "weekly" }),
        )
        .await;
    assert_eq!((lifetime.status.as_u16(), lifetime.body["errors"][0]["field"].as_str()), (422, Some("budgetPeriod")));

    // The budget was crossed once each day: one event each time, naming the key.
    app.gateway.flush_usage().await;
    let crossed = budget_events(&app).await;
    assert_eq!(crossed.len(), 2, "{crossed:?}");
    for (data, _) in &crossed {
        assert_eq!((data["scope"].as_str(), data["resourceId"].as_str()), (Some("api_key"), Some(key_id.as_str())));
        assert_eq!(
            (data["budget"].as_str(), data["period"].as_str()),
            (Some(budget.trim_end_matches('0')), Some("daily"))
        );
    }
}

/// The `budget.crossed` events in the outbox: their data and organization.
async fn budget_events(app: &TestApp) -> Vec<(Value, Option<i64>)> {
    let mut conn = app.services.store().conn().await.unwrap();
    let rows: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT data, org_id FROM events WHERE type = 'budget.crossed' ORDER BY seq")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    rows.into_iter().map(|(data, org)| (serde_json::from_str(&data).unwrap(), org)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_limits_span_all_of_a_users_keys() {
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin().await;
    let model = app.model(&admin, json!({})).await;
    let model_id = model["id"].as_str().unwrap();
    let user = app.user("ada@example.com").await;
    let (_, one) = app.key(&user, &[model_id], json!({})).await;
    let (_, two) = app.key(&user, &[model_id], json!({})).await;
    let limits = format!("/api/v1/users/{}/limits", user.id);

    let none = app.get(&limits, Some(&user.token)).await.expect(200);
    assert_eq!(
        none,
        json!({ "rpmLimit": null, "tpmLimit": null, "maxParallel": null, "maxBudget": null, "budgetPeriod": null })
    );
    app.chat(&one, chat_body("mock-model")).await.expect(200);
    let cost: f64 = app.usage(&user, "").await["totals"]["cost"].as_str().unwrap().parse().unwrap();
    let budget = format!("{:.9}", cost * 4.5); // four answers fit, a fifth does not
    let set = app
        .put(&limits, Some(&admin.token), json!({ "rpmLimit": 3, "maxBudget": budget, "budgetPeriod": "monthly" }))
        .await
        .expect(200);
    assert_eq!(set["rpmLimit"], 3);
    assert_eq!(app.get(&limits, Some(&user.token)).await.expect(200), set, "users may read their own");

    let mut statuses = Vec::new();
    for key in [&one, &two, &one, &two] {
        statuses.push(app.chat(key, chat_body("mock-model")).await);
    }
    assert_eq!(statuses.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>(), [200, 200, 200, 429]);
    let message = statuses[3].body["error"]["message"].as_str().unwrap();
    assert!(message.contains("its owner allows 3 requests per minute"), "{message}");

    // Four answers so far: room for one more under the budget, then it holds.
    app.put(&limits, Some(&admin.token), json!({ "maxBudget": budget, "budgetPeriod": "monthly" })).await.expect(200);
    app.chat(&two, chat_body("mock-model")).await.expect(200);
    let broke = app.chat(&one, chat_body("mock-model")).await;
    assert_eq!((broke.status.as_u16(), broke.body["error"]["code"].as_str()), (429, Some("insufficient_quota")));
    assert!(broke.body["error"]["message"].as_str().unwrap().contains("owner of this API key"));

    // Removing the limits frees the keys at once.
    app.put(&limits, Some(&admin.token), json!({})).await.expect(200);
    app.chat(&one, chat_body("mock-model")).await.expect(200);

    let bad = app.put(&limits, Some(&admin.token), json!({ "budgetPeriod": "daily", "maxParallel": 0 })).await;
    assert_eq!(bad.status.as_u16(), 422);
    let other = app.user("bob@example.com").await;
    assert_eq!(app.put(&limits, Some(&other.token), json!({})).await.status.as_u16(), 403);
    assert_eq!(app.get(&limits, Some(&other.token)).await.status.as_u16(), 403);
}

/// A budget is a cap under concurrency: each request reserves its worst-case cost when it
/// is let in, so however many arrive at once, spend passes the budget by at most one
/// request's worst case. The same holds for a key's, a team's and a user's budget.
async fn budgets_hold_under_bursts(backend: Backend, scope: &str) {
    let app = TestApp::start(backend).await;
    let upstream =
        MockUpstream::start(MockConfig { latency: std::time::Duration::from_millis(100), ..Default::default() }).await;
    let model = slow_model(&app, &upstream).await;
    let admin = app.admin().await;
    let user = app.user("ada@example.com").await;
    let budget = 0.0003; // about eleven answers at $0.000026
    let mut body = chat_body("slow");
    body["max_tokens"] = json!(11);
    // At most as many prompt tokens as the body has bytes, and the 11 allowed for the answer.
    let worst = serde_json::to_vec(&body).unwrap().len() as f64 * 0.000001 + 11.0 * 0.000002;
    let mut team_org = None;
    let key = match scope {
        "key" => app.key(&user, &[&model], json!({ "maxBudget": budget.to_string() })).await.1,
        "team" => {
            let orgs = app.get("/api/v1/organizations", Some(&admin.token)).await.expect(200);
            let org = orgs["data"][0]["id"].as_str().unwrap().to_owned();
            let team = app
                .post(
                    &format!("/api/v1/organizations/{org}/teams"),
                    Some(&admin.token),
                    json!({ "name": "Capped", "budget": budget.to_string(), "budgetPeriod": "monthly" }),
                )
                .await
                .expect(201);
            let team = team["id"].as_str().unwrap();
            team_org = Some(org.parse::<i64>().unwrap());
            let members = format!("/api/v1/organizations/{org}/teams/{team}/members");
            app.post(&members, Some(&admin.token), json!({ "userId": user.id })).await.expect(201);
            app.key(&user, &[&model], json!({ "teamId": team })).await.1
        }
        _ => {
            let limits = format!("/api/v1/users/{}/limits", user.id);
            app.put(&limits, Some(&admin.token), json!({ "maxBudget": budget.to_string() })).await.expect(200);
            app.key(&user, &[&model], json!({})).await.1
        }
    };
    // Bursts of 40 until one gets nothing through.
    let mut answered = 0;
    for round in 0.. {
        assert!(round < 30, "{scope}: the budget never stopped the key");
        let replies = join_all((0..40).map(|_| async {
            let reply = app.chat(&key, body.clone()).await;
            (reply.status.as_u16(), reply.body)
        }))
        .await;
        let ok = count(&replies, 200, None);
        let refused = count(&replies, 429, Some("budget_reserved")) + count(&replies, 429, Some("insufficient_quota"));
        assert_eq!(ok + refused, 40, "{scope}: {replies:?}");
        answered += ok;
        if ok == 0 {
            break;
        }
    }
    let usage = app.usage(&user, "").await;
    let spent: f64 = usage["totals"]["cost"].as_str().unwrap().parse().unwrap();
    assert_eq!(usage["totals"]["requests"], answered, "{scope}: one usage row per answer");
    assert!(spent >= budget - 0.000026, "{scope}: the budget was used ({spent})");
    assert!(spent <= budget + worst + 1e-12, "{scope}: spent {spent}, more than one request ({worst}) past {budget}");
    let after = app.chat(&key, body).await;
    assert_eq!(
        (after.status.as_u16(), after.body["error"]["code"].as_str()),
        (429, Some("insufficient_quota")),
        "{scope}"
    );
    // However many batches the spend came in, the budget was crossed once: one event.
    let crossed = budget_events(&app).await;
    assert_eq!(crossed.len(), 1, "{scope}: {crossed:?}");
    let (data, org) = &crossed[0];
    let expected = match scope {
        "key" => "api_key",
        other => other,
    };
    assert_eq!(data["scope"].as_str(), Some(expected));
    assert!(data["spend"].as_str().unwrap().parse::<f64>().unwrap() >= budget, "{data}");
    match scope {
        "team" => assert_eq!(*org, team_org, "a team's event belongs to its organization"),
        // The key is billed to the Default organization's team.
        "key" => assert!(org.is_some()),
        _ => assert_eq!(*org, None, "a person's budget belongs to no organization"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_team_and_user_budgets_hold_under_bursts_on_sqlite() {
    for scope in ["key", "team", "user"] {
        budgets_hold_under_bursts(Backend::Sqlite, scope).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_team_and_user_budgets_hold_under_bursts_on_postgres() {
    for scope in ["key", "team", "user"] {
        budgets_hold_under_bursts(Backend::Postgres, scope).await;
    }
}
