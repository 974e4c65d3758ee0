//! Rate limits on the requests attackers repeat: sign-in (per address and per account),
//! sign-up, and mailed links. Answers carry `X-RateLimit-Limit`, `X-RateLimit-Remaining`
//! and `X-RateLimit-Reset` (seconds); a refusal is 429 with `Retry-After`.

use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use purser_limits::{Decision, RateLimiter, Rule};

use crate::error::ApiError;

/// The limits, each `limit` hits per window.
#[derive(Debug, Clone, Copy)]
pub struct RateRules {
    pub login_per_ip: Rule,
    pub login_per_account: Rule,
    pub register_per_ip: Rule,
    pub verify_per_account: Rule,
    pub reset_per_ip: Rule,
    pub reset_per_email: Rule,
}

pub struct Limits {
    pub limiter: Arc<dyn RateLimiter>,
    pub rules: RateRules,
}

/// What to tell the client about the tightest limit that applied.
#[derive(Debug, Clone, Copy)]
pub struct RateHeaders(Decision);

fn headers(d: &Decision) -> [(HeaderName, HeaderValue); 3] {
    [
        (HeaderName::from_static("x-ratelimit-limit"), HeaderValue::from(d.limit)),
        (HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(d.remaining)),
        (HeaderName::from_static("x-ratelimit-reset"), HeaderValue::from(d.reset_after.as_secs_f64().ceil() as u64)),
    ]
}

impl Limits {
    /// Counts one hit against each `(kind, rule, subject)`; refuses if any is over.
    pub async fn check(&self, hits: &[(&str, Rule, &str)]) -> Result<RateHeaders, ApiError> {
        let mut tightest: Option<Decision> = None;
        for (kind, rule, subject) in hits {
            let key = format!("{kind}:{subject}");
            let decision = match self.limiter.hit(&key, *rule).await {
                Ok(decision) => decision,
                // A limiter outage must not lock everyone out of signing in.
                Err(e) => {
                    tracing::warn!(error = %e, "rate limiter unavailable; letting the request through");
                    continue;
                }
            };
            let tighter = match tightest {
                None => true,
                Some(t) => {
                    (!decision.allowed && t.allowed)
                        || (decision.allowed == t.allowed && decision.remaining < t.remaining)
                }
            };
            if tighter {
                tightest = Some(decision);
            }
        }
        let Some(decision) = tightest else { return Ok(RateHeaders(Decision::unlimited())) };
        if decision.allowed {
            return Ok(RateHeaders(decision));
        }
        let retry_after = decision.reset_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut extra = headers(&decision).to_vec();
        extra.push((HeaderName::from_static("retry-after"), HeaderValue::from(retry_after)));
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many attempts; try again in {retry_after} s"),
        )
        .with_headers(extra))
    }
}

trait Unlimited {
    fn unlimited() -> Self;
}

impl Unlimited for Decision {
    fn unlimited() -> Self {
        Decision { allowed: true, limit: u32::MAX, remaining: u32::MAX, reset_after: std::time::Duration::ZERO }
    }
}

/// A response with the rate-limit headers of the request.
pub struct Limited<R>(pub RateHeaders, pub R);

impl<R: IntoResponse> IntoResponse for Limited<R> {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        if self.0.0.limit != u32::MAX {
            response.headers_mut().extend(headers(&self.0.0));
        }
        response
    }
}
