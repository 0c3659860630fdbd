//! Recall: BM25 over a tantivy index of episodes kept in the data folder (the episode's text,
//! and its first paragraph, title and summary, again as a field of its own), re-ranked by
//! incident kind, service, shared labels and recency, with every score explained. The index is
//! derived data: `rebuild` recreates it from the store, `open_or_rebuild` does so when it is
//! missing, unreadable, of an older layout or out of step with the store, and `catch_up`
//! follows what the store wrote since (imports, sync, other processes) by `(stored_at, id)`,
//! whose position is saved with each commit.

mod analysis;
mod query;
mod ranking;

use std::path::Path;
use std::sync::Mutex;

use obsctl_core::Timestamp;
use obsctl_core::memory::Episode;
use tantivy::directory::MmapDirectory;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use analysis::{ANALYZER, PAIRS, head_of, register_analyzer};
pub use query::{RecallQuery, parse_labels};
pub use ranking::RecallHit;

use crate::{Result, Store, StoreError};

/// Bumped whenever the analyzer or the fields change: an index of another layout is rebuilt.
const LAYOUT: u32 = 3;

/// How far back `catch_up` looks again: a Postgres writer may commit an episode stamped a
/// moment before one already followed.
const CATCH_UP_OVERLAP_MS: i64 = 5_000;

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

/// What the index saves with each commit: its layout and how far it has followed the store.
#[derive(serde::Serialize, serde::Deserialize, Default, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cursor {
    layout: u32,
    stored_at: i64,
    id: String,
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
}
