//! The config loader, `${VAR}` interpolation and `.env` parsing on arbitrary input: an error
//! that names the file and field, never a panic. Input: `.env` text, a NUL, then the TOML.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use obsctl_config::{LoadOptions, load};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (dotenv, toml) = text.split_once('\0').unwrap_or(("", text));
    // A `.env` with problems is left out: the loader is what this target exercises.
    let env: HashMap<String, String> = obsctl_core::dotenv::parse(dotenv).unwrap_or_default().into_iter().collect();
    let opts = LoadOptions { file: "fuzz.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS };
    if let Err(errors) = load(toml, &env, &opts) {
        assert!(!errors.0.is_empty(), "an error with no problem in it");
        for e in &errors.0 {
            assert_eq!(e.file, "fuzz.toml");
        }
    }
});
