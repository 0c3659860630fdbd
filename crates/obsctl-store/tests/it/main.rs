//! Integration tests of obsctl-store: one binary, the conformance suite per backend.

mod conformance;
mod fixtures;
