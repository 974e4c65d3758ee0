//! Purser's storage.
//!
//! One SQL implementation serves SQLite (embedded default) and PostgreSQL (cluster): every
//! query is written in the dialect both share (`$N` placeholders, `RETURNING`,
//! `ON CONFLICT`, integer time and money) and runs through sqlx's `Any` driver, so no
//! entity method branches on the backend. Only the DDL differs, in `migrations/<backend>/`.
//!
//! Repositories are modules of free functions that take `&mut AnyConnection`, so a use
//! case can run several of them in one transaction ([`Store::begin`]) or on a pooled
//! connection ([`Store::conn`]).

mod error;
mod migrate;
pub mod rows;

pub mod api_keys;
pub mod audit;
pub mod changes;
pub mod clients;
pub mod deployments;
pub mod emails;
pub mod events;
pub mod invitations;
pub mod leases;
pub mod models;
pub mod orgs;
pub mod sessions;
pub mod subscriptions;
pub mod teams;
pub mod usage;
pub mod user_limits;
pub mod users;
pub mod vault_syncs;
pub mod vault_tokens;
pub mod vaults;
pub mod webhooks;

#[cfg(feature = "testing")]
pub mod testing;

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor, Transaction};

pub use error::StoreError;
pub use migrate::{Applied, Migration, MigrationReport, Migrations};
pub use sqlx::AnyConnection;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A write transaction. On SQLite it also holds this process's turn to write (see
/// [`Store::begin`]), given up when the transaction ends.
pub struct Tx {
    tx: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    pub async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// A connection holding the write turn (see [`Store::writer`]).
pub struct Writer {
    conn: Conn,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Deref for Writer {
    type Target = AnyConnection;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

impl Deref for Tx {
    type Target = Transaction<'static, Any>;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}
pub type Conn = PoolConnection<Any>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Connections unused this long are closed (`None`: kept).
    pub idle_timeout: Option<Duration>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time. Its writers take turns here, in order, instead of
    /// in SQLite's busy handler, which polls with sleeps of up to 100 ms: under load that
    /// made the slowest writes wait hundreds of milliseconds while the lock sat free.
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// Longest wait for SQLite's write turn (as its `busy_timeout`).
const WRITE_TURN_WAIT: Duration = Duration::from_secs(10);

/// Each SQLite connection waits for the writer instead of failing, and uses the
/// write-ahead log so readers never block the writer. Each keeps up to 16 MiB of pages
/// (SQLite's default is 2 MiB): a sum over tens of thousands of daily rows (a large team's
/// budget this month) walks more b-tree pages than 2 MiB holds, and a connection whose
/// cache keeps missing re-reads them from the file on every call, several times slower.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -16384;";

impl Store {
    /// Connects to `sqlite://PATH` (the file is created if missing) or `postgres://...`.
    pub async fn connect(url: &str, config: &PoolConfig) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)
            .ok_or_else(|| StoreError::Config("database url must start with sqlite: or postgres://".into()))?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Config(e.to_string()))?;
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .idle_timeout(config.idle_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::from)?;
        let write_turn = (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Self { pool, backend, write_turn })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations. Safe to run from several replicas at once.
    pub async fn migrate(&self) -> Result<MigrationReport> {
        Migrations::for_backend(self.backend).apply(self).await
    }

    pub async fn conn(&self) -> Result<Conn> {
        Ok(self.pool.acquire().await?)
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so a transaction that reads before it writes cannot fail
    /// half-way when another writer got in between.
    pub async fn begin(&self) -> Result<Tx> {
        let turn = self.write_turn().await?;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx { tx, _turn: turn })
    }

    /// A connection for one write outside a transaction (on SQLite, in this process's turn
    /// to write, as [`Store::begin`]).
    pub async fn writer(&self) -> Result<Writer> {
        let turn = self.write_turn().await?;
        Ok(Writer { conn: self.pool.acquire().await?, _turn: turn })
    }

    async fn write_turn(&self) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>> {
        match &self.write_turn {
            Some(turn) => Ok(Some(
                tokio::time::timeout(WRITE_TURN_WAIT, Arc::clone(turn).lock_owned())
                    .await
                    .map_err(|_| StoreError::Unavailable("the database is busy".into()))?,
            )),
            None => Ok(None),
        }
    }

    /// Checks the database answers (for `/ready`).
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
