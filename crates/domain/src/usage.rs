//! Metered usage of the gateway.

use crate::clock::Timestamp;
use crate::id::Id;
use crate::money::Usd;

/// One request that went through the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub id: Id,
    pub request_id: String,
    pub key_id: Id,
    pub team_id: Option<Id>,
    pub user_id: Id,
    pub model_id: Id,
    pub model_name: String,
    pub endpoint: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Usd,
    pub latency_ms: u64,
    pub status: u16,
    pub streamed: bool,
    /// The tokens were counted by Purser, not reported by the model server.
    pub estimated: bool,
    pub created_at: Timestamp,
}

/// Totals over a set of usage records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub requests: u64,
    /// Of `requests`, those whose tokens Purser counted itself.
    pub estimated_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Usd,
}

impl UsageTotals {
    /// Both sets of records together.
    pub fn plus(&self, other: &UsageTotals) -> UsageTotals {
        UsageTotals {
            requests: self.requests + other.requests,
            estimated_requests: self.estimated_requests + other.estimated_requests,
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
            cost: self.cost.saturating_add(other.cost),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelUsage {
    pub model_id: Id,
    pub model_name: String,
    pub totals: UsageTotals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSummary {
    pub from: Timestamp,
    pub to: Timestamp,
    pub totals: UsageTotals,
    pub by_model: Vec<ModelUsage>,
}

/// How finely a usage series is cut: by UTC hour or UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub const fn millis(self) -> i64 {
        match self {
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
        }
    }
}

/// One model's usage in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePoint {
    /// The start of the bucket.
    pub at: Timestamp,
    pub model_id: Id,
    pub model_name: String,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Usd,
}
