//! Pollen on a Cortex-M4 with no OS and no heap: two participants, each with its own smoltcp
//! interface, joined by an in-memory Ethernet link (a static ring of frames), discover each
//! other over SPDP multicast and exchange reliable samples. The result goes out over
//! semihosting; the exit status says whether every sample arrived exactly once and in order.
//!
//! Run: `cargo run --release` (QEMU's mps2-an386, see .cargo/config.toml).
//!
//! Time is virtual: the loop jumps to the earlier of the two drivers' deadlines, as a real
//! loop would sleep until then (or until the NIC interrupts).
#![no_std]
#![no_main]

use core::fmt::Write as _;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hio};
use pollen_engine::wire::{GuidPrefix, Time};
use pollen_engine::{
    Config, Engine, History, Instant, ReaderQos, Reliability, TopicSpec, WriteError, WriterQos,
};
use pollen_smoltcp::link::{Link, Port};
use pollen_smoltcp::smoltcp::iface::SocketStorage;
use pollen_smoltcp::{Driver, Memory, NetConfig, UdpStorage};

/// Engine datagrams up to 1024 bytes: Ethernet frames up to 1024 + 28 + 14.
const MTU: usize = 1024;
const FRAME: usize = MTU + 28 + 14;
/// Frames in flight each way on the link.
const SLOTS: usize = 4;
/// Samples sent from the first participant to the second.
const SAMPLES: u32 = 100;
/// Bytes per sample (4 of them the CDR encapsulation header).
const SAMPLE: usize = 64;

type Wire = Link<SLOTS, FRAME>;
type Dev = Port<'static, SLOTS, FRAME>;
/// UDP-only: no TCP sockets.
type Net = Driver<'static, Dev, 0>;
/// Socket buffers: the metatraffic socket sends everything and receives SEDP and
/// ACKNACK/HEARTBEAT; the user socket receives data; the multicast socket receives SPDP.
type MetaUdp = UdpStorage<4, 3072, 3072>;
type UserUdp = UdpStorage<4, 3072, 0>;
type SpdpUdp = UdpStorage<2, 1024, 0>;

/// Stack bytes painted at start to measure the deepest use.
const PAINT: u32 = 0xdead_beef;

macro_rules! static_mut {
    ($ty:ty = $e:expr) => {
        cortex_m::singleton!(: $ty = $e).expect("initialised once")
    };
}

fn engine(n: u8) -> Engine {
    let mut c = Config::new(GuidPrefix([0x50, 0x4f, 0x4c, n, 0, 0, 0, 0, 0, 0, 0, n]));
    c.unicast_address = [192, 168, 7, n];
    c.mtu = MTU;
    Engine::new(c, Instant(0)).expect("engine config")
}

/// One participant's sockets and buffers (in a static).
struct Sockets {
    slots: [SocketStorage<'static>; 3],
    spdp: SpdpUdp,
    meta: MetaUdp,
    user: UserUdp,
    transmit: [u8; MTU],
}

impl Sockets {
    const fn new() -> Self {
        Sockets {
            slots: [SocketStorage::EMPTY; 3],
            spdp: SpdpUdp::new(),
            meta: MetaUdp::new(),
            user: UserUdp::new(),
            transmit: [0; MTU],
        }
    }
}

fn driver(n: u8, port: Dev, engine: &Engine, s: &'static mut Sockets) -> Net {
    let memory = Memory {
        sockets: &mut s.slots,
        multicast: s.spdp.buffers(),
        metatraffic: s.meta.buffers(),
        user: s.user.buffers(),
        tcp: [],
        transmit: &mut s.transmit,
    };
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
    &'static mut Engine,
    &'static mut Engine,
    &'static mut Net,
    &'static mut Net,
) {
    let wire: &'static Wire = static_mut!(Wire = Wire::lossy(50, 7));
    // Engine::new returns the engine by value: its frame and the copies on the way into the
    // static make this the deepest stack use of the program (see the README section).
    let ea: &'static mut Engine = static_mut!(Engine = engine(1));
    let eb: &'static mut Engine = static_mut!(Engine = engine(2));
    let sa = static_mut!(Sockets = Sockets::new());
    let sb = static_mut!(Sockets = Sockets::new());
    let da: &'static mut Net = static_mut!(Net = driver(1, wire.port(0), ea, sa));
    let db: &'static mut Net = static_mut!(Net = driver(2, wire.port(1), eb, sb));
    (wire, ea, eb, da, db)
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

    let init_stack = stack_used(low);
    // Paint again: what the loop below uses is the steady-state stack.
    let low = paint_stack();
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
    say!(
        "memory: Engine {} B, Driver {} B, link {} B; stack: {} B running, {} B creating the engines",
        core::mem::size_of::<Engine>(),
        core::mem::size_of::<Net>(),
        core::mem::size_of::<Wire>(),
        stack_used(low),
        init_stack
    );
    say!("{}", if ok { "PASS" } else { "FAIL" });
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if let Ok(mut o) = hio::hstdout() {
        let _ = writeln!(o, "panic: {info}");
        let _ = writeln!(o, "FAIL");
    }
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
