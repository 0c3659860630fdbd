//! The docker probe: the containers a check selects exist, run, are healthy and are not
//! crash-looping. One list call serves every docker check of a pass; crashes come from the
//! engine's event stream. No engine: `unknown`, never a failure of the containers.

use std::time::Duration;

use obsctl_core::check::{ContainerSelector, DockerProbe};
use obsctl_host::docker::{ContainerInfo, Health, Lifecycle};

use super::{ProbeContext, ProbeOutcome};

/// Problems listed in a detail before "and N more".
const LISTED: usize = 3;

pub(super) async fn probe(p: &DockerProbe, interval: Duration, timeout: Duration, ctx: &ProbeContext) -> ProbeOutcome {
    // Events make the cached list stale on any change, so half an interval is a safe age.
    // A slow engine is the engine's problem, not the containers': unknown before the check's
    // own timeout would call it a failure.
    let list = match tokio::time::timeout(within(timeout), ctx.docker.containers(interval / 2)).await {
        Ok(Ok(list)) => list,
        Ok(Err(e)) if e.is_unreachable() => return ProbeOutcome::unknown(e.to_string()),
        Ok(Err(e)) => return ProbeOutcome::fail(e.to_string()),
        Err(_) => return ProbeOutcome::unknown(slow(ctx, timeout)),
    };
    let since = obsctl_core::Timestamp::now().minus(p.restart_window).0 / 1000;
    judge(p, &list, |name| ctx.docker.restarts().crashes_since(name, since))
}

/// Time a container probe gives the engine: a little under the check's timeout, so it can say
/// `unknown` itself.
pub(super) fn within(timeout: Duration) -> Duration {
    timeout.saturating_sub(Duration::from_millis(100)).max(timeout / 2)
}

pub(super) fn slow(ctx: &ProbeContext, timeout: Duration) -> String {
    obsctl_host::docker::EngineError::Slow {
        host: ctx.docker.host().to_string(),
        seconds: within(timeout).as_secs().max(1),
    }
    .to_string()
}

/// Whether `c` is one of the containers `select` names.
pub fn selects(select: &ContainerSelector, name: &str, labels: &dyn Fn(&str) -> Option<String>) -> bool {
    match select {
        ContainerSelector::Name(n) => n == name,
        ContainerSelector::Label { key, value } => match (labels(key), value) {
            (Some(found), Some(want)) => &found == want,
            (Some(_), None) => true,
            (None, _) => false,
        },
        ContainerSelector::Compose { project, services } => {
            labels(obsctl_host::docker::COMPOSE_PROJECT).as_deref() == Some(project.as_str())
                && (services.is_empty()
                    || labels(obsctl_host::docker::COMPOSE_SERVICE).is_some_and(|s| services.contains(&s)))
        }
    }
}

/// The verdict on a list of containers (no IO): `crashes` counts a container's recent crashes.
fn judge(p: &DockerProbe, list: &[ContainerInfo], crashes: impl Fn(&str) -> usize) -> ProbeOutcome {
    let matched: Vec<&ContainerInfo> =
        list.iter().filter(|c| selects(&p.select, &c.name, &|k| c.labels.get(k).cloned())).collect();
    let mut missing = Vec::new();
    let mut down = Vec::new();
    let mut restarting = Vec::new();
    let mut unhealthy = Vec::new();
    if let ContainerSelector::Compose { project, services } = &p.select {
        for service in services {
            if !matched.iter().any(|c| c.compose_service() == Some(service.as_str())) {
                missing.push(format!("service {service} of {project} has no container"));
            }
        }
    }
    if matched.is_empty() && missing.is_empty() {
        return ProbeOutcome::fail(format!("no {} on the engine", p.select)).kind("container-down");
    }
    for c in &matched {
        let crashed = crashes(&c.name);
        if crashed > p.max_restarts as usize || c.state == Lifecycle::Restarting {
            restarting.push(format!("{} crashed {crashed} times ({})", c.name, c.status));
        } else if c.state != Lifecycle::Running {
            down.push(format!("{} is {} ({})", c.name, c.state.as_str(), c.status));
        } else if p.require_healthy && c.health == Health::Unhealthy {
            unhealthy.push(format!("{} is unhealthy ({})", c.name, c.status));
        }
    }
    let failing = restarting.len() + down.len() + unhealthy.len();
    down.splice(0..0, missing);
    // A crash loop is named first: restarting it again is not the fix.
    let worst = [("container-restarting", &restarting), ("container-down", &down), ("container-unhealthy", &unhealthy)]
        .into_iter()
        .find(|(_, problems)| !problems.is_empty());
    match worst {
        Some((kind, _)) => {
            let problems: Vec<&String> = restarting.iter().chain(&down).chain(&unhealthy).collect();
            let mut detail = problems.iter().take(LISTED).map(|s| s.as_str()).collect::<Vec<_>>().join("; ");
            if problems.len() > LISTED {
                detail.push_str(&format!("; and {} more", problems.len() - LISTED));
            }
            if matched.len() > 1 && failing > 0 {
                detail = format!("{failing} of {} {}: {detail}", matched.len(), p.select);
            }
            ProbeOutcome::fail(detail).kind(kind)
        }
        None => {
            let healthy = matched.iter().filter(|c| c.health == Health::Healthy).count();
            let what = match matched.as_slice() {
                [one] => format!("{} running", one.name),
                many => format!("{} running: {}", many.len(), p.select),
            };
            ProbeOutcome::pass(if healthy > 0 { format!("{what}, {healthy} healthy") } else { what })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn container(name: &str, state: Lifecycle, health: Health, labels: &[(&str, &str)]) -> ContainerInfo {
        ContainerInfo {
            id: format!("id-{name}"),
            name: name.into(),
            image: "img".into(),
            state,
            health,
            status: "s".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            created: 0,
        }
    }

    fn probe(select: ContainerSelector) -> DockerProbe {
        DockerProbe { select, require_healthy: true, max_restarts: 2, restart_window: Duration::from_secs(600) }
    }

    #[test]
    fn verdicts_name_the_narrowest_kind() {
        use Lifecycle::*;
        let team = |v: &str| ContainerSelector::Label { key: "team".into(), value: Some(v.into()) };
        let list = vec![
            container("web", Running, Health::Healthy, &[("team", "shop")]),
            container("db", Exited, Health::None, &[("team", "shop")]),
            container("api", Running, Health::Unhealthy, &[("team", "pay")]),
            container("loop", Running, Health::None, &[("team", "ops")]),
        ];
        let crashes = |name: &str| if name == "loop" { 5 } else { 0 };
        let cases: &[(ContainerSelector, bool, Option<&str>, &str)] = &[
            (ContainerSelector::Name("web".into()), true, None, "web running, 1 healthy"),
            (ContainerSelector::Name("db".into()), false, Some("container-down"), "db is exited (s)"),
            (ContainerSelector::Name("api".into()), false, Some("container-unhealthy"), "api is unhealthy (s)"),
            (ContainerSelector::Name("loop".into()), false, Some("container-restarting"), "loop crashed 5 times (s)"),
            (
                ContainerSelector::Name("gone".into()),
                false,
                Some("container-down"),
                "no container \"gone\" on the engine",
            ),
            (team("shop"), false, Some("container-down"), "1 of 2 containers labelled team=shop: db is exited (s)"),
            (team("nobody"), false, Some("container-down"), "no containers labelled team=nobody on the engine"),
        ];
        for (select, ok, kind, detail) in cases {
            let got = judge(&probe(select.clone()), &list, crashes);
            assert_eq!((got.ok, got.incident_kind, got.detail.as_str()), (*ok, *kind, *detail), "{select}");
        }
    }

    #[test]
    fn a_compose_project_needs_every_listed_service() {
        let c = |name: &str, service: &str| {
            container(
                name,
                Lifecycle::Running,
                Health::None,
                &[("com.docker.compose.project", "shop"), ("com.docker.compose.service", service)],
            )
        };
        let list = vec![c("shop-web-1", "web"), c("shop-db-1", "db")];
        let select = |services: &[&str]| ContainerSelector::Compose {
            project: "shop".into(),
            services: services.iter().map(|s| s.to_string()).collect(),
        };
        assert!(judge(&probe(select(&[])), &list, |_| 0).ok);
        let missing = judge(&probe(select(&["web", "cache"])), &list, |_| 0);
        assert_eq!(missing.detail, "service cache of shop has no container");
        assert_eq!(missing.incident_kind, Some("container-down"));
    }

    #[test]
    fn hundreds_of_problems_make_a_short_detail() {
        let list: Vec<ContainerInfo> =
            (0..500).map(|i| container(&format!("c{i}"), Lifecycle::Exited, Health::None, &[("x", "1")])).collect();
        let got = judge(&probe(ContainerSelector::Label { key: "x".into(), value: None }), &list, |_| 0);
        assert!(got.detail.starts_with("500 of 500 containers labelled x: c0 is exited"), "{}", got.detail);
        assert!(got.detail.ends_with("and 497 more"), "{}", got.detail);
    }
}
