//! When each service last sent traces, logs and metrics to obsctl's receiver, and where each
//! canary was seen: what freshness checks and `telemetry check --flow` read. Bounded: at most
//! `MAX_SERVICES` services and `MAX_CANARIES` canaries are kept (the oldest canaries go first).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use obsctl_core::Timestamp;
use obsctl_core::check::TelemetrySignal;
use serde::Serialize;

use super::Batch;

pub const MAX_SERVICES: usize = 10_000;
pub const MAX_CANARIES: usize = 10_000;

/// One signal of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SignalArrival {
    /// When the last request carrying it arrived.
    pub last_at: Timestamp,
    /// Spans, log records or data points received since the process started.
    pub items: u64,
    pub requests: u64,
}

/// What one service has sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ServiceArrivals {
    pub traces: Option<SignalArrival>,
    pub logs: Option<SignalArrival>,
    pub metrics: Option<SignalArrival>,
}

impl ServiceArrivals {
    pub fn get(&self, signal: TelemetrySignal) -> Option<&SignalArrival> {
        match signal {
            TelemetrySignal::Traces => self.traces.as_ref(),
            TelemetrySignal::Logs => self.logs.as_ref(),
            TelemetrySignal::Metrics => self.metrics.as_ref(),
        }
    }

    fn slot(&mut self, signal: TelemetrySignal) -> &mut Option<SignalArrival> {
        match signal {
            TelemetrySignal::Traces => &mut self.traces,
            TelemetrySignal::Logs => &mut self.logs,
            TelemetrySignal::Metrics => &mut self.metrics,
        }
    }
}

/// A canary seen: which service sent it, as which signal, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Sighting {
    pub service: String,
    pub signal: String,
    pub at: Timestamp,
}

#[derive(Default)]
struct Inner {
    services: HashMap<String, ServiceArrivals>,
    canaries: HashMap<String, Vec<Sighting>>,
    canary_order: VecDeque<String>,
}

#[derive(Default)]
pub struct Arrivals {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Arrivals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arrivals").finish_non_exhaustive()
    }
}

impl Arrivals {
    /// Records one request's resources of `signal`, arrived at `at`; how many were not
    /// recorded because `MAX_SERVICES` other services are already known.
    pub fn record(&self, signal: TelemetrySignal, batches: &[Batch], at: Timestamp) -> usize {
        let Ok(mut inner) = self.inner.lock() else { return 0 };
        let inner = &mut *inner;
        let mut refused = 0;
        for b in batches {
            if !inner.services.contains_key(&b.service) && inner.services.len() >= MAX_SERVICES {
                refused += 1;
                continue;
            }
            let slot = inner.services.entry(b.service.clone()).or_default().slot(signal);
            let s = slot.get_or_insert(SignalArrival { last_at: at, items: 0, requests: 0 });
            s.last_at = s.last_at.max(at);
            s.items += b.items;
            s.requests += 1;
            if let Some(id) = &b.canary {
                let sighting = Sighting { service: b.service.clone(), signal: signal.as_str().into(), at };
                match inner.canaries.get_mut(id) {
                    Some(seen) if seen.len() < 16 => seen.push(sighting),
                    Some(_) => {}
                    None => {
                        if inner.canary_order.len() >= MAX_CANARIES
                            && let Some(oldest) = inner.canary_order.pop_front()
                        {
                            inner.canaries.remove(&oldest);
                        }
                        inner.canary_order.push_back(id.clone());
                        inner.canaries.insert(id.clone(), vec![sighting]);
                    }
                }
            }
        }
        refused
    }

    /// Every service that has sent anything, by name.
    pub fn services(&self) -> BTreeMap<String, ServiceArrivals> {
        self.inner.lock().map(|i| i.services.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    pub fn service(&self, name: &str) -> Option<ServiceArrivals> {
        self.inner.lock().ok()?.services.get(name).cloned()
    }

    /// When `service` last sent `signal`.
    pub fn newest(&self, service: &str, signal: TelemetrySignal) -> Option<Timestamp> {
        self.inner.lock().ok()?.services.get(service)?.get(signal).map(|s| s.last_at)
    }

    /// Where and when canary `id` was seen, first sighting first.
    pub fn canary(&self, id: &str) -> Vec<Sighting> {
        self.inner.lock().ok().and_then(|i| i.canaries.get(id).cloned()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(service: &str, items: u64, canary: Option<&str>) -> Batch {
        Batch { service: service.into(), items, canary: canary.map(str::to_string) }
    }

    #[test]
    fn arrivals_add_up_per_service_and_signal_and_canaries_are_found_again() {
        let a = Arrivals::default();
        a.record(TelemetrySignal::Traces, &[batch("api", 3, None), batch("web", 1, Some("c1"))], Timestamp(1000));
        a.record(TelemetrySignal::Traces, &[batch("api", 2, None)], Timestamp(2000));
        a.record(TelemetrySignal::Logs, &[batch("web", 5, Some("c1"))], Timestamp(2500));
        let api = a.service("api").unwrap();
        assert_eq!(api.traces, Some(SignalArrival { last_at: Timestamp(2000), items: 5, requests: 2 }));
        assert_eq!(api.logs, None);
        assert_eq!(a.newest("web", TelemetrySignal::Logs), Some(Timestamp(2500)));
        assert_eq!(a.newest("web", TelemetrySignal::Metrics), None);
        let seen = a.canary("c1");
        assert_eq!(seen.iter().map(|s| s.signal.as_str()).collect::<Vec<_>>(), ["traces", "logs"]);
        assert_eq!(a.services().keys().collect::<Vec<_>>(), ["api", "web"]);
    }

    #[test]
    fn services_and_canaries_are_bounded() {
        let a = Arrivals::default();
        let many: Vec<Batch> = (0..MAX_SERVICES + 5).map(|i| batch(&format!("s{i}"), 1, None)).collect();
        assert_eq!(a.record(TelemetrySignal::Metrics, &many, Timestamp(1)), 5);
        assert_eq!(a.services().len(), MAX_SERVICES);
        let canaries: Vec<Batch> = (0..MAX_CANARIES + 1).map(|i| batch("s0", 1, Some(&format!("c{i}")))).collect();
        a.record(TelemetrySignal::Logs, &canaries, Timestamp(2));
        assert!(a.canary("c0").is_empty(), "the oldest canary goes first");
        assert_eq!(a.canary(&format!("c{MAX_CANARIES}")).len(), 1);
    }
}
