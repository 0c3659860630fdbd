//! Parsing of the units config values carry: durations (`10s`, `1h30m`) and sizes (`500MB`);
//! and counts in words (`1 service`, `2 services`).

use std::time::Duration;

/// Parses a duration that must carry a unit: `250ms`, `10s`, `5m`, `1h30m`, `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("is empty; write a number with a unit, e.g. \"10s\"".into());
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{t:?} needs a unit, e.g. \"{t}s\" or \"{t}ms\""));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{t:?} is not a duration ({e}); use e.g. \"500ms\", \"10s\", \"5m\", \"1h\""))
}

/// Parses a byte size with an optional unit: `512`, `10KB`, `500MB`, `2GiB` (KB = 1000, KiB = 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("{t:?} is not a size; use e.g. \"500MB\" or \"2GiB\""))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!("{t:?} has an unknown size unit {other:?}; use B, KB, MB, GB, KiB, MiB or GiB"));
        }
    };
    Ok((value * mult) as u64)
}

/// Formats a byte count for people: `1.5 MB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[i]) }
}

/// Formats a duration compactly: `250ms`, `12s`, `3m5s`.
pub fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string().replace(' ', "")
}

/// `n` and `noun`, plural unless `n` is 1: `1 service`, `2 services`, `0 runbooks`.
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(text: &str, expected: Result<u64, &str>) {
        match (parse_duration(text), expected) {
            (Ok(d), Ok(ms)) => assert_eq!(d.as_millis() as u64, ms, "{text}"),
            (Err(e), Err(part)) => assert!(e.contains(part), "{text}: {e}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn durations_need_units() {
        dur("10s", Ok(10_000));
        dur("250ms", Ok(250));
        dur("1h30m", Ok(5_400_000));
        dur("10", Err("needs a unit, e.g. \"10s\""));
        dur("", Err("is empty"));
        dur("ten", Err("is not a duration"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("10KB").unwrap(), 10_000);
        assert_eq!(parse_size("2GiB").unwrap(), 2 * 1024 * 1024 * 1024);
        assert_eq!(parse_size("1.5 MB").unwrap(), 1_500_000);
        assert!(parse_size("5 parsecs").unwrap_err().contains("unknown size unit"));
        assert_eq!(format_size(1_500_000), "1.5 MB");
        assert_eq!(format_duration(Duration::from_millis(185_000)), "3m5s");
    }

    #[test]
    fn counts_read_as_words() {
        assert_eq!(counted(1, "service"), "1 service");
        assert_eq!(counted(2, "check"), "2 checks");
        assert_eq!(counted(0, "runbook"), "0 runbooks");
    }
}
