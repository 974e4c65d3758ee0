//! The gateway's in-memory view of keys and models. Requests read these and never wait on
//! the database; use cases update them through [`crate::Gateway`]'s change listener.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use purser_domain::model::{Capability, ProviderKind};
use purser_domain::org::BudgetPeriod;
use purser_domain::{Id, Timestamp, TokenPrice, Usd};
use purser_services::crypto::digest_bytes;
use purser_services::feed::{GatewayTeam, RoutedModel};

use crate::metrics::{GatewayMetrics, ModelMetrics};
use crate::routing::Deployment;
use crate::upstream::Target;
use purser_store::api_keys::GatewayKey;

use crate::limits::Bucket;

pub type SecretDigest = [u8; 32];

/// Counters that belong to a key for as long as the process runs; they survive reloads of
/// the key's settings.
#[derive(Debug)]
pub struct KeyCounters {
    /// Spend in nano-dollars: the stored spend at load plus every cost metered since.
    pub spend: AtomicI64,
    pub rpm: Option<Bucket>,
    pub tpm: Option<Bucket>,
}

#[derive(Debug)]
pub struct KeyEntry {
    pub id: Id,
    pub user_id: Id,
    pub team_id: Option<Id>,
    pub model_ids: Vec<Id>,
    pub max_budget: Option<Usd>,
    pub expires_at: Option<Timestamp>,
    pub counters: Arc<KeyCounters>,
}

impl KeyEntry {
    pub fn allows(&self, model_id: Id) -> bool {
        self.model_ids.contains(&model_id)
    }

    pub fn spend(&self) -> Usd {
        Usd::from_nanos(self.counters.spend.load(Ordering::Relaxed))
    }
}

#[derive(Default)]
struct KeyMaps {
    by_digest: HashMap<SecretDigest, Arc<KeyEntry>>,
    digest_of: HashMap<Id, SecretDigest>,
}

#[derive(Default)]
pub struct KeyTable {
    maps: RwLock<KeyMaps>,
}

fn decode_digest(hex_digest: &str) -> Option<SecretDigest> {
    let bytes = hex_digest.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

impl KeyTable {
    pub fn lookup(&self, secret: &str) -> Option<Arc<KeyEntry>> {
        let digest = digest_bytes(secret.as_bytes());
        self.maps.read().expect("key table poisoned").by_digest.get(&digest).cloned()
    }

    /// Replaces every key (after a full reload), keeping the counters of keys that stay.
    pub fn replace_all(&self, keys: Vec<GatewayKey>, now: Timestamp) {
        let mut fresh = KeyMaps::default();
        {
            let old = self.maps.read().expect("key table poisoned");
            for key in keys {
                let previous = old.digest_of.get(&key.key.id).and_then(|d| old.by_digest.get(d));
                if let Some((digest, entry)) = Self::entry(&key, previous.map(Arc::as_ref), now) {
                    fresh.digest_of.insert(entry.id, digest);
                    fresh.by_digest.insert(digest, entry);
                }
            }
        }
        *self.maps.write().expect("key table poisoned") = fresh;
    }

    /// Adds, updates or (when unusable) removes one key.
    pub fn upsert(&self, key: GatewayKey, now: Timestamp) {
        let mut maps = self.maps.write().expect("key table poisoned");
        let previous = maps.digest_of.get(&key.key.id).and_then(|d| maps.by_digest.get(d)).cloned();
        if let Some(old_digest) = maps.digest_of.remove(&key.key.id) {
            maps.by_digest.remove(&old_digest);
        }
        if let Some((digest, entry)) = Self::entry(&key, previous.as_deref(), now) {
            maps.digest_of.insert(entry.id, digest);
            maps.by_digest.insert(digest, entry);
        }
    }

    pub fn len(&self) -> usize {
        self.maps.read().expect("key table poisoned").by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry for a usable key, or `None` for a revoked key or one whose owner is inactive.
    fn entry(key: &GatewayKey, previous: Option<&KeyEntry>, now: Timestamp) -> Option<(SecretDigest, Arc<KeyEntry>)> {
        let k = &key.key;
        if k.revoked_at.is_some() || !key.owner_active {
            return None;
        }
        let digest = decode_digest(&key.secret_hash)?;
        let counters = match previous {
            // Same limits: keep the live counters. Changed limits: new buckets, same spend.
            Some(p) if bucket_limit(&p.counters.rpm) == k.rpm_limit && bucket_limit(&p.counters.tpm) == k.tpm_limit => {
                Arc::clone(&p.counters)
            }
            previous => Arc::new(KeyCounters {
                spend: AtomicI64::new(
                    previous.map_or(k.spend.nanos(), |p| p.counters.spend.load(Ordering::Relaxed).max(k.spend.nanos())),
                ),
                rpm: k.rpm_limit.map(|l| Bucket::new(l, now.as_millis())),
                tpm: k.tpm_limit.map(|l| Bucket::new(l, now.as_millis())),
            }),
        };
        let entry = KeyEntry {
            id: k.id,
            user_id: k.user_id,
            team_id: k.team_id,
            model_ids: k.model_ids.clone(),
            max_budget: k.max_budget,
            expires_at: k.expires_at,
            counters,
        };
        Some((digest, Arc::new(entry)))
    }
}

/// A team's spend in its current budget period.
#[derive(Debug)]
pub struct PeriodSpend {
    period: Option<BudgetPeriod>,
    /// `(start of the period the spend belongs to, spend in nano-dollars)`.
    state: Mutex<(Timestamp, i64)>,
}

impl PeriodSpend {
    fn new(period: Option<BudgetPeriod>, start: Timestamp, spend: Usd) -> Self {
        Self { period, state: Mutex::new((start, spend.nanos())) }
    }

    /// Spend so far in the period containing `now` (a new period starts at zero).
    pub fn current(&self, now: Timestamp) -> Usd {
        let mut state = self.state.lock().expect("team spend poisoned");
        self.roll(&mut state, now);
        Usd::from_nanos(state.1)
    }

    pub fn add(&self, cost: Usd, now: Timestamp) {
        let mut state = self.state.lock().expect("team spend poisoned");
        self.roll(&mut state, now);
        state.1 = state.1.saturating_add(cost.nanos());
    }

    fn roll(&self, state: &mut (Timestamp, i64), now: Timestamp) {
        if let Some(period) = self.period {
            let start = period.start(now);
            if start > state.0 {
                *state = (start, 0);
            }
        }
    }
}

/// Counters that belong to a team for as long as the process runs.
#[derive(Debug)]
pub struct TeamCounters {
    /// Kept across limit changes while the budget period stays the same.
    pub spend: Arc<PeriodSpend>,
    pub rpm: Option<Bucket>,
    pub tpm: Option<Bucket>,
}

#[derive(Debug)]
pub struct TeamEntry {
    pub id: Id,
    pub name: String,
    pub org_active: bool,
    /// Empty: every model.
    pub model_ids: Vec<Id>,
    pub budget: Option<Usd>,
    pub counters: Arc<TeamCounters>,
}

impl TeamEntry {
    pub fn allows(&self, model: Id) -> bool {
        self.model_ids.is_empty() || self.model_ids.contains(&model)
    }

    fn from_feed(t: GatewayTeam, previous: Option<&TeamEntry>, now: Timestamp) -> Self {
        let team = t.team;
        let counters = match previous {
            // Same limits and period: keep the live counters (they are ahead of the database).
            Some(p)
                if bucket_limit(&p.counters.rpm) == team.rpm_limit
                    && bucket_limit(&p.counters.tpm) == team.tpm_limit
                    && p.counters.spend.period == team.budget_period =>
            {
                Arc::clone(&p.counters)
            }
            previous => Arc::new(TeamCounters {
                spend: match previous {
                    Some(p) if p.counters.spend.period == team.budget_period => Arc::clone(&p.counters.spend),
                    _ => Arc::new(PeriodSpend::new(team.budget_period, t.period_start, t.spend)),
                },
                rpm: team.rpm_limit.map(|l| Bucket::new(l, now.as_millis())),
                tpm: team.tpm_limit.map(|l| Bucket::new(l, now.as_millis())),
            }),
        };
        Self {
            id: team.id,
            name: team.name,
            org_active: t.org_active,
            model_ids: team.model_ids,
            budget: team.budget,
            counters,
        }
    }
}

#[derive(Default)]
pub struct TeamTable {
    teams: RwLock<HashMap<Id, Arc<TeamEntry>>>,
}

impl TeamTable {
    pub fn get(&self, id: Id) -> Option<Arc<TeamEntry>> {
        self.teams.read().expect("team table poisoned").get(&id).cloned()
    }

    pub fn replace_all(&self, teams: Vec<GatewayTeam>, now: Timestamp) {
        let old = self.teams.read().expect("team table poisoned").clone();
        let fresh = teams
            .into_iter()
            .map(|t| {
                let id = t.team.id;
                (id, Arc::new(TeamEntry::from_feed(t, old.get(&id).map(Arc::as_ref), now)))
            })
            .collect();
        *self.teams.write().expect("team table poisoned") = fresh;
    }

    /// Puts a live team in place, or removes one that is gone.
    pub fn apply(&self, id: Id, team: Option<GatewayTeam>, now: Timestamp) {
        let mut teams = self.teams.write().expect("team table poisoned");
        match team {
            Some(t) => {
                let entry = TeamEntry::from_feed(t, teams.get(&id).map(Arc::as_ref), now);
                teams.insert(id, Arc::new(entry));
            }
            None => {
                teams.remove(&id);
            }
        }
    }
}

fn bucket_limit(bucket: &Option<Bucket>) -> Option<u32> {
    bucket.as_ref().map(Bucket::limit)
}

/// A model as the gateway routes it.
#[derive(Debug)]
pub struct Route {
    pub id: Id,
    pub name: String,
    pub provider: String,
    pub kind: ProviderKind,
    /// Empty for the mock provider.
    pub deployments: Vec<Deployment>,
    pub input_cost_per_token: TokenPrice,
    pub output_cost_per_token: TokenPrice,
    pub capabilities: Vec<Capability>,
    pub created_at: Timestamp,
    pub(crate) metrics: ModelMetrics,
}

impl Route {
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> Usd {
        self.input_cost_per_token.cost(prompt_tokens).saturating_add(self.output_cost_per_token.cost(completion_tokens))
    }

    /// Builds the route; deployments it had before (in `previous`) keep their health and
    /// limit counters.
    fn from_routed(routed: RoutedModel, metrics: &GatewayMetrics, previous: Option<&Route>, now: Timestamp) -> Self {
        let m = routed.model;
        let deployments = m
            .deployments
            .iter()
            .zip(&routed.upstream_api_keys)
            .filter_map(|(d, key)| {
                let Some(target) = Target::new(&d.upstream_url, key.as_deref()) else {
                    tracing::error!(model = %m.name, deployment = %d.id, "deployment URL cannot be used; skipping it");
                    return None;
                };
                let before = previous.and_then(|p| p.deployments.iter().find(|old| old.id == d.id));
                Some(Deployment::new(d, target, before, now.as_millis()))
            })
            .collect();
        Self {
            id: m.id,
            kind: m.kind(),
            metrics: metrics.for_model(&m.name),
            name: m.name,
            provider: m.provider,
            deployments,
            input_cost_per_token: m.input_cost_per_token,
            output_cost_per_token: m.output_cost_per_token,
            capabilities: m.capabilities,
            created_at: m.created_at,
        }
    }
}

#[derive(Default)]
struct ModelMaps {
    by_name: HashMap<String, Arc<Route>>,
    by_id: HashMap<Id, Arc<Route>>,
}

pub struct ModelTable {
    maps: RwLock<ModelMaps>,
    metrics: GatewayMetrics,
}

impl ModelTable {
    pub(crate) fn new(metrics: GatewayMetrics) -> Self {
        Self { maps: RwLock::default(), metrics }
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<Route>> {
        self.maps.read().expect("model table poisoned").by_name.get(name).cloned()
    }

    pub fn by_id(&self, id: Id) -> Option<Arc<Route>> {
        self.maps.read().expect("model table poisoned").by_id.get(&id).cloned()
    }

    pub fn replace_all(&self, models: Vec<RoutedModel>, now: Timestamp) {
        let mut fresh = ModelMaps::default();
        for routed in models {
            let previous = self.by_id(routed.model.id);
            let route = Arc::new(Route::from_routed(routed, &self.metrics, previous.as_deref(), now));
            fresh.by_name.insert(route.name.clone(), Arc::clone(&route));
            fresh.by_id.insert(route.id, route);
        }
        *self.maps.write().expect("model table poisoned") = fresh;
    }

    /// Puts a live model in place (its name may have changed) or removes a deleted one.
    pub fn apply(&self, id: Id, routed: Option<RoutedModel>, now: Timestamp) {
        let mut maps = self.maps.write().expect("model table poisoned");
        let previous = maps.by_id.remove(&id);
        if let Some(old) = &previous {
            maps.by_name.remove(&old.name);
        }
        if let Some(routed) = routed {
            let route = Arc::new(Route::from_routed(routed, &self.metrics, previous.as_deref(), now));
            maps.by_name.insert(route.name.clone(), Arc::clone(&route));
            maps.by_id.insert(id, route);
        }
    }
}
