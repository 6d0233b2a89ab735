//! Time as the engine sees it: monotonic microseconds from a driver-chosen origin, and wall
//! clock source timestamps.

use pollen_engine::wire::Time;
use pollen_engine::Instant;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Maps [`std::time::Instant`] to engine [`Instant`]s (microseconds since the clock was made).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn new() -> Clock {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The current engine instant.
    pub fn now(&self) -> Instant {
        self.to_engine(std::time::Instant::now())
    }

    /// Converts a std instant (clamped to the origin).
    pub fn to_engine(&self, t: std::time::Instant) -> Instant {
        let us = t.saturating_duration_since(self.origin).as_micros();
        Instant::from_micros(us.min(u64::MAX as u128) as u64)
    }

    /// Converts an engine instant back to a std instant.
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.origin + Duration::from_micros(t.micros())
    }

    /// The wall clock as an RTPS source timestamp.
    pub fn wall_time() -> Time {
        let ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64);
        Time::from_nanos(ns)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
