//! Exact durations: whole minutes (a JSON number) or an ISO 8601 duration (a JSON string).
//!
//! Written by hand rather than taken from a crate: we accept only the exact subset of ISO 8601
//! (`PnW`, `PnDTnHnMnS`, days being 24 h) and must refuse calendar units (years, months),
//! whose length depends on the date, with an error that names the rule. The grammar is ~40 lines.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Millis;
use crate::write::push_u64;

/// The longest duration a rule may state (10 years of 365 days), so every sum stays in range.
pub const MAX_DURATION_MS: Millis = 10 * 365 * DAY;

const SECOND: Millis = 1_000;
const MINUTE: Millis = 60 * SECOND;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;
const WEEK: Millis = 7 * DAY;

/// A duration as written in a rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(untagged)]
pub enum DurationSpec {
    /// Whole minutes.
    Minutes(u64),
    /// ISO 8601 duration without calendar units: `PT2H`, `P1DT12H`, `PT90M`, `P2W`.
    Iso(String),
}

// Hand-written rather than `#[serde(untagged)]`: untagged enums buffer their input through
// serde's generic `Content`, which costs tens of KiB in the rule modules for two cases.
impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("whole minutes or an ISO 8601 duration such as `PT2H`")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationSpec, E> {
                Ok(DurationSpec::Minutes(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationSpec, E> {
                u64::try_from(v)
                    .map(DurationSpec::Minutes)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationSpec, E> {
                Ok(DurationSpec::Iso(v.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl DurationSpec {
    /// The exact length in milliseconds, or why it is not acceptable.
    pub fn to_millis(&self) -> Result<Millis, String> {
        let ms = match self {
            Self::Minutes(m) => {
                i64::try_from(*m).ok().and_then(|m| m.checked_mul(MINUTE)).ok_or_else(|| "too long".to_owned())?
            }
            Self::Iso(s) => parse_iso8601(s)?,
        };
        if ms <= 0 {
            return Err("must be longer than zero".to_owned());
        }
        if ms > MAX_DURATION_MS {
            return Err("longer than ten years".to_owned());
        }
        Ok(ms)
    }
}

impl std::fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Minutes(m) => write!(f, "{m}"),
            Self::Iso(s) => f.write_str(s),
        }
    }
}

fn parse_iso8601(s: &str) -> Result<Millis, String> {
    let rest = s.strip_prefix('P').ok_or("an ISO 8601 duration starts with `P`")?;
    if rest.is_empty() {
        return Err("no components after `P`".to_owned());
    }
    let mut total: Millis = 0;
    let mut in_time = false;
    let mut number = String::new();
    let mut seen_component = false;
    for c in rest.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' if !in_time && number.is_empty() => in_time = true,
            _ => {
                let unit = match (in_time, c) {
                    (false, 'W') => WEEK,
                    (false, 'D') => DAY,
                    (true, 'H') => HOUR,
                    (true, 'M') => MINUTE,
                    (true, 'S') => SECOND,
                    (false, 'Y' | 'M') => {
                        return Err("years and months have no exact length; use days".to_owned());
                    }
                    _ => return Err(format!("unexpected `{c}`")),
                };
                if number.is_empty() {
                    return Err(format!("no number before `{c}`"));
                }
                let n: Millis = number.parse().map_err(|_| "number too large".to_owned())?;
                let part = n.checked_mul(unit).ok_or("too long")?;
                total = total.checked_add(part).ok_or("too long")?;
                number.clear();
                seen_component = true;
            }
        }
    }
    if !number.is_empty() {
        return Err(format!("number `{number}` has no unit"));
    }
    if !seen_component {
        return Err("no components".to_owned());
    }
    Ok(total)
}

/// Formats milliseconds as an ISO 8601 duration in hours, minutes and seconds (`PT26H30M`),
/// with a leading `-` for negative values.
pub fn format_millis(ms: Millis) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let (h, rem) = (abs / 3_600_000, abs % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1_000, rem % 1_000);
    let mut out = String::with_capacity(24);
    out.push_str(sign);
    out.push_str("PT");
    if h > 0 {
        push_u64(&mut out, h);
        out.push('H');
    }
    if m > 0 {
        push_u64(&mut out, m);
        out.push('M');
    }
    if milli > 0 {
        push_u64(&mut out, s);
        out.push('.');
        // Three digits: `milli` is below 1,000.
        out.push_str(if milli < 10 {
            "00"
        } else if milli < 100 {
            "0"
        } else {
            ""
        });
        push_u64(&mut out, milli);
        out.push('S');
    } else if s > 0 || (h == 0 && m == 0) {
        push_u64(&mut out, s);
        out.push('S');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_iso_durations() {
        let ok = |s: &str| DurationSpec::Iso(s.to_owned()).to_millis();
        assert_eq!(ok("PT2H"), Ok(2 * HOUR));
        assert_eq!(ok("P1DT12H"), Ok(36 * HOUR));
        assert_eq!(ok("PT90M"), Ok(90 * MINUTE));
        assert_eq!(ok("P2W"), Ok(14 * DAY));
        assert_eq!(ok("PT1H0M30S"), Ok(HOUR + 30 * SECOND));
        assert_eq!(DurationSpec::Minutes(120).to_millis(), Ok(2 * HOUR));
    }

    #[test]
    fn refuses_inexact_or_malformed_durations() {
        for bad in ["P1M", "P1Y", "PT", "P", "2H", "PT2", "PTH", "PT-1H", "P0D", "PT1H1H1X"] {
            assert!(DurationSpec::Iso(bad.to_owned()).to_millis().is_err(), "{bad}");
        }
        assert!(DurationSpec::Minutes(0).to_millis().is_err());
        assert!(DurationSpec::Minutes(u64::MAX).to_millis().is_err());
    }

    #[test]
    fn formats_millis() {
        assert_eq!(format_millis(0), "PT0S");
        assert_eq!(format_millis(2 * HOUR), "PT2H");
        assert_eq!(format_millis(26 * HOUR + 30 * MINUTE), "PT26H30M");
        assert_eq!(format_millis(-1), "-PT0.001S");
        assert_eq!(format_millis(HOUR + 5 * SECOND + 40), "PT1H5.040S");
        assert_eq!(format_millis(MINUTE + 999), "PT1M0.999S");
        assert_eq!(format_millis(-(3 * DAY + 7 * MINUTE)), "-PT72H7M");
        assert_eq!(format_millis(i64::MIN), "-PT2562047788015H12M55.808S");
    }
}
