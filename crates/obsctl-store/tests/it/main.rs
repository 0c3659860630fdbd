//! Integration tests of obsctl-store: one binary, the conformance suite per backend.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backup;
mod bolt;
mod conformance;
mod fixtures;
mod recall;
