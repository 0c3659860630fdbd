//! The obsctl agent: plans a fix for each incident, passes every action through the policy
//! gate, journals it, runs it through an MCP-shaped tool, verifies it and records the outcome.
//!
//! Architecture invariant: the executor is the only code that calls `Tool::call`, and it does
//! so only for an action the gate approved and the store has journaled, or for a tool whose
//! annotations say it only reads (`Agent::read_tool`: audited, never journaled).

pub mod agent;
pub mod executor;
pub mod gate;
pub mod leadership;
pub mod llm;
pub mod mcp_client;
pub mod memory_sync;
pub mod planner;
pub mod tools;
pub mod trace_export;
pub mod verify;

pub use agent::Agent;
pub use leadership::{Leadership, live_holder};
pub use tools::{Tool, ToolRegistry, ToolSpec};
pub use verify::CheckRunner;

#[cfg(test)]
mod test_support;
