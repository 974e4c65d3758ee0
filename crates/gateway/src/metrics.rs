//! Gateway metrics. Handles for each model are looked up once, when the model is loaded,
//! so the request path only bumps atomics.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

#[derive(Clone)]
pub(crate) struct GatewayMetrics {
    requests: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    pub(crate) duration: Histogram,
    pub(crate) overhead: Histogram,
}

/// One model's counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModelMetrics {
    pub(crate) ok: Counter,
    pub(crate) prompt_tokens: Counter,
    pub(crate) completion_tokens: Counter,
}

impl GatewayMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            tokens: Family::default(),
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 18)),
            // 5 µs to 30 ms in steps of 25%: fine enough to read a p99 off.
            overhead: Histogram::new(exponential_buckets(0.000_005, 1.25, 40)),
        };
        registry.register(
            "purser_gateway_requests",
            "Gateway requests by model and HTTP status",
            metrics.requests.clone(),
        );
        registry.register("purser_gateway_tokens", "Tokens metered by model and direction", metrics.tokens.clone());
        registry.register(
            "purser_gateway_request_duration_seconds",
            "Time from request to the end of the answer",
            metrics.duration.clone(),
        );
        registry.register(
            "purser_gateway_overhead_seconds",
            "Time an answered request spent in the gateway's own work: from the handler receiving it to \
             handing back the answer, less the time spent waiting on model servers (calls and retry pauses)",
            metrics.overhead.clone(),
        );
        metrics
    }

    pub(crate) fn for_model(&self, model: &str) -> ModelMetrics {
        let tokens = |direction: &str| {
            self.tokens.get_or_create(&vec![("model", model.to_owned()), ("direction", direction.to_owned())]).clone()
        };
        ModelMetrics {
            ok: self.requests.get_or_create(&vec![("model", model.to_owned()), ("status", "200".into())]).clone(),
            prompt_tokens: tokens("prompt"),
            completion_tokens: tokens("completion"),
        }
    }

    /// Counts a request that did not end in 200 (rare enough to look the counter up).
    pub(crate) fn count_status(&self, model: &str, status: u16) {
        self.requests.get_or_create(&vec![("model", model.to_owned()), ("status", status.to_string())]).inc();
    }
}
