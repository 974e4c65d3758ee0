//! Purser's data plane: OpenAI-compatible `/v1/*` endpoints.
//!
//! Every request is checked against in-memory tables (key, model, limits, spend); the
//! database is never consulted on the request path. Usage is metered off the request path
//! by [`meter::UsageMeter`]. The tables follow changes made through the use cases at once
//! (this crate's [`ChangeListener`]) and are fully reloaded every `resync_interval` to
//! pick up anything else (expiry housekeeping, changes made by other replicas).

mod body;
mod error;
mod handlers;
pub mod limits;
pub mod meter;
mod metrics;
mod proxy;
mod routing;
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
pub use handlers::router;
pub use proxy::MOCK_ANSWER;
pub use routing::BreakerPolicy;

use crate::meter::{MeterConfig, UsageMeter};
use crate::metrics::GatewayMetrics;
use crate::tables::{KeyTable, ModelTable, TeamTable};
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
    pub meter: MeterConfig,
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
            resync_interval: Duration::from_secs(30),
            meter: MeterConfig::default(),
        }
    }
}

pub struct Gateway {
    services: Arc<Services>,
    keys: KeyTable,
    models: ModelTable,
    teams: TeamTable,
    meter: UsageMeter,
    upstream: Upstream,
    config: GatewayConfig,
    metrics: GatewayMetrics,
    /// Serialises table reloads so a full reload cannot overwrite a newer single change.
    reload: Mutex<()>,
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
        let gateway = Arc::new(Self {
            meter: UsageMeter::start(Arc::clone(&services), config.meter.clone(), registry),
            metrics: metrics.clone(),
            services: Arc::clone(&services),
            keys: KeyTable::default(),
            models: ModelTable::new(metrics.clone()),
            teams: TeamTable::default(),
            upstream,
            config,
            reload: Mutex::new(()),
        });
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
        Ok(())
    }

    /// Reloads the tables every `resync_interval` until the returned task is aborted.
    pub fn spawn_resync(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let gateway = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(gateway.config.resync_interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = gateway.reload_all().await {
                    tracing::warn!(error = %e, "gateway resync failed; serving the tables already loaded");
                }
            }
        })
    }

    async fn apply(&self, change: Change) -> purser_services::Result<()> {
        let _guard = self.reload.lock().await;
        match change {
            Change::ApiKey(id) => {
                if let Some(key) = self.services.gateway_key(id).await? {
                    self.keys.upsert(key, self.services.now());
                }
            }
            Change::Model(id) => self.models.apply(id, self.services.gateway_model(id).await?, self.services.now()),
            Change::Team(id) => {
                self.settle_usage().await;
                self.teams.apply(id, self.services.gateway_team(id).await?, self.services.now());
            }
            // An organization's status (or deletion) concerns all of its teams.
            Change::Organization(_) => {
                self.teams.replace_all(self.services.gateway_all_teams().await?, self.services.now())
            }
            // Deactivating (or reactivating) a user removes (or restores) all their keys.
            Change::User(id) => {
                let now = self.services.now();
                for key in self.services.gateway_keys_of_user(id).await? {
                    self.keys.upsert(key, now);
                }
            }
        }
        Ok(())
    }

    /// Waits until every usage record metered so far is written.
    pub async fn flush_usage(&self) {
        self.meter.flush().await;
    }

    /// Writes all pending usage and stops metering. Call after the server has drained.
    pub async fn shutdown(&self) {
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
