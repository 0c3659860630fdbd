//! The Bolt graph backend against a real FalkorDB: the same answers as the embedded graph on
//! the same fixture, and a mirror that degrades to the embedded graph and replays on return.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use obsctl_config::BoltConfig;
use obsctl_core::action::{ActionState, Outcome};
use obsctl_core::incident::IncidentStatus;
use obsctl_store::{BoltGraph, GraphMirror, GraphStore, Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::conformance::open_sqlite;
use crate::fixtures::{action, incident};

/// The test graph server's `host:port`, from `OBSCTL_TEST_BOLT_ADDR`.
fn bolt_address() -> String {
    std::env::var("OBSCTL_TEST_BOLT_ADDR").expect(
        "OBSCTL_TEST_BOLT_ADDR is not set: run scripts/test, which starts FalkorDB with Bolt on 127.0.0.1:17687, \
         or point it at a Bolt server's host:port",
    )
}

/// A database of its own on the test server. FalkorDB ignores the name and keeps one graph, so
/// tests also prefix every name they write with `tag()`, and run in parallel all the same.
fn target(address: String) -> BoltConfig {
    BoltConfig {
        address,
        user: "obsctl".into(),
        password: None,
        database: Some(tag()),
        timeout: Duration::from_secs(3),
        sync_interval: Duration::from_secs(1),
    }
}

/// A prefix no other test run uses.
fn tag() -> String {
    obsctl_store::new_id("t").replace('-', "_")
}

const SERVICES: [&str; 8] = ["web", "api", "auth", "db", "cache", "worker", "queue", "edge"];

/// Dependencies with a diamond and a cycle, every name prefixed with `tag`.
fn dependencies(tag: &str) -> Vec<(String, String)> {
    [
        ("edge", "web"),
        ("web", "api"),
        ("web", "auth"),
        ("api", "db"),
        ("auth", "db"),
        ("api", "cache"),
        ("worker", "queue"),
        ("queue", "db"),
        ("cache", "edge"),
    ]
    .iter()
    .map(|(a, b)| (format!("{tag}{a}"), format!("{tag}{b}")))
    .collect()
}

/// Incidents open and resolved; actions with every outcome, some escalation notices and some
/// still running; names prefixed with `tag`.
async fn fixture(store: &dyn Store, tag: &str) {
    store.set_dependencies(&dependencies(tag)).await.unwrap();
    let outcomes = [Some(Outcome::Fixed), Some(Outcome::NotFixed), Some(Outcome::Partial), None];
    for n in 0..40 {
        let service = format!("{tag}{}", SERVICES[n % SERVICES.len()]);
        let service = service.as_str();
        let mut inc = incident(&format!("{tag}inc-{n:02}"), service, 1_000 + n as i64 * 100);
        if n % 3 == 0 {
            inc.status = IncidentStatus::Resolved;
        }
        store.insert_incident(&inc).await.unwrap();
        for k in 0..(n % 4) {
            let mut a = action(&format!("{tag}act-{n:02}-{k}"), &inc, &format!("plan-{n}"), ActionState::Succeeded);
            a.created_at = obsctl_core::Timestamp(2_000 + (n * 10 + k) as i64);
            a.outcome = outcomes[(n + k) % outcomes.len()];
            if a.outcome.is_none() {
                a.state = ActionState::Running;
            }
            if n % 7 == 0 && k == 0 {
                a.planner = "escalation".into();
            }
            a.args = serde_json::json!({"service": service, "attempt": k, "note": "quoted \"text\" and ünïcode"});
            if n == 5 {
                // Longer than one write may carry to FalkorDB: appended in pieces.
                a.args = serde_json::json!({"script": "é—x".repeat(2_000)});
            }
            store.insert_action(&a).await.unwrap();
        }
    }
}

/// Every query, for every service and incident, on both graphs.
async fn assert_same_answers(embedded: &dyn GraphStore, bolt: &dyn GraphStore, tag: &str) -> usize {
    let mut non_empty = 0;
    for service in SERVICES.map(|s| format!("{tag}{s}")) {
        let service = service.as_str();
        let (e, b) = (embedded.fix_history(service, 50).await.unwrap(), bolt.fix_history(service, 50).await.unwrap());
        assert_eq!(e, b, "fix history of {service}");
        let (e, b) = (embedded.blast_radius(service).await.unwrap(), bolt.blast_radius(service).await.unwrap());
        assert_eq!(e, b, "blast radius of {service}");
        non_empty += usize::from(!e.is_empty());
    }
    for n in 0..40 {
        let id = format!("{tag}inc-{n:02}");
        let (e, b) = (embedded.upstream_failures(&id).await.unwrap(), bolt.upstream_failures(&id).await.unwrap());
        assert_eq!(e, b, "upstream failures of {id}");
        non_empty += usize::from(!e.is_empty());
    }
    non_empty
}

#[tokio::test]
async fn bolt_graph_answers_as_the_embedded_graph_does() {
    let (store, _dir) = open_sqlite().await;
    let tag = tag();
    fixture(store.as_ref(), &tag).await;
    let target = target(bolt_address());
    let mirror = GraphMirror::new(store.clone(), BoltGraph::new(target.clone()));
    mirror.set_dependencies(&dependencies(&tag)).await.unwrap();
    let report = mirror.sync().await.unwrap();
    assert_eq!((report.incidents, report.dependencies), (40, true));
    assert!(mirror.status().serving);

    let direct = BoltGraph::new(target);
    let non_empty = assert_same_answers(store.as_ref(), &direct, &tag).await;
    assert!(non_empty > 30, "the fixture exercises the queries ({non_empty} non-empty answers)");
    // A limit is honoured the same way.
    let api = format!("{tag}api");
    assert_eq!(store.fix_history(&api, 2).await.unwrap(), direct.fix_history(&api, 2).await.unwrap());

    // A second sync copies only the overlap window, and changes nothing.
    mirror.sync().await.unwrap();
    assert_same_answers(store.as_ref(), &direct, &tag).await;

    // New dependencies (the cycle broken) replace the old ones on both graphs.
    let fewer: Vec<_> = dependencies(&tag).into_iter().filter(|(s, _)| !s.ends_with("cache")).collect();
    mirror.set_dependencies(&fewer).await.unwrap();
    assert!(mirror.sync().await.unwrap().dependencies);
    assert_same_answers(store.as_ref(), &direct, &tag).await;
    let web: Vec<_> = direct.blast_radius(&format!("{tag}web")).await.unwrap().into_iter().map(|r| r.depth).collect();
    assert_eq!(web, [1], "only edge depends on web once the cycle through cache is gone");
}

#[tokio::test]
async fn mirror_degrades_to_the_embedded_graph_and_replays_missed_writes() {
    let (store, _dir) = open_sqlite().await;
    let proxy = Proxy::start(bolt_address()).await;
    let target = target(proxy.address.clone());
    let mirror = GraphMirror::new(store.clone(), BoltGraph::new(target.clone()));
    let tag = tag();
    let (service, first, second) = (format!("{tag}api"), format!("{tag}act-1"), format!("{tag}act-2"));
    let api = incident(&format!("{tag}inc"), &service, 1_000);
    store.insert_incident(&api).await.unwrap();
    store.insert_action(&action(&first, &api, "p1", ActionState::Succeeded)).await.unwrap();
    mirror.sync().await.unwrap();
    assert_eq!(mirror.fix_history(&service, 10).await.unwrap().len(), 1);

    // The server goes away: the next sync fails, queries are answered from the journal.
    proxy.cut();
    store.insert_action(&action(&second, &api, "p2", ActionState::Succeeded)).await.unwrap();
    assert!(mirror.sync().await.is_err());
    let status = mirror.status();
    assert!(!status.serving);
    assert!(status.last_error.as_deref().unwrap_or_default().contains("bolt"), "{status:?}");
    assert_eq!(mirror.fix_history(&service, 10).await.unwrap().len(), 2, "answered from the embedded graph");

    // It returns: the missed action is replayed and the server answers again.
    proxy.restore();
    let report = mirror.sync().await.unwrap();
    assert!(report.actions >= 1);
    assert!(mirror.status().serving);
    let direct = BoltGraph::new(target);
    let ids: Vec<_> = direct.fix_history(&service, 10).await.unwrap().into_iter().map(|f| f.action_id).collect();
    assert_eq!(ids, [second, first]);
}

#[tokio::test]
async fn unknown_names_answer_nothing_and_an_unreachable_server_fails_in_time() {
    let graph = BoltGraph::new(target(bolt_address()));
    graph.ensure_indexes().await.unwrap();
    // Twice: creating the indexes again is not an error.
    graph.ensure_indexes().await.unwrap();
    let unknown = tag();
    assert!(graph.fix_history(&unknown, 0).await.unwrap().is_empty());
    assert!(graph.blast_radius(&unknown).await.unwrap().is_empty());
    assert!(graph.upstream_failures(&unknown).await.unwrap().is_empty());
    // Nothing listens here: a clear error within the timeout, not a hang.
    let nowhere = BoltGraph::new(BoltConfig { timeout: Duration::from_millis(500), ..target("127.0.0.1:9".into()) });
    let err = nowhere.blast_radius("api").await.unwrap_err().to_string();
    assert!(err.contains("bolt: connect"), "{err}");
}

#[tokio::test]
async fn a_server_that_never_ends_its_message_is_refused_without_filling_memory() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        // Every connection (the client retries once) gets the same treatment.
        let mut most = 0usize;
        while let Ok(Ok((mut socket, _))) = tokio::time::timeout(Duration::from_secs(2), listener.accept()).await {
            let mut handshake = [0u8; 20];
            socket.read_exact(&mut handshake).await.unwrap();
            socket.write_all(&[0, 0, 4, 5]).await.unwrap(); // Bolt 5.4
            // Then one message of endless full chunks, never the empty chunk that ends it.
            let chunk = [&[0xFFu8, 0xFF][..], &[0u8; 0xFFFF][..]].concat();
            let mut sent = 0usize;
            while sent < 256 << 20 && socket.write_all(&chunk).await.is_ok() {
                sent += chunk.len();
            }
            most = most.max(sent);
        }
        most
    });
    let hostile = BoltGraph::new(BoltConfig { timeout: Duration::from_secs(5), ..target(address) });
    let err = hostile.blast_radius("api").await.unwrap_err().to_string();
    assert!(err.contains("MiB; refused"), "{err}");
    let sent = server.await.unwrap();
    assert!(sent < 128 << 20, "the client kept reading: {sent} bytes");
}

/// A TCP proxy to the graph server that can be cut (every connection dropped, new ones
/// refused) and restored: the server going away and coming back, as the mirror sees it.
struct Proxy {
    address: String,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let (flag, cuts) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let upstream = upstream.clone();
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { address, up, cut }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
