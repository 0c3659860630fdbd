//! The Bolt/PackStream decoder on arbitrary bytes: a clear error or a value, never a panic or an
//! allocation the input does not pay for; and whatever decodes re-encodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    obsctl_bolt::fuzzing::packstream_round_trip(data);
});
