//! Fuzz entry points for reassembly (DATA_FRAG into a reader) and the stream deframer.

use crate::pool::Pool;
use crate::qos::History;
use crate::reader::{IncomingFrag, Reader, Received};
use crate::stream::{CycloneFraming, Deframe, Framing};
use crate::time::{Instant, Span};
use crate::wire::{EntityId, Guid, GuidPrefix, Locator, Message, StatusInfo, SubmessageRepr};

/// Reads a little-endian integer of `N` bytes from the front of `data`, or zero when short.
fn take<const N: usize>(data: &mut &[u8]) -> u64 {
    let n = N.min(data.len());
    let mut v = 0u64;
    for (i, b) in data[..n].iter().enumerate() {
        v |= (*b as u64) << (8 * i);
    }
    *data = &data[n..];
    v
}

/// Partial samples per reader in this target.
const REASSEMBLIES: usize = 4;
/// Pool blocks in this target (1 KiB each).
const POOL_BLOCKS: usize = 8192;

/// Feeds a reader DATA_FRAG submessages built from the input, from two writers (one honest
/// stream of captured datagrams may be given as DATA_FRAGs inside RTPS messages too), and
/// checks what reassembly promises: no panic; never more than `REASSEMBLIES` partial
/// samples; no writer's partial samples beyond its share of the pool; a delivered sample has
/// exactly its announced size; partial samples expire (time advances 100 ms a record, expiry
/// runs every 16 records with a one-second timeout); and once everything is taken and the
/// reader cleared, every pool block is free again (nothing leaks, whatever arrived).
///
/// Input: a sequence of records. Record byte 0 picks the kind: even = a synthetic fragment
/// (writer bit, SN, sample size, fragment size, first fragment, count, data length), odd = a
/// length-prefixed RTPS message whose DATA_FRAGs are all fed.
pub fn fuzz_reassembly(mut data: &[u8]) {
    let mut pool = Pool::new(1024, POOL_BLOCKS, None, None);
    let own = Guid::new(GuidPrefix([9; 12]), EntityId::new(1, 0x07));
    let writers = [
        Guid::new(GuidPrefix([1; 12]), EntityId::new(1, 0x02)),
        Guid::new(GuidPrefix([2; 12]), EntityId::new(2, 0x02)),
    ];
    let mut readers = [
        Reader::on_heap(own, true, History::KeepAll, 8, REASSEMBLIES, 4 << 20),
        Reader::on_heap(own, false, History::KeepLast(2), 8, REASSEMBLIES, 4 << 20),
    ];
    let mut proxies = [[0u32; 2]; 2];
    for (r, ps) in readers.iter_mut().zip(proxies.iter_mut()) {
        for (w, p) in writers.iter().zip(ps.iter_mut()) {
            *p = r
                .add_proxy(Instant(0), *w, Locator::udpv4([127, 0, 0, 1], 7411), true)
                .unwrap_or(u32::MAX);
        }
    }
    let mut replaced = 0;
    let mut rounds = 0;
    while !data.is_empty() && rounds < 256 {
        rounds += 1;
        if rounds % 16 == 0 {
            for r in readers.iter_mut() {
                let now = Instant(rounds * 100_000);
                let (_, next) = r.expire(&mut pool, now, Span::from_secs(1));
                assert!(next.is_none_or(|t| t > now), "expiry re-armed in the past");
            }
        }
        let kind = take::<1>(&mut data);
        let which = (kind >> 1) as usize & 1;
        if kind & 1 == 0 {
            let wi = (kind >> 2) as usize & 1;
            let w = writers[wi];
            let sn = 1 + take::<1>(&mut data) as i64;
            let sample_size = take::<3>(&mut data) as u32;
            let fragment_size = take::<2>(&mut data) as u16;
            let first = take::<2>(&mut data) as u32;
            let count = take::<1>(&mut data) as u16;
            let len = (take::<2>(&mut data) as usize).min(data.len());
            let (bytes, rest) = data.split_at(len);
            data = rest;
            let f = IncomingFrag {
                writer: w,
                sn,
                sample_size,
                fragment_size,
                first,
                count,
                data: bytes,
                timestamp: None,
                status: StatusInfo(0),
                key_hash: None,
                now: Instant(rounds * 100_000),
            };
            check(
                &mut readers[which],
                proxies[which][wi],
                &mut pool,
                &f,
                &mut replaced,
            );
        } else {
            let len = (take::<2>(&mut data) as usize).min(data.len());
            let (msg, rest) = data.split_at(len);
            data = rest;
            let Ok(m) = Message::parse(msg) else { continue };
            for sub in m.submessages() {
                let Ok(Ok(SubmessageRepr::DataFrag(d))) = sub.map(|s| s.parse()) else {
                    continue;
                };
                let f = IncomingFrag {
                    writer: writers[which],
                    sn: d.writer_sn.0,
                    sample_size: d.sample_size,
                    fragment_size: d.fragment_size,
                    first: d.fragment_starting_num,
                    count: d.fragments_in_submessage,
                    data: d.data,
                    timestamp: None,
                    status: StatusInfo(0),
                    key_hash: None,
                    now: Instant(rounds * 100_000),
                };
                check(
                    &mut readers[which],
                    proxies[which][which],
                    &mut pool,
                    &f,
                    &mut replaced,
                );
            }
        }
    }
    for r in readers.iter_mut() {
        while let Some(s) = r.pop() {
            if let Some(d) = s.data {
                pool.free(d);
            }
        }
        r.clear(&mut pool);
    }
    assert_eq!(
        pool.free_blocks(),
        POOL_BLOCKS,
        "reassembly leaked pool blocks"
    );
}

fn check(r: &mut Reader, pi: u32, pool: &mut Pool, f: &IncomingFrag<'_>, replaced: &mut u64) {
    let outcome = r.on_data_frag(pi, pool, f, replaced);
    assert!(r.partial_samples() <= REASSEMBLIES);
    assert!(r.held_by(pi) <= r.share(pool), "a writer beyond its share");
    if let Received::Accepted { delivered } = outcome {
        if delivered > 0 && f.sn >= 1 {
            // Every delivered sample carries exactly the size its fragments announced.
            while let Some(s) = r.pop() {
                if let Some(d) = s.data {
                    if s.writer == f.writer && s.sn == f.sn {
                        assert_eq!(d.len(), f.sample_size as usize);
                    }
                    pool.free(d);
                }
            }
        }
    }
}

/// Runs arbitrary bytes through the stream deframer the way a driver does (append, take whole
/// frames from the front, keep the rest), split where the input says, and checks: no panic;
/// every frame is a whole RTPS message of its announced length; what is kept is always less
/// than one frame; an error ends the stream.
pub fn fuzz_stream(data: &[u8]) {
    let f = CycloneFraming::new();
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let step = 1 + cut as usize;
    let mut buf = [0u8; 70 * 1024];
    let mut held = 0;
    for chunk in body.chunks(step) {
        let room = buf.len() - held;
        let n = chunk.len().min(room);
        buf[held..held + n].copy_from_slice(&chunk[..n]);
        held += n;
        let mut used = 0;
        loop {
            match f.deframe(&buf[used..held]) {
                Deframe::Frame(len) => {
                    let frame = &buf[used..used + len];
                    assert!(frame.starts_with(b"RTPS") && len >= 28);
                    let _ = Message::parse(frame).map(|m| m.submessages().count());
                    used += len;
                }
                Deframe::Need(need) => {
                    assert!(need > held - used);
                    break;
                }
                Deframe::Bad(_) => return,
            }
        }
        buf.copy_within(used..held, 0);
        held -= used;
    }
}
