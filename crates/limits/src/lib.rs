//! Rate limiting for requests that must not be repeated too often (sign-in, sign-up,
//! mailed links): at most `limit` hits per fixed window of `window` per subject.
//!
//! [`MemoryLimiter`] counts in this process (the embedded default). [`RedisLimiter`] counts
//! in Redis, so every replica sharing it enforces one limit. Both answer with what the
//! `X-RateLimit-*` and `Retry-After` headers need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use purser_domain::Clock;

/// A limit: `limit` hits per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub limit: u32,
    pub window: Duration,
}

/// The outcome of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Hits counted in the window so far (this one included, for a hit).
    pub used: u64,
    /// Until the window ends and the count starts over.
    pub reset_after: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimitError(pub String);

pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one hit for `key` and says whether it is within `rule`.
    fn hit<'a>(&'a self, key: &'a str, rule: Rule) -> BoxFuture<'a, Result<Decision, LimitError>>;

    /// Says how `key` stands against `rule` without counting a hit: `allowed` while there
    /// is room for one more.
    fn peek<'a>(&'a self, key: &'a str, rule: Rule) -> BoxFuture<'a, Result<Decision, LimitError>>;

    /// Takes back one hit of `key` in its current window (for an attempt counted before it
    /// was known to count for nothing); nothing when the window has ended.
    fn undo<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), LimitError>>;
}

fn decide(count: u64, rule: Rule, reset_after: Duration) -> Decision {
    Decision {
        used: count,
        allowed: count <= u64::from(rule.limit),
        limit: rule.limit,
        remaining: u32::try_from(u64::from(rule.limit).saturating_sub(count)).unwrap_or(0),
        reset_after,
    }
}

/// Counts in this process.
pub struct MemoryLimiter {
    clock: Arc<dyn Clock>,
    /// key → (window end in ms, hits)
    windows: Mutex<HashMap<String, (i64, u64)>>,
}

impl MemoryLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, windows: Mutex::new(HashMap::new()) }
    }
}

impl RateLimiter for MemoryLimiter {
    fn hit<'a>(&'a self, key: &'a str, rule: Rule) -> BoxFuture<'a, Result<Decision, LimitError>> {
        Box::pin(async move {
            let now = self.clock.now().as_millis();
            let window_ms = i64::try_from(rule.window.as_millis()).unwrap_or(i64::MAX);
            let mut windows = self.windows.lock().expect("limiter poisoned");
            // Forget finished windows now and then so the map stays small.
            if windows.len() > 10_000 {
                windows.retain(|_, (end, _)| *end > now);
            }
            let entry = windows.entry(key.to_owned()).or_insert((now + window_ms, 0));
            if entry.0 <= now {
                *entry = (now + window_ms, 0);
            }
            entry.1 += 1;
            let reset_after = Duration::from_millis(u64::try_from(entry.0 - now).unwrap_or(0));
            Ok(decide(entry.1, rule, reset_after))
        })
    }

    fn peek<'a>(&'a self, key: &'a str, rule: Rule) -> BoxFuture<'a, Result<Decision, LimitError>> {
        Box::pin(async move {
            let now = self.clock.now().as_millis();
            let windows = self.windows.lock().expect("limiter poisoned");
            let (count, reset_after) = match windows.get(key) {
                Some(&(end, count)) if end > now => {
                    (count, Duration::from_millis(u64::try_from(end - now).unwrap_or(0)))
                }
                _ => (0, rule.window),
            };
            Ok(Decision { used: count, ..decide(count + 1, rule, reset_after) })
        })
    }

    fn undo<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), LimitError>> {
        Box::pin(async move {
            let now = self.clock.now().as_millis();
            let mut windows = self.windows.lock().expect("limiter poisoned");
            if let Some((_, count)) = windows.get_mut(key).filter(|(end, _)| *end > now) {
                *count = count.saturating_sub(1);
            }
            Ok(())
        })
    }
}

/// Counts in Redis: `INCR` the window's key and give it the window's lifetime on the first
/// hit, atomically (one script), so concurrent replicas agree.
pub struct RedisLimiter {
    connection: redis::aio::ConnectionManager,
    prefix: String,
    script: redis::Script,
    peek: redis::Script,
    undo: redis::Script,
}

const HIT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
";

const PEEK: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
return {count, redis.call('PTTL', KEYS[1])}
";

// Only a live window is decremented: an expired key is gone, and one never goes below zero.
const UNDO: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return 0
";

impl RedisLimiter {
    /// Connects to `redis://...`; keys are `<prefix>rl:<key>`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, LimitError> {
        let client = redis::Client::open(url).map_err(|e| LimitError(e.to_string()))?;
        let connection = redis::aio::ConnectionManager::new(client).await.map_err(|e| LimitError(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            script: redis::Script::new(HIT),
            peek: redis::Script::new(PEEK),
            undo: redis::Script::new(UNDO),
        })
    }
}

impl RateLimiter for RedisLimiter {
    fn hit<'a>(&'a self, key: &'a str, rule: Rule) -> BoxFuture<'a, Result<Decision, LimitError>> {
        Box::pin(async move {
            let window_ms = u64::try_from(rule.window.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut connection = self.connection.clone();
            let (count, ttl): (u64, i64) = self
                .script
                .key(format!("{}rl:{key}", self.prefix))
                .arg(window_ms)
                .invoke_async(&mut connection)
                .await
                .map_err(|e| LimitError(e.to_string()))?;
            Ok(decide(count, rule, Duration::from_millis(u64::try_from(ttl).unwrap_or(window_ms))))
        })
    }

    fn peek<'a>(&'a self, key: &'a str, rule: Rule) -> BoxFuture<'a, Result<Decision, LimitError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let (count, ttl): (u64, i64) = self
                .peek
                .key(format!("{}rl:{key}", self.prefix))
                .invoke_async(&mut connection)
                .await
                .map_err(|e| LimitError(e.to_string()))?;
            let reset_after = u64::try_from(ttl).map_or(rule.window, Duration::from_millis);
            Ok(Decision { used: count, ..decide(count + 1, rule, reset_after) })
        })
    }

    fn undo<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), LimitError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: i64 = self
                .undo
                .key(format!("{}rl:{key}", self.prefix))
                .invoke_async(&mut connection)
                .await
                .map_err(|e| LimitError(e.to_string()))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use purser_domain::{ManualClock, Timestamp};

    use super::*;

    const RULE: Rule = Rule { limit: 3, window: Duration::from_secs(60) };

    #[tokio::test]
    async fn memory_windows_count_and_reset() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let limiter = MemoryLimiter::new(clock.clone());
        for remaining in [2, 1, 0] {
            let d = limiter.hit("login:ip", RULE).await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, remaining);
        }
        clock.advance_secs(20);
        let refused = limiter.hit("login:ip", RULE).await.unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.reset_after, Duration::from_secs(40));
        assert!(limiter.hit("login:other", RULE).await.unwrap().allowed, "keys are counted apart");
        clock.advance_secs(40);
        assert!(limiter.hit("login:ip", RULE).await.unwrap().allowed, "a new window starts over");
    }

    #[tokio::test]
    async fn peeking_counts_nothing() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let limiter = MemoryLimiter::new(clock.clone());
        for _ in 0..10 {
            assert_eq!(limiter.peek("k", RULE).await.unwrap().remaining, 2);
        }
        for _ in 0..3 {
            limiter.hit("k", RULE).await.unwrap();
        }
        let full = limiter.peek("k", RULE).await.unwrap();
        assert!(!full.allowed, "no room for one more");
        assert_eq!(full.used, 3);
        assert_eq!(full.reset_after, Duration::from_secs(60));
    }

    #[tokio::test]
    async fn undoing_takes_back_one_hit_of_a_live_window_only() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let limiter = MemoryLimiter::new(clock.clone());
        limiter.undo("k").await.unwrap();
        for _ in 0..3 {
            limiter.hit("k", RULE).await.unwrap();
        }
        limiter.undo("k").await.unwrap();
        assert_eq!(limiter.peek("k", RULE).await.unwrap().used, 2);
        assert!(limiter.hit("k", RULE).await.unwrap().allowed, "the room given back is used");
        clock.advance_secs(60);
        limiter.undo("k").await.unwrap();
        assert_eq!(limiter.hit("k", RULE).await.unwrap().remaining, 2, "a new window is not touched");
    }

    fn redis_url() -> String {
        std::env::var("PURSER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    #[tokio::test]
    async fn redis_limits_are_shared_by_every_limiter_on_the_same_prefix() {
        use rand::Rng;
        let prefix = format!("purser-test-{:x}:", rand::thread_rng().r#gen::<u64>());
        let one = RedisLimiter::connect(&redis_url(), &prefix).await.expect("Redis is needed for this test");
        let two = RedisLimiter::connect(&redis_url(), &prefix).await.unwrap();
        assert!(one.hit("login:ip", RULE).await.unwrap().allowed);
        assert!(two.hit("login:ip", RULE).await.unwrap().allowed);
        assert_eq!(one.hit("login:ip", RULE).await.unwrap().remaining, 0);
        let refused = two.hit("login:ip", RULE).await.unwrap();
        assert!(!refused.allowed, "the fourth hit, across two limiters, is refused");
        assert!(refused.reset_after <= Duration::from_secs(60) && refused.reset_after > Duration::from_secs(50));
        let elsewhere = RedisLimiter::connect(&redis_url(), &format!("{prefix}other:")).await.unwrap();
        assert!(elsewhere.hit("login:ip", RULE).await.unwrap().allowed, "prefixes are namespaces");
        assert!(!one.peek("login:ip", RULE).await.unwrap().allowed, "a peek sees the count");
        let fresh = one.peek("never:hit", RULE).await.unwrap();
        assert_eq!((fresh.allowed, fresh.remaining, fresh.reset_after), (true, 2, RULE.window));
        for _ in 0..5 {
            one.peek("never:hit", RULE).await.unwrap();
        }
        assert_eq!(one.hit("never:hit", RULE).await.unwrap().remaining, 2, "peeks counted nothing");
        two.undo("never:hit").await.unwrap();
        assert_eq!(one.peek("never:hit", RULE).await.unwrap().used, 0, "an undo is shared too");
        two.undo("never:hit").await.unwrap();
        two.undo("gone").await.unwrap();
        assert_eq!(one.peek("never:hit", RULE).await.unwrap().used, 0, "never below zero");
    }
}
