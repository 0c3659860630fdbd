//! Memory sync with real processes: two `serve` edges on SQLite and a central `serve` on
//! Postgres. What one edge learns is recalled on the other, with its origin; the central is
//! SIGKILLed in the middle of a push and restarted, and nothing is lost or counted twice; a
//! central that answers garbage is refused with the reason and changes nothing.

use obsctl_store::Memory;
use std::path::Path;

use obsctl_core::memory::{Episode, FixStep, exchange};

use crate::support::{
    Serve, api_episode, config_file, eventually, free_port, fresh_postgres, head, head_with_store, obsctl_in, printed,
    serve_in,
};

const TOKEN: &str = "central-token-for-the-tests";

/// `head` naming the instance, with `[memory.sync]` towards `central` when given: each edge
/// syncs with a token of its own, which the central knows as `[[memory.peer]]` (and which
/// opens nothing else there).
fn instance_config(head: String, name: &str, central: Option<u16>) -> String {
    let mut text = head.replace("[memory]\n", &format!("[memory]\ninstance = \"{name}\"\n"));
    text.push_str(&format!("[server]\ntoken = \"{TOKEN}\"\n"));
    if let Some(port) = central {
        text.push_str(&format!(
            "[memory.sync]\nurl = \"http://127.0.0.1:{port}\"\ntoken = \"{}\"\ninterval = \"500ms\"\n",
            sync_token(name)
        ));
    }
    if name == "central" {
        for edge in ["edge-a", "edge-b"] {
            text.push_str(&format!("[[memory.peer]]\ninstance = \"{edge}\"\ntoken = \"{}\"\n", sync_token(edge)));
        }
    }
    text
}

/// An edge's own sync token on the central.
fn sync_token(edge: &str) -> String {
    format!("{edge}-sync-token-0123456789")
}

/// `n` episodes of a restart that fixed the api, as an export file without origin (the
/// importing instance becomes their origin).
fn episodes_file(dir: &Path, n: usize) -> std::path::PathBuf {
    let steps = vec![FixStep { tool: "process.restart".into(), args: serde_json::json!({"service": "api"}) }];
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let mut e = api_episode(&format!("ep-bulk-{i:05}"), steps.clone(), "");
            e.source = String::new();
            exchange::to_line(&e).replace(",\"origin\":\"\",\"source\":\"\"", "")
        })
        .collect();
    let file = dir.join("bulk.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    file
}

async fn recall(port: u16, q: &str) -> Option<Vec<serde_json::Value>> {
    let http = obsctl_host::http_client().build().unwrap();
    let url =
        reqwest::Url::parse_with_params(&format!("http://127.0.0.1:{port}/api/memory/search"), [("q", q)]).ok()?;
    http.get(url).bearer_auth(TOKEN).send().await.ok()?.json().await.ok()
}

async fn api(port: u16, path: &str) -> serde_json::Value {
    let http = obsctl_host::http_client().build().unwrap();
    http.get(format!("http://127.0.0.1:{port}{path}")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap()
}

const POSTMORTEM: &str = "---\ntitle: Payments gateway TLS handshake failures\nsummary: An intermediate certificate expired on the payments gateway and card authorisations failed.\nservice: payments\nfix:\n  - tool: process.restart\n    args: {service: payments}\n---\nThe chain was rebuilt.\n";

#[tokio::test]
async fn what_one_edge_learns_is_recalled_on_the_other_through_a_central_that_crashes() {
    let pg = fresh_postgres().await;
    let central_dir = tempfile::tempdir().unwrap();
    config_file(
        &instance_config(head_with_store("observe", &pg), "central", None),
        "http://127.0.0.1:9",
        central_dir.path(),
    );
    let central_port = free_port();
    let mut central = serve_in(central_dir.path(), central_port);
    let edges: Vec<(tempfile::TempDir, u16)> = ["edge-a", "edge-b"]
        .iter()
        .map(|name| {
            let dir = tempfile::tempdir().unwrap();
            config_file(&instance_config(head("observe"), name, Some(central_port)), "http://127.0.0.1:9", dir.path());
            (dir, free_port())
        })
        .collect();
    let _serves: Vec<Serve> = edges.iter().map(|(dir, port)| serve_in(dir.path(), *port)).collect();
    let (a, b) = (&edges[0], &edges[1]);

    // A postmortem (with the fix it states) imported on edge a is recalled on edge b, with its
    // origin, and b's ledger counts the fix as learned elsewhere.
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("payments-tls.md"), POSTMORTEM).unwrap();
    let out = obsctl_in(a.0.path()).args(["memory", "import"]).arg(folder.path()).output().unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    let hits = eventually(30, "edge b to recall edge a's postmortem", || async {
        recall(b.1, "intermediate certificate expired card authorisations").await.filter(|h| !h.is_empty())
    })
    .await;
    assert_eq!((hits[0]["episode_id"].as_str(), hits[0]["origin"].as_str()), (Some("pm-payments-tls"), Some("edge-a")));
    let ledger = api(b.1, "/api/memory/ledger?cluster=postmortem@payments").await;
    assert_eq!((ledger[0]["attempts"].as_u64(), ledger[0]["remote_attempts"].as_u64()), (Some(1), Some(1)), "{ledger}");
    let status = api(a.1, "/api/memory/sync").await;
    assert_eq!((status["enabled"].as_bool(), status["state"]["last_error"].is_null()), (Some(true), true), "{status}");

    // 3000 more on edge a; the central is SIGKILLed in the middle of taking them.
    const BULK: u64 = 3000;
    let file = episodes_file(folder.path(), BULK as usize);
    let out = obsctl_in(a.0.path()).args(["memory", "import"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    let central_store = obsctl_store::PostgresStore::open(&pg, None).await.unwrap();
    let at_kill = eventually(60, "the central to be in the middle of the push", || async {
        let n = central_store.episode_count().await.unwrap();
        (n > 1 && n < BULK + 1).then_some(n)
    })
    .await;
    central.kill();
    let status = eventually(30, "edge a to see the central gone", || async {
        let s = api(a.1, "/api/memory/sync").await;
        s["state"]["last_error"].as_str().map(|e| (e.to_string(), s["backlog"].as_u64().unwrap_or(0)))
    })
    .await;
    assert!(status.0.contains("cannot reach the central"), "{status:?}");
    assert!(status.1 > 0, "a backlog waits: {status:?}");
    let _central = serve_in(central_dir.path(), central_port);

    // Everything arrives once: the central and edge b hold each episode, and the ledger counted
    // each fix once.
    eventually(90, "edge b to hold every episode", || async {
        let s = api(b.1, "/api/memory/sync").await;
        let pulled = s["state"]["pulled"].as_u64().unwrap_or(0);
        (pulled == BULK + 1).then_some(())
    })
    .await;
    assert_eq!(central_store.episode_count().await.unwrap(), BULK + 1);
    let bulk = central_store.ledger(Some("http-down@api")).await.unwrap();
    assert_eq!((bulk[0].attempts, bulk[0].remote_attempts), (BULK as u32, BULK as u32), "killed at {at_kill}");
    let on_b = api(b.1, "/api/memory/ledger?cluster=http-down@api").await;
    assert_eq!(on_b[0]["attempts"].as_u64(), Some(BULK), "{on_b}");
    let on_a = api(a.1, "/api/memory/sync").await;
    assert_eq!((on_a["backlog"].as_u64(), on_a["state"]["last_error"].as_str()), (Some(0), None), "{on_a}");
    assert_eq!(on_a["state"]["pulled"].as_u64(), Some(0), "edge a never pulls its own back");
    let http = obsctl_host::http_client().build().unwrap();
    let metrics = http.get(format!("http://127.0.0.1:{}/metrics", a.1)).bearer_auth(TOKEN).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    for line in ["obsctl_memory_sync_backlog_episodes 0", "obsctl_memory_sync_episodes_total{direction=\"pushed\"}"] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    assert!(!metrics.contains("obsctl_memory_sync_last_success_timestamp_seconds 0\n"), "{metrics}");

    // On demand: nothing new, nothing doubled.
    let again = obsctl_in(b.0.path()).args(["memory", "sync"]).output().unwrap();
    assert!(again.status.success(), "{}", printed(&again));
    assert!(printed(&again).contains("pushed 0, pulled 0"), "{}", printed(&again));
}

/// A central that is not obsctl (garbage, an error page, an episode that does not match its
/// hash): the sync fails with the reason, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_central_that_answers_garbage_is_refused_and_changes_nothing() {
    use axum::routing::get;
    let bad = std::sync::Arc::new(std::sync::Mutex::new(String::from("hello")));
    let app = {
        let bad = bad.clone();
        axum::Router::new().route(
            "/api/memory/sync/pull",
            get(move || {
                let body = bad.lock().unwrap().clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let edge = tempfile::tempdir().unwrap();
    config_file(&instance_config(head("observe"), "edge-a", Some(port)), "http://127.0.0.1:9", edge.path());
    let sync = |dir: &Path| obsctl_in(dir).args(["memory", "sync"]).output().unwrap();
    let out = sync(edge.path());
    assert_eq!(out.status.code(), Some(1), "{}", printed(&out));
    assert!(printed(&out).contains("something else than obsctl's sync API"), "{}", printed(&out));

    // A well-formed page whose episode was altered on the way: refused by its hash.
    let mut e: Episode = exchange::from_line(&exchange::to_line(&sample())).unwrap();
    e.text = "altered".into();
    *bad.lock().unwrap() =
        serde_json::json!({"episodes": [e], "next": {"stored_at": 5, "id": "x"}, "more": false}).to_string();
    let out = sync(edge.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(printed(&out).contains("does not match its content"), "{}", printed(&out));
    let db = format!("sqlite://{}/obsctl.db", edge.path().display());
    let store = obsctl_store::SqliteStore::open(&db).await.unwrap();
    assert_eq!(store.episode_count().await.unwrap(), 0);
    let state = store.sync_state(&format!("http://127.0.0.1:{port}")).await.unwrap().unwrap();
    assert_eq!((state.pulled_to.stored_at, state.last_success), (0, None), "the cursor did not move");
    assert!(state.last_error.unwrap().contains("does not match"));

    // The same page, intact, twice (a central resending): stored once.
    let good = sample();
    *bad.lock().unwrap() =
        serde_json::json!({"episodes": [good], "next": {"stored_at": 5, "id": "x"}, "more": false}).to_string();
    assert!(sync(edge.path()).status.success());
    let twice = sync(edge.path());
    assert!(printed(&twice).contains("pulled 0, 1 already here"), "{}", printed(&twice));
    assert_eq!(store.episode_count().await.unwrap(), 1);
}

fn sample() -> Episode {
    let text = "---\ntitle: Disk full on build agents\nservice: ci\n---\nbody\n";
    obsctl_core::memory::postmortem::parse(text, "disk.md", "central").unwrap()
}

/// The dashboard's memory page says how sync goes, and says it in red when it fails.
#[tokio::test]
async fn the_memory_page_shows_the_sync_state() {
    let config = instance_config(head("observe"), "edge-a", Some(9));
    let h = crate::support::harness(&config, "http://127.0.0.1:9", &[]).await;
    let page = h.viewer_get("/ui/memory").await;
    assert!(page.contains("Synced with http://127.0.0.1:9: last success never yet"), "{page}");
    let sync = h.rt.memory_sync.clone().unwrap();
    assert!(sync.sync().await.is_err(), "nothing listens on port 9");
    let page = h.viewer_get("/ui/memory").await;
    assert!(page.contains("id=\"sync\" class=\"error\""), "{page}");
    assert!(page.contains("last attempt failed: push") || page.contains("last attempt failed: pull"), "{page}");
}

/// A central stamps what it is pushed with the sender it knows: an edge's own sync token pushes
/// only under its name, never the central's or another edge's, replaces none of another
/// instance's episodes, and opens nothing but sync; what is pushed never counts as verified on
/// the central (issue 26, finding 4).
#[tokio::test]
async fn a_central_takes_each_edge_only_as_itself() {
    use axum::http::{Method, Request, StatusCode};
    use tower::ServiceExt;
    let peer = sync_token("edge-a");
    let config = instance_config(head("auto"), "central", None);
    let h = crate::support::harness(&config, "http://unused", &[]).await;
    let call = |method: Method, path: &str, token: &str, body: Option<serde_json::Value>| {
        let app = obsctl_server::router(h.rt.app_state());
        let mut req = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(body.map(|b| axum::body::Body::from(b.to_string())).unwrap_or_default()).unwrap();
        async move {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default())
        }
    };
    let steps = vec![FixStep { tool: "process.restart".into(), args: serde_json::json!({"service": "api"}) }];
    let push = |instance: &str, e: Episode| serde_json::json!({"instance": instance, "episodes": [e]});
    let path = "/api/memory/sync/push";

    let (status, body) =
        call(Method::POST, path, &peer, Some(push("edge-a", api_episode("ep-a", steps.clone(), "edge-a")))).await;
    assert_eq!((status, body["added"].as_u64()), (StatusCode::OK, Some(1)), "{body}");
    let (status, body) =
        call(Method::POST, path, &peer, Some(push("edge-b", api_episode("ep-b", steps.clone(), "edge-b")))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("wrong_instance")), "{body}");
    // Claiming the central's own origin inside an edge's push.
    let (_, body) =
        call(Method::POST, path, &peer, Some(push("edge-a", api_episode("ep-c", steps.clone(), "central")))).await;
    assert!(body["rejected"][0]["why"].as_str().unwrap().contains("not the pushing instance"), "{body}");
    // Pushing as the central itself, even with the API token.
    let (_, body) =
        call(Method::POST, path, TOKEN, Some(push("central", api_episode("ep-d", steps.clone(), "central")))).await;
    assert!(body["rejected"][0]["why"].as_str().unwrap().contains("cannot push here"), "{body}");
    // Replacing another instance's episode.
    let (_, _) =
        call(Method::POST, path, TOKEN, Some(push("edge-b", api_episode("ep-b", steps.clone(), "edge-b")))).await;
    let mut hijack = api_episode("ep-b", steps.clone(), "edge-a");
    hijack.text = "rewritten by edge-a".into();
    hijack.content_hash = hijack.compute_hash();
    let (_, body) = call(Method::POST, path, &peer, Some(push("edge-a", hijack))).await;
    assert!(body["rejected"][0]["why"].as_str().unwrap().contains("belongs to \"edge-b\""), "{body}");
    assert_ne!(h.rt.store.episode("ep-b").await.unwrap().text, "rewritten by edge-a");
    // Nothing pushed counts as verified here.
    let ledger = h.rt.store.ledger(Some("http-down@api")).await.unwrap();
    assert_eq!((ledger[0].attempts, ledger[0].remote_attempts), (2, 2), "{ledger:#?}");
    // The sync token reads the pull, and opens nothing else.
    let (status, _) = call(Method::GET, "/api/memory/sync/pull", &peer, None).await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in [(Method::GET, "/api/status"), (Method::POST, "/api/actions/act-1/approve")] {
        let (status, body) = call(method, path, &peer, Some(serde_json::json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
    }
}
