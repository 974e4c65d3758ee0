//! Usage: what the gateway metered, summed for the people who pay for it.

use futures_util::stream::BoxStream;
use purser_domain::event::Event;
use purser_domain::org::BudgetPeriod;
use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action, authorize};
use purser_domain::usage::{Bucket, UsagePoint, UsageRecord, UsageSummary};
use purser_domain::{Id, Principal, Timestamp, Validator};
use purser_store::{StoreError, events, usage};
use serde_json::json;

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

/// An export's window and its records, read piece by piece as the stream is polled.
pub struct UsageExport {
    pub user_id: Id,
    pub from: Timestamp,
    pub to: Timestamp,
    pub pieces: BoxStream<'static, Result<Vec<UsageRecord>>>,
}

/// Usage over time for charts: per bucket and model.
#[derive(Debug, Clone)]
pub struct UsageSeries {
    pub user_id: Id,
    pub from: Timestamp,
    pub to: Timestamp,
    pub bucket: Bucket,
    pub points: Vec<UsagePoint>,
}

/// The longest window of an hourly series (a month and a day: 768 buckets at most).
const MAX_HOURLY_DAYS: i64 = 32;

/// Usage records read at a time for an export.
const EXPORT_PIECE: u32 = 5000;

/// The default window of a summary when `from` is not given.
const DEFAULT_WINDOW_DAYS: i64 = 30;
const MAX_WINDOW_DAYS: i64 = 3660;

impl Services {
    /// Usage in `[from, to)`: the caller's own, or another user's for admins.
    /// Without `to` the window ends now; without `from` it starts 30 days before `to`.
    /// Returns whose usage it is, with the summary.
    pub async fn usage_summary(&self, principal: &Principal, query: Input<UsageQuery>) -> Result<(Id, UsageSummary)> {
        // Whose usage is asked for is part of the query; reading one's own needs nothing.
        let query = query.read(authorize(principal, Action::UseModels)?)?;
        let (user_id, from, to) = self.usage_window(principal, query)?;
        let mut conn = self.store.conn().await?;
        Ok((user_id, usage::summary(&mut conn, Some(user_id), from, to).await?))
    }

    /// Whose usage and which window a query asks for, if the caller may read that usage.
    fn usage_window(&self, principal: &Principal, query: UsageQuery) -> Result<(Id, Timestamp, Timestamp)> {
        let UsageQuery { user_id, from, to } = query;
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
        Ok((user_id, from, to))
    }

    /// Usage in a window per hour or day and model, for charts. Hourly series span at most
    /// 32 days; daily ones cover whole UTC days.
    pub async fn usage_timeseries(
        &self,
        principal: &Principal,
        query: Input<(UsageQuery, Bucket)>,
    ) -> Result<UsageSeries> {
        let (query, bucket) = query.read(authorize(principal, Action::UseModels)?)?;
        let (user_id, from, to) = self.usage_window(principal, query)?;
        let mut v = Validator::new();
        v.check(
            bucket != Bucket::Hour || to.as_millis() - from.as_millis() <= MAX_HOURLY_DAYS * 86_400_000,
            "bucket",
            "an hourly series spans at most 32 days; ask for days",
        );
        v.finish()?;
        let mut conn = self.store.conn().await?;
        let points = usage::timeseries(&mut conn, user_id, from, to, bucket).await?;
        Ok(UsageSeries { user_id, from, to, bucket, points })
    }

    /// One page of the metered requests in a window, newest first; each says whether its
    /// tokens were reported by the model server or counted by Purser (`estimated`).
    pub async fn usage_records(
        &self,
        principal: &Principal,
        query: Input<(UsageQuery, PageRequest)>,
    ) -> Result<(Id, Page<UsageRecord>)> {
        let (query, page) = query.read(authorize(principal, Action::UseModels)?)?;
        let (user_id, from, to) = self.usage_window(principal, query)?;
        let mut conn = self.store.conn().await?;
        Ok((user_id, usage::records(&mut conn, user_id, from, to, page).await?))
    }

    /// Every metered request in a window, oldest first, read in pieces as the returned
    /// stream is polled (for exports of any length without holding them in memory).
    pub fn usage_export(&self, principal: &Principal, query: Input<UsageQuery>) -> Result<UsageExport> {
        let query = query.read(authorize(principal, Action::UseModels)?)?;
        let (user_id, from, to) = self.usage_window(principal, query)?;
        let store = self.store.clone();
        let pieces = futures_util::stream::try_unfold(Some(None), move |after| {
            let store = store.clone();
            async move {
                let Some(after) = after else { return Ok(None) };
                let mut conn = store.conn().await?;
                let piece = usage::records_after(&mut conn, user_id, (from, to), after, EXPORT_PIECE).await?;
                let next = match piece.last() {
                    Some(last) if piece.len() == EXPORT_PIECE as usize => Some(Some((last.created_at, last.id))),
                    _ => None,
                };
                Ok(if piece.is_empty() { None } else { Some((piece, next)) })
            }
        });
        Ok(UsageExport { user_id, from, to, pieces: Box::pin(pieces) })
    }

    /// Stores a batch of metered requests and adds their cost to each key's spend, all or
    /// nothing. Safe to retry: records already stored are skipped.
    /// A budget the batch takes over its limit is told as a `budget.crossed` event, in the
    /// same transaction.
    pub async fn record_usage(&self, records: &[UsageRecord]) -> Result<usize> {
        let mut tx = self.store.begin().await?;
        let fresh = usage::insert_new(&mut tx, records).await?;
        for crossed in usage::budgets_crossed(&mut tx, &fresh).await? {
            events::append(&mut tx, &self.budget_event(&crossed)).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(fresh.len())
    }

    fn budget_event(&self, crossed: &usage::BudgetCrossed) -> Event {
        let scope = match crossed.by {
            usage::SpendBy::Key => "api_key",
            usage::SpendBy::Team => "team",
            usage::SpendBy::User => "user",
        };
        let data = json!({
            "scope": scope,
            "resourceId": crossed.owner.to_string(),
            "budget": crossed.budget,
            "spend": crossed.spend,
            "period": crossed.period.map(BudgetPeriod::as_str),
        });
        Event {
            id: self.ids.next_id(),
            kind: "budget.crossed".into(),
            org_id: crossed.org_id,
            actor_id: None,
            occurred_at: self.now(),
            data: data.to_string(),
        }
    }
}
