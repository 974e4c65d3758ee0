//! Webhooks: an organization's URLs that receive its events. The relay fans each event out
//! to the organization's active webhooks that want its type (a delivery row each, in the
//! delivery log); a delivery loop sends them, signed with HMAC-SHA256 over the id, the
//! timestamp and the body, and retries failures with backoff until they are delivered or
//! given up. Admins see the log and redeliver by hand.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use purser_domain::event::Event;
use purser_domain::page::{Page, PageRequest};
use purser_domain::webhook::{
    Delivery, DeliveryStatus, EVENT_TYPES, MAX_ATTEMPTS, Webhook, check_url, retry_delay_secs,
};
use purser_domain::{Id, OrgAction, Principal, Validator};
use purser_store::{AnyConnection, webhooks};
use rand::RngCore;
use serde_json::json;
use sha2::Sha256;

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::{Actor, Input, Services};

/// Deliveries attempted per round of the delivery loop.
const DELIVERY_BATCH: u32 = 20;
/// A claimed delivery is retried by another replica if no outcome is written by then.
const CLAIM_MS: i64 = 60_000;

#[derive(Debug, Clone)]
pub struct WebhookInput {
    pub url: String,
    pub event_types: Vec<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    /// Shown once: receivers check signatures with it.
    pub secret: String,
}

/// Sends a delivery: a POST of `body` with `headers` to `url`, answering the status code.
/// The implementation resolves the host and refuses forbidden addresses at that moment too.
pub trait WebhookSender: Send + Sync + 'static {
    fn send<'a>(
        &'a self,
        url: &'a str,
        headers: Vec<(&'static str, String)>,
        body: &'a [u8],
    ) -> BoxFuture<'a, std::result::Result<u16, String>>;
}

fn webhook_not_found() -> Error {
    Error::not_found("webhook_not_found", "webhook")
}

fn context(webhook: Id) -> String {
    format!("webhook:{webhook}")
}

/// The signature header's value: `v1,<base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn check_types(v: &mut Validator, types: &[String]) {
    if types.is_empty() || types.len() > EVENT_TYPES.len() {
        v.error("eventTypes", format!("must list 1 to {} event types", EVENT_TYPES.len()));
    }
    for (i, t) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            v.error(format!("eventTypes[{i}]"), format!("must be one of {}", EVENT_TYPES.join(", ")));
        }
    }
}

impl Services {
    fn check_webhook_url(&self, v: &mut Validator, url: &str) {
        if let Err(message) = check_url(url, self.allow_link_local_webhooks) {
            v.error("url", message);
        }
    }

    async fn webhook_in(
        &self,
        conn: &mut AnyConnection,
        principal: &Principal,
        org_id: Id,
        action: OrgAction,
        id: Id,
    ) -> Result<Webhook> {
        let at = self.in_org(conn, principal, org_id).await?;
        self.allow(principal, &at, action)?;
        webhooks::get(conn, org_id, id).await?.ok_or_else(webhook_not_found)
    }

    pub async fn create_webhook(
        &self,
        actor: &Actor,
        org_id: Id,
        input: Input<WebhookInput>,
    ) -> Result<CreatedWebhook> {
        let attempt = AuditEntry::new(AuditAction::WebhookCreate, Some(actor.user_id)).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let input = input.read(self.allow(actor, &at, OrgAction::ManageWebhooks)?)?;
            let mut v = Validator::new();
            self.check_webhook_url(&mut v, &input.url);
            check_types(&mut v, &input.event_types);
            v.finish()?;
            let now = self.now();
            let webhook = Webhook {
                id: self.ids.next_id(),
                org_id,
                url: input.url,
                event_types: input.event_types,
                active: input.active.unwrap_or(true),
                created_by: Some(actor.user_id),
                created_at: now,
                updated_at: now,
            };
            let mut raw = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let secret = format!("whsec_{}", STANDARD.encode(raw));
            webhooks::insert(&mut tx, &webhook, &self.secrets.seal(&secret, &context(webhook.id))).await?;
            let entry = AuditEntry::new(AuditAction::WebhookCreate, Some(actor.user_id))
                .org(org_id)
                .resource(webhook.id)
                .after(json!({ "url": webhook.url, "eventTypes": webhook.event_types, "active": webhook.active }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(CreatedWebhook { webhook, secret })
        })
        .await
    }

    pub async fn list_webhooks(
        &self,
        principal: &Principal,
        org_id: Id,
        page: Input<PageRequest>,
    ) -> Result<Page<Webhook>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let page = page.read(self.allow(principal, &at, OrgAction::ReadWebhooks)?)?;
        Ok(webhooks::list(&mut conn, org_id, page).await?)
    }

    pub async fn get_webhook(&self, principal: &Principal, org_id: Id, id: Id) -> Result<Webhook> {
        let mut conn = self.store.conn().await?;
        self.webhook_in(&mut conn, principal, org_id, OrgAction::ReadWebhooks, id).await
    }

    pub async fn update_webhook(
        &self,
        actor: &Actor,
        org_id: Id,
        id: Id,
        patch: Input<WebhookPatch>,
    ) -> Result<Webhook> {
        let attempt = AuditEntry::new(AuditAction::WebhookUpdate, Some(actor.user_id)).org(org_id).resource(id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let patch = patch.read(self.allow(actor, &at, OrgAction::ManageWebhooks)?)?;
            let before = webhooks::get(&mut tx, org_id, id).await?.ok_or_else(webhook_not_found)?;
            let mut v = Validator::new();
            if let Some(url) = &patch.url {
                self.check_webhook_url(&mut v, url);
            }
            if let Some(types) = &patch.event_types {
                check_types(&mut v, types);
            }
            v.finish()?;
            let mut webhook = before.clone();
            webhook.url = patch.url.unwrap_or(webhook.url);
            webhook.event_types = patch.event_types.unwrap_or(webhook.event_types);
            webhook.active = patch.active.unwrap_or(webhook.active);
            webhook.updated_at = self.now();
            webhooks::update(&mut tx, &webhook).await?;
            let view = |w: &Webhook| json!({ "url": w.url, "eventTypes": w.event_types, "active": w.active });
            let entry = AuditEntry::new(AuditAction::WebhookUpdate, Some(actor.user_id))
                .org(org_id)
                .resource(id)
                .before(view(&before))
                .after(view(&webhook));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(webhook)
        })
        .await
    }

    /// Deletes a webhook with its delivery log.
    pub async fn delete_webhook(&self, actor: &Actor, org_id: Id, id: Id) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::WebhookDelete, Some(actor.user_id)).org(org_id).resource(id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let webhook = self.webhook_in(&mut tx, actor, org_id, OrgAction::ManageWebhooks, id).await?;
            webhooks::delete(&mut tx, id).await?;
            let entry = AuditEntry::new(AuditAction::WebhookDelete, Some(actor.user_id))
                .org(org_id)
                .resource(id)
                .before(json!({ "url": webhook.url, "eventTypes": webhook.event_types }));
            self.commit_audited(tx, &actor.client, entry).await
        })
        .await
    }

    pub async fn list_deliveries(
        &self,
        principal: &Principal,
        org_id: Id,
        id: Id,
        page: Input<PageRequest>,
    ) -> Result<Page<Delivery>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let page = page.read(self.allow(principal, &at, OrgAction::ReadWebhooks)?)?;
        webhooks::get(&mut conn, org_id, id).await?.ok_or_else(webhook_not_found)?;
        Ok(webhooks::deliveries(&mut conn, id, page).await?)
    }

    /// Sends a delivery again as soon as the delivery loop runs, whatever became of it.
    pub async fn redeliver(&self, actor: &Actor, org_id: Id, id: Id, delivery_id: Id) -> Result<Delivery> {
        let attempt = AuditEntry::new(AuditAction::WebhookRedeliver, Some(actor.user_id)).org(org_id).resource(id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            self.webhook_in(&mut tx, actor, org_id, OrgAction::ManageWebhooks, id).await?;
            let mut delivery = webhooks::delivery_of(&mut tx, id, delivery_id)
                .await?
                .ok_or_else(|| Error::not_found("delivery_not_found", "delivery"))?;
            let now = self.now();
            delivery.status = DeliveryStatus::Pending;
            delivery.next_attempt_at = Some(now);
            delivery.updated_at = now;
            webhooks::record(&mut tx, &delivery).await?;
            let entry = AuditEntry::new(AuditAction::WebhookRedeliver, Some(actor.user_id))
                .org(org_id)
                .resource(id)
                .after(json!({ "deliveryId": delivery.id, "eventId": delivery.event_id }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(delivery)
        })
        .await
    }

    /// Queues the event for each of its organization's active webhooks that wants it (in
    /// the relay, before the event is marked published; queuing twice is a no-op).
    pub(crate) async fn fan_out(&self, conn: &mut AnyConnection, event: &Event, envelope: &[u8]) -> Result<()> {
        let Some(org_id) = event.org_id else { return Ok(()) };
        let payload = String::from_utf8_lossy(envelope).into_owned();
        for webhook in webhooks::active_of(conn, org_id).await? {
            if !webhook.wants(&event.kind) {
                continue;
            }
            let now = self.now();
            let delivery = Delivery {
                id: self.ids.next_id(),
                webhook_id: webhook.id,
                event_id: event.id,
                event_type: event.kind.clone(),
                payload: payload.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: Some(now),
                last_status_code: None,
                last_error: None,
                created_at: now,
                updated_at: now,
            };
            webhooks::enqueue(conn, &delivery).await?;
        }
        Ok(())
    }

    /// One round of the delivery loop: attempts the due deliveries (each claimed first, so
    /// replicas share the work without sending one twice at once). Returns how many.
    pub async fn deliver_webhooks(&self, sender: &dyn WebhookSender) -> Result<usize> {
        let mut conn = self.store.conn().await?;
        let due = webhooks::due(&mut conn, self.now(), DELIVERY_BATCH).await?;
        let mut attempted = 0;
        for mut delivery in due {
            if !webhooks::claim(&mut conn, &delivery, self.now().plus_millis(CLAIM_MS)).await? {
                continue;
            }
            // The webhook's URL as it is now (it may have changed since the event was queued).
            let Some((url, sealed)) = webhooks::target(&mut conn, delivery.webhook_id).await? else { continue };
            let secret = self.secrets.open(&sealed, &context(delivery.webhook_id)).map_err(Error::internal)?;
            let timestamp = self.now().as_secs();
            let id = delivery.event_id.to_string();
            let body = delivery.payload.as_bytes();
            let headers = vec![
                ("content-type", "application/json".to_owned()),
                ("webhook-id", id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature(&secret, &id, timestamp, body)),
            ];
            let outcome = sender.send(&url, headers, body).await;
            let now = self.now();
            delivery.attempts += 1;
            delivery.updated_at = now;
            match outcome {
                Ok(code) if (200..300).contains(&code) => {
                    delivery.status = DeliveryStatus::Delivered;
                    delivery.next_attempt_at = None;
                    delivery.last_status_code = Some(code);
                    delivery.last_error = None;
                }
                failed => {
                    let (code, error) = match failed {
                        Ok(code) => (Some(code), format!("answered {code}")),
                        Err(e) => (None, e),
                    };
                    delivery.last_status_code = code;
                    delivery.last_error = Some(error);
                    if delivery.attempts >= MAX_ATTEMPTS {
                        delivery.status = DeliveryStatus::Failed;
                        delivery.next_attempt_at = None;
                    } else {
                        delivery.next_attempt_at = Some(now.plus_secs(retry_delay_secs(delivery.attempts)));
                    }
                }
            }
            webhooks::record(&mut conn, &delivery).await?;
            attempted += 1;
        }
        Ok(attempted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_id_the_time_and_the_body() {
        let s = signature("whsec_test", "42", 1_700_000_000, b"{\"a\":1}");
        assert!(s.starts_with("v1,"));
        assert_eq!(s, signature("whsec_test", "42", 1_700_000_000, b"{\"a\":1}"));
        assert_ne!(s, signature("whsec_test", "42", 1_700_000_001, b"{\"a\":1}"));
        assert_ne!(s, signature("whsec_test", "43", 1_700_000_000, b"{\"a\":1}"));
        assert_ne!(s, signature("whsec_test", "42", 1_700_000_000, b"{\"a\":2}"));
        assert_ne!(s, signature("whsec_other", "42", 1_700_000_000, b"{\"a\":1}"));
    }
}
