//! Checks of containers: `docker` (containers by name, label or Compose project are up,
//! healthy and not crash-looping) and `docker_run` (a command in a throwaway container).

use std::ops::Range;
use std::time::Duration;

use super::super::raw::RawCheck;
use super::Ctx;
use obsctl_core::check::{ContainerSelector, DockerProbe, DockerRunProbe, Probe, valid_container_name as valid_name};
use obsctl_core::secret::Secret;

pub(super) fn docker(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: Range<usize>) -> Option<Probe> {
    let chosen = [c.container.is_some(), c.label.is_some(), c.compose_project.is_some()];
    if chosen.iter().filter(|b| **b).count() != 1 {
        x.err(
            kspan,
            "container",
            "a docker check needs exactly one of container = \"name\", label = \"key=value\" or compose_project = \"name\"",
        );
        return None;
    }
    let select = if let Some(n) = &c.container {
        let name = n.get_ref().trim_start_matches('/');
        if !valid_name(name) {
            x.err(
                n.span(),
                "container",
                format!("{name:?} cannot be a container name; Docker names are letters, digits, '_', '.' and '-'"),
            );
        }
        ContainerSelector::Name(name.to_string())
    } else if let Some(l) = &c.label {
        let (key, value) = match l.get_ref().split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
            None => (l.get_ref().trim().to_string(), None),
        };
        if key.is_empty() {
            x.err(l.span(), "label", "needs a key, e.g. label = \"com.example.team=shop\"");
        }
        ContainerSelector::Label { key, value }
    } else {
        let project = c.compose_project.as_ref().map(|p| p.get_ref().clone()).unwrap_or_default();
        let services = c.compose_services.as_ref().map(|s| s.get_ref().clone()).unwrap_or_default();
        ContainerSelector::Compose { project, services }
    };
    if let (Some(s), false) = (&c.compose_services, matches!(select, ContainerSelector::Compose { .. })) {
        x.err(s.span(), "compose_services", "goes with compose_project; remove it or use compose_project");
    }
    let restart_window = x.duration(c.restart_window.as_ref(), "restart_window", Duration::from_secs(600));
    Some(Probe::Docker(DockerProbe {
        select,
        require_healthy: c.require_healthy.as_ref().is_none_or(|v| *v.get_ref()),
        max_restarts: c.max_restarts.as_ref().map_or(3, |v| *v.get_ref()),
        restart_window,
    }))
}

pub(super) fn docker_run(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: Range<usize>) -> Option<Probe> {
    let image = x.required(c.image.as_ref(), kspan.clone(), "image", "\"postgres:16\"")?.trim().to_string();
    if (image.is_empty() || image.chars().any(char::is_whitespace))
        && let Some(i) = &c.image
    {
        x.err(i.span(), "image", format!("{image:?} is not an image reference; e.g. \"postgres:16\""));
    }
    let Some(run) = &c.run else {
        x.err(kspan, "run", "is required for this kind; add e.g. run = [\"pg_isready\", \"-h\", \"db\"]");
        return None;
    };
    if run.get_ref().is_empty() {
        x.err(run.span(), "run", "is empty; give the program and its arguments");
    }
    let mut mounts = Vec::new();
    for m in c.mounts.as_ref().map(|m| m.get_ref().as_slice()).unwrap_or_default() {
        let parts: Vec<&str> = m.split(':').collect();
        let ok = match parts.as_slice() {
            [host, inside] => host.starts_with('/') && inside.starts_with('/'),
            [host, inside, mode] => host.starts_with('/') && inside.starts_with('/') && matches!(*mode, "ro" | "rw"),
            _ => false,
        };
        if !ok {
            if let Some(span) = c.mounts.as_ref().map(|s| s.span()) {
                x.err(
                    span,
                    "mounts",
                    format!("{m:?} is not a mount; write \"/host/path:/in/container\" (read-only) or add \":rw\""),
                );
            }
            continue;
        }
        // Read-only unless the config says otherwise: a check looks, it does not write.
        mounts.push(if parts.len() == 2 { format!("{m}:ro") } else { m.clone() });
    }
    let cpus = c.cpus.as_ref().map_or(0.5, |v| *v.get_ref());
    if let Some(v) = &c.cpus
        && !(0.01..=64.0).contains(&cpus)
    {
        x.err(v.span(), "cpus", "must be between 0.01 and 64, e.g. cpus = 0.5");
    }
    let memory = x.size(c.memory.as_ref(), "memory").unwrap_or(128 * 1024 * 1024);
    if memory < 6 * 1024 * 1024
        && let Some(v) = &c.memory
    {
        x.err(v.span(), "memory", "is below the 6MB the engine needs; e.g. memory = \"128MB\"");
    }
    let network = c.network.as_ref().map_or("none".to_string(), |n| n.get_ref().clone());
    let env = c
        .env
        .as_ref()
        .map(|e| e.get_ref().iter().map(|(k, v)| (k.clone(), Secret::new(v.clone()))).collect())
        .unwrap_or_default();
    Some(Probe::DockerRun(DockerRunProbe { image, run: run.get_ref().clone(), env, network, mounts, cpus, memory }))
}
