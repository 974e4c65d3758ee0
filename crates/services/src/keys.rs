//! API keys: one key may use several models, within its own budget and rate limits.

use std::collections::HashSet;

use purser_domain::api_key::{self, ApiKey, MAX_KEY_NAME_CHARS, MAX_MODELS_PER_KEY};
use purser_domain::org::{BudgetPeriod, Team};
use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action, authorize, authorize_owner};
use purser_domain::{Id, OrgAction, Principal, Timestamp, Usd, Validator};
use purser_store::{AnyConnection, StoreError, api_keys, subscriptions, teams};

use crate::audit::{AuditAction, AuditEntry};
use crate::crypto::{digest, random_bytes};
use crate::error::{Error, Result};
use crate::{Actor, Change, Input, Services, views};

pub const MAX_TPM_LIMIT: u32 = 1_000_000_000;
pub const MAX_RPM_LIMIT: u32 = 10_000_000;
/// More parallel requests than any one server could hold; a limit above this is a typo.
pub const MAX_PARALLEL_LIMIT: u32 = 100_000;

#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub name: String,
    /// The team to bill; default the caller's Default Team.
    pub team_id: Option<Id>,
    pub model_ids: Vec<Id>,
    pub max_budget: Option<Usd>,
    pub tpm_limit: Option<u32>,
    pub rpm_limit: Option<u32>,
    pub max_parallel: Option<u32>,
    /// With `max_budget`: the budget is per period, not for the key's lifetime.
    pub budget_period: Option<BudgetPeriod>,
    pub expires_at: Option<Timestamp>,
}

/// A new key and its secret, which is shown this once and never again.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

fn not_found() -> Error {
    Error::not_found("api_key_not_found", "API key")
}

fn new_secret() -> String {
    loop {
        // 64 bytes almost always yield the 40 unbiased characters needed.
        if let Some(secret) = api_key::format_secret(&random_bytes(64)) {
            return secret;
        }
    }
}

impl Services {
    /// The team a new key is billed to: the one asked for, which the caller must be able to
    /// spend from, or the caller's Default Team.
    async fn billable_team(&self, conn: &mut AnyConnection, actor: &Actor, team_id: Option<Id>) -> Result<Team> {
        let missing = || Error::invalid_field("teamId", "is not a team you can bill keys to");
        let team = match team_id {
            Some(id) => teams::by_id(conn, id).await?.ok_or_else(missing)?,
            None => teams::default_team(conn)
                .await?
                .ok_or_else(|| Error::invalid_field("teamId", "is required: there is no Default Team"))?,
        };
        let at = self.in_org(conn, actor, team.org_id).await.map_err(|_| missing())?;
        match self.allow(actor, &at, OrgAction::UseTeam(team.id)) {
            Ok(_) => Ok(team),
            Err(e) if e.code == "organization_suspended" => Err(e),
            Err(_) => Err(missing()),
        }
    }

    pub async fn create_api_key(&self, actor: &Actor, input: Input<NewApiKey>) -> Result<CreatedKey> {
        let attempt = AuditEntry::new(AuditAction::ApiKeyCreate, Some(actor.user_id));
        self.audited(&actor.client, attempt, self.create_key_inner(actor, input)).await
    }

    async fn create_key_inner(&self, actor: &Actor, input: Input<NewApiKey>) -> Result<CreatedKey> {
        let principal = &actor.principal;
        let input = input.read(authorize(principal, Action::UseModels)?)?;
        let now = self.now();
        let mut v = Validator::new();
        v.label("name", &input.name, MAX_KEY_NAME_CHARS);
        if input.model_ids.is_empty() {
            v.error("modelIds", "must name at least one model");
        } else if input.model_ids.len() > MAX_MODELS_PER_KEY {
            v.error("modelIds", format!("may name at most {MAX_MODELS_PER_KEY} models"));
        }
        let mut seen = HashSet::new();
        for (i, model_id) in input.model_ids.iter().enumerate() {
            v.check(seen.insert(*model_id), &format!("modelIds[{i}]"), "is listed twice");
        }
        if let Some(tpm) = input.tpm_limit {
            v.range("tpmLimit", tpm, 1, MAX_TPM_LIMIT);
        }
        if let Some(rpm) = input.rpm_limit {
            v.range("rpmLimit", rpm, 1, MAX_RPM_LIMIT);
        }
        if let Some(parallel) = input.max_parallel {
            v.range("maxParallel", parallel, 1, MAX_PARALLEL_LIMIT);
        }
        if input.budget_period.is_some() && input.max_budget.is_none() {
            v.error("budgetPeriod", "needs a maxBudget to reset each period");
        }
        if let Some(at) = input.expires_at {
            v.check(at > now, "expiresAt", "must be in the future");
        }
        v.finish()?;

        let mut tx = self.store.begin().await?;
        let team = self.billable_team(&mut tx, actor, input.team_id).await?;
        let subscribed: HashSet<Id> =
            subscriptions::active_model_ids(&mut tx, principal.user_id, &input.model_ids).await?.into_iter().collect();
        let mut v = Validator::new();
        for (i, model_id) in input.model_ids.iter().enumerate() {
            let field = format!("modelIds[{i}]");
            if !subscribed.contains(model_id) {
                v.error(&field, format!("you have no active subscription to model {model_id}"));
            } else if !team.model_ids.is_empty() && !team.model_ids.contains(model_id) {
                v.error(&field, format!("the team {:?} may not use model {model_id}", team.name));
            }
        }
        v.finish()?;

        let secret = new_secret();
        let (prefix, last4) = api_key::visible_parts(&secret);
        let key = ApiKey {
            id: self.ids.next_id(),
            user_id: principal.user_id,
            team_id: Some(team.id),
            name: input.name,
            prefix,
            last4,
            model_ids: input.model_ids,
            max_budget: input.max_budget,
            spend: Usd::ZERO,
            tpm_limit: input.tpm_limit,
            rpm_limit: input.rpm_limit,
            max_parallel: input.max_parallel,
            budget_period: input.budget_period,
            expires_at: input.expires_at,
            revoked_at: None,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        };
        api_keys::insert(&mut tx, &key, &digest(&secret)).await?;
        let entry = AuditEntry::new(AuditAction::ApiKeyCreate, Some(actor.user_id))
            .resource(key.id)
            .after(views::api_key(&key));
        self.commit_audited(tx, &actor.client, entry).await?;
        tracing::info!(key_id = %key.id, user_id = %key.user_id, "API key created");
        self.notify(Change::ApiKey(key.id)).await;
        Ok(CreatedKey { key, secret })
    }

    pub async fn list_api_keys(&self, principal: &Principal, page: Input<PageRequest>) -> Result<Page<ApiKey>> {
        let page = page.read(authorize(principal, Action::UseModels)?)?;
        let mut conn = self.store.conn().await?;
        Ok(api_keys::list_for_user(&mut conn, principal.user_id, page).await?)
    }

    pub async fn get_api_key(&self, principal: &Principal, key_id: Id) -> Result<ApiKey> {
        authorize(principal, Action::UseModels)?;
        let mut conn = self.store.conn().await?;
        let key = api_keys::by_id(&mut conn, key_id).await?.ok_or_else(not_found)?;
        authorize_owner(principal, key.user_id).map_err(|_| not_found())?;
        Ok(key)
    }

    /// Revokes one of the caller's keys. It stops working on this replica before this
    /// returns. Revoking a revoked key changes nothing.
    pub async fn revoke_api_key(&self, actor: &Actor, key_id: Id) -> Result<ApiKey> {
        let attempt = AuditEntry::new(AuditAction::ApiKeyRevoke, Some(actor.user_id)).resource(key_id);
        self.audited(&actor.client, attempt, async {
            authorize(actor, Action::UseModels)?;
            let mut tx = self.store.begin().await?;
            let key = api_keys::by_id(&mut tx, key_id).await?.ok_or_else(not_found)?;
            authorize_owner(actor, key.user_id).map_err(|_| not_found())?;
            if api_keys::revoke(&mut tx, key_id, self.now()).await? {
                let revoked = api_keys::by_id(&mut tx, key.id).await?.ok_or_else(not_found)?;
                let entry = AuditEntry::new(AuditAction::ApiKeyRevoke, Some(actor.user_id))
                    .resource(key_id)
                    .before(views::api_key(&key))
                    .after(views::api_key(&revoked));
                self.audit(&mut tx, &actor.client, entry).await?;
                tracing::info!(%key_id, "API key revoked");
            }
            let key = api_keys::by_id(&mut tx, key.id).await?.ok_or_else(not_found)?;
            tx.commit().await.map_err(StoreError::from)?;
            self.notify(Change::ApiKey(key_id)).await;
            Ok(key)
        })
        .await
    }
}
