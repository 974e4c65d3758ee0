//! `/api/v1/usage`: metered tokens and cost.

use axum::Json;
use axum::extract::State;
use purser_domain::{Id, Timestamp};
use purser_services::usage::UsageQuery;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::UsageSummaryDto;
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, QueryParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary))
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
    let query = q.map(|q| UsageQuery { user_id: q.user_id, from: q.from, to: q.to });
    let (user_id, summary) = state.services.usage_summary(&actor, query).await?;
    Ok(Json(UsageSummaryDto::new(user_id, summary)))
}
