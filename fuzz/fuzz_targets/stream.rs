//! The TCP stream deframer (see `pollen_engine::fuzzing::fuzz_stream`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pollen_engine::fuzzing::fuzz_stream(data);
});
