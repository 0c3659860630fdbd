//! Ranking: a BM25 candidate's final score (text relevance, same kind and service, shared
//! labels, recency) and the sentence that explains it.

use std::collections::BTreeSet;

use obsctl_core::Timestamp;
use serde::Serialize;
use tantivy::TantivyDocument;
use tantivy::schema::{Field, Value};

use super::{Fields, RecallQuery};

/// One recalled episode and why it ranks where it does.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RecallHit {
    pub episode_id: String,
    /// 0..=1, comparable across searches: 0.6 text relevance (the hit's BM25 as a share of
    /// what an episode holding every informative query term would score), 0.15 same kind,
    /// 0.1 same service, 0.1 label overlap, 0.05 recency (none when the date is unknown).
    pub score: f64,
    pub bm25: f32,
    /// The instance that learned it.
    pub origin: String,
    /// Query terms (stemmed) found in the episode.
    pub terms: Vec<String>,
    pub same_kind: bool,
    pub same_service: bool,
    pub shared_labels: Vec<String>,
    /// Days since it ended; `None` when its date is unknown (an imported postmortem without one).
    pub age_days: Option<f64>,
    /// The above in one sentence.
    pub why: String,
}

/// A BM25 candidate as the index stored it.
pub(super) struct Candidate {
    pub(super) id: String,
    pub(super) text: String,
    origin: String,
    kind: String,
    service: String,
    labels: BTreeSet<String>,
    /// When it ended (unix ms), 0 when unknown.
    ended_at: i64,
}

impl Candidate {
    pub(super) fn read(doc: &TantivyDocument, f: &Fields) -> Self {
        let text_of = |field: Field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or("").to_string();
        Candidate {
            id: text_of(f.id),
            text: text_of(f.text),
            origin: text_of(f.origin),
            kind: text_of(f.kind),
            service: text_of(f.service),
            labels: doc.get_all(f.labels).filter_map(|v| v.as_str().map(str::to_string)).collect(),
            ended_at: doc.get_first(f.ended_at).and_then(|v| v.as_i64()).unwrap_or(0),
        }
    }

    /// Its score for the query: 0.6 its BM25 as a share of `ideal`, 0.15 same kind, 0.1 same
    /// service, 0.1 labels shared, 0.05 recency; and the sentence that explains it (the terms
    /// are filled in later, for the hits returned only).
    pub(super) fn rank(&self, q: &RecallQuery, bm25: f32, ideal: f32, now: Timestamp) -> RecallHit {
        let same_kind = q.kind.as_deref() == Some(self.kind.as_str());
        let same_service = q.service.as_deref() == Some(self.service.as_str());
        let wanted: BTreeSet<String> = q.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let shared: Vec<String> = wanted.intersection(&self.labels).cloned().collect();
        let union = wanted.union(&self.labels).count().max(1);
        // An episode with no known date (0) earns no recency.
        let age_days = (self.ended_at > 0).then(|| (now.millis() - self.ended_at).max(0) as f64 / 86_400_000.0);
        let relevance = f64::from((bm25 / ideal).min(1.0));
        let score = 0.6 * relevance
            + 0.15 * f64::from(u8::from(same_kind))
            + 0.1 * f64::from(u8::from(same_service))
            + 0.1 * shared.len() as f64 / union as f64
            + 0.05 * age_days.map_or(0.0, |d| (-d / 30.0).exp());
        let (kind, service) = (&self.kind, &self.service);
        let why = format!(
            "text {:.0}% of the query; {}; {}; labels: {}; {}",
            relevance * 100.0,
            if same_kind { format!("same kind {kind}") } else { format!("kind {kind}") },
            if same_service { format!("same service {service}") } else { format!("service {service}") },
            if shared.is_empty() { "none shared".into() } else { shared.join(", ") },
            age_days.map_or("date unknown".to_string(), |d| format!("{d:.1} days old"))
        );
        RecallHit {
            episode_id: self.id.clone(),
            score,
            bm25,
            origin: self.origin.clone(),
            terms: Vec::new(),
            same_kind,
            same_service,
            shared_labels: shared,
            age_days,
            why,
        }
    }
}
