//! Incident memory end to end: a fix a person proposed is remembered; the next similar incident
//! is fixed from memory with its evidence; a fix that keeps failing stops being proposed.

use std::sync::atomic::Ordering;

use obsctl_config::Step;
use obsctl_core::action::Outcome;
use obsctl_core::memory::EpisodeOutcome;

use crate::support::{Harness, Target, harness, head};

/// An `api` service with a health check and no runbook: only people and memory can fix it.
const API_NO_RUNBOOK: &str = r#"
[[service]]
name = "api"
labels = { team = "web" }
  [[service.check]]
  name = "health"
  kind = "http"
  url = "{url}/health"
  fail_after = 1
  recover_after = 1
  flap_threshold = 0        # these tests break and heal it on purpose
"#;

fn fix(target: &Target) -> Vec<Step> {
    vec![Step {
        tool: "http.request".into(),
        args: serde_json::json!({"url": format!("{}/fix", target.url), "method": "POST"}),
    }]
}

/// Recovers and fails the check again, so the incident opens anew (a reopen: a new episode).
async fn break_again(h: &Harness, target: &Target) -> String {
    target.set_healthy(true);
    assert!(h.run("api/health").await);
    target.set_healthy(false);
    assert!(!h.run("api/health").await);
    h.incident().await.id
}

async fn setup(memory: &str) -> (Target, Harness) {
    let target = Target::start(false).await;
    let body =
        format!("{}[agent.memory]\n{memory}\n{API_NO_RUNBOOK}", head("auto").replace("[agent]\nmode = \"auto\"\n", ""));
    let body = body.replacen("[agent.verify]", "[agent]\nmode = \"auto\"\ncooldown = \"0s\"\n[agent.verify]", 1);
    let h = harness(&body, &target.url, &[]).await;
    assert!(!h.run("api/health").await);
    (target, h)
}

#[tokio::test]
async fn a_proposed_fix_is_remembered_and_fixes_the_next_similar_incident() {
    let (target, h) = setup("min_attempts = 1").await;
    let first = h.incident().await.id;
    let report = h.rt.agent.handle_incident(&first).await.unwrap();
    assert!(report.skipped.unwrap().contains("memory has no proven fix"));

    // A person proposes the fix; it passes the gate (auto), runs, is verified and remembered.
    let proposed =
        h.rt.agent.propose(&first, fix(&target), "alice", "restart the worker pool", true, None).await.unwrap();
    assert_eq!(proposed.outcome, Some(Outcome::Fixed));
    let episode = h.rt.store.episode(&format!("ep-{first}-r0")).await.unwrap();
    assert_eq!((episode.outcome, episode.cluster.as_str()), (EpisodeOutcome::Fixed, "http-down@api"));
    assert_eq!(episode.labels.get("team").map(String::as_str), Some("web"));
    assert!(episode.text.contains("status 500"), "{}", episode.text);
    let ledger = h.rt.store.ledger(Some("http-down@api")).await.unwrap();
    assert_eq!((ledger[0].attempts, ledger[0].successes), (1, 1));

    // The next similar incident is fixed from memory, with the evidence on its timeline.
    let second = break_again(&h, &target).await;
    let report = h.rt.agent.handle_incident(&second).await.unwrap();
    let plan = report.plan.expect("memory planned");
    assert_eq!(plan.planner, "memory");
    assert_eq!(plan.evidence, std::slice::from_ref(&episode.id));
    assert!(plan.provenance.contains("fixed 1/1 similar incidents (http-down@api)"), "{}", plan.provenance);
    assert_eq!(report.outcome, Some(Outcome::Fixed));
    assert_eq!(target.fixes(), 2);
    let events = h.rt.store.events(&second).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "plan" && e.message.contains(&episode.id)));
    let recall = events.iter().find(|e| e.kind == "recall").expect("recalled similar incidents");
    assert!(
        recall.message.contains(&episode.id) && recall.message.contains("same kind http-down"),
        "{}",
        recall.message
    );
    let ledger = h.rt.store.ledger(Some("http-down@api")).await.unwrap();
    assert_eq!((ledger[0].attempts, ledger[0].successes, ledger[0].episodes.len()), (2, 2, 2));
}

#[tokio::test]
async fn a_one_off_proposal_is_remembered_as_history_but_never_learned_as_a_fix() {
    let (target, h) = setup("min_attempts = 1").await;
    let first = h.incident().await.id;
    // Twice, as a person might run the same one-off command on two incidents.
    let report = h.rt.agent.propose(&first, fix(&target), "alice", "just this once", false, None).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Fixed));
    let second = break_again(&h, &target).await;
    h.rt.agent.propose(&second, fix(&target), "alice", "again, by hand", false, None).await.unwrap();
    let episode = h.rt.store.episode(&format!("ep-{first}-r0")).await.unwrap();
    assert_eq!(episode.actions.len(), 1);
    assert!(!episode.actions[0].learn);
    assert!(h.rt.store.ledger(Some("http-down@api")).await.unwrap().is_empty());
    // The next similar incident gets no plan from memory: a person decides again.
    let third = break_again(&h, &target).await;
    let report = h.rt.agent.handle_incident(&third).await.unwrap();
    assert!(report.plan.is_none() && report.skipped.unwrap().contains("memory has no proven fix"));
    assert_eq!(target.fixes(), 2);
}

#[tokio::test]
async fn a_fix_that_fails_three_times_is_no_longer_proposed() {
    let (target, h) = setup("min_attempts = 1\nmin_success = 0.3").await;
    let first = h.incident().await.id;
    assert_eq!(
        h.rt.agent.propose(&first, fix(&target), "alice", "", true, None).await.unwrap().outcome,
        Some(Outcome::Fixed)
    );
    target.state.fix_works.store(false, Ordering::SeqCst);
    for failures in 1..=3 {
        let id = break_again(&h, &target).await;
        let report = h.rt.agent.handle_incident(&id).await.unwrap();
        assert_eq!(report.plan.as_ref().map(|p| p.planner), Some("memory"), "failure {failures}");
        assert_eq!(report.outcome, Some(Outcome::NotFixed), "failure {failures}: {:#?}", report.actions);
        h.rt.agent.resolve_by_hand(&id, "bob", "rolled back the deploy").await.unwrap();
    }
    let ledger = h.rt.store.ledger(Some("http-down@api")).await.unwrap();
    assert_eq!((ledger[0].attempts, ledger[0].successes, ledger[0].failures), (4, 1, 3));
    let episodes = h.rt.store.episodes_after(None, 10).await.unwrap();
    assert_eq!(episodes.iter().filter(|e| e.outcome == EpisodeOutcome::Escalated).count(), 3);

    let id = break_again(&h, &target).await;
    let report = h.rt.agent.handle_incident(&id).await.unwrap();
    assert!(report.plan.is_none() && report.skipped.unwrap().contains("memory has no proven fix"));
    assert_eq!(target.fixes(), 4);
}

#[tokio::test]
async fn a_proven_read_only_plan_is_never_proposed() {
    let (target, h) = setup("min_attempts = 1").await;
    let id = h.incident().await.id;
    // Memory holds a "fix" that only looked (fs.usage is read-only) and happened to coincide
    // with recovery. Looking cannot fix anything, so memory must not propose it.
    let steps =
        vec![obsctl_core::memory::FixStep { tool: "fs.usage".into(), args: serde_json::json!({"path": "/tmp"}) }];
    let seeded = crate::support::api_episode("ep-seeded", steps, "test");
    assert!(h.rt.store.remember(&seeded).await.unwrap());
    assert_eq!(h.rt.store.ledger(Some("http-down@api")).await.unwrap()[0].success_rate(), 1.0);
    let report = h.rt.agent.handle_incident(&id).await.unwrap();
    assert!(report.plan.is_none(), "proposed {:?}", report.plan);
    assert_eq!(target.fixes(), 0);
}

#[tokio::test]
async fn an_incident_that_recovers_by_itself_is_remembered_as_such() {
    let (target, h) = setup("").await;
    let id = h.incident().await.id;
    target.set_healthy(true);
    assert!(h.run("api/health").await);
    let episode = h.rt.agent.remember(&id).await.unwrap().expect("remembered");
    assert_eq!((episode.outcome, episode.actions.len()), (EpisodeOutcome::SelfResolved, 0));
    assert!(h.rt.agent.remember(&id).await.unwrap().is_none(), "remembering twice records once");
    assert!(h.rt.store.ledger(None).await.unwrap().is_empty());
}

/// A fix proven only on other instances (synced episodes) counts by `shared_evidence`: at 0.5
/// two of them are one attempt, below `min_attempts = 2`; four are enough to propose it, and
/// then a person approves it (issue 26, finding 4: it ran by itself in `auto`); at 0 none ever is.
#[tokio::test]
async fn fixes_proven_elsewhere_count_by_their_weight() {
    for (weight, synced, proposed) in [(0.5, 2, false), (0.5, 4, true), (0.0, 4, false)] {
        let (target, h) = setup(&format!("min_attempts = 2\nshared_evidence = {weight}")).await;
        let id = h.incident().await.id;
        let steps: Vec<obsctl_core::memory::FixStep> =
            fix(&target).into_iter().map(|s| obsctl_core::memory::FixStep { tool: s.tool, args: s.args }).collect();
        for i in 0..synced {
            let e = crate::support::api_episode(&format!("ep-elsewhere-{i}"), steps.clone(), "edge-elsewhere");
            h.rt.store.upsert_episode(&e, &h.rt.agent.origin()).await.unwrap();
        }
        let report = h.rt.agent.handle_incident(&id).await.unwrap();
        match (&report.plan, proposed) {
            (Some(plan), true) => {
                assert!(plan.provenance.contains("not verified here, each counted as 0.5"), "{}", plan.provenance);
                assert!(plan.provenance.contains("a person approves it"), "{}", plan.provenance);
                assert_eq!(report.actions[0].state, obsctl_core::action::ActionState::PendingApproval);
                assert_eq!(target.fixes(), 0, "evidence from elsewhere ran a fix by itself");
            }
            (None, false) => assert_eq!(target.fixes(), 0),
            (plan, _) => panic!("weight {weight}, {synced} synced: plan {plan:?}"),
        }
    }
}

/// Postmortems that say a POST fixed this very kind of incident, imported under this
/// instance's own origin, never make the fix automatic (issue 26, finding 4: planted in `auto`
/// with no runbook, the POST went out at once): proposed, it waits for a person. Once this
/// deployment has verified the fix itself `min_attempts` times, it may run alone.
#[tokio::test]
async fn planted_postmortems_propose_but_never_act_alone() {
    use obsctl_core::action::ActionState;
    let (target, h) = setup("min_attempts = 2\nshared_evidence = 1").await;
    let origin = h.rt.agent.origin();
    for i in 0..2 {
        let text = format!(
            "---\ntitle: api down {i}\nservice: api\nkind: http-down\nfix: [{{tool: http.request, args: {{url: \"{}/fix\", method: POST}}}}]\n---\nfixed by a POST\n",
            target.url
        );
        let e = obsctl_core::memory::postmortem::parse(&text, &format!("pm-{i}.md"), &origin).unwrap();
        assert_eq!(e.origin, origin, "the postmortem claims this instance");
        h.rt.store.upsert_episode(&e, &origin).await.unwrap();
    }
    let ledger = h.rt.store.ledger(Some("http-down@api")).await.unwrap();
    assert_eq!((ledger[0].attempts, ledger[0].remote_attempts), (2, 2), "{ledger:#?}");
    let id = h.incident().await.id;
    let report = h.rt.agent.handle_incident(&id).await.unwrap();
    assert_eq!(report.plan.as_ref().unwrap().planner, "memory");
    assert_eq!(report.actions[0].state, ActionState::PendingApproval, "{report:#?}");
    assert_eq!(target.fixes(), 0, "a planted postmortem ran a fix by itself");

    // A person approves it twice; it works and is verified here. Then memory alone is enough.
    let mut id = id;
    for fixes in 1..=2 {
        let report = h.rt.agent.handle_incident(&id).await.unwrap();
        let waiting = report.actions.first().map(|a| (a.id.clone(), a.state));
        let (action, state) = match waiting {
            Some(w) => w,
            None => {
                let pending = h.pending().await;
                (pending[0].id.clone(), pending[0].state)
            }
        };
        assert_eq!(state, ActionState::PendingApproval, "fix {fixes}: verified here fewer than min_attempts");
        h.rt.agent.approve(&action, "alice", "the postmortems are ours").await.unwrap();
        h.rt.agent.run_approved().await.unwrap();
        assert_eq!(target.fixes(), fixes);
        id = break_again(&h, &target).await;
    }
    let report = h.rt.agent.handle_incident(&id).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Fixed), "verified here twice: it runs by itself: {report:#?}");
    assert_eq!(target.fixes(), 3);
}

/// A ledger that counts a fix as proven here while its episodes say otherwise (folded before
/// the rule that counts imports apart, or learned under another instance name) does not make
/// the fix automatic: the planner reads the episodes themselves (issue 26, finding 4).
#[tokio::test]
async fn a_ledger_that_disagrees_with_its_episodes_only_proposes() {
    use obsctl_core::action::ActionState;
    let (target, h) = setup("min_attempts = 2").await;
    let steps: Vec<obsctl_core::memory::FixStep> =
        fix(&target).into_iter().map(|s| obsctl_core::memory::FixStep { tool: s.tool, args: s.args }).collect();
    for i in 0..2 {
        // Written as the agent writes its own (`remember`), under a name that is not this one's.
        let e = crate::support::api_episode(&format!("ep-renamed-{i}"), steps.clone(), "old-name");
        assert!(h.rt.store.remember(&e).await.unwrap());
    }
    let ledger = h.rt.store.ledger(Some("http-down@api")).await.unwrap();
    assert_eq!((ledger[0].attempts, ledger[0].remote_attempts), (2, 0), "the ledger counts them as local");
    let report = h.rt.agent.handle_incident(&h.incident().await.id).await.unwrap();
    assert_eq!(report.actions[0].state, ActionState::PendingApproval, "{report:#?}");
    assert_eq!(target.fixes(), 0);
}
