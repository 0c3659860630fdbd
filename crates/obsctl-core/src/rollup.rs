//! History at a glance without scanning observations: each check's runs summed per hour and per
//! day (runs, passes, could-not-look), and its latencies as a histogram per hour, written with
//! the observations. Uptime over 24 h / 7 d / 30 d and latency percentiles over a range read
//! these sums. The histogram's buckets are quarter octaves (each 19% wider than the last), so a
//! percentile read from it is within 10% of the exact one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::check::Observation;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
/// How long hourly sums and histograms are kept (a little over the longest window shown).
pub const KEEP_HOURS_MS: i64 = 35 * DAY_MS;
/// How long daily sums are kept.
pub const KEEP_DAYS_MS: i64 = 400 * DAY_MS;

/// Runs of one check in one hour or day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    pub runs: u64,
    pub passes: u64,
    /// Runs that could not look (neither pass nor failure).
    pub unknowns: u64,
    pub latency_sum_us: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.runs += other.runs;
        self.passes += other.passes;
        self.unknowns += other.unknowns;
        self.latency_sum_us += other.latency_sum_us;
    }

    /// Passes out of the runs that looked, as a percentage; `None` before any.
    pub fn uptime(&self) -> Option<f64> {
        let looked = self.runs - self.unknowns.min(self.runs);
        (looked > 0).then(|| 100.0 * self.passes as f64 / looked as f64)
    }
}

/// One row of sums: a check, the span (`HOUR_MS` or `DAY_MS`) and its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanTally {
    pub check_id: String,
    pub span_ms: i64,
    pub start: Timestamp,
    pub tally: Tally,
}

/// A latency histogram: bucket index to count.
pub type Histogram = BTreeMap<u16, u64>;

/// One check's histogram for one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourLatency {
    pub check_id: String,
    pub start: Timestamp,
    pub histogram: Histogram,
}

/// The start of the span holding `at`.
pub fn span_start(at: Timestamp, span_ms: i64) -> Timestamp {
    Timestamp(at.millis().div_euclid(span_ms) * span_ms)
}

/// The bucket of a latency: quarter octaves of microseconds (0 for anything under 2 µs).
pub fn bucket(latency_us: u64) -> u16 {
    if latency_us < 2 { 0 } else { ((latency_us as f64).log2() * 4.0).floor() as u16 }
}

/// A bucket's representative latency in milliseconds: its geometric middle.
pub fn bucket_ms(bucket: u16) -> f64 {
    2f64.powf((f64::from(bucket) + 0.5) / 4.0) / 1000.0
}

/// The `q` quantile (0..=1) of a histogram in milliseconds, by nearest rank; `None` if empty.
pub fn quantile(h: &Histogram, q: f64) -> Option<f64> {
    let total: u64 = h.values().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    h.iter().find_map(|(b, n)| {
        seen += n;
        (seen >= rank).then(|| bucket_ms(*b))
    })
}

/// Adds `from` into `into`.
pub fn merge(into: &mut Histogram, from: &Histogram) {
    for (b, n) in from {
        *into.entry(*b).or_default() += n;
    }
}

/// A batch of observations as the sums and histograms to add: one row per check and span.
pub fn of_batch(batch: &[Observation]) -> (Vec<SpanTally>, Vec<HourLatency>) {
    let mut tallies: BTreeMap<(&str, i64, Timestamp), Tally> = BTreeMap::new();
    let mut latencies: BTreeMap<(&str, Timestamp), Histogram> = BTreeMap::new();
    for o in batch {
        for span in [HOUR_MS, DAY_MS] {
            let t = tallies.entry((&o.check_id, span, span_start(o.at, span))).or_default();
            t.runs += 1;
            t.passes += u64::from(o.ok);
            t.unknowns += u64::from(o.unknown && !o.ok);
            t.latency_sum_us += if o.unknown { 0 } else { o.latency_us };
        }
        if !o.unknown {
            let h = latencies.entry((&o.check_id, span_start(o.at, HOUR_MS))).or_default();
            *h.entry(bucket(o.latency_us)).or_default() += 1;
        }
    }
    let tallies = tallies
        .into_iter()
        .map(|((check, span_ms, start), tally)| SpanTally { check_id: check.into(), span_ms, start, tally })
        .collect();
    let latencies = latencies
        .into_iter()
        .map(|((check, start), histogram)| HourLatency { check_id: check.into(), start, histogram })
        .collect();
    (tallies, latencies)
}

/// Uptime windows shown everywhere: label and length.
pub const WINDOWS: [(&str, i64); 3] = [("24 h", DAY_MS), ("7 d", 7 * DAY_MS), ("30 d", 30 * DAY_MS)];

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(check: &str, at: i64, ok: bool, unknown: bool, latency_us: u64) -> Observation {
        Observation {
            check_id: check.into(),
            at: Timestamp(at),
            ok,
            latency_us,
            detail: String::new(),
            unknown,
            incident_kind: None,
        }
    }

    #[test]
    fn a_batch_sums_per_check_hour_and_day() {
        let batch = [
            obs("a", 10, true, false, 1000),
            obs("a", 20, false, false, 3000),
            obs("a", HOUR_MS + 5, false, true, 0),
            obs("b", 30, true, false, 500),
        ];
        let (tallies, latencies) = of_batch(&batch);
        let find = |check: &str, span: i64, start: i64| {
            tallies
                .iter()
                .find(|t| t.check_id == check && t.span_ms == span && t.start == Timestamp(start))
                .unwrap()
                .tally
        };
        assert_eq!(find("a", HOUR_MS, 0), Tally { runs: 2, passes: 1, unknowns: 0, latency_sum_us: 4000 });
        assert_eq!(find("a", HOUR_MS, HOUR_MS), Tally { runs: 1, passes: 0, unknowns: 1, latency_sum_us: 0 });
        assert_eq!(find("a", DAY_MS, 0), Tally { runs: 3, passes: 1, unknowns: 1, latency_sum_us: 4000 });
        assert_eq!(tallies.len(), 5);
        // A run that could not look is in no histogram and not in uptime's denominator.
        assert_eq!(latencies.len(), 2);
        assert_eq!(find("a", DAY_MS, 0).uptime(), Some(50.0));
        assert_eq!(Tally::default().uptime(), None);
    }

    #[test]
    fn percentiles_from_the_histogram_are_within_ten_percent() {
        let mut h = Histogram::new();
        let latencies: Vec<u64> = (1..=1000).map(|i| i * 997 % 250_000 + 100).collect();
        for l in &latencies {
            *h.entry(bucket(*l)).or_default() += 1;
        }
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        for q in [0.5, 0.95, 0.99] {
            let exact = sorted[(q * 1000.0) as usize - 1] as f64 / 1000.0;
            let estimate = quantile(&h, q).unwrap();
            assert!((estimate - exact).abs() / exact < 0.10, "q{q}: {estimate} vs {exact}");
        }
        assert_eq!(quantile(&Histogram::new(), 0.5), None);
        assert_eq!(bucket(0), 0);
        assert_eq!(span_start(Timestamp(-1), HOUR_MS), Timestamp(-HOUR_MS));
    }
}
