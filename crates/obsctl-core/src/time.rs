//! Wall-clock timestamps as unix milliseconds, the one time representation stored and sent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        Self(millis)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_millis() as i64))
    }

    pub fn minus(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(d.as_millis() as i64))
    }

    /// Time elapsed from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// RFC 3339 in UTC with second precision, e.g. `2026-11-28T07:04:16Z`.
    pub fn rfc3339(self) -> String {
        let t = UNIX_EPOCH + Duration::from_millis(self.0.max(0) as u64);
        humantime::format_rfc3339_seconds(t).to_string()
    }

    /// Parses RFC 3339 in UTC (`2026-11-28T07:04:16Z`) or with an offset
    /// (`2026-11-28T09:04:16.157+02:00`, as Grafana sends).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let (utc, offset_minutes) = split_offset(text.trim())?;
        let t = humantime::parse_rfc3339_weak(utc).ok()?;
        let d = t.duration_since(UNIX_EPOCH).ok()?;
        Some(Self(d.as_millis() as i64 - offset_minutes * 60_000))
    }
}

/// The date-time without its zone, and the zone's offset east of UTC in minutes.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(utc) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return Some((utc, 0));
    }
    let (time_part_start, _) = text.char_indices().find(|(_, c)| *c == 'T' || *c == 't' || *c == ' ')?;
    let (at, sign) = text[time_part_start..].char_indices().find_map(|(i, c)| match c {
        '+' => Some((time_part_start + i, 1)),
        '-' => Some((time_part_start + i, -1)),
        _ => None,
    })?;
    let (hours, minutes) = text[at + 1..].split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours < 24 && minutes < 60).then_some((&text[..at], sign * (hours * 60 + minutes)))
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let t = Timestamp(1_764_313_456_000);
        assert_eq!(t.rfc3339(), "2025-11-28T07:04:16Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339()), Some(t));
    }

    #[test]
    fn rfc3339_with_offsets_and_fractions() {
        let utc = Timestamp::parse_rfc3339("2021-10-12T07:51:03.157Z").unwrap();
        assert_eq!(Timestamp::parse_rfc3339("2021-10-12T09:51:03.157076+02:00"), Some(utc));
        assert_eq!(Timestamp::parse_rfc3339("2021-10-12T02:21:03.157-05:30"), Some(utc));
        assert_eq!(Timestamp::parse_rfc3339("2021-10-12T07:51:03.157+00:00"), Some(utc));
        assert_eq!(utc.rfc3339(), "2021-10-12T07:51:03Z");
        for bad in ["yesterday", "2021-10-12T09:51:03+25:00", "2021-10-12T09:51:03+0200x", ""] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_never_goes_negative() {
        assert_eq!(Timestamp(5).since(Timestamp(10)), Duration::ZERO);
        assert_eq!(Timestamp(10).since(Timestamp(5)), Duration::from_millis(5));
    }
}
