//! Choosing a deployment for each attempt at a request: weighted random among those that
//! are healthy (circuit breaker closed, or half-open with its one probe free), not cooling
//! down after the model server said it was throttling (HTTP 429), and have room under their
//! own limits, preferring ones this request has not tried yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use purser_domain::Id;
use rand::Rng;

use crate::histogram::LocalHistogram;
use crate::limits::Bucket;
use crate::upstream::Target;

/// When a deployment's breaker opens, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// Consecutive failed attempts that open the breaker.
    pub failures: u32,
    /// How long an open breaker refuses traffic before letting one probe through.
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self { failures: 5, cooldown: Duration::from_secs(10) }
    }
}

/// A circuit breaker. Closed: traffic flows and consecutive failures are counted. Open
/// (after `failures` in a row): no traffic until the cooldown ends. Half-open: exactly one
/// request probes the deployment; success closes the breaker, failure opens it again.
#[derive(Debug, Default)]
pub struct Breaker {
    failures: AtomicU32,
    /// Milliseconds; 0 while closed.
    open_until: AtomicI64,
    probing: AtomicBool,
    /// Milliseconds: the model server asked (HTTP 429, `Retry-After`) not to be sent
    /// requests before then. Throttling is not failing: the breaker's count is untouched.
    cool_until: AtomicI64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Closed,
    /// Throttled by its model server for this many more milliseconds.
    CoolingDown(u64),
    /// Open, but the cooldown is over and no probe is out: the next request may probe.
    ProbeDue,
    /// Refusing traffic for this many more milliseconds (0: until the probe out returns).
    Open(u64),
}

impl Breaker {
    pub fn health(&self, now_ms: i64) -> Health {
        let cool = self.cool_until.load(Ordering::Acquire);
        if cool > now_ms {
            return Health::CoolingDown(u64::try_from(cool - now_ms).unwrap_or(0));
        }
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            Health::Closed
        } else if now_ms < until {
            Health::Open(u64::try_from(until - now_ms).unwrap_or(0))
        } else if self.probing.load(Ordering::Acquire) {
            Health::Open(0)
        } else {
            Health::ProbeDue
        }
    }

    fn claim_probe(&self) -> bool {
        self.probing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    fn succeeded(&self) {
        self.failures.store(0, Ordering::Release);
        self.open_until.store(0, Ordering::Release);
        self.probing.store(false, Ordering::Release);
    }

    fn failed(&self, probe: bool, now_ms: i64, policy: BreakerPolicy) {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if probe || failures >= policy.failures {
            let cooldown = i64::try_from(policy.cooldown.as_millis()).unwrap_or(i64::MAX);
            self.open_until.store(now_ms.saturating_add(cooldown).max(1), Ordering::Release);
        }
        if probe {
            self.probing.store(false, Ordering::Release);
        }
    }

    fn release_probe(&self) {
        self.probing.store(false, Ordering::Release);
    }

    fn cool_down(&self, until_ms: i64) {
        self.cool_until.fetch_max(until_ms, Ordering::AcqRel);
    }
}

/// A deployment's own limits.
#[derive(Debug)]
pub struct DeploymentLimits {
    pub rpm: Option<Bucket>,
    pub tpm: Option<Bucket>,
}

impl DeploymentLimits {
    fn same_limits(&self, rpm: Option<u32>, tpm: Option<u32>) -> bool {
        self.rpm.as_ref().map(Bucket::limit) == rpm && self.tpm.as_ref().map(Bucket::limit) == tpm
    }

    /// Milliseconds until this deployment has room, or 0 if it has room now.
    fn wait_ms(&self, now_ms: i64) -> u64 {
        let rpm = self.rpm.as_ref().map_or(Ok(()), |b| b.peek(1, now_ms));
        let tpm = self.tpm.as_ref().map_or(Ok(()), |b| b.check(now_ms).map(drop));
        rpm.err().unwrap_or(0).max(tpm.err().unwrap_or(0))
    }
}

/// One place a model's requests can go. Its breaker and limits outlive reloads of the model.
#[derive(Debug)]
pub struct Deployment {
    pub id: Id,
    pub upstream_model: String,
    pub target: Target,
    pub weight: u32,
    pub breaker: Arc<Breaker>,
    pub limits: Arc<DeploymentLimits>,
    /// Time to the model server's response head.
    pub(crate) latency: LocalHistogram,
}

impl Deployment {
    /// Builds a deployment, keeping the breaker (always) and limit counters (while the
    /// limits are unchanged) of `previous`, its earlier version.
    pub(crate) fn new(
        d: &purser_domain::model::Deployment,
        target: Target,
        previous: Option<&Deployment>,
        latency: LocalHistogram,
        now_ms: i64,
    ) -> Self {
        let limits = match previous {
            Some(p) if p.limits.same_limits(d.rpm_limit, d.tpm_limit) => Arc::clone(&p.limits),
            _ => Arc::new(DeploymentLimits {
                rpm: d.rpm_limit.map(|l| Bucket::new(l, now_ms)),
                tpm: d.tpm_limit.map(|l| Bucket::new(l, now_ms)),
            }),
        };
        Self {
            id: d.id,
            upstream_model: d.upstream_model.clone(),
            target,
            weight: d.weight.max(1),
            breaker: previous.map_or_else(Arc::default, |p| Arc::clone(&p.breaker)),
            limits,
            latency,
        }
    }
}

/// Why no deployment could take an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable {
    /// Milliseconds until one may be available.
    pub retry_after_ms: u64,
    /// None is broken: each is throttled (by its model server, or its own limits).
    pub throttled: bool,
}

/// An attempt holds its deployment's request slot (and probe, if it is one) until it is
/// settled; if it is dropped unsettled (the client went away), a probe is released.
#[must_use]
pub struct Attempt<'a> {
    pub index: usize,
    pub deployment: &'a Deployment,
    probe: bool,
    settled: bool,
}

impl Attempt<'_> {
    pub fn succeeded(mut self) {
        self.settled = true;
        if self.probe || self.deployment.breaker.failures.load(Ordering::Relaxed) > 0 {
            self.deployment.breaker.succeeded();
        }
    }

    pub fn failed(mut self, now_ms: i64, policy: BreakerPolicy) {
        self.settled = true;
        self.deployment.breaker.failed(self.probe, now_ms, policy);
    }

    /// The model server is throttling: send it nothing for `pause` (a probe's slot is
    /// freed without deciding the breaker either way).
    pub fn throttled(mut self, now_ms: i64, pause: Duration) {
        self.settled = true;
        let pause_ms = i64::try_from(pause.as_millis()).unwrap_or(i64::MAX);
        self.deployment.breaker.cool_down(now_ms.saturating_add(pause_ms));
        if self.probe {
            self.deployment.breaker.release_probe();
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled && self.probe {
            self.deployment.breaker.release_probe();
        }
    }
}

/// Picks a deployment for the next attempt. `tried` has bit `i` set for each deployment
/// this request already tried; untried ones are preferred, tried ones are the fallback.
pub fn pick(deployments: &[Deployment], tried: u32, now_ms: i64) -> Result<Attempt<'_>, Unavailable> {
    let mut soonest = u64::MAX;
    let mut broken = false;
    // Candidates: (index, weight, needs a probe). At most 16 deployments per model.
    let mut candidates: Vec<(usize, u32, bool)> = Vec::with_capacity(deployments.len());
    for (i, d) in deployments.iter().enumerate() {
        let probe = match d.breaker.health(now_ms) {
            Health::Closed => false,
            Health::ProbeDue => true,
            Health::CoolingDown(ms) => {
                soonest = soonest.min(ms.max(1));
                continue;
            }
            Health::Open(ms) => {
                soonest = soonest.min(ms.max(1));
                broken = true;
                continue;
            }
        };
        match d.limits.wait_ms(now_ms) {
            0 => candidates.push((i, d.weight, probe)),
            ms => soonest = soonest.min(ms),
        }
    }
    let untried = candidates.iter().any(|(i, _, _)| tried & (1 << i) == 0);
    if untried {
        candidates.retain(|(i, _, _)| tried & (1 << i) == 0);
    }
    let mut rng = rand::thread_rng();
    while !candidates.is_empty() {
        let total: u32 = candidates.iter().map(|c| c.1).sum();
        let mut ticket = rng.gen_range(0..total);
        let chosen = candidates
            .iter()
            .position(|c| {
                if ticket < c.1 {
                    return true;
                }
                ticket -= c.1;
                false
            })
            .unwrap_or(0);
        let (index, _, probe) = candidates.swap_remove(chosen);
        let deployment = &deployments[index];
        if probe && !deployment.breaker.claim_probe() {
            continue; // another request took the probe
        }
        if let Some(rpm) = &deployment.limits.rpm
            && let Err(ms) = rpm.take(1, now_ms)
        {
            if probe {
                deployment.breaker.release_probe();
            }
            soonest = soonest.min(ms);
            continue;
        }
        return Ok(Attempt { index, deployment, probe, settled: false });
    }
    Err(Unavailable { retry_after_ms: if soonest == u64::MAX { 1000 } else { soonest }, throttled: !broken })
}

#[cfg(test)]
mod tests {
    use purser_domain::Timestamp;

    use super::*;

    fn deployment(id: i64, weight: u32, rpm: Option<u32>) -> Deployment {
        let d = purser_domain::model::Deployment {
            id: Id::from_i64(id),
            model_id: Id::from_i64(1),
            upstream_url: format!("http://server-{id}:8000/v1"),
            upstream_model: "m".into(),
            upstream_api_key: None,
            weight,
            rpm_limit: rpm,
            tpm_limit: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        };
        let latency = LocalHistogram::new([1.0]);
        Deployment::new(&d, Target::new(&d.upstream_url, None, None).unwrap(), None, latency, 0)
    }

    const POLICY: BreakerPolicy = BreakerPolicy { failures: 3, cooldown: Duration::from_secs(10) };

    #[test]
    fn traffic_follows_the_weights() {
        let deployments = [deployment(1, 1, None), deployment(2, 3, None)];
        let mut counts = [0; 2];
        for _ in 0..20_000 {
            let attempt = pick(&deployments, 0, 0).unwrap();
            counts[attempt.index] += 1;
            attempt.succeeded();
        }
        let share = f64::from(counts[1]) / 20_000.0;
        assert!((0.72..0.78).contains(&share), "weight 3 of 4 got {share}");
    }

    #[test]
    fn untried_deployments_come_first_then_tried_ones_again() {
        let deployments = [deployment(1, 1000, None), deployment(2, 1, None)];
        for _ in 0..100 {
            assert_eq!(pick(&deployments, 0b01, 0).unwrap().index, 1);
        }
        assert!(pick(&deployments, 0b11, 0).is_ok(), "with everything tried, retry among all");
    }

    #[test]
    fn breaker_opens_after_repeated_failures_and_one_probe_closes_it() {
        let deployments = [deployment(1, 1, None)];
        for _ in 0..3 {
            pick(&deployments, 0, 0).unwrap().failed(0, POLICY);
        }
        assert_eq!(pick(&deployments, 0, 5_000).err(), Some(Unavailable { retry_after_ms: 5_000, throttled: false }));
        // Cooldown over: exactly one probe goes through at a time.
        let probe = pick(&deployments, 0, 10_000).unwrap();
        assert!(pick(&deployments, 0, 10_001).is_err(), "a second request waits for the probe");
        probe.failed(10_002, POLICY);
        assert!(pick(&deployments, 0, 15_000).is_err(), "a failed probe opens the breaker again");
        pick(&deployments, 0, 20_002).unwrap().succeeded();
        for _ in 0..10 {
            pick(&deployments, 0, 20_003).unwrap().succeeded();
        }
    }

    #[test]
    fn an_abandoned_probe_frees_the_slot() {
        let deployments = [deployment(1, 1, None)];
        for _ in 0..3 {
            pick(&deployments, 0, 0).unwrap().failed(0, POLICY);
        }
        drop(pick(&deployments, 0, 10_000).unwrap());
        assert!(pick(&deployments, 0, 10_001).is_ok());
    }

    #[test]
    fn a_throttling_server_cools_down_for_its_retry_after_without_tripping_the_breaker() {
        let deployments = [deployment(1, 1000, None), deployment(2, 1, None)];
        let attempt = pick(&deployments, 0b10, 0).unwrap();
        assert_eq!(attempt.index, 0);
        attempt.throttled(0, Duration::from_secs(2));
        // Cooling, the first is passed over: its weight no longer counts.
        for _ in 0..50 {
            let attempt = pick(&deployments, 0, 1_000).unwrap();
            assert_eq!(attempt.index, 1);
            attempt.succeeded();
        }
        let only = [deployment(3, 1, None)];
        for now in 0..10 {
            pick(&only, 0, now * 2_000).unwrap().throttled(now * 2_000, Duration::from_secs(2));
        }
        assert_eq!(pick(&only, 0, 18_500).err(), Some(Unavailable { retry_after_ms: 1_500, throttled: true }));
        // After the pause it takes requests again: ten throttles opened no breaker.
        pick(&deployments, 0b10, 2_000).unwrap().succeeded();
        pick(&only, 0, 20_000).unwrap().succeeded();
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let deployments = [deployment(1, 1, None)];
        for _ in 0..10 {
            pick(&deployments, 0, 0).unwrap().failed(0, POLICY);
            pick(&deployments, 0, 0).unwrap().failed(0, POLICY);
            pick(&deployments, 0, 0).unwrap().succeeded();
        }
        assert!(pick(&deployments, 0, 0).is_ok());
    }

    #[test]
    fn a_deployment_at_its_rate_limit_is_passed_over() {
        let deployments = [deployment(1, 1000, Some(2)), deployment(2, 1, None)];
        let mut first = 0;
        for _ in 0..50 {
            let attempt = pick(&deployments, 0, 0).unwrap();
            first += usize::from(attempt.index == 0);
            attempt.succeeded();
        }
        assert_eq!(first, 2, "two requests per minute, then the other deployment");
        let only = [deployment(3, 1, Some(1))];
        pick(&only, 0, 0).unwrap().succeeded();
        let wait = pick(&only, 0, 0).err().unwrap().retry_after_ms;
        assert!((59_000..=60_000).contains(&wait), "{wait}");
    }
}
