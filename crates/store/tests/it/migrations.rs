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
