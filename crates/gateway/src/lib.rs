//! Purser's data plane: OpenAI-compatible `/v1/*` endpoints.
//!
//! Every request is checked against in-memory tables (key, model, limits, spend); the
//! database is never consulted on the request path. Usage is metered off the request path
//! by [`meter::UsageMeter`]. The tables follow changes made through the use cases at once
//! (this crate's [`ChangeListener`]) and are fully reloaded every `resync_interval` to
//! pick up anything else (expiry housekeeping, changes made by other replicas).

mod body;
mod error;
mod estimate;
mod governor;
mod handlers;
mod histogram;
mod json;
pub mod limits;
pub mod meter;
mod metrics;
mod proxy;
mod routing;
pub mod shared;
pub mod sse;
pub mod tables;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use prometheus_client::registry::Registry;
use purser_services::{Change, ChangeListener, Services};
use tokio::sync::Mutex;

pub use error::GatewayError;
pub use handlers::{method_not_allowed, router, unknown_url};
pub use proxy::MOCK_ANSWER;
pub use routing::BreakerPolicy;

use crate::meter::{MeterConfig, UsageMeter};
use crate::metrics::GatewayMetrics;
use crate::tables::{KeyTable, ModelTable, TeamTable, UserTable};
use crate::upstream::Upstream;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub connect_timeout: Duration,
    /// Until the upstream's response headers arrive (for a non-streamed answer, that is
    /// the whole generation).
    pub first_byte_timeout: Duration,
    /// Longest silence between two chunks of a streamed answer.
    pub stream_idle_timeout: Duration,
    /// Longest a request may take from arrival to the end of its answer, retries included.
    pub total_timeout: Duration,
    /// Further attempts after a failure that reached the client with nothing yet (connection
    /// refused or broken, timeout, HTTP 429 or 5xx), on another deployment when there is one.
    pub retries: u32,
    /// The first pause before trying a deployment again; doubles each time, with jitter.
    pub retry_backoff: Duration,
    pub breaker: BreakerPolicy,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
    pub resync_interval: Duration,
    /// How often the change log is read for changes made through other replicas.
    pub change_poll_interval: Duration,
    pub meter: MeterConfig,
    /// Share limits and spend with the other replicas through Redis.
    pub shared: Option<shared::SharedConfig>,
    /// How long the rest of a stream whose client left is read, for the usage in its last
    /// chunk (without it, the tokens are counted by Purser).
    pub usage_wait_after_disconnect: Duration,
    /// The longest answer assumed, in tokens, for a request that sets no `max_tokens` to a
    /// model with no context length: what a request reserves of its budgets.
    pub default_max_output_tokens: u64,
    /// Whether answers carry the key's own `x-ratelimit-*` headers (when it has limits).
    pub rate_limit_headers: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(600),
            stream_idle_timeout: Duration::from_secs(120),
            total_timeout: Duration::from_secs(1800),
            retries: 2,
            retry_backoff: Duration::from_millis(100),
            breaker: BreakerPolicy::default(),
            max_request_bytes: 32 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            resync_interval: Duration::from_secs(300),
            change_poll_interval: Duration::from_millis(250),
            meter: MeterConfig::default(),
            shared: None,
            usage_wait_after_disconnect: Duration::from_secs(5),
            default_max_output_tokens: 8192,
            rate_limit_headers: true,
        }
    }
}

pub struct Gateway {
    services: Arc<Services>,
    keys: KeyTable,
    models: ModelTable,
    teams: TeamTable,
    users: UserTable,
    meter: UsageMeter,
    shared: Option<Arc<shared::SharedCounters>>,
    upstream: Upstream,
    config: GatewayConfig,
    metrics: GatewayMetrics,
    /// Serialises table reloads so a full reload cannot overwrite a newer single change.
    reload: Mutex<()>,
    /// The change log position the first full load covers; the follower starts there.
    change_floor: std::sync::atomic::AtomicI64,
    /// Metering that outlives its request (a stream read on after its client left, tokens
    /// being counted); shutdown waits for it.
    background: tokio_util::task::TaskTracker,
    /// The runtime the gateway was started on, which that metering runs on: a serving
    /// thread's runtime stops with the server, before shutdown waits for it.
    runtime: tokio::runtime::Handle,
}

impl Gateway {
    /// Loads the tables, starts the meter, and subscribes to changes.
    pub async fn start(
        services: Arc<Services>,
        config: GatewayConfig,
        registry: &mut Registry,
    ) -> purser_services::Result<Arc<Self>> {
        let upstream = Upstream::new(&config).map_err(purser_services::Error::internal)?;
        let metrics = GatewayMetrics::register(registry);
        let shared = match &config.shared {
            Some(shared) => Some(Arc::new(
                shared::SharedCounters::connect(shared, Arc::clone(services.clock()), registry)
                    .await
                    .map_err(|e| purser_services::Error::internal(format!("shared limits: cannot reach Redis: {e}")))?,
            )),
            None => None,
        };
        let gateway = Arc::new(Self {
            shared,
            meter: UsageMeter::start(Arc::clone(&services), config.meter.clone(), registry),
            metrics: metrics.clone(),
            services: Arc::clone(&services),
            keys: KeyTable::default(),
            models: ModelTable::new(metrics.clone()),
            teams: TeamTable::default(),
            users: UserTable::default(),
            upstream,
            config,
            reload: Mutex::new(()),
            change_floor: std::sync::atomic::AtomicI64::new(0),
            background: tokio_util::task::TaskTracker::new(),
            runtime: tokio::runtime::Handle::current(),
        });
        // Read the log's position before loading, so nothing logged during the load is missed.
        let floor = services.last_change().await?;
        gateway.change_floor.store(floor, std::sync::atomic::Ordering::Release);
        gateway.reload_all().await?;
        services.listen(Arc::clone(&gateway) as Arc<dyn ChangeListener>);
        tracing::info!(keys = gateway.keys.len(), "gateway tables loaded");
        Ok(gateway)
    }

    /// Writes pending usage first (briefly), so spend read back from the database is current.
    async fn settle_usage(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.meter.flush()).await;
    }

    pub async fn reload_all(&self) -> purser_services::Result<()> {
        let _guard = self.reload.lock().await;
        self.settle_usage().await;
        let snapshot = self.services.gateway_snapshot().await?;
        let now = self.services.now();
        self.keys.replace_all(snapshot.keys, now);
        self.models.replace_all(snapshot.models, now);
        self.teams.replace_all(snapshot.teams, now);
        self.users.replace_all(snapshot.users, now);
        Ok(())
    }

    /// Keeps the tables in step with the database until the returned task is aborted:
    /// applies what the change log says other replicas changed every `change_poll_interval`,
    /// and reloads everything every `resync_interval` (for what no change names, such as
    /// keys expiring).
    pub fn spawn_sync(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let gateway = Arc::clone(self);
        let mut follower = ChangeFollower::new(self.change_floor.load(std::sync::atomic::Ordering::Acquire));
        tokio::spawn(async move {
            // Ends with this task.
            let _shared_rounds = gateway.shared.clone().map(|shared| AbortOnDrop(tokio::spawn(shared.run())));
            let mut poll = tokio::time::interval(gateway.config.change_poll_interval);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut resync = tokio::time::interval(gateway.config.resync_interval);
            resync.tick().await;
            loop {
                tokio::select! {
                    _ = poll.tick() => {
                        if let Err(e) = follower.poll(&gateway).await {
                            tracing::warn!(error = %e, "could not read the change log; will retry");
                        }
                    }
                    _ = resync.tick() => {
                        if let Err(e) = gateway.reload_all().await {
                            tracing::warn!(error = %e, "gateway resync failed; serving the tables already loaded");
                        }
                    }
                }
            }
        })
    }

    async fn apply(&self, change: Change) -> purser_services::Result<()> {
        let _guard = self.reload.lock().await;
        match change {
            Change::ApiKey(id) => match self.services.gateway_key(id).await? {
                Some(key) => self.keys.upsert(key, self.services.now()),
                None => self.keys.remove(id),
            },
            Change::Model(id) => self.models.apply(id, self.services.gateway_model(id).await?, self.services.now()),
            Change::Team(id) => {
                self.settle_usage().await;
                self.teams.apply(id, self.services.gateway_team(id).await?, self.services.now());
            }
            // An organization's status (or deletion) concerns all of its teams.
            Change::Organization(_) => {
                self.teams.replace_all(self.services.gateway_all_teams().await?, self.services.now())
            }
            // Deactivating (or reactivating) a user removes (or restores) all their keys;
            // their limits may have changed too.
            Change::User(id) => {
                self.settle_usage().await;
                let now = self.services.now();
                for key in self.services.gateway_keys_of_user(id).await? {
                    self.keys.upsert(key, now);
                }
                self.users.apply(id, self.services.gateway_user(id).await?, now);
            }
        }
        Ok(())
    }

    /// Waits until every usage record metered so far is written (requests still being
    /// metered in the background first).
    pub async fn flush_usage(&self) {
        self.settle_background().await;
        self.meter.flush().await;
    }

    /// Waits for metering that outlived its request, at most as long as a stream is read
    /// after its client left, and a little more for counting.
    async fn settle_background(&self) {
        let idle = self.background.clone();
        idle.close();
        let wait = self.config.usage_wait_after_disconnect + Duration::from_secs(5);
        if tokio::time::timeout(wait, idle.wait()).await.is_err() {
            tracing::warn!(tasks = idle.len(), "metering still running in the background after {wait:?}");
        }
        idle.reopen();
    }

    /// Runs metering that outlives its request, where shutdown waits for it.
    pub(crate) fn in_background(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.background.spawn_on(work, &self.runtime);
    }

    /// Writes all pending usage and stops metering. Call after the server has drained.
    pub async fn shutdown(&self) {
        self.settle_background().await;
        self.meter.shutdown().await;
    }
}

impl ChangeListener for Gateway {
    fn on_change(&self, change: Change) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = self.apply(change).await {
                // The periodic resync will catch up.
                tracing::warn!(error = %e, ?change, "could not apply a change to the gateway tables");
            }
        })
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long a change log entry may take to become visible after the entries numbered after
/// it (PostgreSQL hands out sequence numbers before commit, so commits can land out of
/// order). Entries this recent are read again at each poll; older ones are done with.
const SETTLE: Duration = Duration::from_secs(5);
/// Most entries read at one poll.
const POLL_BATCH: u32 = 1000;

/// Reads the change log from where it has read up to, applying each entry once.
struct ChangeFollower {
    /// Every entry up to here is applied (or older than this process's first load).
    floor: i64,
    /// Entries above the floor already applied.
    applied: std::collections::BTreeMap<i64, purser_domain::Timestamp>,
}

impl ChangeFollower {
    fn new(floor: i64) -> Self {
        Self { floor, applied: std::collections::BTreeMap::new() }
    }

    async fn poll(&mut self, gateway: &Gateway) -> purser_services::Result<()> {
        let entries = gateway.services.changes_after(self.floor, POLL_BATCH).await?;
        let full = entries.len() == POLL_BATCH as usize;
        for entry in &entries {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.applied.entry(entry.seq) {
                slot.insert(entry.at);
                if let Err(e) = gateway.apply(entry.change).await {
                    tracing::warn!(error = %e, change = ?entry.change, "could not apply a logged change");
                }
            }
        }
        // Move the floor past entries old enough that nothing below them can still appear.
        let settled = gateway.services.now().plus_millis(-(SETTLE.as_millis() as i64));
        while let Some((&seq, &at)) = self.applied.first_key_value() {
            if at > settled && !full {
                break;
            }
            self.floor = seq;
            self.applied.remove(&seq);
        }
        Ok(())
    }
}
