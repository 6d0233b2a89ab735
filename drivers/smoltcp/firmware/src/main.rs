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
//! storage ([`Engine::with_storage`]). Everything one participant keeps outside the stack (its
//! tables, socket buffers, the engine and the driver) is one [`Participant`] in a static
//! (`.bss`), written in place: nothing large on the stack, no initialiser in flash, and its
//! size is the participant's static RAM, printed as `ram: N B static`. The free stack is
//! painted at start; the deepest use while the engines are created and while they run is
//! printed as `stack peak: N B`. `scripts/test.sh firmware` checks both, and the image's
//! flash, against the budget (64 KiB of flash, 32 KiB of RAM per participant).
//!
//! Nothing here formats (`core::fmt` costs kilobytes of flash): [`Out`] prints strings and
//! decimals, and the panic handler prints the location only. `scripts/test.sh firmware`
//! measures the image built as a product would be: `core` rebuilt with panics that trap
//! (`-Zbuild-std=core -Cpanic=immediate-abort`, no panic locations in flash), the engine
//! without its host defaults (`long-names`, `frag`, `fast-paths`).
#![no_std]
#![no_main]

use core::mem::{size_of, MaybeUninit};
use core::sync::atomic::{AtomicBool, Ordering};
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};
use pollen_engine::config::ports;
use pollen_engine::wire::{GuidPrefix, Time};
use pollen_engine::{
    Capacities, Config, Engine, EventSlot, History, HistorySlot, Instant, MapSlot, ParticipantSlot,
    ReaderHandle, ReaderProxySlot, ReaderQos, ReaderSlot, ReassemblySlot, Reliability,
    RemoteEndpointSlot, SampleSlot, Storage, StorageSizes, TimerSlot, TopicSpec, WriteError,
    WriterHandle, WriterProxySlot, WriterQos, WriterSlot,
};
use pollen_smoltcp::link::{Link, LinkStorage, Port};
use pollen_smoltcp::smoltcp::iface::SocketStorage;
use pollen_smoltcp::{Driver, Memory, NetConfig, UdpBuffers, UdpPacketMetadata};

/// The microcontroller preset, as the firmware needs it: one writer, one reader, eight remote
/// participants.
const CAPS: Capacities = Capacities {
    writers: 1,
    readers: 1,
    participants: 8,
    // Built without DATA_FRAG (the engine's `frag` feature), so no discovery sample is larger
    // than one datagram.
    discovery_data: MTU,
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

/// Socket buffers (datagrams received, received bytes, datagrams to send, bytes to send): the
/// unicast socket sends everything and receives everything but multicast SPDP (the engine
/// announces one port for metatraffic and user data, as Cyclone DDS does, so there is no
/// user-data socket and no receive buffer for it); the multicast socket receives SPDP. Each
/// receives one datagram of
/// the MTU (the largest the link carries; on a 1500-byte Ethernet it would be 1472 bytes),
/// since the driver hands every datagram to the engine before it takes the next frame from
/// the device; the sender holds one full datagram (or a few small ones), since the
/// driver polls smoltcp's egress between transmits and keeps the one that does not fit for
/// the next round.
const META_UDP: (usize, usize, usize, usize) = (1, MTU, 4, MTU);
const SPDP_UDP: (usize, usize, usize, usize) = (1, MTU, 0, 0);

/// Stack words painted at start to measure the deepest use.
const PAINT: u32 = 0xdead_beef;

/// A run of `N` uninitialised values.
type Run<T, const N: usize> = [MaybeUninit<T>; N];

/// Writes `v()` into every element of `run` and hands it out initialised, borrowed for as long
/// as `run` is.
fn fill<T, const N: usize>(run: &mut Run<T, N>, v: impl Fn() -> T) -> &mut [T] {
    for x in run.iter_mut() {
        x.write(v());
    }
    // SAFETY: every element was written just above, and `MaybeUninit<T>` has the size,
    // alignment and layout of `T`, so the run is a valid `[T; N]`.
    unsafe { &mut *(run as *mut Run<T, N> as *mut [T; N]) }
}

/// One engine's storage, each run as long as [`StorageSizes::of`] says.
struct Tables {
    participants: Run<ParticipantSlot, { SIZES.participants }>,
    remote_endpoints: Run<RemoteEndpointSlot, { SIZES.remote_endpoints }>,
    writers: Run<WriterSlot<'static>, { SIZES.writers }>,
    readers: Run<ReaderSlot<'static>, { SIZES.readers }>,
    reader_proxies: Run<ReaderProxySlot, { SIZES.reader_proxies }>,
    writer_proxies: Run<WriterProxySlot, { SIZES.writer_proxies }>,
    history: Run<HistorySlot, { SIZES.history }>,
    samples: Run<SampleSlot, { SIZES.samples }>,
    reassemblies: Run<ReassemblySlot, { SIZES.reassemblies }>,
    fragment_bits: Run<u32, { SIZES.fragment_bits }>,
    pool: Run<u8, { SIZES.pool }>,
    pool_links: Run<u32, { SIZES.pool_links }>,
    events: Run<EventSlot, { SIZES.events }>,
    index: Run<MapSlot, { SIZES.index }>,
    work: Run<u64, { SIZES.work }>,
    timers: Run<TimerSlot, { SIZES.timers }>,
    timer_positions: Run<u32, { SIZES.timers }>,
    scratch: Run<u8, { SIZES.scratch }>,
}

/// The buffers of one UDP socket: `(datagrams received, received bytes, datagrams to send,
/// bytes to send)`.
struct Udp<const RP: usize, const RX: usize, const TP: usize, const TX: usize> {
    rx_meta: Run<UdpPacketMetadata, RP>,
    rx_payload: Run<u8, RX>,
    tx_meta: Run<UdpPacketMetadata, TP>,
    tx_payload: Run<u8, TX>,
}

impl<const RP: usize, const RX: usize, const TP: usize, const TX: usize> Udp<RP, RX, TP, TX> {
    fn buffers(&mut self) -> UdpBuffers<'_> {
        UdpBuffers {
            rx_meta: fill(&mut self.rx_meta, || UdpPacketMetadata::EMPTY),
            rx_payload: fill(&mut self.rx_payload, || 0),
            tx_meta: fill(&mut self.tx_meta, || UdpPacketMetadata::EMPTY),
            tx_payload: fill(&mut self.tx_payload, || 0),
        }
    }
}

/// One participant's socket slots and buffers.
struct Sockets {
    sockets: Run<SocketStorage<'static>, 2>,
    multicast: Udp<{ SPDP_UDP.0 }, { SPDP_UDP.1 }, { SPDP_UDP.2 }, { SPDP_UDP.3 }>,
    metatraffic: Udp<{ META_UDP.0 }, { META_UDP.1 }, { META_UDP.2 }, { META_UDP.3 }>,
    transmit: Run<u8, MTU>,
}

/// Everything one participant keeps in RAM outside the stack.
struct Participant {
    tables: Tables,
    sockets: Sockets,
    engine: MaybeUninit<Engine<'static>>,
    driver: MaybeUninit<Net>,
}

/// `[const { MaybeUninit::uninit() }; N]` for every field.
macro_rules! uninit {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        $ty { $($field: [const { MaybeUninit::uninit() }; _]),* }
    };
}

impl Participant {
    const UNINIT: Participant = Participant {
        tables: uninit!(Tables {
            participants,
            remote_endpoints,
            writers,
            readers,
            reader_proxies,
            writer_proxies,
            history,
            samples,
            reassemblies,
            fragment_bits,
            pool,
            pool_links,
            events,
            index,
            work,
            timers,
            timer_positions,
            scratch,
        }),
        sockets: Sockets {
            sockets: [const { MaybeUninit::uninit() }; 2],
            multicast: uninit!(Udp {
                rx_meta,
                rx_payload,
                tx_meta,
                tx_payload
            }),
            metatraffic: uninit!(Udp {
                rx_meta,
                rx_payload,
                tx_meta,
                tx_payload
            }),
            transmit: [const { MaybeUninit::uninit() }; MTU],
        },
        engine: MaybeUninit::uninit(),
        driver: MaybeUninit::uninit(),
    };
}

impl Tables {
    /// The runs, each written in place.
    fn storage(&'static mut self) -> Storage<'static> {
        Storage {
            participants: fill(&mut self.participants, ParticipantSlot::vacant),
            remote_endpoints: fill(&mut self.remote_endpoints, RemoteEndpointSlot::vacant),
            writers: fill(&mut self.writers, WriterSlot::vacant),
            readers: fill(&mut self.readers, ReaderSlot::vacant),
            reader_proxies: fill(&mut self.reader_proxies, ReaderProxySlot::vacant),
            writer_proxies: fill(&mut self.writer_proxies, WriterProxySlot::vacant),
            history: fill(&mut self.history, HistorySlot::vacant),
            samples: fill(&mut self.samples, SampleSlot::vacant),
            reassemblies: fill(&mut self.reassemblies, ReassemblySlot::vacant),
            fragment_bits: fill(&mut self.fragment_bits, || 0),
            pool: fill(&mut self.pool, || 0),
            pool_links: fill(&mut self.pool_links, || 0),
            events: fill(&mut self.events, EventSlot::vacant),
            index: fill(&mut self.index, MapSlot::vacant),
            work: fill(&mut self.work, || 0),
            timers: fill(&mut self.timers, TimerSlot::vacant),
            timer_positions: fill(&mut self.timer_positions, || 0),
            scratch: fill(&mut self.scratch, || 0),
        }
    }
}

impl Sockets {
    fn memory(&'static mut self) -> Memory<'static, 0> {
        Memory {
            sockets: fill(&mut self.sockets, || SocketStorage::EMPTY),
            multicast: self.multicast.buffers(),
            metatraffic: self.metatraffic.buffers(),
            user: UdpBuffers {
                rx_meta: &mut [],
                rx_payload: &mut [],
                tx_meta: &mut [],
                tx_payload: &mut [],
            },
            tcp: [],
            transmit: fill(&mut self.transmit, || 0),
        }
    }
}

/// Stops the run: prints why and exits with failure.
fn fail(why: &str) -> ! {
    Out::new().s("setup failed: ").s(why).s("\nFAIL\n");
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

impl Participant {
    /// Builds participant `n`'s engine and driver in place.
    fn start(
        &'static mut self,
        n: u8,
        port: Dev,
    ) -> (&'static mut Engine<'static>, &'static mut Net) {
        let Participant {
            tables,
            sockets,
            engine,
            driver,
        } = self;
        // Each callee makes its own runs (`Storage`, `Memory`): made here, they would sit in
        // this frame under the engine's creation, the stack's peak.
        let engine = new_engine(engine, n, tables);
        let driver = new_driver(driver, n, port, engine, sockets);
        (engine, driver)
    }
}

/// Participant `n`'s engine, written into `slot`. Not inlined (nor is [`new_driver`]): one
/// copy serves both participants, and the two frames are not live at once.
#[inline(never)]
fn new_engine(
    slot: &'static mut MaybeUninit<Engine<'static>>,
    n: u8,
    tables: &'static mut Tables,
) -> &'static mut Engine<'static> {
    let mut c = Config::new(GuidPrefix([0x50, 0x4f, 0x4c, n, 0, 0, 0, 0, 0, 0, 0, n]));
    c.unicast_address = [192, 168, 7, n];
    // One unicast socket: user data comes to the metatraffic port.
    let port = ports::metatraffic_unicast(c.domain_id, c.participant_id) as u16;
    c.unicast_ports = Some((port, port));
    c.mtu = MTU;
    c.capacities = CAPS;
    // Made in the static: only the engine without its builtin endpoints is built on the
    // stack first (`with_storage` would return it whole, to be copied).
    match Engine::with_storage_in(slot, c, tables.storage(), Instant(0)) {
        Ok(e) => e,
        Err(_) => fail("engine config"),
    }
}

/// Participant `n`'s driver, written into `slot`.
#[inline(never)]
fn new_driver(
    slot: &'static mut MaybeUninit<Net>,
    n: u8,
    port: Dev,
    engine: &Engine<'_>,
    sockets: &'static mut Sockets,
) -> &'static mut Net {
    let net = NetConfig {
        mac: [0x02, 0, 0, 0, 7, n],
        prefix_len: 24,
        gateway: None,
        random_seed: 0x5eed + n as u64,
    };
    match Driver::new(port, net, engine, sockets.memory(), Instant(0)) {
        Ok(d) => slot.write(d),
        Err(_) => fail("driver"),
    }
}

/// Semihosting output, without `core::fmt`.
struct Out(Option<hio::HostStream>);

impl Out {
    fn new() -> Out {
        Out(hio::hstdout().ok())
    }

    /// Prints `s`.
    fn s(&mut self, s: &str) -> &mut Out {
        if let Some(o) = self.0.as_mut() {
            let _ = o.write_all(s.as_bytes());
        }
        self
    }

    /// Prints `v` in decimal.
    fn n(&mut self, mut v: u64) -> &mut Out {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if let Some(o) = self.0.as_mut() {
            let _ = o.write_all(&digits[i..]);
        }
        self
    }
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
    [(&'static mut Engine<'static>, &'static mut Net); 2],
) {
    let Memories {
        participants: [a, b],
        link,
    } = memories();
    let Some(wire) = cortex_m::singleton!(: Wire = Wire::lossy(link.buffers(), 50, 7)) else {
        fail("link");
    };
    let wire: &'static Wire = wire;
    (wire, [a.start(1, wire.port(0)), b.start(2, wire.port(1))])
}

/// The memory of both participants and the link's frames.
struct Memories {
    participants: [Participant; 2],
    link: LinkStorage<SLOTS, FRAME>,
}

/// All uninitialised or zero, so in `.bss`, and never built on the stack (`singleton!` would
/// build its value there first).
static mut MEMORIES: Memories = Memories {
    participants: [Participant::UNINIT, Participant::UNINIT],
    link: LinkStorage::new(),
};

/// [`MEMORIES`], handed out once.
fn memories() -> &'static mut Memories {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::Relaxed) {
        fail("memories taken twice");
    }
    // SAFETY: the flag above lets this run once, so this is the only reference ever made.
    unsafe { &mut *core::ptr::addr_of_mut!(MEMORIES) }
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
    let Ok(w) = ea.create_writer(Instant(0), &topic, &wq) else {
        fail("writer");
    };
    let Ok(r) = eb.create_reader(Instant(0), &topic, &rq) else {
        fail("reader");
    };
    (w, r)
}

#[entry]
fn main() -> ! {
    let low = paint_stack();

    let (wire, [(ea, da), (eb, db)]) = setup();
    let (w, r) = endpoints(ea, eb);

    let creating = stack_used(low);
    run(wire, (ea, da), (eb, db), (w, r), creating)
}

/// The exchange and the report. Not inlined: its frame (the loop's state and the report's)
/// is then on the stack only while it runs, not under the creation of the engines, as a
/// device's main loop would be.
#[inline(never)]
fn run(
    wire: &Wire,
    (ea, da): (&mut Engine<'_>, &mut Net),
    (eb, db): (&mut Engine<'_>, &mut Net),
    (w, r): (WriterHandle, ReaderHandle),
    creating: usize,
) -> ! {
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
    let running = stack_used(low);

    let ok = expect == SAMPLES && bad == 0;
    let mut o = Out::new();
    o.s("pollen firmware: ")
        .n(expect.into())
        .s(" of ")
        .n(SAMPLES.into())
        .s(" reliable samples in order, ")
        .n(bad.into())
        .s(" out of order; ")
        .n(now.0 / 1000)
        .s(" ms virtual, ")
        .n(turns.into())
        .s(" turns\n");
    let (la, lb) = (wire.counters(0), wire.counters(1));
    o.s("link: ")
        .n(la.delivered + lb.delivered)
        .s(" frames delivered, ")
        .n(la.lost + lb.lost)
        .s(" lost (5%), ")
        .n(la.overflowed + lb.overflowed)
        .s(" overflowed\n");
    let s = ea.stats();
    o.s("writer: ")
        .n(s.datagrams_out)
        .s(" datagrams out, ")
        .n(s.retransmits)
        .s(" retransmits, ")
        .n(s.heartbeats_sent)
        .s(" heartbeats; driver parked ")
        .n(da.stats().parked + db.stats().parked)
        .s(" times\n");
    let p = size_of::<Participant>();
    let sockets = size_of::<Sockets>();
    o.s("ram per participant: engine storage ")
        .n(SIZES.bytes() as u64)
        .s(" B, Engine ")
        .n(size_of::<Engine<'static>>() as u64)
        .s(" B, Driver ")
        .n(size_of::<Net>() as u64)
        .s(" B, sockets ")
        .n(sockets as u64)
        .s(" B; the link ")
        .n((size_of::<Wire>() + 2 * (SLOTS + 1) * FRAME) as u64)
        .s(" B more\n");
    o.s("stack: ")
        .n(creating as u64)
        .s(" B creating the engines, drivers and endpoints, ")
        .n(running as u64)
        .s(" B running\n");
    let peak = creating.max(running);
    o.s("ram: ")
        .n(p as u64)
        .s(" B static + ")
        .n(peak as u64)
        .s(" B stack peak = ")
        .n((p + peak) as u64)
        .s(" B per participant\n");
    o.s(if ok { "PASS\n" } else { "FAIL\n" });
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

extern "C" {
    /// cortex-m-rt's handler for every exception and interrupt without one of its own.
    fn DefaultHandler();
}

/// The board's interrupt vectors: QEMU's mps2-an386 has 32 external interrupts (UARTs, timers,
/// Ethernet). The firmware polls, so none is enabled and each is the default handler. A
/// product takes this table from its chip's device crate; cortex-m-rt without its `device`
/// feature would reserve all 240 an ARMv7-M can have, 832 bytes of flash more.
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
static __INTERRUPTS: [unsafe extern "C" fn(); 32] = [DefaultHandler; 32];

/// A fault, or a panic in the measured build (`-Cpanic=immediate-abort` turns every panic
/// into a trap, see `scripts/test.sh`): says so and exits with failure rather than hanging.
#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    Out::new().s("hard fault (a panic, in the immediate-abort build)\nFAIL\n");
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Reports where it panicked, not the message: formatting would link `core::fmt` into the
/// image (kilobytes of flash). Used by a plain `cargo build`; the measured build traps instead.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut o = Out::new();
    match info.location() {
        Some(l) => {
            o.s("panic at ")
                .s(l.file())
                .s(":")
                .n(l.line().into())
                .s("\n");
        }
        None => {
            o.s("panic\n");
        }
    }
    o.s("FAIL\n");
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
