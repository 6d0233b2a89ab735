//! Two Pollen participants, each on its own smoltcp interface, joined by an in-memory Ethernet
//! link that loses frames (seeded): discovery by multicast, by unicast peers or over TCP, then
//! reliable samples delivered exactly once and in order. Time is virtual.
//!
//! The engines are the microcontroller preset ([`Capacities::MICRO`]) in caller-provided
//! storage, as on the firmware: no engine allocation.

use pollen_engine::config::ports;
use pollen_engine::wire::{GuidPrefix, Time};
use pollen_engine::{
    Capacities, Config, Engine, Event, History, Instant, Peer, ReaderQos, Reliability, Storage,
    TopicSpec, WriteError, WriterQos,
};
use pollen_smoltcp::link::{Link, LinkStorage};
use pollen_smoltcp::smoltcp::iface::SocketStorage;
use pollen_smoltcp::{Driver, Memory, NetConfig, TcpStorage, UdpStorage};

const TCP: usize = 4;
type LinkT<'b> = Link<'b, 32, 1514>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discovery {
    Multicast,
    /// Multicast, and one unicast port for metatraffic and user data: two UDP sockets.
    OnePort,
    Unicast,
    Tcp,
}

fn address(n: u8) -> [u8; 4] {
    [10, 0, 0, n]
}

/// Engine storage for `caps`, each run exactly as long as `StorageSizes::of` says.
fn storage(caps: &Capacities) -> Storage<'static> {
    Storage::leaked(caps)
}

fn engine(n: u8, mode: Discovery) -> Engine<'static> {
    let mut c = Config::new(GuidPrefix([n; 12]));
    c.capacities = Capacities::MICRO;
    c.domain_id = 3;
    c.unicast_address = address(n);
    let other = address(3 - n);
    match mode {
        Discovery::Multicast => {}
        Discovery::OnePort => {
            let port = ports::metatraffic_unicast(c.domain_id, c.participant_id) as u16;
            c.unicast_ports = Some((port, port));
        }
        Discovery::Unicast => {
            c.multicast = false;
            assert!(c.add_peer(Peer {
                address: other,
                port: None,
            }));
        }
        Discovery::Tcp => {
            c.multicast = false;
            c.tcp_port = Some(7500);
            c.prefer_tcp = true;
            assert!(c.add_tcp_peer(Peer {
                address: other,
                port: Some(7500),
            }));
        }
    }
    let storage = storage(&c.capacities);
    Engine::with_storage(c, storage, Instant(0)).expect("config")
}

/// Storage for one driver, leaked: tests only.
fn memory() -> Memory<'static, TCP> {
    fn leak<T>(v: T) -> &'static mut T {
        Box::leak(Box::new(v))
    }
    let udp = || leak(UdpStorage::<16, 32_768, 32_768>::new()).buffers();
    Memory {
        sockets: leak([SocketStorage::EMPTY; 3 + TCP]),
        multicast: udp(),
        metatraffic: udp(),
        user: udp(),
        tcp: core::array::from_fn(|_| leak(TcpStorage::<8192, 8192, 4096>::new()).buffers()),
        transmit: Box::leak(vec![0u8; 1472].into_boxed_slice()),
    }
}

/// Storage for one driver whose UDP sockets each receive one datagram of the link's MTU at a
/// time (and send one): enough, since the driver hands each datagram to the engine before it
/// takes the next frame.
fn one_datagram_memory() -> Memory<'static, TCP> {
    let mut m = memory();
    let udp = || Box::leak(Box::new(UdpStorage::<1, 1472, 1472>::new())).buffers();
    m.multicast = udp();
    m.metatraffic = udp();
    m.user = udp();
    m
}

/// Storage for a driver whose engine announces one unicast port ([`Discovery::OnePort`]): two
/// UDP socket slots, and no buffers for the user-data socket it does not open.
fn one_port_memory() -> Memory<'static, TCP> {
    let mut m = memory();
    m.sockets = Box::leak(Box::new([SocketStorage::EMPTY; 2 + TCP]));
    m.user = Box::leak(Box::new(UdpStorage::<0, 0, 0>::new())).buffers();
    m
}

fn net(n: u8) -> NetConfig {
    NetConfig {
        mac: [0x02, 0, 0, 0, 0, n],
        prefix_len: 24,
        gateway: None,
        random_seed: n as u64,
    }
}

/// Bytes per sample: a few samples per datagram, so loss hits data as well as discovery.
const SAMPLE: usize = 400;

fn payload(i: u32) -> [u8; SAMPLE] {
    let mut p = [0u8; SAMPLE];
    p[..4].copy_from_slice(&[0, 1, 0, 0]);
    p[4..8].copy_from_slice(&i.to_le_bytes());
    p
}

/// Runs one scenario; returns the engines' and drivers' counters for the caller to inspect.
fn exchange(mode: Discovery, loss_per_mille: u32, seed: u64, samples: u32) {
    exchange_into(mode, loss_per_mille, seed, samples, memory());
}

/// [`exchange`] with the reader's driver in `memory_b`; returns the writer's retransmits.
fn exchange_into(
    mode: Discovery,
    loss_per_mille: u32,
    seed: u64,
    samples: u32,
    memory_b: Memory<'static, TCP>,
) -> u64 {
    let mut frames = Box::new(LinkStorage::new());
    let link = LinkT::lossy(frames.buffers(), loss_per_mille, seed);
    let mut ea = engine(1, mode);
    let mut eb = engine(2, mode);
    let mut now = Instant(0);
    let memory_a = if mode == Discovery::OnePort {
        one_port_memory()
    } else {
        memory()
    };
    let mut da: Driver<'_, _, TCP> =
        Driver::new(link.port(0), net(1), &ea, memory_a, now).expect("driver a");
    let mut db: Driver<'_, _, TCP> =
        Driver::new(link.port(1), net(2), &eb, memory_b, now).expect("driver b");

    let topic = TopicSpec::new("smoltcp/link", "Counter");
    let wq = WriterQos {
        reliability: Reliability::Reliable,
        history: History::KeepAll,
        ..WriterQos::default()
    };
    let rq = ReaderQos {
        reliability: Reliability::Reliable,
        history: History::KeepAll,
        ..ReaderQos::default()
    };
    let w = ea.create_writer(now, &topic, &wq).unwrap();
    let r = eb.create_reader(now, &topic, &rq).unwrap();

    let mut written = 0u32;
    let mut expect = 0u32;
    let mut out = [0u8; 1024];
    let mut discovered = [false; 2];
    // Virtual time in 1 ms steps: lost frames cost retransmission timers, not wall time.
    let limit = Instant(120_000_000);
    while expect < samples {
        assert!(
            now < limit,
            "{mode:?} loss {loss_per_mille}‰ seed {seed}: stuck at {expect}/{samples} \
             (written {written}, matched {} / {})\nA {:?}\nB {:?}\nA {:?}\nB {:?}\nlink {:?} {:?}",
            ea.matched_readers(w),
            eb.matched_writers(r),
            da.stats(),
            db.stats(),
            ea.stats(),
            eb.stats(),
            link.counters(0),
            link.counters(1),
        );
        da.poll(now, &mut ea);
        db.poll(now, &mut eb);
        for (i, (d, e)) in [(&mut da, &mut ea), (&mut db, &mut eb)]
            .into_iter()
            .enumerate()
        {
            while let Some(ev) = d.poll_event(e) {
                if let Event::ParticipantDiscovered(_) = ev {
                    discovered[i] = true;
                }
            }
        }
        while written < samples && ea.matched_readers(w) > 0 {
            match ea.write(now, w, &payload(written), Time::ZERO) {
                Ok(_) => written += 1,
                Err(WriteError::HistoryFull | WriteError::OutOfMemory) => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        while let Some(info) = eb.take(r, &mut out).unwrap() {
            let v = u32::from_le_bytes(out[4..8].try_into().unwrap());
            assert_eq!(
                v, expect,
                "{mode:?}: out of order or duplicate at {:?}",
                info.sn
            );
            expect += 1;
        }
        now = Instant(now.0 + 1_000);
    }
    assert!(discovered[0] && discovered[1]);
    // Nothing more arrives after the last sample.
    for _ in 0..2_000 {
        da.poll(now, &mut ea);
        db.poll(now, &mut eb);
        assert!(
            eb.take(r, &mut out).unwrap().is_none(),
            "duplicate delivery"
        );
        now = Instant(now.0 + 1_000);
    }
    if loss_per_mille > 0 {
        assert!(link.counters(0).lost + link.counters(1).lost > 0);
    }
    if mode == Discovery::Tcp {
        assert!(da.stats().streams_connected > 0 && db.stats().streams_accepted > 0);
        assert!(da.stats().stream_messages_sent > 0);
    }
    eprintln!(
        "{mode:?} loss {loss_per_mille}‰: {samples} samples in {} ms virtual; A {:?}; link {:?}",
        now.0 / 1000,
        da.stats(),
        link.counters(0)
    );
    ea.stats().retransmits
}

/// Receive buffers of one datagram lose nothing on a lossless link, though the writer sends
/// several datagrams between two polls of the reader: each is handed to the engine before the
/// next frame is taken (smoltcp's whole-queue `poll` filled the one-datagram buffer with the
/// first and dropped the rest, and the writer repaired them).
#[test]
fn one_datagram_receive_buffers_lose_nothing() {
    let retransmits = exchange_into(Discovery::Multicast, 0, 8, 300, one_datagram_memory());
    assert_eq!(retransmits, 0);
}

/// An engine announcing one unicast port for metatraffic and user data gets a driver with two
/// UDP sockets (the slots for three are no longer required) and loses nothing under loss.
#[test]
fn one_unicast_port_two_sockets() {
    exchange_into(Discovery::OnePort, 100, 9, 300, one_port_memory());
}

/// Empty user-data buffers are refused when the engine asks for a user-data socket (its own
/// port): every DATA sent there would have been dropped, uncounted.
#[test]
fn a_socket_without_receive_buffer_is_refused() {
    let mut frames = Box::new(LinkStorage::new());
    let link = LinkT::lossy(frames.buffers(), 0, 1);
    let e = engine(1, Discovery::Multicast);
    let mut m = memory();
    m.user = Box::leak(Box::new(UdpStorage::<0, 0, 0>::new())).buffers();
    let d: Result<Driver<'_, _, TCP>, _> = Driver::new(link.port(0), net(1), &e, m, Instant(0));
    assert!(matches!(d, Err(pollen_smoltcp::Error::NoReceiveBuffer)));
}

#[test]
fn multicast_discovery_lossless() {
    exchange(Discovery::Multicast, 0, 1, 300);
}

#[test]
fn multicast_discovery_with_loss() {
    for seed in 1..=3 {
        exchange(Discovery::Multicast, 200, seed, 300);
    }
}

#[test]
fn unicast_peers_with_loss() {
    for seed in 4..=5 {
        exchange(Discovery::Unicast, 100, seed, 300);
    }
}

#[test]
fn tcp_only_with_loss() {
    exchange(Discovery::Tcp, 0, 6, 200);
    exchange(Discovery::Tcp, 100, 7, 200);
}
