//! How resources appear in the audit log: their state as JSON, with every secret replaced
//! by a statement of whether it is set.

use purser_domain::api_key::ApiKey;
use purser_domain::model::Model;
use purser_domain::subscription::Subscription;
use purser_domain::user::{User, UserLimits};
use serde_json::{Value, json};

pub fn user(u: &User) -> Value {
    json!({ "id": u.id, "email": u.email, "name": u.name, "role": u.role, "active": u.active })
}

pub fn model(m: &Model) -> Value {
    json!({
        "id": m.id, "name": m.name, "provider": m.provider, "description": m.description,
        "deployments": m.deployments.iter().map(|d| json!({
            "id": d.id, "upstreamUrl": d.upstream_url, "upstreamModel": d.upstream_model,
            "hasUpstreamApiKey": d.upstream_api_key.is_some(), "weight": d.weight,
            "rpmLimit": d.rpm_limit, "tpmLimit": d.tpm_limit,
        })).collect::<Vec<_>>(),
        "inputCostPerToken": m.input_cost_per_token, "outputCostPerToken": m.output_cost_per_token,
        "contextLength": m.context_length, "capabilities": m.capabilities, "restricted": m.restricted,
    })
}

pub fn user_limits(l: &UserLimits) -> Value {
    json!({
        "rpmLimit": l.rpm_limit, "tpmLimit": l.tpm_limit, "maxParallel": l.max_parallel,
        "maxBudget": l.max_budget, "budgetPeriod": l.budget_period,
    })
}

pub fn subscription(s: &Subscription) -> Value {
    json!({ "id": s.id, "userId": s.user_id, "modelId": s.model_id, "status": s.status, "statusReason": s.status_reason })
}

/// Keys appear by prefix and last four characters, never whole.
pub fn api_key(k: &ApiKey) -> Value {
    json!({
        "id": k.id, "userId": k.user_id, "teamId": k.team_id, "name": k.name, "keyPrefix": k.prefix, "keyLast4": k.last4,
        "modelIds": k.model_ids, "maxBudget": k.max_budget, "tpmLimit": k.tpm_limit, "rpmLimit": k.rpm_limit,
        "maxParallel": k.max_parallel, "budgetPeriod": k.budget_period, "expiresAt": k.expires_at, "revokedAt": k.revoked_at,
    })
}

pub fn organization(o: &purser_domain::org::Organization) -> Value {
    json!({
        "id": o.id, "name": o.name, "isDefault": o.is_default, "status": o.status,
        "maxMembers": o.max_members, "maxTeams": o.max_teams, "maxStorageBytes": o.max_storage_bytes,
        "documentTypes": o.document_types, "timestampUploads": o.timestamp_uploads,
    })
}

pub fn member(m: &purser_domain::org::Member) -> Value {
    json!({ "orgId": m.org_id, "userId": m.user_id, "email": m.email, "role": m.role })
}

pub fn team(t: &purser_domain::org::Team) -> Value {
    json!({
        "id": t.id, "orgId": t.org_id, "name": t.name, "description": t.description, "budget": t.budget,
        "budgetPeriod": t.budget_period, "tpmLimit": t.tpm_limit, "rpmLimit": t.rpm_limit,
        "maxParallel": t.max_parallel, "modelIds": t.model_ids,
        "permissions": t.permissions,
    })
}

pub fn invitation(i: &purser_domain::org::Invitation) -> Value {
    json!({
        "id": i.id, "orgId": i.org_id, "email": i.email, "role": i.role, "expiresAt": i.expires_at,
        "acceptedAt": i.accepted_at, "revokedAt": i.revoked_at,
    })
}
