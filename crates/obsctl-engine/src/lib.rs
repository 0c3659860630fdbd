//! The obsctl engine: probes, the scheduler, the check state tracker and the incident manager.

pub mod batcher;
pub mod incidents;
pub mod monitor;
pub mod probes;
pub mod scheduler;

pub use monitor::Monitor;
pub use probes::ProbeContext;
