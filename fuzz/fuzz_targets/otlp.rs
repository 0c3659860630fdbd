//! The OTLP receiver's decoder on arbitrary bodies, for each signal, encoding and gzip flag:
//! resources or a named error, never a panic, and never more than the body bound in memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obsctl_core::check::TelemetrySignal;
use obsctl_engine::otlp::{Encoding, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let signal = [TelemetrySignal::Traces, TelemetrySignal::Logs, TelemetrySignal::Metrics][usize::from(pick % 3)];
    let encoding = if pick & 4 == 0 { Encoding::Protobuf } else { Encoding::Json };
    let _ = decode(signal, encoding, pick & 8 != 0, body, 64 * 1024);
});
