//! The model catalog: admins add, change and remove models; everyone browses.

use purser_domain::model::{self, Capability, Deployment, Model, ProviderKind};
use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action, authorize};
use purser_domain::{Id, Principal, TokenPrice, Validator};
use purser_store::models::{self, ModelFilter};
use purser_store::{StoreError, deployments, subscriptions};

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::{Actor, Change, Input, Services, views};

/// Everything an admin says about a model.
#[derive(Debug, Clone, Default)]
pub struct ModelInput {
    pub name: String,
    pub provider: String,
    pub description: Option<String>,
    /// Where its requests go: at least one for an OpenAI-compatible provider, none for `mock`.
    pub deployments: Vec<DeploymentInput>,
    pub input_cost_per_token: TokenPrice,
    pub output_cost_per_token: TokenPrice,
    pub context_length: Option<u32>,
    pub capabilities: Vec<Capability>,
    pub restricted: bool,
}

/// A partial change; `None` leaves a field as it is, `Some(None)` clears an optional one.
/// Deployments change through their own calls.
#[derive(Debug, Clone, Default)]
pub struct ModelPatch {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub description: Option<Option<String>>,
    pub input_cost_per_token: Option<TokenPrice>,
    pub output_cost_per_token: Option<TokenPrice>,
    pub context_length: Option<Option<u32>>,
    pub capabilities: Option<Vec<Capability>>,
    pub restricted: Option<bool>,
}

/// One deployment of a model.
#[derive(Debug, Clone, Default)]
pub struct DeploymentInput {
    pub upstream_url: String,
    /// Defaults to the model's name.
    pub upstream_model: Option<String>,
    pub upstream_api_key: Option<String>,
    /// Defaults to 1.
    pub weight: Option<u32>,
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
}

/// A partial change to a deployment, like [`ModelPatch`].
#[derive(Debug, Clone, Default)]
pub struct DeploymentPatch {
    pub upstream_url: Option<String>,
    pub upstream_model: Option<String>,
    pub upstream_api_key: Option<Option<String>>,
    pub weight: Option<u32>,
    pub rpm_limit: Option<Option<u32>>,
    pub tpm_limit: Option<Option<u32>>,
}

/// Validates the model's own fields; returns its capabilities, sorted.
fn check(v: &mut Validator, input: &ModelInput) -> Vec<Capability> {
    model::validate_name(v, "name", &input.name);
    model::validate_provider(v, "provider", &input.provider);
    if let Some(description) = &input.description {
        v.text("description", description, model::MAX_DESCRIPTION_CHARS);
    }
    if let Some(n) = input.context_length {
        v.range("contextLength", n, 1, model::MAX_CONTEXT_LENGTH);
    }
    let mut capabilities = input.capabilities.clone();
    capabilities.sort_unstable();
    capabilities.dedup();
    v.check(!capabilities.is_empty(), "capabilities", "must name at least one capability");
    capabilities
}

/// A model's provider decides whether it has deployments: the mock answers itself.
fn check_deployment_count(v: &mut Validator, provider: &str, count: usize, field: &str) {
    match ProviderKind::of(provider) {
        ProviderKind::Mock if count > 0 => {
            v.error(field, "must be left out for the mock provider, which Purser answers itself")
        }
        ProviderKind::OpenAiCompatible if count == 0 => {
            v.error(field, "is required: the OpenAI-compatible base URL of the model server")
        }
        _ => v.check(
            count <= model::MAX_DEPLOYMENTS,
            field,
            format!("a model may have at most {} deployments", model::MAX_DEPLOYMENTS),
        ),
    }
}

/// Validates one deployment; `field` prefixes the field names in errors. Returns the
/// normalised URL.
fn check_deployment(v: &mut Validator, field: &str, d: &DeploymentInput, model_name: &str) -> Option<String> {
    let name = |f: &str| if field.is_empty() { f.to_owned() } else { format!("{field}.{f}") };
    let url = model::normalize_upstream_url(v, &name("upstreamUrl"), &d.upstream_url);
    v.label(&name("upstreamModel"), d.upstream_model.as_deref().unwrap_or(model_name), 256);
    if let Some(key) = &d.upstream_api_key {
        let field = name("upstreamApiKey");
        v.check(!key.trim().is_empty(), &field, "must not be blank; send null to remove it");
        v.check(key.chars().count() <= model::MAX_UPSTREAM_KEY_CHARS, &field, "is too long");
        v.check(!key.chars().any(char::is_control), &field, "must not contain control characters");
    }
    if let Some(weight) = d.weight {
        v.range(&name("weight"), weight, 1, model::MAX_WEIGHT);
    }
    for (f, limit) in [("rpmLimit", d.rpm_limit), ("tpmLimit", d.tpm_limit)] {
        if let Some(limit) = limit {
            v.range(&name(f), limit, 1, u32::MAX);
        }
    }
    url
}

/// Upstream keys are sealed to their model: a key copied to another model's row will not open.
fn key_context(model_id: Id) -> String {
    format!("model:{model_id}:upstream-api-key")
}

fn name_taken(name: &str) -> Error {
    Error::conflict("model_name_taken", format!("a model named {name:?} already exists"))
}

fn model_not_found() -> Error {
    Error::not_found("model_not_found", "model")
}

fn deployment_not_found() -> Error {
    Error::not_found("deployment_not_found", "deployment")
}

impl Services {
    pub async fn create_model(&self, actor: &Actor, input: Input<ModelInput>) -> Result<Model> {
        let attempt = AuditEntry::new(AuditAction::ModelCreate, Some(actor.user_id));
        self.audited(&actor.client, attempt, async {
            let input = input.read(authorize(actor, Action::ManageModels)?)?;
            let mut v = Validator::new();
            let capabilities = check(&mut v, &input);
            check_deployment_count(&mut v, &input.provider, input.deployments.len(), "deployments");
            let urls: Vec<Option<String>> = input
                .deployments
                .iter()
                .enumerate()
                .map(|(i, d)| check_deployment(&mut v, &format!("deployments[{i}]"), d, &input.name))
                .collect();
            v.finish()?;

            let now = self.now();
            let id = self.ids.next_id();
            let deployments = input
                .deployments
                .iter()
                .zip(urls)
                .map(|(d, url)| self.new_deployment(id, &input.name, d, url.unwrap_or_default(), now))
                .collect();
            let model = Model {
                id,
                name: input.name,
                provider: input.provider,
                description: input.description,
                deployments,
                input_cost_per_token: input.input_cost_per_token,
                output_cost_per_token: input.output_cost_per_token,
                context_length: input.context_length,
                capabilities,
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

    pub async fn update_model(&self, actor: &Actor, model_id: Id, patch: Input<ModelPatch>) -> Result<Model> {
        let attempt = AuditEntry::new(AuditAction::ModelUpdate, Some(actor.user_id)).resource(model_id);
        self.audited(&actor.client, attempt, async {
            let proof = authorize(actor, Action::ManageModels)?;
            let mut tx = self.store.begin().await?;
            let current = models::by_id(&mut tx, model_id).await?.ok_or_else(model_not_found)?;
            let patch = patch.read(proof)?;

            let input = ModelInput {
                name: patch.name.unwrap_or_else(|| current.name.clone()),
                provider: patch.provider.unwrap_or_else(|| current.provider.clone()),
                description: patch.description.unwrap_or_else(|| current.description.clone()),
                deployments: Vec::new(),
                input_cost_per_token: patch.input_cost_per_token.unwrap_or(current.input_cost_per_token),
                output_cost_per_token: patch.output_cost_per_token.unwrap_or(current.output_cost_per_token),
                context_length: patch.context_length.unwrap_or(current.context_length),
                capabilities: patch.capabilities.unwrap_or_else(|| current.capabilities.clone()),
                restricted: patch.restricted.unwrap_or(current.restricted),
            };
            let mut v = Validator::new();
            let capabilities = check(&mut v, &input);
            if ProviderKind::of(&input.provider) != current.kind() {
                let field = "provider";
                match current.kind() {
                    ProviderKind::Mock => v.error(field, "a mock model cannot become a served one; add a new model"),
                    ProviderKind::OpenAiCompatible => {
                        v.error(field, "a served model cannot become a mock; add a new model")
                    }
                }
            }
            v.finish()?;

            let model = Model {
                id: model_id,
                name: input.name,
                provider: input.provider,
                description: input.description,
                deployments: current.deployments.clone(),
                input_cost_per_token: input.input_cost_per_token,
                output_cost_per_token: input.output_cost_per_token,
                context_length: input.context_length,
                capabilities,
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
            let current = models::by_id(&mut tx, model_id).await?.ok_or_else(model_not_found)?;
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
        query: Input<(ModelFilter, PageRequest)>,
    ) -> Result<Page<Model>> {
        let (filter, page) = query.read(authorize(principal, Action::ReadCatalog)?)?;
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
        models::by_id(&mut conn, model_id).await?.ok_or_else(model_not_found)
    }

    /// Whether the principal may see upstream details (URL, upstream model, key presence).
    pub fn sees_model_internals(&self, principal: &Principal) -> bool {
        authorize(principal, Action::ReadModelAdmin).is_ok()
    }

    /// Opens a deployment's sealed upstream key (for the gateway).
    pub fn open_upstream_key(&self, deployment: &Deployment) -> Result<Option<String>> {
        deployment
            .upstream_api_key
            .as_deref()
            .map(|blob| self.secrets.open(blob, &key_context(deployment.model_id)).map_err(Error::internal))
            .transpose()
    }

    fn new_deployment(
        &self,
        model_id: Id,
        model_name: &str,
        input: &DeploymentInput,
        url: String,
        now: purser_domain::Timestamp,
    ) -> Deployment {
        Deployment {
            id: self.ids.next_id(),
            model_id,
            upstream_url: url,
            upstream_model: input.upstream_model.clone().unwrap_or_else(|| model_name.to_owned()),
            upstream_api_key: input.upstream_api_key.as_ref().map(|k| self.secrets.seal(k, &key_context(model_id))),
            weight: input.weight.unwrap_or(1),
            rpm_limit: input.rpm_limit,
            tpm_limit: input.tpm_limit,
            created_at: now,
            updated_at: now,
        }
    }

    /// Adds a server to a served model's deployments.
    pub async fn add_deployment(&self, actor: &Actor, model_id: Id, input: Input<DeploymentInput>) -> Result<Model> {
        self.change_deployments(actor, model_id, AuditAction::DeploymentAdd, input, |this, model, v, input| {
            check_deployment_count(v, &model.provider, model.deployments.len() + 1, "upstreamUrl");
            let url = check_deployment(v, "", &input, &model.name);
            if let Some(url) = url {
                let deployment = this.new_deployment(model.id, &model.name, &input, url, this.now());
                model.deployments.push(deployment.clone());
                return Some(DeploymentChange::Add(deployment));
            }
            None
        })
        .await
    }

    pub async fn update_deployment(
        &self,
        actor: &Actor,
        model_id: Id,
        deployment_id: Id,
        patch: Input<DeploymentPatch>,
    ) -> Result<Model> {
        self.change_deployments(actor, model_id, AuditAction::DeploymentUpdate, patch, |this, model, v, patch| {
            let name = model.name.clone();
            let current = model.deployments.iter_mut().find(|d| d.id == deployment_id)?;
            let input = DeploymentInput {
                upstream_url: patch.upstream_url.clone().unwrap_or_else(|| current.upstream_url.clone()),
                upstream_model: Some(patch.upstream_model.clone().unwrap_or_else(|| current.upstream_model.clone())),
                // Only a new key is validated; the stored one stays sealed.
                upstream_api_key: patch.upstream_api_key.clone().flatten(),
                weight: Some(patch.weight.unwrap_or(current.weight)),
                rpm_limit: patch.rpm_limit.unwrap_or(current.rpm_limit),
                tpm_limit: patch.tpm_limit.unwrap_or(current.tpm_limit),
            };
            let url = check_deployment(v, "", &input, &name)?;
            current.upstream_url = url;
            current.upstream_model = input.upstream_model.unwrap_or_default();
            match &patch.upstream_api_key {
                None => {}
                Some(None) => current.upstream_api_key = None,
                Some(Some(key)) => current.upstream_api_key = Some(this.secrets.seal(key, &key_context(model_id))),
            }
            current.weight = input.weight.unwrap_or(1);
            current.rpm_limit = input.rpm_limit;
            current.tpm_limit = input.tpm_limit;
            current.updated_at = this.now();
            Some(DeploymentChange::Update(current.clone()))
        })
        .await
    }

    /// Removes a deployment; a served model keeps at least one.
    pub async fn remove_deployment(&self, actor: &Actor, model_id: Id, deployment_id: Id) -> Result<Model> {
        self.change_deployments(actor, model_id, AuditAction::DeploymentRemove, Input::ready(()), |_, model, _, ()| {
            let index = model.deployments.iter().position(|d| d.id == deployment_id)?;
            Some(DeploymentChange::Remove(model.deployments.remove(index).id))
        })
        .await
    }

    /// Loads the model, lets `change` edit its deployments with the request's input
    /// (reporting problems to the validator, or `None` for an unknown deployment), stores
    /// the change and audits it.
    async fn change_deployments<I: 'static, F>(
        &self,
        actor: &Actor,
        model_id: Id,
        action: AuditAction,
        input: Input<I>,
        change: F,
    ) -> Result<Model>
    where
        F: FnOnce(&Self, &mut Model, &mut Validator, I) -> Option<DeploymentChange> + Send,
    {
        let attempt = AuditEntry::new(action, Some(actor.user_id)).resource(model_id);
        self.audited(&actor.client, attempt, async {
            let input = input.read(authorize(actor, Action::ManageModels)?)?;
            let mut tx = self.store.begin().await?;
            let current = models::by_id(&mut tx, model_id).await?.ok_or_else(model_not_found)?;
            if current.kind() == ProviderKind::Mock {
                return Err(Error::conflict("mock_model", "the mock provider answers itself and has no deployments"));
            }
            let mut model = current.clone();
            let mut v = Validator::new();
            let outcome = change(self, &mut model, &mut v, input);
            v.finish()?;
            match outcome.ok_or_else(deployment_not_found)? {
                DeploymentChange::Add(d) => deployments::insert(&mut tx, &d).await?,
                DeploymentChange::Update(d) => deployments::update(&mut tx, &d).await?,
                DeploymentChange::Remove(_) if model.deployments.is_empty() => {
                    return Err(Error::conflict(
                        "last_deployment",
                        "a served model needs at least one deployment; delete the model instead",
                    ));
                }
                DeploymentChange::Remove(id) => deployments::delete(&mut tx, model_id, id).await?,
            }
            let entry = AuditEntry::new(action, Some(actor.user_id))
                .resource(model_id)
                .before(views::model(&current))
                .after(views::model(&model));
            self.commit_audited(tx, &actor.client, entry).await?;
            tracing::info!(%model_id, action = action.name(), "model deployments changed");
            self.notify(Change::Model(model_id)).await;
            Ok(model)
        })
        .await
    }
}

enum DeploymentChange {
    Add(Deployment),
    Update(Deployment),
    Remove(Id),
}
