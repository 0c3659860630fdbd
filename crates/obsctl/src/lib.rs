//! The obsctl application: CLI definitions, config discovery, wiring and commands. `main.rs`
//! is a thin shell over this library so integration tests can build the same runtime.
//!
//! Architecture invariant: only this crate reads the process environment and argv.

pub mod cli;
pub mod commands;
pub mod render;
pub mod runtime;
pub mod settings;

/// `obsctl --version`: the release and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("OBSCTL_COMMIT"), ")");
