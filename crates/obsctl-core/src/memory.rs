//! Incident memory: what an ended incident teaches (an episode) and what every fix has
//! achieved so far (the fix-efficacy ledger).

pub mod exchange;
pub mod postmortem;
pub mod sync;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::action::Outcome;
use crate::time::Timestamp;

/// How an incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeOutcome {
    /// A verified fix resolved it.
    Fixed,
    /// Fixes were tried and none worked; it recovered or was resolved some other way.
    NotFixed,
    /// The agent escalated to a person (breaker open or no working fix), who resolved it.
    Escalated,
    /// It recovered with no action.
    SelfResolved,
}

impl EpisodeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EpisodeOutcome::Fixed => "fixed",
            EpisodeOutcome::NotFixed => "not_fixed",
            EpisodeOutcome::Escalated => "escalated",
            EpisodeOutcome::SelfResolved => "self_resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [EpisodeOutcome::Fixed, EpisodeOutcome::NotFixed, EpisodeOutcome::Escalated, EpisodeOutcome::SelfResolved]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// One step of a fix: a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FixStep {
    pub tool: String,
    pub args: serde_json::Value,
}

/// One fix attempt (a plan's executed steps) inside an episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EpisodeAction {
    /// The tools and their arguments, secrets redacted.
    pub steps: Vec<FixStep>,
    /// The steps' canonical form: what the ledger counts.
    pub action_key: String,
    pub outcome: Outcome,
    /// From incident opened to this attempt's verified fix, when it fixed.
    pub time_to_recover_ms: Option<i64>,
    /// Whether the ledger learns from it: false for a person's one-off proposal, which only
    /// becomes a remembered fix when they say so (`--remember`, `remember_as_fix`).
    #[serde(default = "learns")]
    pub learn: bool,
}

fn learns() -> bool {
    true
}

/// What one ended incident teaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Episode {
    /// Deterministic per incident opening (`ep-<incident>-r<reopen>`), so remembering twice is a no-op.
    pub id: String,
    pub incident_id: String,
    pub fingerprint: String,
    /// Incidents in one cluster are "similar" for the ledger: `kind@service`.
    pub cluster: String,
    pub service: String,
    pub kind: String,
    pub labels: BTreeMap<String, String>,
    /// The incident's text: title, failure details, timeline messages (secrets redacted).
    pub text: String,
    pub actions: Vec<EpisodeAction>,
    pub outcome: EpisodeOutcome,
    pub opened_at: Timestamp,
    pub ended_at: Timestamp,
    pub time_to_recover_ms: i64,
    /// FNV-1a of the serialized content, for sync.
    pub content_hash: String,
    /// The instance that first remembered or imported it (`[memory] instance`, by default the
    /// host name); kept when the episode is synced or exported elsewhere.
    #[serde(default)]
    pub origin: String,
    /// How it was learned: `incident` (an ended incident), `import:<file>` (an episode file) or
    /// `postmortem:<file>` (a Markdown postmortem).
    #[serde(default)]
    pub source: String,
}

/// The `source` of an episode this instance learned from one of its own incidents: the only
/// source whose outcomes this deployment verified. Every other way in (an episode file, a
/// postmortem, sync) stamps its own source, whatever the episode claims.
pub const SOURCE_INCIDENT: &str = "incident";

impl Episode {
    /// Whether its outcome was verified by this deployment (`local`: this instance's origin;
    /// the replicas sharing one store are one instance): learned from an incident here, not
    /// imported, synced or claimed.
    pub fn verified_here(&self, local: &str) -> bool {
        self.source == SOURCE_INCIDENT && self.origin == local
    }

    /// The hash of everything but the hash itself, origin and source: equal content from two
    /// instances hashes the same.
    pub fn compute_hash(&self) -> String {
        let mut bare = self.clone();
        bare.content_hash = String::new();
        bare.origin = String::new();
        bare.source = String::new();
        content_hash(serde_json::to_string(&bare).unwrap_or_default().as_bytes())
    }
}

/// What a fix has achieved in one cluster, over every remembered episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LedgerEntry {
    pub cluster: String,
    pub action_key: String,
    pub steps: Vec<FixStep>,
    pub attempts: u32,
    pub successes: u32,
    pub failures: u32,
    pub median_ttr_ms: Option<i64>,
    /// Recovery times of the latest successes (at most 100), for the median.
    pub ttr_samples_ms: Vec<i64>,
    pub last_used: Timestamp,
    /// Episodes this entry learned from, newest first (at most 20).
    pub episodes: Vec<String>,
    /// Of `attempts` and `successes`, those learned on other instances (synced episodes).
    #[serde(default)]
    pub remote_attempts: u32,
    #[serde(default)]
    pub remote_successes: u32,
}

/// The ledger entry after one more attempt: counts, recovery-time median, evidence. `remote`:
/// the attempt was learned on another instance.
pub fn learn(
    previous: Option<LedgerEntry>,
    cluster: &str,
    attempt: &EpisodeAction,
    episode_id: &str,
    at: Timestamp,
    remote: bool,
) -> LedgerEntry {
    let mut e = previous.unwrap_or_else(|| LedgerEntry {
        cluster: cluster.to_string(),
        action_key: attempt.action_key.clone(),
        steps: attempt.steps.clone(),
        attempts: 0,
        successes: 0,
        failures: 0,
        median_ttr_ms: None,
        ttr_samples_ms: Vec::new(),
        last_used: at,
        episodes: Vec::new(),
        remote_attempts: 0,
        remote_successes: 0,
    });
    e.attempts += 1;
    e.remote_attempts += u32::from(remote);
    if attempt.outcome == Outcome::Fixed {
        e.successes += 1;
        e.remote_successes += u32::from(remote);
        if let Some(ttr) = attempt.time_to_recover_ms {
            e.ttr_samples_ms.push(ttr);
            let excess = e.ttr_samples_ms.len().saturating_sub(100);
            e.ttr_samples_ms.drain(..excess);
        }
    } else {
        e.failures += 1;
    }
    e.median_ttr_ms = median(&mut e.ttr_samples_ms.clone());
    e.last_used = e.last_used.max(at);
    e.episodes.retain(|id| id != episode_id);
    e.episodes.insert(0, episode_id.to_string());
    e.episodes.truncate(20);
    e
}

impl LedgerEntry {
    pub fn success_rate(&self) -> f64 {
        if self.attempts == 0 { 0.0 } else { f64::from(self.successes) / f64::from(self.attempts) }
    }

    /// Attempts and success rate with each attempt learned elsewhere counted as `remote_weight`
    /// of one learned here (0: this instance's own evidence only).
    pub fn weighted(&self, remote_weight: f64) -> (f64, f64) {
        let (local_attempts, local_successes) =
            (self.attempts.saturating_sub(self.remote_attempts), self.successes.saturating_sub(self.remote_successes));
        let attempts = f64::from(local_attempts) + remote_weight * f64::from(self.remote_attempts);
        let successes = f64::from(local_successes) + remote_weight * f64::from(self.remote_successes);
        (attempts, if attempts > 0.0 { successes / attempts } else { 0.0 })
    }
}

/// `kind@service`.
pub fn cluster(kind: &str, service: &str) -> String {
    format!("{kind}@{service}")
}

/// Each step as `tool` + its arguments in canonical JSON (object keys sorted), joined by ` → `,
/// so equal fixes share a key.
pub fn action_key(steps: &[FixStep]) -> String {
    steps.iter().map(|s| format!("{} {}", s.tool, canonical(&s.args))).collect::<Vec<_>>().join(" → ")
}

fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", serde_json::Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        serde_json::Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// FNV-1a 64 of `bytes`, as 16 hex digits.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:016x}", crate::hash::fnv1a(crate::hash::FNV_OFFSET, bytes.iter().copied()))
}

/// Median of `values`; the lower middle for an even count.
pub fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(tool: &str, args: serde_json::Value) -> FixStep {
        FixStep { tool: tool.into(), args }
    }

    #[test]
    fn action_keys_ignore_key_order() {
        let a = serde_json::json!({"root": "/x", "glob": "*.tmp", "opts": {"b": 1, "a": [2, {"d": 1, "c": 0}]}});
        let b = serde_json::json!({"opts": {"a": [2, {"c": 0, "d": 1}], "b": 1}, "glob": "*.tmp", "root": "/x"});
        assert_eq!(action_key(&[step("fs.cleanup", a.clone())]), action_key(&[step("fs.cleanup", b)]));
        assert_ne!(action_key(&[step("fs.cleanup", a.clone())]), action_key(&[step("fs.usage", a)]));
        let two = action_key(&[step("fs.usage", serde_json::json!({})), step("t", serde_json::json!({"s": "a\"b"}))]);
        assert_eq!(two, r#"fs.usage {} → t {"s":"a\"b"}"#);
    }

    #[test]
    fn learning_counts_attempts_and_keeps_evidence() {
        let fix = |outcome, ttr| EpisodeAction {
            learn: true,
            steps: vec![step("process.restart", serde_json::json!({"service": "api"}))],
            action_key: "k".into(),
            outcome,
            time_to_recover_ms: ttr,
        };
        let e = learn(None, "http-down@api", &fix(Outcome::Fixed, Some(4000)), "ep-1", Timestamp(10), false);
        let e = learn(Some(e), "http-down@api", &fix(Outcome::NotFixed, None), "ep-2", Timestamp(20), false);
        let e = learn(Some(e), "http-down@api", &fix(Outcome::Fixed, Some(2000)), "ep-3", Timestamp(15), false);
        assert_eq!((e.attempts, e.successes, e.failures), (3, 2, 1));
        assert_eq!((e.median_ttr_ms, e.last_used), (Some(2000), Timestamp(20)));
        assert_eq!(e.episodes, ["ep-3", "ep-2", "ep-1"]);
        assert_eq!(e.weighted(0.0), (3.0, 2.0 / 3.0));
        // Two more attempts learned elsewhere, both fixed: they count by their weight.
        let e = learn(Some(e), "http-down@api", &fix(Outcome::Fixed, Some(1000)), "ep-4", Timestamp(30), true);
        let e = learn(Some(e), "http-down@api", &fix(Outcome::Fixed, Some(1000)), "ep-5", Timestamp(31), true);
        assert_eq!((e.attempts, e.remote_attempts, e.remote_successes), (5, 2, 2));
        assert_eq!(e.weighted(0.0), (3.0, 2.0 / 3.0), "local only ignores them");
        assert_eq!(e.weighted(0.5), (4.0, 3.0 / 4.0));
        assert_eq!(e.weighted(1.0), (5.0, 4.0 / 5.0));
    }

    #[test]
    fn medians_and_rates() {
        assert_eq!(median(&mut [5, 1, 3]), Some(3));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
        assert_eq!(median(&mut []), None);
        let e = LedgerEntry {
            cluster: cluster("disk-full", "api"),
            action_key: "k".into(),
            steps: vec![],
            attempts: 4,
            successes: 3,
            failures: 1,
            median_ttr_ms: None,
            ttr_samples_ms: vec![],
            last_used: Timestamp(0),
            episodes: vec![],
            remote_attempts: 0,
            remote_successes: 0,
        };
        assert_eq!((e.cluster.as_str(), e.success_rate()), ("disk-full@api", 0.75));
        assert_eq!(content_hash(b"abc"), content_hash(b"abc"));
        assert_ne!(content_hash(b"abc"), content_hash(b"abd"));
    }
}
