//! The limits of one scope (an API key, its team, its user) and their live counters:
//! requests and tokens per minute, requests in flight, and spend against a budget that may
//! reset each day, week or month. A request is admitted only if every scope it belongs to
//! has room, and what it took is given back if any of them refuses.
//!
//! A budget is a cap, also under concurrency: each admitted request reserves its
//! worst-case cost (see `proxy::worst_case_cost`) until it is settled with its real cost,
//! and a request is admitted only while spend and reservations leave room. So the spend
//! of a scope passes its budget by at most one request's worst-case cost on a replica
//! (plus what other replicas admit before the next shared round, `shared.rs`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use purser_domain::org::BudgetPeriod;
use purser_domain::{Timestamp, Usd};

use crate::error::GatewayError;
use crate::limits::{Bucket, Level};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitSpec {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub max_parallel: Option<u32>,
    pub budget: Option<Usd>,
    /// `None`: the budget is for all time.
    pub budget_period: Option<BudgetPeriod>,
}

/// Spend in the current budget period (all time without a period).
#[derive(Debug)]
pub struct PeriodSpend {
    period: Option<BudgetPeriod>,
    state: Mutex<SpendState>,
}

#[derive(Debug)]
struct SpendState {
    /// The start of the period the spend belongs to.
    start: Timestamp,
    /// When the next period starts (kept so requests don't redo the calendar).
    end: Timestamp,
    /// Nano-dollars spent in the period, by every replica as far as known here.
    nanos: i64,
    /// Nano-dollars spent here and not yet told to the other replicas.
    unshared: i64,
    /// Nano-dollars reserved by requests in flight here (whichever period they began in:
    /// their cost lands in the period they end in).
    reserved: i64,
}

/// Why a budget refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BudgetRefusal {
    /// The period's spend has reached the budget.
    Spent,
    /// Requests in flight have reserved what is left.
    Reserved,
}

/// What [`PeriodSpend::take_unshared`] hands over to be told to the other replicas.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpendDelta {
    pub start: Timestamp,
    /// The period's spend before `delta`: where a shared count starts if it has none yet.
    pub before: i64,
    pub delta: i64,
}

impl PeriodSpend {
    fn new(period: Option<BudgetPeriod>, start: Timestamp, spend: Usd) -> Self {
        let end = period.map_or(Timestamp::MAX, |p| p.bounds(start).1);
        Self { period, state: Mutex::new(SpendState { start, end, nanos: spend.nanos(), unshared: 0, reserved: 0 }) }
    }

    fn lock(&self, now: Timestamp) -> std::sync::MutexGuard<'_, SpendState> {
        let mut state = self.state.lock().expect("spend poisoned");
        if now >= state.end
            && let Some(period) = self.period
        {
            let (start, end) = period.bounds(now);
            *state = SpendState { start, end, nanos: 0, unshared: 0, reserved: state.reserved };
        }
        state
    }

    /// Reserves `worst` for a request if the period's spend and the reservations of
    /// requests in flight leave room under `budget`.
    fn reserve(&self, budget: Usd, worst: Usd, now: Timestamp) -> Result<(), BudgetRefusal> {
        let mut state = self.lock(now);
        if state.nanos >= budget.nanos() {
            return Err(BudgetRefusal::Spent);
        }
        if state.nanos.saturating_add(state.reserved) >= budget.nanos() {
            return Err(BudgetRefusal::Reserved);
        }
        state.reserved = state.reserved.saturating_add(worst.nanos());
        Ok(())
    }

    /// Gives back a reservation (the request was refused elsewhere, or is settled).
    fn release(&self, worst: Usd) {
        let mut state = self.state.lock().expect("spend poisoned");
        state.reserved = state.reserved.saturating_sub(worst.nanos()).max(0);
    }

    /// Nano-dollars reserved by requests in flight.
    pub fn reserved(&self) -> Usd {
        Usd::from_nanos(self.state.lock().expect("spend poisoned").reserved)
    }

    /// Spend so far in the period containing `now` (a new period starts at zero).
    pub fn current(&self, now: Timestamp) -> Usd {
        Usd::from_nanos(self.lock(now).nanos)
    }

    /// Counts `cost` spent, and gives back `reserved` (under one lock).
    fn add(&self, cost: Usd, reserved: Usd, now: Timestamp) {
        let mut state = self.lock(now);
        state.nanos = state.nanos.saturating_add(cost.nanos());
        state.unshared = state.unshared.saturating_add(cost.nanos());
        state.reserved = state.reserved.saturating_sub(reserved.nanos()).max(0);
    }

    /// Takes in spend read from the database, which includes other replicas' requests:
    /// the larger of the two is right (this replica's own is written before a reload).
    fn merge(&self, start: Timestamp, stored: Usd, now: Timestamp) {
        let mut state = self.lock(now);
        if state.start == start {
            state.nanos = state.nanos.max(stored.nanos());
        }
    }

    pub(crate) fn period(&self) -> Option<BudgetPeriod> {
        self.period
    }

    /// Takes the spend made here since the last call, to tell the other replicas.
    pub(crate) fn take_unshared(&self, now: Timestamp) -> SpendDelta {
        let mut state = self.lock(now);
        let delta = std::mem::take(&mut state.unshared);
        SpendDelta { start: state.start, before: state.nanos - delta, delta }
    }

    /// Puts back spend that could not be told.
    pub(crate) fn restore_unshared(&self, taken: SpendDelta, now: Timestamp) {
        let mut state = self.lock(now);
        if state.start == taken.start {
            state.unshared = state.unshared.saturating_add(taken.delta);
        }
    }

    /// Takes in the period's spend by every replica, as counted in the shared store after
    /// this replica's delta was added to it.
    pub(crate) fn merge_shared(&self, start: Timestamp, shared: i64, now: Timestamp) {
        let mut state = self.lock(now);
        if state.start == start {
            // Spend made here while the count was on its way is not in `shared` yet.
            state.nanos = state.nanos.max(shared.saturating_add(state.unshared));
        }
    }
}

/// Requests of one scope in flight here and, as last heard, on the other replicas.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    pub here: AtomicU32,
    pub others: AtomicU32,
}

/// Live counters of one scope. They outlive reloads of the scope's settings: buckets while
/// their limit is unchanged, spend while the budget period is, requests in flight always.
#[derive(Debug)]
pub struct Governor {
    pub spec: LimitSpec,
    rpm: Option<Arc<Bucket>>,
    tpm: Option<Arc<Bucket>>,
    in_flight: Arc<InFlight>,
    spend: Arc<PeriodSpend>,
    /// Whether the shared counts (when there are any) are kept up to date for this scope.
    pub(crate) shared: AtomicBool,
}

fn bucket(limit: Option<u32>, previous: Option<&Arc<Bucket>>, now_ms: i64) -> Option<Arc<Bucket>> {
    let limit = limit?;
    match previous {
        Some(b) if b.limit() == limit => Some(Arc::clone(b)),
        _ => Some(Arc::new(Bucket::new(limit, now_ms))),
    }
}

impl Governor {
    /// A scope with `spend` (as stored) in the period that began at `period_start`.
    pub fn new(
        spec: LimitSpec,
        spend: Usd,
        period_start: Timestamp,
        previous: Option<&Governor>,
        now: Timestamp,
    ) -> Self {
        let ms = now.as_millis();
        let spend = match previous {
            Some(p) if p.spec.budget_period == spec.budget_period => {
                p.spend.merge(period_start, spend, now);
                Arc::clone(&p.spend)
            }
            _ => Arc::new(PeriodSpend::new(spec.budget_period, period_start, spend)),
        };
        Self {
            rpm: bucket(spec.rpm, previous.and_then(|p| p.rpm.as_ref()), ms),
            tpm: bucket(spec.tpm, previous.and_then(|p| p.tpm.as_ref()), ms),
            in_flight: previous.map_or_else(Arc::default, |p| Arc::clone(&p.in_flight)),
            spend,
            spec,
            shared: AtomicBool::new(false),
        }
    }

    pub(crate) fn rpm_bucket(&self) -> Option<&Arc<Bucket>> {
        self.rpm.as_ref()
    }

    pub(crate) fn tpm_bucket(&self) -> Option<&Arc<Bucket>> {
        self.tpm.as_ref()
    }

    pub(crate) fn period_spend(&self) -> &Arc<PeriodSpend> {
        &self.spend
    }

    pub fn spend(&self, now: Timestamp) -> Usd {
        self.spend.current(now)
    }

    /// What requests in flight here have reserved of the budget.
    pub fn reserved(&self) -> Usd {
        self.spend.reserved()
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.here.load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight_counts(&self) -> &InFlight {
        &self.in_flight
    }

    /// Whether any of the limits is one the replicas share.
    pub(crate) fn has_shared_limits(&self) -> bool {
        let s = &self.spec;
        s.rpm.is_some() || s.tpm.is_some() || s.budget.is_some() || s.max_parallel.is_some()
    }

    /// Counts a finished request's cost and tokens, and gives back what it reserved.
    fn settle_reserved(&self, cost: Usd, reserved: Usd, tokens: u64, now: Timestamp) {
        self.spend.add(cost, reserved, now);
        if let Some(tpm) = &self.tpm {
            tpm.debit(tokens, now.as_millis());
        }
    }

    /// Reserves a request's worst-case cost under this scope's budget, if it has one.
    fn reserve(&self, worst: Usd, now: Timestamp) -> Result<bool, BudgetRefusal> {
        match self.spec.budget {
            Some(budget) => self.spend.reserve(budget, worst, now).map(|()| true),
            None => Ok(false),
        }
    }

    fn try_enter(&self) -> bool {
        let Some(max) = self.spec.max_parallel else { return true };
        let here = &self.in_flight.here;
        let others = self.in_flight.others.load(Ordering::Acquire);
        let mut current = here.load(Ordering::Relaxed);
        loop {
            if current.saturating_add(others) >= max {
                return false;
            }
            match here.compare_exchange_weak(current, current + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    fn leave(&self) {
        if self.spec.max_parallel.is_some() {
            self.in_flight.here.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Whose limits refused a request, for the error the client sees.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Key,
    Team(&'a str),
    User,
}

impl Scope<'_> {
    fn whose(self) -> &'static str {
        match self {
            Self::Key => "this API key",
            Self::Team(_) => "its team",
            Self::User => "its owner",
        }
    }

    fn refused_by_budget(self, why: BudgetRefusal) -> GatewayError {
        match (why, self) {
            (BudgetRefusal::Reserved, _) => GatewayError::budget_reserved(self.whose()),
            (BudgetRefusal::Spent, Self::Key) => GatewayError::budget_exceeded(),
            (BudgetRefusal::Spent, Self::Team(name)) => GatewayError::team_budget_exceeded(name),
            (BudgetRefusal::Spent, Self::User) => GatewayError::user_budget_exceeded(),
        }
    }
}

/// What an admitted request holds of its scopes (up to three: key, team, user): their
/// parallel-request slots and budget reservations. Settling it counts the request's real
/// cost and tokens; dropping it unsettled (a request refused after all) gives everything
/// back.
#[derive(Debug, Default)]
pub struct Permit {
    scopes: [Option<Held>; 3],
    /// The worst-case cost reserved under each budget held.
    reserved: Usd,
    /// Where the key's requests- and tokens-per-minute stood once this request was let in
    /// (read under the locks admission takes anyway), for its `x-ratelimit-*` headers.
    pub key_levels: [Option<Level>; 2],
}

#[derive(Debug)]
struct Held {
    governor: Arc<Governor>,
    slot: bool,
    reservation: bool,
}

impl Permit {
    /// Counts the request's `cost` and `tokens` against each scope, and gives back its
    /// slots and reservations.
    pub fn settle(mut self, cost: Usd, tokens: u64, now: Timestamp) {
        for held in self.scopes.iter_mut().filter_map(Option::take) {
            let reserved = if held.reservation { self.reserved } else { Usd::ZERO };
            held.governor.settle_reserved(cost, reserved, tokens, now);
            if held.slot {
                held.governor.leave();
            }
        }
    }
}

impl Held {
    /// Gives back what a request that is not settled held.
    fn give_back(&self, reserved: Usd) {
        if self.reservation {
            self.governor.spend.release(reserved);
        }
        if self.slot {
            self.governor.leave();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        for held in self.scopes.iter().flatten() {
            held.give_back(self.reserved);
        }
    }
}

/// Admits a request under every scope's limits: budgets first (they do not replenish;
/// each reserves `worst`, the request's worst-case cost), then tokens per minute (checked
/// now, paid when the answer's size is known), then requests in flight and requests per
/// minute (taken now, given back if a later check refuses).
pub fn admit(scopes: &[(Scope<'_>, &Arc<Governor>)], worst: Usd, now: Timestamp) -> Result<Permit, GatewayError> {
    let ms = now.as_millis();
    let mut permit = Permit { scopes: [None, None, None], reserved: worst, key_levels: [None; 2] };
    for (i, (scope, g)) in scopes.iter().enumerate() {
        // Held from here on: a refusal below drops the permit, which gives this back.
        let reservation = g.reserve(worst, now).map_err(|why| scope.refused_by_budget(why))?;
        permit.scopes[i] = Some(Held { governor: Arc::clone(g), slot: false, reservation });
    }
    for (scope, g) in scopes {
        if let Some(tpm) = &g.tpm {
            let level = tpm
                .check(ms)
                .map_err(|wait| GatewayError::rate_limited(scope.whose(), "tokens per minute", tpm.limit(), wait))?;
            if matches!(scope, Scope::Key) {
                permit.key_levels[1] = Some(level);
            }
        }
    }
    let mut taken_rpm: [Option<&Bucket>; 3] = [None; 3];
    let refuse = |taken_rpm: &[Option<&Bucket>; 3], error: GatewayError| {
        for bucket in taken_rpm.iter().flatten() {
            bucket.refund(1, ms);
        }
        error // the permit, dropped with the error, gives back the parallel slots
    };
    for (i, (scope, g)) in scopes.iter().enumerate() {
        if !g.try_enter() {
            let limit = g.spec.max_parallel.unwrap_or(0);
            return Err(refuse(&taken_rpm, GatewayError::too_many_parallel(scope.whose(), limit)));
        }
        if let Some(held) = &mut permit.scopes[i] {
            held.slot = g.spec.max_parallel.is_some();
        }
        if let Some(rpm) = &g.rpm {
            match rpm.take(1, ms) {
                Ok(level) if matches!(scope, Scope::Key) => permit.key_levels[0] = Some(level),
                Ok(_) => {}
                Err(wait) => {
                    let error = GatewayError::rate_limited(scope.whose(), "requests per minute", rpm.limit(), wait);
                    return Err(refuse(&taken_rpm, error));
                }
            }
            taken_rpm[i] = Some(rpm);
        }
    }
    Ok(permit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_790_000_000_000);

    fn governor(spec: LimitSpec) -> Arc<Governor> {
        Arc::new(Governor::new(spec, Usd::ZERO, Timestamp::from_millis(0), None, NOW))
    }

    #[test]
    fn parallel_slots_are_held_until_the_permit_is_dropped() {
        let key = governor(LimitSpec { max_parallel: Some(2), ..Default::default() });
        let first = admit(&[(Scope::Key, &key)], Usd::ZERO, NOW).unwrap();
        let _second = admit(&[(Scope::Key, &key)], Usd::ZERO, NOW).unwrap();
        let refused = admit(&[(Scope::Key, &key)], Usd::ZERO, NOW).unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (429, "parallel_limit_exceeded"));
        drop(first);
        assert_eq!(key.in_flight(), 1);
        admit(&[(Scope::Key, &key)], Usd::ZERO, NOW).unwrap();
    }

    #[test]
    fn a_refusal_gives_back_what_other_scopes_took() {
        let key = governor(LimitSpec { rpm: Some(10), max_parallel: Some(5), ..Default::default() });
        let user = governor(LimitSpec { max_parallel: Some(1), ..Default::default() });
        let held = admit(&[(Scope::Key, &key), (Scope::User, &user)], Usd::ZERO, NOW).unwrap();
        for _ in 0..20 {
            let refused = admit(&[(Scope::Key, &key), (Scope::User, &user)], Usd::ZERO, NOW).unwrap_err();
            assert!(refused.message.contains("its owner"), "{}", refused.message);
        }
        assert_eq!(key.in_flight(), 1, "the key's slot was given back each time");
        drop(held);
        for _ in 0..9 {
            drop(admit(&[(Scope::Key, &key), (Scope::User, &user)], Usd::ZERO, NOW).unwrap());
        }
        assert!(
            admit(&[(Scope::Key, &key)], Usd::ZERO, NOW).is_err(),
            "ten requests a minute in all: refunds were exact"
        );
    }

    #[test]
    fn budgets_reset_with_their_period_and_merge_stored_spend() {
        let spec = LimitSpec {
            budget: Some(Usd::from_nanos(100)),
            budget_period: Some(BudgetPeriod::Daily),
            ..Default::default()
        };
        let start = BudgetPeriod::Daily.start(NOW);
        let user = Arc::new(Governor::new(spec, Usd::from_nanos(60), start, None, NOW));
        admit(&[(Scope::User, &user)], Usd::ZERO, NOW).unwrap().settle(Usd::from_nanos(50), 0, NOW);
        assert_eq!(admit(&[(Scope::User, &user)], Usd::ZERO, NOW).unwrap_err().code, "insufficient_quota");
        let tomorrow = NOW.plus_secs(86_400);
        assert_eq!(user.spend(tomorrow), Usd::ZERO);
        admit(&[(Scope::User, &user)], Usd::ZERO, tomorrow).unwrap();
        // A reload brings in what other replicas spent today, never less than known here.
        let reloaded = Governor::new(spec, Usd::from_nanos(30), start, Some(&user), NOW);
        assert_eq!(reloaded.spend(NOW.plus_secs(1)), Usd::ZERO, "the period already rolled over here");
        let today = Arc::new(Governor::new(spec, Usd::from_nanos(10), start, None, NOW));
        let merged = Governor::new(spec, Usd::from_nanos(70), start, Some(&today), NOW);
        assert_eq!(merged.spend(NOW), Usd::from_nanos(70));
        let lower = Governor::new(spec, Usd::from_nanos(5), start, Some(&today), NOW);
        assert_eq!(lower.spend(NOW), Usd::from_nanos(70));
    }

    #[test]
    fn concurrent_requests_pass_a_budget_by_at_most_one_requests_worst_case() {
        let spec = LimitSpec { budget: Some(Usd::from_nanos(100)), ..Default::default() };
        let (key, team) = (governor(spec), governor(spec));
        let worst = Usd::from_nanos(30);
        let scopes = [(Scope::Key, &key), (Scope::Team("t"), &team)];
        // Four requests fit while spend and reservations leave room; the fifth does not.
        let mut in_flight: Vec<Permit> = (0..4).map(|_| admit(&scopes, worst, NOW).unwrap()).collect();
        let refused = admit(&scopes, worst, NOW).unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (429, "budget_reserved"));
        assert_eq!(key.reserved(), Usd::from_nanos(120));
        // Each costs 25 in the end: spend lands at exactly the budget, never more than one
        // request's worst case past it.
        for permit in in_flight.drain(..) {
            permit.settle(Usd::from_nanos(25), 10, NOW);
        }
        assert_eq!((key.spend(NOW), key.reserved()), (Usd::from_nanos(100), Usd::ZERO));
        assert_eq!((team.spend(NOW), team.reserved()), (Usd::from_nanos(100), Usd::ZERO));
        assert_eq!(admit(&scopes, worst, NOW).unwrap_err().code, "insufficient_quota");
    }

    #[test]
    fn a_refused_or_dropped_request_gives_its_reservation_back() {
        let key = governor(LimitSpec { budget: Some(Usd::from_nanos(100)), ..Default::default() });
        let user =
            governor(LimitSpec { budget: Some(Usd::from_nanos(100)), max_parallel: Some(1), ..Default::default() });
        let held = admit(&[(Scope::Key, &key), (Scope::User, &user)], Usd::from_nanos(40), NOW).unwrap();
        let refused = admit(&[(Scope::Key, &key), (Scope::User, &user)], Usd::from_nanos(40), NOW).unwrap_err();
        assert_eq!(refused.code, "parallel_limit_exceeded");
        assert_eq!(key.reserved(), Usd::from_nanos(40), "the refused request's reservation was given back");
        drop(held);
        assert_eq!((key.reserved(), user.reserved(), key.spend(NOW)), (Usd::ZERO, Usd::ZERO, Usd::ZERO));
        assert_eq!(user.in_flight(), 0);
    }

    #[test]
    fn changed_limits_keep_the_counters_they_do_not_touch() {
        let old = governor(LimitSpec { rpm: Some(1), max_parallel: Some(3), ..Default::default() });
        let _held = admit(&[(Scope::Key, &old)], Usd::ZERO, NOW).unwrap();
        let same_rpm = Governor::new(
            LimitSpec { rpm: Some(1), max_parallel: Some(9), ..Default::default() },
            Usd::ZERO,
            Timestamp::from_millis(0),
            Some(&old),
            NOW,
        );
        assert_eq!(same_rpm.in_flight(), 1);
        assert!(admit(&[(Scope::Key, &Arc::new(same_rpm))], Usd::ZERO, NOW).is_err(), "the rpm bucket is the same one");
        let new_rpm = Governor::new(
            LimitSpec { rpm: Some(5), ..Default::default() },
            Usd::ZERO,
            Timestamp::from_millis(0),
            Some(&old),
            NOW,
        );
        assert!(admit(&[(Scope::Key, &Arc::new(new_rpm))], Usd::ZERO, NOW).is_ok(), "a new limit starts a full bucket");
    }
}
