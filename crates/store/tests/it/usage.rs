use purser_domain::usage::UsageRecord;
use purser_domain::{Id, Timestamp, Usd};
use purser_store::{api_keys, usage};

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
        let stored = api_keys::by_id(&mut conn, key.id).await.unwrap().unwrap();
        assert_eq!(stored.spend, Usd::from_nanos(1200 * 7 + 400));
        assert_eq!(stored.last_used_at, Some(T0.plus_millis(5003)));
        assert_eq!(usage::count_for_key(&mut conn, key.id).await.unwrap(), 1204);
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
