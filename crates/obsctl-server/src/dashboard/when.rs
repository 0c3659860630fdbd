//! Time people can read: relative times ("3 min ago") with the exact UTC time on hover, and
//! durations ("4 min", "2 h 5 min"). Every page shows time through these.

use std::fmt;
use std::time::Duration;

use askama::filters::HtmlSafe;
use obsctl_core::Timestamp;
use obsctl_core::incident::Incident;

/// A moment as `<time>`: relative to now, the exact time in `datetime` and on hover.
pub struct When {
    at: Timestamp,
    now: Timestamp,
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exact = self.at.rfc3339();
        let hover = exact.replacen('T', " ", 1).replace('Z', " UTC");
        write!(f, r#"<time datetime="{exact}" title="{hover}">{}</time>"#, ago(self.now, self.at))
    }
}

/// Its text is digits, words and a fixed tag: nothing to escape.
impl HtmlSafe for When {}

/// `timestamp.when()` in a template: the moment as a readable `<time>`.
pub trait Readable {
    fn when(&self) -> When;
}

impl Readable for Timestamp {
    fn when(&self) -> When {
        When { at: *self, now: Timestamp::now() }
    }
}

/// `incident.lasting()` in a template: "open 4 min" while open, "lasted 2 min" once resolved.
pub trait Lasting {
    fn lasting(&self) -> String;
}

impl Lasting for Incident {
    fn lasting(&self) -> String {
        match self.resolved_at {
            Some(end) => format!("lasted {}", duration(end.since(self.opened_at))),
            None => format!("open {}", short(Timestamp::now().since(self.opened_at))),
        }
    }
}

/// "just now", "12 s ago", "3 min ago", "2 h ago", "4 days ago"; "in 5 min" for a future one.
pub fn ago(now: Timestamp, at: Timestamp) -> String {
    let delta = now.millis() - at.millis();
    let span = short(Duration::from_millis(delta.unsigned_abs()));
    match delta {
        -999..=999 => "just now".into(),
        d if d < 0 => format!("in {span}"),
        _ => format!("{span} ago"),
    }
}

/// The largest unit alone: "12 s", "3 min", "2 h", "1 day", "4 days".
pub fn short(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h", secs / 3600),
        _ => days(secs / 86_400),
    }
}

fn days(n: u64) -> String {
    if n == 1 { "1 day".into() } else { format!("{n} days") }
}

/// A length of time to two units: "800 ms", "45 s", "4 min 10 s", "2 h 5 min", "3 days 4 h".
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let pair = |big: String, small: u64, unit: &str| {
        if small == 0 { big } else { format!("{big} {small} {unit}") }
    };
    match secs {
        0 => format!("{} ms", d.as_millis()),
        1..60 => format!("{secs} s"),
        60..3600 => pair(format!("{} min", secs / 60), secs % 60, "s"),
        3600..86_400 => pair(format!("{} h", secs / 3600), secs % 3600 / 60, "min"),
        _ => pair(days(secs / 86_400), secs % 86_400 / 3600, "h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_read_relative_with_the_exact_time_on_hover() {
        let now = Timestamp(1_764_500_000_000);
        let when = When { at: Timestamp(now.millis() - 180_000), now };
        assert_eq!(
            when.to_string(),
            r#"<time datetime="2025-11-30T10:50:20Z" title="2025-11-30 10:50:20 UTC">3 min ago</time>"#
        );
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, Timestamp(now.millis() - 12_000)), "12 s ago");
        assert_eq!(ago(now, Timestamp(now.millis() - 7_200_000)), "2 h ago");
        assert_eq!(ago(now, Timestamp(now.millis() - 86_400_000)), "1 day ago");
        assert_eq!(ago(now, Timestamp(now.millis() - 5 * 86_400_000)), "5 days ago");
        assert_eq!(ago(now, Timestamp(now.millis() + 300_000)), "in 5 min");
    }

    #[test]
    fn durations_keep_two_units() {
        assert_eq!(duration(Duration::from_millis(800)), "800 ms");
        assert_eq!(duration(Duration::from_secs(45)), "45 s");
        assert_eq!(duration(Duration::from_secs(240)), "4 min");
        assert_eq!(duration(Duration::from_secs(250)), "4 min 10 s");
        assert_eq!(duration(Duration::from_secs(7500)), "2 h 5 min");
        assert_eq!(duration(Duration::from_secs(3 * 86_400 + 4 * 3600 + 59)), "3 days 4 h");
    }
}
