//! 64-bit time-ordered identifiers in the Snowflake layout.
//!
//! `| 41 bits: ms since 2025-01-01 | 10 bits: worker | 12 bits: sequence |`
//!
//! Ids sort by creation time, fit a signed 64-bit column, and never collide between
//! replicas as long as each replica holds a distinct worker id (leased by the store).
//! They travel as strings in JSON because JavaScript numbers cannot hold 64 bits.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU16, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::clock::{Clock, Timestamp};

/// 2025-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: i64 = 1_735_689_600_000;
const WORKER_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;
pub const MAX_WORKER: u16 = (1 << WORKER_BITS) - 1;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(i64);

impl Id {
    pub const fn from_i64(raw: i64) -> Self {
        Self(raw)
    }

    pub const fn as_i64(self) -> i64 {
        self.0
    }

    /// Unix milliseconds at which the id was generated.
    pub const fn created_ms(self) -> i64 {
        (self.0 >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS
    }

    pub const fn worker(self) -> u16 {
        ((self.0 >> SEQUENCE_BITS) & MAX_WORKER as i64) as u16
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid id: expected a positive 64-bit integer in decimal")]
pub struct InvalidId;

impl FromStr for Id {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only plain decimal digits: no sign, no whitespace, no leading '+'.
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidId);
        }
        match s.parse::<i64>() {
            Ok(v) if v > 0 => Ok(Self(v)),
            _ => Err(InvalidId),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Id;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id as a string of decimal digits")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Id, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Id, E> {
                i64::try_from(v).ok().filter(|v| *v > 0).map(Id).ok_or_else(|| E::custom(InvalidId))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Id, E> {
                if v > 0 { Ok(Id(v)) } else { Err(E::custom(InvalidId)) }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl utoipa::PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9]{1,19}$"))
            .description(Some("64-bit time-ordered id, sent as a string"))
            .examples(["412938470207488001"])
            .into()
    }
}

impl utoipa::ToSchema for Id {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }
}

/// Generates ids for one process. Lock-free: the last (millisecond, sequence) pair is kept
/// in one atomic so ids stay strictly increasing even when the wall clock steps back or
/// more than 4096 ids are asked for in one millisecond (the clock is then borrowed from
/// the next millisecond).
pub struct IdGenerator {
    clock: Arc<dyn Clock>,
    worker: AtomicU16,
    /// `(ms since EPOCH) << SEQUENCE_BITS | sequence` of the last id handed out.
    last: AtomicI64,
}

impl IdGenerator {
    pub fn new(clock: Arc<dyn Clock>, worker: u16) -> Self {
        assert!(worker <= MAX_WORKER, "worker id {worker} is out of range");
        Self { clock, worker: AtomicU16::new(worker), last: AtomicI64::new(0) }
    }

    /// Changes the worker id, e.g. after the lease on the previous one was lost.
    pub fn set_worker(&self, worker: u16) {
        assert!(worker <= MAX_WORKER, "worker id {worker} is out of range");
        self.worker.store(worker, Ordering::SeqCst);
    }

    pub fn worker(&self) -> u16 {
        self.worker.load(Ordering::SeqCst)
    }

    pub fn next_id(&self) -> Id {
        self.next_id_at(self.clock.now())
    }

    /// An id for something that happened at `now`, for a caller that has just read the
    /// clock (the gateway meters every request, and reading the clock is not free).
    pub fn next_id_at(&self, now: Timestamp) -> Id {
        let now = (now.as_millis() - EPOCH_MS).max(0) << SEQUENCE_BITS;
        let mut current = self.last.load(Ordering::Relaxed);
        let state = loop {
            let next = now.max(current + 1);
            match self.last.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break next,
                Err(seen) => current = seen,
            }
        };
        let ms = state >> SEQUENCE_BITS;
        let sequence = state & ((1 << SEQUENCE_BITS) - 1);
        let worker = i64::from(self.worker());
        Id((ms << (WORKER_BITS + SEQUENCE_BITS)) | (worker << SEQUENCE_BITS) | sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn generator(worker: u16) -> (Arc<ManualClock>, IdGenerator) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(EPOCH_MS + 1_000)));
        let ids = IdGenerator::new(clock.clone(), worker);
        (clock, ids)
    }

    #[test]
    fn ids_carry_time_and_worker() {
        let (_, ids) = generator(7);
        let id = ids.next_id();
        assert_eq!(id.created_ms(), EPOCH_MS + 1_000);
        assert_eq!(id.worker(), 7);
    }

    #[test]
    fn ids_increase_within_a_millisecond_and_past_the_sequence_space() {
        let (_, ids) = generator(1);
        let mut last = ids.next_id();
        for _ in 0..10_000 {
            let id = ids.next_id();
            assert!(id > last);
            last = id;
        }
        // 10,001 ids in a frozen millisecond borrowed two milliseconds from the future.
        assert_eq!(last.created_ms(), EPOCH_MS + 1_002);
    }

    #[test]
    fn ids_increase_when_the_clock_steps_back() {
        let (clock, ids) = generator(1);
        let first = ids.next_id();
        clock.set(Timestamp::from_millis(EPOCH_MS + 10));
        assert!(ids.next_id() > first);
    }

    #[test]
    fn different_workers_never_collide() {
        let (_, a) = generator(1);
        let (_, b) = generator(2);
        let left: std::collections::HashSet<Id> = (0..5000).map(|_| a.next_id()).collect();
        assert!((0..5000).map(|_| b.next_id()).all(|id| !left.contains(&id)));
    }

    #[test]
    fn ids_travel_as_strings() {
        let id = Id::from_i64(412_938_470_207_488_001);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"412938470207488001\"");
        assert_eq!(serde_json::from_str::<Id>(&json).unwrap(), id);
        assert_eq!(serde_json::from_str::<Id>("42").unwrap(), Id::from_i64(42));
        for bad in ["\"\"", "\"-1\"", "\"0\"", "\"12a\"", "\" 1\"", "-5", "\"99999999999999999999\""] {
            assert!(serde_json::from_str::<Id>(bad).is_err(), "{bad} must be refused");
        }
    }
}
