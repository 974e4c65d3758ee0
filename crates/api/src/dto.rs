//! What travels over the management API: camelCase JSON, ids and money as strings,
//! RFC 3339 times. Request types refuse unknown fields so a typo is an error, not a no-op.

use purser_domain::api_key::{ApiKey, KeyStatus};
use purser_domain::model::{Capability, Deployment, Model};
use purser_domain::org::BudgetPeriod;
use purser_domain::page::Page;
use purser_domain::subscription::{Subscription, SubscriptionStatus};
use purser_domain::usage::{Bucket, ModelUsage, UsageRecord, UsageSummary, UsageTotals};
use purser_domain::user::User;
use purser_domain::{Id, PlatformRole, Timestamp, TokenPrice, Usd};
use purser_services::catalog::{DeploymentInput, DeploymentPatch};
use purser_services::feed::{BudgetScope, BudgetStatus};
use purser_services::usage::UsageSeries;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Reads a present field (even `null`) as `Some(..)`, so PATCH can tell "clear" from "keep".
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub page: u32,
    pub limit: u32,
    pub total: u64,
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T: ToSchema> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

impl<T: ToSchema> Paginated<T> {
    pub fn from_page<U>(page: Page<U>, f: impl FnMut(U) -> T) -> Self {
        Self {
            pagination: Pagination { page: page.page.page, limit: page.page.limit, total: page.total },
            data: page.items.into_iter().map(f).collect(),
        }
    }
}

// ---------------------------------------------------------------- identity

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 12 characters.
    #[schema(example = "correct horse battery staple")]
    pub password: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// A browser sign-in. The session lives in an HttpOnly cookie; send `csrfToken` back in
/// the `X-CSRF-Token` header on every request that changes something.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrowserSessionResponse {
    pub user: UserDto,
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDto {
    pub id: Id,
    pub email: String,
    pub name: String,
    pub role: PlatformRole,
    pub active: bool,
    /// Whether the login address is verified (needed to create organizations, accept
    /// invitations and reset the password).
    pub email_verified: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role,
            active: u.active,
            email_verified: u.email_verified,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserEmailDto {
    pub id: Id,
    pub email: String,
    pub primary: bool,
    pub verified: bool,
    pub verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl From<purser_domain::user::UserEmail> for UserEmailDto {
    fn from(e: purser_domain::user::UserEmail) -> Self {
        Self {
            id: e.id,
            email: e.email,
            primary: e.is_primary,
            verified: e.verified_at.is_some(),
            verified_at: e.verified_at,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendVerificationRequest {
    /// The address to verify; default the primary one.
    pub email_id: Option<Id>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailSent {
    /// Whether the mail was handed to the mail server (or written to the outbox).
    pub email_sent: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// The token from the mail.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetPasswordRequest {
    pub token: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer`; valid for `expiresIn` seconds.
    pub access_token: String,
    /// Single use: exchange it at `/api/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_in: i64,
    pub user: UserDto,
}

impl From<purser_services::auth::TokenPair> for TokenResponse {
    fn from(p: purser_services::auth::TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "Bearer",
            expires_in: p.expires_in,
            user: p.user.into(),
        }
    }
}

// ---------------------------------------------------------------- models

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateModelRequest {
    /// The public name clients send as `model`.
    #[schema(example = "llama-3.1-8b-instruct")]
    pub name: String,
    /// `mock` for Purser's built-in canned answers; any other name (`vllm`, `openai`, ...)
    /// for an OpenAI-compatible server at `upstreamUrl`.
    #[schema(example = "vllm")]
    pub provider: String,
    pub description: Option<String>,
    /// Shorthand for a model served by one deployment: its OpenAI-compatible base URL,
    /// e.g. `http://vllm:8000/v1`. Not used with `mock`, nor together with `deployments`.
    pub upstream_url: Option<String>,
    /// With `upstreamUrl`: the model name the upstream expects; defaults to `name`.
    pub upstream_model: Option<String>,
    /// With `upstreamUrl`: sent to the upstream as a bearer token. Encrypted at rest, never returned.
    pub upstream_api_key: Option<String>,
    /// The servers that answer this model (up to 16); requests are spread by weight.
    pub deployments: Option<Vec<CreateDeploymentRequest>>,
    /// Dollars per prompt token, as a decimal string; default 0 (an in-house model).
    #[serde(default)]
    pub input_cost_per_token: TokenPrice,
    /// Dollars per completion token; default 0.
    #[serde(default)]
    pub output_cost_per_token: TokenPrice,
    pub context_length: Option<u32>,
    pub capabilities: Vec<Capability>,
    /// Subscriptions to a restricted model wait for an admin's approval.
    #[serde(default)]
    pub restricted: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateModelRequest {
    pub name: Option<String>,
    pub provider: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub input_cost_per_token: Option<TokenPrice>,
    pub output_cost_per_token: Option<TokenPrice>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub context_length: Option<Option<u32>>,
    pub capabilities: Option<Vec<Capability>>,
    pub restricted: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelDto {
    pub id: Id,
    pub name: String,
    pub provider: String,
    /// True for models answered by Purser's built-in mock provider: canned text, no model server.
    pub mock: bool,
    pub description: Option<String>,
    pub input_cost_per_token: TokenPrice,
    pub output_cost_per_token: TokenPrice,
    pub context_length: Option<u32>,
    pub capabilities: Vec<Capability>,
    pub restricted: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Where the gateway sends the model's requests. Admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployments: Option<Vec<DeploymentDto>>,
}

/// One server that answers a model (shown to admins and read-only admins).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDto {
    pub id: Id,
    pub upstream_url: String,
    pub upstream_model: String,
    /// Whether an upstream API key is stored (the key itself is never shown).
    pub has_api_key: bool,
    pub weight: u32,
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&Deployment> for DeploymentDto {
    fn from(d: &Deployment) -> Self {
        Self {
            id: d.id,
            upstream_url: d.upstream_url.clone(),
            upstream_model: d.upstream_model.clone(),
            has_api_key: d.upstream_api_key.is_some(),
            weight: d.weight,
            rpm_limit: d.rpm_limit,
            tpm_limit: d.tpm_limit,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDeploymentRequest {
    /// OpenAI-compatible base URL, e.g. `http://vllm:8000/v1`.
    pub upstream_url: String,
    /// The model name this server expects; defaults to the model's name.
    pub upstream_model: Option<String>,
    /// Sent to the server as a bearer token. Encrypted at rest, never returned.
    pub upstream_api_key: Option<String>,
    /// Share of the model's traffic relative to its other deployments (1 to 1000, default 1).
    pub weight: Option<u32>,
    /// This server's own requests-per-minute limit.
    pub rpm_limit: Option<u32>,
    /// This server's own tokens-per-minute limit.
    pub tpm_limit: Option<u32>,
}

impl From<CreateDeploymentRequest> for DeploymentInput {
    fn from(b: CreateDeploymentRequest) -> Self {
        Self {
            upstream_url: b.upstream_url,
            upstream_model: b.upstream_model,
            upstream_api_key: b.upstream_api_key,
            weight: b.weight,
            rpm_limit: b.rpm_limit,
            tpm_limit: b.tpm_limit,
        }
    }
}

/// Absent fields stay; `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateDeploymentRequest {
    pub upstream_url: Option<String>,
    pub upstream_model: Option<String>,
    /// A new key, or `null` to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub upstream_api_key: Option<Option<String>>,
    pub weight: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub rpm_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub tpm_limit: Option<Option<u32>>,
}

impl From<UpdateDeploymentRequest> for DeploymentPatch {
    fn from(b: UpdateDeploymentRequest) -> Self {
        Self {
            upstream_url: b.upstream_url,
            upstream_model: b.upstream_model,
            upstream_api_key: b.upstream_api_key,
            weight: b.weight,
            rpm_limit: b.rpm_limit,
            tpm_limit: b.tpm_limit,
        }
    }
}

impl ModelDto {
    pub fn new(m: Model, internals: bool) -> Self {
        let deployments = internals.then(|| m.deployments.iter().map(DeploymentDto::from).collect());
        Self {
            mock: m.kind() == purser_domain::model::ProviderKind::Mock,
            id: m.id,
            name: m.name,
            provider: m.provider,
            description: m.description,
            input_cost_per_token: m.input_cost_per_token,
            output_cost_per_token: m.output_cost_per_token,
            context_length: m.context_length,
            capabilities: m.capabilities,
            restricted: m.restricted,
            created_at: m.created_at,
            updated_at: m.updated_at,
            deployments,
        }
    }
}

// ---------------------------------------------------------------- subscriptions

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    pub model_id: Id,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewRequest {
    /// Shown to the user.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionDto {
    pub id: Id,
    pub user_id: Id,
    pub model_id: Id,
    pub model_name: String,
    pub status: SubscriptionStatus,
    pub status_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Subscription> for SubscriptionDto {
    fn from(s: Subscription) -> Self {
        Self {
            id: s.id,
            user_id: s.user_id,
            model_id: s.model_id,
            model_name: s.model_name,
            status: s.status,
            status_reason: s.status_reason,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

// ---------------------------------------------------------------- API keys

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(example = "notebook")]
    pub name: String,
    /// Models the key may use; you need an active subscription to each.
    pub model_ids: Vec<Id>,
    /// The team billed for the key's usage, whose limits also apply; default your Default Team.
    pub team_id: Option<Id>,
    /// Spend (USD) after which the key is refused with `insufficient_quota`.
    pub max_budget: Option<Usd>,
    /// With `maxBudget`: the budget resets each day, week (Monday) or month (UTC).
    pub budget_period: Option<BudgetPeriod>,
    pub tpm_limit: Option<u32>,
    pub rpm_limit: Option<u32>,
    /// Requests the key may have in flight at once.
    pub max_parallel: Option<u32>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyDto {
    pub id: Id,
    pub team_id: Option<Id>,
    pub name: String,
    /// The start of the key, e.g. `sk-prs-AbCd`.
    pub key_prefix: String,
    /// The last four characters of the key.
    pub key_last4: String,
    pub model_ids: Vec<Id>,
    pub max_budget: Option<Usd>,
    pub budget_period: Option<BudgetPeriod>,
    /// All-time spend (as of the last metered batch).
    pub spend: Usd,
    pub tpm_limit: Option<u32>,
    pub rpm_limit: Option<u32>,
    pub max_parallel: Option<u32>,
    pub status: KeyStatus,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl ApiKeyDto {
    pub fn new(k: ApiKey, now: Timestamp) -> Self {
        Self {
            status: k.status(now),
            id: k.id,
            team_id: k.team_id,
            name: k.name,
            key_prefix: k.prefix,
            key_last4: k.last4,
            model_ids: k.model_ids,
            max_budget: k.max_budget,
            budget_period: k.budget_period,
            spend: k.spend,
            tpm_limit: k.tpm_limit,
            rpm_limit: k.rpm_limit,
            max_parallel: k.max_parallel,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
            created_at: k.created_at,
        }
    }
}

/// A new key. `key` is shown this once; Purser keeps only its hash.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKeyDto {
    pub key: String,
    #[serde(flatten)]
    pub api_key: ApiKeyDto,
}

// ---------------------------------------------------------------- usage

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotalsDto {
    pub requests: u64,
    /// Of `requests`, those whose tokens Purser counted itself: the model server sent no
    /// usage, or the client left before it did.
    pub estimated_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub cost: Usd,
}

impl From<UsageTotals> for UsageTotalsDto {
    fn from(t: UsageTotals) -> Self {
        Self {
            requests: t.requests,
            estimated_requests: t.estimated_requests,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            total_tokens: t.prompt_tokens + t.completion_tokens,
            cost: t.cost,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsageDto {
    pub model_id: Id,
    pub model_name: String,
    #[serde(flatten)]
    pub totals: UsageTotalsDto,
}

impl From<ModelUsage> for ModelUsageDto {
    fn from(m: ModelUsage) -> Self {
        Self { model_id: m.model_id, model_name: m.model_name, totals: m.totals.into() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageSummaryDto {
    pub user_id: Id,
    /// Start of the window (inclusive).
    pub from: Timestamp,
    /// End of the window (exclusive).
    pub to: Timestamp,
    pub totals: UsageTotalsDto,
    pub by_model: Vec<ModelUsageDto>,
}

impl UsageSummaryDto {
    pub fn new(user_id: Id, s: UsageSummary) -> Self {
        Self {
            user_id,
            from: s.from,
            to: s.to,
            totals: s.totals.into(),
            by_model: s.by_model.into_iter().map(Into::into).collect(),
        }
    }
}

/// One bucket of one model's usage.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsagePointDto {
    /// The start of the bucket (UTC).
    pub at: Timestamp,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Usd,
}

/// One model's usage over time; buckets without usage are left out.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSeriesDto {
    pub model_id: Id,
    pub model_name: String,
    pub points: Vec<UsagePointDto>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageTimeseriesDto {
    pub user_id: Id,
    pub from: Timestamp,
    pub to: Timestamp,
    pub bucket: Bucket,
    /// One series per model, in the order of first use.
    pub series: Vec<ModelSeriesDto>,
}

impl From<UsageSeries> for UsageTimeseriesDto {
    fn from(s: UsageSeries) -> Self {
        let mut series: Vec<ModelSeriesDto> = Vec::new();
        for p in s.points {
            let point = UsagePointDto {
                at: p.at,
                requests: p.requests,
                prompt_tokens: p.prompt_tokens,
                completion_tokens: p.completion_tokens,
                cost: p.cost,
            };
            match series.iter_mut().find(|m| m.model_id == p.model_id) {
                Some(model) => model.points.push(point),
                None => series.push(ModelSeriesDto {
                    model_id: p.model_id,
                    // A model no longer in the catalog is named by its id.
                    model_name: if p.model_name.is_empty() { p.model_id.to_string() } else { p.model_name },
                    points: vec![point],
                }),
            }
        }
        Self { user_id: s.user_id, from: s.from, to: s.to, bucket: s.bucket, series }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum BudgetScopeDto {
    Key,
    Team,
    User,
}

/// A budget on the caller's use of models and its spend in the current period.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetDto {
    pub scope: BudgetScopeDto,
    /// The key's, team's or user's id.
    pub id: Id,
    /// The key's or team's name; empty for the user's own budget.
    pub name: String,
    pub budget: Usd,
    /// None: the budget is for all time.
    pub period: Option<BudgetPeriod>,
    pub period_start: Timestamp,
    pub spend: Usd,
}

impl From<BudgetStatus> for BudgetDto {
    fn from(b: BudgetStatus) -> Self {
        Self {
            scope: match b.scope {
                BudgetScope::Key => BudgetScopeDto::Key,
                BudgetScope::Team => BudgetScopeDto::Team,
                BudgetScope::User => BudgetScopeDto::User,
            },
            id: b.id,
            name: b.name,
            budget: b.budget,
            period: b.period,
            period_start: b.period_start,
            spend: b.spend,
        }
    }
}

/// One metered request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageRecordDto {
    pub id: Id,
    pub created_at: Timestamp,
    /// The gateway's `x-request-id` for the request.
    pub request_id: String,
    pub key_id: Id,
    pub team_id: Option<Id>,
    pub model_id: Id,
    pub model_name: String,
    /// `chat/completions`, `completions` or `embeddings`.
    pub endpoint: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Usd,
    pub latency_ms: u64,
    /// The HTTP status of the answer (499: the client left first).
    pub status: u16,
    pub streamed: bool,
    /// The tokens were counted by Purser, not reported by the model server.
    pub estimated: bool,
}

impl From<UsageRecord> for UsageRecordDto {
    fn from(r: UsageRecord) -> Self {
        Self {
            id: r.id,
            created_at: r.created_at,
            request_id: r.request_id,
            key_id: r.key_id,
            team_id: r.team_id,
            model_id: r.model_id,
            model_name: r.model_name,
            endpoint: r.endpoint,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cost: r.cost,
            latency_ms: r.latency_ms,
            status: r.status,
            streamed: r.streamed,
            estimated: r.estimated,
        }
    }
}

// ---------------------------------------------------------------- audit

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryDto {
    pub id: Id,
    pub occurred_at: Timestamp,
    pub actor_id: Option<Id>,
    /// e.g. `organization.create`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub org_id: Option<Id>,
    /// The resource before the change, secrets removed.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The resource after the change, secrets removed.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub success: bool,
    /// For failed attempts: the error code the caller received.
    pub error_code: Option<String>,
}

impl From<purser_domain::audit::AuditRecord> for AuditEntryDto {
    fn from(r: purser_domain::audit::AuditRecord) -> Self {
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Self {
            id: r.id,
            occurred_at: r.occurred_at,
            actor_id: r.actor_id,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            org_id: r.org_id,
            before: json(r.before),
            after: json(r.after),
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            success: r.success,
            error_code: r.error_code,
        }
    }
}

// ---------------------------------------------------------------- organizations

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    #[schema(example = "Research")]
    pub name: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    /// Owners and admins.
    pub name: Option<String>,
    /// Platform admins; `null` removes the quota.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub max_members: Option<Option<u32>>,
    /// Platform admins; `null` removes the quota.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub max_teams: Option<Option<u32>>,
    /// Platform admins: bytes the organization's files may take; `null` removes the quota.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u64>)]
    pub max_storage_bytes: Option<Option<u64>>,
    /// Owners and admins: MIME types documents may have; `null` restores the default list.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub document_types: Option<Option<Vec<String>>>,
    /// Owners and admins: time-stamp documents as they are uploaded (needs a time-stamping
    /// authority configured on the server).
    pub timestamp_uploads: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationDto {
    pub id: Id,
    pub name: String,
    /// The organization everyone belongs to.
    pub is_default: bool,
    pub status: purser_domain::org::OrgStatus,
    pub max_members: Option<u32>,
    pub max_teams: Option<u32>,
    pub max_storage_bytes: Option<u64>,
    /// MIME types documents may have (the default list when not chosen).
    pub document_types: Vec<String>,
    /// Whether `documentTypes` is the default list.
    pub default_document_types: bool,
    /// Documents are time-stamped (RFC 3161) as they are uploaded.
    pub timestamp_uploads: bool,
    pub member_count: Option<u64>,
    /// Your role here (absent for platform admins who are not members).
    pub my_role: Option<purser_domain::org::OrgRole>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl OrganizationDto {
    pub fn new(
        o: purser_domain::org::Organization,
        my_role: Option<purser_domain::org::OrgRole>,
        member_count: Option<u64>,
    ) -> Self {
        Self {
            id: o.id,
            name: o.name,
            is_default: o.is_default,
            status: o.status,
            max_members: o.max_members,
            max_teams: o.max_teams,
            max_storage_bytes: o.max_storage_bytes,
            default_document_types: o.document_types.is_none(),
            timestamp_uploads: o.timestamp_uploads,
            document_types: o.document_types.unwrap_or_else(|| {
                purser_domain::document::DEFAULT_DOCUMENT_TYPES.iter().map(|t| (*t).to_owned()).collect()
            }),
            member_count,
            my_role,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

impl From<purser_services::orgs::OrgView> for OrganizationDto {
    fn from(v: purser_services::orgs::OrgView) -> Self {
        Self::new(v.org, v.role, Some(v.members))
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedOrganizationDto {
    pub deleted: bool,
    /// Until then the organization's data is kept.
    pub purge_after: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberDto {
    pub org_id: Id,
    pub user_id: Id,
    pub email: String,
    pub name: String,
    pub role: purser_domain::org::OrgRole,
    pub joined_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<purser_domain::org::Member> for MemberDto {
    fn from(m: purser_domain::org::Member) -> Self {
        Self {
            org_id: m.org_id,
            user_id: m.user_id,
            email: m.email,
            name: m.name,
            role: m.role,
            joined_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMemberRequest {
    pub role: purser_domain::org::OrgRole,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferOwnershipRequest {
    /// The member who becomes owner; you become an admin.
    pub user_id: Id,
}

// ---------------------------------------------------------------- invitations

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInvitationRequest {
    pub email: String,
    pub role: purser_domain::org::OrgRole,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationDto {
    pub id: Id,
    pub org_id: Id,
    pub email: String,
    pub role: purser_domain::org::OrgRole,
    pub status: purser_domain::org::InvitationStatus,
    pub invited_by: Id,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// On creation: whether the invitation mail went out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_sent: Option<bool>,
}

impl InvitationDto {
    pub fn new(i: purser_domain::org::Invitation, now: Timestamp) -> Self {
        Self {
            status: i.status(now),
            id: i.id,
            org_id: i.org_id,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by,
            created_at: i.created_at,
            expires_at: i.expires_at,
            accepted_at: i.accepted_at,
            revoked_at: i.revoked_at,
            email_sent: None,
        }
    }
}

// ---------------------------------------------------------------- teams

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTeamRequest {
    pub name: String,
    pub description: Option<String>,
    /// Spend allowed per `budgetPeriod` across the team's keys.
    pub budget: Option<Usd>,
    pub budget_period: Option<purser_domain::org::BudgetPeriod>,
    pub tpm_limit: Option<u32>,
    pub rpm_limit: Option<u32>,
    /// Requests the team's keys may have in flight at once, together.
    pub max_parallel: Option<u32>,
    /// Models the team may use; empty or absent means all.
    #[serde(default)]
    pub model_ids: Vec<Id>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTeamRequest {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Usd>)]
    pub budget: Option<Option<Usd>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<purser_domain::org::BudgetPeriod>)]
    pub budget_period: Option<Option<purser_domain::org::BudgetPeriod>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub tpm_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub rpm_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub max_parallel: Option<Option<u32>>,
    pub model_ids: Option<Vec<Id>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamDto {
    pub id: Id,
    pub org_id: Id,
    pub name: String,
    pub description: Option<String>,
    pub is_default: bool,
    pub budget: Option<Usd>,
    pub budget_period: Option<purser_domain::org::BudgetPeriod>,
    pub tpm_limit: Option<u32>,
    pub rpm_limit: Option<u32>,
    pub max_parallel: Option<u32>,
    /// Empty: every model.
    pub model_ids: Vec<Id>,
    /// Organization permissions delegated to the team's members.
    pub permissions: Vec<purser_domain::org::Permission>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<purser_domain::org::Team> for TeamDto {
    fn from(t: purser_domain::org::Team) -> Self {
        Self {
            id: t.id,
            org_id: t.org_id,
            name: t.name,
            description: t.description,
            is_default: t.is_default,
            budget: t.budget,
            budget_period: t.budget_period,
            tpm_limit: t.tpm_limit,
            rpm_limit: t.rpm_limit,
            max_parallel: t.max_parallel,
            model_ids: t.model_ids,
            permissions: t.permissions,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamPermissionsRequest {
    pub permissions: Vec<purser_domain::org::Permission>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddTeamMemberRequest {
    pub user_id: Id,
    #[serde(default)]
    pub manager: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTeamMemberRequest {
    pub manager: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamMemberDto {
    pub team_id: Id,
    pub user_id: Id,
    pub email: String,
    pub name: String,
    pub manager: bool,
    pub joined_at: Timestamp,
}

impl From<purser_domain::org::TeamMember> for TeamMemberDto {
    fn from(m: purser_domain::org::TeamMember) -> Self {
        Self {
            team_id: m.team_id,
            user_id: m.user_id,
            email: m.email,
            name: m.name,
            manager: m.manager,
            joined_at: m.created_at,
        }
    }
}

// ---------------------------------------------------------------- users and sessions

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub role: Option<PlatformRole>,
    /// `false` deactivates: sessions end and keys stop at once.
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDto {
    pub id: Id,
    /// The session this request was made with.
    pub current: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedSessions {
    pub revoked: u64,
}

// ---------------------------------------------------------------- user limits

/// Limits on everything a user does through the gateway, across all their keys. Absent or
/// `null`: no limit.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserLimitsDto {
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    /// Requests the user's keys may have in flight at once, together.
    pub max_parallel: Option<u32>,
    /// Spend (USD) after which the user's keys are refused with `insufficient_quota`.
    pub max_budget: Option<Usd>,
    /// With `maxBudget`: the budget resets each day, week (Monday) or month (UTC).
    pub budget_period: Option<BudgetPeriod>,
}

impl From<purser_domain::user::UserLimits> for UserLimitsDto {
    fn from(l: purser_domain::user::UserLimits) -> Self {
        Self {
            rpm_limit: l.rpm_limit,
            tpm_limit: l.tpm_limit,
            max_parallel: l.max_parallel,
            max_budget: l.max_budget,
            budget_period: l.budget_period,
        }
    }
}

impl From<UserLimitsDto> for purser_services::users::UserLimitsInput {
    fn from(b: UserLimitsDto) -> Self {
        Self {
            rpm_limit: b.rpm_limit,
            tpm_limit: b.tpm_limit,
            max_parallel: b.max_parallel,
            max_budget: b.max_budget,
            budget_period: b.budget_period,
        }
    }
}

// ---------------------------------------------------------------- documents

/// The form of an upload (documentation only: the body is read as a stream).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DocumentUploadForm {
    /// The file; its part's `Content-Type` is the document's type.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// The document's name; default the file's name.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDto {
    pub id: Id,
    pub name: String,
    pub mime_type: String,
    pub size: u64,
    /// Hex; the file's identity in the organization, also its ETag.
    pub sha256: String,
    /// Hex; a checksum only.
    pub md5: String,
    pub owner_id: Id,
    /// When a time-stamping authority attested these bytes existed (RFC 3161); its reply is
    /// at `/timestamp.tsr`.
    pub timestamped_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<purser_domain::document::Document> for DocumentDto {
    fn from(d: purser_domain::document::Document) -> Self {
        Self {
            id: d.id,
            name: d.name,
            mime_type: d.mime_type,
            size: d.size,
            sha256: d.sha256,
            md5: d.md5,
            owner_id: d.owner_id,
            timestamped_at: d.timestamped_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedDocumentDto {
    pub document: DocumentDto,
    /// The organization stored these bytes already; they were not stored again.
    pub deduplicated: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenameDocumentRequest {
    /// 1 to 255 characters, no `/`, `\\` or control characters.
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimestampDocumentsRequest {
    /// 1 to 1,000 documents to time-stamp.
    #[schema(value_type = Vec<String>)]
    pub document_ids: Vec<Id>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentStampDto {
    pub document_id: Id,
    /// `timestamped`, `already_timestamped` (its bytes carry a stamp), `not_found` or `failed`.
    pub status: String,
    pub timestamped_at: Option<Timestamp>,
    /// Why the authority gave no valid timestamp, when `failed`.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimestampDocumentsDto {
    pub results: Vec<DocumentStampDto>,
    pub timestamped: usize,
    pub already_timestamped: usize,
    pub not_found: usize,
    pub failed: usize,
}

impl From<Vec<purser_services::timestamps::StampResult>> for TimestampDocumentsDto {
    fn from(results: Vec<purser_services::timestamps::StampResult>) -> Self {
        use purser_services::timestamps::StampOutcome;
        let count = |o: StampOutcome| results.iter().filter(|r| r.outcome == o).count();
        Self {
            timestamped: count(StampOutcome::Timestamped),
            already_timestamped: count(StampOutcome::AlreadyTimestamped),
            not_found: count(StampOutcome::NotFound),
            failed: count(StampOutcome::Failed),
            results: results
                .into_iter()
                .map(|r| DocumentStampDto {
                    document_id: r.document_id,
                    status: r.outcome.as_str().to_owned(),
                    timestamped_at: r.timestamped_at,
                    error: r.error,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentLinkDto {
    /// Downloads the document without signing in until `expiresAt`.
    pub url: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageDto {
    pub documents: u64,
    /// Distinct files stored.
    pub files: u64,
    pub bytes_stored: u64,
    /// What storing every document's bytes separately would have added.
    pub bytes_saved: u64,
    /// The organization's quota, if it has one.
    pub max_storage_bytes: Option<u64>,
    /// The largest upload accepted.
    pub max_upload_bytes: u64,
    /// A time-stamping authority is configured: documents can be time-stamped.
    pub timestamps_available: bool,
}

impl From<purser_services::documents::StorageView> for StorageDto {
    fn from(v: purser_services::documents::StorageView) -> Self {
        Self {
            documents: v.usage.documents,
            files: v.usage.files,
            bytes_stored: v.usage.bytes_stored,
            bytes_saved: v.usage.bytes_saved,
            max_storage_bytes: v.max_storage_bytes,
            max_upload_bytes: v.max_upload_bytes,
            timestamps_available: v.timestamps_available,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrphanedFileDto {
    pub sha256: String,
    pub size: u64,
    pub created_at: Timestamp,
    /// When the last document naming it went.
    pub orphaned_at: Option<Timestamp>,
}

impl From<purser_domain::document::StoredFile> for OrphanedFileDto {
    fn from(f: purser_domain::document::StoredFile) -> Self {
        Self { sha256: f.sha256, size: f.size, created_at: f.created_at, orphaned_at: f.orphaned_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrphansRemovedDto {
    pub removed: u64,
}

// ---------------------------------------------------------------- webhooks

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// http or https; never a link-local or metadata address.
    #[schema(example = "https://hooks.example.com/purser")]
    pub url: String,
    /// Event types to send, or `["*"]` for all.
    #[schema(example = json!(["document.uploaded", "member.added"]))]
    pub event_types: Vec<String>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDto {
    pub id: Id,
    pub url: String,
    pub event_types: Vec<String>,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<purser_domain::webhook::Webhook> for WebhookDto {
    fn from(w: purser_domain::webhook::Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            event_types: w.event_types,
            active: w.active,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhookDto {
    pub webhook: WebhookDto,
    /// Shown only here: the key of every delivery's signature.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDto {
    pub id: Id,
    pub event_id: Id,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up after 8 attempts).
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<purser_domain::webhook::Delivery> for DeliveryDto {
    fn from(d: purser_domain::webhook::Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

// ---- Vaults, grants, service clients and vault tokens ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateVaultRequest {
    #[schema(example = "payments")]
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateVaultRequest {
    pub name: Option<String>,
    /// An empty string clears it.
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultDto {
    pub id: Id,
    pub name: String,
    pub description: Option<String>,
    /// Whether the policy engine has the vault's current state.
    pub sync_status: purser_domain::vault::SyncStatus,
    pub sync_error: Option<String>,
    pub synced_at: Option<Timestamp>,
    pub created_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<purser_domain::vault::Vault> for VaultDto {
    fn from(v: purser_domain::vault::Vault) -> Self {
        Self {
            id: v.id,
            name: v.name,
            description: v.description,
            sync_status: v.sync_status,
            sync_error: v.sync_error,
            synced_at: v.synced_at,
            created_by: v.created_by,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// A vault with the caller's own effective role on it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultDetailDto {
    #[serde(flatten)]
    pub vault: VaultDto,
    /// The highest of your own grant and your teams' grants; null: none.
    pub my_role: Option<purser_domain::vault::VaultRole>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GranteeType {
    User,
    Team,
    Client,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantDto {
    pub grantee_type: GranteeType,
    pub grantee_id: Id,
    pub role: purser_domain::vault::VaultRole,
    pub granted_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<purser_domain::vault::Grant> for GrantDto {
    fn from(g: purser_domain::vault::Grant) -> Self {
        use purser_domain::vault::Grantee;
        let grantee_type = match g.grantee {
            Grantee::User(_) => GranteeType::User,
            Grantee::Team(_) => GranteeType::Team,
            Grantee::Client(_) => GranteeType::Client,
        };
        Self {
            grantee_type,
            grantee_id: g.grantee.id(),
            role: g.role,
            granted_by: g.granted_by,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutGrantRequest {
    pub role: purser_domain::vault::VaultRole,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserVaultTokenRequest {
    /// The role wanted; capped by your effective role. Default: your effective role.
    pub role: Option<purser_domain::vault::VaultRole>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultTokenDto {
    /// An EdDSA JWT for the policy engine; verify it with `/.well-known/jwks.json`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_in: i64,
    /// Single use: exchange it at `/api/v1/token` (`grant_type=refresh_token`).
    pub refresh_token: String,
    pub vault_id: Id,
    pub vault_role: purser_domain::vault::VaultRole,
    pub scope: String,
}

impl From<purser_services::vault_tokens::IssuedVaultToken> for VaultTokenDto {
    fn from(t: purser_services::vault_tokens::IssuedVaultToken) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            vault_id: t.vault_id,
            vault_role: t.role,
            scope: t.role.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedDto {
    /// How many refresh tokens were revoked.
    pub revoked: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateClientRequest {
    #[schema(example = "billing-service")]
    pub name: Option<String>,
    pub description: Option<String>,
    /// Default false.
    pub disabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateClientRequest {
    pub name: Option<String>,
    /// An empty string clears it.
    pub description: Option<String>,
    /// A disabled client gets no tokens, and its refresh tokens are revoked.
    pub disabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientDto {
    pub id: Id,
    pub name: String,
    pub description: Option<String>,
    pub disabled: bool,
    pub created_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<purser_domain::vault::ServiceClient> for ClientDto {
    fn from(c: purser_domain::vault::ServiceClient) -> Self {
        Self {
            id: c.id,
            name: c.name,
            description: c.description,
            disabled: c.disabled,
            created_by: c.created_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// An Ed25519 public key as a JSON Web Key (RFC 8037).
#[derive(Debug, Serialize, ToSchema)]
pub struct JwkDto {
    #[schema(example = "OKP")]
    pub kty: &'static str,
    #[schema(example = "Ed25519")]
    pub crv: &'static str,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: &'static str,
    #[schema(example = "EdDSA")]
    pub alg: &'static str,
}

impl JwkDto {
    pub fn ed25519(kid: String, public_key: &[u8]) -> Self {
        use base64::Engine as _;
        Self {
            kty: "OKP",
            crv: "Ed25519",
            x: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public_key),
            kid,
            use_: "sig",
            alg: "EdDSA",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertificateStatus {
    Active,
    Expired,
    Revoked,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateDto {
    pub id: Id,
    /// Put it in the `kid` header of the client's assertions.
    pub kid: String,
    pub name: String,
    pub public_key: JwkDto,
    pub status: CertificateStatus,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl CertificateDto {
    pub fn new(c: purser_domain::vault::Certificate, now: Timestamp) -> Self {
        let status = match (c.revoked_at, c.usable(now)) {
            (Some(_), _) => CertificateStatus::Revoked,
            (None, true) => CertificateStatus::Active,
            (None, false) => CertificateStatus::Expired,
        };
        Self {
            id: c.id,
            public_key: JwkDto::ed25519(c.kid.clone(), &c.public_key),
            kid: c.kid,
            name: c.name,
            status,
            created_at: c.created_at,
            expires_at: c.expires_at,
            last_used_at: c.last_used_at,
            revoked_at: c.revoked_at,
        }
    }
}

/// A client with its certificates.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientDetailDto {
    #[serde(flatten)]
    pub client: ClientDto,
    pub certificates: Vec<CertificateDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddCertificateRequest {
    #[schema(example = "production 2026")]
    pub name: String,
    /// The client's Ed25519 public key: a JWK (`{"kty":"OKP","crv":"Ed25519","x":"..."}`) or a
    /// PEM `PUBLIC KEY`. Leave it out to have Purser make a pair and return the private key
    /// once.
    #[schema(value_type = Option<Object>)]
    pub public_key: Option<serde_json::Value>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedCertificateDto {
    pub certificate: CertificateDto,
    /// Only when Purser made the pair: the private key, PKCS#8 PEM. Shown this once and never
    /// stored; keep it where the client runs.
    pub private_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JwksDto {
    pub keys: Vec<JwkDto>,
}

/// A vault token from the token endpoint (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthTokenDto {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    /// The vault role granted.
    pub scope: String,
    pub vault_role: purser_domain::vault::VaultRole,
    pub vault_id: Id,
}

impl From<purser_services::vault_tokens::IssuedVaultToken> for OAuthTokenDto {
    fn from(t: purser_services::vault_tokens::IssuedVaultToken) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            scope: t.role.as_str().to_owned(),
            vault_role: t.role,
            vault_id: t.vault_id,
        }
    }
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorDto {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `server_error` or `temporarily_unavailable`.
    pub error: &'static str,
    pub error_description: String,
}

/// The token endpoint's form (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // Read field by field from the form; this documents it.
pub struct TokenForm {
    /// `client_credentials` or `refresh_token`.
    pub grant_type: String,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (with `client_credentials`).
    pub client_assertion_type: Option<String>,
    /// An EdDSA JWT signed with a client certificate's key: header `kid`; `iss` = `sub` = the
    /// client id; `aud` = this endpoint's URL; `exp` at most 5 minutes ahead; a unique `jti`.
    pub client_assertion: Option<String>,
    /// The vault (with `client_credentials`).
    pub vault_id: Option<String>,
    /// The vault role wanted: `reader`, `writer`, `manager` or `admin` (at most the grant's).
    pub scope: Option<String>,
    /// The same as `scope` (InferaDB's name).
    pub requested_role: Option<String>,
    /// With `refresh_token`.
    pub refresh_token: Option<String>,
}

/// RFC 8414 authorization server metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerMetadataDto {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub scopes_supported: Vec<&'static str>,
    pub service_documentation: String,
}
