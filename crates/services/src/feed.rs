//! What the gateway keeps in memory, read from the store: usable keys with their secret
//! digests, and live models with their upstream keys opened.

use std::collections::HashMap;

use purser_domain::model::Model;
use purser_domain::org::{BudgetPeriod, Team};
use purser_domain::policy::{Action, authorize};
use purser_domain::user::UserLimits;
use purser_domain::{Id, Principal, Timestamp, Usd};
use purser_store::api_keys::{self, GatewayKey};
use purser_store::{AnyConnection, models, teams, usage, user_limits};

use crate::Services;
use crate::error::Result;

/// A model with its deployments' upstream keys in clear text, for the gateway's routing
/// table only.
#[derive(Clone)]
pub struct RoutedModel {
    pub model: Model,
    /// In the order of `model.deployments`.
    pub upstream_api_keys: Vec<Option<String>>,
}

impl std::fmt::Debug for RoutedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedModel")
            .field("model", &self.model.name)
            .field(
                "upstream_api_keys",
                &self.upstream_api_keys.iter().map(|k| k.as_ref().map(|_| "[redacted]")).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A team as the gateway limits it.
#[derive(Debug, Clone)]
pub struct GatewayTeam {
    pub team: Team,
    /// Whether its organization is active (not suspended).
    pub org_active: bool,
    /// Spend in the current budget period (all time without a period).
    pub spend: Usd,
    /// When the current budget period began.
    pub period_start: Timestamp,
}

/// A usable key with the spend its budget is measured against: in the current period
/// for a budget with a period, all time otherwise.
#[derive(Debug, Clone)]
pub struct GatewayKeyState {
    pub key: GatewayKey,
    pub spend: Usd,
    pub period_start: Timestamp,
}

/// A user's limits with the spend their budget is measured against.
#[derive(Debug, Clone)]
pub struct GatewayUser {
    pub limits: UserLimits,
    pub spend: Usd,
    pub period_start: Timestamp,
}

#[derive(Debug, Clone)]
pub struct GatewaySnapshot {
    pub keys: Vec<GatewayKeyState>,
    pub models: Vec<RoutedModel>,
    pub teams: Vec<GatewayTeam>,
    /// Users with limits.
    pub users: Vec<GatewayUser>,
}

/// Whose budget a [`BudgetStatus`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetScope {
    Key,
    Team,
    User,
}

/// A budget that caps someone's use of models, and what was spent of it in its current
/// period, as the gateway counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStatus {
    pub scope: BudgetScope,
    pub id: Id,
    pub name: String,
    pub budget: Usd,
    pub period: Option<BudgetPeriod>,
    pub period_start: Timestamp,
    pub spend: Usd,
}

/// When the budget period containing `now` began; the epoch for all-time budgets.
fn period_start(period: Option<BudgetPeriod>, now: Timestamp) -> Timestamp {
    period.map_or(Timestamp::from_millis(0), |p| p.start(now))
}

/// Spend per owner in each owner's current period (all time without one): one query per
/// kind of period present.
async fn period_spend<T>(
    conn: &mut AnyConnection,
    by: usage::SpendBy,
    owners: &[T],
    of: impl Fn(&T) -> (Id, Option<BudgetPeriod>),
    now: Timestamp,
) -> Result<HashMap<(Option<BudgetPeriod>, Id), i64>> {
    let mut ids_by_period: HashMap<Option<BudgetPeriod>, Vec<Id>> = HashMap::new();
    for owner in owners {
        let (id, period) = of(owner);
        ids_by_period.entry(period).or_default().push(id);
    }
    let mut spend = HashMap::new();
    for (period, ids) in ids_by_period {
        let sums = usage::spend_since(conn, by, period_start(period, now), Some(&ids)).await?;
        spend.extend(sums.into_iter().map(|(id, nanos)| ((period, id), nanos)));
    }
    Ok(spend)
}

impl Services {
    fn route(&self, model: Model) -> Result<RoutedModel> {
        let upstream_api_keys = model.deployments.iter().map(|d| self.open_upstream_key(d)).collect::<Result<_>>()?;
        Ok(RoutedModel { model, upstream_api_keys })
    }

    /// Every budget on the caller's use of models: their keys', their teams' and their
    /// own, each with its spend this period.
    pub async fn my_budgets(&self, principal: &Principal) -> Result<Vec<BudgetStatus>> {
        authorize(principal, Action::UseModels)?;
        let user = principal.user_id;
        let mut conn = self.store.conn().await?;
        let mut budgets = Vec::new();
        let keys = api_keys::gateway_keys_of_user(&mut conn, user).await?;
        let keys = keys.into_iter().filter(|k| k.max_budget.is_some()).collect();
        for state in self.key_states(&mut conn, keys).await? {
            let (Some(budget), Some(key)) = (state.key.max_budget, api_keys::by_id(&mut conn, state.key.id).await?)
            else {
                continue;
            };
            budgets.push(BudgetStatus {
                scope: BudgetScope::Key,
                id: key.id,
                name: key.name,
                budget,
                period: state.key.budget_period,
                period_start: state.period_start,
                spend: state.spend,
            });
        }
        for (team_id, _) in teams::of_user(&mut conn, user).await? {
            for found in self.gateway_teams(&mut conn, Some(team_id)).await? {
                let Some(budget) = found.team.budget.filter(|_| found.org_active) else { continue };
                budgets.push(BudgetStatus {
                    scope: BudgetScope::Team,
                    id: found.team.id,
                    name: found.team.name,
                    budget,
                    period: found.team.budget_period,
                    period_start: found.period_start,
                    spend: found.spend,
                });
            }
        }
        let limits = user_limits::get(&mut conn, user).await?.into_iter().collect();
        for mine in self.gateway_users(&mut conn, limits).await? {
            let Some(budget) = mine.limits.max_budget else { continue };
            budgets.push(BudgetStatus {
                scope: BudgetScope::User,
                id: user,
                name: String::new(),
                budget,
                period: mine.limits.budget_period,
                period_start: mine.period_start,
                spend: mine.spend,
            });
        }
        Ok(budgets)
    }

    pub async fn gateway_snapshot(&self) -> Result<GatewaySnapshot> {
        let mut conn = self.store.conn().await?;
        let keys = api_keys::gateway_keys(&mut conn, self.now()).await?;
        let keys = self.key_states(&mut conn, keys).await?;
        let models = models::all_live(&mut conn).await?.into_iter().map(|m| self.route(m)).collect::<Result<_>>()?;
        let teams = self.gateway_teams(&mut conn, None).await?;
        let limits = user_limits::all(&mut conn).await?;
        let users = self.gateway_users(&mut conn, limits).await?;
        Ok(GatewaySnapshot { keys, models, teams, users })
    }

    /// Adds each key's budget spend: its stored lifetime spend, or for a key whose budget
    /// has a period, its spend in the current period (queried only for such keys).
    async fn key_states(&self, conn: &mut AnyConnection, keys: Vec<GatewayKey>) -> Result<Vec<GatewayKeyState>> {
        let now = self.now();
        let periodic: Vec<&GatewayKey> = keys.iter().filter(|k| k.budget_period.is_some()).collect();
        let spend = period_spend(conn, usage::SpendBy::Key, &periodic, |k| (k.id, k.budget_period), now).await?;
        Ok(keys
            .into_iter()
            .map(|key| {
                let period = key.budget_period;
                let spent = match period {
                    None => key.spend,
                    Some(_) => Usd::from_nanos(spend.get(&(period, key.id)).copied().unwrap_or(0)),
                };
                GatewayKeyState { spend: spent, period_start: period_start(period, now), key }
            })
            .collect())
    }

    async fn gateway_users(&self, conn: &mut AnyConnection, limits: Vec<UserLimits>) -> Result<Vec<GatewayUser>> {
        let now = self.now();
        let with_budget: Vec<&UserLimits> = limits.iter().filter(|l| l.max_budget.is_some()).collect();
        let spend =
            period_spend(conn, usage::SpendBy::User, &with_budget, |l| (l.user_id, l.budget_period), now).await?;
        Ok(limits
            .into_iter()
            .map(|limits| {
                let spent = spend.get(&(limits.budget_period, limits.user_id)).copied().unwrap_or(0);
                GatewayUser {
                    spend: Usd::from_nanos(spent),
                    period_start: period_start(limits.budget_period, now),
                    limits,
                }
            })
            .collect())
    }

    /// A user's limits for the gateway; `None` if the user has none.
    pub async fn gateway_user(&self, user_id: Id) -> Result<Option<GatewayUser>> {
        let mut conn = self.store.conn().await?;
        let limits = user_limits::get(&mut conn, user_id).await?.into_iter().collect();
        Ok(self.gateway_users(&mut conn, limits).await?.pop())
    }

    /// Teams with their spend in the current period (one team, or all).
    async fn gateway_teams(&self, conn: &mut AnyConnection, team_id: Option<Id>) -> Result<Vec<GatewayTeam>> {
        let now = self.now();
        let found = teams::for_gateway(conn, team_id).await?;
        let with_budget: Vec<&Team> = found.iter().map(|(t, _)| t).filter(|t| t.budget.is_some()).collect();
        let spend = period_spend(conn, usage::SpendBy::Team, &with_budget, |t| (t.id, t.budget_period), now).await?;
        Ok(found
            .into_iter()
            .map(|(team, org_active)| {
                let spent = spend.get(&(team.budget_period, team.id)).copied().unwrap_or(0);
                let period_start = period_start(team.budget_period, now);
                GatewayTeam { team, org_active, spend: Usd::from_nanos(spent), period_start }
            })
            .collect())
    }

    /// One team for the gateway; `None` if it (or its organization) is gone.
    pub async fn gateway_team(&self, team_id: Id) -> Result<Option<GatewayTeam>> {
        let mut conn = self.store.conn().await?;
        Ok(self.gateway_teams(&mut conn, Some(team_id)).await?.pop())
    }

    /// Every team for the gateway.
    pub async fn gateway_all_teams(&self) -> Result<Vec<GatewayTeam>> {
        let mut conn = self.store.conn().await?;
        self.gateway_teams(&mut conn, None).await
    }

    pub async fn gateway_key(&self, key_id: Id) -> Result<Option<GatewayKeyState>> {
        let mut conn = self.store.conn().await?;
        let key = api_keys::gateway_key(&mut conn, key_id).await?.into_iter().collect();
        Ok(self.key_states(&mut conn, key).await?.pop())
    }

    /// Every unrevoked key of a user (when the user is deactivated or comes back).
    pub async fn gateway_keys_of_user(&self, user_id: Id) -> Result<Vec<GatewayKeyState>> {
        let mut conn = self.store.conn().await?;
        let keys = api_keys::gateway_keys_of_user(&mut conn, user_id).await?;
        self.key_states(&mut conn, keys).await
    }

    /// The model if it is live, `None` if it was deleted.
    pub async fn gateway_model(&self, model_id: Id) -> Result<Option<RoutedModel>> {
        let mut conn = self.store.conn().await?;
        models::by_id(&mut conn, model_id).await?.map(|m| self.route(m)).transpose()
    }
}
