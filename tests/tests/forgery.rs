//! The forging helpers of `pollen_tests::adversary` speak the wire well enough to be believed:
//! without this, a hostile-network test that sees "no effect" might only be sending garbage.

use pollen_engine::wire::{Duration, GuidPrefix, Locator};
use pollen_tests::{adversary, Link, SimNet};

/// A forged SPDP is taken for a participant, and Pollen then sends its own SPDP and SEDP to
/// the locator the forgery named (counted as stray bytes: nobody owns it).
#[test]
fn forged_spdp_is_believed() {
    let mut net = SimNet::new(1, Link::perfect());
    let nodes = net.add_multicast_nodes(1);
    let victim = nodes[0];
    let fake = GuidPrefix([0xee; 12]);
    let third = Locator::udpv4([10, 9, 9, 9], 7777);
    let spdp = adversary::spdp(fake, third, Duration::from_secs(30), 0);
    let dst = Locator::udpv4([239, 255, 0, 1], 7400);
    net.inject(victim, 0, third, dst, spdp);
    net.run_for(1_000_000);
    assert!(net
        .engine(victim)
        .participants()
        .any(|p| p.guid_prefix == fake));
    assert!(net.stray_bytes([10, 9, 9, 9], 7777) > 0);
}
