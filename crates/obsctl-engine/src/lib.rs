//! The obsctl engine: probes, the scheduler, the monitor (one path from a probe result to check
//! state, observations, events and incidents), the observation batcher and the incident manager.

pub mod alerts;
pub mod batcher;
pub mod cluster;
pub mod containers;
pub mod incidents;
pub mod monitor;
pub mod otlp;
pub mod probes;
pub mod relay;
pub mod scheduler;
pub mod telemetry_reports;

pub use monitor::Monitor;
pub use probes::ProbeContext;
