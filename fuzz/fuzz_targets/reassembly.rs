//! DATA_FRAG reassembly in readers (see `pollen_engine::fuzzing::fuzz_reassembly`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pollen_engine::fuzzing::fuzz_reassembly(data);
});
