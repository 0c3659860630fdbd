//! The dashboard in a real headless Chromium, driven over WebDriver: log in, watch a service
//! turn red live (SSE, no reload), approve a pending fix and watch the incident resolve, reject
//! another, and check that a viewer cannot act and a CSRF-less POST is refused. The operator
//! test also takes the README's screenshot (`OBSCTL_UPDATE_SCREENSHOT=1 scripts/test browser`).

use crate::support::{Harness, Target, harness, head};
use crate::webdriver::Browser;

/// Eight services on the target: `api` is the one that breaks (approve mode, a runbook that
/// POSTs /fix); the rest are TCP checks, one of them against a closed port.
fn config(target: &Target, closed: std::net::SocketAddr) -> String {
    let addr = target.url.trim_start_matches("http://");
    let mut text = format!(
        "{}[[service]]\nname = \"api\"\ndepends_on = [\"db\", \"cache\"]\n  [[service.check]]\n  name = \"health\"\n  kind = \"http\"\n  url = \"{{url}}/health\"\n  interval = \"500ms\"\n  timeout = \"400ms\"\n  fail_after = 1\n  recover_after = 1\n",
        head("approve")
    );
    for (name, deps, at) in [
        ("web", "[\"api\"]", addr.to_string()),
        ("db", "[]", addr.to_string()),
        ("cache", "[]", addr.to_string()),
        ("queue", "[]", addr.to_string()),
        ("search", "[\"db\"]", addr.to_string()),
        ("worker", "[\"queue\"]", addr.to_string()),
        ("mailer", "[]", closed.to_string()),
    ] {
        text.push_str(&format!(
            "[[service]]\nname = \"{name}\"\ndepends_on = {deps}\n  [[service.check]]\n  name = \"port\"\n  kind = \"tcp\"\n  address = \"{at}\"\n  interval = \"500ms\"\n  fail_after = 1\n"
        ));
    }
    text.push_str(
        "[[runbook]]\nname = \"poke\"\nwhen = { incident = \"http-down\", service = \"api\" }\nsteps = [{ tool = \"http.request\", args = { url = \"{url}/fix\", method = \"POST\" } }]\ncooldown = \"0s\"\n",
    );
    text.push_str(&format!(
        "[[dashboard.user]]\nname = \"alice\"\nrole = \"operator\"\npassword_hash = \"{}\"\n[[dashboard.user]]\nname = \"victor\"\nrole = \"viewer\"\npassword_hash = \"{}\"\n",
        obsctl_server::dashboard::hash_password("alice-pw").unwrap(),
        obsctl_server::dashboard::hash_password("victor-pw").unwrap(),
    ));
    text.push_str("[dashboard.status_page]\ntitle = \"Example status\"\n");
    text
}

/// Keeps a screenshot in the target folder and, with `OBSCTL_UPDATE_SCREENSHOT=1`, in `docs/`
/// for the README.
fn keep_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}: not a screenshot");
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name), png).unwrap();
    if std::env::var_os("OBSCTL_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name), png).unwrap();
    }
}

/// The runtime running (scheduler, agent, live hub) and the HTTP surface on a real port.
async fn serving() -> (Target, Harness, String) {
    let target = Target::start(true).await;
    let closed = crate::support::closed_addr();
    let mut h = harness(&config(&target, closed), &target.url, &[("OBSCTL_API_TOKEN", "t0ken-for-the-tests")]).await;
    h.rt.start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(obsctl_server::serve(listener, obsctl_server::router(h.rt.app_state()), std::future::pending()));
    (target, h, base)
}

/// Waits until the page's event stream is open (the header's live dot), so what follows is not
/// raced by the lists' reload on connect.
async fn wait_live(b: &Browser) {
    b.wait_until("return document.body.dataset.live === 'yes'", 15, "the live stream connects").await;
}

async fn log_in(b: &Browser, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/ui/login")).await;
    b.type_into("input[name=user]", user).await;
    b.type_into("input[name=password]", password).await;
    b.click("button[type=submit]").await;
    b.wait_until(&format!("return document.querySelector('#who')?.textContent.startsWith('{user}')"), 10, "logged in")
        .await;
}

/// JS: the state of a service's card.
fn card_state(service: &str) -> String {
    format!("return document.getElementById('svc-{service}')?.dataset.state")
}

#[tokio::test]
async fn an_operator_watches_a_service_fail_live_then_approves_and_rejects_fixes() {
    let (target, h, base) = serving().await;
    let b = Browser::start().await;
    log_in(&b, &base, "alice", "alice-pw").await;
    b.wait_until(&format!("{} === 'ok'", card_state("api")), 15, "api shows ok").await;
    b.wait_until(&format!("{} === 'failing'", card_state("mailer")), 15, "mailer shows failing").await;
    // Mark the page: a reload would lose the mark.
    b.eval("window.__kept = true; return true").await;
    wait_live(&b).await;

    target.set_healthy(false);
    b.wait_until(&format!("{} === 'failing'", card_state("api")), 30, "api turns red without a reload").await;
    assert_eq!(b.eval("return window.__kept === true").await, true, "the page was not reloaded");
    let failing = "return document.querySelector('#summary [data-state=failing] b').textContent === '2'";
    b.wait_until(failing, 15, "the counts follow the live cards").await;
    // The README's screenshot: the overview with one service failing and one down.
    keep_screenshot("dashboard.png", &b.screenshot().await);
    // Dark and light: the toggle flips the theme and the colours with it.
    let background = "return getComputedStyle(document.body).backgroundColor";
    let before = b.eval(background).await;
    b.click("header button[title='light or dark']").await;
    assert_ne!(b.eval(background).await, before, "the theme toggle changes the colours");
    // On a phone the page reflows instead of scrolling sideways.
    b.resize(390, 844).await;
    b.wait_until("return document.documentElement.scrollWidth <= window.innerWidth", 5, "no sideways scroll at 390 px")
        .await;
    b.resize(1280, 900).await;

    // The agent proposes the runbook; approve it in the queue and watch the incident resolve.
    b.goto(&format!("{base}/ui/approvals")).await;
    wait_live(&b).await;
    b.type_into("article.pending input[name=reason]", "the runbook is safe").await;
    keep_screenshot("approvals.png", &b.screenshot().await);
    b.click("article.pending button.primary").await;
    b.wait_until("return document.getElementById('queue-empty') !== null", 30, "the queue empties").await;
    // The approved plan stays on the page and shows its outcome when it comes, without a reload.
    let verified =
        "return document.querySelector('article.followed .outcome')?.textContent.includes('verified: fixed')";
    b.wait_until(verified, 30, "the approved plan is followed to its outcome").await;
    let incident =
        h.rt.store.list_incidents(&Default::default()).await.unwrap().into_iter().find(|i| i.service == "api").unwrap();
    b.goto(&format!("{base}/ui/incidents/{}", incident.id)).await;
    // The incident page follows SSE too, so this also passes when the fix lands after it opened.
    b.eval("window.__kept = true; return true").await;
    let resolved = "return document.getElementById('incident-status')?.textContent === 'resolved'";
    b.wait_until(resolved, 30, "the approved fix resolves the incident").await;
    assert_eq!(b.eval("return window.__kept === true").await, true, "without a reload");
    assert!(target.fixes() >= 1);
    let audit = h.rt.store.audit_log(50).await.unwrap();
    assert!(audit.iter().any(|r| r.actor == "ui:alice" && r.action == "approve"), "{audit:#?}");

    // It breaks again; this time the operator rejects the fix, with a reason.
    target.state.fix_works.store(false, std::sync::atomic::Ordering::SeqCst);
    target.set_healthy(false);
    b.goto(&format!("{base}/ui/approvals")).await;
    wait_live(&b).await;
    b.type_into("article.pending input[name=reason]", "not during the deploy").await;
    // A live refresh of the queue while a reason is being typed keeps what was typed (under
    // load one came in between typing and clicking, and the reject went out with no reason).
    b.eval("document.querySelector('article.pending').dataset.old = 'yes'; return true").await;
    b.eval("htmx.trigger(document.body, 'htmx:sseOpen'); return true").await;
    b.wait_until(
        "return document.querySelector('article.pending')?.dataset.old === undefined",
        10,
        "the queue refreshes",
    )
    .await;
    let typed = b.eval("return document.querySelector('article.pending input[name=reason]').value").await;
    assert_eq!(typed, "not during the deploy", "a refresh lost the typed reason");
    b.click("article.pending button.danger").await;
    b.wait_until("return document.getElementById('queue-empty') !== null", 30, "the rejected plan leaves the queue")
        .await;
    let audit = h.rt.store.audit_log(50).await.unwrap();
    assert!(audit.iter().any(|r| r.actor == "ui:alice" && r.action == "reject" && r.reason == "not during the deploy"));
    b.close().await;
}

#[tokio::test]
async fn a_viewer_cannot_approve_and_a_post_without_the_csrf_token_is_refused() {
    let (target, h, base) = serving().await;
    target.set_healthy(false);
    let b = Browser::start().await;
    log_in(&b, &base, "victor", "victor-pw").await;
    b.goto(&format!("{base}/ui/approvals")).await;
    b.wait_until("return document.querySelector('article.pending') !== null", 20, "a plan waits for approval").await;
    assert_eq!(
        b.eval("return document.querySelectorAll('article.pending button').length").await,
        0,
        "no buttons for a viewer"
    );
    let action = b.eval("return document.querySelector('article.pending').dataset.action").await;
    let action = action.as_str().unwrap();
    // Even with the page's own CSRF token, a viewer's approval is refused.
    let csrf_post = format!(
        "const done = arguments[arguments.length - 1]; return fetch('/ui/actions/{action}/approve', {{method: 'POST', headers: {{'X-CSRF-Token': JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']}}}}).then(r => r.status)"
    );
    assert_eq!(b.eval(&csrf_post).await, 403);
    b.close().await;

    // An operator's session without the token (a forged cross-site form) is refused too.
    let b = Browser::start().await;
    log_in(&b, &base, "alice", "alice-pw").await;
    let forged = format!(
        "return fetch('/ui/actions/{action}/approve', {{method: 'POST', body: new URLSearchParams('reason=x')}}).then(r => r.status)"
    );
    assert_eq!(b.eval(&forged).await, 403);
    let state = h.rt.store.action(action).await.unwrap().state;
    assert_eq!(state, obsctl_core::action::ActionState::PendingApproval, "nothing was approved");
    b.close().await;
}

/// JS: the controls (inputs, selects, buttons) without an accessible name.
const UNLABELLED: &str = r#"return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')].filter(e => {
  if (e.tagName === 'BUTTON') return !(e.textContent.trim() || e.title || e.getAttribute('aria-label'));
  return !(e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby'));
}).map(e => e.outerHTML.slice(0, 80))"#;

/// JS: state badges whose text has less than 4.5:1 contrast with their background (WCAG AA).
/// The innermost elements that reach past the viewport's right edge, or whose text spills out of
/// their box past it, as `tag.class "text"`.
const TOO_WIDE: &str = "const w = window.innerWidth; const past = e => e.getBoundingClientRect().right > w + 1 \
    || e.getBoundingClientRect().left + e.scrollWidth > w + 1; return [...document.querySelectorAll('body *')]\
    .filter(e => past(e) && ![...e.children].some(past))\
    .slice(0, 5).map(e => `${e.tagName.toLowerCase()}.${e.className} ${JSON.stringify((e.textContent || '').slice(0, 80))}`)";

const LOW_CONTRAST: &str = r#"const lum = c => { const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
return [...document.querySelectorAll('.badge')].filter(e => e.offsetParent).map(e => { const s = getComputedStyle(e); const [a, b] = [lum(s.color), lum(s.backgroundColor)].sort((x, y) => y - x); return [e.textContent, (a + 0.05) / (b + 0.05)]; }).filter(([, r]) => r < 4.5)"#;

/// Issue 14: each main page as a person meets it: in light and dark, at a phone's width, with
/// labelled controls, readable state colours and a visible keyboard focus; the graph picture's
/// services open their pages; the status page needs no login. Screenshots for the README.
#[tokio::test]
async fn every_page_reads_well_in_both_themes_at_any_width_and_by_keyboard() {
    let (target, h, base) = serving().await;
    target.set_healthy(false);
    let b = Browser::start().await;
    // Logged out: the public status page, and nothing else.
    b.goto(&format!("{base}/status")).await;
    b.wait_until(
        "return document.querySelectorAll('table.status tr[data-service]').length === 8",
        10,
        "eight services",
    )
    .await;
    b.goto(&format!("{base}/status")).await;
    b.wait_until(
        "return document.getElementById('headline').textContent !== 'All systems operational'",
        20,
        "the outage shows",
    )
    .await;
    assert_eq!(b.eval("return document.querySelector('header nav') === null").await, true, "no dashboard navigation");
    keep_screenshot("status.png", &b.screenshot().await);
    b.goto(&format!("{base}/ui/overview")).await;
    b.wait_until("return location.pathname === '/ui/login'", 10, "the dashboard still needs a login").await;

    log_in(&b, &base, "alice", "alice-pw").await;
    let incident = loop {
        let open = h.open_incidents().await;
        if let Some(i) = open.into_iter().find(|i| i.service == "api") {
            break i;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let pages = [
        ("/ui/overview".to_string(), None),
        ("/ui/graph".to_string(), Some("graph.png")),
        ("/ui/incidents".to_string(), None),
        (format!("/ui/incidents/{}", incident.id), Some("incident.png")),
        ("/ui/approvals".to_string(), None),
        ("/ui/history".to_string(), None),
        ("/ui/memory".to_string(), None),
        ("/ui/resources".to_string(), None),
        ("/ui/audit".to_string(), None),
        ("/ui/config".to_string(), None),
        ("/ui/services/api".to_string(), Some("service.png")),
        ("/status".to_string(), None),
    ];
    for (page, screenshot) in &pages {
        b.goto(&format!("{base}{page}")).await;
        // Found here: pages kept for the back button held their live streams open, and from the
        // seventh page on a navigation queued for a free connection for about a minute.
        let queued =
            "const n = performance.getEntriesByType('navigation')[0]; return n.domainLookupStart - n.fetchStart";
        let queued = b.eval(queued).await.as_f64().unwrap_or(f64::MAX);
        assert!(queued < 5000.0, "{page}: the request waited {queued} ms for a connection");
        b.wait_until("return document.readyState === 'complete'", 10, "the page loads").await;
        assert_eq!(b.eval(UNLABELLED).await, serde_json::json!([]), "{page}: controls without a label");
        if let Some(name) = screenshot {
            keep_screenshot(name, &b.screenshot().await);
        }
        for theme in ["light", "dark"] {
            b.eval(&format!("document.documentElement.dataset.theme = '{theme}'; return true")).await;
            assert_eq!(b.eval(LOW_CONTRAST).await, serde_json::json!([]), "{page} in {theme}: badges below 4.5:1");
        }
        b.eval("delete document.documentElement.dataset.theme; return true").await;
        b.resize(390, 844).await;
        let fits = "return document.documentElement.scrollWidth <= window.innerWidth";
        if !b.holds_within(fits, 5).await {
            panic!("{page}: sideways scroll at 390 px, from {}", b.eval(TOO_WIDE).await);
        }
        b.resize(1280, 900).await;
        // The keyboard's focus is always visible.
        b.eval("document.activeElement?.blur(); return true").await;
        b.press("\u{E004}").await;
        let outline = "const s = getComputedStyle(document.activeElement); return document.activeElement !== document.body && s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2";
        b.wait_until(outline, 5, &format!("{page}: Tab shows where the focus is")).await;
    }
    // Keys: "j" and "k" walk the list (the overview's cards, the incidents), Enter opens the
    // focused one, "/" goes to the page's search.
    b.goto(&format!("{base}/ui/overview")).await;
    b.wait_until("return document.querySelectorAll('#grid .card').length === 8", 10, "eight cards").await;
    let focused = "return document.activeElement.id";
    b.eval("document.activeElement?.blur(); return true").await;
    b.press("j").await;
    let first = b.eval("return document.querySelectorAll('#grid .card')[0].id").await;
    assert_eq!(b.eval(focused).await, first, "j focuses the first card");
    b.press("j").await;
    b.press("k").await;
    assert_eq!(b.eval(focused).await, first, "k goes back up");
    b.press("/").await;
    assert_eq!(b.eval(focused).await, "find", "/ goes to the search");
    b.press("\u{E00C}").await;
    b.goto(&format!("{base}/ui/incidents")).await;
    b.wait_until("return document.querySelector('#incident-list a[data-nav]') !== null", 10, "an incident").await;
    b.eval("document.activeElement?.blur(); return true").await;
    b.press("j").await;
    b.press("\u{E007}").await;
    b.wait_until(r"return /^\/ui\/incidents\/.+/.test(location.pathname)", 10, "Enter opens the incident").await;
    // The graph picture: the failing api is marked; clicking it opens its page.
    b.goto(&format!("{base}/ui/graph")).await;
    b.wait_until("return document.querySelector('svg.graph a[data-service=api]') !== null", 10, "api is drawn").await;
    b.wait_until(
        "return document.querySelector('svg.graph a[data-service=api]').classList.contains('cause')",
        10,
        "api is a root-cause candidate",
    )
    .await;
    assert_eq!(
        b.eval("return document.querySelector('svg.graph a[data-service=web]').classList.contains('blast')").await,
        true,
        "web depends on api: in its blast radius"
    );
    b.click("svg.graph a[data-service=api] rect").await;
    b.wait_until("return location.pathname === '/ui/services/api'", 10, "the graph links to the service").await;
    b.close().await;
}
