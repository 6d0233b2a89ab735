//! Two engines in memory, engine A driven by a sequence of operations: datagrams (raw or
//! spliced onto B's real traffic), time, writes, takes, loss (see
//! `pollen_engine::fuzzing::fuzz_engine`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pollen_engine::fuzzing::fuzz_engine(data);
});
