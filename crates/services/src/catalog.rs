//! The model catalog: admins add, change and remove models; everyone browses.

use purser_domain::model::{self, Capability, Model, ProviderKind};
use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action, authorize};
use purser_domain::{Id, Principal, TokenPrice, Validator};
use purser_store::models::{self, ModelFilter};
use purser_store::{StoreError, subscriptions};

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::{Actor, Change, Services, views};

/// Everything an admin says about a model.
#[derive(Debug, Clone, Default)]
pub struct ModelInput {
    pub name: String,
    pub provider: String,
    pub description: Option<String>,
    pub upstream_url: Option<String>,
    /// Defaults to `name`.
    pub upstream_model: Option<String>,
    pub upstream_api_key: Option<String>,
    pub input_cost_per_token: TokenPrice,
    pub output_cost_per_token: TokenPrice,
    pub context_length: Option<u32>,
    pub capabilities: Vec<Capability>,
    pub restricted: bool,
}

/// A partial change; `None` leaves a field as it is, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ModelPatch {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub description: Option<Option<String>>,
    pub upstream_url: Option<Option<String>>,
    pub upstream_model: Option<String>,
    pub upstream_api_key: Option<Option<String>>,
    pub input_cost_per_token: Option<TokenPrice>,
    pub output_cost_per_token: Option<TokenPrice>,
    pub context_length: Option<Option<u32>>,
    pub capabilities: Option<Vec<Capability>>,
    pub restricted: Option<bool>,
}

/// Model fields after validation, with the upstream URL normalised.
struct Checked {
    upstream_url: Option<String>,
    upstream_model: String,
    capabilities: Vec<Capability>,
}

/// Validates fields that do not involve the stored upstream key.
fn check(v: &mut Validator, input: &ModelInput) -> Checked {
    model::validate_name(v, "name", &input.name);
    model::validate_provider(v, "provider", &input.provider);
    if let Some(description) = &input.description {
        v.text("description", description, model::MAX_DESCRIPTION_CHARS);
    }
    let upstream_url = match (ProviderKind::of(&input.provider), &input.upstream_url) {
        (ProviderKind::Mock, Some(_)) => {
            v.error("upstreamUrl", "must be left out for the mock provider, which Purser answers itself");
            None
        }
        (ProviderKind::Mock, None) => None,
        (ProviderKind::OpenAiCompatible, None) => {
            v.error("upstreamUrl", "is required: the OpenAI-compatible base URL of the model server");
            None
        }
        (ProviderKind::OpenAiCompatible, Some(url)) => model::normalize_upstream_url(v, "upstreamUrl", url),
    };
    let upstream_model = input.upstream_model.clone().unwrap_or_else(|| input.name.clone());
    v.label("upstreamModel", &upstream_model, 256);
    if let Some(key) = &input.upstream_api_key {
        v.check(!key.trim().is_empty(), "upstreamApiKey", "must not be blank; send null to remove it");
        v.check(key.chars().count() <= model::MAX_UPSTREAM_KEY_CHARS, "upstreamApiKey", "is too long");
        v.check(!key.chars().any(char::is_control), "upstreamApiKey", "must not contain control characters");
    }
    if let Some(n) = input.context_length {
        v.range("contextLength", n, 1, model::MAX_CONTEXT_LENGTH);
    }
    let mut capabilities = input.capabilities.clone();
    capabilities.sort_unstable();
    capabilities.dedup();
    v.check(!capabilities.is_empty(), "capabilities", "must name at least one capability");
    Checked { upstream_url, upstream_model, capabilities }
}

fn key_context(model_id: Id) -> String {
    format!("model:{model_id}:upstream-api-key")
}

fn name_taken(name: &str) -> Error {
    Error::conflict("model_name_taken", format!("a model named {name:?} already exists"))
}

impl Services {
    pub async fn create_model(&self, actor: &Actor, input: ModelInput) -> Result<Model> {
        let attempt = AuditEntry::new(AuditAction::ModelCreate, Some(actor.user_id));
        self.audited(&actor.client, attempt, async {
            authorize(actor, Action::ManageModels)?;
            let mut v = Validator::new();
            let checked = check(&mut v, &input);
            v.finish()?;

            let now = self.now();
            let id = self.ids.next_id();
            let model = Model {
                id,
                name: input.name,
                provider: input.provider,
                description: input.description,
                upstream_url: checked.upstream_url,
                upstream_model: checked.upstream_model,
                upstream_api_key: input.upstream_api_key.map(|k| self.secrets.seal(&k, &key_context(id))),
                input_cost_per_token: input.input_cost_per_token,
                output_cost_per_token: input.output_cost_per_token,
                context_length: input.context_length,
                capabilities: checked.capabilities,
                restricted: input.restricted,
                created_at: now,
                updated_at: now,
            };
            let mut tx = self.store.begin().await?;
            match models::insert(&mut tx, &model).await {
                Err(StoreError::Conflict(_)) => return Err(name_taken(&model.name)),
                other => other?,
            }
            let entry = AuditEntry::new(AuditAction::ModelCreate, Some(actor.user_id))
                .resource(model.id)
                .after(views::model(&model));
            self.commit_audited(tx, &actor.client, entry).await?;
            tracing::info!(model_id = %model.id, name = %model.name, "model created");
            self.notify(Change::Model(model.id)).await;
            Ok(model)
        })
        .await
    }

    pub async fn update_model(&self, actor: &Actor, model_id: Id, patch: ModelPatch) -> Result<Model> {
        let attempt = AuditEntry::new(AuditAction::ModelUpdate, Some(actor.user_id)).resource(model_id);
        self.audited(&actor.client, attempt, async {
            authorize(actor, Action::ManageModels)?;
            let mut tx = self.store.begin().await?;
            let current =
                models::by_id(&mut tx, model_id).await?.ok_or_else(|| Error::not_found("model_not_found", "model"))?;

            let input = ModelInput {
                name: patch.name.unwrap_or_else(|| current.name.clone()),
                provider: patch.provider.unwrap_or_else(|| current.provider.clone()),
                description: patch.description.unwrap_or_else(|| current.description.clone()),
                upstream_url: patch.upstream_url.unwrap_or_else(|| current.upstream_url.clone()),
                upstream_model: Some(patch.upstream_model.unwrap_or_else(|| current.upstream_model.clone())),
                // Only a new key is validated; the stored one stays sealed.
                upstream_api_key: patch.upstream_api_key.clone().flatten(),
                input_cost_per_token: patch.input_cost_per_token.unwrap_or(current.input_cost_per_token),
                output_cost_per_token: patch.output_cost_per_token.unwrap_or(current.output_cost_per_token),
                context_length: patch.context_length.unwrap_or(current.context_length),
                capabilities: patch.capabilities.unwrap_or_else(|| current.capabilities.clone()),
                restricted: patch.restricted.unwrap_or(current.restricted),
            };
            let mut v = Validator::new();
            let checked = check(&mut v, &input);
            v.finish()?;

            let upstream_api_key = match patch.upstream_api_key {
                None => current.upstream_api_key.clone(),
                Some(None) => None,
                Some(Some(key)) => Some(self.secrets.seal(&key, &key_context(model_id))),
            };
            let model = Model {
                id: model_id,
                name: input.name,
                provider: input.provider,
                description: input.description,
                upstream_url: checked.upstream_url,
                upstream_model: checked.upstream_model,
                upstream_api_key,
                input_cost_per_token: input.input_cost_per_token,
                output_cost_per_token: input.output_cost_per_token,
                context_length: input.context_length,
                capabilities: checked.capabilities,
                restricted: input.restricted,
                created_at: current.created_at,
                updated_at: self.now(),
            };
            match models::update(&mut tx, &model).await {
                Err(StoreError::Conflict(_)) => return Err(name_taken(&model.name)),
                other => other?,
            }
            let entry = AuditEntry::new(AuditAction::ModelUpdate, Some(actor.user_id))
                .resource(model.id)
                .before(views::model(&current))
                .after(views::model(&model));
            self.commit_audited(tx, &actor.client, entry).await?;
            tracing::info!(model_id = %model.id, "model updated");
            self.notify(Change::Model(model.id)).await;
            Ok(model)
        })
        .await
    }

    /// Removes a model from the catalog and the gateway. Its usage history stays; open
    /// subscriptions to it are cancelled in the same transaction.
    pub async fn delete_model(&self, actor: &Actor, model_id: Id) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::ModelDelete, Some(actor.user_id)).resource(model_id);
        self.audited(&actor.client, attempt, async {
            authorize(actor, Action::ManageModels)?;
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let current =
                models::by_id(&mut tx, model_id).await?.ok_or_else(|| Error::not_found("model_not_found", "model"))?;
            models::soft_delete(&mut tx, model_id, now).await?;
            let cancelled = subscriptions::cancel_all_for_model(&mut tx, model_id, "model deleted", now).await?;
            let entry = AuditEntry::new(AuditAction::ModelDelete, Some(actor.user_id))
                .resource(model_id)
                .before(views::model(&current))
                .after(serde_json::json!({ "deleted": true, "subscriptionsCancelled": cancelled }));
            self.commit_audited(tx, &actor.client, entry).await?;
            tracing::info!(%model_id, cancelled, "model deleted");
            self.notify(Change::Model(model_id)).await;
            Ok(())
        })
        .await
    }

    pub async fn list_models(
        &self,
        principal: &Principal,
        filter: ModelFilter,
        page: PageRequest,
    ) -> Result<Page<Model>> {
        authorize(principal, Action::ReadCatalog)?;
        let mut v = Validator::new();
        if let Some(search) = &filter.search {
            v.check(search.chars().count() <= 200, "search", "must be at most 200 characters");
        }
        if let Some(provider) = &filter.provider {
            model::validate_provider(&mut v, "provider", provider);
        }
        v.finish()?;
        let mut conn = self.store.conn().await?;
        Ok(models::list(&mut conn, &filter, page).await?)
    }

    pub async fn get_model(&self, principal: &Principal, model_id: Id) -> Result<Model> {
        authorize(principal, Action::ReadCatalog)?;
        let mut conn = self.store.conn().await?;
        models::by_id(&mut conn, model_id).await?.ok_or_else(|| Error::not_found("model_not_found", "model"))
    }

    /// Whether the principal may see upstream details (URL, upstream model, key presence).
    pub fn sees_model_internals(&self, principal: &Principal) -> bool {
        authorize(principal, Action::ReadModelAdmin).is_ok()
    }

    /// Opens a model's sealed upstream key (for the gateway).
    pub fn open_upstream_key(&self, model: &Model) -> Result<Option<String>> {
        model
            .upstream_api_key
            .as_deref()
            .map(|blob| self.secrets.open(blob, &key_context(model.id)).map_err(Error::internal))
            .transpose()
    }
}
