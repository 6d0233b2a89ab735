//! Hand-built messages for what the captured vectors never contain: the octetsToNextHeader
//! corner cases, big-endian submessages and payloads, PAD, vendor context switches, bad flags,
//! must-understand and vendor PIDs, missing sentinels and the HEARTBEAT validity rule.

use pollen_engine::wire::*;

/// A byte writer in either order, for building bodies the engine never emits itself.
struct W {
    e: Endian,
    v: Vec<u8>,
}

impl W {
    fn new(e: Endian) -> W {
        W { e, v: Vec::new() }
    }
    fn u16(&mut self, x: u16) -> &mut W {
        match self.e {
            Endian::Big => self.v.extend_from_slice(&x.to_be_bytes()),
            Endian::Little => self.v.extend_from_slice(&x.to_le_bytes()),
        }
        self
    }
    fn u32(&mut self, x: u32) -> &mut W {
        match self.e {
            Endian::Big => self.v.extend_from_slice(&x.to_be_bytes()),
            Endian::Little => self.v.extend_from_slice(&x.to_le_bytes()),
        }
        self
    }
    fn sn(&mut self, x: i64) -> &mut W {
        self.u32((x >> 32) as u32).u32(x as u32)
    }
    fn raw(&mut self, b: &[u8]) -> &mut W {
        self.v.extend_from_slice(b);
        self
    }
    /// A parameter: id, length (padded to 4), value, zero padding.
    fn param(&mut self, id: u16, value: &[u8]) -> &mut W {
        let padded = value.len().div_ceil(4) * 4;
        self.u16(id).u16(padded as u16).raw(value);
        self.v.resize(self.v.len() + padded - value.len(), 0);
        self
    }
    fn sentinel(&mut self) -> &mut W {
        self.u16(pid::SENTINEL).u16(0)
    }
    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.v)
    }
}

fn le() -> W {
    W::new(Endian::Little)
}

const PREFIX: GuidPrefix = GuidPrefix([0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

fn header(vendor: VendorId) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_LEN];
    HeaderRepr {
        version: ProtocolVersion::V2_1,
        vendor_id: vendor,
        guid_prefix: PREFIX,
    }
    .emit(&mut h)
    .unwrap();
    h
}

/// Appends a submessage with an explicit octetsToNextHeader (in the order of its E flag).
fn sub(msg: &mut Vec<u8>, id: u8, flags: u8, otnh: u16, body: &[u8]) {
    msg.push(id);
    msg.push(flags);
    let e = Endian::from_flags(flags);
    msg.extend_from_slice(&W::new(e).u16(otnh).done());
    msg.extend_from_slice(body);
}

/// Appends a submessage whose octetsToNextHeader is its body length.
fn sub_exact(msg: &mut Vec<u8>, id: u8, flags: u8, body: &[u8]) {
    sub(msg, id, flags, body.len() as u16, body);
}

fn heartbeat_body(e: Endian, first: i64, last: i64, count: u32) -> Vec<u8> {
    W::new(e)
        .raw(&[0, 0, 3, 0xc7])
        .raw(&[0, 0, 3, 0xc2])
        .sn(first)
        .sn(last)
        .u32(count)
        .done()
}

fn frame(msg: &[u8]) -> Vec<Result<RawSubmessage<'_>>> {
    Message::parse(msg).unwrap().submessages().collect()
}

fn parsed(msg: &[u8]) -> Vec<Result<SubmessageRepr<'_>>> {
    Message::parse(msg)
        .unwrap()
        .submessages()
        .map(|r| r.and_then(|r| r.parse()))
        .collect()
}

fn expected_heartbeat(first: i64, last: i64, count: u32) -> SubmessageRepr<'static> {
    SubmessageRepr::Heartbeat(HeartbeatRepr {
        final_flag: false,
        liveliness_flag: false,
        reader_id: EntityId::SEDP_PUB_READER,
        writer_id: EntityId::SEDP_PUB_WRITER,
        first_sn: SequenceNumber(first),
        last_sn: SequenceNumber(last),
        count: Count(count),
    })
}

// ---------------------------------------------------------------- octetsToNextHeader

#[test]
fn otnh_zero_on_the_last_submessage_runs_to_the_end() {
    // HEARTBEAT last with OTNH 0: its body is the rest of the message.
    let mut m = header(VendorId::ECLIPSE);
    sub_exact(&mut m, 0x0e, 0x01, &[7; 12]);
    sub(
        &mut m,
        0x07,
        0x01,
        0,
        &heartbeat_body(Endian::Little, 1, 5, 9),
    );
    let subs = parsed(&m);
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1], Ok(expected_heartbeat(1, 5, 9)));
    let raws = frame(&m);
    assert_eq!(raws[1].as_ref().unwrap().body.len(), 28);

    // DATA last with OTNH 0 (and a length that is not a multiple of 4): the payload is
    // everything to the end of the datagram.
    let mut m = header(VendorId::ECLIPSE);
    let body = le()
        .u16(0)
        .u16(16)
        .raw(&[0; 4])
        .raw(&[0, 0, 1, 2])
        .sn(3)
        .raw(&[0, 1, 0, 0, 0xde, 0xad, 0xbe])
        .done();
    sub(&mut m, 0x15, 0x05, 0, &body);
    match &parsed(&m)[..] {
        [Ok(SubmessageRepr::Data(d))] => {
            assert_eq!(d.payload, Some(&[0, 1, 0, 0, 0xde, 0xad, 0xbe][..]));
            assert_eq!(d.writer_sn, SequenceNumber(3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn otnh_zero_on_pad_and_info_ts_means_empty() {
    let mut m = header(VendorId::ECLIPSE);
    sub(&mut m, 0x01, 0x01, 0, &[]); // PAD, empty
    sub(&mut m, 0x09, 0x03, 0, &[]); // INFO_TS with I: empty, timestamp invalidated
    sub(&mut m, 0x01, 0x00, 0, &[]); // PAD, big-endian header, empty
    sub_exact(&mut m, 0x07, 0x01, &heartbeat_body(Endian::Little, 1, 1, 1));
    let subs = parsed(&m);
    assert_eq!(
        subs,
        vec![
            Ok(SubmessageRepr::Pad { len: 0 }),
            Ok(SubmessageRepr::InfoTs(InfoTsRepr { timestamp: None })),
            Ok(SubmessageRepr::Pad { len: 0 }),
            Ok(expected_heartbeat(1, 1, 1)),
        ]
    );

    // INFO_TS with OTNH 0 but without the I flag is empty too (not "to the end"): the
    // timestamp it needs is missing, and the HEARTBEAT after it still frames.
    let mut m = header(VendorId::ECLIPSE);
    sub(&mut m, 0x09, 0x01, 0, &[]);
    sub_exact(&mut m, 0x07, 0x01, &heartbeat_body(Endian::Little, 1, 1, 2));
    let raws = frame(&m);
    assert_eq!(raws.len(), 2);
    assert!(raws[0].as_ref().unwrap().body.is_empty());
    assert_eq!(raws[0].unwrap().parse(), Err(Error::Truncated));
    assert_eq!(raws[1].unwrap().parse(), Ok(expected_heartbeat(1, 1, 2)));
}

#[test]
fn pad_between_submessages() {
    let mut m = header(VendorId::ECLIPSE);
    sub_exact(&mut m, 0x09, 0x01, &le().u32(100).u32(0x8000_0000).done());
    sub_exact(&mut m, 0x01, 0x01, &[0xee; 8]); // PAD with filler bytes
    sub_exact(&mut m, 0x01, 0x00, &[0; 4]); // big-endian PAD
    sub_exact(&mut m, 0x07, 0x01, &heartbeat_body(Endian::Little, 2, 4, 6));
    assert_eq!(
        parsed(&m),
        vec![
            Ok(SubmessageRepr::InfoTs(InfoTsRepr {
                timestamp: Some(Time {
                    seconds: 100,
                    fraction: 0x8000_0000
                })
            })),
            Ok(SubmessageRepr::Pad { len: 8 }),
            Ok(SubmessageRepr::Pad { len: 4 }),
            Ok(expected_heartbeat(2, 4, 6)),
        ]
    );
}

#[test]
fn otnh_not_a_multiple_of_4() {
    // In the middle of a message: an error, and iteration stops.
    let mut m = header(VendorId::ECLIPSE);
    sub_exact(&mut m, 0x0e, 0x01, &[7; 12]);
    sub(&mut m, 0x80, 0x01, 6, &[1, 2, 3, 4, 5, 6, 0, 0]);
    sub_exact(&mut m, 0x07, 0x01, &heartbeat_body(Endian::Little, 1, 1, 1));
    let raws = frame(&m);
    assert_eq!(raws.len(), 2, "{raws:?}");
    assert!(raws[0].is_ok());
    assert_eq!(raws[1], Err(Error::BadSubmessageLength));

    // Ending the message exactly: accepted.
    let mut m = header(VendorId::ECLIPSE);
    sub_exact(&mut m, 0x0e, 0x01, &[7; 12]);
    sub(&mut m, 0x80, 0x01, 6, &[1, 2, 3, 4, 5, 6]);
    let raws = frame(&m);
    assert_eq!(raws.len(), 2);
    assert_eq!(raws[1].as_ref().unwrap().body, &[1, 2, 3, 4, 5, 6]);
}

#[test]
fn otnh_past_the_end() {
    let mut m = header(VendorId::ECLIPSE);
    sub_exact(&mut m, 0x0e, 0x01, &[7; 12]);
    sub(
        &mut m,
        0x07,
        0x01,
        32,
        &heartbeat_body(Endian::Little, 1, 1, 1),
    );
    let msg = Message::parse(&m).unwrap();
    let mut it = msg.submessages();
    assert!(matches!(it.next(), Some(Ok(_))));
    assert_eq!(it.next(), Some(Err(Error::BadSubmessageLength)));
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);

    // A submessage header cut short.
    let mut m = header(VendorId::ECLIPSE);
    m.extend_from_slice(&[0x07, 0x01]);
    assert_eq!(frame(&m), vec![Err(Error::Truncated)]);
}

// ---------------------------------------------------------------- big-endian twins

#[test]
fn big_endian_heartbeat_acknack_gap_match_little_endian() {
    for e in [Endian::Big, Endian::Little] {
        let ef = e.flag();
        let mut m = header(VendorId::RTI);
        sub_exact(
            &mut m,
            0x07,
            ef | 0x02,
            &heartbeat_body(e, 0x1_0000_0003, 0x1_0000_0009, 77),
        );
        // ACKNACK: base 5, 40 bits, bits 0, 3 and 33 set.
        let acknack = W::new(e)
            .raw(&[0, 0, 3, 0xc7])
            .raw(&[0, 0, 3, 0xc2])
            .sn(5)
            .u32(40)
            .u32(0x9000_0000)
            .u32(0x4000_0000)
            .u32(12)
            .done();
        sub_exact(&mut m, 0x06, ef, &acknack);
        // GAP: [2, 10) plus 11 and 12 (base 10, bits 1 and 2).
        let gap = W::new(e)
            .raw(&[0, 0, 0, 0])
            .raw(&[0, 0, 3, 0xc2])
            .sn(2)
            .sn(10)
            .u32(3)
            .u32(0x6000_0000)
            .done();
        sub_exact(&mut m, 0x08, ef, &gap);
        let subs = parsed(&m);

        let mut hb = expected_heartbeat(0x1_0000_0003, 0x1_0000_0009, 77);
        if let SubmessageRepr::Heartbeat(h) = &mut hb {
            h.final_flag = true;
        }
        let mut set = SequenceNumberSet::new(SequenceNumber(5), 40);
        for sn in [5, 8, 38] {
            assert!(set.insert(SequenceNumber(sn)));
        }
        let mut gap_list = SequenceNumberSet::new(SequenceNumber(10), 3);
        gap_list.insert(SequenceNumber(11));
        gap_list.insert(SequenceNumber(12));
        assert_eq!(
            subs,
            vec![
                Ok(hb),
                Ok(SubmessageRepr::AckNack(AckNackRepr {
                    final_flag: false,
                    reader_id: EntityId::SEDP_PUB_READER,
                    writer_id: EntityId::SEDP_PUB_WRITER,
                    reader_sn_state: set,
                    count: Count(12),
                })),
                Ok(SubmessageRepr::Gap(GapRepr {
                    reader_id: EntityId::UNKNOWN,
                    writer_id: EntityId::SEDP_PUB_WRITER,
                    gap_start: SequenceNumber(2),
                    gap_list,
                })),
            ],
            "{e:?}"
        );
        if let Ok(SubmessageRepr::AckNack(a)) = &subs[1] {
            let members: Vec<i64> = a.reader_sn_state.iter().map(|s| s.0).collect();
            assert_eq!(members, [5, 8, 38]);
        }
    }
}

/// The SPDP payload of one participant as a parameter list in `e` (PL_CDR_BE or PL_CDR_LE),
/// with unknown ordinary and vendor PIDs sprinkled in.
fn spdp_payload(e: Endian) -> Vec<u8> {
    let mut w = W::new(e);
    let kind = if e == Endian::Big { 2 } else { 3 };
    w.raw(&[0, kind, 0, 0]);
    w.param(pid::PROTOCOL_VERSION, &[2, 1]);
    w.param(pid::VENDOR_ID, &[1, 0x10]);
    w.param(0x0099, &[1, 2, 3]); // unknown, ordinary: skipped
    w.param(pid::DOMAIN_ID, &W::new(e).u32(0).done());
    let guid = Guid::new(PREFIX, EntityId::PARTICIPANT);
    w.param(pid::PARTICIPANT_GUID, &guid.to_bytes());
    w.param(pid::BUILTIN_ENDPOINT_SET, &W::new(e).u32(0x0c3f).done());
    let loc = |port: u32| {
        W::new(e)
            .u32(1)
            .u32(port)
            .raw(&[0; 12])
            .raw(&[127, 0, 0, 1])
            .done()
    };
    w.param(pid::METATRAFFIC_UNICAST_LOCATOR, &loc(7410));
    w.param(pid::DEFAULT_UNICAST_LOCATOR, &loc(7411));
    w.param(0x8007, &[9; 8]); // vendor-specific: skipped
    w.param(0xc006, &[1, 0, 0, 0]); // vendor-specific with the 0x4000 bit: still skipped
    w.param(
        pid::PARTICIPANT_LEASE_DURATION,
        &W::new(e).u32(10).u32(0x4000_0000).done(),
    );
    w.param(
        pid::ENTITY_NAME,
        &W::new(e).u32(7).raw(b"pollen\0").done()[..],
    );
    w.sentinel();
    w.done()
}

fn expected_participant() -> ParticipantData<'static> {
    let mut p = ParticipantData::new(
        Guid::new(PREFIX, EntityId::PARTICIPANT),
        BuiltinEndpointSet(0x0c3f),
    );
    p.protocol_version = Some(ProtocolVersion::V2_1);
    p.vendor_id = Some(VendorId::ECLIPSE);
    p.domain_id = Some(0);
    p.metatraffic_unicast
        .push(Locator::udpv4([127, 0, 0, 1], 7410));
    p.default_unicast.push(Locator::udpv4([127, 0, 0, 1], 7411));
    p.lease_duration = Some(Duration {
        seconds: 10,
        fraction: 0x4000_0000,
    });
    p.entity_name = Some("pollen");
    p
}

#[test]
fn big_endian_data_with_inline_qos_and_pl_cdr_be_payload() {
    let mut results = Vec::new();
    for e in [Endian::Big, Endian::Little] {
        let inline = W::new(e)
            .param(
                pid::KEY_HASH,
                &[0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 1, 0xc1],
            )
            .param(pid::STATUS_INFO, &[0, 0, 0, 0]) // always big-endian
            .sentinel()
            .done();
        let payload = spdp_payload(e);
        let body = W::new(e)
            .u16(0)
            .u16(16)
            .raw(&[0, 1, 0, 0xc7])
            .raw(&[0, 1, 0, 0xc2])
            .sn(0x2_0000_0001)
            .raw(&inline)
            .raw(&payload)
            .done();
        let mut m = header(VendorId::ECLIPSE);
        sub_exact(&mut m, 0x15, e.flag() | 0x02 | 0x04, &body);
        let subs = parsed(&m);
        let d = match &subs[..] {
            [Ok(SubmessageRepr::Data(d))] => *d,
            other => panic!("{e:?}: {other:?}"),
        };
        assert_eq!(d.endian, e);
        assert_eq!(d.reader_id, EntityId::SPDP_READER);
        assert_eq!(d.writer_id, EntityId::SPDP_WRITER);
        assert_eq!(d.writer_sn, SequenceNumber(0x2_0000_0001));
        assert!(!d.key_flag);
        let q = InlineQos::parse(d.inline_qos_params().unwrap()).unwrap();
        assert_eq!(q.status_info, Some(StatusInfo(0)));
        assert_eq!(q.key_hash.unwrap()[15], 0xc1);
        let pd = ParticipantData::parse(d.payload.unwrap()).unwrap();
        assert_eq!(pd, expected_participant(), "{e:?}");

        // Re-emitting keeps the body's byte order and bytes.
        let repr = SubmessageRepr::Data(d);
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out).unwrap();
        assert_eq!(out, m[HEADER_LEN..], "{e:?}");
        results.push(q);
    }
    assert_eq!(results[0], results[1]);
}

#[test]
fn data_with_data_and_key_flags_is_an_error() {
    let body = le()
        .u16(0)
        .u16(16)
        .raw(&[0; 4])
        .raw(&[0, 0, 1, 2])
        .sn(1)
        .raw(&[0, 1, 0, 0])
        .done();
    let mut m = header(VendorId::ECLIPSE);
    sub_exact(&mut m, 0x15, 0x01 | 0x04 | 0x08, &body);
    sub_exact(&mut m, 0x15, 0x01 | 0x08, &body);
    let subs = parsed(&m);
    assert_eq!(subs[0], Err(Error::DataAndKeyFlags));
    // The next submessage is still framed and parsed (only that DATA is dropped).
    assert!(matches!(&subs[1], Ok(SubmessageRepr::Data(d)) if d.key_flag));
}

// ---------------------------------------------------------------- vendor context

#[test]
fn vendor_submessage_follows_info_src() {
    let mut m = header(VendorId::EPROSIMA);
    sub_exact(&mut m, 0x80, 0x01, &[1, 2, 3, 4]);
    let src = SubmessageRepr::InfoSrc(InfoSrcRepr {
        version: ProtocolVersion::V2_1,
        vendor_id: VendorId::ECLIPSE,
        guid_prefix: GuidPrefix([5; 12]),
    });
    let mut b = vec![0u8; src.buffer_len()];
    src.emit(&mut b).unwrap();
    m.extend_from_slice(&b);
    sub_exact(&mut m, 0x81, 0x01, &[5, 6, 7, 8]);
    sub_exact(&mut m, 0x80, 0x00, &[]);

    let raws: Vec<RawSubmessage<'_>> = frame(&m).into_iter().map(Result::unwrap).collect();
    let vendors: Vec<VendorId> = raws.iter().map(|r| r.vendor).collect();
    assert_eq!(
        vendors,
        [
            VendorId::EPROSIMA,
            VendorId::EPROSIMA,
            VendorId::ECLIPSE,
            VendorId::ECLIPSE
        ]
    );
    assert_eq!(
        raws[0].parse(),
        Ok(SubmessageRepr::Vendor {
            vendor: VendorId::EPROSIMA,
            id: 0x80,
            flags: 0x01,
            body: &[1, 2, 3, 4],
        })
    );
    assert_eq!(raws[1].parse(), Ok(src));
    assert_eq!(
        raws[2].parse(),
        Ok(SubmessageRepr::Vendor {
            vendor: VendorId::ECLIPSE,
            id: 0x81,
            flags: 0x01,
            body: &[5, 6, 7, 8],
        })
    );
}

// ---------------------------------------------------------------- parameter lists

#[test]
fn must_understand_and_vendor_pids() {
    // The payload with unknown ordinary and vendor PIDs parses (see spdp_payload).
    assert_eq!(
        ParticipantData::parse(&spdp_payload(Endian::Little)),
        Ok(expected_participant())
    );

    // An unknown PID with the must-understand bit rejects the participant.
    let mut p = spdp_payload(Endian::Little);
    let sentinel = p.len() - 4;
    p.truncate(sentinel);
    let tail = le().param(0x4099, &[0; 4]).sentinel().done();
    p.extend_from_slice(&tail);
    assert_eq!(
        ParticipantData::parse(&p),
        Err(Error::MustUnderstand(0x4099))
    );

    // A known must-understand PID is fine.
    let mut p = spdp_payload(Endian::Little);
    p.truncate(sentinel);
    let tail = le()
        .param(pid::DOMAIN_TAG, &le().u32(4).raw(b"lab\0").done())
        .sentinel()
        .done();
    p.extend_from_slice(&tail);
    assert_eq!(ParticipantData::parse(&p).unwrap().domain_tag, Some("lab"));

    // The same for endpoint data and inline QoS.
    let guid = Guid::new(PREFIX, EntityId::new(1, 2));
    let ep = |extra: u16| {
        le().raw(&[0, 3, 0, 0])
            .param(pid::ENDPOINT_GUID, &guid.to_bytes())
            .param(pid::TOPIC_NAME, &le().u32(2).raw(b"t\0").done())
            .param(pid::TYPE_NAME, &le().u32(2).raw(b"T\0").done())
            .param(extra, &[0; 4])
            .sentinel()
            .done()
    };
    assert!(EndpointData::parse(&ep(0x0099)).is_ok());
    assert!(EndpointData::parse(&ep(0x800c)).is_ok());
    assert!(EndpointData::parse(&ep(0xc006)).is_ok());
    assert_eq!(
        EndpointData::parse(&ep(0x4099)),
        Err(Error::MustUnderstand(0x4099))
    );
    let q = le().param(0x4099, &[0; 4]).sentinel().done();
    assert_eq!(
        InlineQos::parse(ParameterListIter::new(&q, Endian::Little)),
        Err(Error::MustUnderstand(0x4099))
    );
    let q = le().param(0x8005, &[0; 4]).sentinel().done();
    assert_eq!(
        InlineQos::parse(ParameterListIter::new(&q, Endian::Little)),
        Ok(InlineQos::default())
    );
}

#[test]
fn missing_sentinel_is_an_error() {
    let mut p = spdp_payload(Endian::Little);
    p.truncate(p.len() - 4);
    assert_eq!(ParticipantData::parse(&p), Err(Error::BadParameterList));
    let mut p = spdp_payload(Endian::Big);
    p.truncate(p.len() - 4);
    assert_eq!(ParticipantData::parse(&p), Err(Error::BadParameterList));

    // Inline QoS without a sentinel: the DATA cannot be split and is an error.
    let body = le()
        .u16(0)
        .u16(16)
        .raw(&[0; 4])
        .raw(&[0, 0, 1, 2])
        .sn(1)
        .param(pid::STATUS_INFO, &[0, 0, 0, 3])
        .done();
    let mut m = header(VendorId::ECLIPSE);
    sub_exact(&mut m, 0x15, 0x03, &body);
    assert_eq!(parsed(&m), vec![Err(Error::BadParameterList)]);

    // An empty list (no bytes at all) has no sentinel either.
    assert_eq!(
        ParameterListIter::new(&[], Endian::Little).next(),
        Some(Err(Error::BadParameterList))
    );
    assert_eq!(
        ParticipantData::parse(&[0, 3, 0, 0]),
        Err(Error::BadParameterList)
    );
}

// ---------------------------------------------------------------- HEARTBEAT validity

#[test]
fn heartbeat_validity_rule() {
    let hb = |first: i64, last: i64| HeartbeatRepr {
        final_flag: false,
        liveliness_flag: false,
        reader_id: EntityId::UNKNOWN,
        writer_id: EntityId::SEDP_PUB_WRITER,
        first_sn: SequenceNumber(first),
        last_sn: SequenceNumber(last),
        count: Count(1),
    };
    // first >= 1 and last >= first - 1.
    for (first, last, valid) in [
        (1, 0, true), // empty history
        (1, 1, true),
        (1, 100, true),
        (5, 4, true),
        (5, 3, false),
        (0, 0, false),
        (0, 5, false),
        (-1, 5, false),
        (1, -1, false),
        (i64::MIN, i64::MIN, false),
        (i64::MAX, i64::MAX, true),
        (0x1_0000_0000, 0xffff_ffff, true),
    ] {
        assert_eq!(
            hb(first, last).is_valid(),
            valid,
            "first {first} last {last}"
        );
        // The rule holds for what is parsed off the wire in either byte order.
        for e in [Endian::Big, Endian::Little] {
            let mut m = header(VendorId::ECLIPSE);
            sub_exact(&mut m, 0x07, e.flag(), &heartbeat_body(e, first, last, 1));
            match &parsed(&m)[..] {
                [Ok(SubmessageRepr::Heartbeat(h))] => {
                    assert_eq!((h.first_sn.0, h.last_sn.0), (first, last));
                    assert_eq!(h.is_valid(), valid);
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
