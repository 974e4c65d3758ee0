//! Exact money. Amounts are integers of a fixed minor unit; they are never binary floats.
//!
//! - [`Usd`]: US dollars in nano-dollars (10⁻⁹ USD). A signed 64-bit column holds
//!   9.2 billion dollars, far more than any budget or usage total.
//! - [`TokenPrice`]: price of one token in femto-dollars (10⁻¹⁵ USD), fine enough for
//!   prices like $0.01875 per million tokens.
//!
//! Both travel in JSON as decimal strings (`"0.00000015"`) so no client rounds them, and
//! are accepted as strings or JSON numbers.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal number such as 12.50")]
    NotDecimal,
    #[error("must not be negative")]
    Negative,
    #[error("has more than {0} decimal places")]
    TooPrecise(u32),
    #[error("is too large")]
    TooLarge,
}

/// Parses a non-negative decimal string into an integer count of `10^-scale` units.
fn parse_fixed(s: &str, scale: u32) -> Result<i64, MoneyError> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('-') {
        return if parse_fixed(rest, scale).is_ok() { Err(MoneyError::Negative) } else { Err(MoneyError::NotDecimal) };
    }
    let (int_part, frac_part) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty()) || !digits(int_part) || !digits(frac_part) {
        return Err(MoneyError::NotDecimal);
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > scale as usize {
        return Err(MoneyError::TooPrecise(scale));
    }
    let unit = 10_i128.pow(scale);
    let int_value: i128 = if int_part.is_empty() {
        0
    } else {
        let trimmed = int_part.trim_start_matches('0');
        if trimmed.len() > 20 {
            return Err(MoneyError::TooLarge);
        }
        trimmed.parse::<i128>().unwrap_or(0)
    };
    let frac_value: i128 = if frac_trimmed.is_empty() {
        0
    } else {
        let pad = scale as usize - frac_trimmed.len();
        frac_trimmed.parse::<i128>().map_err(|_| MoneyError::NotDecimal)? * 10_i128.pow(pad as u32)
    };
    i64::try_from(int_value * unit + frac_value).map_err(|_| MoneyError::TooLarge)
}

/// Formats `value` units of `10^-scale` as the shortest exact decimal string.
fn format_fixed(value: i64, scale: u32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let unit = 10_u64.pow(scale);
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let (int, frac) = (abs / unit, abs % unit);
    if frac == 0 {
        return write!(f, "{sign}{int}");
    }
    let frac = format!("{frac:0width$}", width = scale as usize);
    write!(f, "{sign}{int}.{}", frac.trim_end_matches('0'))
}

/// Accepts a decimal as a JSON string or number. Numbers arrive as `f64`; Rust prints an
/// `f64` as the shortest decimal that reads back to the same value, which is the literal
/// the client wrote for any price or budget with up to 15 significant digits.
fn deserialize_fixed<'de, D: Deserializer<'de>>(deserializer: D, scale: u32) -> Result<i64, D::Error> {
    /// Reads a JSON number or string as decimal text. A visitor (not an untagged enum,
    /// which would replace it) lets the deserializer's own error through, such as
    /// "missing field `inputCostPerToken`".
    struct Decimal;

    impl serde::de::Visitor<'_> for Decimal {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal number or a string such as \"12.50\"")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            if v.is_finite() { Ok(format!("{v}")) } else { Err(E::custom(MoneyError::NotDecimal)) }
        }
    }

    let text = deserializer.deserialize_any(Decimal)?;
    parse_fixed(&text, scale).map_err(|e| serde::de::Error::custom(format!("{text} {e}")))
}

fn decimal_schema(description: &'static str, example: &'static str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^[0-9]+(\.[0-9]+)?$"))
        .description(Some(description))
        .examples([example])
        .into()
}

/// An amount of US dollars, exact to the nano-dollar.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Usd(i64);

impl Usd {
    pub const SCALE: u32 = 9;
    pub const ZERO: Usd = Usd(0);

    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        parse_fixed(s, Self::SCALE).map(Self)
    }

    pub const fn saturating_add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_fixed(self.0, Self::SCALE, f)
    }
}

impl fmt::Debug for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Usd({self})")
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_fixed(deserializer, Self::SCALE).map(Self)
    }
}

impl utoipa::PartialSchema for Usd {
    fn schema() -> RefOr<Schema> {
        decimal_schema("US dollars as an exact decimal string (up to 9 decimal places)", "12.5")
    }
}

impl utoipa::ToSchema for Usd {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Usd")
    }
}

/// The price of one token in US dollars, exact to 10⁻¹⁵ USD.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TokenPrice(i64);

impl TokenPrice {
    pub const SCALE: u32 = 15;
    pub const ZERO: TokenPrice = TokenPrice(0);

    pub const fn from_femtos(femtos: i64) -> Self {
        Self(femtos)
    }

    pub const fn femtos(self) -> i64 {
        self.0
    }

    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        parse_fixed(s, Self::SCALE).map(Self)
    }

    /// The cost of `tokens` tokens, rounded half up to the nano-dollar.
    pub fn cost(self, tokens: u64) -> Usd {
        const FEMTOS_PER_NANO: i128 = 1_000_000;
        let femtos = i128::from(self.0) * i128::from(tokens);
        let nanos = (femtos + FEMTOS_PER_NANO / 2) / FEMTOS_PER_NANO;
        Usd(i64::try_from(nanos).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for TokenPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_fixed(self.0, Self::SCALE, f)
    }
}

impl fmt::Debug for TokenPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenPrice({self})")
    }
}

impl Serialize for TokenPrice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TokenPrice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_fixed(deserializer, Self::SCALE).map(Self)
    }
}

impl utoipa::PartialSchema for TokenPrice {
    fn schema() -> RefOr<Schema> {
        decimal_schema("US dollars per token as an exact decimal string (up to 15 decimal places)", "0.00000015")
    }
}

impl utoipa::ToSchema for TokenPrice {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TokenPrice")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_exactly() {
        for (text, nanos, shown) in [
            ("0", 0, "0"),
            ("12.5", 12_500_000_000, "12.5"),
            ("12.50", 12_500_000_000, "12.5"),
            (".5", 500_000_000, "0.5"),
            ("7.", 7_000_000_000, "7"),
            ("0.000000001", 1, "0.000000001"),
            ("0.0000000010000", 1, "0.000000001"),
            ("9223372036.854775807", i64::MAX, "9223372036.854775807"),
        ] {
            let usd = Usd::parse(text).unwrap();
            assert_eq!(usd.nanos(), nanos, "{text}");
            assert_eq!(usd.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_exact_non_negative_amount() {
        assert_eq!(Usd::parse(""), Err(MoneyError::NotDecimal));
        assert_eq!(Usd::parse("."), Err(MoneyError::NotDecimal));
        assert_eq!(Usd::parse("1e3"), Err(MoneyError::NotDecimal));
        assert_eq!(Usd::parse("1,5"), Err(MoneyError::NotDecimal));
        assert_eq!(Usd::parse("-1"), Err(MoneyError::Negative));
        assert_eq!(Usd::parse("--1"), Err(MoneyError::NotDecimal));
        assert_eq!(Usd::parse("0.0000000001"), Err(MoneyError::TooPrecise(9)));
        assert_eq!(Usd::parse("9223372036.854775808"), Err(MoneyError::TooLarge));
        assert_eq!(Usd::parse("100000000000000000000000"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn accepts_json_strings_and_numbers() {
        let from_str: TokenPrice = serde_json::from_str("\"0.00000015\"").unwrap();
        let from_num: TokenPrice = serde_json::from_str("0.00000015").unwrap();
        let from_int: TokenPrice = serde_json::from_str("2").unwrap();
        assert_eq!(from_str, from_num);
        assert_eq!(from_str.femtos(), 150_000_000);
        assert_eq!(from_int.to_string(), "2");
        assert_eq!(serde_json::to_string(&from_num).unwrap(), "\"0.00000015\"");
        assert!(serde_json::from_str::<Usd>("-3").is_err());
        assert!(serde_json::from_str::<Usd>("true").is_err());
        assert!(serde_json::from_str::<Usd>("1e-12").is_err());
    }

    #[test]
    fn cost_rounds_half_up_to_the_nano_dollar() {
        let price = TokenPrice::parse("0.00000001875").unwrap(); // $0.01875 per 1M tokens
        assert_eq!(price.cost(1_000_000), Usd::parse("0.01875").unwrap());
        assert_eq!(price.cost(1).nanos(), 19); // 18.75 nano-dollars
        assert_eq!(price.cost(2).nanos(), 38); // 37.5 rounds up
        assert_eq!(price.cost(4).nanos(), 75);
        assert_eq!(TokenPrice::ZERO.cost(u64::MAX), Usd::ZERO);
        assert_eq!(TokenPrice::from_femtos(i64::MAX).cost(u64::MAX).nanos(), i64::MAX);
    }
}
