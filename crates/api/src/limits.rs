//! Rate limits on the requests attackers repeat: sign-in, sign-up, and mailed links.
//! Answers carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
//! (seconds); a refusal is 429 with `Retry-After`.
//!
//! Sign-in is throttled so that guessing is slow and nobody can lock an owner out: every
//! attempt from an address counts against `login_per_ip`; only failures count against an
//! account, from one address (`login_failures_per_account_and_ip`: past it, that address
//! is refused for that account until the window ends) and from anywhere
//! (`login_failures_per_account`: past it, every sign-in to the account waits, twice as
//! long with each further failure, never more than `login_delay.max`). A failure streak
//! from one address never stops the owner signing in from another; one spread over many
//! addresses only slows them. Successful sign-ins count for nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use purser_limits::{Decision, RateLimiter, Rule};

use crate::error::ApiError;

/// The limits, each `limit` hits per window.
#[derive(Debug, Clone, Copy)]
pub struct RateRules {
    pub login_per_ip: Rule,
    pub login_failures_per_account_and_ip: Rule,
    pub login_failures_per_account: Rule,
    pub login_delay: SignInDelay,
    pub register_per_ip: Rule,
    pub verify_per_account: Rule,
    pub reset_per_ip: Rule,
    pub reset_per_email: Rule,
    pub token_failures_per_ip: Rule,
}

/// How long a sign-in waits once its account is past `login_failures_per_account`.
#[derive(Debug, Clone, Copy)]
pub struct SignInDelay {
    /// The wait at the limit; it doubles with each failure beyond.
    pub first: Duration,
    pub max: Duration,
}

impl SignInDelay {
    /// The wait for an account with `failures` recent failures, past a limit of `limit`.
    pub fn after(self, failures: u64, limit: u32) -> Duration {
        let Some(beyond) = failures.checked_sub(u64::from(limit)) else { return Duration::ZERO };
        let factor = 1_u32 << beyond.min(20);
        self.first.saturating_mul(factor).min(self.max)
    }
}

pub struct Limits {
    pub limiter: Arc<dyn RateLimiter>,
    pub rules: RateRules,
}

/// A sign-in let through: the headers to answer with, and the counts a failure adds to.
pub struct SignInAttempt {
    pub rate: RateHeaders,
    pair: String,
    account: String,
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

fn refusal(decision: &Decision) -> ApiError {
    let retry_after = decision.reset_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut extra = headers(decision).to_vec();
    extra.push((HeaderName::from_static("retry-after"), HeaderValue::from(retry_after)));
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many attempts; try again in {retry_after} s"),
    )
    .with_headers(extra)
}

impl Limits {
    /// Decides whether a sign-in to `account` from `ip` may go ahead (see the module's
    /// comment), waiting first if the account is under a failure streak.
    pub async fn before_sign_in(&self, ip: &str, account: &str) -> Result<SignInAttempt, ApiError> {
        let rate = self.check(&[("login:ip", self.rules.login_per_ip, ip)]).await?;
        // The address comes first: it never holds a `|`, so no account text can make one
        // pair's key another's.
        let attempt = SignInAttempt {
            rate,
            pair: format!("login:failed-from:{ip}|{account}"),
            account: format!("login:failed:{account}"),
        };
        // Counted as a failure before the password is checked, so that concurrent guesses
        // cannot all pass a count not yet raised; a success takes it back.
        match self.limiter.hit(&attempt.pair, self.rules.login_failures_per_account_and_ip).await {
            Ok(pair) if !pair.allowed => return Err(refusal(&pair)),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "rate limiter unavailable; letting the request through"),
        }
        let rule = self.rules.login_failures_per_account;
        if let Some(account) = self.peek(&attempt.account, rule).await {
            let wait = self.rules.login_delay.after(account.used, rule.limit);
            if !wait.is_zero() {
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "sign-in slowed: the account is under a failure streak"
                );
                tokio::time::sleep(wait).await;
            }
        }
        Ok(attempt)
    }

    /// Counts a failed sign-in against its account from anywhere (from its address, it
    /// was counted before).
    pub async fn sign_in_failed(&self, attempt: &SignInAttempt) {
        if let Err(e) = self.limiter.hit(&attempt.account, self.rules.login_failures_per_account).await {
            tracing::warn!(error = %e, "rate limiter unavailable; a failed sign-in went uncounted");
        }
    }

    /// Takes back what the attempt counted: an attempt that was not a wrong password (a
    /// success, a disabled account, an invalid request) counts for nothing.
    pub async fn sign_in_not_failed(&self, attempt: &SignInAttempt) {
        if let Err(e) = self.limiter.undo(&attempt.pair).await {
            tracing::warn!(error = %e, "rate limiter unavailable; a sign-in stays counted as failed");
        }
    }

    /// Refuses a token request from an address past its refusals' limit. Only refusals
    /// count (`token_refused`), so clients that sign correctly are never slowed.
    pub async fn before_token(&self, ip: &str) -> Result<(), ApiError> {
        match self.peek(&format!("token:failed:{ip}"), self.rules.token_failures_per_ip).await {
            Some(decision) if !decision.allowed => Err(refusal(&decision)),
            _ => Ok(()),
        }
    }

    pub async fn token_refused(&self, ip: &str) {
        let key = format!("token:failed:{ip}");
        if let Err(e) = self.limiter.hit(&key, self.rules.token_failures_per_ip).await {
            tracing::warn!(error = %e, "rate limiter unavailable; a refused token request went uncounted");
        }
    }

    /// How `key` stands, or `None` when the limiter cannot say (it lets the request through).
    async fn peek(&self, key: &str, rule: Rule) -> Option<Decision> {
        match self.limiter.peek(key, rule).await {
            Ok(decision) => Some(decision),
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; letting the request through");
                None
            }
        }
    }

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
        if decision.allowed { Ok(RateHeaders(decision)) } else { Err(refusal(&decision)) }
    }
}

trait Unlimited {
    fn unlimited() -> Self;
}

impl Unlimited for Decision {
    fn unlimited() -> Self {
        Decision { allowed: true, limit: u32::MAX, remaining: u32::MAX, used: 0, reset_after: Duration::ZERO }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_delays_start_at_the_limit_double_and_stop_at_the_ceiling() {
        let delay = SignInDelay { first: Duration::from_millis(250), max: Duration::from_secs(8) };
        let waits: Vec<u64> = (0..12).map(|failures| delay.after(failures, 5).as_millis() as u64).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 250, 500, 1000, 2000, 4000, 8000, 8000]);
        assert_eq!(delay.after(u64::MAX, 5), Duration::from_secs(8), "no overflow");
    }
}
