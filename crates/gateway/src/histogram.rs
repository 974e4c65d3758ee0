//! A Prometheus histogram that each thread records into on its own, summed when scraped.
//!
//! `prometheus_client`'s histogram takes a lock that every serving thread writes through,
//! so each observation moved the lock's cache line between cores; on the request path,
//! which observes several per request, that cost more than the instructions did. Here a
//! thread only ever writes its own counts (plain loads and stores of atomics, no
//! read-modify-write), and a scrape adds up every thread's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use thread_local::ThreadLocal;

#[derive(Clone)]
pub(crate) struct LocalHistogram(Arc<Shared>);

struct Shared {
    /// Upper bounds, the last `f64::MAX` (Prometheus's `+Inf`).
    bounds: Box<[f64]>,
    threads: ThreadLocal<Counts>,
}

/// One thread's observations: written by that thread only, read by scrapes.
struct Counts {
    /// Per bucket, not cumulative; their total is the count (so a scrape that races an
    /// observation never shows a count off its `+Inf` bucket).
    buckets: Box<[AtomicU64]>,
    /// The sum's `f64` bits.
    sum: AtomicU64,
}

/// Adds to a counter that only this thread writes.
fn add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl LocalHistogram {
    pub(crate) fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        let bounds = bounds.into_iter().chain(std::iter::once(f64::MAX)).collect();
        Self(Arc::new(Shared { bounds, threads: ThreadLocal::new() }))
    }

    pub(crate) fn observe(&self, value: f64) {
        let shared = &*self.0;
        let counts = shared.threads.get_or(|| Counts {
            buckets: shared.bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0.0_f64.to_bits()),
        });
        let bucket = shared.bounds.iter().position(|bound| value <= *bound).unwrap_or(shared.bounds.len() - 1);
        add(&counts.buckets[bucket], 1);
        let sum = f64::from_bits(counts.sum.load(Ordering::Relaxed)) + value;
        counts.sum.store(sum.to_bits(), Ordering::Relaxed);
    }

    /// The sum, count and per-bucket counts over every thread.
    fn totals(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let shared = &*self.0;
        let mut buckets: Vec<(f64, u64)> = shared.bounds.iter().map(|bound| (*bound, 0)).collect();
        let mut sum = 0.0;
        for counts in shared.threads.iter() {
            for (total, n) in buckets.iter_mut().zip(counts.buckets.iter()) {
                total.1 += n.load(Ordering::Relaxed);
            }
            sum += f64::from_bits(counts.sum.load(Ordering::Relaxed));
        }
        let count = buckets.iter().map(|(_, n)| n).sum();
        (sum, count, buckets)
    }
}

impl std::fmt::Debug for LocalHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (sum, count, _) = self.totals();
        f.debug_struct("LocalHistogram").field("count", &count).field("sum", &sum).finish()
    }
}

impl TypedMetric for LocalHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LocalHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.totals();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Registry;

    use super::*;

    fn encoded(name: &str, metric: impl EncodeMetric + Send + Sync + std::fmt::Debug + 'static) -> String {
        let mut registry = Registry::default();
        registry.register(name, "A histogram", metric);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn threads_record_apart_and_are_scraped_together_as_one_histogram_would_be() {
        // Powers of two add up exactly in any order, as the threads' sums are added here.
        let bounds = [0.25, 1.0, 4.0];
        let local = LocalHistogram::new(bounds);
        let shared = Histogram::new(bounds);
        let values = [0.125, 0.5, 0.5, 2.0, 8.0, 1.0];
        std::thread::scope(|scope| {
            for chunk in values.chunks(2) {
                let local = local.clone();
                scope.spawn(move || chunk.iter().for_each(|v| local.observe(*v)));
            }
        });
        values.iter().for_each(|v| shared.observe(*v));
        assert_eq!(encoded("latency", local), encoded("latency", shared));
    }
}
