use purser_domain::org::BudgetPeriod;
use purser_domain::usage::UsageRecord;
use purser_domain::user::UserLimits;
use purser_domain::{Id, Timestamp, Usd};
use purser_store::usage::SpendBy;
use purser_store::{api_keys, changes, usage, user_limits};
use sqlx::Row;

use crate::fixtures::*;

fn record(key: Id, user: Id, model: Id, at: Timestamp, prompt: u64, completion: u64, cost: i64) -> UsageRecord {
    UsageRecord {
        id: next_id(),
        request_id: format!("req-{}", at.as_millis()),
        key_id: key,
        team_id: None,
        user_id: user,
        model_id: model,
        model_name: "m".into(),
        endpoint: "chat/completions".into(),
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost: Usd::from_nanos(cost),
        latency_ms: 12,
        status: 200,
        streamed: false,
        estimated: false,
        created_at: at,
    }
}

contract! {
    async fn batches_add_spend_once(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let m = insert_model(&store, "m").await;
        let key = api_key(&u, &[&m]);
        let mut conn = store.conn().await.unwrap();
        api_keys::insert(&mut conn, &key, "d").await.unwrap();
        let batch: Vec<_> = (0..1200).map(|i| record(key.id, u.id, m.id, T0.plus_millis(i), 10, 5, 7)).collect();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(usage::insert_batch(&mut tx, &batch).await.unwrap(), 1200);
        tx.commit().await.unwrap();
        // A retried batch (same ids) changes nothing.
        let mut tx = store.begin().await.unwrap();
        assert_eq!(usage::insert_batch(&mut tx, &batch[..10]).await.unwrap(), 0);
        tx.commit().await.unwrap();
        // A batch mixing stored and new records counts only the new ones.
        let mut mixed = batch[500..503].to_vec();
        mixed.extend((0..4).map(|i| record(key.id, u.id, m.id, T0.plus_millis(5000 + i), 1, 1, 100)));
        let mut tx = store.begin().await.unwrap();
        assert_eq!(usage::insert_batch(&mut tx, &mixed).await.unwrap(), 4);
        tx.commit().await.unwrap();
        // New records ahead of a stored one in the same statement (8 rows are written as one):
        // the conflict must not leave them written twice or counted twice.
        let mut ahead: Vec<_> = (0..5).map(|i| record(key.id, u.id, m.id, T0.plus_millis(6000 + i), 1, 1, 1000)).collect();
        ahead.extend_from_slice(&batch[700..703]);
        let mut tx = store.begin().await.unwrap();
        assert_eq!(usage::insert_batch(&mut tx, &ahead).await.unwrap(), 5);
        tx.commit().await.unwrap();
        let stored = api_keys::by_id(&mut conn, key.id).await.unwrap().unwrap();
        assert_eq!(stored.spend, Usd::from_nanos(1200 * 7 + 400 + 5000));
        assert_eq!(stored.last_used_at, Some(T0.plus_millis(6004)));
        assert_eq!(usage::count_for_key(&mut conn, key.id).await.unwrap(), 1209);
        // The daily sums were added to once per new record too.
        let daily = sqlx::query("SELECT requests, prompt_tokens, completion_tokens, cost FROM usage_daily")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let sums: Vec<[i64; 4]> = daily.iter().map(|r| [0, 1, 2, 3].map(|i| r.try_get(i).unwrap())).collect();
        assert_eq!(sums, [[1209, 1200 * 10 + 9, 1200 * 5 + 9, 1200 * 7 + 400 + 5000]]);
    }

    async fn summary_by_user_window_and_model(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let v = insert_user(&store, "bob@example.com").await;
        let (a, b) = (insert_model(&store, "a").await, insert_model(&store, "b").await);
        let key = next_id();
        let records = [
            record(key, u.id, a.id, T0, 100, 20, 1_000),
            record(key, u.id, a.id, T0.plus_secs(10), 50, 10, 500),
            record(key, u.id, b.id, T0.plus_secs(20), 7, 3, 9),
            record(key, u.id, b.id, T0.plus_secs(3600), 1, 1, 1), // outside the window
            record(key, v.id, a.id, T0.plus_secs(5), 1000, 1000, 1_000_000), // another user
        ];
        let mut tx = store.begin().await.unwrap();
        usage::insert_batch(&mut tx, &records).await.unwrap();
        tx.commit().await.unwrap();

        let mut conn = store.conn().await.unwrap();
        let s = usage::summary(&mut conn, Some(u.id), T0, T0.plus_secs(60)).await.unwrap();
        assert_eq!((s.totals.requests, s.totals.prompt_tokens, s.totals.completion_tokens), (3, 157, 33));
        assert_eq!(s.totals.cost, Usd::from_nanos(1_509));
        assert_eq!(s.by_model.len(), 2);
        assert_eq!((s.by_model[0].model_id, s.by_model[0].totals.requests), (a.id, 2));
        assert_eq!(s.by_model[1].totals.cost, Usd::from_nanos(9));

        let everyone = usage::summary(&mut conn, None, T0, T0.plus_secs(60)).await.unwrap();
        assert_eq!(everyone.totals.requests, 4);
        let empty = usage::summary(&mut conn, Some(u.id), T0.plus_secs(7200), T0.plus_secs(7201)).await.unwrap();
        assert_eq!(empty.totals.requests, 0);
        assert_eq!(empty.totals.cost, Usd::ZERO);
        assert!(empty.by_model.is_empty());
    }
}

contract! {
    async fn spend_since_adds_up_by_key_team_or_user(store: Store) {
        let (u, v) = (insert_user(&store, "ada@example.com").await, insert_user(&store, "bob@example.com").await);
        let (m, n) = (insert_model(&store, "m").await, insert_model(&store, "n").await);
        let (k1, k2, team) = (next_id(), next_id(), next_id());
        let day = BudgetPeriod::Daily.start(T0);
        let mut records = vec![
            record(k1, u.id, m.id, day.plus_secs(1), 1, 1, 100),
            record(k1, u.id, n.id, day.plus_secs(86_399), 1, 1, 20), // the day's last second
            record(k2, v.id, m.id, day.plus_secs(3), 1, 1, 3),
            record(k2, v.id, m.id, day.plus_millis(-1), 1, 1, 1_000), // the day before
            record(k2, v.id, m.id, day.plus_secs(86_400), 1, 1, 10_000), // the day after
        ];
        records[0].team_id = Some(team);
        let mut tx = store.begin().await.unwrap();
        usage::insert_batch(&mut tx, &records).await.unwrap();
        tx.commit().await.unwrap();
        let mut conn = store.conn().await.unwrap();
        let by_key = usage::spend_since(&mut conn, SpendBy::Key, day, None).await.unwrap();
        assert_eq!((by_key.get(&k1), by_key.get(&k2)), (Some(&120), Some(&10_003)));
        let only = usage::spend_since(&mut conn, SpendBy::Key, day, Some(&[k2])).await.unwrap();
        assert_eq!(only.len(), 1);
        assert!(usage::spend_since(&mut conn, SpendBy::Key, day, Some(&[])).await.unwrap().is_empty());
        let tomorrow = usage::spend_since(&mut conn, SpendBy::Key, day.plus_secs(86_400), None).await.unwrap();
        assert_eq!(tomorrow.into_iter().collect::<Vec<_>>(), [(k2, 10_000)]);
        let by_user = usage::spend_since(&mut conn, SpendBy::User, day.plus_secs(-86_400), None).await.unwrap();
        assert_eq!((by_user.get(&u.id), by_user.get(&v.id)), (Some(&120), Some(&11_003)));
        let by_team = usage::spend_since(&mut conn, SpendBy::Team, day, None).await.unwrap();
        assert_eq!(by_team.into_iter().collect::<Vec<_>>(), [(team, 100)]);
    }

    async fn user_limits_are_stored_only_when_set(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let mut conn = store.conn().await.unwrap();
        let mut limits = UserLimits {
            user_id: u.id,
            rpm_limit: Some(60),
            tpm_limit: None,
            max_parallel: Some(2),
            max_budget: Some(Usd::parse("5").unwrap()),
            budget_period: Some(BudgetPeriod::Monthly),
            updated_at: T0,
        };
        user_limits::put(&mut conn, &limits).await.unwrap();
        assert_eq!(user_limits::get(&mut conn, u.id).await.unwrap(), Some(limits.clone()));
        limits.rpm_limit = None;
        user_limits::put(&mut conn, &limits).await.unwrap();
        assert_eq!(user_limits::all(&mut conn).await.unwrap(), [limits.clone()]);
        limits.max_parallel = None;
        limits.max_budget = None;
        user_limits::put(&mut conn, &limits).await.unwrap();
        assert!(user_limits::all(&mut conn).await.unwrap().is_empty(), "no limits, no row");
    }

    async fn the_change_log_is_read_in_order_and_pruned(store: Store) {
        let mut conn = store.conn().await.unwrap();
        assert_eq!(changes::last_seq(&mut conn).await.unwrap(), 0);
        for (i, kind) in ["api_key", "model", "team"].iter().enumerate() {
            changes::append(&mut conn, kind, Id::from_i64(i as i64 + 1), T0.plus_secs(i as i64)).await.unwrap();
        }
        let all = changes::after(&mut conn, 0, 10).await.unwrap();
        assert_eq!(all.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(), ["api_key", "model", "team"]);
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        let last = changes::last_seq(&mut conn).await.unwrap();
        assert_eq!(last, all[2].seq);
        assert_eq!(changes::after(&mut conn, all[0].seq, 1).await.unwrap()[0].entity_id, Id::from_i64(2));
        assert_eq!(changes::prune(&mut conn, T0.plus_secs(2)).await.unwrap(), 2);
        assert_eq!(changes::after(&mut conn, 0, 10).await.unwrap().len(), 1);
    }
}
