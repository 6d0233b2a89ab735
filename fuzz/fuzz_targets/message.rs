//! Whole RTPS datagrams through the wire layer (see `pollen_engine::fuzzing::fuzz_message`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pollen_engine::fuzzing::fuzz_message(data);
});
