//! Metering: usage records leave the request path through a buffer per thread and are
//! written in batches by one background task. Under load, records pile up while a batch is
//! being written, so batches grow by themselves.
//!
//! Each thread that meters requests (the serving threads) appends to a buffer of its own,
//! under a lock that only the writer's visits, once per flush interval, ever contend for.
//! A shared queue made every request touch memory that the other cores were touching too,
//! which cost about half a microsecond a request.
//!
//! A failed write is retried with backoff, keeping its batch; meanwhile the buffers keep
//! taking records up to their capacity. On shutdown the buffers are closed, drained and
//! written before the process exits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use purser_domain::usage::UsageRecord;
use purser_services::Services;
use thread_local::ThreadLocal;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct MeterConfig {
    /// Records each metering thread holds in memory waiting to be written; beyond this, its
    /// new records are dropped (and counted in `purser_usage_dropped_total`).
    pub capacity: usize,
    pub max_batch: usize,
    /// How often buffered records are written. Writing on a timer, not per record, keeps the
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

#[derive(Clone, Default)]
struct MeterMetrics {
    written: Counter,
    dropped: Counter,
    write_errors: Counter,
}

/// What the request path and the writer share.
struct Buffers {
    per_thread: ThreadLocal<Mutex<Buffer>>,
    capacity: usize,
    /// Set (then each buffer visited under its lock) once metering has stopped.
    closed: AtomicBool,
    /// Records the writer has taken from the buffers and not yet written.
    in_hand: AtomicUsize,
    flushes: Mutex<Flushes>,
    /// Asks the writer to write now rather than at its next tick.
    flush_now: Notify,
    metrics: MeterMetrics,
}

/// One thread's records, and an empty vector for the writer to swap in when it takes them.
/// The two vectors change places each time and keep their room, so that taking the
/// records neither copies them under the lock nor allocates (allocating and freeing large
/// vectors across threads each round made the allocator hold on to about 20 MiB more).
#[derive(Default)]
struct Buffer {
    records: Vec<UsageRecord>,
    spare: Vec<UsageRecord>,
}

#[derive(Default)]
struct Flushes {
    /// Callers of [`UsageMeter::flush`] waiting for the writer's next round.
    waiting: Vec<oneshot::Sender<()>>,
    /// The writer has written its last round and ended.
    finished: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // (A panic while holding a buffer leaves a valid vector.)
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Buffers {
    /// Moves every thread's buffered records to the end of `batch`.
    fn drain_into(&self, batch: &mut Vec<UsageRecord>) {
        for buffer in self.per_thread.iter() {
            let mut taken = {
                let mut buffer = lock(buffer);
                let spare = std::mem::take(&mut buffer.spare);
                std::mem::replace(&mut buffer.records, spare)
            };
            batch.append(&mut taken);
            lock(buffer).spare = taken;
        }
        self.in_hand.store(batch.len(), Ordering::Relaxed);
    }

    /// Records buffered and not yet taken by the writer.
    fn buffered(&self) -> usize {
        self.per_thread.iter().map(|buffer| lock(buffer).records.len()).sum()
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // Visiting each buffer under its lock after the flag is set means a record either
        // went in before (and will be drained) or sees the flag.
        for buffer in self.per_thread.iter() {
            drop(lock(buffer));
        }
    }
}

/// `purser_usage_pending`, counted when scraped.
struct Pending(Arc<Buffers>);

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Collector for Pending {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let records = self.0.in_hand.load(Ordering::Relaxed) + self.0.buffered();
        let gauge = ConstGauge::new(i64::try_from(records).unwrap_or(i64::MAX));
        let metric = encoder.encode_descriptor(
            "purser_usage_pending",
            "Usage records waiting to be written",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

pub struct UsageMeter {
    buffers: Arc<Buffers>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl UsageMeter {
    pub fn start(services: Arc<Services>, config: MeterConfig, registry: &mut Registry) -> Self {
        let metrics = MeterMetrics::default();
        registry.register("purser_usage_written", "Usage records written to the database", metrics.written.clone());
        registry.register(
            "purser_usage_dropped",
            "Usage records lost because a buffer was full or shutdown could not write them",
            metrics.dropped.clone(),
        );
        registry.register(
            "purser_usage_write_errors",
            "Failed attempts to write a batch of usage records",
            metrics.write_errors.clone(),
        );

        let buffers = Arc::new(Buffers {
            per_thread: ThreadLocal::new(),
            capacity: config.capacity,
            closed: AtomicBool::new(false),
            in_hand: AtomicUsize::new(0),
            flushes: Mutex::default(),
            flush_now: Notify::new(),
            metrics,
        });
        registry.register_collector(Box::new(Pending(Arc::clone(&buffers))));
        let (stop, stopped) = watch::channel(false);
        let writer = Writer { services, config, buffers: Arc::clone(&buffers) };
        let task = tokio::spawn(writer.run(stopped));
        Self { buffers, stop, task: Mutex::new(Some(task)) }
    }

    /// Buffers a record without waiting.
    pub fn record(&self, record: UsageRecord) {
        let buffers = &*self.buffers;
        let mut buffer = lock(buffers.per_thread.get_or_default());
        if buffer.records.len() < buffers.capacity && !buffers.closed.load(Ordering::SeqCst) {
            buffer.records.push(record);
            return;
        }
        drop(buffer);
        tracing::error!(request_id = %record.request_id, key_id = %record.key_id, "usage buffer full or closed; record dropped");
        buffers.metrics.dropped.inc();
    }

    /// Waits until every record buffered before this call has been written (or dropped).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        {
            let mut flushes = lock(&self.buffers.flushes);
            if flushes.finished {
                return;
            }
            flushes.waiting.push(done);
        }
        self.buffers.flush_now.notify_one();
        let _ = written.await;
    }

    /// Stops taking records, writes everything buffered, and ends the writer.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Writer {
    services: Arc<Services>,
    config: MeterConfig,
    buffers: Arc<Buffers>,
}

impl Writer {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut batch = Vec::new();
        let mut tick = tokio::time::interval(self.config.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stopped.changed() => break,
                _ = tick.tick() => {}
                () = self.buffers.flush_now.notified() => {}
            }
            // Whoever asked for a flush before this point is answered after this round.
            let flushes = std::mem::take(&mut lock(&self.buffers.flushes).waiting);
            self.buffers.drain_into(&mut batch);
            self.write_all(&mut batch, Some(&mut stopped)).await;
            for done in flushes {
                let _ = done.send(());
            }
        }
        // Shutdown: take no more, write what is buffered.
        self.buffers.close();
        self.buffers.drain_into(&mut batch);
        self.write_all(&mut batch, None).await;
        let flushes = {
            let mut flushes = lock(&self.buffers.flushes);
            flushes.finished = true;
            std::mem::take(&mut flushes.waiting)
        };
        for done in flushes {
            let _ = done.send(());
        }
    }

    /// Writes `batch` (emptying it) in transactions of at most `max_batch` records.
    async fn write_all(&self, batch: &mut Vec<UsageRecord>, mut running: Option<&mut watch::Receiver<bool>>) {
        let mut written = 0;
        while written < batch.len() {
            let end = batch.len().min(written + self.config.max_batch);
            self.write(&batch[written..end], running.as_deref_mut()).await;
            written = end;
            self.buffers.in_hand.store(batch.len() - written, Ordering::Relaxed);
        }
        batch.clear();
    }

    /// Writes one transaction's records, retrying with backoff. Before shutdown it retries
    /// until it succeeds or shutdown starts; during shutdown, for at most the grace period.
    async fn write(&self, records: &[UsageRecord], mut running: Option<&mut watch::Receiver<bool>>) {
        let metrics = &self.buffers.metrics;
        let mut give_up_at = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.services.record_usage(records).await {
                Ok(_) => {
                    metrics.written.inc_by(records.len() as u64);
                    return;
                }
                Err(e) => {
                    metrics.write_errors.inc();
                    tracing::warn!(error = %e, records = records.len(), "could not write usage; will retry");
                }
            }
            let shutting_down = running.as_ref().is_none_or(|r| *r.borrow());
            if shutting_down {
                let deadline =
                    *give_up_at.get_or_insert_with(|| tokio::time::Instant::now() + self.config.shutdown_grace);
                if tokio::time::Instant::now() + backoff > deadline {
                    tracing::error!(records = records.len(), "giving up on writing usage records at shutdown");
                    metrics.dropped.inc_by(records.len() as u64);
                    return;
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
    }
}
