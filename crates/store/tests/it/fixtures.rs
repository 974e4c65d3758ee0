use std::sync::atomic::{AtomicI64, Ordering};

use purser_domain::api_key::ApiKey;
use purser_domain::model::{Capability, Deployment, Model};
use purser_domain::subscription::{Subscription, SubscriptionStatus};
use purser_domain::user::User;
use purser_domain::{Id, PlatformRole, Timestamp, TokenPrice, Usd};
use purser_store::Store;

pub const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

pub fn next_id() -> Id {
    static NEXT: AtomicI64 = AtomicI64::new(1000);
    Id::from_i64(NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn user(email: &str) -> User {
    User {
        id: next_id(),
        email: email.to_owned(),
        name: "Ada".into(),
        role: PlatformRole::User,
        active: true,
        email_verified: false,
        created_at: T0,
        updated_at: T0,
    }
}

pub fn deployment(model_id: Id, url: &str) -> Deployment {
    Deployment {
        id: next_id(),
        model_id,
        upstream_url: url.to_owned(),
        upstream_model: "upstream/model".into(),
        upstream_api_key: Some(vec![1, 2, 3, 0, 255]),
        weight: 1,
        rpm_limit: None,
        tpm_limit: Some(100_000),
        created_at: T0,
        updated_at: T0,
    }
}

pub fn model(name: &str) -> Model {
    let id = next_id();
    Model {
        id,
        name: name.to_owned(),
        provider: "vllm".into(),
        description: Some(format!("{name} served by vLLM")),
        deployments: vec![deployment(id, "http://vllm:8000/v1")],
        input_cost_per_token: TokenPrice::parse("0.00000015").unwrap(),
        output_cost_per_token: TokenPrice::parse("0.0000006").unwrap(),
        context_length: Some(128_000),
        capabilities: vec![Capability::Chat, Capability::Tools],
        restricted: false,
        created_at: T0,
        updated_at: T0,
    }
}

pub fn subscription(user: &User, model: &Model, status: SubscriptionStatus) -> Subscription {
    Subscription {
        id: next_id(),
        user_id: user.id,
        model_id: model.id,
        model_name: model.name.clone(),
        status,
        status_reason: None,
        created_at: T0,
        updated_at: T0,
    }
}

pub fn api_key(user: &User, models: &[&Model]) -> ApiKey {
    ApiKey {
        id: next_id(),
        user_id: user.id,
        team_id: None,
        name: "ci".into(),
        prefix: "sk-prs-abcd".into(),
        last4: "wxyz".into(),
        model_ids: models.iter().map(|m| m.id).collect(),
        max_budget: Some(Usd::parse("10").unwrap()),
        spend: Usd::ZERO,
        tpm_limit: Some(1000),
        rpm_limit: None,
        max_parallel: Some(4),
        budget_period: Some(purser_domain::org::BudgetPeriod::Weekly),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        created_at: T0,
        updated_at: T0,
    }
}

pub async fn insert_user(store: &Store, email: &str) -> User {
    let u = user(email);
    let mut conn = store.conn().await.unwrap();
    purser_store::users::insert(&mut conn, &u, Some("hash")).await.unwrap();
    u
}

pub async fn insert_model(store: &Store, name: &str) -> Model {
    let m = model(name);
    let mut conn = store.conn().await.unwrap();
    purser_store::models::insert(&mut conn, &m).await.unwrap();
    m
}
