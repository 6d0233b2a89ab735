//! Pollen benchmarks (see benches/): what the benchmark binaries share.
//!
//! [`domain`] builds the large idle domain of the scale benchmarks: synthetic remote
//! participants and endpoints fed to an engine as the SPDP and SEDP datagrams a real
//! participant would send, then acknowledged, so that the engine's tables are full and
//! nothing is owed.

pub mod domain;
pub mod pair;
