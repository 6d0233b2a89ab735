//! Parameter lists: first byte picks the byte order (see
//! `pollen_engine::fuzzing::fuzz_parameter_list`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pollen_engine::fuzzing::fuzz_parameter_list(data);
});
