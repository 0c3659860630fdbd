//! Recall: BM25 over a tantivy index of episodes kept in the data folder, re-ranked by incident
//! kind, service, shared labels and recency, with every score explained. The index is derived
//! data: `rebuild` recreates it from the store, and `open_or_rebuild` does so when it is
//! missing, unreadable or out of step with the store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use obsctl_core::Timestamp;
use obsctl_core::memory::Episode;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing, TextOptions,
    Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use crate::{Result, Store, StoreError};

/// The text analyzer: words, lowercased, English stop words dropped (they match nearly every
/// incident and cost the most to score), stemmed.
const ANALYZER: &str = "obsctl_en";

fn register_analyzer(index: &Index) {
    let mut builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    if let Some(stop) = StopWordFilter::new(Language::English) {
        builder = builder.filter_dynamic(stop);
    }
    index.tokenizers().register(ANALYZER, builder.filter_dynamic(Stemmer::new(Language::English)).build());
}

/// A query term found in more than this share of episodes is left out of BM25 scoring.
const COMMON_SHARE: f64 = 0.02;
/// …unless fewer terms than this would remain.
const MIN_TERMS: usize = 3;
/// Pruning starts at this many episodes.
const PRUNE_FROM: u64 = 1000;

/// BM25 candidates re-ranked per query.
const CANDIDATES: usize = 50;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("recall index: {e}"))
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    text: Field,
    kind: Field,
    service: Field,
    labels: Field,
    ended_at: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_options = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        text: b.add_text_field("text", text_options),
        kind: b.add_text_field("kind", STRING | STORED),
        service: b.add_text_field("service", STRING | STORED),
        labels: b.add_text_field("labels", STRING | STORED),
        ended_at: b.add_i64_field("ended_at", INDEXED | STORED | FAST),
    };
    (b.build(), fields)
}

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

/// One recalled episode and why it ranks where it does.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RecallHit {
    pub episode_id: String,
    /// 0..=1: 0.6 text relevance (BM25, relative to the best candidate), 0.15 same kind,
    /// 0.1 same service, 0.1 label overlap, 0.05 recency.
    pub score: f64,
    pub bm25: f32,
    /// Query terms (stemmed) found in the episode.
    pub terms: Vec<String>,
    pub same_kind: bool,
    pub same_service: bool,
    pub shared_labels: Vec<String>,
    pub age_days: f64,
    /// The above in one sentence.
    pub why: String,
}

pub struct RecallIndex {
    index: Index,
    reader: IndexReader,
    /// Taken on the first write: tantivy allows one writer per folder across processes, and a
    /// reader (e.g. `obsctl memory search` beside a running `serve`) needs none.
    writer: Mutex<Option<IndexWriter>>,
    f: Fields,
}

impl RecallIndex {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let (schema, f) = schema();
        let index = Index::open_or_create(MmapDirectory::open(dir).map_err(backend)?, schema).map_err(backend)?;
        register_analyzer(&index);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(backend)?;
        Ok(Self { index, reader, writer: Mutex::new(None), f })
    }

    /// Opens the index, rebuilding it from the store when it is unreadable or holds a different
    /// number of episodes than the store (e.g. another replica remembered some).
    pub async fn open_or_rebuild(dir: &Path, store: &dyn Store) -> Result<Self> {
        let index = match Self::open(dir) {
            Ok(index) => index,
            Err(error) => {
                tracing::warn!(%error, dir = %dir.display(), "recall index unreadable; rebuilding it from the store");
                std::fs::remove_dir_all(dir).map_err(backend)?;
                Self::open(dir)?
            }
        };
        if index.len() != store.episode_count().await? {
            let n = index.rebuild(store).await?;
            tracing::info!(episodes = n, dir = %dir.display(), "rebuilt recall index");
        }
        Ok(index)
    }

    /// Episodes in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn document(&self, e: &Episode) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.f.id, &e.id);
        doc.add_text(self.f.text, &e.text);
        doc.add_text(self.f.kind, &e.kind);
        doc.add_text(self.f.service, &e.service);
        for (k, v) in &e.labels {
            doc.add_text(self.f.labels, format!("{k}={v}"));
        }
        doc.add_i64(self.f.ended_at, e.ended_at.millis());
        doc
    }

    fn write(&self, episodes: &[Episode], clear: bool) -> Result<()> {
        let mut guard = self.writer.lock().map_err(|_| backend("writer lock poisoned"))?;
        if guard.is_none() {
            *guard = Some(self.index.writer_with_num_threads(1, 20_000_000).map_err(backend)?);
        }
        let Some(writer) = guard.as_mut() else { return Err(backend("no writer")) };
        if clear {
            writer.delete_all_documents().map_err(backend)?;
        }
        for e in episodes {
            writer.delete_term(Term::from_field_text(self.f.id, &e.id));
            writer.add_document(self.document(e)).map_err(backend)?;
        }
        writer.commit().map_err(backend)?;
        self.reader.reload().map_err(backend)
    }

    /// Adds (or replaces) episodes and commits.
    pub fn add(&self, episodes: &[Episode]) -> Result<()> {
        self.write(episodes, false)
    }

    /// Recreates the index from every episode in the store; returns how many.
    pub async fn rebuild(&self, store: &dyn Store) -> Result<u64> {
        let mut after: Option<String> = None;
        let mut first = true;
        let mut count = 0;
        loop {
            let page = store.episodes_after(after.as_deref(), 1000).await?;
            if page.is_empty() && !first {
                break;
            }
            self.write(&page, first)?;
            first = false;
            count += page.len() as u64;
            match page.last() {
                Some(last) => after = Some(last.id.clone()),
                None => break,
            }
        }
        Ok(count)
    }

    fn stems(&self, text: &str) -> Result<BTreeSet<String>> {
        let mut analyzer = self.index.tokenizer_for_field(self.f.text).map_err(backend)?;
        let mut stream = analyzer.token_stream(text);
        let mut out = BTreeSet::new();
        while let Some(t) = stream.next() {
            out.insert(t.text.clone());
        }
        Ok(out)
    }

    /// A BM25 query (any of the terms) over the query's informative terms: those in at most
    /// `COMMON_SHARE` of episodes. Terms nearly every episode shares carry almost no weight
    /// (their IDF is near zero) but cost the most to score; when every term is that common, the
    /// `MIN_TERMS` rarest are kept. Free text is only ever analysed into words, never parsed as
    /// query syntax.
    fn informative_terms(&self, searcher: &tantivy::Searcher, stems: &BTreeSet<String>) -> Result<Box<dyn Query>> {
        let total = searcher.num_docs().max(1);
        let mut terms: Vec<(u64, Term)> = Vec::new();
        for stem in stems {
            let term = Term::from_field_text(self.f.text, stem);
            let df = searcher.doc_freq(&term).map_err(backend)?;
            if df > 0 {
                terms.push((df, term));
            }
        }
        terms.sort_by_key(|(df, _)| *df);
        // Below PRUNE_FROM episodes every term is cheap to score, so all are kept.
        let limit = if total < PRUNE_FROM { u64::MAX } else { (total as f64 * COMMON_SHARE) as u64 };
        let keep = terms.iter().filter(|(df, _)| *df <= limit).count().max(MIN_TERMS.min(terms.len()));
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .into_iter()
            .take(keep)
            .map(|(_, t)| (Occur::Should, Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)) as Box<dyn Query>))
            .collect();
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// Episodes similar to the query, best first, each score explained.
    pub fn search(&self, q: &RecallQuery, now: Timestamp) -> Result<Vec<RecallHit>> {
        let searcher = self.reader.searcher();
        let wanted = self.stems(&q.text)?;
        let query = self.informative_terms(&searcher, &wanted)?;
        let top = searcher.search(&query, &TopDocs::with_limit(CANDIDATES).order_by_score()).map_err(backend)?;
        let best = top.first().map(|(s, _)| *s).unwrap_or(1.0).max(f32::EPSILON);
        let labels: BTreeSet<String> = q.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut hits = Vec::new();
        for (bm25, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr).map_err(backend)?;
            let text_of = |f: Field| doc.get_first(f).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let (kind, service) = (text_of(self.f.kind), text_of(self.f.service));
            let same_kind = q.kind.as_deref() == Some(kind.as_str());
            let same_service = q.service.as_deref() == Some(service.as_str());
            if q.strict && ((q.kind.is_some() && !same_kind) || (q.service.is_some() && !same_service)) {
                continue;
            }
            let doc_labels: BTreeSet<String> =
                doc.get_all(self.f.labels).filter_map(|v| v.as_str().map(str::to_string)).collect();
            let shared: Vec<String> = labels.intersection(&doc_labels).cloned().collect();
            let union = labels.union(&doc_labels).count().max(1);
            let ended = doc.get_first(self.f.ended_at).and_then(|v| v.as_i64()).unwrap_or(0);
            let age_days = (now.millis() - ended).max(0) as f64 / 86_400_000.0;
            let score = 0.6 * f64::from(bm25 / best)
                + 0.15 * f64::from(u8::from(same_kind))
                + 0.1 * f64::from(u8::from(same_service))
                + 0.1 * shared.len() as f64 / union as f64
                + 0.05 * (-age_days / 30.0).exp();
            // Terms and the sentence are filled in for the hits returned, not every candidate.
            let why = format!(
                "{}; {}; labels: {}; {:.1} days old",
                if same_kind { format!("same kind {kind}") } else { format!("kind {kind}") },
                if same_service { format!("same service {service}") } else { format!("service {service}") },
                if shared.is_empty() { "none shared".into() } else { shared.join(", ") },
                age_days
            );
            hits.push((
                text_of(self.f.text),
                RecallHit {
                    episode_id: text_of(self.f.id),
                    score,
                    bm25,
                    terms: Vec::new(),
                    same_kind,
                    same_service,
                    shared_labels: shared,
                    age_days,
                    why,
                },
            ));
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
