//! Pollen on a Cortex-M4 with no OS and no heap: two participants, each with its own smoltcp
//! interface, joined by an in-memory Ethernet link (a static ring of frames), discover each
//! other over SPDP multicast and exchange reliable samples. The result goes out over
//! semihosting; the exit status says whether every sample arrived exactly once and in order.
//!
//! Run: `cargo run --release` (QEMU's mps2-an386, see .cargo/config.toml).
//!
//! Time is virtual: the loop jumps to the earlier of the two drivers' deadlines, as a real
//! loop would sleep until then (or until the NIC interrupts).
//!
//! Memory: each engine runs on the microcontroller preset ([`Capacities::MICRO`]) in caller
//! storage ([`Engine::with_storage`]); every table, socket buffer and the engines themselves
//! live in statics handed out once, written in place (`.bss`, nothing large on the stack and
//! no initialiser in flash). The free stack is painted at start; the deepest use while the
//! engines are created and while they run is printed as `stack peak: N bytes`.
#![no_std]
#![no_main]

use core::fmt::Write as _;
use core::mem::{size_of, MaybeUninit};
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hio};
use pollen_engine::wire::{GuidPrefix, Time};
use pollen_engine::{
    Capacities, Config, Engine, EventSlot, History, HistorySlot, Instant, MapSlot, ParticipantSlot,
    ReaderHandle, ReaderProxySlot, ReaderQos, ReaderSlot, ReassemblySlot, Reliability,
    RemoteEndpointSlot, SampleSlot, Storage, StorageSizes, TimerSlot, TopicSpec, WriteError,
    WriterHandle, WriterProxySlot, WriterQos, WriterSlot,
};
use pollen_smoltcp::link::{Link, LinkBuffers, Port};
use pollen_smoltcp::smoltcp::iface::SocketStorage;
use pollen_smoltcp::{Driver, Memory, NetConfig, UdpBuffers, UdpPacketMetadata};

/// The microcontroller preset, as the firmware needs it: one writer, one reader, eight remote
/// participants.
const CAPS: Capacities = Capacities {
    writers: 1,
    readers: 1,
    participants: 8,
    ..Capacities::MICRO
};
/// How long each run of an engine's storage is.
const SIZES: StorageSizes = StorageSizes::of(&CAPS);

/// Engine datagrams up to 1024 bytes: Ethernet frames up to 1024 + 28 + 14.
const MTU: usize = 1024;
const FRAME: usize = MTU + 28 + 14;
/// Frames in flight each way on the link.
const SLOTS: usize = 4;
/// Samples sent from the first participant to the second.
const SAMPLES: u32 = 100;
/// Bytes per sample (4 of them the CDR encapsulation header).
const SAMPLE: usize = 64;

type Wire = Link<'static, SLOTS, FRAME>;
type Dev = Port<'static, 'static, SLOTS, FRAME>;
/// UDP-only: no TCP sockets.
type Net = Driver<'static, Dev, 0>;

/// Socket buffers (datagrams, received bytes, bytes to send): the metatraffic socket sends
/// everything and receives SEDP and ACKNACK/HEARTBEAT; the user socket receives data; the
/// multicast socket receives SPDP.
const META_UDP: (usize, usize, usize) = (4, 3072, 3072);
const USER_UDP: (usize, usize, usize) = (4, 3072, 0);
const SPDP_UDP: (usize, usize, usize) = (2, 1024, 0);

/// Stack words painted at start to measure the deepest use.
const PAINT: u32 = 0xdead_beef;

/// A `&'static mut` to a value in a static of its own (`.bss`), handed out once. The value is
/// built on the stack and moved in, so this is for small ones (an engine, a driver, the link);
/// tables and buffers go through [`run!`].
macro_rules! static_mut {
    ($ty:ty = $e:expr) => {
        cortex_m::singleton!(: $ty = $e).expect("initialised once")
    };
}

/// `$n` values `$v` of type `$t` in a static of their own (`.bss`), handed out once, each
/// written in place: no temporary of the run's size on the stack (`singleton!(: [T; N] = ..)`
/// builds the whole array on the stack first), and no initialiser in flash.
macro_rules! run {
    ($t:ty, $n:expr, $v:expr) => {
        fill(
            cortex_m::singleton!(: [MaybeUninit<$t>; $n] = [const { MaybeUninit::uninit() }; $n])
                .expect("initialised once"),
            || $v,
        )
    };
}

/// Writes `v()` into every element of `run` and hands it out initialised.
fn fill<T, const N: usize>(
    run: &'static mut [MaybeUninit<T>; N],
    v: impl Fn() -> T,
) -> &'static mut [T; N] {
    for x in run.iter_mut() {
        x.write(v());
    }
    // SAFETY: every element was written just above, and `MaybeUninit<T>` has the size,
    // alignment and layout of `T`, so the array is a valid `[T; N]`.
    unsafe { &mut *(run as *mut [MaybeUninit<T>; N] as *mut [T; N]) }
}

/// One engine's storage, each run as long as [`StorageSizes::of`] says (each expansion makes
/// statics of its own).
macro_rules! storage {
    () => {
        Storage {
            participants: run!(ParticipantSlot, SIZES.participants, ParticipantSlot::EMPTY),
            remote_endpoints: run!(
                RemoteEndpointSlot,
                SIZES.remote_endpoints,
                RemoteEndpointSlot::EMPTY
            ),
            writers: run!(WriterSlot<'static>, SIZES.writers, WriterSlot::EMPTY),
            readers: run!(ReaderSlot<'static>, SIZES.readers, ReaderSlot::EMPTY),
            reader_proxies: run!(
                ReaderProxySlot,
                SIZES.reader_proxies,
                ReaderProxySlot::EMPTY
            ),
            writer_proxies: run!(
                WriterProxySlot,
                SIZES.writer_proxies,
                WriterProxySlot::EMPTY
            ),
            history: run!(HistorySlot, SIZES.history, HistorySlot::EMPTY),
            samples: run!(SampleSlot, SIZES.samples, SampleSlot::EMPTY),
            reassemblies: run!(ReassemblySlot, SIZES.reassemblies, ReassemblySlot::EMPTY),
            fragment_bits: run!(u32, SIZES.fragment_bits, 0),
            pool: run!(u8, SIZES.pool, 0),
            pool_links: run!(u32, SIZES.pool_links, 0),
            events: run!(EventSlot, SIZES.events, EventSlot::EMPTY),
            index: run!(MapSlot, SIZES.index, MapSlot::EMPTY),
            work: run!(u64, SIZES.work, 0),
            timers: run!(TimerSlot, SIZES.timers, TimerSlot::EMPTY),
            timer_positions: run!(u32, SIZES.timers, 0),
            scratch: run!(u8, SIZES.scratch, 0),
        }
    };
}

/// Bytes of one engine's storage.
const fn storage_bytes() -> usize {
    SIZES.bytes()
}

/// The buffers of one UDP socket, `(datagrams, received bytes, bytes to send)`.
macro_rules! udp {
    ($size:expr) => {
        UdpBuffers {
            rx_meta: run!(UdpPacketMetadata, $size.0, UdpPacketMetadata::EMPTY),
            rx_payload: run!(u8, $size.1, 0),
            tx_meta: run!(UdpPacketMetadata, $size.0, UdpPacketMetadata::EMPTY),
            tx_payload: run!(u8, $size.2, 0),
        }
    };
}

/// Bytes of one participant's sockets and transmit buffer.
const fn socket_bytes() -> usize {
    let meta = size_of::<UdpPacketMetadata>();
    let mut n = 3 * size_of::<SocketStorage<'static>>() + MTU;
    let sockets = [META_UDP, USER_UDP, SPDP_UDP];
    let mut i = 0;
    while i < sockets.len() {
        let (packets, rx, tx) = sockets[i];
        n += 2 * packets * meta + rx + tx;
        i += 1;
    }
    n
}

/// One participant's socket slots and buffers (each expansion makes statics of its own).
macro_rules! memory {
    () => {
        Memory {
            sockets: run!(SocketStorage<'static>, 3, SocketStorage::EMPTY),
            multicast: udp!(SPDP_UDP),
            metatraffic: udp!(META_UDP),
            user: udp!(USER_UDP),
            tcp: [],
            transmit: run!(u8, MTU, 0),
        }
    };
}

/// The link's buffers: frames in flight and a discard frame, each way (each expansion makes
/// statics of its own).
macro_rules! link_buffers {
    () => {
        LinkBuffers {
            frames: [
                run!([u8; FRAME], SLOTS, [0; FRAME]),
                run!([u8; FRAME], SLOTS, [0; FRAME]),
            ],
            discard: [run!(u8, FRAME, 0), run!(u8, FRAME, 0)],
        }
    };
}

fn engine(n: u8, storage: Storage<'static>) -> Engine<'static> {
    let mut c = Config::new(GuidPrefix([0x50, 0x4f, 0x4c, n, 0, 0, 0, 0, 0, 0, 0, n]));
    c.unicast_address = [192, 168, 7, n];
    c.mtu = MTU;
    c.capacities = CAPS;
    Engine::with_storage(c, storage, Instant(0)).expect("engine config")
}

fn driver(n: u8, port: Dev, engine: &Engine<'_>, memory: Memory<'static, 0>) -> Net {
    let net = NetConfig {
        mac: [0x02, 0, 0, 0, 7, n],
        prefix_len: 24,
        gateway: None,
        random_seed: 0x5eed + n as u64,
    };
    Driver::new(port, net, engine, memory, Instant(0)).expect("driver")
}

fn payload(i: u32) -> [u8; SAMPLE] {
    let mut p = [0u8; SAMPLE];
    p[..4].copy_from_slice(&[0, 1, 0, 0]);
    p[4..8].copy_from_slice(&i.to_le_bytes());
    p
}

extern "C" {
    static mut _stack_end: u32;
}

/// Fills the free stack below us with a pattern; returns its lowest address.
fn paint_stack() -> *mut u32 {
    // SAFETY: `_stack_end` is cortex-m-rt's end of .bss; everything between it and our stack
    // pointer (less a margin for this frame) is unused stack, so writing it is harmless.
    unsafe {
        let low = core::ptr::addr_of_mut!(_stack_end);
        let high = (cortex_m::register::msp::read() as *mut u32).sub(64);
        let mut p = low;
        while p < high {
            p.write_volatile(PAINT);
            p = p.add(1);
        }
        low
    }
}

/// Bytes of stack ever used: from the top down to the lowest overwritten word.
fn stack_used(low: *mut u32) -> usize {
    extern "C" {
        static _stack_start: u32;
    }
    // SAFETY: reads words of the painted region only, with volatile reads.
    unsafe {
        let top = core::ptr::addr_of!(_stack_start) as usize;
        let mut p = low;
        while p.read_volatile() == PAINT {
            p = p.add(1);
        }
        top - p as usize
    }
}

/// Everything in statics. Not inlined, so that main's frame (live while the loop runs) holds
/// none of the temporaries.
#[inline(never)]
fn setup() -> (
    &'static Wire,
    &'static mut Engine<'static>,
    &'static mut Engine<'static>,
    &'static mut Net,
    &'static mut Net,
) {
    let wire: &'static Wire = static_mut!(Wire = Wire::lossy(link_buffers!(), 50, 7));
    let ea: &'static mut Engine<'static> = static_mut!(Engine<'static> = engine(1, storage!()));
    let eb: &'static mut Engine<'static> = static_mut!(Engine<'static> = engine(2, storage!()));
    let da: &'static mut Net = static_mut!(Net = driver(1, wire.port(0), ea, memory!()));
    let db: &'static mut Net = static_mut!(Net = driver(2, wire.port(1), eb, memory!()));
    (wire, ea, eb, da, db)
}

/// The writer on the first participant and the reader on the second. Not inlined either.
#[inline(never)]
fn endpoints(ea: &mut Engine<'_>, eb: &mut Engine<'_>) -> (WriterHandle, ReaderHandle) {
    let topic = TopicSpec::new("firmware/counter", "Counter");
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
    let w = ea.create_writer(Instant(0), &topic, &wq).expect("writer");
    let r = eb.create_reader(Instant(0), &topic, &rq).expect("reader");
    (w, r)
}

#[entry]
fn main() -> ! {
    let low = paint_stack();
    let mut out = hio::hstdout().ok();
    macro_rules! say {
        ($($t:tt)*) => {
            if let Some(o) = out.as_mut() {
                let _ = writeln!(o, $($t)*);
            }
        };
    }

    let (wire, ea, eb, da, db) = setup();
    let (w, r) = endpoints(ea, eb);

    let creating = stack_used(low);
    // Paint again: what the loop below uses is the steady-state stack.
    let low = paint_stack();

    let mut now = Instant(0);
    let mut written = 0u32;
    let mut expect = 0u32;
    let mut bad = 0u32;
    let mut buf = [0u8; SAMPLE];
    let mut turns = 0u32;
    let limit = Instant(60_000_000);
    while expect < SAMPLES && now < limit {
        turns += 1;
        let ta = da.poll(now, ea);
        let tb = db.poll(now, eb);
        while da.poll_event(ea).is_some() {}
        while db.poll_event(eb).is_some() {}
        while written < SAMPLES && ea.matched_readers(w) > 0 {
            match ea.write(now, w, &payload(written), Time::ZERO) {
                Ok(_) => written += 1,
                Err(WriteError::HistoryFull | WriteError::OutOfMemory) => break,
                Err(_) => {
                    bad += 1;
                    break;
                }
            }
        }
        while let Ok(Some(_)) = eb.take(r, &mut buf) {
            let v = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
            if v != expect {
                bad += 1;
            }
            expect = v + 1;
        }
        // Sleep until the earlier deadline: at least 10 us, at most 10 ms of virtual time.
        let next = match (ta, tb) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(Instant(now.0 + 10_000)),
        };
        now = Instant(next.0.clamp(now.0 + 10, now.0 + 10_000));
    }

    let ok = expect == SAMPLES && bad == 0;
    say!(
        "pollen firmware: {} of {} reliable samples in order, {} out of order; {} ms virtual, {} turns",
        expect,
        SAMPLES,
        bad,
        now.0 / 1000,
        turns
    );
    let (la, lb) = (wire.counters(0), wire.counters(1));
    say!(
        "link: {} frames delivered, {} lost (5%), {} overflowed",
        la.delivered + lb.delivered,
        la.lost + lb.lost,
        la.overflowed + lb.overflowed
    );
    let s = ea.stats();
    say!(
        "writer: {} datagrams out, {} retransmits, {} heartbeats; driver parked {} times",
        s.datagrams_out,
        s.retransmits,
        s.heartbeats_sent,
        da.stats().parked + db.stats().parked
    );
    let running = stack_used(low);
    say!(
        "memory per participant: engine storage {} B, Engine {} B, Driver {} B, sockets {} B; link {} B",
        storage_bytes(),
        size_of::<Engine<'static>>(),
        size_of::<Net>(),
        socket_bytes(),
        size_of::<Wire>() + 2 * (SLOTS + 1) * FRAME
    );
    say!(
        "stack: {} B creating the engines, drivers and endpoints, {} B running",
        creating,
        running
    );
    say!("stack peak: {} bytes", creating.max(running));
    say!("{}", if ok { "PASS" } else { "FAIL" });
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Reports where it panicked, not the message: formatting panic messages would link their
/// machinery into the image (about 12 KB of flash).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if let Ok(mut o) = hio::hstdout() {
        match info.location() {
            Some(l) => {
                let _ = writeln!(o, "panic at {}:{}", l.file(), l.line());
            }
            None => {
                let _ = writeln!(o, "panic");
            }
        }
        let _ = writeln!(o, "FAIL");
    }
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
