//! Uptime of many services at once (the public status page): every check's sums over 24 h, 7 d
//! and 30 d and per day for 30 days, read from the rollups at most once a minute and kept
//! (`kept.rs`), so a view reads memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use obsctl_core::Timestamp;
use obsctl_core::rollup::{DAY_MS, HOUR_MS, Tally, WINDOWS, span_start};
use obsctl_store::Store;

use super::kept::Kept;

/// How old a snapshot may be before a view asks for the next.
pub const FRESH_FOR: Duration = Duration::from_secs(60);
/// Days in a service's bar.
pub const BAR_DAYS: usize = 30;

/// Every check's sums, as read at `read_at`.
#[derive(Default)]
pub struct Snapshot {
    pub read_at: Timestamp,
    /// Per check: its sums over each of `WINDOWS`.
    windows: HashMap<String, [Tally; 3]>,
    /// Per check: its sums per day, oldest first, `BAR_DAYS` of them ending today.
    days: HashMap<String, Vec<Tally>>,
}

impl Snapshot {
    /// A group of checks (a service's) summed: over each window, and per day.
    pub fn of(&self, checks: &[&str]) -> ([Tally; 3], Vec<Tally>) {
        let mut windows = [Tally::default(); 3];
        let mut days = vec![Tally::default(); BAR_DAYS];
        for check in checks {
            if let Some(w) = self.windows.get(*check) {
                for (sum, t) in windows.iter_mut().zip(w) {
                    sum.add(t);
                }
            }
            if let Some(d) = self.days.get(*check) {
                for (sum, t) in days.iter_mut().zip(d) {
                    sum.add(t);
                }
            }
        }
        (windows, days)
    }

    async fn read(store: &dyn Store) -> obsctl_store::Result<Self> {
        let now = Timestamp::now();
        let today = span_start(now, DAY_MS);
        let first_day = Timestamp(today.millis() - (BAR_DAYS as i64 - 1) * DAY_MS);
        let mut windows: HashMap<String, [Tally; 3]> = HashMap::new();
        // 24 h from hours (the current one and the 24 before); 7 d and 30 d from whole days.
        let since = span_start(Timestamp(now.millis() - WINDOWS[0].1), HOUR_MS);
        for (check, t) in store.tally_totals(HOUR_MS, since).await? {
            windows.entry(check).or_default()[0] = t;
        }
        let mut days: HashMap<String, Vec<Tally>> = HashMap::new();
        for row in store.all_tallies(DAY_MS, first_day).await? {
            let index = ((row.start.millis() - first_day.millis()) / DAY_MS) as usize;
            let w = windows.entry(row.check_id.clone()).or_default();
            for (i, (_, length)) in WINDOWS.iter().enumerate().skip(1) {
                if row.start.millis() > today.millis() - length {
                    w[i].add(&row.tally);
                }
            }
            if let Some(slot) =
                days.entry(row.check_id).or_insert_with(|| vec![Tally::default(); BAR_DAYS]).get_mut(index)
            {
                *slot = row.tally;
            }
        }
        Ok(Snapshot { read_at: now, windows, days })
    }
}

impl Snapshot {
    /// The kept snapshot (`kept.rs`), read anew at most once every `FRESH_FOR`.
    pub async fn kept(kept: &Arc<Kept<Snapshot>>, store: &Arc<dyn Store>) -> obsctl_store::Result<Arc<Snapshot>> {
        let store = store.clone();
        kept.get(FRESH_FOR, "uptime snapshot", move || async move { Snapshot::read(store.as_ref()).await }).await
    }
}

/// An uptime as people read it: "99.95%", "100%", or "–" before any run.
pub fn percent(t: &Tally) -> String {
    match t.uptime() {
        None => "–".into(),
        Some(p) if p >= 100.0 => "100%".into(),
        Some(p) if p >= 99.0 => format!("{:.2}%", (p * 100.0).floor() / 100.0),
        Some(p) => format!("{p:.1}%"),
    }
}

/// A bar segment's class by uptime: `u-none` (no runs), `u-ok` (100%), `u-warn` (≥ 99%), `u-bad`.
pub fn tone(t: &Tally) -> &'static str {
    match t.uptime() {
        None => "u-none",
        Some(p) if p >= 100.0 => "u-ok",
        Some(p) if p >= 99.0 => "u-warn",
        Some(_) => "u-bad",
    }
}

/// Width of one segment of a bar, gap included, in pixels.
const SEGMENT_PX: usize = 8;

/// A bar of segments (`(start, sums)`, oldest first, each `span_ms` long), coloured by uptime.
/// Neighbours of one colour are drawn as one element (the stylesheet paints each segment's gap),
/// so a month of clean days is one element, not thirty; a segment short of 100% stands alone and
/// says when and how much on hover. The numbers beside it carry the meaning: the bar itself is
/// hidden from screen readers.
pub fn bar(segments: &[(Timestamp, Tally)], span_ms: i64) -> String {
    use std::fmt::Write;
    let mut html = String::with_capacity(96);
    html.push_str(r#"<span class="ubar" aria-hidden="true">"#);
    let mut i = 0;
    while i < segments.len() {
        let (start, t) = &segments[i];
        let class = tone(t);
        if matches!(class, "u-warn" | "u-bad") {
            let at = start.rfc3339();
            let when = if span_ms >= DAY_MS { &at[..10] } else { &at[..16] };
            let _ = write!(html, r#"<i class="{class}" title="{}: {}"></i>"#, when.replace('T', " "), percent(t));
            i += 1;
            continue;
        }
        let run = segments[i..].iter().take_while(|(_, t)| tone(t) == class).count();
        if run == 1 {
            let _ = write!(html, r#"<i class="{class}"></i>"#);
        } else {
            let _ = write!(html, r#"<i class="{class}" style="width:{}px"></i>"#, run * SEGMENT_PX - 2);
        }
        i += run;
    }
    html.push_str("</span>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_read_as_people_expect() {
        let t = |runs, passes| Tally { runs, passes, unknowns: 0, latency_sum_us: 0 };
        assert_eq!(percent(&t(0, 0)), "–");
        assert_eq!(percent(&t(10, 10)), "100%");
        assert_eq!(percent(&t(10_000, 9_999)), "99.99%");
        // Never rounded up to 100%: one failure in 100,000 is not a clean record.
        assert_eq!(percent(&t(100_000, 99_999)), "99.99%");
        assert_eq!(percent(&t(10, 9)), "90.0%");
        assert_eq!(
            (tone(&t(0, 0)), tone(&t(5, 5)), tone(&t(1000, 995)), tone(&t(10, 9))),
            ("u-none", "u-ok", "u-warn", "u-bad")
        );
        let hour = Timestamp(1_764_500_400_000 / HOUR_MS * HOUR_MS);
        let at = |i: i64| Timestamp(hour.millis() + i * HOUR_MS);
        let segments = [(at(0), t(0, 0)), (at(1), t(4, 4)), (at(2), t(4, 4)), (at(3), t(4, 4)), (at(4), t(4, 3))];
        assert_eq!(
            bar(&segments, HOUR_MS),
            r#"<span class="ubar" aria-hidden="true"><i class="u-none"></i><i class="u-ok" style="width:22px"></i><i class="u-bad" title="2025-11-30 15:00: 75.0%"></i></span>"#
        );
    }
}
