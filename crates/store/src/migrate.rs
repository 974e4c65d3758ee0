//! Schema migrations, embedded in the binary. Each runs in its own transaction and is
//! recorded with a checksum; a changed or unknown applied migration stops start-up rather
//! than letting a binary run against a schema it does not understand.

use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, Row};

use crate::{Backend, Result, Store, StoreError};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    sql: &'static str,
}

impl Migration {
    /// A numbered step; other schemas (the tenants' databases) list theirs with it.
    pub const fn new(version: i64, name: &'static str, sql: &'static str) -> Self {
        Self { version, name, sql }
    }
}

/// A migration recorded in a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    pub name: String,
    /// Unix milliseconds.
    pub applied_at: i64,
}

macro_rules! migration {
    ($dir:literal, $version:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $file,
            sql: include_str!(concat!("../migrations/", $dir, "/", $file, ".sql")),
        }
    };
}

// Each backend lists the same versions; `<file>.sql` lives in `migrations/<backend>/`.
const SQLITE: &[Migration] = &[
    migration!("sqlite", 1, "0001_init"),
    migration!("sqlite", 2, "0002_tenancy"),
    migration!("sqlite", 3, "0003_deployments"),
    migration!("sqlite", 4, "0004_governance"),
    migration!("sqlite", 5, "0005_usage_daily"),
    migration!("sqlite", 6, "0006_claimed_emails"),
    migration!("sqlite", 7, "0007_usage_estimates"),
    migration!("sqlite", 8, "0008_listing_indexes"),
    migration!("sqlite", 9, "0009_documents"),
    migration!("sqlite", 10, "0010_events"),
    migration!("sqlite", 11, "0011_webhooks"),
    migration!("sqlite", 12, "0012_timestamps"),
    migration!("sqlite", 13, "0013_tenant_changes"),
    migration!("sqlite", 14, "0014_vaults"),
    migration!("sqlite", 15, "0015_vault_syncs"),
];
const POSTGRES: &[Migration] = &[
    migration!("postgres", 1, "0001_init"),
    migration!("postgres", 2, "0002_tenancy"),
    migration!("postgres", 3, "0003_deployments"),
    migration!("postgres", 4, "0004_governance"),
    migration!("postgres", 5, "0005_usage_daily"),
    migration!("postgres", 6, "0006_claimed_emails"),
    migration!("postgres", 7, "0007_usage_estimates"),
    migration!("postgres", 8, "0008_listing_indexes"),
    migration!("postgres", 9, "0009_documents"),
    migration!("postgres", 10, "0010_events"),
    migration!("postgres", 11, "0011_webhooks"),
    migration!("postgres", 12, "0012_timestamps"),
    migration!("postgres", 13, "0013_tenant_changes"),
    migration!("postgres", 14, "0014_vaults"),
    migration!("postgres", 15, "0015_vault_syncs"),
];

/// Arbitrary constant shared by every replica: the advisory lock that serialises migrations.
const PG_MIGRATION_LOCK: i64 = 0x7075_7273_6572; // "purser"

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied by this run, as `(version, name)`.
    pub applied: Vec<(i64, &'static str)>,
    /// The schema version after this run.
    pub version: i64,
}

pub struct Migrations {
    backend: Backend,
    list: &'static [Migration],
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

impl Migrations {
    pub fn for_backend(backend: Backend) -> Self {
        let list = match backend {
            Backend::Sqlite => SQLITE,
            Backend::Postgres => POSTGRES,
        };
        Self { backend, list }
    }

    /// Another schema's migrations (versions ascending), applied the same way.
    pub const fn new(backend: Backend, list: &'static [Migration]) -> Self {
        Self { backend, list }
    }

    /// The migrations this database has had, oldest first (none for a new database).
    pub async fn history(&self, store: &Store) -> Result<Vec<Applied>> {
        let mut conn = store.conn().await?;
        let table = sqlx::query(self.table_exists_sql()).fetch_optional(&mut *conn).await?;
        if table.is_none() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query("SELECT version, name, applied_at FROM purser_schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?;
        rows.iter()
            .map(|r| Ok(Applied { version: r.try_get(0)?, name: r.try_get(1)?, applied_at: r.try_get(2)? }))
            .collect()
    }

    /// The migrations `apply` would run on a database with this history, as `(version, name)`.
    pub fn pending(&self, applied: &[Applied]) -> Vec<(i64, &'static str)> {
        self.list
            .iter()
            .filter(|m| !applied.iter().any(|a| a.version == m.version))
            .map(|m| (m.version, m.name))
            .collect()
    }

    fn table_exists_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'purser_schema_migrations'",
            Backend::Postgres => {
                "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'purser_schema_migrations'"
            }
        }
    }

    pub fn latest_version(&self) -> i64 {
        self.list.last().map_or(0, |m| m.version)
    }

    pub async fn apply(&self, store: &Store) -> Result<MigrationReport> {
        self.apply_to(store, self.latest_version()).await
    }

    /// Applies pending migrations up to and including `target` (for upgrade tests).
    pub async fn apply_to(&self, store: &Store, target: i64) -> Result<MigrationReport> {
        let mut conn = store.conn().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)").bind(PG_MIGRATION_LOCK).execute(&mut *conn).await?;
        }
        let outcome = self.apply_locked(&mut conn, target).await;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(PG_MIGRATION_LOCK).execute(&mut *conn).await?;
        }
        outcome
    }

    async fn apply_locked(&self, conn: &mut sqlx::AnyConnection, target: i64) -> Result<MigrationReport> {
        // Plain `execute` on a text (several statements, no parameters), not `raw_sql`, whose
        // future is not `Send` and so could not run inside a request (a tenant's migration).
        conn.execute(
            "CREATE TABLE IF NOT EXISTS purser_schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )",
        )
        .await?;

        let applied = sqlx::query("SELECT version, checksum FROM purser_schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?;
        for row in &applied {
            let version: i64 = row.try_get(0)?;
            let stored: String = row.try_get(1)?;
            match self.list.iter().find(|m| m.version == version) {
                None => {
                    return Err(StoreError::Migration(format!(
                        "the database has migration {version}, which this binary does not know \
                         (it knows up to {}); run a newer Purser",
                        self.latest_version()
                    )));
                }
                Some(m) if checksum(m.sql) != stored => {
                    return Err(StoreError::Migration(format!(
                        "migration {version} ({}) differs from the one applied to this database",
                        m.name
                    )));
                }
                Some(_) => {}
            }
        }

        let mut report = MigrationReport { applied: Vec::new(), version: 0 };
        for migration in self.list.iter().take_while(|m| m.version <= target) {
            let mut tx = match self.backend {
                Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
                Backend::Postgres => conn.begin().await?,
            };
            let done = sqlx::query("SELECT 1 FROM purser_schema_migrations WHERE version = $1")
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !done {
                tx.execute(migration.sql)
                    .await
                    .map_err(|e| StoreError::Migration(format!("{} ({}): {e}", migration.version, migration.name)))?;
                sqlx::query(
                    "INSERT INTO purser_schema_migrations (version, name, checksum, applied_at) \
                     VALUES ($1, $2, $3, CAST($4 AS BIGINT))",
                )
                .bind(migration.version)
                .bind(migration.name)
                .bind(checksum(migration.sql))
                .bind(applied_at_millis())
                .execute(&mut *tx)
                .await?;
                report.applied.push((migration.version, migration.name));
            }
            tx.commit().await?;
            report.version = migration.version;
        }
        Ok(report)
    }
}

/// Migrations record when they ran for operators' eyes only; nothing depends on the value.
fn applied_at_millis() -> i64 {
    #[allow(clippy::disallowed_methods)] // bookkeeping, not a rule that needs a test clock
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
