//! HTTP tests: the real application on a loopback port, driven over HTTP. Cases declared
//! with `both!` run once on SQLite and once on PostgreSQL, each in a fresh database.

/// Declares cases that run against both backends; each gets a started `TestApp`.
macro_rules! both {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn case($app: TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = crate::harness::TestApp::start(purser_store::Backend::Sqlite).await;
                    case(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let app = crate::harness::TestApp::start(purser_store::Backend::Postgres).await;
                    case(app).await;
                }
            }
        )*
    };
}

mod account;
mod api_keys;
mod audit;
mod auth;
mod console;
mod documents;
mod events;
mod faults;
mod gateway;
mod governance;
mod harness;
mod inputs;
mod isolation;
mod kafka;
mod limits;
mod metering;
mod models;
mod names;
mod openai;
mod orgs;
mod platform;
mod replicas;
mod roles;
mod routing;
mod s3;
mod subscriptions;
mod teams;
mod tenants;
mod timestamps;
mod tsa;
mod usage;
mod users;
mod vault_sync;
mod vaults;
mod webhooks;
