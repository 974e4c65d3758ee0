//! What the gateway keeps in memory, read from the store: usable keys with their secret
//! digests, and live models with their upstream keys opened.

use purser_domain::Id;
use purser_domain::model::Model;
use purser_store::api_keys::{self, GatewayKey};
use purser_store::models;

use crate::Services;
use crate::error::Result;

/// A model with its upstream key in clear text, for the gateway's routing table only.
#[derive(Clone)]
pub struct RoutedModel {
    pub model: Model,
    pub upstream_api_key: Option<String>,
}

impl std::fmt::Debug for RoutedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedModel")
            .field("model", &self.model.name)
            .field("upstream_api_key", &self.upstream_api_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct GatewaySnapshot {
    pub keys: Vec<GatewayKey>,
    pub models: Vec<RoutedModel>,
}

impl Services {
    fn route(&self, model: Model) -> Result<RoutedModel> {
        let upstream_api_key = self.open_upstream_key(&model)?;
        Ok(RoutedModel { model, upstream_api_key })
    }

    pub async fn gateway_snapshot(&self) -> Result<GatewaySnapshot> {
        let mut conn = self.store.conn().await?;
        let keys = api_keys::gateway_keys(&mut conn, self.now()).await?;
        let models = models::all_live(&mut conn).await?.into_iter().map(|m| self.route(m)).collect::<Result<_>>()?;
        Ok(GatewaySnapshot { keys, models })
    }

    pub async fn gateway_key(&self, key_id: Id) -> Result<Option<GatewayKey>> {
        let mut conn = self.store.conn().await?;
        Ok(api_keys::gateway_key(&mut conn, key_id).await?)
    }

    /// The model if it is live, `None` if it was deleted.
    pub async fn gateway_model(&self, model_id: Id) -> Result<Option<RoutedModel>> {
        let mut conn = self.store.conn().await?;
        models::by_id(&mut conn, model_id).await?.map(|m| self.route(m)).transpose()
    }
}
