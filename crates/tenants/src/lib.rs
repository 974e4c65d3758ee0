//! Each organization's own database, for the data kept apart per tenant (documents and the
//! files they name): where it is, creating it, opening it through a bounded set of pools
//! (the least recently used closed first, idle ones closed), migrating it with its own
//! numbered schema, and dropping it when the organization is purged.
//!
//! Where the databases are is a URL template with `{org}` for the organization's id:
//! `sqlite://<dir>/{org}.db` (one file each, created 0600 in a 0700 folder) or
//! `postgres://…/<name>{org}` (one database each on that server, created and dropped over
//! `admin_url`).

pub mod blobs;
pub mod documents;
pub mod outbox;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use purser_domain::Id;
use purser_store::{Applied, Backend, Migration, MigrationReport, Migrations, PoolConfig, Store, StoreError};
use sqlx::{Executor, Row};

/// The tenants' schema, numbered apart from the main database's. Its DDL is the SQL both
/// backends share, except where a step needs a file per backend.
const DOCUMENTS: Migration = Migration::new(1, "0001_documents", include_str!("../migrations/0001_documents.sql"));
const DOCUMENT_ORDER: Migration =
    Migration::new(2, "0002_document_order", include_str!("../migrations/0002_document_order.sql"));
const OUTBOX: Migration = Migration::new(5, "0005_outbox", include_str!("../migrations/0005_outbox.sql"));
const SQLITE: &[Migration] = &[
    DOCUMENTS,
    DOCUMENT_ORDER,
    Migration::new(3, "0003_document_search", include_str!("../migrations/sqlite/0003_document_search.sql")),
    Migration::new(4, "0004_file_timestamps", include_str!("../migrations/sqlite/0004_file_timestamps.sql")),
    OUTBOX,
];
const POSTGRES: &[Migration] = &[
    DOCUMENTS,
    DOCUMENT_ORDER,
    Migration::new(3, "0003_document_search", include_str!("../migrations/postgres/0003_document_search.sql")),
    Migration::new(4, "0004_file_timestamps", include_str!("../migrations/postgres/0004_file_timestamps.sql")),
    OUTBOX,
];

pub fn migrations(backend: Backend) -> Migrations {
    Migrations::new(backend, if backend == Backend::Postgres { POSTGRES } else { SQLITE })
}

/// PostgreSQL refuses longer database names.
const PG_NAME_MAX: usize = 63;
/// The longest an organization id is written (`i64::MAX`).
const ID_DIGITS_MAX: usize = 19;

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("{0}")]
    Config(String),
    #[error("tenant database: {0}")]
    Store(#[from] StoreError),
    #[error("tenant database file: {0}")]
    Io(#[from] std::io::Error),
}

/// Database errors are classified (conflict, unavailable, ...) as the main store's are.
impl From<sqlx::Error> for TenantError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

pub type Result<T> = std::result::Result<T, TenantError>;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `sqlite://DIR/{org}.db` or `postgres://USER@HOST/NAME{org}`.
    pub url_template: String,
    /// PostgreSQL: a database on the same server to create and drop tenants' databases from.
    pub admin_url: Option<String>,
    /// Pools open at once; opening one more closes the least recently used.
    pub max_open: usize,
    /// A pool unused this long is closed by `close_idle`.
    pub idle: Duration,
    /// Connections per tenant's pool.
    pub pool_size: u32,
}

/// What `purser tenants list` shows of one tenant's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    /// The newest migration applied (0: none).
    pub version: i64,
    pub size_bytes: u64,
}

/// What migrating one tenant did, or (dry run) would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOutcome {
    /// `(version, name)` of each migration applied, or pending on a dry run.
    pub migrations: Vec<(i64, &'static str)>,
    /// The version after the run (on a dry run, now).
    pub version: i64,
    /// The database did not exist (and, unless a dry run, was created).
    pub created: bool,
}

struct Open {
    store: Store,
    last_used: Instant,
}

pub struct Tenants {
    settings: Settings,
    backend: Backend,
    open: Mutex<HashMap<Id, Open>>,
    admin: tokio::sync::OnceCell<sqlx::AnyPool>,
}

impl Tenants {
    pub fn new(settings: Settings) -> Result<Self> {
        let template = &settings.url_template;
        let backend = Backend::of_url(template).ok_or_else(|| {
            TenantError::Config("tenancy.database_url_template must start with sqlite: or postgres://".into())
        })?;
        if template.matches("{org}").count() != 1 {
            return Err(TenantError::Config("tenancy.database_url_template must contain {org} once".into()));
        }
        if settings.max_open == 0 || settings.pool_size == 0 {
            return Err(TenantError::Config(
                "tenancy.max_open_databases and tenancy.connections_per_database must be at least 1".into(),
            ));
        }
        if backend == Backend::Postgres {
            let name = database_of(template).unwrap_or_default();
            if !name.contains("{org}") {
                return Err(TenantError::Config(
                    "tenancy.database_url_template: put {org} in the database name".into(),
                ));
            }
            let longest = name.len() - "{org}".len() + ID_DIGITS_MAX;
            if longest > PG_NAME_MAX
                || !name.replace("{org}", "").bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(TenantError::Config(format!(
                    "tenancy.database_url_template: the database name must be letters, digits and _, at most {} \
                     characters besides {{org}}",
                    PG_NAME_MAX - ID_DIGITS_MAX
                )));
            }
            if settings.admin_url.is_none() {
                return Err(TenantError::Config("tenancy.admin_url is needed on PostgreSQL".into()));
            }
        }
        Ok(Self { settings, backend, open: Mutex::new(HashMap::new()), admin: tokio::sync::OnceCell::new() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL of an organization's database.
    pub fn url(&self, org: Id) -> String {
        self.settings.url_template.replace("{org}", &org.as_i64().to_string())
    }

    /// The organization's database, opened (created and migrated first if need be) or
    /// taken from the open pools.
    pub async fn store(&self, org: Id) -> Result<Store> {
        if let Some(store) = self.cached(org) {
            return Ok(store);
        }
        let (store, _) = self.open_migrated(org).await?;
        Ok(self.keep(org, store))
    }

    /// The open pool of the tenant, marked as just used.
    fn cached(&self, org: Id) -> Option<Store> {
        let mut open = self.lock();
        let entry = open.get_mut(&org)?;
        entry.last_used = Instant::now();
        Some(entry.store.clone())
    }

    /// Keeps a newly opened pool (or the one another caller opened meanwhile), closing the
    /// least recently used beyond the bound.
    fn keep(&self, org: Id, store: Store) -> Store {
        let mut open = self.lock();
        let store = open.entry(org).or_insert(Open { store, last_used: Instant::now() }).store.clone();
        let mut evicted = Vec::new();
        while open.len() > self.settings.max_open {
            let Some(oldest) =
                open.iter().filter(|(id, _)| **id != org).min_by_key(|(_, o)| o.last_used).map(|(id, _)| *id)
            else {
                break;
            };
            evicted.extend(open.remove(&oldest));
        }
        drop(open);
        close_pools(evicted);
        store
    }

    /// Creates the organization's database if it does not exist and brings its schema up to
    /// date. Safe to repeat and to run from several replicas at once.
    pub async fn create(&self, org: Id) -> Result<MigrateOutcome> {
        let (store, outcome) = self.open_migrated(org).await?;
        store.close().await;
        Ok(outcome)
    }

    /// The tenant's database, created if missing and brought up to date, with a pool open on it.
    async fn open_migrated(&self, org: Id) -> Result<(Store, MigrateOutcome)> {
        let created = self.create_empty(org).await?;
        let store = self.connect(org).await?;
        match migrations(self.backend).apply(&store).await {
            Ok(MigrationReport { applied, version }) => {
                Ok((store, MigrateOutcome { migrations: applied, version, created }))
            }
            Err(e) => {
                store.close().await;
                Err(e.into())
            }
        }
    }

    /// Migrates one tenant, or on a dry run says what would be applied (creating nothing).
    pub async fn migrate(&self, org: Id, dry_run: bool) -> Result<MigrateOutcome> {
        if !dry_run {
            return self.create(org).await;
        }
        let list = migrations(self.backend);
        let Some(history) = self.history(org).await? else {
            return Ok(MigrateOutcome { migrations: list.pending(&[]), version: 0, created: true });
        };
        let version = history.last().map_or(0, |a| a.version);
        Ok(MigrateOutcome { migrations: list.pending(&history), version, created: false })
    }

    /// The migrations applied to the tenant's database; `None` if it does not exist.
    pub async fn history(&self, org: Id) -> Result<Option<Vec<Applied>>> {
        let Some(store) = self.connect_existing(org).await? else { return Ok(None) };
        let history = migrations(self.backend).history(&store).await;
        store.close().await;
        Ok(Some(history?))
    }

    /// Schema version and size of the tenant's database; `None` if it does not exist.
    pub async fn inspect(&self, org: Id) -> Result<Option<TenantInfo>> {
        let Some(history) = self.history(org).await? else { return Ok(None) };
        let version = history.last().map_or(0, |a| a.version);
        let size_bytes = match self.backend {
            Backend::Sqlite => {
                let path = self.sqlite_path(org)?;
                let mut size = 0;
                for file in [path.clone(), suffixed(&path, "-wal")] {
                    size += tokio::fs::metadata(&file).await.map_or(0, |m| m.len());
                }
                size
            }
            Backend::Postgres => {
                let mut admin = self.admin().await?;
                let size: i64 = sqlx::query("SELECT pg_database_size($1)")
                    .bind(self.database_name(org))
                    .fetch_one(&mut *admin)
                    .await?
                    .try_get(0)?;
                u64::try_from(size).unwrap_or(0)
            }
        };
        Ok(Some(TenantInfo { version, size_bytes }))
    }

    /// Closes the tenant's pool and deletes its database. Nothing is left; a missing
    /// database is not an error.
    pub async fn drop_database(&self, org: Id) -> Result<()> {
        let open = self.lock().remove(&org);
        if let Some(open) = open {
            open.store.close().await;
        }
        match self.backend {
            Backend::Sqlite => {
                let path = self.sqlite_path(org)?;
                for file in [suffixed(&path, "-wal"), suffixed(&path, "-shm"), path] {
                    match tokio::fs::remove_file(&file).await {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => {}
                    }
                }
            }
            Backend::Postgres => {
                let mut admin = self.admin().await?;
                let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database_name(org));
                admin.execute(sql.as_str()).await?;
            }
        }
        Ok(())
    }

    /// Closes the pools unused for longer than the idle time; returns how many.
    pub fn close_idle(&self) -> usize {
        let mut open = self.lock();
        let idle: Vec<Id> =
            open.iter().filter(|(_, o)| o.last_used.elapsed() >= self.settings.idle).map(|(id, _)| *id).collect();
        let closed: Vec<Open> = idle.iter().filter_map(|id| open.remove(id)).collect();
        drop(open);
        let count = closed.len();
        close_pools(closed);
        count
    }

    /// Whether the tenant's pool is open.
    pub fn is_open(&self, org: Id) -> bool {
        self.lock().contains_key(&org)
    }

    /// Pools open now.
    pub fn open_pools(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Open>> {
        // A panic while holding the map leaves it consistent (every change is one call).
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn pool_config(&self) -> PoolConfig {
        PoolConfig {
            max_connections: self.settings.pool_size,
            idle_timeout: Some(self.settings.idle),
            ..PoolConfig::default()
        }
    }

    async fn connect(&self, org: Id) -> Result<Store> {
        Ok(Store::connect(&self.url(org), &self.pool_config()).await?)
    }

    /// A connection to the tenant's database if it exists, creating nothing.
    async fn connect_existing(&self, org: Id) -> Result<Option<Store>> {
        if !self.exists(org).await? {
            return Ok(None);
        }
        Ok(Some(self.connect(org).await?))
    }

    async fn exists(&self, org: Id) -> Result<bool> {
        match self.backend {
            Backend::Sqlite => Ok(tokio::fs::try_exists(self.sqlite_path(org)?).await?),
            Backend::Postgres => {
                let mut admin = self.admin().await?;
                let found = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(self.database_name(org))
                    .fetch_optional(&mut *admin)
                    .await?;
                Ok(found.is_some())
            }
        }
    }

    /// Makes the empty database; returns whether it was missing.
    async fn create_empty(&self, org: Id) -> Result<bool> {
        match self.backend {
            Backend::Sqlite => {
                let path = self.sqlite_path(org)?;
                if let Some(dir) = path.parent() {
                    private_dir(dir)?;
                }
                // Created private before SQLite opens it; its -wal and -shm files take its mode.
                let made = std::fs::OpenOptions::new().write(true).create_new(true).mode_private().open(&path);
                match made {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            Backend::Postgres => {
                let mut admin = self.admin().await?;
                let sql = format!("CREATE DATABASE \"{}\"", self.database_name(org));
                match admin.execute(sql.as_str()).await {
                    Ok(_) => Ok(true),
                    // 42P04: it exists (made earlier); 23505: another replica is making it
                    // at this moment (pg_database's unique name index saw both).
                    Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {
                        Ok(false)
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// A connection to the PostgreSQL server's admin database, from a small pool opened on
    /// first use (creating, inspecting and dropping many tenants must not connect each time).
    async fn admin(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        let url = self.settings.admin_url.as_deref().unwrap_or_default();
        let pool = self
            .admin
            .get_or_try_init(|| async {
                sqlx::any::AnyPoolOptions::new().max_connections(2).idle_timeout(self.settings.idle).connect(url).await
            })
            .await?;
        Ok(pool.acquire().await?)
    }

    fn database_name(&self, org: Id) -> String {
        database_of(&self.url(org)).unwrap_or_default().to_owned()
    }

    fn sqlite_path(&self, org: Id) -> Result<PathBuf> {
        let url = self.url(org);
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(&url);
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path.contains(":memory:") {
            return Err(TenantError::Config("tenancy.database_url_template must name a file for each tenant".into()));
        }
        Ok(PathBuf::from(path))
    }
}

/// The database name of a PostgreSQL URL: its path's last segment, without the query.
/// Closes pools taken out of the open set: their connections end as soon as the requests
/// using them return them, instead of lingering until their idle timeout (the database
/// server's connection limit is shared by every tenant and replica).
fn close_pools(pools: Vec<Open>) {
    if pools.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                for pool in pools {
                    pool.store.close().await;
                }
            });
        }
        // Outside a runtime, dropping the last handle closes them.
        Err(_) => drop(pools),
    }
}

fn database_of(url: &str) -> Option<&str> {
    let without_query = url.split('?').next()?;
    let (_, name) = without_query.rsplit_once('/')?;
    Some(name)
}

fn suffixed(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Files only their owner reads.
trait ModePrivate {
    fn mode_private(&mut self) -> &mut Self;
}

impl ModePrivate for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600);
        self
    }
}
