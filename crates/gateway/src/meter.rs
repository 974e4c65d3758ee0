//! Metering: usage records leave the request path through a bounded queue and are written
//! in batches by one background task. Under load, records pile up while a batch is being
//! written, so batches grow by themselves; with no load each record is written at once.
//!
//! A failed write is retried with backoff, keeping its batch; meanwhile the queue keeps
//! taking records up to its capacity. On shutdown the queue is closed, drained and
//! written before the process exits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use purser_domain::usage::UsageRecord;
use purser_services::Services;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct MeterConfig {
    /// Records held in memory waiting to be written; beyond this, new records are dropped
    /// (and counted in `purser_usage_dropped_total`).
    pub capacity: usize,
    pub max_batch: usize,
    /// How often queued records are written. Writing on a timer, not per record, keeps the
    /// request path from waking the writer and the database from committing tiny batches.
    pub flush_interval: Duration,
    /// How long shutdown keeps retrying a database that does not answer.
    pub shutdown_grace: Duration,
}

impl Default for MeterConfig {
    fn default() -> Self {
        Self {
            capacity: 1_000_000,
            max_batch: 2000,
            flush_interval: Duration::from_millis(100),
            shutdown_grace: Duration::from_secs(15),
        }
    }
}

#[derive(Default)]
struct Progress {
    /// Asks the writer to write now rather than at its next tick.
    flush_now: Notify,
    accepted: AtomicU64,
    /// Written or given up on: everything accepted that is no longer pending.
    settled: AtomicU64,
    changed: Notify,
}

#[derive(Clone, Default)]
struct MeterMetrics {
    pending: Gauge,
    written: Counter,
    dropped: Counter,
    write_errors: Counter,
}

pub struct UsageMeter {
    tx: mpsc::Sender<UsageRecord>,
    progress: Arc<Progress>,
    metrics: MeterMetrics,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl UsageMeter {
    pub fn start(services: Arc<Services>, config: MeterConfig, registry: &mut Registry) -> Self {
        let metrics = MeterMetrics::default();
        registry.register("purser_usage_pending", "Usage records waiting to be written", metrics.pending.clone());
        registry.register("purser_usage_written", "Usage records written to the database", metrics.written.clone());
        registry.register(
            "purser_usage_dropped",
            "Usage records lost because the queue was full or shutdown could not write them",
            metrics.dropped.clone(),
        );
        registry.register(
            "purser_usage_write_errors",
            "Failed attempts to write a batch of usage records",
            metrics.write_errors.clone(),
        );

        let (tx, rx) = mpsc::channel(config.capacity);
        let (stop, stopped) = watch::channel(false);
        let progress = Arc::new(Progress::default());
        let writer = Writer { services, config, progress: Arc::clone(&progress), metrics: metrics.clone() };
        let task = tokio::spawn(writer.run(rx, stopped));
        Self { tx, progress, metrics, stop, task: Mutex::new(Some(task)) }
    }

    /// Queues a record without waiting.
    pub fn record(&self, record: UsageRecord) {
        self.progress.accepted.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(record) {
            Ok(()) => {
                self.metrics.pending.inc();
            }
            Err(e) => {
                let record = match e {
                    mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
                };
                tracing::error!(request_id = %record.request_id, key_id = %record.key_id, "usage queue full or closed; record dropped");
                self.metrics.dropped.inc();
                self.progress.settled.fetch_add(1, Ordering::SeqCst);
                self.progress.changed.notify_waiters();
            }
        }
    }

    /// Waits until every record queued before this call has been written (or dropped).
    pub async fn flush(&self) {
        let target = self.progress.accepted.load(Ordering::SeqCst);
        self.progress.flush_now.notify_one();
        loop {
            let notified = self.progress.changed.notified();
            if self.progress.settled.load(Ordering::SeqCst) >= target {
                return;
            }
            notified.await;
        }
    }

    /// Stops taking records, writes everything queued, and ends the writer.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("meter task poisoned").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Writer {
    services: Arc<Services>,
    config: MeterConfig,
    progress: Arc<Progress>,
    metrics: MeterMetrics,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<UsageRecord>, mut stopped: watch::Receiver<bool>) {
        let mut batch = Vec::with_capacity(self.config.max_batch);
        let mut tick = tokio::time::interval(self.config.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stopped.changed() => break,
                _ = tick.tick() => {}
                () = self.progress.flush_now.notified() => {}
            }
            // Take what is queued, without waiting for more.
            while let Ok(record) = rx.try_recv() {
                batch.push(record);
                if batch.len() == self.config.max_batch {
                    self.write(&mut batch, Some(&mut stopped)).await;
                }
            }
            if !batch.is_empty() {
                self.write(&mut batch, Some(&mut stopped)).await;
            }
        }
        // Shutdown: take no more, write what is queued.
        rx.close();
        while rx.recv_many(&mut batch, self.config.max_batch).await > 0 {
            self.write(&mut batch, None).await;
        }
    }

    /// Writes a batch, retrying with backoff. Before shutdown it retries until it succeeds
    /// or shutdown starts; during shutdown, for at most the grace period.
    async fn write(&self, batch: &mut Vec<UsageRecord>, mut running: Option<&mut watch::Receiver<bool>>) {
        let mut give_up_at = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.services.record_usage(batch).await {
                Ok(_) => {
                    self.metrics.written.inc_by(batch.len() as u64);
                    break;
                }
                Err(e) => {
                    self.metrics.write_errors.inc();
                    tracing::warn!(error = %e, records = batch.len(), "could not write usage; will retry");
                }
            }
            let shutting_down = running.as_ref().is_none_or(|r| *r.borrow());
            if shutting_down {
                let deadline =
                    *give_up_at.get_or_insert_with(|| tokio::time::Instant::now() + self.config.shutdown_grace);
                if tokio::time::Instant::now() + backoff > deadline {
                    tracing::error!(records = batch.len(), "giving up on writing usage records at shutdown");
                    self.metrics.dropped.inc_by(batch.len() as u64);
                    break;
                }
            }
            match running.as_mut() {
                Some(r) if !*r.borrow() => {
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = r.changed() => {}
                    }
                }
                _ => tokio::time::sleep(backoff).await,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        self.metrics.pending.dec_by(batch.len() as i64);
        self.progress.settled.fetch_add(batch.len() as u64, Ordering::SeqCst);
        self.progress.changed.notify_waiters();
        batch.clear();
    }
}
