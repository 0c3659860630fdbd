//! Every builtin tool's dry-run on arbitrary JSON arguments (dry-runs only: fuzzing acts on
//! nothing): a result or a tool error, never a panic; the filesystem tools stay in their root.
#![no_main]

#[path = "support.rs"]
mod support;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(args) = serde_json::from_slice::<serde_json::Value>(rest) else { return };
    let w = support::world();
    let tools = obsctl_agent::tools::BUILTIN_TOOLS;
    let name = tools[usize::from(pick) % tools.len()];
    let Some(tool) = w.rt.registry.get(name) else { return };
    let _ = w.tokio.block_on(tool.dry_run(&args));
});
