//! Events for other systems. Each audited change that other systems care about also
//! writes an event to the outbox, in the change's own transaction (see
//! [`Services::audit`]); a relay, one replica at a time (a lease in the database),
//! publishes the outbox in order to an [`EventBus`] (NATS JetStream, when configured) and
//! queues it for the organization's webhooks, at least once, with
//! the event id for consumers (and JetStream) to de-duplicate on. Nothing is lost when a
//! relay dies: what it did not mark published, the next holder of the lease publishes.

use futures_util::future::BoxFuture;
use purser_domain::event::Event;
use purser_store::events;
use serde_json::{Value, json};

use crate::Services;
use crate::audit::{AuditAction, AuditEntry};
use crate::error::Result;

/// The relay's lease: held this long, renewed on every round.
pub const RELAY_LEASE_MS: i64 = 15_000;
const RELAY_LEASE: &str = "events-relay";
/// Events published per round.
const RELAY_BATCH: u32 = 100;

/// Where events go. `publish` returns once the event is stored by the bus (acknowledged).
pub trait EventBus: Send + Sync + 'static {
    fn publish<'a>(&'a self, event: &'a Event, envelope: &'a [u8]) -> BoxFuture<'a, std::result::Result<(), String>>;
}

/// The type of the event an audited change makes, if any.
fn event_type(entry: &AuditEntry) -> Option<&'static str> {
    Some(match entry.action {
        AuditAction::OrgCreate => "organization.created",
        AuditAction::OrgDelete => "organization.deleted",
        // The bulk join of the Default organization at start names nobody in particular.
        AuditAction::MemberJoin if entry.resource_id.is_some() => "member.added",
        AuditAction::InvitationAccept => "member.added",
        AuditAction::MemberRemove | AuditAction::MemberLeave => "member.removed",
        AuditAction::ApiKeyCreate => "api_key.created",
        AuditAction::ApiKeyRevoke => "api_key.revoked",
        AuditAction::SubscriptionReview => {
            match entry.after.as_ref().and_then(|a| a.get("status")).and_then(Value::as_str) {
                Some("active") => "subscription.approved",
                Some("denied") => "subscription.denied",
                _ => return None,
            }
        }
        AuditAction::DocumentUpload => "document.uploaded",
        AuditAction::DocumentDelete => "document.deleted",
        AuditAction::VaultCreate => "vault.created",
        AuditAction::VaultUpdate => "vault.updated",
        AuditAction::VaultDelete => "vault.deleted",
        AuditAction::VaultGrant | AuditAction::VaultGrantRemove => "vault.grant_changed",
        _ => return None,
    })
}

/// The event's `data`: the resource's id and its state after the change (before it, for
/// a deletion).
fn event_data(entry: &AuditEntry) -> Value {
    let state = match entry.action {
        AuditAction::OrgDelete | AuditAction::DocumentDelete | AuditAction::VaultDelete => entry.before.as_ref(),
        _ => entry.after.as_ref().or(entry.before.as_ref()),
    };
    let mut data = match state {
        Some(Value::Object(fields)) => Value::Object(fields.clone()),
        _ => json!({}),
    };
    if let Some(resource) = &entry.resource_id {
        data["resourceId"] = Value::String(resource.clone());
    }
    data
}

/// The envelope consumers receive: `{id, type, orgId, actorId, occurredAt, data}`.
pub fn envelope(event: &Event) -> Vec<u8> {
    let data: Value = serde_json::from_str(&event.data).unwrap_or_else(|_| json!({}));
    serde_json::to_vec(&json!({
        "id": event.id.to_string(),
        "type": event.kind,
        "orgId": event.org_id.map(|id| id.to_string()),
        "actorId": event.actor_id.map(|id| id.to_string()),
        "occurredAt": event.occurred_at,
        "data": data,
    }))
    .unwrap_or_default()
}

impl Services {
    /// The event an audited change makes, if other systems care about it.
    pub(crate) fn event_of(&self, entry: &AuditEntry) -> Option<Event> {
        let kind = event_type(entry)?;
        Some(Event {
            id: self.ids.next_id(),
            kind: kind.to_owned(),
            org_id: entry.org_id,
            actor_id: entry.actor_id,
            occurred_at: self.now(),
            data: event_data(entry).to_string(),
        })
    }

    /// One round of the relay as `holder`: if it holds (or takes) the lease, publishes the
    /// oldest unpublished events in order, marking each once the bus has it. Returns how
    /// many it published; `None` when another replica holds the lease. A failure stops
    /// the round (the rest waits, in order, for the next).
    pub async fn relay_events(&self, bus: Option<&dyn EventBus>, holder: &str) -> Result<Option<usize>> {
        let mut conn = self.store.conn().await?;
        if !events::hold_lease(&mut conn, RELAY_LEASE, holder, self.now(), RELAY_LEASE_MS).await? {
            return Ok(None);
        }
        let batch = events::unpublished(&mut conn, RELAY_BATCH).await?;
        let mut published = 0;
        for (seq, event) in batch {
            let envelope = envelope(&event);
            if let Some(bus) = bus {
                bus.publish(&event, &envelope)
                    .await
                    .map_err(|e| crate::Error::new(crate::ErrorKind::Unavailable, "event_bus_unavailable", e))?;
            }
            self.fan_out(&mut conn, &event, &envelope).await?;
            events::mark_published(&mut conn, seq, self.now()).await?;
            published += 1;
        }
        Ok(Some(published))
    }

    /// Gives the relay's lease up, so that another replica takes over at once.
    pub async fn release_relay(&self, holder: &str) -> Result<()> {
        let mut conn = self.store.conn().await?;
        Ok(events::release_lease(&mut conn, RELAY_LEASE, holder).await?)
    }

    /// Removes events published over a day ago, and unpublished ones older than
    /// `keep_days` (no bus took them). Returns how many.
    pub async fn prune_events(&self, keep_days: u32) -> Result<u64> {
        let now = self.now();
        let mut conn = self.store.conn().await?;
        Ok(events::prune(&mut conn, now.plus_secs(-86_400), now.plus_secs(-i64::from(keep_days) * 86_400)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_that_matter_elsewhere_make_events_and_the_rest_do_not() {
        let entry = |action| AuditEntry::new(action, None).resource(7);
        assert_eq!(event_type(&entry(AuditAction::OrgCreate)), Some("organization.created"));
        assert_eq!(event_type(&entry(AuditAction::MemberLeave)), Some("member.removed"));
        assert_eq!(event_type(&AuditEntry::new(AuditAction::MemberJoin, None)), None, "the bulk join");
        assert_eq!(event_type(&entry(AuditAction::UserLogin)), None);
        let reviewed = |status: &str| entry(AuditAction::SubscriptionReview).after(json!({ "status": status }));
        assert_eq!(event_type(&reviewed("active")), Some("subscription.approved"));
        assert_eq!(event_type(&reviewed("denied")), Some("subscription.denied"));
        assert_eq!(event_type(&reviewed("pending")), None);
        let deleted = entry(AuditAction::DocumentDelete).before(json!({ "name": "a.pdf" }));
        assert_eq!(event_data(&deleted), json!({ "name": "a.pdf", "resourceId": "7" }));
    }
}
