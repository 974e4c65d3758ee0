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
