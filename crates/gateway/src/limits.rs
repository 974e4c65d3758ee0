//! Token buckets for requests-per-minute and tokens-per-minute limits.
//!
//! A bucket holds up to `limit` units and refills at `limit` per minute. The level is kept
//! in units of 1/60,000 so a refill of `limit` per minute is exactly `limit` per
//! millisecond: no rounding drift, no floating point. The clock is a parameter.
//!
//! When replicas share their counts (see [`crate::shared`]), a bucket also knows what the
//! other replicas used in the last minute and leaves that much room for them.

use std::sync::Mutex;

const SCALE: i64 = 60_000;

/// Where a bucket stands, as a client is told it in `x-ratelimit-*` headers: the limit,
/// what is left for this replica in whole units, and the milliseconds until the bucket is
/// full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub limit: u32,
    pub left: u64,
    pub full_in_ms: u64,
}

#[derive(Debug)]
pub struct Bucket {
    limit: u32,
    state: Mutex<State>,
}

/// Kept under one lock, which every use takes anyway: counting for the other replicas
/// costs a request nothing more.
#[derive(Debug)]
struct State {
    level: i64,
    at_ms: i64,
    /// Units used here and not yet told to the other replicas.
    unshared: i64,
    /// Units the other replicas used in the last minute, as last heard.
    others: i64,
}

impl Bucket {
    pub fn new(limit: u32, now_ms: i64) -> Self {
        Self {
            limit,
            state: Mutex::new(State { level: i64::from(limit) * SCALE, at_ms: now_ms, unshared: 0, others: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("bucket poisoned")
    }

    /// Takes the units used here since the last call, to tell the other replicas.
    pub(crate) fn take_unshared(&self) -> i64 {
        std::mem::take(&mut self.lock().unshared)
    }

    /// Puts back units that could not be told (they will be told next time).
    pub(crate) fn restore_unshared(&self, units: i64) {
        let mut state = self.lock();
        state.unshared = state.unshared.saturating_add(units);
    }

    /// Sets what the other replicas used in the last minute.
    pub(crate) fn set_others(&self, units: i64) {
        self.lock().others = units.max(0);
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    fn refill(&self, state: &mut State, now_ms: i64) {
        let elapsed = (now_ms - state.at_ms).max(0);
        let full = i64::from(self.limit) * SCALE;
        state.level = state.level.saturating_add(elapsed.saturating_mul(i64::from(self.limit))).min(full);
        state.at_ms = state.at_ms.max(now_ms);
    }

    fn wait_ms(&self, missing_scaled: i64) -> u64 {
        let per_ms = i64::from(self.limit).max(1);
        u64::try_from((missing_scaled + per_ms - 1) / per_ms).unwrap_or(u64::MAX)
    }

    /// Takes `amount` units if all of them are there, and says what is left; otherwise
    /// says how many milliseconds until they will be.
    pub fn take(&self, amount: u64, now_ms: i64) -> Result<Level, u64> {
        let mut state = self.lock();
        self.refill(&mut state, now_ms);
        let need = i64::try_from(amount).unwrap_or(i64::MAX).saturating_mul(SCALE);
        let available = state.available();
        if available >= need {
            state.level -= need;
            state.unshared += need / SCALE;
            Ok(self.standing(&state))
        } else {
            Err(self.wait_ms(need - available))
        }
    }

    /// Like [`Bucket::take`], but only looks.
    pub fn peek(&self, amount: u64, now_ms: i64) -> Result<(), u64> {
        let mut state = self.lock();
        self.refill(&mut state, now_ms);
        let need = i64::try_from(amount).unwrap_or(i64::MAX).saturating_mul(SCALE);
        let available = state.available();
        if available >= need { Ok(()) } else { Err(self.wait_ms(need - available)) }
    }

    /// Succeeds while anything is left (for limits whose cost is known only afterwards),
    /// saying what is.
    pub fn check(&self, now_ms: i64) -> Result<Level, u64> {
        let mut state = self.lock();
        self.refill(&mut state, now_ms);
        let available = state.available();
        if available > 0 { Ok(self.standing(&state)) } else { Err(self.wait_ms(1 - available)) }
    }

    fn standing(&self, state: &State) -> Level {
        let left = u64::try_from(state.available().max(0) / SCALE).unwrap_or(0);
        let missing = i64::from(self.limit).saturating_mul(SCALE).saturating_sub(state.level).max(0);
        Level { limit: self.limit, left, full_in_ms: self.wait_ms(missing) }
    }

    /// What is left now (see [`Level`]).
    #[cfg(test)]
    fn status(&self, now_ms: i64) -> Level {
        let mut state = self.lock();
        self.refill(&mut state, now_ms);
        self.standing(&state)
    }

    /// Gives back what [`Bucket::take`] took for a request that was then refused elsewhere.
    pub fn refund(&self, amount: u64, now_ms: i64) {
        let mut state = self.lock();
        self.refill(&mut state, now_ms);
        let full = i64::from(self.limit) * SCALE;
        let units = i64::try_from(amount).unwrap_or(i64::MAX);
        state.level = state.level.saturating_add(units.saturating_mul(SCALE)).min(full);
        state.unshared = state.unshared.saturating_sub(units);
    }

    /// Takes `amount` after the fact; the level may go below zero, which delays the next
    /// request until the debt is paid off.
    pub fn debit(&self, amount: u64, now_ms: i64) {
        let mut state = self.lock();
        self.refill(&mut state, now_ms);
        let units = i64::try_from(amount).unwrap_or(i64::MAX);
        state.level = state.level.saturating_sub(units.saturating_mul(SCALE));
        state.unshared = state.unshared.saturating_add(units);
    }
}

impl State {
    /// The level left for this replica, in scaled units.
    fn available(&self) -> i64 {
        self.level.saturating_sub(self.others.saturating_mul(SCALE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_per_minute_refill_evenly() {
        let b = Bucket::new(60, 0);
        for _ in 0..60 {
            b.take(1, 0).unwrap();
        }
        assert_eq!(b.take(1, 0), Err(1000), "one request per second comes back");
        assert_eq!(b.take(1, 999), Err(1));
        b.take(1, 1000).unwrap();
        assert!(b.take(1, 1000).is_err());
        // A minute later the bucket is full again, and never fuller.
        for _ in 0..60 {
            b.take(1, 120_000).unwrap();
        }
        assert!(b.take(1, 120_000).is_err());
    }

    #[test]
    fn tokens_are_paid_after_the_fact() {
        let b = Bucket::new(1000, 0);
        b.check(0).unwrap();
        b.debit(1500, 0); // one large answer overdraws the bucket
        assert_eq!(b.check(0), Err(30_001), "500 tokens of debt take 30 s to repay");
        assert!(b.check(30_000).is_err());
        b.check(30_001).unwrap();
    }

    #[test]
    fn other_replicas_use_leaves_less_and_own_use_is_counted_for_them() {
        let b = Bucket::new(10, 0);
        b.set_others(7);
        for _ in 0..3 {
            b.take(1, 0).unwrap();
        }
        assert_eq!(b.take(1, 0), Err(6000), "ten a minute in all, seven of them used elsewhere");
        b.refund(1, 0);
        b.debit(5, 0);
        assert_eq!(b.take_unshared(), 3 - 1 + 5);
        assert_eq!(b.take_unshared(), 0);
        b.restore_unshared(4);
        b.set_others(0);
        assert_eq!(b.take_unshared(), 4);
    }

    #[test]
    fn status_says_what_is_left_and_when_it_is_full() {
        let b = Bucket::new(60, 0);
        let standing = |left, full_in_ms| Level { limit: 60, left, full_in_ms };
        assert_eq!(b.status(0), standing(60, 0));
        for _ in 0..2 {
            b.take(1, 0).unwrap();
        }
        assert_eq!(b.take(1, 0), Ok(standing(57, 3000)), "one a second comes back");
        assert_eq!(b.status(1500), standing(58, 1500));
        assert_eq!(b.check(1500), Ok(standing(58, 1500)));
        b.debit(100, 1500);
        assert_eq!(b.status(1500).left, 0, "in debt, nothing is left");
    }

    #[test]
    fn time_going_backwards_does_not_refill() {
        let b = Bucket::new(1, 10_000);
        b.take(1, 10_000).unwrap();
        assert!(b.take(1, 5_000).is_err());
        assert!(b.take(1, 10_001).is_err());
    }
}
