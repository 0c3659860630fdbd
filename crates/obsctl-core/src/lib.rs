//! Domain types and pure logic of obsctl: checks, incidents, actions, memory and policy.
//!
//! Architecture invariant: this crate does no IO and knows no async runtime, so every rule
//! it holds (state machine, fingerprints, gate decisions) is testable as a
//! plain function.

pub mod action;
pub mod alert;
pub mod check;
pub mod cluster;
pub mod der;
pub mod dotenv;
pub mod event;
pub mod graph;
pub mod hash;
pub mod incident;
pub mod memory;
pub mod metrics;
pub mod policy;
pub mod quantity;
pub mod rollup;
pub mod secret;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod timeline;
pub mod trace;

pub use secret::Secret;
pub use time::Timestamp;
