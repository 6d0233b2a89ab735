//! Entry points for fuzz targets (feature `fuzzing`).
//!
//! Each function takes arbitrary bytes, runs them through the wire layer the way a receiver
//! would, and checks the properties the wire layer promises:
//!
//! - parsing is total: any input yields `Ok` or `Err`, never a panic;
//! - whatever parses re-emits, and the emitted bytes parse back to an equal value;
//! - emitting that value again reproduces the same bytes (emission is a fixed point).
//!
//! A broken property is reported with `assert!`, so a fuzzer records it as a crash. The
//! functions allocate nothing (all scratch space is on the stack) and are replayed on stable by
//! `engine/tests/fuzz_replay.rs` over the committed seeds and regressions.
//!
//! [`fuzz_engine`] is the whole-engine target: two engines in memory, driven by a sequence of
//! operations (see [`engine`]). It boxes the engines, which is why the `fuzzing` feature turns
//! on `alloc`.

use crate::wire::{
    self, DataFragRepr, DataRepr, Endian, EndpointData, EntityId, InlineQos, LocatorList, Message,
    MessageBuilder, ParameterListIter, ParticipantData, SubmessageIter, SubmessageRepr, HEADER_LEN,
    SUBMESSAGE_HEADER_LEN,
};

pub mod engine;
mod fragments;
pub use self::engine::{engine_traffic, fuzz_engine, fuzz_engine_with, EngineOp};
pub use self::fragments::{fuzz_reassembly, fuzz_stream};

/// Scratch space for one re-emitted element: a whole submessage body fits (at most 65535
/// bytes), and so does the discovery data of any parameter list of about that size.
const SCRATCH: usize = 96 * 1024;

/// Builtin writers whose DATA carries SPDP participant data.
const SPDP_WRITERS: [EntityId; 1] = [EntityId([0x00, 0x01, 0x00, 0xc2])];
/// Builtin writers whose DATA carries SEDP endpoint data (publications, subscriptions).
const SEDP_WRITERS: [EntityId; 2] = [
    EntityId([0x00, 0x00, 0x03, 0xc2]),
    EntityId([0x00, 0x00, 0x04, 0xc2]),
];

/// Whether an emit error is a legitimate limit of the output rather than a bug: a value
/// that cannot be encoded in its wire field, a submessage with an empty opaque body (which
/// `octetsToNextHeader` cannot frame: 0 means "to the end of the message"), or an input so
/// large that the scratch buffer is not guaranteed to hold its re-encoding.
fn emit_limit(e: wire::Error, input_len: usize, sub: Option<&SubmessageRepr<'_>>) -> bool {
    match e {
        wire::Error::TooLarge => true,
        wire::Error::BadSubmessageLength => {
            sub.is_some_and(|s| s.buffer_len() == SUBMESSAGE_HEADER_LEN)
        }
        wire::Error::BufferTooSmall => input_len + 4096 > SCRATCH,
        _ => false,
    }
}

/// Whether `rebuilt` is `orig` followed by at most 3 zero bytes that 4-align its end (the
/// padding [`MessageBuilder`] may add after a variable-length body).
fn padded_eq(orig: &[u8], rebuilt: &[u8]) -> bool {
    rebuilt.len() >= orig.len()
        && rebuilt.len() - orig.len() < 4
        && rebuilt.len() % 4 == 0
        && rebuilt.starts_with(orig)
        && rebuilt[orig.len()..].iter().all(|&b| b == 0)
        || rebuilt == orig
}

/// Equality of a submessage and its copy from a rebuilt message, up to the builder's padding.
fn same_submessage(orig: &SubmessageRepr<'_>, rebuilt: &SubmessageRepr<'_>) -> bool {
    use SubmessageRepr as S;
    if orig == rebuilt {
        return true;
    }
    match (orig, rebuilt) {
        (S::Data(a), S::Data(b)) => match (a.payload, b.payload) {
            (Some(pa), Some(pb)) => {
                padded_eq(pa, pb)
                    && DataRepr {
                        payload: Some(pa),
                        ..*b
                    } == *a
            }
            _ => false,
        },
        (S::DataFrag(a), S::DataFrag(b)) => {
            padded_eq(a.data, b.data) && DataFragRepr { data: a.data, ..*b } == *a
        }
        (S::Pad { len: a }, S::Pad { len: b }) => *b >= *a && *b - *a < 4 && *b % 4 == 0,
        (
            S::Vendor {
                vendor: va,
                id: ia,
                flags: fa,
                body: ba,
            },
            S::Vendor {
                vendor: vb,
                id: ib,
                flags: fb,
                body: bb,
            },
        ) => (va, ia, fa) == (vb, ib, fb) && padded_eq(ba, bb),
        (
            S::Unknown {
                id: ia,
                flags: fa,
                body: ba,
            },
            S::Unknown {
                id: ib,
                flags: fb,
                body: bb,
            },
        ) => (ia, fa) == (ib, fb) && padded_eq(ba, bb),
        (
            S::HeaderExtension {
                flags: fa,
                body: ba,
            },
            S::HeaderExtension {
                flags: fb,
                body: bb,
            },
        ) => fa == fb && padded_eq(ba, bb),
        _ => false,
    }
}

/// Feeds one datagram through the message layer.
///
/// Parses the header, frames every submessage, parses each one, walks the inline QoS of DATA
/// and DATA_FRAG, parses the payload of DATA from the SPDP and SEDP writers, and round-trips
/// every element that parses. Finally rebuilds the whole message from the submessages that
/// parsed with [`MessageBuilder`] and checks that it parses to the same submessages.
pub fn fuzz_message(data: &[u8]) {
    let msg = match Message::parse(data) {
        Ok(m) => m,
        Err(_) => return,
    };
    for raw in msg.submessages() {
        let raw = match raw {
            Ok(r) => r,
            Err(_) => break,
        };
        let repr = match raw.parse() {
            Ok(r) => r,
            Err(_) => continue,
        };
        round_trip_submessage(&repr, raw.vendor, data.len());
        match repr {
            SubmessageRepr::Data(d) => check_data(&d),
            SubmessageRepr::DataFrag(d) => check_data_frag(&d),
            _ => {}
        }
    }
    round_trip_message(&msg, data);
}

/// Feeds one parameter list: the first byte selects the byte order (low bit set: little
/// endian), the rest is the list.
///
/// Walks it with [`ParameterListIter`] and tries it as SPDP participant data, SEDP endpoint
/// data and inline QoS, round-tripping whatever parses.
pub fn fuzz_parameter_list(data: &[u8]) {
    let (first, list) = match data.split_first() {
        Some(x) => x,
        None => return,
    };
    let endian = if first & 1 == 1 {
        Endian::Little
    } else {
        Endian::Big
    };
    walk_list(list, endian);
    if let Ok(p) = ParticipantData::parse_list(ParameterListIter::new(list, endian)) {
        round_trip_participant(&p, list.len());
    }
    if let Ok(e) = EndpointData::parse_list(ParameterListIter::new(list, endian)) {
        round_trip_endpoint(&e, list.len());
    }
    if let Ok(q) = InlineQos::parse(ParameterListIter::new(list, endian)) {
        round_trip_inline_qos(&q, endian);
    }
}

/// Walks a list to its end, checking the iterator's own bookkeeping.
fn walk_list(list: &[u8], endian: Endian) {
    let mut it = ParameterListIter::new(list, endian);
    let mut failed = false;
    for p in it.by_ref() {
        match p {
            Ok(p) => {
                // Typed accessors must be total on every value.
                let _ = p.as_u32();
                let _ = p.as_duration();
                let _ = p.as_guid();
                let _ = p.as_locator();
                let _ = p.as_str();
                let _ = p.as_octets();
                let _ = wire::pid_name(p.id, wire::VendorId::ECLIPSE);
            }
            Err(_) => failed = true,
        }
    }
    match it.consumed() {
        Some(n) => {
            assert!(!failed, "a failed parameter list reports a length");
            assert!(
                n <= list.len(),
                "consumed {} of a {}-byte list",
                n,
                list.len()
            );
        }
        None => assert!(
            failed,
            "a parameter list ended without a length or an error"
        ),
    }
}

fn check_data(d: &DataRepr<'_>) {
    if let Some(q) = d.inline_qos {
        walk_list(q, d.endian);
        if let Ok(iq) = InlineQos::parse(ParameterListIter::new(q, d.endian)) {
            round_trip_inline_qos(&iq, d.endian);
        }
    }
    let payload = match d.payload {
        Some(p) if !d.key_flag => p,
        _ => return,
    };
    let _ = wire::SerializedPayload::parse(payload).map(|sp| sp.unpadded());
    if SPDP_WRITERS.contains(&d.writer_id) {
        let parsed = ParticipantData::parse(payload);
        if let Ok(p) = parsed {
            round_trip_participant(&p, payload.len());
        }
        // Parsing in place, into a stale record, agrees with `parse`.
        let mut into = ParticipantData::new(wire::Guid::default(), wire::BuiltinEndpointSet(0));
        into.domain_tag = Some("stale");
        let again = ParticipantData::parse_into(payload, &mut into).map(|()| into);
        assert_eq!(again, parsed, "parse_into disagrees with parse");
    }
    if SEDP_WRITERS.contains(&d.writer_id) {
        if let Ok(e) = EndpointData::parse(payload) {
            round_trip_endpoint(&e, payload.len());
        }
    }
}

fn check_data_frag(d: &DataFragRepr<'_>) {
    if let Some(q) = d.inline_qos {
        walk_list(q, d.endian);
        if let Ok(iq) = InlineQos::parse(ParameterListIter::new(q, d.endian)) {
            round_trip_inline_qos(&iq, d.endian);
        }
    }
    if let Some((start, bytes)) = d.fragment_bytes() {
        assert!(
            start + bytes.len() <= d.sample_size as usize,
            "fragment bytes run past the sample"
        );
    }
}

/// Parses the first submessage of `bytes` (a lone emitted submessage) in vendor context
/// `vendor`.
fn reparse_submessage<'a>(bytes: &'a [u8], vendor: wire::VendorId) -> SubmessageRepr<'a> {
    let mut it = SubmessageIter::new(bytes, vendor);
    let raw = match it.next() {
        Some(Ok(r)) => r,
        Some(Err(e)) => panic!("re-emitted submessage does not frame: {}", e),
        None => panic!("re-emitted submessage is empty"),
    };
    assert!(
        it.next().is_none(),
        "re-emitted submessage frames as more than one"
    );
    assert_eq!(raw.body.len() + 4, bytes.len(), "re-emitted framing length");
    match raw.parse() {
        Ok(r) => r,
        Err(e) => panic!("re-emitted submessage does not parse: {}", e),
    }
}

fn round_trip_submessage(repr: &SubmessageRepr<'_>, vendor: wire::VendorId, input_len: usize) {
    let mut first = [0u8; SCRATCH];
    let n = match repr.emit(&mut first) {
        Ok(n) => n,
        Err(e) if emit_limit(e, input_len, Some(repr)) => return,
        Err(e) => panic!("{} parsed but does not emit: {}", repr.name(), e),
    };
    assert_eq!(
        n,
        repr.buffer_len(),
        "{}: emit length vs buffer_len",
        repr.name()
    );
    let again = reparse_submessage(&first[..n], vendor);
    assert_eq!(&again, repr, "{} round trip", repr.name());
    let mut second = [0u8; SCRATCH];
    let m = match again.emit(&mut second) {
        Ok(m) => m,
        Err(e) => panic!("{} re-parsed but does not emit: {}", repr.name(), e),
    };
    assert_eq!(
        &first[..n],
        &second[..m],
        "{} emission is not stable",
        repr.name()
    );
}

/// Rebuilds the message from the submessages that parse and checks it reads back the same.
fn round_trip_message(msg: &Message<'_>, data: &[u8]) {
    let mut buf = [0u8; SCRATCH];
    let mut b = match MessageBuilder::new(&mut buf, &msg.header) {
        Ok(b) => b,
        Err(e) => panic!("header does not emit: {}", e),
    };
    let mut pushed = 0usize;
    for raw in msg.submessages() {
        let Ok(raw) = raw else { break };
        let Ok(repr) = raw.parse() else { continue };
        match b.push(&repr) {
            Ok(()) => pushed += 1,
            Err(wire::BuildError::Full) => {
                assert!(
                    data.len() + 4 > SCRATCH,
                    "re-emitted message outgrew its input"
                );
                break;
            }
            Err(wire::BuildError::Invalid(e)) if emit_limit(e, data.len(), Some(&repr)) => break,
            Err(wire::BuildError::Invalid(e)) => panic!("{} does not emit: {}", repr.name(), e),
        }
    }
    assert_eq!(b.submessage_count(), pushed);
    let len = b.finish();
    assert!(
        len <= data.len().max(HEADER_LEN) + 3,
        "re-emitted message is longer"
    );
    let rebuilt = match Message::parse(&buf[..len]) {
        Ok(m) => m,
        Err(e) => panic!("rebuilt message does not parse: {}", e),
    };
    assert_eq!(rebuilt.header, msg.header, "header round trip");
    let originals = msg
        .submessages()
        .map_while(|r| r.ok())
        .filter_map(|r| r.parse().ok())
        .take(pushed);
    let mut again = rebuilt.submessages();
    let mut seen = 0usize;
    for orig in originals {
        let raw = match again.next() {
            Some(Ok(r)) => r,
            Some(Err(e)) => panic!("rebuilt submessage {} does not frame: {}", seen, e),
            None => panic!("rebuilt message lost submessage {}", seen),
        };
        match raw.parse() {
            Ok(r) => assert!(
                same_submessage(&orig, &r),
                "rebuilt submessage {}: {:?} became {:?}",
                seen,
                orig,
                r
            ),
            Err(e) => panic!("rebuilt submessage {} does not parse: {}", seen, e),
        }
        seen += 1;
    }
    assert_eq!(seen, pushed);
    assert!(
        again.next().is_none(),
        "rebuilt message has extra submessages"
    );
}

/// A locator list as it reads back after emission: the kept locators, no overflow count.
fn kept(mut l: LocatorList) -> LocatorList {
    l.dropped = 0;
    l
}

fn round_trip_participant(p: &ParticipantData<'_>, input_len: usize) {
    let mut first = [0u8; SCRATCH];
    let n = match p.emit(&mut first) {
        Ok(n) => n,
        Err(e) if emit_limit(e, input_len, None) => return,
        Err(e) => panic!("participant data parsed but does not emit: {}", e),
    };
    let again = match ParticipantData::parse(&first[..n]) {
        Ok(a) => a,
        Err(e) => panic!("re-emitted participant data does not parse: {}", e),
    };
    // `LocatorList::dropped` counts locators beyond the list's capacity in the parsed input;
    // they are not re-emitted, so the count is not part of the round trip.
    let expected = ParticipantData {
        metatraffic_unicast: kept(p.metatraffic_unicast),
        metatraffic_multicast: kept(p.metatraffic_multicast),
        default_unicast: kept(p.default_unicast),
        default_multicast: kept(p.default_multicast),
        ..*p
    };
    assert_eq!(again, expected, "participant data round trip");
    let mut second = [0u8; SCRATCH];
    let m = again
        .emit(&mut second)
        .unwrap_or_else(|e| panic!("participant data re-emit: {}", e));
    assert_eq!(
        &first[..n],
        &second[..m],
        "participant data emission is not stable"
    );
}

fn round_trip_endpoint(e: &EndpointData<'_>, input_len: usize) {
    let mut first = [0u8; SCRATCH];
    let n = match e.emit(&mut first) {
        Ok(n) => n,
        Err(err) if emit_limit(err, input_len, None) => return,
        Err(err) => panic!("endpoint data parsed but does not emit: {}", err),
    };
    let again = match EndpointData::parse(&first[..n]) {
        Ok(a) => a,
        Err(err) => panic!("re-emitted endpoint data does not parse: {}", err),
    };
    // TYPE_INFORMATION is deliberately not re-emitted (Pollen does not speak TypeLookup).
    // Nor are locators beyond a list's capacity (see `round_trip_participant`).
    let expected = EndpointData {
        has_type_information: false,
        unicast_locators: kept(e.unicast_locators),
        multicast_locators: kept(e.multicast_locators),
        ..*e
    };
    assert_eq!(again, expected, "endpoint data round trip");
    let mut second = [0u8; SCRATCH];
    let m = again
        .emit(&mut second)
        .unwrap_or_else(|err| panic!("endpoint data re-emit: {}", err));
    assert_eq!(
        &first[..n],
        &second[..m],
        "endpoint data emission is not stable"
    );
}

fn round_trip_inline_qos(q: &InlineQos, endian: Endian) {
    // Key hash, status info and the related sample identity under both its ids: 92 bytes.
    let mut buf = [0u8; 128];
    let n = match q.emit(&mut buf, endian) {
        Ok(n) => n,
        Err(e) => panic!("inline QoS parsed but does not emit: {}", e),
    };
    let again = match InlineQos::parse(ParameterListIter::new(&buf[..n], endian)) {
        Ok(a) => a,
        Err(e) => panic!("re-emitted inline QoS does not parse: {}", e),
    };
    assert_eq!(&again, q, "inline QoS round trip");
}
