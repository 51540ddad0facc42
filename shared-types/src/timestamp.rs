//! Event times as the producer writes them.
//!
//! The producer uses Python's `datetime.isoformat()` on naive datetimes, e.g.
//! `2024-01-26T10:30:45.123456` with no zone: those are taken as UTC. RFC 3339 times with
//! an offset are accepted too. Times are always written back as RFC 3339 in UTC with
//! microseconds, so ordering by the string equals ordering by time.

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Parses a naive ISO-8601 time (taken as UTC) or an RFC 3339 time with an offset, in the
/// years 0000–9999. Digits past microseconds are cut: times are written back with
/// microseconds, and two writes must compare the same whether a hub holds them parsed or
/// formatted (the Redis hub compares the formatted strings, whose order is the time order
/// only for four-digit years).
pub fn parse(raw: &str) -> Result<DateTime<Utc>, String> {
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            // `isoformat()` omits the fraction when microseconds are zero; `%.f` accepts both.
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
                .map(|t| t.and_utc())
        });
    if let Some(t) = parsed.filter(|t| (0..=9999).contains(&t.year())) {
        return Ok(t.trunc_subsecs(6));
    }
    Err(format!(
        "invalid timestamp {raw:?}: expected ISO-8601 like 2024-01-26T10:30:45.123456 or RFC 3339"
    ))
}

/// Formats a time as RFC 3339 in UTC with microseconds (`2024-01-26T10:30:45.123456Z`).
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `#[serde(with = "shared_types::timestamp")]` for a `DateTime<Utc>` field.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    parse(&raw).map_err(serde::de::Error::custom)
}

/// `#[serde(with = "shared_types::timestamp::option")]` for an `Option<DateTime<Utc>>` field.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? {
            Some(raw) => parse(&raw).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_iso_is_utc() {
        let t = parse("2024-01-26T10:30:45.123456").unwrap();
        assert_eq!(format(&t), "2024-01-26T10:30:45.123456Z");
        let whole_second = parse("2024-01-26T10:30:45").unwrap();
        assert_eq!(format(&whole_second), "2024-01-26T10:30:45.000000Z");
    }

    #[test]
    fn rfc3339_offsets_are_normalised() {
        let t = parse("2024-01-26T12:30:45.5+02:00").unwrap();
        assert_eq!(format(&t), "2024-01-26T10:30:45.500000Z");
        assert_eq!(
            parse("2024-01-26T10:30:45Z").unwrap(),
            parse("2024-01-26T10:30:45").unwrap()
        );
    }

    /// Found by the fuzzer: nanoseconds formatted to microseconds did not parse back to
    /// the same instant, so a hub comparing parsed times and one comparing formatted
    /// times could disagree about which of two writes is newer.
    #[test]
    fn digits_past_microseconds_are_cut() {
        let t = parse("2024-01-26T10:03:54.0061728").unwrap();
        assert_eq!(parse(&format(&t)).unwrap(), t);
        assert_eq!(t, parse("2024-01-26T10:03:54.006172").unwrap());
        assert_eq!(
            parse("2024-01-26T10:30:45.1234569+00:00").unwrap(),
            parse("2024-01-26T10:30:45.123456Z").unwrap()
        );
    }

    #[test]
    fn garbage_is_rejected_with_the_value() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00",
            "2024-01-26",
            // Found by the fuzzer: these parsed but were written back unparseable.
            "-2024-01-26T10:30:45.1456",
            "12024-01-26T10:30:45",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("invalid timestamp"), "{err}");
        }
    }
}
