//! The dashboard through `router.oneshot`: logins and sessions, CSRF, roles, every page, the
//! controls going through the agent and the audit log, and the live SSE stream on a socket.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use obsctl_core::action::ActionState;
use obsctl_core::event::Event;
use obsctl_store::ActionFilter;
use tower::ServiceExt;

use crate::support::{API_WITH_FIX, Harness, Target, harness, head};

const PAGES: [&str; 10] = [
    "/ui/overview",
    "/ui/graph",
    "/ui/memory?q=health",
    "/ui/incidents",
    "/ui/approvals",
    "/ui/history",
    "/ui/resources",
    "/ui/audit",
    "/ui/config",
    "/ui/services/api",
];

/// A harness in approve mode with two dashboard users (an operator and a viewer) and a token.
async fn with_users() -> (Target, Harness) {
    let target = Target::start(false).await;
    let users = format!(
        "[[dashboard.user]]\nname = \"alice\"\nrole = \"operator\"\npassword_hash = \"{}\"\n[[dashboard.user]]\nname = \"victor\"\nrole = \"viewer\"\npassword_hash = \"{}\"\n",
        obsctl_server::dashboard::hash_password("alice-pw").unwrap(),
        obsctl_server::dashboard::hash_password("victor-pw").unwrap(),
    );
    let config = format!("{}{API_WITH_FIX}{users}", head("approve"));
    let h = harness(&config, &target.url, &[("OBSCTL_API_TOKEN", "t0ken-for-the-tests")]).await;
    (target, h)
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(
    h: &Harness,
    method: Method,
    uri: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    form: Option<&str>,
) -> Reply {
    send_from(h, None, method, uri, cookie, csrf, form).await
}

/// `send` as if from `peer` (the address the listener would put on the request).
async fn send_from(
    h: &Harness,
    peer: Option<&str>,
    method: Method,
    uri: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    form: Option<&str>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri).header(header::HOST, "127.0.0.1:5555");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("obsctl_session={c}"));
    }
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    if form.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let mut req = req.body(form.map(|f| Body::from(f.to_string())).unwrap_or_else(Body::empty)).unwrap();
    if let Some(peer) = peer {
        let addr: std::net::SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(axum::extract::ConnectInfo(addr));
    }
    let resp = obsctl_server::router(h.rt.app_state()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await.unwrap();
    Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

/// Logs in and returns (session id, CSRF token).
async fn login(h: &Harness, user: &str, password: &str) -> (String, String) {
    let r = send(h, Method::POST, "/ui/login", None, None, Some(&format!("user={user}&password={password}"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let id = cookie.split(';').next().unwrap().trim_start_matches("obsctl_session=").to_string();
    let page = send(h, Method::GET, "/ui/overview", Some(&id), None, None).await;
    let csrf = page.body.split(r#""X-CSRF-Token": ""#).nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(csrf.len(), 64);
    (id, csrf)
}

/// A failing check in approve mode leaves one pending action; returns its id.
async fn pending_action(h: &Harness) -> String {
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    h.rt.agent.handle_incident(&incident.id).await.unwrap();
    let filter = ActionFilter { states: vec![ActionState::PendingApproval], ..Default::default() };
    h.rt.store.list_actions(&filter).await.unwrap().remove(0).id
}

#[tokio::test]
async fn logins_make_strict_http_only_sessions_and_bad_ones_are_refused() {
    let (_t, h) = with_users().await;
    for page in PAGES {
        let r = send(&h, Method::GET, page, None, None, None).await;
        assert_eq!(
            (r.status, r.headers.get(header::LOCATION).map(|l| l.to_str().unwrap())),
            (StatusCode::SEE_OTHER, Some("/ui/login")),
            "{page}"
        );
    }
    let wrong = send(&h, Method::POST, "/ui/login", None, None, Some("user=alice&password=nope")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("wrong user or password"));
    assert!(
        send(&h, Method::GET, "/ui/overview", Some("forged-session"), None, None).await.status == StatusCode::SEE_OTHER
    );
    // The API token logs in too, as an operator.
    let (token_session, _) = login(&h, "", "t0ken-for-the-tests").await;
    let page = send(&h, Method::GET, "/ui/overview", Some(&token_session), None, None).await;
    assert!(page.body.contains("api-token · operator"), "{}", page.body);
    // Logging out needs the CSRF token too, and ends the session.
    let (session, csrf) = login(&h, "victor", "victor-pw").await;
    let refused = send(&h, Method::POST, "/ui/logout", Some(&session), None, Some("_csrf=wrong")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    send(&h, Method::POST, "/ui/logout", Some(&session), None, Some(&format!("_csrf={csrf}"))).await;
    assert_eq!(send(&h, Method::GET, "/ui/overview", Some(&session), None, None).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_page_renders_for_a_viewer_with_secrets_hidden() {
    let (_t, h) = with_users().await;
    pending_action(&h).await;
    let (session, _) = login(&h, "victor", "victor-pw").await;
    for page in PAGES {
        let r = send(&h, Method::GET, page, Some(&session), None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.body);
        assert!(r.body.contains("victor · viewer") && r.body.contains("/ui/assets/htmx-2.0.8.min.js"), "{page}");
        assert!(!r.body.contains("t0ken-for-the-tests") && !r.body.contains("$argon2"), "{page} leaks a secret");
        assert!(!r.body.contains("hx-post"), "{page} offers a viewer a control");
    }
    let overview = send(&h, Method::GET, "/ui/overview", Some(&session), None, None).await.body;
    assert!(overview.contains("<title>Overview · obsctl</title>"), "{overview}");
    assert!(overview.contains(r#"id="svc-api" class="card st-failing""#), "{overview}");
    assert!(overview.contains("<b>1</b> pending approval"), "{overview}");
    // Issue 14: counts read as words, `ok` first.
    assert!(overview.contains("<b>1</b> service</span>"), "{overview}");
    let (ok, failing) =
        (overview.find(r#"data-state="ok""#).unwrap(), overview.find(r#"data-state="failing""#).unwrap());
    assert!(ok < failing, "ok is counted first");
    let grid = send(&h, Method::GET, "/ui/overview/grid", Some(&session), None, None).await.body;
    assert!(grid.contains(r#"id="summary" hx-swap-oob="true""#) && grid.contains(r#"id="svc-api""#), "{grid}");
    let approvals = send(&h, Method::GET, "/ui/approvals", Some(&session), None, None).await.body;
    assert!(
        approvals.contains("http.request") && approvals.contains("would_send"),
        "the dry-run shows what it will do: {approvals}"
    );
    // Issue 14: each step in words, with the evidence behind the plan.
    assert!(approvals.contains(": send an HTTP POST to <code>http://"), "{approvals}");
    assert!(
        approvals.contains("<b>Why:</b> the runbook “poke” from the config matches this incident; never tried"),
        "{approvals}"
    );
    // Issue 14: fix history says which incident each action was for and its state in words.
    let history = send(&h, Method::GET, "/ui/history", Some(&session), None, None).await.body;
    assert!(history.contains("health http-down on api</a> <span class=\"muted\">(open)</span>"), "{history}");
    assert!(history.contains("<td>waiting for approval</td>") && !history.contains("pending_approval"), "{history}");
    // Issue 14: a viewer is told why there are no buttons.
    assert!(approvals.contains("You are signed in as a viewer: an operator approves"), "{approvals}");
    // Issue 14: steps count from 1, out of the plan's, without the plan's id in the text.
    assert!(approvals.contains(">step 1 of 1</span>") && !approvals.contains("step 0"), "{approvals}");
    // Issue 14: times read relative, exact on hover; an open incident says how long it has been.
    let time = regex::Regex::new(
        r#"<time datetime="\d{4}-\d\d-\d\dT[\d:]{8}Z" title="[^"]+ UTC">(just now|\d+ s ago)</time>"#,
    )
    .unwrap();
    let incidents = send(&h, Method::GET, "/ui/incidents", Some(&session), None, None).await.body;
    assert!(time.is_match(&incidents) && incidents.contains(r#"<td class="nowrap">open "#), "{incidents}");
    let id = h.incident().await.id;
    let incident = send(&h, Method::GET, &format!("/ui/incidents/{id}"), Some(&session), None, None).await.body;
    assert!(
        time.is_match(&incident) && !regex::Regex::new(r">\d{4}-\d\d-\d\dT").unwrap().is_match(&incident),
        "{incident}"
    );
    // The audit log links the incident a gate decision was about.
    let audit = send(&h, Method::GET, "/ui/audit", Some(&session), None, None).await.body;
    assert!(audit.contains(&format!(r#"<a data-nav href="/ui/incidents/{id}"><code>{id}</code></a>"#)), "{audit}");
    // One switch shows every timeline entry's data, not a toggle per entry.
    assert!(incident.contains(r#"id="show-data""#) && !incident.contains("<details>"), "{incident}");
    assert!(time.is_match(&history), "{history}");
    assert!(overview.contains(r#"<span class="alarm"><b>down "#), "a failing card says how long: {overview}");
    // A step waiting for a person is not "approved by agent": its why is the gate's.
    assert!(
        incident.contains(r#"<td class="muted">mode approve: waiting for a person</td>"#)
            && !incident.contains("approved by agent"),
        "{incident}"
    );
    // Issue 14: filters live in the URL; an empty result says so and how to get back.
    let only_ok = send(&h, Method::GET, "/ui/overview?state=ok", Some(&session), None, None).await.body;
    assert!(!only_ok.contains(r#"id="svc-api""#) && only_ok.contains("No service matches this filter"), "{only_ok}");
    assert!(
        only_ok.contains(r#"hx-get="/ui/overview/grid?state=ok&#38;q=""#),
        "the refresh keeps the filter: {only_ok}"
    );
    let found = send(&h, Method::GET, "/ui/overview?q=AP", Some(&session), None, None).await.body;
    assert!(found.contains(r#"id="svc-api""#) && found.contains(r#"<label for="find">"#), "{found}");
    // Issue 14: the graph as a picture; the failing api is its own root cause.
    let graph = send(&h, Method::GET, "/ui/graph", Some(&session), None, None).await.body;
    assert!(
        graph.contains(r#"<a href="/ui/services/api" class="node st-failing cause" data-service="api">"#),
        "{graph}"
    );
    assert!(graph.contains(r#"<ul id="root-causes"><li><a href="/ui/services/api">api</a></li></ul>"#), "{graph}");
    let config = send(&h, Method::GET, "/ui/config", Some(&session), None, None).await.body;
    assert!(config.contains("***"), "secrets show as ***");
    let unknown = send(&h, Method::GET, "/ui/services/ghost", Some(&session), None, None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn controls_need_an_operator_and_the_csrf_token_and_are_audited() {
    let (target, h) = with_users().await;
    let action = pending_action(&h).await;
    let approve = format!("/ui/actions/{action}/approve");
    let (viewer, viewer_csrf) = login(&h, "victor", "victor-pw").await;
    let (operator, csrf) = login(&h, "alice", "alice-pw").await;

    let as_viewer = send(&h, Method::POST, &approve, Some(&viewer), Some(&viewer_csrf), Some("reason=ok")).await;
    assert_eq!(as_viewer.status, StatusCode::FORBIDDEN);
    assert!(as_viewer.body.contains("operator role"));
    let no_csrf = send(&h, Method::POST, &approve, Some(&operator), None, Some("reason=ok")).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let wrong_csrf = send(&h, Method::POST, &approve, Some(&operator), Some(&viewer_csrf), Some("reason=ok")).await;
    assert_eq!(wrong_csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(h.rt.store.action(&action).await.unwrap().state, ActionState::PendingApproval, "nothing changed");

    let ok = send(&h, Method::POST, &approve, Some(&operator), Some(&csrf), Some("reason=looks+right")).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.contains("Nothing waits for approval"), "{}", ok.body);
    // Issue 14: the decided plan stays on the card, followed until its outcome.
    let follows = |body: &str, words: &str| {
        body.contains(r#"<article class="plan followed""#)
            && body.contains(&format!(r#"<p class="outcome" role="status">{words}"#))
    };
    assert!(follows(&ok.body, "approved by alice · waiting to run…"), "{}", ok.body);
    let approved = h.rt.store.action(&action).await.unwrap();
    assert_eq!((approved.state, approved.decided_by.as_deref()), (ActionState::Approved, Some("ui:alice")));
    let audit = h.rt.store.audit_log(10).await.unwrap();
    assert!(
        audit.iter().any(|r| r.actor == "ui:alice" && r.action == "approve" && r.reason == "looks right"),
        "{audit:#?}"
    );
    let mut bus = h.rt.bus.subscribe();
    h.rt.agent.run_approved().await.unwrap();
    assert_eq!(target.fixes(), 1, "the approved plan ran");
    let queue = send(&h, Method::GET, "/ui/approvals/list", Some(&operator), None, None).await.body;
    assert!(follows(&queue, "approved by alice · ran · verified: fixed"), "{queue}");
    // The followed card learns of the outcome live: an action change is announced once the
    // outcome is written, after the check's recovery (found by the browser test waiting in vain
    // under load: nothing told the approvals page, and it showed "verifying" until another
    // plan happened to change).
    let events: Vec<Event> = std::iter::from_fn(|| bus.try_recv().ok()).collect();
    let recovered = events.iter().position(|e| matches!(e, Event::IncidentResolved { .. })).expect("resolved");
    let last_change = events.iter().rposition(|e| matches!(e, Event::ActionChanged { .. })).expect("changed");
    assert!(last_change > recovered, "no action change after the recovery: {events:#?}");

    // Run now, silence and resolve, each through the agent.
    let run = send(&h, Method::POST, "/ui/checks/api/health/run", Some(&operator), Some(&csrf), None).await;
    assert!(run.body.contains("ok in") && run.body.contains("now ok"), "{}", run.body);
    let silence = send(
        &h,
        Method::POST,
        "/ui/silences",
        Some(&operator),
        Some(&csrf),
        Some("service=api&duration=2h&reason=deploy"),
    )
    .await;
    assert!(silence.body.contains("silenced until"), "{}", silence.body);
    let bad =
        send(&h, Method::POST, "/ui/silences", Some(&operator), Some(&csrf), Some("service=api&duration=2&reason=x"))
            .await;
    assert!(bad.body.contains("class=\"error\"") && bad.body.contains("unit"), "{}", bad.body);
    assert!(h.rt.store.audit_log(20).await.unwrap().iter().any(|r| r.actor == "ui:alice" && r.action == "silence"));

    // Resolve by hand needs a note, and records who and why.
    target.set_healthy(false);
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let resolve = format!("/ui/incidents/{}/resolve", incident.id);
    let no_note = send(&h, Method::POST, &resolve, Some(&operator), Some(&csrf), Some("note=")).await;
    assert!(no_note.body.contains("a note must say why"), "{}", no_note.body);
    let done = send(&h, Method::POST, &resolve, Some(&operator), Some(&csrf), Some("note=rolled+back")).await;
    assert_eq!(done.headers.get("hx-refresh").map(|v| v.to_str().unwrap()), Some("true"));
    let resolved = h.rt.store.incident(&incident.id).await.unwrap();
    assert_eq!(resolved.status, obsctl_core::incident::IncidentStatus::Resolved);
    assert!(resolved.resolution.unwrap_or_default().contains("rolled back"));
}

#[tokio::test]
async fn reject_needs_a_reason_and_is_recorded() {
    let (_t, h) = with_users().await;
    let action = pending_action(&h).await;
    let (operator, csrf) = login(&h, "alice", "alice-pw").await;
    let reject = format!("/ui/actions/{action}/reject");
    let empty = send(&h, Method::POST, &reject, Some(&operator), Some(&csrf), Some("reason=")).await;
    assert!(empty.body.contains("say why it is rejected") && empty.body.contains(&action), "{}", empty.body);
    let done = send(&h, Method::POST, &reject, Some(&operator), Some(&csrf), Some("reason=not+during+peak")).await;
    assert!(done.body.contains("Nothing waits for approval"));
    let a = h.rt.store.action(&action).await.unwrap();
    assert_eq!((a.state, a.reason.as_str()), (ActionState::Rejected, "not during peak"));
}

#[tokio::test]
async fn without_credentials_the_dashboard_is_read_only() {
    let target = Target::start(false).await;
    let h = harness(&format!("{}{API_WITH_FIX}", head("approve")), &target.url, &[]).await;
    let page = send(&h, Method::GET, "/ui/overview", None, None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Read-only: no dashboard user or API token"), "{}", page.body);
    let control = send(&h, Method::POST, "/ui/checks/api/health/run", None, Some(""), None).await;
    assert_eq!(control.status, StatusCode::SEE_OTHER, "controls need a login, which cannot exist");
}

#[tokio::test]
async fn state_changes_stream_to_browsers_as_rendered_cards() {
    let target = Target::start(true).await;
    let mut h = harness(&format!("{}{API_WITH_FIX}", head("approve")), &target.url, &[]).await;
    h.rt.start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(obsctl_server::serve(listener, obsctl_server::router(h.rt.app_state()), std::future::pending()));
    let mut stream = reqwest::get(format!("http://{addr}/ui/events")).await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    while h.rt.ui.live.listeners() == 0 {
        tokio::task::yield_now().await;
    }
    target.set_healthy(false);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains("st-failing") {
        let chunk =
            tokio::time::timeout_at(deadline, stream.chunk()).await.expect("a card within 20 s").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: card") && seen.contains(r#"id="svc-api""#) && seen.contains("hx-swap-oob"), "{seen}");
    // Issue 14: the plan it waits on moves the overview's pending-approval count live.
    while !seen.contains(r#"<span id="pending-count" hx-swap-oob="true"><a href="/ui/approvals"><b>1</b>"#) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no live pending count within 20 s: {seen}"))
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    h.rt.stop().await;
}

#[tokio::test]
async fn memory_search_finds_a_remembered_fix_and_explains_it() {
    let (_target, h) = with_users().await;
    let action = pending_action(&h).await;
    let incident = h.rt.store.action(&action).await.unwrap().incident_id;
    h.rt.agent.approve(&action, "test", "ok").await.unwrap();
    h.rt.agent.run_approved().await.unwrap();
    // Remembered as the verified fix resolved it (a second call records nothing new).
    h.rt.agent.remember(&incident).await.unwrap();
    assert_eq!(h.rt.store.episode_count().await.unwrap(), 1);
    let (session, _) = login(&h, "victor", "victor-pw").await;
    let found = send(&h, Method::GET, "/ui/memory?q=api+health+status+500", Some(&session), None, None).await.body;
    assert!(found.contains("http-down on api") && found.contains("http.request (fixed)"), "{found}");
    assert!(found.contains("1 remembered incidents"), "{found}");
    let none = send(&h, Method::GET, "/ui/memory?q=certificate+expiry+on+ldap", Some(&session), None, None).await.body;
    assert!(none.contains("No similar incident"), "{none}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_refused_cheaply_while_a_real_login_succeeds() {
    let (_t, h) = with_users().await;
    let h = std::sync::Arc::new(h);
    let started = std::time::Instant::now();
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                let user = if i % 2 == 0 { "mallory".to_string() } else { format!("nobody{i}") };
                send(&h, Method::POST, "/ui/login", None, None, Some(&format!("user={user}&password=guess{i}")))
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for f in flood {
        *statuses.entry(f.await.unwrap().as_u16()).or_insert(0) += 1;
    }
    let flood_time = started.elapsed();
    // Most guesses never reach argon2: refused at once (429), and none got in.
    assert!(statuses.get(&429).copied().unwrap_or(0) >= 150, "{statuses:?}");
    assert_eq!(statuses.get(&303), None, "{statuses:?}");
    // A real login right after the flood gets in within a second.
    let real = std::time::Instant::now();
    let r = send(&h, Method::POST, "/ui/login", None, None, Some("user=victor&password=victor-pw")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let real = real.elapsed();
    assert!(real < std::time::Duration::from_secs(1), "{real:?}");
    // Five failures in a row lock a name out, even for its right password, with Retry-After.
    for i in 0..5 {
        let r = send(&h, Method::POST, "/ui/login", None, None, Some(&format!("user=alice&password=wrong{i}"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = send(&h, Method::POST, "/ui/login", None, None, Some("user=alice&password=alice-pw")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.contains_key(header::RETRY_AFTER) && r.body.contains("too many failed logins"), "{}", r.body);
    println!("login flood: 200 requests in {flood_time:?}: {statuses:?}; a real login after it took {real:?}");
}

#[tokio::test]
async fn an_address_that_keeps_failing_is_locked_out_whatever_names_it_tries() {
    let (_t, h) = with_users().await;
    let guesser = Some("10.9.8.7:40000");
    for i in 0..20 {
        let body = format!("user=name{i}&password=guess");
        let r = send_from(&h, guesser, Method::POST, "/ui/login", None, None, Some(&body)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}: {}", r.body);
    }
    // The 21st try is refused before any password check, even with a right password.
    let r = send_from(&h, guesser, Method::POST, "/ui/login", None, None, Some("user=victor&password=victor-pw")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("from your address"), "{}", r.body);
    let retry: u64 = r.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((25..=31).contains(&retry), "{retry}");
    // The same user from elsewhere still gets in.
    let elsewhere = Some("10.9.8.6:40000");
    let r =
        send_from(&h, elsewhere, Method::POST, "/ui/login", None, None, Some("user=victor&password=victor-pw")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn the_config_page_shows_no_credential_of_any_kind() {
    let target = Target::start(true).await;
    let config = format!(
        r#"{}
[notify.webhook]
url = "{{url}}/hook/wh-secret-path"
[notify.ntfy]
topic = "topic-secret-name"
[[service]]
name = "web"
process = {{ run = ["sleep", "1"], env = {{ DB_URL = "postgres://u:env-secret-pw@db/x" }} }}
  [[service.check]]
  name = "health"
  kind = "http"
  url = "{{url}}/health?token=query-secret-value"
  headers = {{ Authorization = "Bearer header-secret-value" }}
[[runbook]]
name = "hook"
when = {{ incident = "http-down" }}
steps = [{{ tool = "http.request", args = {{ url = "{{url}}/fix", headers = {{ X-Api-Key = "${{HOOK_API_KEY}}" }} }} }}]
"#,
        head("approve")
    );
    let h = harness(
        &config,
        &target.url,
        &[("HOOK_API_KEY", "interpolated-secret"), ("OBSCTL_API_TOKEN", "t0ken-for-the-tests")],
    )
    .await;
    let id = h.rt.app_state().ui.sessions.create("victor", obsctl_config::Role::Viewer);
    let page = send(&h, Method::GET, "/ui/config", Some(&id), None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("/health?token=***"), "{}", page.body);
    for secret in [
        "wh-secret-path",
        "topic-secret-name",
        "env-secret-pw",
        "query-secret-value",
        "header-secret-value",
        "interpolated-secret",
        "t0ken-for-the-tests",
    ] {
        assert!(!page.body.contains(secret), "{secret} is on the config page");
    }
}

/// Issue 14: the public status page. Off by default (404); once configured, anyone sees the
/// chosen services' state, uptime and which have ongoing incidents (titles where the operator
/// opts in), even with credentials set, and nothing more (no detail, no address, no link into
/// the dashboard).
#[tokio::test]
async fn the_status_page_is_public_once_configured_and_shows_only_state_uptime_and_incidents() {
    let (_t, h) = with_users().await;
    let off = send(&h, Method::GET, "/status", None, None, None).await;
    assert_eq!(off.status, StatusCode::NOT_FOUND);

    let target = Target::start(true).await;
    let page = "[dashboard.status_page]\ntitle = \"Acme status\"\n";
    let config = format!("{}{API_WITH_FIX}{page}", head("approve"));
    let h = harness(&config, &target.url, &[("OBSCTL_API_TOKEN", "t0ken-for-the-tests")]).await;
    assert!(h.run("api/health").await && h.run("api/health").await);
    target.set_healthy(false);
    assert!(!h.run("api/health").await);
    h.rt.monitor.flush().await;
    let incident = h.incident().await;

    let r = send(&h, Method::GET, "/status", None, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let body = r.body;
    assert!(body.contains("<title>Acme status</title>") && body.contains(">Major outage</p>"), "{body}");
    assert!(body.contains(r#"<span class="badge st-failing">down</span>"#), "{body}");
    // Two passes out of three runs today: 66.7% over each window, and a red day in the bar.
    assert_eq!(body.matches(r#"<td class="num">66.7%</td>"#).count(), 3, "{body}");
    let today = obsctl_core::Timestamp::now().rfc3339();
    assert!(body.contains(&format!(r#"<i class="u-bad" title="{}: 66.7%"></i></span>"#, &today[..10])), "{body}");
    // The incident in the operator's words: which service; its title (which may be a sender's
    // words: an alert's summary, an app's report) only where the operator opts in (issue 26,
    // finding 11).
    assert!(body.contains("<b>api is affected; we are looking into it</b>"), "{body}");
    for private in
        [incident.title.as_str(), incident.detail.as_str(), &target.url, "/ui/incidents/", "hx-post", "t0ken"]
    {
        assert!(!body.contains(private), "the public page shows {private:?}: {body}");
    }
    let titled = config.replace(page, &format!("{page}show_titles = true\n"));
    let shown = harness(&titled, &target.url, &[]).await;
    assert!(!shown.run("api/health").await);
    let body = send(&shown, Method::GET, "/status", None, None, None).await.body;
    assert!(body.contains(&format!("<b>{}</b>", shown.incident().await.title)), "{body}");

    // The service page: uptime per window, the range in the URL, percentiles over it.
    let (session, _) = login(&h, "", "t0ken-for-the-tests").await;
    let page = send(&h, Method::GET, "/ui/services/api?range=7d", Some(&session), None, None).await.body;
    assert!(page.contains(r#"<a href="?range=7d#history" aria-current="page" class="on">7d</a>"#), "{page}");
    assert_eq!(page.matches(r#"<td class="num">66.7%</td>"#).count(), 3, "{page}");
    assert!(page.contains(r#"<i class="u-bad" title=""#), "a red block in the 7-day bar: {page}");
    assert!(regex::Regex::new(r"p50 [\d.]+ ms · p95 [\d.]+ ms · p99 [\d.]+ ms").unwrap().is_match(&page), "{page}");
    // A young check (all its runs in one block) still shows its latest results' latency (or, if
    // the three runs straddled the turn of a block, the percentiles over both).
    assert!(
        page.contains("latency of the last 3 results: the range has runs in one 6-hour block only")
            || page.contains(r#"<span class="k p50">p50</span>"#),
        "{page}"
    );
    // No telemetry section where neither reports nor the receiver are used.
    assert!(!page.contains(r#"id="telemetry""#), "{page}");
    let unknown_range = send(&h, Method::GET, "/ui/services/api?range=1y", Some(&session), None, None).await.body;
    assert!(unknown_range.contains(r#"aria-current="page" class="on">24h</a>"#), "an unknown range falls back to 24 h");
}
