//! Disposable databases for tests: a fresh SQLite file in a temporary directory, or a
//! fresh PostgreSQL database on the server named by `PURSER_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the test ends, pass or fail.

use rand::Rng;
use sqlx::{Connection, Executor};

use crate::{Backend, PoolConfig, Store};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn postgres_admin_url() -> String {
    std::env::var("PURSER_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// A database that exists for as long as this value lives.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("purser.db").display());
                Self { url, backend, _dir: Some(dir), pg_name: None }
            }
            Backend::Postgres => {
                sqlx::any::install_default_drivers();
                let admin = postgres_admin_url();
                let name = format!("purser_test_{:016x}", rand::thread_rng().r#gen::<u64>());
                let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is needed for the PostgreSQL half of the suite: {e}")
                });
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
                Self { url: format!("{base}/{name}"), backend, _dir: None, pg_name: Some(name) }
            }
        }
    }

    /// Connects and migrates.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, &PoolConfig::default()).await.expect("connect to test database");
        store.migrate().await.expect("migrate test database");
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop runs outside any async context we could borrow, so use a small runtime of our own.
        let drop_it = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async move {
                let mut conn = sqlx::AnyConnection::connect(&postgres_admin_url()).await.ok()?;
                // With it, the databases of its organizations (named `<name>_t<org id>`).
                let tenants: Vec<String> =
                    sqlx::query_scalar("SELECT CAST(datname AS TEXT) FROM pg_database WHERE datname LIKE $1")
                        .bind(format!("{name}\\_t%"))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap_or_default();
                for tenant in tenants {
                    let _ = conn.execute(format!("DROP DATABASE IF EXISTS \"{tenant}\" WITH (FORCE)").as_str()).await;
                }
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.ok()
            })
        });
        let _ = drop_it.join();
    }
}
