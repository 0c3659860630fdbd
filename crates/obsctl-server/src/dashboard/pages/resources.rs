//! Resources: host CPU, memory, load and disk per mount, and obsctl's own CPU and memory, as
//! charts over the sampled history (one sample every 10 s, the last hour); and the external MCP
//! servers, up or down, with their tools; the container engine's disk usage; and the replicas
//! sharing the checks on Postgres.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::AppState;
use crate::dashboard::charts::{line_chart, round};
use crate::dashboard::session::Viewer;
use crate::dashboard::when::Readable;
use crate::dashboard::{Chrome, render};

struct Disk {
    mount: String,
    used: String,
    chart: String,
}

#[derive(Template)]
#[template(path = "resources.html")]
struct ResourcesPage {
    chrome: Chrome,
    samples: usize,
    now: Vec<(&'static str, String)>,
    cpu: String,
    memory: String,
    load: String,
    own: String,
    disks: Vec<Disk>,
    mcp_servers: Vec<obsctl_agent::mcp_client::ServerStatus>,
    /// The container engine's disk: category, count, size, reclaimable; or why not.
    docker_disk: Result<Vec<(&'static str, usize, String, String)>, String>,
    /// The replicas on this store, or why they cannot be listed.
    cluster: Result<crate::api::cluster::ClusterView, String>,
}

impl ResourcesPage {
    /// A span in milliseconds as people read it: "800 ms", "4 s", "2 min 5 s".
    fn span(&self, ms: impl std::borrow::Borrow<i64>) -> String {
        crate::dashboard::when::duration(std::time::Duration::from_millis((*ms.borrow()).max(0) as u64))
    }
}

pub async fn view_resources_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    let samples = s.ui.resources.samples();
    let series = |f: &dyn Fn(&super::super::resources::Sample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
    let cpu = series(&|x| x.cpu_percent);
    let mem = series(&|x| 100.0 * x.memory_used as f64 / x.memory_total.max(1) as f64);
    let load = series(&|x| x.load1);
    let own_cpu = series(&|x| x.own_cpu_percent);
    let own_mb = series(&|x| x.own_rss as f64 / 1e6);
    let mut now = Vec::new();
    let mut disks = Vec::new();
    if let Some(last) = samples.last() {
        now = vec![
            ("CPU", format!("{}%", round(last.cpu_percent))),
            ("memory", format!("{:.1} / {:.1} GB", last.memory_used as f64 / 1e9, last.memory_total as f64 / 1e9)),
            ("load (1 min)", format!("{} on {} cores", round(last.load1), last.cores)),
            ("obsctl", format!("{}% CPU, {:.1} MB", round(last.own_cpu_percent), last.own_rss as f64 / 1e6)),
        ];
        for (mount, used) in &last.disks {
            let history = series(&|x| x.disks.get(mount).copied().unwrap_or(0.0));
            disks.push(Disk {
                mount: mount.clone(),
                used: format!("{}%", round(*used)),
                chart: line_chart(&[("mem", &history)], "%", mount, Some(100.0)),
            });
        }
    }
    render(&ResourcesPage {
        chrome: Chrome::new(&s, &session, "Resources"),
        samples: samples.len(),
        now,
        cpu: line_chart(&[("cpu", &cpu)], "%", "host CPU", Some(100.0)),
        memory: line_chart(&[("mem", &mem)], "%", "host memory", Some(100.0)),
        load: line_chart(&[("load", &load)], "", "load average", None),
        own: line_chart(&[("own", &own_cpu), ("mem", &own_mb)], "% CPU / MB", "obsctl", None),
        disks,
        mcp_servers: s.mcp_servers.statuses(),
        docker_disk: crate::dashboard::containers::disk_usage(&s).await,
        cluster: crate::api::cluster::view(&s).await.map_err(|e| e.to_string()),
    })
}
