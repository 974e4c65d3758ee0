//! Usage: what the gateway metered, summed for the people who pay for it.

use purser_domain::policy::{Action, authorize};
use purser_domain::usage::{UsageRecord, UsageSummary};
use purser_domain::{Id, Principal, Timestamp, Validator};
use purser_store::{StoreError, usage};

use crate::error::Result;
use crate::{Input, Services};

/// Whose usage, over which window.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageQuery {
    /// Default: the caller.
    pub user_id: Option<Id>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// The default window of a summary when `from` is not given.
const DEFAULT_WINDOW_DAYS: i64 = 30;
const MAX_WINDOW_DAYS: i64 = 3660;

impl Services {
    /// Usage in `[from, to)`: the caller's own, or another user's for admins.
    /// Without `to` the window ends now; without `from` it starts 30 days before `to`.
    /// Returns whose usage it is, with the summary.
    pub async fn usage_summary(&self, principal: &Principal, query: Input<UsageQuery>) -> Result<(Id, UsageSummary)> {
        // Whose usage is asked for is part of the query; reading one's own needs nothing.
        let UsageQuery { user_id, from, to } = query.read(authorize(principal, Action::UseModels)?)?;
        let user_id = user_id.unwrap_or(principal.user_id);
        authorize(principal, Action::ReadUsageOf(user_id))?;
        // Include the current millisecond: "now" is part of the window.
        let to = to.unwrap_or_else(|| self.now().plus_millis(1));
        let from = from.unwrap_or_else(|| to.plus_secs(-DEFAULT_WINDOW_DAYS * 86_400));
        let mut v = Validator::new();
        v.check(from < to, "from", "must be before to");
        v.check(
            to.as_millis() - from.as_millis() <= MAX_WINDOW_DAYS * 86_400_000,
            "from",
            "the window may span at most 10 years",
        );
        v.finish()?;
        let mut conn = self.store.conn().await?;
        Ok((user_id, usage::summary(&mut conn, Some(user_id), from, to).await?))
    }

    /// Stores a batch of metered requests and adds their cost to each key's spend, all or
    /// nothing. Safe to retry: records already stored are skipped.
    pub async fn record_usage(&self, records: &[UsageRecord]) -> Result<usize> {
        let mut tx = self.store.begin().await?;
        let inserted = usage::insert_batch(&mut tx, records).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(inserted)
    }
}
