//! What the gateway keeps in memory, read from the store: usable keys with their secret
//! digests, and live models with their upstream keys opened.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use purser_domain::model::Model;
use purser_domain::org::{BudgetPeriod, Team};
use purser_domain::{Id, Timestamp, Usd};
use purser_store::api_keys::{self, GatewayKey};
use purser_store::{AnyConnection, models, teams, usage};

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

#[derive(Debug, Clone)]
pub struct GatewaySnapshot {
    pub keys: Vec<GatewayKey>,
    pub models: Vec<RoutedModel>,
    pub teams: Vec<GatewayTeam>,
}

impl Services {
    fn route(&self, model: Model) -> Result<RoutedModel> {
        let upstream_api_keys = model.deployments.iter().map(|d| self.open_upstream_key(d)).collect::<Result<_>>()?;
        Ok(RoutedModel { model, upstream_api_keys })
    }

    pub async fn gateway_snapshot(&self) -> Result<GatewaySnapshot> {
        let mut conn = self.store.conn().await?;
        let keys = api_keys::gateway_keys(&mut conn, self.now()).await?;
        let models = models::all_live(&mut conn).await?.into_iter().map(|m| self.route(m)).collect::<Result<_>>()?;
        let teams = self.gateway_teams(&mut conn, None).await?;
        Ok(GatewaySnapshot { keys, models, teams })
    }

    /// Teams with their spend in the current period (one team, or all).
    async fn gateway_teams(&self, conn: &mut AnyConnection, team_id: Option<Id>) -> Result<Vec<GatewayTeam>> {
        let now = self.now();
        let found = teams::for_gateway(conn, team_id).await?;
        // One query per kind of period present, not per team.
        let mut spend_since: HashMap<Option<BudgetPeriod>, HashMap<Id, i64>> = HashMap::new();
        for (team, _) in &found {
            if let Entry::Vacant(slot) = spend_since.entry(team.budget_period) {
                let since = team.budget_period.map_or(Timestamp::from_millis(0), |p| p.start(now));
                slot.insert(usage::team_spend_since(conn, since).await?);
            }
        }
        Ok(found
            .into_iter()
            .map(|(team, org_active)| {
                let spend = spend_since.get(&team.budget_period).and_then(|s| s.get(&team.id)).copied().unwrap_or(0);
                let period_start = team.budget_period.map_or(Timestamp::from_millis(0), |p| p.start(now));
                GatewayTeam { team, org_active, spend: Usd::from_nanos(spend), period_start }
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

    pub async fn gateway_key(&self, key_id: Id) -> Result<Option<GatewayKey>> {
        let mut conn = self.store.conn().await?;
        Ok(api_keys::gateway_key(&mut conn, key_id).await?)
    }

    /// Every unrevoked key of a user (when the user is deactivated or comes back).
    pub async fn gateway_keys_of_user(&self, user_id: Id) -> Result<Vec<GatewayKey>> {
        let mut conn = self.store.conn().await?;
        Ok(api_keys::gateway_keys_of_user(&mut conn, user_id).await?)
    }

    /// The model if it is live, `None` if it was deleted.
    pub async fn gateway_model(&self, model_id: Id) -> Result<Option<RoutedModel>> {
        let mut conn = self.store.conn().await?;
        models::by_id(&mut conn, model_id).await?.map(|m| self.route(m)).transpose()
    }
}
