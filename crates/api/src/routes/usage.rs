//! `/api/v1/usage`: metered tokens and cost.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use purser_domain::usage::{Bucket, UsageRecord};
use purser_domain::{Id, Timestamp};
use purser_services::usage::UsageQuery;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{BudgetDto, Paginated, UsageRecordDto, UsageSummaryDto, UsageTimeseriesDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, QueryParams, page_request};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(timeseries))
        .routes(routes!(budgets))
        .routes(routes!(records))
        .routes(routes!(export))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Start (inclusive), RFC 3339 or `YYYY-MM-DD`; default 30 days before `to`.
    #[param(value_type = Option<String>)]
    from: Option<Timestamp>,
    /// End (exclusive), RFC 3339 or `YYYY-MM-DD`; default now.
    #[param(value_type = Option<String>)]
    to: Option<Timestamp>,
    /// Another user's usage (admins and read-only admins).
    #[param(value_type = Option<String>)]
    user_id: Option<Id>,
}

impl SummaryQuery {
    fn window(&self) -> UsageQuery {
        UsageQuery { user_id: self.user_id, from: self.from, to: self.to }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecordsQuery {
    /// Start (inclusive), RFC 3339 or `YYYY-MM-DD`; default 30 days before `to`.
    #[param(value_type = Option<String>)]
    from: Option<Timestamp>,
    /// End (exclusive), RFC 3339 or `YYYY-MM-DD`; default now.
    #[param(value_type = Option<String>)]
    to: Option<Timestamp>,
    /// Another user's usage (admins and read-only admins).
    #[param(value_type = Option<String>)]
    user_id: Option<Id>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Requests, tokens and cost in a time window, in total and per model.
#[utoipa::path(
    get, path = "/api/v1/usage/summary", tag = "usage",
    security(("bearer" = [])),
    params(SummaryQuery),
    responses(
        (status = 200, description = "Usage totals", body = UsageSummaryDto),
        (status = 400, description = "Bad query parameter", body = Problem),
        (status = 403, description = "Another user's usage, without an admin role", body = Problem),
    )
)]
async fn summary(
    State(state): State<AppState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<SummaryQuery>,
) -> ApiResult<Json<UsageSummaryDto>> {
    let (user_id, summary) = state.services.usage_summary(&actor, q.map(|q| q.window())).await?;
    Ok(Json(UsageSummaryDto::new(user_id, summary)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesQuery {
    /// Start (inclusive), RFC 3339 or `YYYY-MM-DD`; default 30 days before `to`.
    #[param(value_type = Option<String>)]
    from: Option<Timestamp>,
    /// End (exclusive), RFC 3339 or `YYYY-MM-DD`; default now.
    #[param(value_type = Option<String>)]
    to: Option<Timestamp>,
    /// Another user's usage (admins and read-only admins).
    #[param(value_type = Option<String>)]
    user_id: Option<Id>,
    /// `hour` (windows of at most 32 days) or `day` (whole UTC days; the default).
    #[param(inline)]
    bucket: Option<Bucket>,
}

/// Requests, tokens and cost per hour or day and model, for charts: days are read off
/// the daily sums, hours off the requests.
#[utoipa::path(
    get, path = "/api/v1/usage/timeseries", tag = "usage",
    security(("bearer" = [])),
    params(TimeseriesQuery),
    responses(
        (status = 200, description = "Usage per bucket and model", body = UsageTimeseriesDto),
        (status = 400, description = "Bad query parameter", body = Problem),
        (status = 403, description = "Another user's usage, without an admin role", body = Problem),
        (status = 422, description = "An hourly series longer than 32 days, or `from` not before `to`", body = Problem),
    )
)]
async fn timeseries(
    State(state): State<AppState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<TimeseriesQuery>,
) -> ApiResult<Json<UsageTimeseriesDto>> {
    let query = q.map(|q| (UsageQuery { user_id: q.user_id, from: q.from, to: q.to }, q.bucket.unwrap_or(Bucket::Day)));
    Ok(Json(state.services.usage_timeseries(&actor, query).await?.into()))
}

/// Every budget on the caller's use of models (their keys', their teams' and their own)
/// with what was spent of it in its current period.
#[utoipa::path(
    get, path = "/api/v1/usage/budgets", tag = "usage",
    security(("bearer" = [])),
    responses((status = 200, description = "The budgets that apply to the caller", body = Vec<BudgetDto>))
)]
async fn budgets(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Vec<BudgetDto>>> {
    Ok(Json(state.services.my_budgets(&actor).await?.into_iter().map(Into::into).collect()))
}

/// The metered requests of a time window, newest first; `estimated` marks those whose
/// tokens Purser counted itself.
#[utoipa::path(
    get, path = "/api/v1/usage/records", tag = "usage",
    security(("bearer" = [])),
    params(RecordsQuery),
    responses(
        (status = 200, description = "One page of usage records", body = Paginated<UsageRecordDto>),
        (status = 400, description = "Bad query parameter", body = Problem),
        (status = 403, description = "Another user's usage, without an admin role", body = Problem),
    )
)]
async fn records(
    State(state): State<AppState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<RecordsQuery>,
) -> ApiResult<Json<Paginated<UsageRecordDto>>> {
    let query = q.and_then(|q| {
        let window = UsageQuery { user_id: q.user_id, from: q.from, to: q.to };
        Ok((window, page_request(q.page, q.limit)?))
    });
    let (_, records) = state.services.usage_records(&actor, query).await?;
    Ok(Json(Paginated::from_page(records, Into::into)))
}

const CSV_HEADER: &str = "id,created_at,request_id,key_id,team_id,model_id,model_name,endpoint,prompt_tokens,\
    completion_tokens,total_tokens,cost_usd,latency_ms,status,streamed,estimated\n";

/// A CSV field: quoted when it holds a comma, quote or line break, and kept from being
/// read as a formula by spreadsheets when it starts like one.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

fn csv_line(r: &UsageRecord) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
        r.id,
        r.created_at,
        csv_field(&r.request_id),
        r.key_id,
        r.team_id.map(|t| t.to_string()).unwrap_or_default(),
        r.model_id,
        csv_field(&r.model_name),
        csv_field(&r.endpoint),
        r.prompt_tokens,
        r.completion_tokens,
        r.prompt_tokens + r.completion_tokens,
        r.cost,
        r.latency_ms,
        r.status,
        r.streamed,
        r.estimated,
    )
}

/// Every metered request of a time window as CSV, oldest first, with an `estimated`
/// column; streamed, so a window of any length can be exported.
#[utoipa::path(
    get, path = "/api/v1/usage/export", tag = "usage",
    security(("bearer" = [])),
    params(SummaryQuery),
    responses(
        (status = 200, description = "The usage records as CSV", content_type = "text/csv", body = String),
        (status = 400, description = "Bad query parameter", body = Problem),
        (status = 403, description = "Another user's usage, without an admin role", body = Problem),
    )
)]
async fn export(
    State(state): State<AppState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<SummaryQuery>,
) -> ApiResult<Response> {
    let export = state.services.usage_export(&actor, q.map(|q| q.window()))?;
    let lines = export.pieces.map(|piece| match piece {
        Ok(records) => Ok(records.iter().map(csv_line).collect::<String>()),
        Err(e) => {
            // Headers are gone by now: cutting the body tells the client the file is incomplete.
            tracing::warn!(error = %e, "usage export failed part way");
            Err(std::io::Error::other("the usage export failed part way"))
        }
    });
    let body = futures_util::stream::once(async { Ok(CSV_HEADER.to_owned()) }).chain(lines);
    let file = format!("purser-usage-{}-{}-{}.csv", export.user_id, export.from.as_millis(), export.to.as_millis());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
