//! Holding a worker-id lease for as long as the process runs, so ids from different
//! replicas never collide.

use std::sync::Arc;
use std::time::Duration;

use purser_store::{StoreError, leases};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Services;
use crate::error::Result;

const LEASE_TTL_MS: i64 = 60_000;
const RENEW_EVERY: Duration = Duration::from_secs(15);

pub struct WorkerLease {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerLease {
    /// Stops renewing and gives the id back.
    pub async fn release(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Services {
    async fn acquire_worker(&self, holder: &str) -> Result<u16> {
        let mut tx = self.store.begin().await?;
        let worker = leases::acquire(&mut tx, holder, self.now(), LEASE_TTL_MS).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.ids.set_worker(worker);
        Ok(worker)
    }

    /// Takes a worker id and keeps it renewed in the background.
    pub async fn lease_worker_id(self: &Arc<Self>, holder: String) -> Result<WorkerLease> {
        let worker = self.acquire_worker(&holder).await?;
        tracing::info!(worker, "worker id leased");
        let (stop, mut stopped) = watch::channel(false);
        let services = Arc::clone(self);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(RENEW_EVERY) => {}
                    _ = stopped.changed() => break,
                }
                let worker = services.ids.worker();
                let renewed = async {
                    let mut conn = services.store.conn().await?;
                    leases::renew(&mut conn, worker, &holder, services.now(), LEASE_TTL_MS).await
                }
                .await;
                match renewed {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(worker, "worker id lease was lost; taking another");
                        if let Err(e) = services.acquire_worker(&holder).await {
                            tracing::error!(error = %e, "could not lease a new worker id");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, worker, "could not renew the worker id lease"),
                }
            }
            let worker = services.ids.worker();
            if let Ok(mut conn) = services.store.conn().await {
                let _ = leases::release(&mut conn, worker, &holder).await;
            }
        });
        Ok(WorkerLease { stop, task })
    }
}
