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

    /// RFC 3339 to the millisecond: `2026-11-28T07:04:16.157Z`.
    pub fn rfc3339_millis(self) -> String {
        let t = UNIX_EPOCH + Duration::from_millis(self.0.max(0) as u64);
        humantime::format_rfc3339_millis(t).to_string()
    }

    /// Parses RFC 3339 (`2026-11-28T07:04:16Z`, `2026-11-28T09:04:16.157+02:00` as Grafana
    /// sends, any year from 0000 to 9999).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.trim().as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let digits = b.get(range)?;
            digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
        if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let mut i = 19;
        let mut millis = 0;
        if sep(i, b".") {
            let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            millis = num(i + 1..i + 1 + digits.min(3))? * 10_i64.pow(3 - digits.min(3) as u32);
            i += 1 + digits;
        }
        let offset_minutes = match b.get(i..)? {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if h > 23 || m > 59 {
                    return None;
                }
                if *sign == b'+' { h * 60 + m } else { -(h * 60 + m) }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
        Some(Self(seconds * 1000 + millis))
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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
        assert_eq!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z"), Some(Timestamp(-1000)));
        assert_eq!(Timestamp::parse_rfc3339("2024-02-29T00:00:00Z"), Some(Timestamp(1_709_164_800_000)));
        assert!(Timestamp::parse_rfc3339("0231-08-25T03:51:12.041Z").is_some_and(|t| t.millis() < 0));
        for bad in [
            "yesterday",
            "2021-10-12T09:51:03+25:00",
            "2021-10-12T09:51:03+0200x",
            "",
            "2023-02-29T00:00:00Z",
            "2021-10-12T09:51:03",
            "2021-13-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_never_goes_negative() {
        assert_eq!(Timestamp(5).since(Timestamp(10)), Duration::ZERO);
        assert_eq!(Timestamp(10).since(Timestamp(5)), Duration::from_millis(5));
    }
}
