//! Subscriptions: users ask for access to a model; restricted models wait for an admin.

use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action, authorize, authorize_owner};
use purser_domain::subscription::{Subscription, SubscriptionStatus, initial_status};
use purser_domain::{Id, Principal, Validator};
use purser_store::subscriptions::{self, SubscriptionFilter};
use purser_store::{AnyConnection, StoreError, api_keys, models};
use serde_json::json;

use crate::audit::{Asked, AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::{Actor, Input, Services, views};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

const MAX_REASON_CHARS: usize = 500;

fn not_found() -> Error {
    Error::not_found("subscription_not_found", "subscription")
}

async fn reload(conn: &mut AnyConnection, id: Id) -> Result<Subscription> {
    subscriptions::by_id(conn, id).await?.ok_or_else(not_found)
}

impl Services {
    /// Subscribes the caller to a model: active at once, or pending approval when the
    /// model is restricted. Subscribing again after a cancellation or denial reopens the
    /// same subscription (there is one per user and model).
    pub async fn subscribe(&self, actor: &Actor, model_id: Input<Id>) -> Result<Subscription> {
        let attempt = AuditEntry::new(AuditAction::SubscriptionCreate, Some(actor.user_id));
        let asked = Asked::default();
        self.audited_asking(&actor.client, attempt, &asked, self.subscribe_inner(actor, model_id, &asked)).await
    }

    async fn subscribe_inner(&self, actor: &Actor, model_id: Input<Id>, asked: &Asked) -> Result<Subscription> {
        let principal = &actor.principal;
        let model_id = model_id.read(authorize(principal, Action::UseModels)?)?;
        asked.was(model_id, json!({ "modelId": model_id }));
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let model =
            models::by_id(&mut tx, model_id).await?.ok_or_else(|| Error::not_found("model_not_found", "model"))?;
        let status = initial_status(model.restricted);
        let existing = subscriptions::for_user_and_model(&mut tx, principal.user_id, model_id).await?;
        let before = existing.as_ref().map(views::subscription);
        let id = match existing {
            Some(existing) if !existing.status.can_resubscribe() => {
                return Err(Error::conflict(
                    "already_subscribed",
                    format!("you already have a {} subscription to {}", existing.status, model.name),
                ));
            }
            Some(existing) => {
                subscriptions::set_status(&mut tx, existing.id, status, None, now).await?;
                existing.id
            }
            None => {
                let subscription = Subscription {
                    id: self.ids.next_id(),
                    user_id: principal.user_id,
                    model_id,
                    model_name: model.name.clone(),
                    status,
                    status_reason: None,
                    created_at: now,
                    updated_at: now,
                };
                match subscriptions::insert(&mut tx, &subscription).await {
                    // Two concurrent requests: the other one won.
                    Err(StoreError::Conflict(_)) => {
                        return Err(Error::conflict(
                            "already_subscribed",
                            format!("you are already subscribed to {}", model.name),
                        ));
                    }
                    other => other?,
                }
                subscription.id
            }
        };
        let subscription = reload(&mut tx, id).await?;
        let mut entry = AuditEntry::new(AuditAction::SubscriptionCreate, Some(actor.user_id))
            .resource(id)
            .after(views::subscription(&subscription));
        entry.before = before;
        self.commit_audited(tx, &actor.client, entry).await?;
        tracing::info!(subscription_id = %id, %model_id, status = %subscription.status, "subscribed");
        Ok(subscription)
    }

    pub async fn list_subscriptions(
        &self,
        principal: &Principal,
        query: Input<(Option<SubscriptionStatus>, PageRequest)>,
    ) -> Result<Page<Subscription>> {
        let (status, page) = query.read(authorize(principal, Action::UseModels)?)?;
        let filter = SubscriptionFilter { user_id: Some(principal.user_id), status };
        let mut conn = self.store.conn().await?;
        Ok(subscriptions::list(&mut conn, &filter, page).await?)
    }

    pub async fn get_subscription(&self, principal: &Principal, id: Id) -> Result<Subscription> {
        authorize(principal, Action::UseModels)?;
        let mut conn = self.store.conn().await?;
        let subscription = reload(&mut conn, id).await?;
        authorize_owner(principal, subscription.user_id).map_err(|_| not_found())?;
        Ok(subscription)
    }

    /// Cancels one of the caller's subscriptions. Refused while a usable key of theirs
    /// still names the model, so no key is left pointing at a model it cannot use.
    pub async fn cancel_subscription(&self, actor: &Actor, id: Id) -> Result<Subscription> {
        let attempt = AuditEntry::new(AuditAction::SubscriptionCancel, Some(actor.user_id)).resource(id);
        self.audited(&actor.client, attempt, self.cancel_inner(actor, id)).await
    }

    async fn cancel_inner(&self, actor: &Actor, id: Id) -> Result<Subscription> {
        let principal = &actor.principal;
        authorize(principal, Action::UseModels)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let subscription = reload(&mut tx, id).await?;
        authorize_owner(principal, subscription.user_id).map_err(|_| not_found())?;
        if subscription.status == SubscriptionStatus::Cancelled {
            return Ok(subscription);
        }
        let keys = api_keys::active_keys_using_model(&mut tx, principal.user_id, subscription.model_id, now).await?;
        if !keys.is_empty() {
            return Err(Error::conflict(
                "subscription_in_use",
                format!(
                    "revoke the API keys that use {} first: {}",
                    subscription.model_name,
                    keys.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        subscriptions::set_status(&mut tx, id, SubscriptionStatus::Cancelled, Some("cancelled by the user"), now)
            .await?;
        let cancelled = reload(&mut tx, id).await?;
        let entry = AuditEntry::new(AuditAction::SubscriptionCancel, Some(actor.user_id))
            .resource(id)
            .before(views::subscription(&subscription))
            .after(views::subscription(&cancelled));
        self.commit_audited(tx, &actor.client, entry).await?;
        tracing::info!(subscription_id = %id, "subscription cancelled");
        Ok(cancelled)
    }

    /// Subscriptions of every user, for admins; by default those waiting for approval.
    pub async fn subscription_queue(
        &self,
        principal: &Principal,
        query: Input<(Option<SubscriptionStatus>, PageRequest)>,
    ) -> Result<Page<Subscription>> {
        let (status, page) = query.read(authorize(principal, Action::ReadSubscriptionQueue)?)?;
        let filter = SubscriptionFilter { user_id: None, status: Some(status.unwrap_or(SubscriptionStatus::Pending)) };
        let mut conn = self.store.conn().await?;
        Ok(subscriptions::list(&mut conn, &filter, page).await?)
    }

    pub async fn review_subscription(
        &self,
        actor: &Actor,
        id: Id,
        decision: Decision,
        reason: Input<Option<String>>,
    ) -> Result<Subscription> {
        let attempt = AuditEntry::new(AuditAction::SubscriptionReview, Some(actor.user_id)).resource(id);
        self.audited(&actor.client, attempt, self.review_inner(actor, id, decision, reason)).await
    }

    async fn review_inner(
        &self,
        actor: &Actor,
        id: Id,
        decision: Decision,
        reason: Input<Option<String>>,
    ) -> Result<Subscription> {
        let principal = &actor.principal;
        let reason = reason.read(authorize(principal, Action::ReviewSubscriptions)?)?;
        let mut v = Validator::new();
        if let Some(reason) = &reason {
            v.label("reason", reason, MAX_REASON_CHARS);
        }
        v.finish()?;
        let mut tx = self.store.begin().await?;
        let subscription = reload(&mut tx, id).await?;
        if subscription.status != SubscriptionStatus::Pending {
            return Err(Error::conflict(
                "subscription_not_pending",
                format!("only pending subscriptions can be reviewed; this one is {}", subscription.status),
            ));
        }
        let status = match decision {
            Decision::Approve => SubscriptionStatus::Active,
            Decision::Deny => SubscriptionStatus::Denied,
        };
        subscriptions::set_status(&mut tx, id, status, reason.as_deref(), self.now()).await?;
        let reviewed = reload(&mut tx, id).await?;
        let entry = AuditEntry::new(AuditAction::SubscriptionReview, Some(actor.user_id))
            .resource(id)
            .before(views::subscription(&subscription))
            .after(views::subscription(&reviewed));
        self.commit_audited(tx, &actor.client, entry).await?;
        let subscription = reviewed;
        tracing::info!(subscription_id = %id, status = %subscription.status, reviewer = %principal.user_id, "subscription reviewed");
        Ok(subscription)
    }
}
