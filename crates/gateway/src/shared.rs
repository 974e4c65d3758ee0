//! Limits and spend shared by every replica through Redis.
//!
//! The request path never waits for Redis: each replica admits from its own counters, as
//! on a single replica, and a background round every `interval` tells Redis what this
//! replica used since the last round and hears back what the others used. For requests
//! and tokens per minute, a bucket leaves room for what the other replicas used in the
//! last minute; a budget's spend is the period's total over all replicas.
//!
//! Only scopes (keys, teams, users with limits) used here recently take part in the
//! rounds, so a million keys cost nothing while idle.
//!
//! In Redis, per scope: a hash per 10-second slot holding each replica's requests and
//! tokens (`r:<replica>`, `t:<replica>`) and its latest count of requests in flight
//! (`p:<replica>`), kept for just over a minute; and the spend of the current budget
//! period, kept until the period is over. A replica is named afresh at each start, so a
//! restart does not forget the last minute's use; a replica that dies with requests in
//! flight is counted as still holding them until its slot is no longer read (20 s at most).
//!
//! What this gives: on one replica, limits are exact. Across replicas, a replica learns
//! of the others' use within one round, so the most a scope can be over-admitted is what
//! the other replicas admit for it during one round (and, for a budget, the cost of
//! requests in flight, as on one replica). A replica serving a scope for the first time
//! admits that request before it has heard from the others; a round starts at once. If
//! Redis is unreachable each replica goes on with its own counts and tells Redis what it
//! missed once it is back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use purser_domain::org::BudgetPeriod;
use purser_domain::{Clock, Timestamp};
use redis::aio::ConnectionManager;

use crate::governor::{Governor, PeriodSpend, SpendDelta};
use crate::limits::Bucket;

const SLOT_MS: i64 = 10_000;
/// Slots read back: the six that make up the last minute and the one it starts in.
const SLOTS: i64 = 7;
/// Rounds without any use after which a scope stops taking part.
const IDLE_AFTER: Duration = Duration::from_secs(90);
/// Scopes sent to Redis in one pipeline.
const BATCH: usize = 256;

/// Adds this replica's use to the current slot, reads every slot's use by the other
/// replicas, and adds this replica's spend to the period's.
///
/// KEYS: the slots, oldest first (the last is the current one), then the spend's key.
/// ARGV: replica, requests, tokens, spend, spend before (to start a count that is
/// missing), slot lifetime (ms), spend lifetime (ms, 0: no budget), requests in flight
/// (-1: no limit on them).
/// Returns, per slot, the other replicas' requests and tokens; then the period's spend
/// and the other replicas' requests in flight (each replica's latest word on them, from
/// the last two slots).
const ROUND: &str = r"
local me = ARGV[1]
local requests, tokens, in_flight = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[8])
local slots = #KEYS - 1
local current = KEYS[slots]
if requests ~= 0 then redis.call('HINCRBY', current, 'r:' .. me, requests) end
if tokens ~= 0 then redis.call('HINCRBY', current, 't:' .. me, tokens) end
if in_flight >= 0 then redis.call('HSET', current, 'p:' .. me, in_flight) end
if requests ~= 0 or tokens ~= 0 or in_flight >= 0 then redis.call('PEXPIRE', current, ARGV[6]) end
local out, parallel = {}, {}
for i = 1, slots do
  local r, t = 0, 0
  local fields = redis.call('HGETALL', KEYS[i])
  for j = 1, #fields, 2 do
    local name, value = fields[j], tonumber(fields[j + 1])
    local kind, replica = string.sub(name, 1, 1), string.sub(name, 3)
    if replica ~= me then
      if kind == 'r' then r = r + value
      elseif kind == 't' then t = t + value
      elseif i >= slots - 1 then parallel[replica] = value end
    end
  end
  out[#out + 1] = r
  out[#out + 1] = t
end
local spend = 0
if ARGV[7] ~= '0' then
  local key = KEYS[slots + 1]
  if redis.call('EXISTS', key) == 0 then redis.call('SET', key, ARGV[5]) end
  spend = redis.call('INCRBY', key, ARGV[4])
  redis.call('PEXPIRE', key, ARGV[7])
end
out[#out + 1] = spend
local others_in_flight = 0
for _, n in pairs(parallel) do others_in_flight = others_in_flight + n end
out[#out + 1] = others_in_flight
return out
";

#[derive(Debug, Clone)]
pub struct SharedConfig {
    /// `redis://…`
    pub url: String,
    /// Prefix of every Redis key.
    pub prefix: String,
    /// How often replicas exchange their counts.
    pub interval: Duration,
}

/// A scope taking part in the rounds.
struct Member {
    governor: Arc<Governor>,
    idle_rounds: u32,
}

/// What one member hands to one round.
struct Taken {
    scope: Arc<str>,
    rpm: Option<(Arc<Bucket>, i64)>,
    tpm: Option<(Arc<Bucket>, i64)>,
    spend: Option<(Arc<PeriodSpend>, SpendDelta)>,
    /// For a scope with a limit on requests in flight: this replica's.
    in_flight: Option<(Arc<Governor>, u32)>,
}

impl Taken {
    fn is_empty(&self) -> bool {
        self.rpm.as_ref().is_none_or(|(_, n)| *n == 0)
            && self.tpm.as_ref().is_none_or(|(_, n)| *n == 0)
            && self.spend.as_ref().is_none_or(|(_, d)| d.delta == 0)
            && self.in_flight.as_ref().is_none_or(|(_, n)| *n == 0)
    }

    /// Gives back what could not be told, to be told next round.
    fn restore(self, now: Timestamp) {
        if let Some((bucket, n)) = self.rpm {
            bucket.restore_unshared(n);
        }
        if let Some((bucket, n)) = self.tpm {
            bucket.restore_unshared(n);
        }
        if let Some((spend, delta)) = self.spend {
            spend.restore_unshared(delta, now);
        }
    }
}

/// How the rounds go, for `/metrics`.
#[derive(Clone, Default)]
struct RoundMetrics {
    ok: Counter,
    failed: Counter,
    scopes: Gauge,
}

pub struct SharedCounters {
    connection: ConnectionManager,
    script: redis::Script,
    prefix: String,
    /// Tells this replica's counts apart from the others' (a new one each start).
    replica: String,
    interval: Duration,
    clock: Arc<dyn Clock>,
    members: Mutex<HashMap<Arc<str>, Member>>,
    /// Starts a round early when a scope joins, so it hears the others' counts soon.
    joined: tokio::sync::Notify,
    metrics: RoundMetrics,
}

impl SharedCounters {
    pub async fn connect(
        config: &SharedConfig,
        clock: Arc<dyn Clock>,
        registry: &mut Registry,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(config.url.as_str())?;
        let connection = ConnectionManager::new(client).await?;
        let metrics = RoundMetrics::default();
        registry.register(
            "purser_shared_limit_rounds",
            "Exchanges of gateway counts with the other replicas through Redis",
            metrics.ok.clone(),
        );
        registry.register(
            "purser_shared_limit_round_failures",
            "Exchanges that failed (Redis unreachable); counts are kept and sent later",
            metrics.failed.clone(),
        );
        registry.register(
            "purser_shared_limit_scopes",
            "Keys, teams and users whose counts this replica exchanges",
            metrics.scopes.clone(),
        );
        Ok(Self {
            connection,
            script: redis::Script::new(ROUND),
            prefix: config.prefix.clone(),
            replica: format!("{:016x}", rand::random::<u64>()),
            interval: config.interval,
            clock,
            members: Mutex::new(HashMap::new()),
            joined: tokio::sync::Notify::new(),
            metrics,
        })
    }

    /// Makes sure `governor`'s counts take part in the rounds. Called for each scope of an
    /// admitted request; costs one atomic load once the scope takes part.
    pub fn join(&self, kind: char, id: impl std::fmt::Display, governor: &Arc<Governor>) {
        use std::sync::atomic::Ordering;
        if governor.shared.load(Ordering::Acquire)
            || !governor.has_shared_limits()
            || governor.shared.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let scope: Arc<str> = format!("{kind}{id}").into();
        let member = Member { governor: Arc::clone(governor), idle_rounds: 0 };
        // A reloaded scope's new governor replaces the old one (they share their counters).
        self.members.lock().expect("members poisoned").insert(scope, member);
        self.joined.notify_one();
    }

    /// Runs the rounds until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        // Joining scopes hurry the next round, but a stream of new keys must not turn into
        // back-to-back rounds: early ones keep a fifth of the interval apart.
        let early_gap = self.interval / 5;
        let mut last_round = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.joined.notified() => tokio::time::sleep_until(last_round + early_gap).await,
            }
            last_round = tokio::time::Instant::now();
            let outcome = self.round().await;
            let counter = if outcome.is_ok() { &self.metrics.ok } else { &self.metrics.failed };
            counter.inc();
            match outcome {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("shared limits: Redis is reachable again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "shared limits: Redis unreachable; counting on this replica alone until it is back");
                }
                Err(_) => {}
            }
        }
    }

    /// Takes this replica's unshared use from every member, and drops members idle for long.
    fn take_all(&self, now: Timestamp) -> Vec<Taken> {
        let idle_rounds = (IDLE_AFTER.as_millis() / self.interval.as_millis().max(1)) as u32;
        let mut members = self.members.lock().expect("members poisoned");
        let mut taken = Vec::with_capacity(members.len());
        members.retain(|scope, member| {
            let g = &member.governor;
            let t = Taken {
                scope: Arc::clone(scope),
                rpm: g.rpm_bucket().map(|b| (Arc::clone(b), b.take_unshared())),
                tpm: g.tpm_bucket().map(|b| (Arc::clone(b), b.take_unshared())),
                spend: g.spec.budget.map(|_| (Arc::clone(g.period_spend()), g.period_spend().take_unshared(now))),
                in_flight: g.spec.max_parallel.map(|_| (Arc::clone(g), g.in_flight())),
            };
            member.idle_rounds = if t.is_empty() { member.idle_rounds + 1 } else { 0 };
            if member.idle_rounds > idle_rounds {
                // Nothing used here for a while: stop exchanging (the next request rejoins).
                for bucket in [g.rpm_bucket(), g.tpm_bucket()].into_iter().flatten() {
                    bucket.set_others(0);
                }
                g.in_flight_counts().others.store(0, std::sync::atomic::Ordering::Release);
                g.shared.store(false, std::sync::atomic::Ordering::Release);
                return false;
            }
            taken.push(t);
            true
        });
        self.metrics.scopes.set(i64::try_from(members.len()).unwrap_or(i64::MAX));
        taken
    }

    async fn round(&self) -> Result<(), redis::RedisError> {
        let now = self.clock.now();
        let mut taken = self.take_all(now);
        while !taken.is_empty() {
            let batch: Vec<Taken> = taken.drain(..taken.len().min(BATCH)).collect();
            let replies = match self.exchange(&batch, now).await {
                Ok(replies) => replies,
                Err(e) => {
                    let rest = batch.into_iter().chain(taken);
                    rest.for_each(|t| t.restore(now));
                    return Err(e);
                }
            };
            for (t, reply) in batch.iter().zip(replies) {
                apply(t, &reply, now);
            }
        }
        Ok(())
    }

    async fn exchange(&self, batch: &[Taken], now: Timestamp) -> Result<Vec<Vec<i64>>, redis::RedisError> {
        let now_ms = now.as_millis();
        let slot = now_ms.div_euclid(SLOT_MS);
        let slot_ttl = SLOT_MS * (SLOTS + 1);
        let mut pipe = redis::pipe();
        for t in batch {
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(self.script.get_hash()).arg(SLOTS + 1);
            for s in slot - SLOTS + 1..=slot {
                cmd.arg(format!("{}gw:{}:{s}", self.prefix, t.scope));
            }
            let (spend_key, delta, before, spend_ttl) = match &t.spend {
                Some((spend, d)) => {
                    let start = d.start.as_millis();
                    let key = format!("{}gw:{}:spend:{start}", self.prefix, t.scope);
                    (key, d.delta, d.before, spend_ttl_ms(spend))
                }
                None => (format!("{}gw:{}:spend", self.prefix, t.scope), 0, 0, 0),
            };
            let count = |b: &Option<(Arc<Bucket>, i64)>| b.as_ref().map_or(0, |(_, n)| *n);
            cmd.arg(spend_key)
                .arg(&self.replica)
                .arg(count(&t.rpm))
                .arg(count(&t.tpm))
                .arg(delta)
                .arg(before)
                .arg(slot_ttl)
                .arg(spend_ttl)
                .arg(t.in_flight.as_ref().map_or(-1, |(_, n)| i64::from(*n)));
            pipe.add_command(cmd);
        }
        let mut connection = self.connection.clone();
        match pipe.query_async(&mut connection).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                // Redis restarted (or flushed its scripts): load it and go again.
                self.script.load_async(&mut connection).await?;
                pipe.query_async(&mut connection).await
            }
            other => other,
        }
    }
}

/// How long a period's shared spend is kept after its last use: at least a day longer
/// than the period (40 days for an all-time budget, which the database keeps anyway).
fn spend_ttl_ms(spend: &PeriodSpend) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    DAY_MS
        * match spend.period() {
            Some(BudgetPeriod::Daily) => 2,
            Some(BudgetPeriod::Weekly) => 8,
            Some(BudgetPeriod::Monthly) => 32,
            None => 40,
        }
}

/// Takes in what a round heard back for one scope.
fn apply(t: &Taken, reply: &[i64], now: Timestamp) {
    let slots = SLOTS as usize;
    if reply.len() != 2 * slots + 2 {
        return;
    }
    // The oldest slot is only partly within the last minute.
    let into_current = now.as_millis().rem_euclid(SLOT_MS);
    let oldest_share = (SLOT_MS - into_current) as f64 / SLOT_MS as f64;
    let last_minute = |offset: usize| {
        let oldest = reply[offset] as f64 * oldest_share;
        let rest: i64 = (1..slots).map(|i| reply[2 * i + offset]).sum();
        rest + oldest.round() as i64
    };
    if let Some((bucket, _)) = &t.rpm {
        bucket.set_others(last_minute(0));
    }
    if let Some((bucket, _)) = &t.tpm {
        bucket.set_others(last_minute(1));
    }
    if let Some((spend, delta)) = &t.spend {
        spend.merge_shared(delta.start, reply[2 * slots], now);
    }
    if let Some((governor, _)) = &t.in_flight {
        let others = u32::try_from(reply[2 * slots + 1]).unwrap_or(0);
        governor.in_flight_counts().others.store(others, std::sync::atomic::Ordering::Release);
    }
}
