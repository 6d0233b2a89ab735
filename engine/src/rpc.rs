//! The related sample identity a sample carries (DDS-RPC's, as ROS 2 services over Fast DDS
//! use it: a reply names the request it answers). Kept with each change and received sample
//! only with the `rpc` feature, so a device that serves no requests pays nothing per slot;
//! without it a received identity is dropped and a reply cannot be written.

use crate::wire::SampleIdentity;

/// The identity a change or sample carries, if any (zero-sized without `rpc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Related(#[cfg(feature = "rpc")] Option<SampleIdentity>);

impl Related {
    /// None.
    pub(crate) const NONE: Related = Related(
        #[cfg(feature = "rpc")]
        None,
    );

    /// Keeps `r` (drops it without `rpc`).
    pub(crate) fn new(r: Option<SampleIdentity>) -> Related {
        #[cfg(feature = "rpc")]
        return Related(r);
        #[cfg(not(feature = "rpc"))]
        {
            let _ = r;
            Related::NONE
        }
    }

    /// The identity kept.
    pub(crate) fn get(self) -> Option<SampleIdentity> {
        #[cfg(feature = "rpc")]
        return self.0;
        #[cfg(not(feature = "rpc"))]
        None
    }
}
