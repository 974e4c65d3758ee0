//! Subscriptions: a user's standing permission to use one model.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::id::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SubscriptionStatus {
    /// The model may be used.
    Active,
    /// Waiting for an admin to approve access to a restricted model.
    Pending,
    /// An admin refused access.
    Denied,
    /// The user ended it.
    Cancelled,
}

impl SubscriptionStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether asking to subscribe again is a new request rather than a duplicate.
    pub const fn can_resubscribe(self) -> bool {
        matches!(self, Self::Cancelled | Self::Denied)
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubscriptionStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Active, Self::Pending, Self::Denied, Self::Cancelled]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown subscription status {s:?}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: Id,
    pub user_id: Id,
    pub model_id: Id,
    pub model_name: String,
    pub status: SubscriptionStatus,
    pub status_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The status a new subscription starts in.
pub const fn initial_status(restricted: bool) -> SubscriptionStatus {
    if restricted { SubscriptionStatus::Pending } else { SubscriptionStatus::Active }
}
