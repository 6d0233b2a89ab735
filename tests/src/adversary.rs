//! Forged RTPS traffic for the hostile-network tests: an attacker that knows the wire format
//! and can put any source address on a datagram, but holds no secret.
//!
//! Each function returns one whole datagram. The attacks themselves live in the tests; this
//! module only spells the submessages, so every test forges them the same way.

use pollen_engine::wire::{
    AckNackRepr, BuiltinEndpointSet, Count, DataFragRepr, DataRepr, Duration, Endian, EndpointData,
    EntityId, GapRepr, Guid, GuidPrefix, HeaderRepr, HeartbeatRepr, Locator, MessageBuilder,
    NackFragRepr, ParticipantData, ReliabilityKind, ReliabilityQos, SequenceNumber,
    SequenceNumberSet, SubmessageRepr,
};

/// The builtin endpoints a forged participant claims: SPDP and both SEDP directions, as Cyclone
/// announces them.
pub const BUILTINS: u32 = BuiltinEndpointSet::PARTICIPANT_ANNOUNCER
    | BuiltinEndpointSet::PARTICIPANT_DETECTOR
    | BuiltinEndpointSet::PUBLICATIONS_ANNOUNCER
    | BuiltinEndpointSet::PUBLICATIONS_DETECTOR
    | BuiltinEndpointSet::SUBSCRIPTIONS_ANNOUNCER
    | BuiltinEndpointSet::SUBSCRIPTIONS_DETECTOR;

/// One datagram from `prefix` holding `subs`, in order.
pub fn message(prefix: GuidPrefix, subs: &[SubmessageRepr<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let mut m = MessageBuilder::new(&mut buf, &HeaderRepr::new(prefix)).expect("header fits");
    for s in subs {
        m.push(s).expect("forged submessage fits");
    }
    let len = m.finish();
    buf.truncate(len);
    buf
}

/// An SPDP announcement of participant `prefix` whose metatraffic and user traffic both go to
/// `unicast`, with the given lease (`Duration::INFINITE` for one that never expires).
pub fn spdp(prefix: GuidPrefix, unicast: Locator, lease: Duration, domain: u32) -> Vec<u8> {
    let mut d = ParticipantData::new(
        Guid::new(prefix, EntityId::PARTICIPANT),
        BuiltinEndpointSet(BUILTINS),
    );
    d.domain_id = Some(domain);
    d.lease_duration = Some(lease);
    d.metatraffic_unicast.push(unicast);
    d.default_unicast.push(unicast);
    let mut payload = vec![0u8; 2048];
    let n = d.emit(&mut payload).expect("participant data fits");
    message(
        prefix,
        &[SubmessageRepr::Data(DataRepr {
            endian: Endian::Little,
            reader_id: EntityId::SPDP_READER,
            writer_id: EntityId::SPDP_WRITER,
            writer_sn: SequenceNumber(1),
            inline_qos: None,
            payload: Some(&payload[..n]),
            key_flag: false,
            non_standard: false,
        })],
    )
}

/// An ACKNACK from `reader` to `writer`: everything below `base` acknowledged, the SNs in
/// `nacked` (each within 256 of `base`) requested again.
pub fn acknack(reader: Guid, writer: Guid, base: i64, nacked: &[i64], count: u32) -> Vec<u8> {
    acknack_with(true, reader, writer, base, nacked, count)
}

fn acknack_with(
    final_flag: bool,
    reader: Guid,
    writer: Guid,
    base: i64,
    nacked: &[i64],
    count: u32,
) -> Vec<u8> {
    let mut set = SequenceNumberSet::new(SequenceNumber(base), 256);
    for &sn in nacked {
        set.insert(SequenceNumber(sn));
    }
    set.num_bits = nacked
        .iter()
        .map(|&sn| (sn - base + 1) as u32)
        .max()
        .unwrap_or(0);
    message(
        reader.prefix,
        &[
            SubmessageRepr::InfoDst(pollen_engine::wire::InfoDstRepr {
                guid_prefix: writer.prefix,
            }),
            SubmessageRepr::AckNack(AckNackRepr {
                final_flag,
                reader_id: reader.entity,
                writer_id: writer.entity,
                reader_sn_state: set,
                count: Count(count),
            }),
        ],
    )
}

/// A HEARTBEAT from `writer` saying it holds `first..=last`.
pub fn heartbeat(writer: Guid, first: i64, last: i64, count: u32) -> Vec<u8> {
    message(
        writer.prefix,
        &[SubmessageRepr::Heartbeat(HeartbeatRepr {
            final_flag: false,
            liveliness_flag: false,
            reader_id: EntityId::UNKNOWN,
            writer_id: writer.entity,
            first_sn: SequenceNumber(first),
            last_sn: SequenceNumber(last),
            count: Count(count),
        })],
    )
}

/// A GAP from `writer` declaring `start..end` irrelevant.
pub fn gap(writer: Guid, start: i64, end: i64) -> Vec<u8> {
    message(
        writer.prefix,
        &[SubmessageRepr::Gap(GapRepr {
            reader_id: EntityId::UNKNOWN,
            writer_id: writer.entity,
            gap_start: SequenceNumber(start),
            gap_list: SequenceNumberSet::new(SequenceNumber(end), 0),
        })],
    )
}

/// A NACK_FRAG from `reader` asking `writer` for fragments `frags` of sample `sn`.
pub fn nack_frag(reader: Guid, writer: Guid, sn: i64, frags: &[u32], count: u32) -> Vec<u8> {
    let base = frags.iter().copied().min().unwrap_or(1);
    let mut set = pollen_engine::wire::FragmentNumberSet::new(base, 256);
    for &f in frags {
        set.insert(f);
    }
    message(
        reader.prefix,
        &[SubmessageRepr::NackFrag(NackFragRepr {
            reader_id: reader.entity,
            writer_id: writer.entity,
            writer_sn: SequenceNumber(sn),
            fragment_number_state: set,
            count: Count(count),
        })],
    )
}

/// The first DATA_FRAG of a sample of `sample_size` bytes from `writer` to `reader_id`,
/// carrying one fragment of `fragment_size` bytes.
pub fn first_fragment(
    writer: Guid,
    reader_id: EntityId,
    sn: i64,
    sample_size: u32,
    fragment_size: u16,
) -> Vec<u8> {
    fragment(writer, reader_id, sn, sample_size, fragment_size, 1, 0)
}

/// An SEDP announcement (DATA of the builtin publications or subscriptions writer of
/// `endpoint.prefix`, sequence number `sn`) of user endpoint `endpoint` on `topic` with type
/// `type_name`, its user traffic going to `unicast`. A writer when `endpoint.entity` is a writer
/// kind (e.g. `EntityId([0, 0, n, 0x03])`), else a reader (`EntityId([0, 0, n, 0x04])`); the
/// QoS is left to the DDSI defaults (writers reliable, readers best effort, volatile).
pub fn sedp_endpoint(
    endpoint: Guid,
    topic: &str,
    type_name: &str,
    unicast: Locator,
    sn: i64,
) -> Vec<u8> {
    sedp(endpoint, topic, type_name, None, unicast, sn)
}

/// An SEDP subscription from participant `reader.prefix` (already announced by [`spdp`]): a
/// reader `reader` of `topic`/`type_name`, reliable or best effort, reached at `unicast`, as
/// sample `sn` of that participant's SEDP subscriptions writer. A forged participant with an
/// infinite lease plus this is a matched reader that exists nowhere.
pub fn sedp_reader(
    reader: Guid,
    topic: &str,
    type_name: &str,
    reliable: bool,
    unicast: Locator,
    sn: i64,
) -> Vec<u8> {
    sedp(reader, topic, type_name, Some(reliable), unicast, sn)
}

fn sedp(
    endpoint: Guid,
    topic: &str,
    type_name: &str,
    reliable: Option<bool>,
    unicast: Locator,
    sn: i64,
) -> Vec<u8> {
    let mut d = EndpointData::new(endpoint, topic, type_name);
    d.participant_guid = Some(Guid::new(endpoint.prefix, EntityId::PARTICIPANT));
    d.reliability = reliable.map(|r| ReliabilityQos {
        kind: if r {
            ReliabilityKind::Reliable
        } else {
            ReliabilityKind::BestEffort
        },
        max_blocking_time: Duration::from_secs(1),
    });
    d.unicast_locators.push(unicast);
    let mut payload = vec![0u8; 2048];
    let n = d.emit(&mut payload).expect("endpoint data fits");
    let (reader_id, writer_id) = if endpoint.entity.is_writer() {
        (EntityId::SEDP_PUB_READER, EntityId::SEDP_PUB_WRITER)
    } else {
        (EntityId::SEDP_SUB_READER, EntityId::SEDP_SUB_WRITER)
    };
    message(
        endpoint.prefix,
        &[SubmessageRepr::Data(DataRepr {
            endian: Endian::Little,
            reader_id,
            writer_id,
            writer_sn: SequenceNumber(sn),
            inline_qos: None,
            payload: Some(&payload[..n]),
            key_flag: false,
            non_standard: false,
        })],
    )
}

/// [`acknack`] without the FINAL flag: the writer is asked to answer with a HEARTBEAT.
pub fn acknack_nonfinal(
    reader: Guid,
    writer: Guid,
    base: i64,
    nacked: &[i64],
    count: u32,
) -> Vec<u8> {
    acknack_with(false, reader, writer, base, nacked, count)
}

/// DATA_FRAG `n` (1-based) of a sample of `sample_size` bytes from `writer` to `reader_id`,
/// in fragments of `fragment_size` bytes (the last one shorter); its bytes are `fill`.
pub fn fragment(
    writer: Guid,
    reader_id: EntityId,
    sn: i64,
    sample_size: u32,
    fragment_size: u16,
    n: u32,
    fill: u8,
) -> Vec<u8> {
    let off = (n as usize - 1) * fragment_size as usize;
    let len = (fragment_size as usize).min(sample_size as usize - off);
    let payload = vec![fill; len];
    message(
        writer.prefix,
        &[SubmessageRepr::DataFrag(DataFragRepr {
            endian: Endian::Little,
            reader_id,
            writer_id: writer.entity,
            writer_sn: SequenceNumber(sn),
            fragment_starting_num: n,
            fragments_in_submessage: 1,
            fragment_size,
            sample_size,
            inline_qos: None,
            data: &payload,
            key_flag: false,
            non_standard: false,
        })],
    )
}

/// A whole DATA from `writer` to `reader_id` carrying `payload`.
pub fn data(writer: Guid, reader_id: EntityId, sn: i64, payload: &[u8]) -> Vec<u8> {
    message(
        writer.prefix,
        &[SubmessageRepr::Data(DataRepr {
            endian: Endian::Little,
            reader_id,
            writer_id: writer.entity,
            writer_sn: SequenceNumber(sn),
            inline_qos: None,
            payload: Some(payload),
            key_flag: false,
            non_standard: false,
        })],
    )
}

/// An SEDP publication (SN `sn` of the forged participant's publications writer) announcing
/// a reliable writer `writer` of `topic`/`type_name` reached at `unicast`: a reader of that
/// topic matches it.
pub fn publication(
    writer: Guid,
    topic: &str,
    type_name: &str,
    unicast: Locator,
    sn: i64,
) -> Vec<u8> {
    sedp(writer, topic, type_name, Some(true), unicast, sn)
}
