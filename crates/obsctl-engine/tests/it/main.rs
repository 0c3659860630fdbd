//! Integration tests of obsctl-engine: probes against real loopback servers, files and
//! processes; the observation writer against real SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batcher;
mod probes;
mod servers;
mod stack;
mod tls;
