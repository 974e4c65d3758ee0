//! Purser's wiring: from a [`Config`] to a running application. The binary (`main.rs`) is
//! a thin CLI over this; the integration tests embed it the same way.

pub mod config;
pub mod console;
mod engine_http;
pub mod kafka;
pub mod nats;
pub mod tenants_cli;
mod tsa_http;
mod webhook_http;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use prometheus_client::registry::Registry;
use purser_api::{AppState, HttpConfig, HttpMetrics, Limits, Metrics};
use purser_domain::{Clock, IdGenerator};
use purser_gateway::Gateway;
use purser_limits::{MemoryLimiter, RateLimiter, RedisLimiter};
use purser_mail::{FileMailer, SmtpMailer};
use purser_services::crypto::MasterKey;
use purser_services::documents::DocumentSettings;
use purser_services::events::EventBus;
use purser_services::mail::Mailer;
use purser_services::workers::WorkerLease;
use purser_services::{AuthSettings, ClientInfo, Services, Settings, TenantData};
use purser_store::{Backend, PoolConfig, Store};
use tokio::net::TcpListener;

pub use config::Config;

/// A built application, ready to serve.
pub struct Purser {
    pub services: Arc<Services>,
    pub gateway: Arc<Gateway>,
    router: Router,
    lease: WorkerLease,
    resync: tokio::task::JoinHandle<()>,
    housekeeping: tokio::task::JoinHandle<()>,
    signing_keys: tokio::task::JoinHandle<()>,
    vault_sync: Option<tokio::task::JoinHandle<()>>,
    /// Publishes the event outbox (when a bus is configured), as `holder`.
    relay: Option<(tokio::task::JoinHandle<()>, String)>,
    /// Sends webhook deliveries.
    deliveries: tokio::task::JoinHandle<()>,
    shutdown_grace: Duration,
    serving_threads: usize,
}

/// Opens the database and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    if config.backend() == Backend::Sqlite {
        create_private_dir(&config.data_dir)?;
        // SQLite gives its -wal and -shm files the database file's mode: make that one
        // private before SQLite creates it.
        if config.database.url.is_none() {
            create_private_file(&config.data_dir.join("purser.db"))?;
        }
    }
    keep_private(&config.data_dir);
    let pool = PoolConfig { max_connections: config.database.max_connections.unwrap_or(10), ..PoolConfig::default() };
    let store = Store::connect(&url, &pool)
        .await
        .with_context(|| format!("cannot open the {} database", config.backend().name()))?;
    let report = store.migrate().await.context("cannot migrate the database")?;
    for (version, name) in &report.applied {
        tracing::info!(version, name, "applied migration");
    }
    tracing::info!(backend = config.backend().name(), schema_version = report.version, "database ready");
    Ok(store)
}

/// Creates `dir` (and its parents) readable by Purser's user only.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("cannot create the directory {}", dir.display()))
}

/// Creates an empty file readable by Purser's user only, unless it exists.
fn create_private_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).with_context(|| format!("cannot create {}", path.display()))
}

/// What Purser keeps in its data directory (relative to it): directories, then files.
const OWN_DIRECTORIES: [&str; 2] = ["", "mail"];
const OWN_FILES: [&str; 5] = ["purser.db", "purser.db-wal", "purser.db-shm", "master.key", "mail/outbox.jsonl"];

/// Keeps the data directory private on every start: it and Purser's own directories in it
/// 0700 (which alone keeps other users out of everything inside), Purser's own files
/// 0600. Files Purser creates are made so; this mends an install made before they were
/// (its database and mail outbox were readable by anyone). Nothing else in the directory
/// is touched, and what cannot be changed is a warning, not a failure to start.
pub fn keep_private(dir: &Path) {
    let directories = OWN_DIRECTORIES.iter().map(|path| (path, 0o700));
    for (path, mode) in directories.chain(OWN_FILES.iter().map(|path| (path, 0o600))) {
        keep_path_private(&dir.join(path), mode);
    }
}

/// Makes one file (if it exists) readable by Purser's user only.
fn keep_path_private(path: &Path, mode: u32) {
    #[cfg(unix)]
    if let Err(e) = set_mode(path, mode) {
        tracing::warn!(path = %path.display(), error = %e, "cannot make this private: other users may read it");
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// Gives `path` the permission bits `mode`, if it exists and is not a symbolic link. The
/// file is opened without following links and changed through that handle, so a link
/// put in its place meanwhile changes nothing.
#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let opened = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) => return Ok(()),
        Err(e) => return Err(e),
    };
    if file.metadata()?.permissions().mode() & 0o777 != mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// The configured master key, or the one in `<data_dir>/master.key`, created on first use.
pub fn master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(key) = &config.secrets.master_key {
        return MasterKey::from_hex(key.expose()).context("secrets.master_key");
    }
    let path = config.data_dir.join("master.key");
    if config.backend() == Backend::Postgres {
        tracing::warn!(
            path = %path.display(),
            "no secrets.master_key configured: using a key file in the data directory; every replica must share one key (set PURSER__SECRETS__MASTER_KEY)"
        );
    }
    load_or_create_key_file(&path)
}

fn load_or_create_key_file(path: &Path) -> anyhow::Result<MasterKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return MasterKey::from_hex(&text).with_context(|| format!("{} is not a valid master key", path.display()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, key.to_hex().as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new master key; back it up with the database");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key_file(path),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The use cases over an opened store.
pub fn services(config: &Config, store: Store, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Services>> {
    let ids = Arc::new(IdGenerator::new(Arc::clone(&clock), 0));
    let auth = AuthSettings {
        issuer: config.auth.issuer.clone(),
        access_token_ttl_secs: config.auth.access_token_ttl_secs,
        refresh_token_ttl_secs: config.auth.refresh_token_ttl_secs,
    };
    let settings = Settings {
        auth,
        public_url: config.public_url(),
        org_deletion_grace_days: config.tenancy.deletion_grace_days,
        documents: DocumentSettings {
            max_upload_bytes: config.storage.max_upload_bytes,
            orphan_grace_secs: config.storage.orphan_grace_secs,
        },
        allow_link_local_webhooks: config.events.webhook_allow_link_local,
        vault_tokens: config.vaults.settings(),
    };
    let tenant_data = TenantData {
        databases: Arc::new(purser_tenants::Tenants::new(config.tenant_settings())?),
        blobs: Arc::new(purser_tenants::blobs::Blobs::new(config.blob_settings()).context("storage")?),
        timestamping: timestamping(config)?,
    };
    Ok(Arc::new(Services::new(store, clock, ids, &master_key(config)?, settings, mailer(config)?, tenant_data)))
}

/// The time-stamping authority, when one is configured, with the CAs it must chain to.
fn timestamping(config: &Config) -> anyhow::Result<Option<purser_services::timestamps::Timestamping>> {
    let (Some(url), Some(ca_file)) = (&config.timestamps.url, &config.timestamps.ca_file) else { return Ok(None) };
    let pem = std::fs::read(ca_file).with_context(|| format!("timestamps.ca_file {}", ca_file.display()))?;
    let trust_anchors = purser_services::timestamp_token::trust_anchors(&pem)
        .map_err(|e| anyhow::anyhow!("timestamps.ca_file {}: {e}", ca_file.display()))?;
    let authority = tsa_http::HttpAuthority::new(url.clone(), Duration::from_secs(config.timestamps.timeout_secs))?;
    Ok(Some(purser_services::timestamps::Timestamping { authority: Arc::new(authority), trust_anchors }))
}

/// Where events are published besides webhooks: NATS JetStream and/or Kafka, as configured.
async fn event_buses(config: &Config) -> anyhow::Result<Option<Arc<dyn EventBus>>> {
    let mut buses: Vec<Arc<dyn EventBus>> = Vec::new();
    let events = &config.events;
    if let Some(url) = &events.nats_url {
        buses.push(Arc::new(
            nats::NatsBus::connect(url.expose(), &events.nats_stream, &events.nats_subject_prefix).await?,
        ));
    }
    if !events.kafka_brokers.is_empty() {
        let partitions = i32::from(events.kafka_partitions);
        buses.push(Arc::new(
            kafka::KafkaBus::connect(events.kafka_brokers.clone(), &events.kafka_topic, partitions).await?,
        ));
    }
    Ok(match buses.len() {
        0 => None,
        1 => buses.pop(),
        _ => Some(Arc::new(EveryBus(buses))),
    })
}

/// Publishes to each bus in turn; a failure anywhere fails the event, which the relay
/// publishes again later (to all: consumers de-duplicate on the event id).
struct EveryBus(Vec<Arc<dyn EventBus>>);

impl EventBus for EveryBus {
    fn publish<'a>(
        &'a self,
        event: &'a purser_domain::event::Event,
        envelope: &'a [u8],
    ) -> futures_util::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            for bus in &self.0 {
                bus.publish(event, envelope).await?;
            }
            Ok(())
        })
    }
}

/// Redis when configured (limits shared by every replica), otherwise this process's memory.
async fn limiter(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<dyn RateLimiter>> {
    Ok(match &config.limits.redis_url {
        Some(url) => Arc::new(
            RedisLimiter::connect(url.expose(), &config.limits.redis_prefix)
                .await
                .context("limits.redis_url: cannot reach Redis")?,
        ),
        None => Arc::new(MemoryLimiter::new(clock)),
    })
}

/// SMTP when configured, otherwise the outbox file.
fn mailer(config: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match &config.mail.smtp_url {
        Some(url) => Arc::new(SmtpMailer::new(url.expose(), &config.mail.from)?),
        None => {
            // Configured outside the data directory, an older outbox is mended here.
            keep_path_private(&config.outbox(), 0o600);
            tracing::info!(outbox = %config.outbox().display(), "no mail.smtp_url: mail is written to the outbox file");
            Arc::new(FileMailer::new(config.outbox()))
        }
    })
}

impl Purser {
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = open_store(config).await?;
        let services = services(config, store, clock)?;
        let holder = format!("{}:{}", hostname(), std::process::id());
        let lease = services.lease_worker_id(holder).await.context("cannot lease a worker id")?;
        services.ensure_default_organization().await.context("cannot set up the default organization")?;

        if let (Some(email), Some(password)) = (&config.bootstrap.admin_email, &config.bootstrap.admin_password) {
            let (user, outcome) = services
                .ensure_admin(email, Some(password.expose().to_owned()), None, &ClientInfo::system())
                .await
                .context("bootstrap.admin_email")?;
            tracing::info!(user_id = %user.id, ?outcome, "bootstrap admin ready");
        } else if services.admin_count().await? == 0 {
            tracing::warn!("no platform admin exists yet: run `purser admin create --email ... --password ...`");
        }

        let mut registry = Registry::default();
        let http_metrics = HttpMetrics::register(&mut registry);
        let gateway =
            Gateway::start(Arc::clone(&services), config.gateway.to_gateway_config(&config.limits), &mut registry)
                .await?;
        let resync = gateway.spawn_sync();
        let housekeeping = spawn_housekeeping(Arc::clone(&services), config.events.keep_days);
        services.refresh_signing_keys().await.context("cannot load the vault token signing keys")?;
        let signing_keys = spawn_signing_keys(Arc::clone(&services));
        let vault_sync = match &config.vaults.engine_url {
            Some(url) => {
                let engine = engine_http::HttpEngine::new(url, Duration::from_secs(config.vaults.engine_timeout_secs))?;
                Some(spawn_vault_sync(Arc::clone(&services), Arc::new(engine)))
            }
            None => None,
        };
        // Every replica relays (one at a time, by the lease) and sends webhook deliveries.
        let bus = event_buses(config).await?;
        let relay = config.events.relay.then(|| {
            let holder = format!("{}:{}:{}", hostname(), std::process::id(), services.ids().next_id());
            (spawn_relay(Arc::clone(&services), bus, holder.clone()), holder)
        });
        let deliveries = spawn_deliveries(
            Arc::clone(&services),
            Arc::new(webhook_http::HttpSender::new(config.events.webhook_allow_link_local)),
        );
        let state = AppState {
            services: Arc::clone(&services),
            gateway: Arc::clone(&gateway),
            metrics: Arc::new(Metrics { registry, http: http_metrics }),
            limits: Arc::new(Limits {
                limiter: limiter(config, Arc::clone(services.clock())).await?,
                rules: config.limits.rules(),
            }),
            secure_cookies: config.server.secure_cookies,
            metrics_token: config.server.metrics_token.as_ref().map(|t| t.expose().to_owned()),
        };
        let http = HttpConfig { max_body_bytes: config.server.max_body_bytes, pages: Some(console::router()) };
        let router = purser_api::app(state, &http);
        Ok(Self {
            services,
            gateway,
            router,
            lease,
            resync,
            housekeeping,
            signing_keys,
            vault_sync,
            relay,
            deliveries,
            shutdown_grace: Duration::from_secs(config.server.shutdown_grace_secs),
            serving_threads: config.server.threads.unwrap_or_else(purser_serve::default_threads),
        })
    }

    /// Serves until `shutdown` resolves, then drains requests in flight (for at most the
    /// configured grace), writes every pending usage record and releases the worker id.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = self.shutdown_grace;
        let announced = async move {
            shutdown.await;
            tracing::info!(grace_secs = grace.as_secs(), "shutting down: draining requests");
        };
        let ended = purser_serve::serve(listener, self.router.clone(), self.serving_threads, announced, grace).await;
        if matches!(ended, Ok(purser_serve::Ended::Cut)) {
            tracing::warn!("requests still running after the grace period were cut");
        }
        // Whatever happened to the server, what was metered is written before returning.
        self.shutdown().await;
        ended.map(drop).context("server")
    }

    /// Flushes usage and releases resources (also for embedders that never called `serve`).
    pub async fn shutdown(self) {
        self.resync.abort();
        self.housekeeping.abort();
        self.signing_keys.abort();
        if let Some(sync) = &self.vault_sync {
            sync.abort();
        }
        self.deliveries.abort();
        if let Some((relay, holder)) = &self.relay {
            relay.abort();
            // Another replica takes over at once instead of when the lease runs out.
            if let Err(e) = self.services.release_relay(holder).await {
                tracing::warn!(error = %e, "could not release the event relay's lease");
            }
        }
        self.gateway.shutdown().await;
        self.lease.release().await;
        self.services.store().close().await;
        tracing::info!("stopped");
    }

    pub fn router(&self) -> Router {
        self.router.clone()
    }
}

/// Periodic chores: purging organizations past their deletion grace period. They are
/// idempotent, so every replica may run them.
/// The event relay: a round every quarter second (when this replica holds the lease), a
/// pause after a failure (the bus is down: the events wait in the outbox, in order).
fn spawn_relay(services: Arc<Services>, bus: Option<Arc<dyn EventBus>>, holder: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let pause = match services.relay_events(bus.as_deref(), &holder).await {
                Ok(Some(n)) if n > 0 => Duration::ZERO,
                Ok(_) => Duration::from_millis(250),
                Err(e) => {
                    tracing::warn!(error = %e, "could not publish events; retrying");
                    Duration::from_secs(2)
                }
            };
            tokio::time::sleep(pause).await;
        }
    })
}

/// Webhook deliveries due are sent every second (replicas share them by claiming each).
fn spawn_deliveries(services: Arc<Services>, sender: Arc<webhook_http::HttpSender>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let pause = match services.deliver_webhooks(sender.as_ref()).await {
                Ok(n) if n > 0 => Duration::ZERO,
                Ok(_) => Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(error = %e, "could not send webhook deliveries; retrying");
                    Duration::from_secs(5)
                }
            };
            tokio::time::sleep(pause).await;
        }
    })
}

fn spawn_housekeeping(services: Arc<Services>, keep_events_days: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Every minute, close the organizations' databases left idle, move document changes
        // a crash left in their outboxes and remove files orphaned past their grace; every
        // hour (and at start), purge and prune.
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        for minute in 0u64.. {
            tick.tick().await;
            services.tenants().close_idle();
            if let Err(e) = services.sweep_tenant_changes().await {
                tracing::warn!(error = %e, "could not move organizations' waiting changes");
            }
            if let Err(e) = services.clean_due_files().await {
                tracing::warn!(error = %e, "could not clean up orphaned files");
            }
            if minute % 60 != 0 {
                continue;
            }
            if let Err(e) = services.purge_deleted_organizations().await {
                tracing::warn!(error = %e, "could not purge deleted organizations");
            }
            if let Err(e) = services.prune_change_log().await {
                tracing::warn!(error = %e, "could not prune the change log");
            }
            if let Err(e) = services.prune_events(keep_events_days).await {
                tracing::warn!(error = %e, "could not prune the event outbox");
            }
            if let Err(e) = services.prune_vault_tokens().await {
                tracing::warn!(error = %e, "could not prune expired vault refresh tokens and assertion ids");
            }
        }
    })
}

/// Vault states to the policy engine: what is due every second (replicas share the work
/// by claiming each vault).
fn spawn_vault_sync(services: Arc<Services>, engine: Arc<engine_http::HttpEngine>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let pause = match services.sync_vaults(engine.as_ref()).await {
                Ok(n) if n > 0 => Duration::ZERO,
                Ok(_) => Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(error = %e, "could not sync vaults with the policy engine; retrying");
                    Duration::from_secs(5)
                }
            };
            tokio::time::sleep(pause).await;
        }
    })
}

/// Vault token signing keys: reloaded (and rotated when due) by every replica.
fn spawn_signing_keys(services: Arc<Services>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(purser_services::signing_keys::RELOAD_SECS);
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = services.refresh_signing_keys().await {
                tracing::warn!(error = %e, "could not reload the vault token signing keys");
            }
        }
    })
}

fn hostname() -> String {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "purser".into())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_directory_is_private_and_an_older_one_is_mended() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        // A fresh install.
        let fresh = Config { data_dir: root.path().join("fresh"), ..Config::default() };
        let store = open_store(&fresh).await.unwrap();
        store.close().await;
        assert_eq!(mode(&fresh.data_dir), 0o700);
        for file in ["purser.db", "purser.db-wal", "purser.db-shm"] {
            let path = fresh.data_dir.join(file);
            if path.exists() {
                assert_eq!(mode(&path), 0o600, "{file}");
            }
        }
        // An install from before: everything readable by anyone.
        let old = Config { data_dir: root.path().join("old"), ..Config::default() };
        std::fs::create_dir_all(old.data_dir.join("mail")).unwrap();
        std::fs::write(old.data_dir.join("mail").join("outbox.jsonl"), "{}\n").unwrap();
        std::fs::write(old.data_dir.join("master.key"), MasterKey::generate().to_hex()).unwrap();
        for path in [old.data_dir.join("mail").join("outbox.jsonl"), old.data_dir.join("master.key")] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        for dir in [&old.data_dir, &old.data_dir.join("mail")] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let store = open_store(&old).await.unwrap();
        store.close().await;
        assert_eq!((mode(&old.data_dir), mode(&old.data_dir.join("mail"))), (0o700, 0o700));
        for file in ["purser.db", "master.key", "mail/outbox.jsonl"] {
            assert_eq!(mode(&old.data_dir.join(file)), 0o600, "{file}");
        }
    }

    #[test]
    fn the_master_key_file_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("master.key");
        let first = load_or_create_key_file(&path).unwrap();
        let again = load_or_create_key_file(&path).unwrap();
        assert_eq!(first.to_hex(), again.to_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        assert!(load_or_create_key_file(&path).is_err(), "a damaged key file stops start-up");
    }
}
