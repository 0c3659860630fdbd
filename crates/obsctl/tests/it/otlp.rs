//! obsctl's own traces over OTLP, received by a real collector: rotel (PyPI's `rotel`, which
//! scripts/test installs), printing what it receives with its debug exporter.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use obsctl_core::action::Outcome;
use obsctl_core::memory::EpisodeOutcome;
use obsctl_core::trace::incident_trace;
use tokio::io::AsyncBufReadExt;

use crate::support::{API_WITH_FIX, Target, eventually, free_port, harness, head};

/// A rotel collector on loopback; `received` is everything its debug log printed.
pub struct Rotel {
    pub endpoint: String,
    received: Arc<Mutex<String>>,
    _child: tokio::process::Child,
}

impl Rotel {
    async fn start() -> Self {
        Self::with(&["--exporter", "blackhole", "--debug-log", "traces", "--debug-log-verbosity", "detailed"]).await
    }

    /// A rotel that forwards every signal over OTLP/HTTP to `endpoint`, with `headers` (`k=v`).
    pub async fn forwarding_to(endpoint: &str, headers: &str) -> Self {
        let args = ["--exporter", "otlp", "--otlp-exporter-protocol", "http", "--otlp-exporter-endpoint", endpoint];
        Self::with(&[&args[..], &["--otlp-exporter-custom-headers", headers]].concat()).await
    }

    async fn with(args: &[&str]) -> Self {
        let bin = std::env::var("OBSCTL_TEST_ROTEL")
            .expect("OBSCTL_TEST_ROTEL names rotel's binary (scripts/test installs it)");
        let (http, grpc) = (free_port(), free_port());
        let mut child = tokio::process::Command::new(bin)
            .arg("start")
            .args(args)
            .arg(format!("--otlp-http-endpoint=127.0.0.1:{http}"))
            .arg(format!("--otlp-grpc-endpoint=127.0.0.1:{grpc}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("rotel starts");
        let received = Arc::new(Mutex::new(String::new()));
        tokio::spawn(collect(child.stdout.take().unwrap(), received.clone()));
        tokio::spawn(collect(child.stderr.take().unwrap(), received.clone()));
        let endpoint = format!("http://127.0.0.1:{http}");
        eventually(30, "rotel listening", || async { tokio::net::TcpStream::connect(("127.0.0.1", http)).await.ok() })
            .await;
        Self { endpoint, received, _child: child }
    }

    fn received(&self) -> String {
        self.received.lock().unwrap().clone()
    }
}

/// Appends every line of `stream` to `into`.
async fn collect(stream: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<String>>) {
    let mut lines = tokio::io::BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut text = into.lock().unwrap();
        text.push_str(&line);
        text.push('\n');
    }
}

#[tokio::test]
async fn a_fixed_incident_arrives_at_a_real_collector_as_one_trace() {
    let rotel = Rotel::start().await;
    let target = Target::start(false).await;
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", rotel.endpoint.as_str()), ("OTEL_SERVICE_NAME", "obsctl-test")];
    let h = harness(&format!("{}{API_WITH_FIX}", head("auto")), &target.url, &env).await;
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    assert_eq!(h.rt.agent.handle_incident(&incident.id).await.unwrap().outcome, Some(Outcome::Fixed));

    // Ids come from the episode id alone, so the test knows the trace's id before it arrives.
    let episode = format!("ep-{}-r0", incident.id);
    let expected = incident_trace(&episode, &incident, &[], &[], EpisodeOutcome::Fixed, &[]).trace_id_hex();
    let text = eventually(30, "the incident's trace at rotel", || async {
        let text = rotel.received();
        (text.matches(&format!("Trace ID       : {expected}")).count() == 6).then_some(text)
    })
    .await;
    let names: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("Name           : ")).collect();
    assert_eq!(
        names,
        ["incident http-down on api", "probe api/health", "plan", "gate http.request", "act http.request", "verify"],
        "{text}"
    );
    assert!(text.contains("service.name: Str(obsctl-test)"), "{text}");
    assert!(text.contains("obsctl.outcome: Str(fixed)"), "{text}");
    assert!(text.contains(&format!("obsctl.incident.id: Str({})", incident.id)), "{text}");
    // Every step is a child of the incident's span.
    let root = text.lines().find_map(|l| l.trim().strip_prefix("ID             : ")).unwrap().to_string();
    assert_eq!(text.matches(&format!("Parent ID      : {root}")).count(), 5, "{text}");
    h.rt.stop().await;
}

#[tokio::test]
async fn a_collector_that_is_down_costs_the_trace_never_the_fix() {
    let target = Target::start(false).await;
    let closed = format!("http://127.0.0.1:{}", free_port());
    let h =
        harness(&format!("{}{API_WITH_FIX}", head("auto")), &target.url, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &closed)])
            .await;
    assert!(!h.run("api/health").await);
    let incident = h.incident().await;
    let started = std::time::Instant::now();
    assert_eq!(h.rt.agent.handle_incident(&incident.id).await.unwrap().outcome, Some(Outcome::Fixed));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "the agent waited on the collector");
    // Stopping cuts the retry waits short and counts the trace as failed.
    h.rt.stop().await;
    let metrics = obsctl_core::metrics::metrics().encode();
    assert!(metrics.contains("obsctl_otlp_traces_total{result=\"failed\"} 1"), "{metrics}");
}
