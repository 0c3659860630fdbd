//! One module per dashboard page; each builds its template from the store, the monitor and
//! the config, read-only.

pub mod approvals;
pub mod audit;
pub mod config;
pub mod graph;
pub mod history;
pub mod incidents;
pub mod memory;
pub mod overview;
pub mod resources;
pub mod service;
pub mod status;
