//! The check state machine: thresholds (`fail_after`, `recover_after`) and flapping.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// What obsctl believes about a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Not yet decided: fewer observations than the thresholds need.
    Unknown,
    Ok,
    Failing,
    /// Changing state too often to act on; no actions until it is stable.
    Flapping,
}

impl CheckStatus {
    /// Orders states by how much attention they need: a service shows its worst check's.
    pub fn severity(self) -> u8 {
        match self {
            CheckStatus::Ok => 0,
            CheckStatus::Unknown => 1,
            CheckStatus::Flapping => 2,
            CheckStatus::Failing => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Unknown => "unknown",
            CheckStatus::Ok => "ok",
            CheckStatus::Failing => "failing",
            CheckStatus::Flapping => "flapping",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "ok" => CheckStatus::Ok,
            "failing" => CheckStatus::Failing,
            "flapping" => CheckStatus::Flapping,
            _ => CheckStatus::Unknown,
        }
    }
}

/// A change of reported status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: CheckStatus,
    pub to: CheckStatus,
}

/// Thresholds of one check.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub fail_after: u32,
    pub recover_after: u32,
    pub flap_threshold: u32,
    pub flap_window: Duration,
}

/// Debounces raw pass/fail observations into a reported status.
///
/// `settled` is the debounced state (ok or failing after enough consecutive observations);
/// the reported status is `flapping` while `settled` changed `flap_threshold` times or more
/// within `flap_window`, and `settled` otherwise.
#[derive(Debug, Clone)]
pub struct CheckTracker {
    thresholds: Thresholds,
    settled: CheckStatus,
    reported: CheckStatus,
    consecutive_fail: u32,
    consecutive_ok: u32,
    changes: VecDeque<Timestamp>,
    /// Whether the last observation turned the settled state to failing: a new break, which
    /// matters even while the reported status stays `flapping`.
    broke: bool,
}

impl CheckTracker {
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            settled: CheckStatus::Unknown,
            reported: CheckStatus::Unknown,
            consecutive_fail: 0,
            consecutive_ok: 0,
            changes: VecDeque::new(),
            broke: false,
        }
    }

    /// A tracker that resumes from a persisted status (after a restart).
    pub fn resume(thresholds: Thresholds, status: CheckStatus) -> Self {
        let settled = if status == CheckStatus::Flapping { CheckStatus::Failing } else { status };
        Self { settled, reported: status, ..Self::new(thresholds) }
    }

    pub fn status(&self) -> CheckStatus {
        self.reported
    }

    /// Whether the last observation was a new break: the debounced state turned to failing
    /// (the reported status may still say `flapping`).
    pub fn broke(&self) -> bool {
        self.broke
    }

    /// Records that the probe could not look (its engine was unreachable): the check is
    /// `unknown` until it can again; what it settled on before is kept.
    pub fn unknown(&mut self) -> Option<Transition> {
        self.broke = false;
        if self.reported == CheckStatus::Unknown {
            return None;
        }
        let t = Transition { from: self.reported, to: CheckStatus::Unknown };
        self.reported = CheckStatus::Unknown;
        Some(t)
    }

    /// Feeds one observation; returns the transition of the reported status, if any.
    pub fn observe(&mut self, ok: bool, now: Timestamp) -> Option<Transition> {
        self.broke = false;
        if ok {
            self.consecutive_ok = self.consecutive_ok.saturating_add(1);
            self.consecutive_fail = 0;
        } else {
            self.consecutive_fail = self.consecutive_fail.saturating_add(1);
            self.consecutive_ok = 0;
        }
        let next_settled = if self.consecutive_fail >= self.thresholds.fail_after.max(1) {
            CheckStatus::Failing
        } else if self.consecutive_ok >= self.thresholds.recover_after.max(1)
            || (self.settled == CheckStatus::Unknown && ok)
        {
            CheckStatus::Ok
        } else {
            self.settled
        };
        // Back from `unknown` with a run that contradicts what was settled: stay unknown until
        // the thresholds decide, rather than report the old status on the new run's evidence.
        let contradicts = (ok && self.settled == CheckStatus::Failing) || (!ok && self.settled == CheckStatus::Ok);
        if self.reported == CheckStatus::Unknown && next_settled == self.settled && contradicts {
            return None;
        }
        self.broke = next_settled != self.settled && next_settled == CheckStatus::Failing;
        if next_settled != self.settled {
            if self.settled != CheckStatus::Unknown {
                self.changes.push_back(now);
            }
            self.settled = next_settled;
        }
        let window_start = now.minus(self.thresholds.flap_window);
        while self.changes.front().is_some_and(|t| *t < window_start) {
            self.changes.pop_front();
        }
        let flapping =
            self.thresholds.flap_threshold > 0 && self.changes.len() as u32 >= self.thresholds.flap_threshold;
        let next = if flapping { CheckStatus::Flapping } else { self.settled };
        if next == self.reported {
            return None;
        }
        let t = Transition { from: self.reported, to: next };
        self.reported = next;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckStatus::*;

    fn tracker(fail_after: u32, recover_after: u32) -> CheckTracker {
        CheckTracker::new(Thresholds {
            fail_after,
            recover_after,
            flap_threshold: 4,
            flap_window: Duration::from_secs(60),
        })
    }

    /// Feeds `pattern` ('.' pass, 'x' fail) one second apart; returns the status after each.
    fn run(t: &mut CheckTracker, pattern: &str) -> Vec<CheckStatus> {
        pattern
            .chars()
            .enumerate()
            .map(|(i, c)| {
                t.observe(c == '.', Timestamp(i as i64 * 1000));
                t.status()
            })
            .collect()
    }

    #[test]
    fn thresholds_debounce() {
        let cases: &[(u32, u32, &str, CheckStatus)] = &[
            (3, 2, "xx", Unknown),
            (3, 2, "xxx", Failing),
            (3, 2, "xxx.", Failing),
            (3, 2, "xxx..", Ok),
            (3, 2, ".", Ok),
            (3, 2, ".xx.xx", Ok),
            (1, 1, "x", Failing),
        ];
        for (fail, recover, pattern, want) in cases {
            let got = *run(&mut tracker(*fail, *recover), pattern).last().unwrap();
            assert_eq!(got, *want, "fail_after={fail} recover_after={recover} {pattern}");
        }
    }

    #[test]
    fn flapping_holds_until_changes_age_out() {
        let mut t = tracker(1, 1);
        let states = run(&mut t, ".x.x.");
        assert_eq!(states.last(), Some(&Flapping));
        // 70 s later, with the changes out of the window, a pass reports ok again.
        assert_eq!(t.observe(true, Timestamp(70_000)), Some(Transition { from: Flapping, to: Ok }));
    }

    #[test]
    fn a_new_break_shows_while_the_status_stays_flapping() {
        let mut t = tracker(2, 1);
        run(&mut t, ".xx.xx.");
        assert_eq!(t.status(), Flapping);
        assert!(!t.broke());
        t.observe(false, Timestamp(7_000));
        assert!(!t.broke(), "one failure is not a break under fail_after = 2");
        assert_eq!(t.observe(false, Timestamp(8_000)), None, "still flapping");
        assert!(t.broke());
        t.observe(false, Timestamp(9_000));
        assert!(!t.broke(), "a break is counted once");
    }

    #[test]
    fn an_unknown_run_reports_unknown_and_keeps_what_was_settled() {
        let mut t = tracker(1, 2);
        run(&mut t, "x");
        assert_eq!(t.unknown(), Some(Transition { from: Failing, to: Unknown }));
        assert_eq!(t.unknown(), None);
        // Still down once the engine answers: failing again at once, not after fail_after.
        assert_eq!(t.observe(false, Timestamp(5_000)), Some(Transition { from: Unknown, to: Failing }));
        t.unknown();
        // Up again: unknown until recover_after passes say ok; never "failing" on a pass.
        assert_eq!(t.observe(true, Timestamp(6_000)), None);
        assert_eq!(t.status(), Unknown);
        assert_eq!(t.observe(true, Timestamp(7_000)), Some(Transition { from: Unknown, to: Ok }));
    }

    #[test]
    fn resume_keeps_the_persisted_status() {
        let mut t = CheckTracker::resume(tracker(3, 2).thresholds, Failing);
        assert_eq!(t.status(), Failing);
        assert_eq!(t.observe(true, Timestamp(0)), None);
        assert_eq!(t.observe(true, Timestamp(1)).map(|t| t.to), Some(Ok));
    }
}
