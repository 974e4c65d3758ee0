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
        assert_eq!(one.applied.len() + two.applied.len(), 1, "{backend:?}: each migration applied once");
        assert_eq!(one.version, two.version);
    }
}
