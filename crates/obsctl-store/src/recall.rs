//! Recall: BM25 over a tantivy index of episodes kept in the data folder (the episode's text,
//! and its first paragraph, title and summary, again as a field of its own), re-ranked by
//! incident kind, service, shared labels and recency, with every score explained. The index is
//! derived data: `rebuild` recreates it from the store, `open_or_rebuild` does so when it is
//! missing, unreadable, of an older layout or out of step with the store, and `catch_up`
//! follows what the store wrote since (imports, sync, other processes) by `(stored_at, id)`,
//! whose position is saved with each commit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use obsctl_core::Timestamp;
use obsctl_core::memory::Episode;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing, TextOptions,
    Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer, WhitespaceTokenizer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use crate::{Result, Store, StoreError};

/// The text analyzer: words, lowercased, stop words dropped (they match nearly every incident,
/// explain nothing and cost the most to score), stemmed.
const ANALYZER: &str = "obsctl_en";

/// Bumped whenever the analyzer or the fields change: an index of another layout is rebuilt.
const LAYOUT: u32 = 3;

/// English function words, and the single letters and contraction tails (`s`, `t`, `ll`) that
/// splitting `service's` or `didn't` at the apostrophe leaves. Words that carry meaning in an
/// incident (`down`, `up`, `out`, `off`, `over`, `under`, `not`) are kept.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "d",
    "did",
    "do",
    "does",
    "doing",
    "during",
    "each",
    "etc",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "ll",
    "m",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "now",
    "o",
    "of",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "own",
    "per",
    "re",
    "s",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "thus",
    "to",
    "too",
    "us",
    "ve",
    "very",
    "via",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "within",
    "would",
    "y",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "b",
    "c",
    "e",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "n",
    "p",
    "q",
    "r",
    "u",
    "v",
    "w",
    "x",
    "z",
    "didn",
    "doesn",
    "don",
    "hadn",
    "hasn",
    "haven",
    "isn",
    "wasn",
    "weren",
    "won",
    "wouldn",
    "couldn",
    "shouldn",
    "aren",
];

/// The pairs field holds tokens made by `pairs`, split at spaces only.
const PAIRS: &str = "obsctl_pairs";

fn register_analyzer(index: &Index) {
    index.tokenizers().register(PAIRS, TextAnalyzer::builder(WhitespaceTokenizer::default()).build());
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|w| w.to_string())))
        .filter(Stemmer::new(Language::English))
        .build();
    index.tokenizers().register(ANALYZER, analyzer);
}

/// A word pair shared with the query weighs this much (against 1 for a word of the text).
const PAIR_BOOST: f32 = 1.0;
/// A term in the first paragraph (title, summary) weighs this much more than one in the body.
const HEAD_BOOST: f32 = 2.0;
/// The head is at most this many bytes of the text's first paragraph.
const HEAD_BYTES: usize = 1000;
/// BM25's term-frequency saturation (tantivy's k1): a term's score is at most idf × (K1 + 1).
const K1: f32 = 1.2;
/// How far back `catch_up` looks again: a Postgres writer may commit an episode stamped a
/// moment before one already followed.
const CATCH_UP_OVERLAP_MS: i64 = 5_000;

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
    head: Field,
    /// Adjacent word pairs of the text (`a_b`, after stop words): a phrase shared with the query
    /// weighs more than its words apart.
    pairs: Field,
    origin: Field,
    kind: Field,
    service: Field,
    labels: Field,
    ended_at: Field,
}

/// A text field that is searched, not stored.
fn indexed(tokenizer: &str, record: IndexRecordOption) -> TextOptions {
    TextOptions::default()
        .set_indexing_options(TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(record))
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
        head: b.add_text_field("head", indexed(ANALYZER, IndexRecordOption::WithFreqsAndPositions)),
        pairs: b.add_text_field("pairs", indexed(PAIRS, IndexRecordOption::WithFreqs)),
        origin: b.add_text_field("origin", STRING | STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        service: b.add_text_field("service", STRING | STORED),
        labels: b.add_text_field("labels", STRING | STORED),
        ended_at: b.add_i64_field("ended_at", INDEXED | STORED | FAST),
    };
    (b.build(), fields)
}

/// The text's first paragraph (up to a blank line), at most `HEAD_BYTES`: an incident's title
/// and details, a postmortem's title and summary.
fn head_of(text: &str) -> &str {
    let first = text.split("\n\n").next().unwrap_or(text);
    let mut end = first.len().min(HEAD_BYTES);
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    &first[..end]
}

/// What the index saves with each commit: its layout and how far it has followed the store.
#[derive(serde::Serialize, serde::Deserialize, Default, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cursor {
    layout: u32,
    stored_at: i64,
    id: String,
}

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

pub struct RecallIndex {
    index: Index,
    reader: IndexReader,
    /// Taken on the first write: tantivy allows one writer per folder across processes, and a
    /// reader (e.g. `obsctl memory search` beside a running `serve`) needs none.
    writer: Mutex<Option<IndexWriter>>,
    f: Fields,
    /// How far the index has followed the store (saved with each commit).
    cursor: Mutex<Cursor>,
    analyzer: TextAnalyzer,
}

/// Another process holds the index's writer lock (a `serve` on the same data folder).
fn busy(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.contains("LockBusy"))
}

impl RecallIndex {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let (schema, f) = schema();
        let index = Index::open_or_create(MmapDirectory::open(dir).map_err(backend)?, schema).map_err(backend)?;
        register_analyzer(&index);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(backend)?;
        let cursor = index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| serde_json::from_str::<Cursor>(&p).ok())
            .unwrap_or_default();
        let analyzer = index.tokenizers().get(ANALYZER).ok_or_else(|| backend("analyzer not registered"))?;
        Ok(Self { index, reader, writer: Mutex::new(None), f, cursor: Mutex::new(cursor), analyzer })
    }

    /// Opens the index, rebuilding it from the store when it is unreadable, of an older layout
    /// or holds a different number of episodes than the store, then follows what the store
    /// wrote since its last commit. Beside a process that writes the index, it opens as it is.
    pub async fn open_or_rebuild(dir: &Path, store: &dyn Store) -> Result<Self> {
        let index = match Self::open(dir) {
            Ok(index) => index,
            Err(error) => {
                tracing::warn!(%error, dir = %dir.display(), "recall index unreadable; rebuilding it from the store");
                std::fs::remove_dir_all(dir).map_err(backend)?;
                Self::open(dir)?
            }
        };
        let stale = index.layout() != LAYOUT || index.len() != store.episode_count().await?;
        let done = if stale { index.rebuild(store).await.map(Some) } else { index.catch_up(store).await.map(|_| None) };
        match done {
            Ok(Some(n)) => tracing::info!(episodes = n, dir = %dir.display(), "rebuilt recall index"),
            Ok(None) => {}
            Err(e) if busy(&e) => tracing::debug!(dir = %dir.display(), "recall index written by another process"),
            Err(e) => return Err(e),
        }
        Ok(index)
    }

    fn layout(&self) -> u32 {
        self.cursor.lock().map(|c| c.layout).unwrap_or(0)
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
        doc.add_text(self.f.head, head_of(&e.text));
        doc.add_text(self.f.pairs, self.pairs(&e.text).join(" "));
        doc.add_text(self.f.origin, &e.origin);
        doc.add_text(self.f.kind, &e.kind);
        doc.add_text(self.f.service, &e.service);
        for (k, v) in &e.labels {
            doc.add_text(self.f.labels, format!("{k}={v}"));
        }
        doc.add_i64(self.f.ended_at, e.ended_at.millis());
        doc
    }

    /// Writes episodes (replacing any of the same id) and commits, with the cursor moved to
    /// `followed` when given and later than where it is.
    fn write(&self, episodes: &[&Episode], clear: bool, followed: Option<(Timestamp, &str)>) -> Result<()> {
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
        let payload = {
            let mut cursor = self.cursor.lock().map_err(|_| backend("cursor lock poisoned"))?;
            if clear {
                *cursor = Cursor { layout: LAYOUT, ..Cursor::default() };
            }
            if let Some((at, id)) = followed {
                let next = Cursor { layout: LAYOUT, stored_at: at.millis(), id: id.to_string() };
                if next > *cursor {
                    *cursor = next;
                }
            }
            serde_json::to_string(&*cursor).map_err(backend)?
        };
        let mut commit = writer.prepare_commit().map_err(backend)?;
        commit.set_payload(&payload);
        commit.commit().map_err(backend)?;
        self.reader.reload().map_err(backend)
    }

    /// Adds (or replaces) episodes and commits.
    pub fn add(&self, episodes: &[Episode]) -> Result<()> {
        self.write(&episodes.iter().collect::<Vec<_>>(), false, None)
    }

    /// Recreates the index from every episode in the store; returns how many.
    pub async fn rebuild(&self, store: &dyn Store) -> Result<u64> {
        let mut after = (Timestamp(i64::MIN), String::new());
        let mut first = true;
        let mut count = 0;
        loop {
            let page = store.episodes_stored_after((after.0, &after.1), 1000).await?;
            let last = page.last().map(|e| (e.stored_at, e.episode.id.clone()));
            let episodes: Vec<&Episode> = page.iter().map(|e| &e.episode).collect();
            self.write(&episodes, first, last.as_ref().map(|(t, id)| (*t, id.as_str())))?;
            first = false;
            count += page.len() as u64;
            match last {
                Some(last) if page.len() == 1000 => after = last,
                _ => break,
            }
        }
        Ok(count)
    }

    /// Catches up every `interval` until `shutdown`: how `serve` makes episodes that another
    /// process imported or a sync brought in searchable without a reindex.
    pub async fn follow(
        self: std::sync::Arc<Self>,
        store: std::sync::Arc<dyn Store>,
        interval: std::time::Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => match self.catch_up(store.as_ref()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(episodes = n, "recall index caught up with the store"),
                    Err(error) => tracing::warn!(%error, "recall index could not follow the store"),
                },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Indexes what the store wrote since the index last followed it: episodes imported or
    /// synced, or remembered by another process. Returns how many; 0 (changing nothing) while
    /// another process holds the index's writer.
    pub async fn catch_up(&self, store: &dyn Store) -> Result<usize> {
        let cursor = self.cursor.lock().map_err(|_| backend("cursor lock poisoned"))?.clone();
        let mut after = (Timestamp(cursor.stored_at.saturating_sub(CATCH_UP_OVERLAP_MS)), String::new());
        let mut count = 0;
        loop {
            let page = store.episodes_stored_after((after.0, &after.1), 500).await?;
            let Some(last) = page.last().map(|e| (e.stored_at, e.episode.id.clone())) else { break };
            let searcher = self.reader.searcher();
            let mut fresh = Vec::new();
            for e in &page {
                let beyond = (e.stored_at.millis(), e.episode.id.as_str()) > (cursor.stored_at, cursor.id.as_str());
                let known = searcher.doc_freq(&Term::from_field_text(self.f.id, &e.episode.id)).map_err(backend)? > 0;
                if beyond || !known {
                    fresh.push(&e.episode);
                }
            }
            if !fresh.is_empty() {
                match self.write(&fresh, false, Some((last.0, &last.1))) {
                    Err(e) if busy(&e) => return Ok(0),
                    other => other?,
                }
                count += fresh.len();
            }
            if page.len() < 500 {
                break;
            }
            after = last;
        }
        Ok(count)
    }

    /// The text's words as the index holds them (stop words dropped, stemmed), in order.
    fn words(&self, text: &str) -> Vec<String> {
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
    fn pairs(&self, text: &str) -> Vec<String> {
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
        let labels: BTreeSet<String> = q.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut hits = Vec::new();
        for (bm25, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr).map_err(backend)?;
            let text_of = |f: Field| doc.get_first(f).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let (kind, service) = (text_of(self.f.kind), text_of(self.f.service));
            let same_kind = q.kind.as_deref() == Some(kind.as_str());
            let same_service = q.service.as_deref() == Some(service.as_str());
            let doc_labels: BTreeSet<String> =
                doc.get_all(self.f.labels).filter_map(|v| v.as_str().map(str::to_string)).collect();
            let shared: Vec<String> = labels.intersection(&doc_labels).cloned().collect();
            let union = labels.union(&doc_labels).count().max(1);
            let ended = doc.get_first(self.f.ended_at).and_then(|v| v.as_i64()).unwrap_or(0);
            // An episode with no known date (0) earns no recency.
            let age_days = (ended > 0).then(|| (now.millis() - ended).max(0) as f64 / 86_400_000.0);
            let relevance = f64::from((bm25 / ideal).min(1.0));
            let score = 0.6 * relevance
                + 0.15 * f64::from(u8::from(same_kind))
                + 0.1 * f64::from(u8::from(same_service))
                + 0.1 * shared.len() as f64 / union as f64
                + 0.05 * age_days.map_or(0.0, |d| (-d / 30.0).exp());
            // Terms and the sentence are filled in for the hits returned, not every candidate.
            let why = format!(
                "text {:.0}% of the query; {}; {}; labels: {}; {}",
                relevance * 100.0,
                if same_kind { format!("same kind {kind}") } else { format!("kind {kind}") },
                if same_service { format!("same service {service}") } else { format!("service {service}") },
                if shared.is_empty() { "none shared".into() } else { shared.join(", ") },
                age_days.map_or("date unknown".to_string(), |d| format!("{d:.1} days old"))
            );
            hits.push((
                text_of(self.f.text),
                RecallHit {
                    episode_id: text_of(self.f.id),
                    score,
                    bm25,
                    origin: text_of(self.f.origin),
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
