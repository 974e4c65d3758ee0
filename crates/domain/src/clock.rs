//! Time as a parameter: every rule that depends on "now" asks a [`Clock`].

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

/// A point in time with millisecond precision, stored as Unix milliseconds and shown as
/// RFC 3339 UTC (`2026-11-22T04:31:12.123Z`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Later than any real time: "never".
    pub const MAX: Self = Self(i64::MAX);

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0 + secs * 1000)
    }

    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0 + ms)
    }

    /// Seconds since the Unix epoch, rounded down (the unit JWT claims use).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        let ms = dt.unix_timestamp_nanos().div_euclid(1_000_000);
        Self(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// Midnight UTC at the start of `date`.
    pub fn start_of(date: Date) -> Self {
        Self::from_datetime(date.midnight().assume_utc())
    }

    /// Parses RFC 3339 (any offset, normalised to UTC) or a bare `YYYY-MM-DD` date (midnight UTC).
    pub fn parse(s: &str) -> Result<Self, InvalidTimestamp> {
        if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(Self::from_datetime(dt));
        }
        let date_format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(s, date_format).map(Self::start_of).map_err(|_| InvalidTimestamp)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid timestamp: expected RFC 3339 (2026-01-31T12:00:00Z) or a date (2026-01-31)")]
pub struct InvalidTimestamp;

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dt = self.to_datetime().to_offset(UtcOffset::UTC);
        let (y, mo, d) = (dt.year(), u8::from(dt.month()), dt.day());
        let (h, mi, s, ms) = (dt.hour(), dt.minute(), dt.second(), dt.millisecond());
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(deserializer)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 timestamp in UTC"))
            .examples(["2026-11-22T04:31:12.123Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

/// The source of "now".
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // The one place that reads the wall clock. (Straight to Unix milliseconds: the
        // gateway asks several times per request, and `OffsetDateTime::now_utc` would work
        // out a calendar date each time only for it to be thrown away.)
        #[allow(clippy::disallowed_methods)]
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to; for tests of expiry and windows.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.as_millis()))
    }

    pub fn set(&self, to: Timestamp) {
        self.0.store(to.as_millis(), Ordering::SeqCst);
    }

    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }

    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_reads_unix_milliseconds() {
        #[allow(clippy::disallowed_methods)]
        let before = Timestamp::from_datetime(OffsetDateTime::now_utc());
        let now = SystemClock.now();
        #[allow(clippy::disallowed_methods)]
        let after = Timestamp::from_datetime(OffsetDateTime::now_utc());
        assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
    }

    #[test]
    fn formats_rfc3339_utc_with_millis() {
        let t = Timestamp::from_millis(1_795_000_000_123);
        assert_eq!(t.to_string(), "2026-11-18T11:06:40.123Z");
        assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
    }

    #[test]
    fn parses_offsets_and_dates() {
        let utc = Timestamp::parse("2026-01-31T12:00:00Z").unwrap();
        assert_eq!(Timestamp::parse("2026-01-31T14:00:00+02:00"), Ok(utc));
        assert_eq!(Timestamp::parse("2026-01-31").unwrap().plus_secs(12 * 3600), utc);
        assert_eq!(Timestamp::parse("31/01/2026"), Err(InvalidTimestamp));
        assert_eq!(Timestamp::parse("2026-02-30"), Err(InvalidTimestamp));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_millis(1000));
        assert_eq!(clock.now().as_millis(), 1000);
        clock.advance_secs(2);
        assert_eq!(clock.now().as_millis(), 3000);
    }
}
