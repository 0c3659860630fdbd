//! A check's history over a chosen range (24 h, 7 d or 30 d, named in the URL): its uptime over
//! each window, a bar of the range in segments coloured by uptime, and its response time's
//! p50 / p95 / p99 per segment, all read from the rollups (`obsctl_core::rollup`), never from
//! the observations.

use obsctl_core::Timestamp;
use obsctl_core::rollup::{HOUR_MS, Histogram, Tally, WINDOWS, merge, quantile, span_start};
use obsctl_store::Store;

use super::charts;
use super::uptime::{bar, percent};

/// A range people choose: its name in the URL, its length and the span of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub name: &'static str,
    pub hours: i64,
    pub segment_hours: i64,
}

pub const RANGES: [Range; 3] = [
    Range { name: "24h", hours: 24, segment_hours: 1 },
    Range { name: "7d", hours: 7 * 24, segment_hours: 6 },
    Range { name: "30d", hours: 30 * 24, segment_hours: 24 },
];

impl Range {
    /// The range named in the URL; 24 h when none or an unknown one is named.
    pub fn named(name: Option<&str>) -> Range {
        RANGES.iter().copied().find(|r| Some(r.name) == name).unwrap_or(RANGES[0])
    }
}

pub struct CheckHistory {
    /// `(window, "99.95%")` for 24 h, 7 d and 30 d.
    pub uptimes: Vec<(&'static str, String)>,
    pub bar: String,
    /// The p50 / p95 / p99 chart over the range, or empty with runs in fewer than two segments.
    pub chart: String,
    /// What the chart shows, when it is not the percentiles (empty when it is).
    pub chart_caption: String,
    /// The range's p50 / p95 / p99 in words, e.g. "p50 12 ms · p95 40 ms · p99 95 ms".
    pub percentiles: String,
}

/// The check's history at `now` over `range`.
pub async fn load(
    store: &dyn Store,
    check_id: &str,
    range: Range,
    now: Timestamp,
) -> obsctl_store::Result<CheckHistory> {
    let this_hour = span_start(now, HOUR_MS);
    let longest = WINDOWS[2].1 / HOUR_MS;
    let hours = store.check_tallies(check_id, HOUR_MS, Timestamp(this_hour.millis() - longest * HOUR_MS)).await?;
    let uptimes = WINDOWS
        .iter()
        .map(|(label, length)| {
            let mut sum = Tally::default();
            for h in hours.iter().filter(|h| h.start.millis() > now.millis() - length - HOUR_MS) {
                sum.add(&h.tally);
            }
            (*label, percent(&sum))
        })
        .collect();

    // Segments end with the current one; the first starts `range.hours` before it.
    let segment_ms = range.segment_hours * HOUR_MS;
    let count = (range.hours / range.segment_hours) as usize;
    let last = span_start(now, segment_ms).millis();
    let first = last - (count as i64 - 1) * segment_ms;
    let index = |start: Timestamp| {
        let i = (start.millis() - first).div_euclid(segment_ms);
        (0..count as i64).contains(&i).then_some(i as usize)
    };
    let mut tallies = vec![Tally::default(); count];
    for h in &hours {
        if let Some(i) = index(h.start) {
            tallies[i].add(&h.tally);
        }
    }
    let mut histograms = vec![Histogram::new(); count];
    let mut whole = Histogram::new();
    for h in store.latency_hours(check_id, Timestamp(first)).await? {
        if let Some(i) = index(h.start) {
            merge(&mut histograms[i], &h.histogram);
            merge(&mut whole, &h.histogram);
        }
    }
    let segments: Vec<(Timestamp, Tally)> =
        tallies.into_iter().enumerate().map(|(i, t)| (Timestamp(first + i as i64 * segment_ms), t)).collect();
    Ok(CheckHistory {
        uptimes,
        bar: bar(&segments, segment_ms),
        chart: percentile_chart(&histograms, range),
        chart_caption: String::new(),
        percentiles: words(&whole),
    })
}

/// p50 / p95 / p99 per segment that has runs, as one chart of three lines.
fn percentile_chart(histograms: &[Histogram], range: Range) -> String {
    let measured: Vec<&Histogram> = histograms.iter().filter(|h| !h.is_empty()).collect();
    if measured.len() < 2 {
        return String::new();
    }
    let line = |q: f64| measured.iter().filter_map(|h| quantile(h, q)).collect::<Vec<f64>>();
    let (p50, p95, p99) = (line(0.50), line(0.95), line(0.99));
    let label = format!("response time p50, p95 and p99 over {}", range.name);
    charts::line_chart(&[("p50", &p50), ("p95", &p95), ("p99", &p99)], "ms", &label, None)
}

fn words(h: &Histogram) -> String {
    let ms = |q: f64| quantile(h, q).map(|v| format!("{} ms", charts::round(v)));
    match (ms(0.50), ms(0.95), ms(0.99)) {
        (Some(a), Some(b), Some(c)) => format!("p50 {a} · p95 {b} · p99 {c}"),
        _ => "no measured run in this range".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_come_from_the_url_with_24_hours_by_default() {
        assert_eq!(Range::named(Some("7d")).segment_hours, 6);
        assert_eq!(Range::named(Some("30d")).hours, 720);
        assert_eq!(Range::named(Some("1y")).name, "24h");
        assert_eq!(Range::named(None).name, "24h");
    }
}
