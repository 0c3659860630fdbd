//! Recall quality on postmortems against plain BM25 (not a test: it measures).
//!
//! `cargo bench -p obsctl-store --bench recall_quality -- [--corpus DIR] [--generated 2000]`
//!
//! Each postmortem (Markdown with YAML front matter, read as `obsctl memory import` reads it)
//! is remembered; then each one's `summary` is the query, as a person pastes it, with no
//! service or kind given. Reports how often the right postmortem ranks first (top-1) and the
//! mean reciprocal rank over the first 10, for obsctl's recall and for plain BM25 (tantivy's
//! English stemming analyzer over the same text, one field, no re-ranking) on the same corpus.
//! `--corpus DIR` reads a folder of real postmortems; without it a corpus is generated the way
//! cloud providers write them: one template for every summary, boilerplate paragraphs in every
//! body, and products, regions and causes drawn from small vocabularies, so many postmortems
//! share most of their words.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use obsctl_core::Timestamp;
use obsctl_core::memory::{Episode, postmortem};
use obsctl_store::{Memory, RecallIndex, RecallQuery, SqliteStore};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, TantivyDocument, doc};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PRODUCTS: &[&str] = &[
    "Cloud SQL",
    "Compute Engine",
    "Cloud Storage",
    "BigQuery",
    "Cloud Pub/Sub",
    "App Engine",
    "Cloud DNS",
    "Cloud Load Balancing",
    "Kubernetes Engine",
    "Cloud Functions",
    "Cloud Spanner",
    "Cloud Monitoring",
];
const REGIONS: &[&str] =
    &["us-central1", "us-east1", "europe-west1", "europe-west4", "asia-east1", "asia-northeast1", "us-west2"];
const SYMPTOMS: &[&str] = &[
    "experienced elevated error rates",
    "experienced increased latency",
    "was unavailable",
    "rejected new connections",
    "failed to create new instances",
    "returned HTTP 500 errors",
    "dropped a fraction of requests",
];
const CAUSES: &[&str] = &[
    "A configuration change to the frontend load balancers was rolled out globally instead of progressively.",
    "A memory leak in the serving component exhausted the available memory on the serving tasks.",
    "The metadata database reached its connection limit after a retry storm from clients.",
    "An expired TLS certificate on an internal authentication service caused handshakes to fail.",
    "A quota misconfiguration throttled requests from the control plane to the storage layer.",
    "A network partition between two zones made the leader election flap repeatedly.",
    "A disk on the primary replica filled with write-ahead log segments and writes stalled.",
    "A software rollout introduced a regression in request routing for large payloads.",
    "The DNS resolver cache was poisoned by a stale record after a migration.",
    "A scheduled maintenance job deleted the index files that the query planner needed.",
    "An overloaded upstream dependency timed out and the callers exhausted their worker pools.",
    "A power event in one datacenter took down racks hosting the storage servers.",
];
const MITIGATIONS: &[&str] = &[
    "Engineers rolled back the change and the error rate returned to normal.",
    "Engineers restarted the affected serving tasks to release the leaked memory.",
    "Engineers added capacity to the metadata database and throttled the retries.",
    "Engineers rotated the certificate and restarted the authentication service.",
    "Engineers raised the quota and drained the backlog of queued requests.",
    "Engineers failed over to the healthy replica and rebuilt the broken one.",
];
const BOILERPLATE: &str = "We apologize for the impact this incident had on our customers. We understand how \
    important reliability is to your business, and we are taking immediate steps to improve the platform's \
    performance and availability. Our monitoring detected the issue and engineers were paged. We will \
    review our processes to prevent a recurrence and to detect similar problems more quickly.";
const DAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn generated(n: usize) -> Vec<(String, String)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            let product = rng.pick(PRODUCTS);
            let region = rng.pick(REGIONS);
            let symptom = rng.pick(SYMPTOMS);
            let (cause, second) = (rng.pick(CAUSES), rng.pick(CAUSES));
            let minutes = 10 + rng.below(300);
            let (day, date, month, year) = (rng.pick(DAYS), 1 + rng.below(28), rng.pick(MONTHS), 2015 + rng.below(9));
            // Half the summaries carry no date, as many real ones do.
            let when = if rng.below(2) == 0 { format!("On {day} {date} {month} {year}, ") } else { String::new() };
            let summary = format!(
                "{when}{product} in {region} {symptom} for a duration of {minutes} minutes. \
                 If your service or application was affected, we apologize."
            );
            // Bodies from one paragraph to a long timeline: real postmortems differ in length
            // tenfold, which is what BM25's length normalisation weighs against.
            let timeline: Vec<String> = (0..rng.below(40))
                .map(|_| format!("{}:{:02} PDT: {} {}", rng.below(24), rng.below(60), rng.pick(SYMPTOMS), rng.pick(MITIGATIONS)))
                .collect();
            let body = format!(
                "{BOILERPLATE}\n\nDetailed description of impact: from 0{}:{:02} to 1{}:{:02} PDT, {}% of {product} \
                 requests in {region} {symptom}.\n\nRoot cause: {cause} {second}\n\nTimeline:\n{}\n\nRemediation: {} {}\n\n{BOILERPLATE}",
                rng.below(10),
                rng.below(60),
                rng.below(10),
                rng.below(60),
                1 + rng.below(90),
                timeline.join("\n"),
                rng.pick(MITIGATIONS),
                rng.pick(MITIGATIONS),
            );
            let text = format!(
                "---\ntitle: \"{product} incident #{}\"\nsummary: \"{summary}\"\nproduct: {product}\ncategories: [availability]\n---\n{body}\n",
                17000 + i
            );
            (format!("pm-{i:05}.md"), text)
        })
        .collect()
}

fn from_folder(dir: &str) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("--corpus DIR must be a readable folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// The summary of a postmortem: the second line of its text (after the title).
fn summary(e: &Episode) -> Option<String> {
    let head = e.text.split("\n\n").next()?;
    head.lines().nth(1).map(str::to_string)
}

struct Scores {
    top1: usize,
    rr: f64,
}

impl Scores {
    fn add(&mut self, rank: Option<usize>) {
        if rank == Some(0) {
            self.top1 += 1;
        }
        self.rr += rank.filter(|r| *r < 10).map_or(0.0, |r| 1.0 / (r + 1) as f64);
    }
}

#[tokio::main]
async fn main() {
    let files = match arg("--corpus") {
        Some(dir) => from_folder(&dir),
        None => generated(arg("--generated").map_or(2000, |n| n.parse().unwrap())),
    };
    let episodes: Vec<Episode> = files
        .iter()
        .filter_map(|(name, text)| postmortem::parse(text, name, "bench").map_err(|e| eprintln!("{name}: {e}")).ok())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&format!("sqlite://{}/b.db", dir.path().display())).await.unwrap();
    for e in &episodes {
        store.upsert_episode(e, "bench").await.unwrap();
    }
    let index = RecallIndex::open_or_rebuild(&dir.path().join("index"), &store).await.unwrap();

    // Plain BM25: one text field, tantivy's English stemming analyzer, the query's words OR-ed.
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STRING | STORED);
    let body = b.add_text_field(
        "text",
        TEXT.set_indexing_options(
            tantivy::schema::TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let plain = Index::create_in_ram(b.build());
    let mut writer = plain.writer(50_000_000).unwrap();
    for e in &episodes {
        writer.add_document(doc!(id => e.id.clone(), body => e.text.clone())).unwrap();
    }
    writer.commit().unwrap();
    let reader = plain.reader().unwrap();
    let searcher = reader.searcher();
    let parser = QueryParser::for_index(&plain, vec![body]);

    let (mut ours, mut theirs) = (Scores { top1: 0, rr: 0.0 }, Scores { top1: 0, rr: 0.0 });
    let mut queries = 0;
    for e in &episodes {
        let Some(q) = summary(e) else { continue };
        queries += 1;
        let hits =
            index.search(&RecallQuery { text: q.clone(), limit: 10, ..Default::default() }, Timestamp::now()).unwrap();
        ours.add(hits.iter().position(|h| h.episode_id == e.id));
        let cleaned: String = q.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
        let query = parser.parse_query(&cleaned).unwrap();
        let top = searcher.search(&query, &TopDocs::with_limit(10).order_by_score()).unwrap();
        let ids: Vec<String> = top
            .iter()
            .map(|(_, a)| {
                let d: TantivyDocument = searcher.doc(*a).unwrap();
                d.get_first(id).and_then(|v| v.as_str()).unwrap_or("").to_string()
            })
            .collect();
        theirs.add(ids.iter().position(|i| *i == e.id));
    }
    let pct = |n: usize| 100.0 * n as f64 / queries.max(1) as f64;
    println!("{} postmortems, {queries} queries (each one's summary)", episodes.len());
    println!("| ranker | top-1 | MRR@10 |");
    println!("|---|---|---|");
    println!("| obsctl recall | {:.1}% | {:.3} |", pct(ours.top1), ours.rr / queries.max(1) as f64);
    println!("| plain BM25 (tantivy en_stem) | {:.1}% | {:.3} |", pct(theirs.top1), theirs.rr / queries.max(1) as f64);
}
