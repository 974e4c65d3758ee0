//! The gateway's in-memory view of keys and models. Requests read these and never wait on
//! the database; use cases update them through [`crate::Gateway`]'s change listener.

use std::sync::{Arc, RwLock};

use purser_domain::model::{Capability, ProviderKind};
use purser_domain::{Id, Timestamp, TokenPrice, Usd};
use purser_services::crypto::digest_bytes;
use purser_services::feed::{GatewayKeyState, GatewayTeam, GatewayUser, RoutedModel};

use crate::metrics::{GatewayMetrics, ModelMetrics};
use crate::routing::Deployment;
use crate::upstream::Target;

use crate::governor::{Governor, LimitSpec};

pub type SecretDigest = [u8; 32];

/// Every request looks up its key, model, team and user here. Their keys are digests, ids
/// and names that only administrators add, so a fast hash (seeded per process) is enough;
/// the standard SipHash cost about 700 more instructions per request.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A usable key. Kept small: there may be millions.
#[derive(Debug)]
pub struct KeyEntry {
    pub id: Id,
    pub user_id: Id,
    pub team_id: Option<Id>,
    pub model_ids: Box<[Id]>,
    pub expires_at: Option<Timestamp>,
    /// `None` for a key without limits or budget of its own (most keys).
    pub governor: Option<Arc<Governor>>,
}

impl KeyEntry {
    pub fn allows(&self, model_id: Id) -> bool {
        self.model_ids.contains(&model_id)
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
    let mut out = [0; 32];
    hex::decode_to_slice(hex_digest, &mut out).ok()?;
    Some(out)
}

impl KeyTable {
    pub fn lookup(&self, secret: &str) -> Option<Arc<KeyEntry>> {
        let digest = digest_bytes(secret.as_bytes());
        self.maps.read().expect("key table poisoned").by_digest.get(&digest).cloned()
    }

    /// Replaces every key (after a full reload), keeping the counters of keys that stay.
    pub fn replace_all(&self, keys: Vec<GatewayKeyState>, now: Timestamp) {
        let mut fresh = KeyMaps {
            by_digest: HashMap::with_capacity_and_hasher(keys.len(), Default::default()),
            digest_of: HashMap::with_capacity_and_hasher(keys.len(), Default::default()),
        };
        {
            let old = self.maps.read().expect("key table poisoned");
            for key in keys {
                let previous = old.digest_of.get(&key.key.id).and_then(|d| old.by_digest.get(d));
                if let Some((digest, entry)) = Self::entry(key, previous.map(Arc::as_ref), now) {
                    fresh.digest_of.insert(entry.id, digest);
                    fresh.by_digest.insert(digest, entry);
                }
            }
        }
        *self.maps.write().expect("key table poisoned") = fresh;
    }

    /// Adds, updates or (when unusable) removes one key.
    pub fn upsert(&self, key: GatewayKeyState, now: Timestamp) {
        let mut maps = self.maps.write().expect("key table poisoned");
        let previous = maps.digest_of.get(&key.key.id).and_then(|d| maps.by_digest.get(d)).cloned();
        if let Some(old_digest) = maps.digest_of.remove(&key.key.id) {
            maps.by_digest.remove(&old_digest);
        }
        if let Some((digest, entry)) = Self::entry(key, previous.as_deref(), now) {
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

    /// Removes a key (revoked, or no longer in the database).
    pub fn remove(&self, key_id: Id) {
        let mut maps = self.maps.write().expect("key table poisoned");
        if let Some(digest) = maps.digest_of.remove(&key_id) {
            maps.by_digest.remove(&digest);
        }
    }

    /// The entry for a usable key, or `None` for a revoked key or one whose owner is inactive.
    fn entry(
        state: GatewayKeyState,
        previous: Option<&KeyEntry>,
        now: Timestamp,
    ) -> Option<(SecretDigest, Arc<KeyEntry>)> {
        let k = state.key;
        if k.revoked || !k.owner_active {
            return None;
        }
        let digest = decode_digest(&k.secret_hash)?;
        let spec = LimitSpec {
            rpm: k.rpm_limit,
            tpm: k.tpm_limit,
            max_parallel: k.max_parallel,
            budget: k.max_budget,
            budget_period: k.budget_period,
        };
        let governor = (spec != LimitSpec::default()).then(|| {
            let previous = previous.and_then(|p| p.governor.as_deref());
            Arc::new(Governor::new(spec, state.spend, state.period_start, previous, now))
        });
        let entry = KeyEntry {
            id: k.id,
            user_id: k.user_id,
            team_id: k.team_id,
            model_ids: k.model_ids.into_boxed_slice(),
            expires_at: k.expires_at,
            governor,
        };
        Some((digest, Arc::new(entry)))
    }
}

#[derive(Debug)]
pub struct TeamEntry {
    pub id: Id,
    pub name: String,
    pub org_active: bool,
    /// Empty: every model.
    pub model_ids: Vec<Id>,
    pub governor: Arc<Governor>,
}

impl TeamEntry {
    pub fn allows(&self, model: Id) -> bool {
        self.model_ids.is_empty() || self.model_ids.contains(&model)
    }

    fn from_feed(t: GatewayTeam, previous: Option<&TeamEntry>, now: Timestamp) -> Self {
        let team = t.team;
        let spec = LimitSpec {
            rpm: team.rpm_limit,
            tpm: team.tpm_limit,
            max_parallel: team.max_parallel,
            budget: team.budget,
            budget_period: team.budget_period,
        };
        let governor = Governor::new(spec, t.spend, t.period_start, previous.map(|p| p.governor.as_ref()), now);
        Self {
            id: team.id,
            name: team.name,
            org_active: t.org_active,
            model_ids: team.model_ids,
            governor: Arc::new(governor),
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

/// Users with limits; a user without an entry has none.
#[derive(Default)]
pub struct UserTable {
    users: RwLock<HashMap<Id, Arc<Governor>>>,
}

impl UserTable {
    pub fn get(&self, id: Id) -> Option<Arc<Governor>> {
        self.users.read().expect("user table poisoned").get(&id).cloned()
    }

    fn governor(u: &GatewayUser, previous: Option<&Arc<Governor>>, now: Timestamp) -> Arc<Governor> {
        let l = &u.limits;
        let spec = LimitSpec {
            rpm: l.rpm_limit,
            tpm: l.tpm_limit,
            max_parallel: l.max_parallel,
            budget: l.max_budget,
            budget_period: l.budget_period,
        };
        Arc::new(Governor::new(spec, u.spend, u.period_start, previous.map(Arc::as_ref), now))
    }

    pub fn replace_all(&self, users: Vec<GatewayUser>, now: Timestamp) {
        let old = self.users.read().expect("user table poisoned").clone();
        let fresh =
            users.iter().map(|u| (u.limits.user_id, Self::governor(u, old.get(&u.limits.user_id), now))).collect();
        *self.users.write().expect("user table poisoned") = fresh;
    }

    /// Puts a user's limits in place, or removes them.
    pub fn apply(&self, id: Id, user: Option<GatewayUser>, now: Timestamp) {
        let mut users = self.users.write().expect("user table poisoned");
        match user {
            Some(u) => {
                let governor = Self::governor(&u, users.get(&id), now);
                users.insert(id, governor);
            }
            None => {
                users.remove(&id);
            }
        }
    }
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
    /// Prompt and answer together, in tokens, when the catalog says.
    pub context_length: Option<u32>,
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
                let before = previous.and_then(|p| p.deployments.iter().find(|old| old.id == d.id));
                let Some(target) = Target::new(&d.upstream_url, key.as_deref(), before.map(|b| &b.target)) else {
                    tracing::error!(model = %m.name, deployment = %d.id, "deployment URL cannot be used; skipping it");
                    return None;
                };
                Some(Deployment::new(d, target, before, metrics.for_deployment(&m.name, d.id), now.as_millis()))
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
            context_length: m.context_length,
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
