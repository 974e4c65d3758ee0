//! The storage contract: every case runs against SQLite and against PostgreSQL.

/// Declares contract cases; each becomes a module with a `sqlite` and a `postgres` test.
macro_rules! contract {
    ($(async fn $name:ident($store:ident: Store) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn case($store: purser_store::Store) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = purser_store::testing::TestDatabase::create(purser_store::Backend::Sqlite).await;
                    case(db.store().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let db = purser_store::testing::TestDatabase::create(purser_store::Backend::Postgres).await;
                    case(db.store().await).await;
                }
            }
        )*
    };
}

mod api_keys;
mod fixtures;
mod leases;
mod members;
mod migrations;
mod models;
mod sessions;
mod subscriptions;
mod usage;
mod users;
