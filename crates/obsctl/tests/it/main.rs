//! Integration tests of the whole obsctl loop: real SQLite, real HTTP servers on loopback,
//! real temp folders and processes. One binary; one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod api;
mod auth_matrix;
mod backup;
mod browser;
mod cli;
mod containers;
mod dashboard;
mod docs;
mod doors;
mod exactly_once;
mod gate;
mod handoff;
mod image;
mod llm;
mod loops;
mod mcp;
mod mcp_servers;
mod memory;
mod memory_exchange;
mod memory_sync;
mod otlp;
mod postgres;
mod replicas;
mod restart;
mod support;
mod suppression;
mod telemetry;
mod webdriver;
