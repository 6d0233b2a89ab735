//! Time conversions between WASI clocks and the engine.
//!
//! `wasi:clocks/monotonic-clock` counts nanoseconds from an arbitrary origin; the engine wants
//! microseconds from one the driver picks. `wasi:clocks/wall-clock` gives seconds and
//! nanoseconds since the Unix epoch; RTPS source timestamps are [`Time`].

use pollen_engine::wire::Time;
use pollen_engine::Instant;

/// Maps monotonic-clock nanoseconds to engine instants (microseconds since `origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    origin_ns: u64,
}

impl Clock {
    /// A clock whose origin is the monotonic reading `origin_ns`.
    pub const fn new(origin_ns: u64) -> Clock {
        Clock { origin_ns }
    }

    /// The engine instant of a monotonic reading (readings before the origin clamp to zero).
    pub const fn to_engine(&self, monotonic_ns: u64) -> Instant {
        Instant::from_micros(monotonic_ns.saturating_sub(self.origin_ns) / 1000)
    }

    /// The monotonic reading at which an engine instant is reached, rounded up so that a
    /// wake-up at that reading never finds the deadline still in the future.
    pub const fn to_monotonic(&self, t: Instant) -> u64 {
        self.origin_ns
            .saturating_add(t.micros().saturating_mul(1000))
    }
}

/// A wall-clock reading (seconds and nanoseconds since the Unix epoch) as an RTPS timestamp.
pub fn wall_to_time(seconds: u64, nanoseconds: u32) -> Time {
    let ns = seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(nanoseconds as u64);
    Time::from_nanos(ns)
}

/// The source timestamp Pollen writes: the wall clock with the nanosecond LSB cleared,
/// because Cyclone's ddsperf takes a data sample with an odd timestamp for an embedded ping.
pub fn source_time(seconds: u64, nanoseconds: u32) -> Time {
    Time::from_nanos(wall_to_time(seconds, nanoseconds).to_nanos() & !1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_round_trip() {
        let c = Clock::new(5_000_000_123);
        assert_eq!(c.to_engine(5_000_000_123), Instant::ZERO);
        assert_eq!(c.to_engine(1), Instant::ZERO, "before the origin clamps");
        assert_eq!(c.to_engine(5_000_123_999), Instant::from_micros(123));
        let t = Instant::from_micros(250_000);
        let ns = c.to_monotonic(t);
        assert_eq!(ns, 5_250_000_123);
        assert_eq!(
            c.to_engine(ns),
            t,
            "a wake-up at the reading meets the deadline"
        );
        assert_eq!(c.to_monotonic(Instant::from_micros(u64::MAX)), u64::MAX);
    }

    #[test]
    fn wall_clock() {
        let t = wall_to_time(1_700_000_000, 500_000_000);
        assert_eq!(t.seconds, 1_700_000_000);
        assert_eq!(t.fraction, 1 << 31);
        assert_eq!(t.to_nanos(), 1_700_000_000_500_000_000);
        assert_eq!(source_time(1, 3).to_nanos(), 1_000_000_002);
        assert_eq!(source_time(1, 4).to_nanos(), 1_000_000_004);
    }
}
