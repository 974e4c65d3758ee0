//! Events: changes other systems care about, kept in an outbox in the same transaction as
//! the change and published from there (to NATS JetStream, and to webhooks).

use crate::{Id, Timestamp};

/// One event as it is kept and sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Unique: consumers de-duplicate on it (events are delivered at least once).
    pub id: Id,
    /// `organization.created`, `document.uploaded`, ...
    pub kind: String,
    pub org_id: Option<Id>,
    pub actor_id: Option<Id>,
    pub occurred_at: Timestamp,
    /// A JSON object: what the event is about.
    pub data: String,
}
