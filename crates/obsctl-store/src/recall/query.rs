//! The query: what to recall (`RecallQuery`), its informative terms as a BM25 query over the
//! text, the head and word pairs, and `search`, which runs it and ranks the candidates.

use std::collections::{BTreeMap, BTreeSet};

use obsctl_core::Timestamp;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{TantivyDocument, Term};

use super::ranking::{Candidate, RecallHit};
use super::{RecallIndex, backend};
use crate::Result;

/// A word pair shared with the query weighs this much (against 1 for a word of the text).
const PAIR_BOOST: f32 = 1.0;

/// A term in the first paragraph (title, summary) weighs this much more than one in the body.
const HEAD_BOOST: f32 = 2.0;

/// BM25's term-frequency saturation (tantivy's k1): a term's score is at most idf × (K1 + 1).
const K1: f32 = 1.2;

/// A query term found in more than this share of episodes is left out of BM25 scoring.
const COMMON_SHARE: f64 = 0.02;

/// …unless fewer terms than this would remain.
const MIN_TERMS: usize = 3;

/// Pruning starts at this many episodes.
const PRUNE_FROM: u64 = 1000;

/// BM25 candidates re-ranked per query.
const CANDIDATES: usize = 50;

/// One clause of a boolean query.
type Clause = (Occur, Box<dyn Query>);

/// What to recall episodes similar to.
#[derive(Debug, Clone, Default)]
pub struct RecallQuery {
    pub text: String,
    pub service: Option<String>,
    pub kind: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Keep only episodes of this service and kind (when given), instead of ranking them higher.
    pub strict: bool,
    /// At most this many hits; 0 means 10.
    pub limit: usize,
}

/// Labels to rank by, from `key=value` items (a form's or query string's `a=b, c=d` split at
/// commas first); the error names the bad item.
pub fn parse_labels<'a>(
    items: impl IntoIterator<Item = &'a str>,
) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for item in items.into_iter().flat_map(|i| i.split(',')).map(str::trim).filter(|i| !i.is_empty()) {
        let (k, v) = item.split_once('=').ok_or_else(|| format!("label {item:?}: use key=value, e.g. team=web"))?;
        labels.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(labels)
}

impl RecallIndex {
    /// The text's words as the index holds them (stop words dropped, stemmed), in order.
    pub(super) fn words(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    fn stems(&self, text: &str) -> Result<BTreeSet<String>> {
        Ok(self.words(text).into_iter().collect())
    }

    /// Adjacent words as `a_b` tokens.
    pub(super) fn pairs(&self, text: &str) -> Vec<String> {
        self.words(text).windows(2).map(|w| format!("{}_{}", w[0], w[1])).collect()
    }

    /// A BM25 query (any of the terms, in the text and, boosted, in the head) over the query's
    /// informative terms: those in at most `COMMON_SHARE` of episodes. Terms nearly every
    /// episode shares carry almost no weight (their IDF is near zero) but cost the most to
    /// score; when every term is that common, the `MIN_TERMS` rarest are kept. Free text is only
    /// ever analysed into words, never parsed as query syntax. Also returns the score an episode
    /// holding every kept term would reach at most, which makes a hit's BM25 a share. The
    /// query's word pairs found in the index join as clauses of their own.
    fn informative_terms(
        &self,
        searcher: &tantivy::Searcher,
        stems: &BTreeSet<String>,
        pairs: &BTreeSet<String>,
    ) -> Result<(Vec<Clause>, f32)> {
        let total = searcher.num_docs().max(1);
        let mut terms: Vec<(u64, &String)> = Vec::new();
        for stem in stems {
            let df = searcher.doc_freq(&Term::from_field_text(self.f.text, stem)).map_err(backend)?;
            if df > 0 {
                terms.push((df, stem));
            }
        }
        terms.sort_by_key(|(df, _)| *df);
        // Below PRUNE_FROM episodes every term is cheap to score, so all are kept.
        let limit = if total < PRUNE_FROM { u64::MAX } else { (total as f64 * COMMON_SHARE) as u64 };
        let keep = terms.iter().filter(|(df, _)| *df <= limit).count().max(MIN_TERMS.min(terms.len()));
        let idf = |df: u64| (1.0 + (total.saturating_sub(df) as f32 + 0.5) / (df as f32 + 0.5)).ln();
        let mut clauses: Vec<Clause> = Vec::new();
        let mut ideal = 0.0;
        for (df, stem) in terms.into_iter().take(keep) {
            let head = Term::from_field_text(self.f.head, stem);
            let head_df = searcher.doc_freq(&head).map_err(backend)?;
            ideal += (idf(df) + HEAD_BOOST * if head_df > 0 { idf(head_df) } else { 0.0 }) * (K1 + 1.0);
            let text = TermQuery::new(Term::from_field_text(self.f.text, stem), IndexRecordOption::WithFreqs);
            clauses.push((Occur::Should, Box::new(text)));
            if head_df > 0 {
                let head = TermQuery::new(head, IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(head), HEAD_BOOST))));
            }
        }
        // Pairs are rarer than their words: each found in the index counts, whatever its share.
        for pair in pairs {
            let term = Term::from_field_text(self.f.pairs, pair);
            let df = searcher.doc_freq(&term).map_err(backend)?;
            if df > 0 {
                ideal += PAIR_BOOST * idf(df) * (K1 + 1.0);
                let query = TermQuery::new(term, IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(query), PAIR_BOOST))));
            }
        }
        Ok((clauses, ideal))
    }

    /// Episodes similar to the query, best first, each score explained. With `strict`, only
    /// episodes of the query's service and kind are searched (inside the index query, so a
    /// filter never empties a list that has matches).
    pub fn search(&self, q: &RecallQuery, now: Timestamp) -> Result<Vec<RecallHit>> {
        let searcher = self.reader.searcher();
        // The service's name and the kind's words count as same service and same kind; as text
        // they would make every episode of the service look similar.
        let named: BTreeSet<String> = [&q.service, &q.kind].into_iter().flatten().flat_map(|v| self.words(v)).collect();
        let words = self.words(&q.text);
        let pairs: BTreeSet<String> = words
            .windows(2)
            .filter(|w| !named.contains(&w[0]) && !named.contains(&w[1]))
            .map(|w| format!("{}_{}", w[0], w[1]))
            .collect();
        let wanted: BTreeSet<String> = words.into_iter().filter(|w| !named.contains(w)).collect();
        let (terms, ideal) = self.informative_terms(&searcher, &wanted, &pairs)?;
        let mut must: Vec<Clause> = Vec::new();
        if !terms.is_empty() {
            must.push((Occur::Must, Box::new(BooleanQuery::new(terms))));
        }
        if q.strict {
            for (field, value) in [(self.f.service, &q.service), (self.f.kind, &q.kind)] {
                if let Some(value) = value {
                    let term = TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic);
                    must.push((Occur::Must, Box::new(term)));
                }
            }
        }
        if must.is_empty() {
            return Ok(Vec::new());
        }
        let query = BooleanQuery::new(must);
        let top = searcher.search(&query, &TopDocs::with_limit(CANDIDATES).order_by_score()).map_err(backend)?;
        let ideal = ideal.max(f32::EPSILON);
        let mut hits = Vec::new();
        for (bm25, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr).map_err(backend)?;
            let candidate = Candidate::read(&doc, &self.f);
            hits.push((candidate.text.clone(), candidate.rank(q, bm25, ideal, now)));
        }
        hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
        hits.truncate(if q.limit == 0 { 10 } else { q.limit });
        hits.into_iter()
            .map(|(text, mut hit)| {
                hit.terms = wanted.intersection(&self.stems(&text)?).cloned().collect();
                let terms = if hit.terms.is_empty() { "none".to_string() } else { hit.terms.join(", ") };
                hit.why = format!("terms: {terms}; {}", hit.why);
                Ok(hit)
            })
            .collect()
    }
}
