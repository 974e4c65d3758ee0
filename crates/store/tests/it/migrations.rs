use purser_store::{Backend, Migrations};

contract! {
    async fn migrating_again_is_a_no_op(store: Store) {
        // `store` was migrated by the harness.
        let report = store.migrate().await.unwrap();
        assert!(report.applied.is_empty());
        assert_eq!(report.version, Migrations::for_backend(store.backend()).latest_version());
        store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn a_fresh_database_gets_every_migration_and_concurrent_runs_agree() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = purser_store::testing::TestDatabase::create(backend).await;
        let store = purser_store::Store::connect(&db.url, &Default::default()).await.unwrap();
        let (one, two) = tokio::join!(store.migrate(), store.migrate());
        let (one, two) = (one.unwrap(), two.unwrap());
        let all = Migrations::for_backend(backend).latest_version() as usize;
        assert_eq!(one.applied.len() + two.applied.len(), all, "{backend:?}: each migration applied once");
        assert_eq!(one.version, two.version);
    }
}

#[tokio::test]
async fn upgrading_from_the_first_schema_keeps_users_and_gives_them_a_primary_email() {
    use purser_domain::user::User;
    use purser_domain::{Id, PlatformRole, Timestamp};
    use sqlx::Row;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = purser_store::testing::TestDatabase::create(backend).await;
        let store = purser_store::Store::connect(&db.url, &Default::default()).await.unwrap();
        Migrations::for_backend(backend).apply_to(&store, 1).await.unwrap();
        let t = Timestamp::from_millis(1_790_000_000_000);
        let user = User {
            id: Id::from_i64(77),
            email: "old@example.com".into(),
            name: "Old".into(),
            role: PlatformRole::User,
            active: true,
            email_verified: false,
            created_at: t,
            updated_at: t,
        };
        let mut conn = store.conn().await.unwrap();
        purser_store::users::insert(&mut conn, &user, Some("hash")).await.unwrap();
        drop(conn);
        let report = store.migrate().await.unwrap();
        assert_eq!(report.applied.first().map(|m| m.0), Some(2), "{backend:?}");
        let mut conn = store.conn().await.unwrap();
        let row = sqlx::query("SELECT user_id, email FROM user_emails").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(row.try_get::<i64, _>("user_id").unwrap(), 77);
        assert_eq!(row.try_get::<String, _>("email").unwrap(), "old@example.com");
    }
}

#[tokio::test]
async fn upgrading_turns_each_model_upstream_into_its_first_deployment() {
    use purser_domain::Id;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = purser_store::testing::TestDatabase::create(backend).await;
        let store = purser_store::Store::connect(&db.url, &Default::default()).await.unwrap();
        Migrations::for_backend(backend).apply_to(&store, 2).await.unwrap();
        let mut conn = store.conn().await.unwrap();
        let insert = "INSERT INTO models (id, name, provider, upstream_url, upstream_model, upstream_api_key, \
            input_cost_per_token, output_cost_per_token, capabilities, restricted, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 'chat', $7, 5, 6)";
        for (id, name, provider, url, key) in [
            (41_i64, "served", "vllm", Some("http://vllm:8000/v1"), Some(vec![9_u8, 8, 7])),
            (42, "canned", "mock", None, None),
        ] {
            sqlx::query(insert)
                .bind(id)
                .bind(name)
                .bind(provider)
                .bind(url)
                .bind("upstream-name")
                .bind(key)
                .bind(false)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        drop(conn);
        store.migrate().await.unwrap();
        let mut conn = store.conn().await.unwrap();
        let served = purser_store::models::by_id(&mut conn, Id::from_i64(41)).await.unwrap().unwrap();
        assert_eq!(served.deployments.len(), 1, "{backend:?}");
        let d = &served.deployments[0];
        assert_eq!(
            (d.id, d.upstream_url.as_str(), d.upstream_model.as_str()),
            (served.id, "http://vllm:8000/v1", "upstream-name")
        );
        assert_eq!((d.upstream_api_key.as_deref(), d.weight), (Some(&[9_u8, 8, 7][..]), 1));
        let canned = purser_store::models::by_id(&mut conn, Id::from_i64(42)).await.unwrap().unwrap();
        assert!(canned.deployments.is_empty());
    }
}

#[tokio::test]
async fn upgrading_adds_up_the_usage_already_recorded_by_key_day_and_model() {
    use sqlx::Row;
    const DAY: i64 = 20_717 * 86_400_000; // 2026-09-21, 00:00 UTC
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = purser_store::testing::TestDatabase::create(backend).await;
        let store = purser_store::Store::connect(&db.url, &Default::default()).await.unwrap();
        Migrations::for_backend(backend).apply_to(&store, 4).await.unwrap();
        let mut conn = store.conn().await.unwrap();
        // (id, key, model, team, at, cost): two rows of one key, day and model; one of the
        // same key the next day; one of another model.
        for (id, key, model, team, at, cost) in [
            (1_i64, 7_i64, 3_i64, Some(9_i64), DAY + 5, 100_i64),
            (2, 7, 3, Some(9), DAY + 86_399_999, 20),
            (3, 7, 3, Some(9), DAY + 86_400_000, 3),
            (4, 7, 4, None, DAY + 1_000, 4_000),
        ] {
            sqlx::query(
                "INSERT INTO usage_records (id, request_id, key_id, user_id, model_id, model_name, endpoint, \
                 prompt_tokens, completion_tokens, cost, latency_ms, status, streamed, created_at, team_id) \
                 VALUES ($1, 'r', $2, 5, $3, 'm', 'chat/completions', 10, 1, $4, 1, 200, $5, $6, $7)",
            )
            .bind(id)
            .bind(key)
            .bind(model)
            .bind(cost)
            .bind(false)
            .bind(at)
            .bind(team)
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        drop(conn);
        assert_eq!(store.migrate().await.unwrap().applied.first().map(|m| m.0), Some(5), "{backend:?}");
        let mut conn = store.conn().await.unwrap();
        let rows = sqlx::query(
            "SELECT key_id, day, model_id, user_id, team_id, requests, prompt_tokens, completion_tokens, cost \
             FROM usage_daily ORDER BY day, model_id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        // (key, day, model, user, team, [requests, prompt tokens, completion tokens, cost])
        type Daily = (i64, i64, i64, i64, Option<i64>, [i64; 4]);
        let rows: Vec<Daily> = rows
            .iter()
            .map(|r| {
                let sums = [5, 6, 7, 8].map(|i| r.try_get(i).unwrap());
                (
                    r.try_get(0).unwrap(),
                    r.try_get(1).unwrap(),
                    r.try_get(2).unwrap(),
                    r.try_get(3).unwrap(),
                    r.try_get(4).unwrap(),
                    sums,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (7, DAY, 3, 5, Some(9), [2, 20, 2, 120]),
                (7, DAY, 4, 5, None, [1, 10, 1, 4_000]),
                (7, DAY + 86_400_000, 3, 5, Some(9), [1, 10, 1, 3]),
            ],
            "{backend:?}"
        );
    }
}
