//! Pollen benchmarks (see benches/).
