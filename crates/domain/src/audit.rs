//! The audit log: who changed what, when, from where, and whether it worked.

use crate::clock::Timestamp;
use crate::id::Id;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub id: Id,
    pub occurred_at: Timestamp,
    /// The user who acted; none for anonymous requests (sign-up, failed sign-in).
    pub actor_id: Option<Id>,
    /// What happened, e.g. `organization.create`.
    pub action: String,
    /// The kind of thing it happened to, e.g. `organization`.
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub org_id: Option<Id>,
    /// JSON of the resource before and after, with secrets removed.
    pub before: Option<String>,
    pub after: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub success: bool,
    /// The error code of a failed attempt.
    pub error_code: Option<String>,
}
